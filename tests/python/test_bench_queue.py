"""tests/python/test_bench_queue.py: `python -m manycore bench queue` (python/manycore/_bench/queue.py) with a tiny workload.

These tests check what is measured and reported, never how fast anything is.
"""

import json
import subprocess
import sys

import pytest

from manycore._bench import discover
from manycore._bench import queue as bench_queue

TINY = ["--repeat", "1", "--round-trips", "20", "--messages", "200", "--no-large"]
TRANSPORTS = {"manycore", "mp_queue", "mp_pipe", "threads", "stdlib"}


def run_bench(*args, cwd):
    return subprocess.run([sys.executable, "-m", "manycore", "bench", "queue", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=240)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    completed = run_bench(*TINY, "--json", cwd=tmp_path_factory.mktemp("bench_queue"))
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return json.loads(completed.stdout)


def test_queue_benchmark_is_discovered():
    assert discover()["queue"] is bench_queue and bench_queue.SUMMARY
    assert "_queue_peers" not in discover()


def test_every_transport_measures_every_small_item(report):
    by_key = {transport["key"]: transport for transport in report["transports"]}
    assert set(by_key) == TRANSPORTS
    for key, transport in by_key.items():
        if key == "stdlib" and "unavailable" in transport:
            continue
        assert "unavailable" not in transport, transport
        for item in bench_queue.SMALL_ITEMS:
            latency, rate = transport["round_trip_us"][item], transport["messages_per_s"][item]
            if isinstance(latency, str):  # 3.12 stdlib channels cannot carry a tuple
                assert key == "stdlib" and latency.startswith("n/a"), (key, item, latency)
                continue
            assert latency > 0 and rate > 0, (key, item)
        assert transport["mib_per_s"] == {}  # --no-large


def test_targets_compare_manycore_with_multiprocessing_and_stdlib(report):
    targets = [line["target"] for line in report["targets"]]
    assert any("mp_queue" in target for target in targets)
    assert any("stdlib" in target for target in targets)
    assert {line["status"] for line in report["targets"]} <= {"PASS", "FAIL", "SKIPPED"}
    assert report["environment"]["python"] == ".".join(map(str, sys.version_info[:3]))


def test_tables_are_printed(tmp_path):
    completed = run_bench(*TINY, cwd=tmp_path)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    for heading in ("Round trip", "Messages per second", "Targets", "manycore.Queue", "multiprocessing.Pipe"):
        assert heading in completed.stdout


def test_bad_options_are_usage_errors(tmp_path):
    assert run_bench("--round-trips", "0", cwd=tmp_path).returncode == 2
    assert run_bench("--messages", "many", cwd=tmp_path).returncode == 2
