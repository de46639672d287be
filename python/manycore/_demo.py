"""python/manycore/_demo.py: `python -m manycore demo`: what manycore is for, side by side with threads and processes, in about a minute.

Each section runs the same work through manycore and through what a Python user
would pick instead, in this one process, and keeps the best of a few runs:

1. CPU-bound pure Python (n! by a loop), one copy per core: sequential, threads,
   ProcessPoolExecutor (spawn), manycore interpreters;
2. starting a pool of one worker per core, ready to run (the worker has imported the
   task's module), and the memory each worker adds: manycore's
   InterpreterPoolExecutor against ProcessPoolExecutor (spawn);
3. handing data to a worker and back (bytes and a list of ints): manycore against
   ProcessPoolExecutor;
4. shared memory, where manycore has it: each worker checksums its part of one
   buffer, manycore.SharedBuffer against multiprocessing.shared_memory.

It ends with a summary: what was faster, by how much, on how many cores. Two timings
closer than the run-to-run noise (at least TIE_FLOOR) read as a tie. The detailed
measurements and targets are in ``python -m manycore bench ...``.
"""

import argparse
import concurrent.futures
import multiprocessing
import os
import time

import manycore

from ._bench import common, cpu, startup
from ._bench._workloads import crc32_of_buffer, crc32_of_shared_memory, echo, factorial_fingerprint

SUMMARY = "what manycore is for, side by side with threads and processes, in about a minute"
# Closer than this (or than the measured run-to-run noise, if larger) is a tie.
TIE_FLOOR = 0.05
FULL = {"n": 50_000, "repeat": 3, "bytes": 16 << 20, "ints": 1_000_000, "shared": 64 << 20, "memory_workers": 4}
QUICK = {"n": 2_000, "repeat": 1, "bytes": 64 << 10, "ints": 1_000, "shared": 1 << 20, "memory_workers": 1}


def add_arguments(parser):
    parser.add_argument("--workers", type=common.positive_int, default=None, metavar="W",
                        help="workers per model (default: one per core, at most 4)")
    parser.add_argument("--json", action="store_true", help="print the measurements as JSON instead")
    # Hidden: the tests run every section with tiny inputs in a few seconds.
    parser.add_argument("--quick", action="store_true", help=argparse.SUPPRESS)


# ---- comparing two measurements -------------------------------------------------------------

def compare(subject, other, noise=0.0):
    """How `subject` (manycore's cost) compares with `other`'s, both positive, lower is better.

    Returns {"verdict": "better" | "worse" | "tie", "factor": the larger over the
    smaller, "margin": the tie margin used}. A gap within max(noise, TIE_FLOOR) is a
    tie: two runs of the same thing differ by that much on a shared machine.
    """
    if subject <= 0 or other <= 0:
        raise ValueError(f"compare() needs two positive measurements, got {subject!r} and {other!r}")
    factor = max(subject, other) / min(subject, other)
    margin = max(noise, TIE_FLOOR)
    if factor - 1 <= margin:
        verdict = "tie"
    else:
        verdict = "better" if subject < other else "worse"
    return {"verdict": verdict, "factor": factor, "margin": margin}


def describe(comparison, other_name, better_word="faster", worse_word="slower"):
    """One phrase: 'manycore 1.95x faster than threads', or a tie with its margin."""
    factor = comparison["factor"]
    if comparison["verdict"] == "tie":
        return f"manycore and {other_name} tie (within {100 * comparison['margin']:.0f}%)"
    word = better_word if comparison["verdict"] == "better" else worse_word
    return f"manycore {factor:.2f}x {word} than {other_name}"


def noise_of(*rows):
    """The run-to-run spread of timing rows (median / best - 1), 0 for single runs."""
    return max((row["median_s"] / row["best_s"] - 1) for row in rows)


def timed_runs(function, repeat):
    """summarize() of `repeat` wall-clock runs of function()."""
    return common.summarize([common.time_call(function)[0] for _ in range(repeat)])


# ---- 1. CPU scaling -------------------------------------------------------------------------

def section_cpu(workers, settings):
    expected = factorial_fingerprint(settings["n"])
    results, _, errors = cpu.measure_models(settings["n"], [workers], settings["repeat"], None, expected)
    rows = {row["model"]: row for row in results}
    return {"workers": workers, "n": settings["n"], "rows": rows,
            "errors": [f"{error['model']}: {error['error']}" for error in errors]}


# ---- 2. start-up and memory -------------------------------------------------------------------

def section_startup(workers, settings):
    rows, errors = {}, []
    for model_class in (startup.ManycorePool, startup.ProcessPool):
        seconds = []
        for _ in range(settings["repeat"]):
            model = model_class()
            try:
                seconds.append(common.time_call(model.setup, workers)[0])
            except Exception as error:  # noqa: BLE001 - reported, the demo goes on
                errors.append(f"{model.label}: {error!r}")
                break
            finally:
                model.close()
        if seconds:
            rows[model_class.key] = common.summarize(seconds)
    memory = startup.measure_memory(settings["memory_workers"], with_stdlib=False).get("manycore", {})
    process = common.spawned_process_cost(1 if settings is QUICK else 3)
    if "error" in memory:
        errors.append("manycore memory: " + " ".join(memory["error"]))
    return {"workers": workers, "rows": rows, "errors": errors,
            "manycore_worker_mib": memory.get("rss_anon_per_interpreter_mib"),
            "process_worker_mib": process["rss_anon_mib"], "process_rss_mib": process["rss_mib"]}


