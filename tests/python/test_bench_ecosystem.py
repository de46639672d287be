"""tests/python/test_bench_ecosystem.py: `python -m manycore bench ecosystem` runs every model and reports it.

A tiny workload (hidden --tasks, --n, --tiny): these tests check what is reported and
its shape, never how fast anything is.
"""

import json
import subprocess
import sys

import pytest

pytest.importorskip("distributed")
pytest.importorskip("joblib")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    completed = subprocess.run(
        [sys.executable, "-m", "manycore", "bench", "ecosystem", "--tasks", "3", "--n", "2000", "--tiny", "200",
         "--repeat", "1", "--json"],
        capture_output=True, text=True, cwd=tmp_path_factory.mktemp("bench"), timeout=240,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return json.loads(completed.stdout)


def test_every_model_ran(report):
    assert report["errors"] == []
    assert [row["model"] for row in report["distributed"]] == ["threads", "manycore", "processes"]
    assert [row["model"] for row in report["local"]] == ["threads", "manycore"]
    assert {(row["backend"], row["case"]) for row in report["joblib"]} == {
        (backend, case) for backend in ("manycore", "loky", "threading") for case in ("tiny", "cpu")
    }


def test_memory_per_worker_process(report):
    processes = {row["model"]: row["processes"] for row in report["distributed"]}
    assert processes == {"threads": 1, "manycore": 1, "processes": 2}
    for row in report["distributed"]:
        assert len(row["rss_mib"]) == row["processes"]
        assert all(value is None or value > 0 for value in row["rss_mib"] + row["rss_anon_mib"])


def test_targets_are_reported(report):
    names = [target["name"] for target in report["targets"]]
    assert len(names) == 3
    for target in report["targets"]:
        assert target["ratio"] is None or target["ratio"] > 0
        assert target["passed"] in (True, False, None)
