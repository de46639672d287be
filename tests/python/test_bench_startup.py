"""tests/python/test_bench_startup.py: `python -m manycore bench startup` measures every model and reports every target.

Tiny sample counts (hidden --samples and --interpreters): these tests check what is
reported and its shape, never how fast anything is.
"""

import json
import subprocess
import sys

import pytest

from manycore._bench import common


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    completed = subprocess.run(
        [sys.executable, "-m", "manycore", "bench", "startup", "--repeat", "1", "--samples", "2",
         "--interpreters", "2", "--workers", "1,2", "--json"],
        capture_output=True, text=True, cwd=tmp_path_factory.mktemp("bench"), timeout=180,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def test_every_model_is_set_up_for_every_worker_count(report):
    assert not [error for error in report["errors"] if not error["informational"]]
    measured = {(row["model"], row["workers"]) for row in report["setup"]}
    for workers in (1, 2):
        assert {("manycore_pool", workers), ("manycore_interpreters", workers), ("process_pool", workers)} <= measured
        assert ("stdlib_interpreters", workers) in measured or report["stdlib_interpreters_unavailable"]
    assert all(row["best_s"] > 0 for row in report["setup"])


def test_create_close_and_memory_are_measured(report):
    lifecycle = report["create_close"]
    assert lifecycle["manycore"]["create_close_ms"] > 0
    memory = report["memory"]
    assert memory["interpreters"] == 2
    assert memory["manycore"]["rss_per_interpreter_mib"] is None or memory["manycore"]["rss_per_interpreter_mib"] > 0
    if not report["stdlib_interpreters_unavailable"]:
        assert lifecycle["stdlib"]["create_close_ms"] > 0
        assert "stdlib" in memory


def test_targets_are_cost_ratios(report):
    names = [target["name"] for target in report["targets"]]
    assert names == ["pool setup W=1, manycore / stdlib", "pool setup W=2, manycore / stdlib",
                     "create+close, manycore / stdlib", "extra RSS per interpreter, manycore / stdlib"]
    for target in report["targets"]:
        assert target["at_most"] and target["threshold"] == 1.2
        if target["ratio"] is not None:
            assert target["passed"] == (target["ratio"] <= 1.2)


def test_worker_modules_are_reported(report):
    modules = report["worker_modules"]
    assert "manycore._worker" in modules["manycore_worker"]
    if modules["other"] is not None:
        assert modules["other"] == []


def test_at_most_verdicts_read_as_costs():
    passed = {"ratio": 1.1, "threshold": 1.2, "passed": True, "at_most": True}
    failed = {"ratio": 1.25, "threshold": 1.2, "passed": False, "at_most": True, "spread": 0.10}
    assert common.format_verdict(passed) == "1.10x (target <= 1.20x)  PASS"
    assert common.format_verdict(failed).startswith("1.25x (target <= 1.20x)  FAIL by 4.17%, within")
    assert common.format_verdict({"ratio": 1.5, "threshold": 1.0, "passed": True}) == "1.50x (target >= 1.00x)  PASS"


def test_importtime_lists_the_worker_imports():
    from manycore._bench import startup

    rows = startup.worker_importtime()
    assert rows is not None
    names = [row["module"].strip() for row in rows]
    assert "manycore._worker" in names
    assert all(row["self_us"] >= 0 and row["cumulative_us"] >= row["self_us"] for row in rows)