# ---- 3. data hand-off -------------------------------------------------------------------------

def section_handoff(settings):
    payloads = {
        f"{settings['bytes'] >> 10:,} KiB of bytes" if settings["bytes"] < 1 << 20 else
        f"{settings['bytes'] >> 20} MiB of bytes": os.urandom(settings["bytes"]),
        f"a list of {settings['ints']:,} ints": list(range(settings["ints"])),
    }
    rows, errors = {}, []
    with manycore.InterpreterPoolExecutor(1) as interpreters, concurrent.futures.ProcessPoolExecutor(
            1, mp_context=multiprocessing.get_context("spawn")) as processes:
        for executor in (interpreters, processes):
            executor.submit(echo, None).result()  # the worker is up before timing
        for name, payload in payloads.items():
            for key, executor in (("manycore", interpreters), ("processes", processes)):
                def round_trip(executor=executor, payload=payload):
                    if executor.submit(echo, payload).result() != payload:
                        raise AssertionError("the data came back changed")
                try:
                    rows[(name, key)] = timed_runs(round_trip, settings["repeat"])
                except Exception as error:  # noqa: BLE001 - reported, the demo goes on
                    errors.append(f"{key}, {name}: {error!r}")
    return {"payloads": list(payloads), "rows": rows, "errors": errors}


# ---- 4. shared memory -------------------------------------------------------------------------

def shared_buffer_class():
    """manycore.SharedBuffer, or None where this manycore has no shared memory."""
    return getattr(manycore, "SharedBuffer", None)


def _new_shared_buffer(cls, data):
    copy_of = getattr(cls, "copy_of", None)
    if copy_of is not None:
        return copy_of(data)
    buffer = cls(len(data))
    memoryview(buffer)[:] = data
    return buffer


