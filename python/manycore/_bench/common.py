"""python/manycore/_bench/common.py: what every benchmark shares: options, timing, tables, JSON, memory.

Memory figures come from ``/proc/<pid>/status`` (Linux). ``VmRSS`` counts every
resident page, shared library pages included; ``RssAnon`` only the private anonymous
ones (heaps, stacks), which is what an extra worker really adds. Without ``/proc`` the
functions return None and the benchmarks print "unavailable".
"""

import argparse
import contextlib
import datetime
import json
import multiprocessing
import os
import platform
import statistics
import sys
import threading
import time

from ._workloads import report_ready_and_wait


def positive_int(text):
    """argparse type: an int >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def worker_counts(text):
    """argparse type: '1,2,4' -> [1, 2, 4] (sorted, without repeats)."""
    parts = [part.strip() for part in text.split(",")]
    try:
        counts = sorted({positive_int(part) for part in parts})
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"--workers takes positive integers separated by commas (e.g. 1,2,4), got {text!r}"
        ) from None
    return counts


def add_common_arguments(parser, *, repeat):
    """--json and --repeat, the options every benchmark has."""
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of tables")
    parser.add_argument(
        "--repeat", type=positive_int, default=repeat, metavar="N",
        help=f"timed runs per measurement; the best one is reported (default {repeat})",
    )


@contextlib.contextmanager
def stock_allocator():
    """CPython's own arena allocation in this process, for the paths users would pick instead of manycore.

    manycore's arena cache (src/core/arena_cache.h) is process-wide: without this, the
    in-process pickle, the floor and a process pool's main side would run on arenas it
    keeps faulted in, which no user of them has. Inside, the cache is empty and every
    arena request and free goes straight to CPython's mmap allocator.
    """
    from manycore import _core
    limit = _core.arena_cache_info()["limit_bytes"]
    _core.set_arena_cache_limit(0)
    try:
        yield
    finally:
        _core.set_arena_cache_limit(limit)


def time_call(function, *args):
    """(seconds, result) of one call, wall clock."""
    start = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - start, result


def run_in_threads(function, count):
    """[function(0), ..., function(count - 1)], each call in its own new thread; re-raises the first error."""
    results, errors = [None] * count, [None] * count

    def work(index):
        try:
            results[index] = function(index)
        except BaseException as error:  # noqa: BLE001 - re-raised below, in the calling thread
            errors[index] = error

    threads = [threading.Thread(target=work, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for error in errors:
        if error is not None:
            raise error
    return results


def summarize(seconds):
    """Best, median and every run of a list of timings (the best is the one reported)."""
    return {"best_s": min(seconds), "median_s": statistics.median(seconds), "runs_s": list(seconds)}


def environment():
    """Where the numbers were taken: Python, CPUs, load average, date."""
    try:
        load = [round(value, 2) for value in os.getloadavg()]
    except OSError:
        load = None
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average_1_5_15": load,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
    }


def describe_environment(env):
    load = env["load_average_1_5_15"]
    load_text = " ".join(f"{value:.2f}" for value in load) if load else "unavailable"
    return (
        f"{env['implementation']} {env['python']} on {env['platform']}, {env['cpus']} CPUs, "
        f"load average {load_text} (1/5/15 min), {env['date']}"
    )


def format_table(headers, rows):
    """Plain-text table: first column left-aligned, the others right-aligned."""
    cells = [list(map(str, headers))] + [list(map(str, row)) for row in rows]
    widths = [max(len(row[column]) for row in cells) for column in range(len(headers))]

    def line(row):
        first = row[0].ljust(widths[0])
        rest = (cell.rjust(width) for cell, width in zip(row[1:], widths[1:]))
        return "  ".join([first, *rest]).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(cells[0]), rule, *(line(row) for row in cells[1:])])


def format_verdict(target):
    """'1.02x (target >= 1.00x)  PASS' for a measured target (a dict with ratio, threshold, passed).

    A ratio that rounds to its threshold gets three decimals, so a FAIL never reads
    '1.00x'. A target comparing two timings may carry `spread`: the larger relative
    gap between median and best run of the two. A FAIL by less than that says so:
    two models at the same hardware ceiling trade places from run to run.
    """
    ratio, threshold = target["ratio"], target["threshold"]
    digits = 3 if round(ratio, 2) == round(threshold, 2) else 2
    relation = "<=" if target.get("at_most") else ">="  # at_most: a cost ratio, lower is better
    text = f"{ratio:.{digits}f}x (target {relation} {threshold:.2f}x)  " + ("PASS" if target["passed"] else "FAIL")
    spread = target.get("spread")
    gap = ratio / threshold - 1 if target.get("at_most") else 1 - ratio / threshold
    if not target["passed"] and spread is not None and gap < spread:
        text += f" by {100 * gap:.2f}%, within this run's run-to-run spread ({100 * spread:.1f}%)"
    return text


def print_targets(targets, name_width, *, scope="", not_measured="not measured"):
    """Prints a benchmark's target lines: name, then its verdict (or `not_measured` where its ratio is None)."""
    print(f"\ntargets ({scope}ratios from this run; informational, not the exit status):")
    for target in targets:
        verdict = not_measured if target["ratio"] is None else format_verdict(target)
        print(f"  {target['name']:<{name_width}} {verdict}")


def run_spread(*rows):
    """The larger (median / best - 1) of timing rows with best_s and median_s."""
    return max(row["median_s"] / row["best_s"] - 1 for row in rows)


def print_json(data):
    json.dump(data, sys.stdout, indent=2)
    sys.stdout.write("\n")


def mib(kib):
    return None if kib is None else kib / 1024


def format_mib(value):
    return "unavailable" if value is None else f"{value:.1f} MiB"


def read_status_kib(pid="self", field="VmRSS"):
    """A memory field of /proc/<pid>/status in KiB, or None where there is no /proc."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def spawned_process_cost(samples):
    """Start-up time and memory of a `spawn` multiprocessing child, mean of `samples` starts.

    Start-up runs from Process.start() until the child runs its target; the child's
    memory is read from /proc/<pid>/status while it waits.
    """
    context = multiprocessing.get_context("spawn")
    startups, rss, anon = [], [], []
    for _ in range(samples):
        parent_end, child_end = context.Pipe()
        process = context.Process(target=report_ready_and_wait, args=(child_end,))
        start = time.perf_counter()
        process.start()
        try:
            if not parent_end.poll(60):
                raise RuntimeError("a spawned process did not start within 60 s")
            parent_end.recv()
            startups.append(time.perf_counter() - start)
            rss.append(read_status_kib(process.pid, "VmRSS"))
            anon.append(read_status_kib(process.pid, "RssAnon"))
            parent_end.send("exit")
        finally:
            process.join(10)
            if process.is_alive():
                process.kill()
                process.join()
            parent_end.close()
            child_end.close()
    return {
        "samples": samples,
        "startup_ms": 1000 * statistics.mean(startups),
        "rss_mib": None if None in rss else mib(statistics.mean(rss)),
        "rss_anon_mib": None if None in anon else mib(statistics.mean(anon)),
    }
