"""tests/python/test_bench_pool.py: `python -m manycore bench pool` runs every model and reports every workload.

A tiny workload (hidden --n and --scale): these tests check what is reported and its
shape, never how fast anything is.
"""

import json
import subprocess
import sys

import pytest

EXPECTED_MODELS = {"thread_pool", "process_pool", "mp_pool", "manycore_executor", "manycore_pool"}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    completed = subprocess.run(
        [sys.executable, "-m", "manycore", "bench", "pool", "--n", "300", "--scale", "0.002", "--repeat", "1",
         "--workers", "1,2", "--json"],
        capture_output=True, text=True, cwd=tmp_path_factory.mktemp("bench"), timeout=180,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def test_every_model_ran_every_workload(report):
    assert not [error for error in report["errors"] if not error["informational"]]
    cpu_models = {(row["model"], row["workers"]) for row in report["cpu"]}
    assert ("sequential", 1) in cpu_models
    for workers in (1, 2):
        assert {model for model, w in cpu_models if w == workers} >= EXPECTED_MODELS
    tiny = {(row["model"], row["case"]) for row in report["tiny"]}
    for model in EXPECTED_MODELS - {"thread_pool"}:
        assert {(model, "chunksize 1"), (model, "chunksize 256")} <= tiny
    assert ("thread_pool", "chunksize 1") in tiny  # threads ignore chunksize: one row
    assert {row["model"] for row in report["bytes"]} >= EXPECTED_MODELS


def test_stdlib_pool_is_measured_or_explained(report):
    models = {row["model"] for row in report["tiny"]}
    assert "stdlib_pool" in models or report["stdlib_pool_unavailable"]


def test_rates_and_targets_are_reported(report):
    for row in report["tiny"] + report["bytes"]:
        assert row["tasks_per_s"] > 0
    names = [target["name"] for target in report["targets"]]
    assert len(names) == 8
    for target in report["targets"]:
        assert target["ratio"] is None or target["ratio"] > 0


def test_text_report_names_the_workloads(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "manycore", "bench", "pool", "--n", "300", "--scale", "0.001", "--repeat", "1",
         "--workers", "1"],
        capture_output=True, text=True, cwd=tmp_path, timeout=180,
    )
    assert completed.returncode == 0, completed.stderr
    for heading in ("(a) cpu", "(b) tiny tasks", "(c) 1 MiB", "targets (ratios"):
        assert heading in completed.stdout


def test_chunksizes_and_sizes_choose_the_cases(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "manycore", "bench", "pool", "--n", "300", "--scale", "0.002", "--repeat", "1",
         "--workers", "1", "--chunksizes", "4,1", "--sizes", "1K,3000", "--json"],
        capture_output=True, text=True, cwd=tmp_path, timeout=180,
    )
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    assert {(row["case"], row["chunksize"]) for row in report["tiny"] if row["model"] == "manycore_pool"} == {
        ("chunksize 1", 1), ("chunksize 4", 4)}
    by_size = {(row["model"], row["size_bytes"]): row for row in report["bytes"]}
    for model in EXPECTED_MODELS | {"pickle"}:  # pickle: the no-transport floor, beside the models
        assert by_size[(model, 1024)]["case"] == "1 KiB" and by_size[(model, 3000)]["case"] == "3000 B"
        assert by_size[(model, 3000)]["mib_per_s_each_way"] > 0
    # chunksize 256 was not asked for: its targets are reported as not measured, not as failed.
    assert [t["passed"] for t in report["targets"] if "chunksize 256" in t["name"]] == [None, None]


@pytest.mark.parametrize("option", [["--chunksizes", "0"], ["--chunksizes", "1,x"], ["--sizes", "0"],
                                    ["--sizes", "2G"], ["--sizes", "1Q"], ["--sizes", ""]])
def test_bad_chunksizes_and_sizes_are_refused(tmp_path, option):
    completed = subprocess.run([sys.executable, "-m", "manycore", "bench", "pool", *option],
                               capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert completed.returncode == 2
    assert option[0] in completed.stderr