def section_shared(workers, settings):
    cls = shared_buffer_class()
    if cls is None:
        return None
    from multiprocessing import shared_memory

    data = os.urandom(settings["shared"])
    bounds = [(index * len(data) // workers, (index + 1) * len(data) // workers) for index in range(workers)]
    expected = [crc32_of_buffer(data, start, stop) for start, stop in bounds]
    rows, errors = {}, []
    try:
        buffer = _new_shared_buffer(cls, data)
        with manycore.InterpreterPoolExecutor(workers) as executor:
            executor.submit(crc32_of_buffer, b"", 0, 0).result()

            def with_interpreters():
                futures = [executor.submit(crc32_of_buffer, buffer, start, stop) for start, stop in bounds]
                if [future.result() for future in futures] != expected:
                    raise AssertionError("a worker computed a wrong checksum")
            rows["manycore"] = timed_runs(with_interpreters, settings["repeat"])
    except Exception as error:  # noqa: BLE001 - reported, the demo goes on
        errors.append(f"manycore.SharedBuffer: {error!r}")
    block = shared_memory.SharedMemory(create=True, size=len(data))
    try:
        block.buf[:len(data)] = data
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            pool.submit(crc32_of_buffer, b"", 0, 0).result()

            def with_processes():
                futures = [pool.submit(crc32_of_shared_memory, block.name, start, stop) for start, stop in bounds]
                if [future.result() for future in futures] != expected:
                    raise AssertionError("a process computed a wrong checksum")
            rows["processes"] = timed_runs(with_processes, settings["repeat"])
    except Exception as error:  # noqa: BLE001 - reported, the demo goes on
        errors.append(f"multiprocessing.shared_memory: {error!r}")
    finally:
        block.close()
        block.unlink()
    return {"workers": workers, "mib": len(data) >> 20 or len(data) / (1 << 20), "rows": rows, "errors": errors}


# ---- summary ------------------------------------------------------------------------------------

def summary_lines(report):
    """The closing summary: one line per comparison that was measured."""
    lines = []
    cpu_part = report["cpu"]
    rows = cpu_part["rows"]
    if "manycore" in rows:
        mine = rows["manycore"]
        for key, name in (("threads", "threads"), ("process_pool", "processes")):
            if key in rows:
                verdict = describe(compare(mine["best_s"], rows[key]["best_s"], noise_of(mine, rows[key])), name)
                lines.append(f"CPU-bound Python, {cpu_part['workers']} workers: {verdict}")
    start = report["startup"]
    if "manycore_pool" in start["rows"] and "process_pool" in start["rows"]:
        mine, theirs = start["rows"]["manycore_pool"], start["rows"]["process_pool"]
        verdict = describe(compare(mine["best_s"], theirs["best_s"], noise_of(mine, theirs)), "processes")
        lines.append(f"Starting {start['workers']} workers: {verdict} "
                     f"({1000 * mine['best_s']:.0f} ms vs {1000 * theirs['best_s']:.0f} ms)")
    if start["manycore_worker_mib"] and start["process_worker_mib"]:
        verdict = describe(compare(start["manycore_worker_mib"], start["process_worker_mib"]), "a process",
                           better_word="smaller", worse_word="larger")
        lines.append(f"Memory per worker: {verdict} "
                     f"({start['manycore_worker_mib']:.1f} MiB vs {start['process_worker_mib']:.1f} MiB)")
    handoff = report["handoff"]
    for name in handoff["payloads"]:
        mine, theirs = handoff["rows"].get((name, "manycore")), handoff["rows"].get((name, "processes"))
        if mine and theirs:
            verdict = describe(compare(mine["best_s"], theirs["best_s"], noise_of(mine, theirs)), "processes")
            lines.append(f"Handing {name} to a worker and back: {verdict}")
    shared = report.get("shared")
    if shared and "manycore" in shared["rows"] and "processes" in shared["rows"]:
        mine, theirs = shared["rows"]["manycore"], shared["rows"]["processes"]
        verdict = describe(compare(mine["best_s"], theirs["best_s"], noise_of(mine, theirs)),
                           "processes on multiprocessing.shared_memory")
        lines.append(f"{shared['workers']} workers reading one shared buffer: {verdict}")
    return lines


def _ms(row):
    return f"{1000 * row['best_s']:.1f} ms"


def print_report(report):
    env = report["environment"]
    runs = "one run" if report["repeat"] == 1 else f"best of {report['repeat']} runs"
    print(f"manycore demo: CPython {env['python']}, {env['cpus']} cores; {runs} each")
    load = env["load_average_1_5_15"]
    if load and env["cpus"] and load[0] >= env["cpus"]:
        # Parallel speedups need idle cores: say why they may be missing.
        print(f"(this machine is busy: load average {load[0]:.1f} on {env['cpus']} cores, "
              "so no model may run faster in parallel)")
    cpu_part = report["cpu"]
    labels = {"sequential": "one after another", "threads": "threads", "process_pool": "processes (spawn)",
              "manycore": "manycore"}
    print(f"\n1. CPU-bound Python: {cpu_part['workers']} copies of {cpu_part['n']:,}! by a plain loop")
    for key, label in labels.items():
        row = cpu_part["rows"].get(key)
        if row:
            print(f"   {label:<20} {row['best_s']:7.3f} s   {row['speedup']:.2f}x the sequential speed")
    start = report["startup"]
    print(f"\n2. Start {start['workers']} workers, ready to run a task; memory each worker adds")
    for key, label in (("manycore_pool", "manycore"), ("process_pool", "processes (spawn)")):
        if key in start["rows"]:
            print(f"   {label:<20} {_ms(start['rows'][key]):>10} to start")
    print(f"   {'manycore':<20} {common.format_mib(start['manycore_worker_mib']):>10} per worker (private memory)")
    print(f"   {'processes (spawn)':<20} {common.format_mib(start['process_worker_mib']):>10} per worker "
          f"(private; {common.format_mib(start['process_rss_mib'])} resident in all)")
    handoff = report["handoff"]
    print("\n3. Hand data to a worker and get it back")
    for name in handoff["payloads"]:
        cells = [f"{label} {_ms(handoff['rows'][(name, key)])}" for key, label in
                 (("manycore", "manycore"), ("processes", "processes")) if (name, key) in handoff["rows"]]
        print(f"   {name:<28} " + ", ".join(cells))
    shared = report.get("shared")
    if shared:
        print(f"\n4. {shared['workers']} workers checksum their part of one {shared['mib']:g} MiB buffer in place")
        for key, label in (("manycore", "manycore.SharedBuffer"), ("processes", "multiprocessing.shared_memory")):
            if key in shared["rows"]:
                print(f"   {label:<30} {_ms(shared['rows'][key]):>10}")
    errors = report["errors"]
    for error in errors:
        print(f"\n   could not measure: {error}")
    print(f"\nSummary, {env['cpus']} cores:")
    for line in summary_lines(report):
        print(f"  - {line}")
    print("\nMore detail, model by model: python -m manycore bench cpu|pool|queue|startup|data|shared|ecosystem")


def run(args):
    settings = QUICK if args.quick else FULL
    workers = args.workers or max(1, min(os.cpu_count() or 1, 4))
    report = {"environment": common.environment(), "repeat": settings["repeat"], "quick": args.quick}
    started = time.perf_counter()
    report["cpu"] = section_cpu(workers, settings)
    report["startup"] = section_startup(workers, settings)
    report["handoff"] = section_handoff(settings)
    report["shared"] = section_shared(workers, settings)
    report["errors"] = [error for part in ("cpu", "startup", "handoff", "shared") if report.get(part)
                        for error in report[part]["errors"]]
    report["summary"] = summary_lines(report)
    report["seconds"] = time.perf_counter() - started
    if args.json:
        report["handoff"]["rows"] = {f"{name} / {key}": row for (name, key), row in report["handoff"]["rows"].items()}
        common.print_json(report)
    else:
        print_report(report)
    return 1 if report["errors"] else 0
