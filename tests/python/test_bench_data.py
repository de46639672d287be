"""tests/python/test_bench_data.py: `python -m manycore bench data` (python/manycore/_bench/data.py) with a tiny workload.

These tests check what is measured and reported, never how fast anything is.
"""

import json
import subprocess
import sys

import pytest

from manycore._bench import data as bench_data
from manycore._bench import discover

TINY = ["--repeat", "1", "--scale", "0.002"]
CASES = {"ints", "floats", "strs", "dict", "records", "dag", "bytes"}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    completed = subprocess.run([sys.executable, "-m", "manycore", "bench", "data", *TINY, "--json"],
                               capture_output=True, text=True, cwd=tmp_path_factory.mktemp("bench_data"), timeout=300)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return json.loads(completed.stdout)


def test_data_benchmark_is_discovered():
    assert discover()["data"] is bench_data and bench_data.SUMMARY


def test_every_case_has_every_column(report):
    by_case = {row["case"]: row for row in report["cases"]}
    assert set(by_case) == CASES
    for key, row in by_case.items():
        for column in ("one_way", "round_trip", "pickle", "process_round_trip"):
            assert row[column]["best_s"] > 0, (key, column)
        assert ("floor" in row) == (key in {"ints", "floats", "bytes"})
        assert "stdlib_queue" in row or row["stdlib_queue_unavailable"].startswith("n/a")
        assert row["peak_rss_mib"] is None or row["peak_rss_mib"] >= 0
    assert "stdlib_queue" in by_case["bytes"]  # the stdlib queues carry bytes


def test_pool_and_identity_sections(report):
    assert {row["model"] for row in report["pool"]} == {"sequential", "manycore_pool", "process_pool"}
    assert all(row["identity_kept"] for row in report["identity"])
    assert report["errors"] == []
    assert {row["case"] for row in report["tracking"]} == {"ints", "records", "strs"}
    assert all(row["on"]["best_s"] > 0 and row["off"]["best_s"] > 0 for row in report["tracking"])
    assert [row["label"] for row in report["streaming"]] == [
        "InterpreterPoolExecutor.map", "InterpreterPoolExecutor.map(buffersize=8)", "Pool.imap"]
    assert all(0 < row["first_s"] <= row["total_s"] for row in report["streaming"])
    names = [target["name"] for target in report["targets"]]
    assert any("ProcessPoolExecutor" in name for name in names) and any("identity" in name for name in names)


def test_table_output_names_the_columns(tmp_path):
    completed = subprocess.run([sys.executable, "-m", "manycore", "bench", "data", *TINY], capture_output=True,
                               text=True, cwd=tmp_path, timeout=300)
    assert completed.returncode == 0, completed.stderr
    for heading in ("manycore one way", "manycore round trip", "pickle dumps+loads", "floor",
                    "ProcessPool round trip", "stdlib queue", "peak RSS"):
        assert heading in completed.stdout
