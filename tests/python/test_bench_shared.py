"""tests/python/test_bench_shared.py: `python -m manycore bench shared` (python/manycore/_bench/shared.py) with a tiny workload.

These tests check what is measured and reported, never how fast anything is.
"""

import json
import subprocess
import sys

import pytest

from manycore._bench import discover
from manycore._bench import shared as bench_shared


def run_bench(*args, cwd):
    return subprocess.run([sys.executable, "-m", "manycore", "bench", "shared", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    completed = run_bench("--quick", "--json", cwd=tmp_path_factory.mktemp("bench_shared"))
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return json.loads(completed.stdout)


def test_shared_benchmark_is_discovered():
    assert discover()["shared"] is bench_shared and bench_shared.SUMMARY
    assert "_shared_peers" not in discover()


def test_every_comparison_is_measured_in_the_run(report):
    sizes = report["handoff"]["sizes"]
    assert len(sizes) == 2
    for row in sizes.values():
        assert row["codec_us"] > 0 and row["call_us"] > 0 and row["copy_call_us"] > 0 and row["shm_attach_us"] > 0
    assert set(report["parallel"]["work"]) == {"crc32", "sha256"}
    for case in report["parallel"]["work"].values():
        assert set(case) == {"sequential", "interpreters", "threads", "processes"}
        assert all(row["best_s"] > 0 and row["minor_faults"] >= 0 for row in case.values())
    assert set(report["uncontended"]) == {"manycore.Lock", "threading.Lock", "multiprocessing.Lock"}
    assert set(report["ping_pong"]) == {"manycore", "threading", "multiprocessing"}
    assert all(value > 0 for value in report["counters"].values())
    assert report["dict"]["shared_dict_ops_s"] > 0 and report["dict"]["manager_dict_ops_s"] > 0


def test_targets_cover_the_issue(report):
    names = " ".join(target["name"] for target in report["targets"])
    for expected in ("hand-off", "crc32 over halves: sequential / two interpreters",
                     "sha256 over halves: sequential / two interpreters", "ProcessPoolExecutor", "ping-pong",
                     "Manager().dict()"):
        assert expected in names
    assert all(isinstance(target["passed"], bool) for target in report["targets"])
    assert report["environment"]["load_average_1_5_15"] is not None


def test_tables_are_printed(tmp_path):
    completed = run_bench("--quick", cwd=tmp_path)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    for heading in ("Hand-off", "zlib.crc32", "hashlib.sha256", "2 threads", "page faults", "ping-pong", "ops/s", "Targets", "load average"):
        assert heading in completed.stdout


def test_bad_options_are_usage_errors(tmp_path):
    assert run_bench("--large-mib", "0", cwd=tmp_path).returncode == 2
    assert run_bench("--work-mib", "many", cwd=tmp_path).returncode == 2
