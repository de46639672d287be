"""tests/python/test_demo.py: `python -m manycore demo`: a quick run of every section, and the summary's wording (tie vs faster)."""

import json
import re
import subprocess
import sys

import pytest

from manycore import _demo


# ---- compare() and describe(): the verdicts ---------------------------------------------------

def test_a_gap_within_the_noise_is_a_tie():
    comparison = _demo.compare(1.00, 1.07, noise=0.08)
    assert comparison["verdict"] == "tie"
    assert _demo.describe(comparison, "processes") == "manycore and processes tie (within 8%)"


def test_a_gap_within_the_floor_is_a_tie_even_without_noise():
    # The make-demo case that used to print "FAIL": processes 0.99x as fast, a tie on 2 cores.
    assert _demo.compare(1.01, 1.00)["verdict"] == "tie"
    assert _demo.compare(1.00, 1.00 + 0.99 * _demo.TIE_FLOOR)["verdict"] == "tie"
    assert _demo.compare(1.00, 1.00 + 1.01 * _demo.TIE_FLOOR)["verdict"] == "better"


def test_a_clear_gap_names_the_faster_and_by_how_much():
    faster = _demo.compare(0.5, 1.0)
    assert faster["verdict"] == "better" and faster["factor"] == pytest.approx(2.0)
    assert _demo.describe(faster, "threads") == "manycore 2.00x faster than threads"
    slower = _demo.compare(1.3, 1.0, noise=0.1)
    assert slower["verdict"] == "worse"
    assert _demo.describe(slower, "processes") == "manycore 1.30x slower than processes"
    smaller = _demo.compare(2.0, 8.0)
    assert _demo.describe(smaller, "a process", "smaller", "larger") == "manycore 4.00x smaller than a process"


def test_noise_larger_than_the_gap_wins_over_the_floor():
    assert _demo.compare(1.0, 1.2, noise=0.25)["verdict"] == "tie"
    assert _demo.compare(1.0, 1.2, noise=0.1)["verdict"] == "better"


@pytest.mark.parametrize("subject, other", [(0, 1), (1, 0), (-1, 1)])
def test_compare_refuses_non_positive_measurements(subject, other):
    with pytest.raises(ValueError, match="two positive measurements"):
        _demo.compare(subject, other)


def _row(best, median=None):
    return {"best_s": best, "median_s": median or best, "runs_s": [best]}


def test_summary_lines_read_at_a_glance():
    report = {
        "cpu": {"workers": 2, "rows": {"manycore": _row(1.0), "threads": _row(1.95), "process_pool": _row(0.99)}},
        "startup": {"workers": 2, "rows": {"manycore_pool": _row(0.02), "process_pool": _row(0.2)},
                    "manycore_worker_mib": 2.5, "process_worker_mib": 7.5},
        "handoff": {"payloads": ["16 MiB of bytes"],
                    "rows": {("16 MiB of bytes", "manycore"): _row(0.01), ("16 MiB of bytes", "processes"): _row(0.03)}},
        "shared": None,
    }
    lines = _demo.summary_lines(report)
    assert lines == [
        "CPU-bound Python, 2 workers: manycore 1.95x faster than threads",
        "CPU-bound Python, 2 workers: manycore and processes tie (within 5%)",
        "Starting 2 workers: manycore 10.00x faster than processes (20 ms vs 200 ms)",
        "Memory per worker: manycore 3.00x smaller than a process (2.5 MiB vs 7.5 MiB)",
        "Handing 16 MiB of bytes to a worker and back: manycore 3.00x faster than processes",
    ]


def test_summary_skips_what_was_not_measured():
    report = {"cpu": {"workers": 2, "rows": {"threads": _row(1.0)}},
              "startup": {"workers": 2, "rows": {}, "manycore_worker_mib": None, "process_worker_mib": 7.0},
              "handoff": {"payloads": ["x"], "rows": {}}, "shared": None}
    assert _demo.summary_lines(report) == []


# ---- a quick run of the whole demo -------------------------------------------------------------

@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    completed = subprocess.run([sys.executable, "-m", "manycore", "demo", "--quick", "--workers", "2"],
                               capture_output=True, text=True, cwd=tmp_path_factory.mktemp("demo"), timeout=180)
    return completed


def test_the_quick_demo_runs_every_section(quick_run):
    assert quick_run.returncode == 0, quick_run.stdout + quick_run.stderr
    out = quick_run.stdout
    for heading in ("1. CPU-bound Python", "2. Start 2 workers", "3. Hand data to a worker", "Summary, "):
        assert heading in out
    assert ("4. 2 workers checksum" in out) == (_demo.shared_buffer_class() is not None)
    summary = out[out.index("Summary, "):]
    assert "CPU-bound Python, 2 workers: manycore" in summary
    assert "Memory per worker: manycore" in summary


def test_the_demo_has_no_internal_references_or_fail_verdicts(quick_run):
    out = quick_run.stdout + quick_run.stderr
    assert not re.search(r"\bissue\b|#\d|\bFAIL\b|\bPASS\b|target", out, re.IGNORECASE)


def test_the_demo_json_carries_the_summary(tmp_path):
    completed = subprocess.run([sys.executable, "-m", "manycore", "demo", "--quick", "--workers", "1", "--json"],
                               capture_output=True, text=True, cwd=tmp_path, timeout=180)
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    assert report["summary"] and all(isinstance(line, str) for line in report["summary"])
    assert report["cpu"]["rows"]["manycore"]["best_s"] > 0
