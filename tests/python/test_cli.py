"""tests/python/test_cli.py: `python -m manycore` (bench cpu, check) and the import hint that points to `check`.

The benchmark runs with a tiny workload (hidden --n): these tests check what is
reported and its shape, never how fast anything is.
"""

import importlib
import importlib.util
import json
import os
import subprocess
import sys

import pytest

import manycore
from manycore import _check
from manycore._bench import common, discover

MODELS = {"sequential", "threads", "process_pool", "manycore"}
TINY = ["--n", "2000", "--repeat", "2", "--workers", "1,2"]


def run_cli(*args, cwd, pythonpath=None, timeout=120):
    env = None
    if pythonpath is not None:
        env = dict(os.environ, PYTHONPATH=str(pythonpath))
    return subprocess.run([sys.executable, "-m", "manycore", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=timeout)


def has_module(name):
    return importlib.util.find_spec(name) is not None


@pytest.fixture(scope="module")
def bench_json(tmp_path_factory):
    completed = run_cli("bench", "cpu", *TINY, "--json", cwd=tmp_path_factory.mktemp("bench"))
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def test_bench_is_discovered_from_the_package():
    benchmarks = discover()
    assert "cpu" in benchmarks
    assert "common" not in benchmarks and "_workloads" not in benchmarks
    assert benchmarks["cpu"].SUMMARY


def test_bench_cpu_json_has_every_model_for_every_w(bench_json):
    assert bench_json["n"] == 2000 and bench_json["workers"] == [1, 2] and bench_json["repeat"] == 2
    assert bench_json["errors"] == []
    rows = {(row["model"], row["workers"]): row for row in bench_json["results"]}
    expected_models = set(MODELS)
    if bench_json["stdlib_interpreters_unavailable"] is None:
        expected_models.add("stdlib_interpreters")
    assert {model for model, _ in rows} == expected_models
    for model in expected_models:
        for workers in (1, 2):
            row = rows[(model, workers)]
            assert len(row["runs_s"]) == 2 and row["best_s"] == min(row["runs_s"]) > 0
            assert row["speedup"] > 0
    assert rows[("sequential", 2)]["speedup"] == 1.0
    assert bench_json["fingerprint"]["bit_length"] == 19053  # 2000! checked by every model


def test_bench_cpu_json_reports_setup_targets_and_costs(bench_json):
    setup_models = {(row["model"], row["workers"]) for row in bench_json["setup"]}
    assert ("manycore", 2) in setup_models and ("process_pool", 2) in setup_models
    names = [target["name"] for target in bench_json["targets"]]
    assert names == ["manycore speedup over sequential", "ProcessPoolExecutor time / manycore time"]
    for target in bench_json["targets"]:
        assert target["workers"] == 2 and target["ratio"] > 0
        assert target["passed"] == (target["ratio"] >= target["threshold"])
    lifecycle = bench_json["interpreter_create_close"]
    assert lifecycle["samples"] == 20 and lifecycle["create_ms"] > 0 and lifecycle["close_ms"] > 0
    assert bench_json["interpreter_memory"]["interpreters"] == 8
    assert bench_json["spawn_process"]["startup_ms"] > 0
    if sys.platform == "linux":
        assert bench_json["interpreter_memory"]["rss_per_interpreter_mib"] is not None
        assert bench_json["spawn_process"]["rss_mib"] > 0
    assert bench_json["environment"]["python"] == ".".join(map(str, sys.version_info[:3]))


def test_bench_cpu_prints_tables_and_verdicts(tmp_path):
    completed = run_cli("bench", "cpu", "--n", "2000", "--repeat", "1", "--workers", "2", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    out = completed.stdout
    assert "model" in out and "speedup" in out and "wall s (best)" in out
    for label in ("sequential", "threads", "ProcessPoolExecutor", "manycore"):
        assert any(line.startswith(label) and " 2 " in line for line in out.splitlines()), label
    assert "every model computed the same 2,000!" in out
    verdicts = [line for line in out.splitlines() if line.rstrip().endswith(("PASS", "FAIL"))]
    assert len(verdicts) == 2
    assert "create+close" in out and "per live manycore interpreter" in out and "spawned process" in out


def test_bench_without_w2_says_targets_not_measured(tmp_path):
    completed = run_cli("bench", "cpu", "--n", "200", "--repeat", "1", "--workers", "1", "--json", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    assert [target["ratio"] for target in report["targets"]] == [None, None]
    assert [target["passed"] for target in report["targets"]] == [None, None]


@pytest.mark.parametrize("bad", [["--workers", "0"], ["--workers", "1,x"], ["--repeat", "0"], ["--n", "-3"]])
def test_bench_rejects_bad_options(tmp_path, bad):
    completed = run_cli("bench", "cpu", *bad, cwd=tmp_path)
    assert completed.returncode == 2
    assert "positive integer" in completed.stderr


def test_unknown_benchmark_and_missing_command_are_usage_errors(tmp_path):
    assert run_cli("bench", "nosuch", cwd=tmp_path).returncode == 2
    assert run_cli(cwd=tmp_path).returncode == 2
    assert run_cli("check", cwd=tmp_path).returncode == 2


def test_worker_counts_parses_and_sorts():
    assert common.worker_counts("4,1,2,2") == [1, 2, 4]


def test_check_working_module_exits_zero(tmp_path):
    completed = run_cli("check", "json", "math", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split() == ["json", "works", "math", "works"]


@pytest.mark.parametrize("name", ["readline", "_curses", "_testsinglephase"])
def test_check_reports_modules_refused_in_isolated_interpreters(tmp_path, name):
    if not has_module(name):
        pytest.skip(f"{name} is not built in this Python")
    completed = run_cli("check", "json", name, cwd=tmp_path)
    assert completed.returncode == 1
    line = next(line for line in completed.stdout.splitlines() if line.startswith(name))
    assert "not isolated" in line and "per-interpreter GIL" in line
    assert "what to do: import it in the main interpreter" in completed.stdout


def test_check_classifies_missing_failing_and_dependent_modules(tmp_path):
    (tmp_path / "raises_on_import.py").write_text("raise RuntimeError('broken on purpose')\n")
    (tmp_path / "imports_missing.py").write_text("import no_such_dependency_xyz\n")
    (tmp_path / "imports_curses.py").write_text("import _curses\n")
    names = ["no_such_module_xyz", "raises_on_import", "imports_missing"]
    if has_module("_curses"):
        names.append("imports_curses")
    completed = run_cli("check", "--json", *names, cwd=tmp_path, pythonpath=tmp_path)
    assert completed.returncode == 1, completed.stderr
    report = json.loads(completed.stdout)
    assert report["all_work"] is False
    results = {result["module"]: result for result in report["modules"]}
    assert results["no_such_module_xyz"]["status"] == "missing"
    assert results["raises_on_import"]["status"] == "error"
    assert "RuntimeError: broken on purpose" in results["raises_on_import"]["reason"]
    # A missing dependency is the module's error, not the module missing.
    assert results["imports_missing"]["status"] == "error"
    assert "no_such_dependency_xyz" in results["imports_missing"]["reason"]
    if "imports_curses" in results:
        assert results["imports_curses"]["status"] == "not isolated"
        assert "it imports _curses" in results["imports_curses"]["reason"]
    for result in results.values():
        assert result["works"] is False and set(result) == {
            "module", "works", "status", "reason", "advice", "fallbacks", "detail", "note"}


def test_check_json_all_working(tmp_path):
    completed = run_cli("check", "--json", "json", cwd=tmp_path)
    assert completed.returncode == 0
    report = json.loads(completed.stdout)
    assert report["all_work"] is True
    assert report["modules"][0]["status"] == "works" and report["modules"][0]["note"] is None


def test_check_notes_the_312_preimported_modules(tmp_path):
    completed = run_cli("check", "--json", "hashlib", "http.client", "json", cwd=tmp_path)
    assert completed.returncode == 0, completed.stdout
    notes = {result["module"]: result["note"] for result in json.loads(completed.stdout)["modules"]}
    if sys.version_info[:2] == (3, 12):
        assert "handled" in notes["hashlib"] and "handled" in notes["http.client"]
    else:
        assert notes["hashlib"] is None and notes["http.client"] is None
    assert notes["json"] is None


def test_classify_without_an_interpreter():
    assert _check.classify("x", True, "") == ("works", "")
    status, reason = _check.classify(
        "pkg.mod", False, "ModuleNotFoundError: No module named 'pkg'")
    assert status == "missing" and "'pkg'" in reason
    status, _ = _check.classify("x", False, "ValueError: Empty module name")
    assert status == "error"


@pytest.mark.parametrize("name", ["readline", "_curses"])
def test_import_in_an_interpreter_points_to_check(name):
    if not has_module(name):
        pytest.skip(f"{name} is not built in this Python")
    with manycore.create() as interpreter:
        with pytest.raises(ImportError, match=f"python -m manycore check {name}"):
            interpreter.call(importlib.import_module, name)


@pytest.mark.parametrize(
    ("ratio", "spread", "expected"),
    [
        (1.02, 0.01, "1.02x (target >= 1.00x)  PASS"),
        (0.9996, None, "1.000x (target >= 1.00x)  FAIL"),
        (0.9996, 0.031, "1.000x (target >= 1.00x)  FAIL by 0.04%, within this run's run-to-run spread (3.1%)"),
        (0.95, 0.02, "0.95x (target >= 1.00x)  FAIL"),
    ],
)
def test_target_verdicts_never_hide_a_failure_and_say_when_it_is_within_the_noise(ratio, spread, expected):
    target = {"ratio": ratio, "threshold": 1.0, "passed": ratio >= 1.0, "spread": spread}
    assert common.format_verdict(target) == expected


def test_run_spread_is_the_larger_median_over_best_gap():
    rows = [{"best_s": 1.0, "median_s": 1.05}, {"best_s": 2.0, "median_s": 2.02}]
    assert common.run_spread(*rows) == pytest.approx(0.05)
