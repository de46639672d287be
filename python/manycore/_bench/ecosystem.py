"""python/manycore/_bench/ecosystem.py: `bench ecosystem`: Dask and joblib on manycore against their own threads and processes.

(a) Dask, dask.distributed: one graph of T pure-Python CPU-bound tasks (a loop summing
    squares, ``spin(n)``) and a final sum, computed by a LocalCluster on 127.0.0.1:
    - one worker process with 2 threads (Dask's default executor: threads, one GIL);
    - the same worker with ``manycore.dask.ManycoreWorkerPlugin``: its 2 thread slots
      run in 2 manycore interpreters;
    - 2 worker processes of 1 thread each.
    The three clusters run side by side; after a warm-up graph on each, every round
    times one graph on each in turn (best of --repeat rounds), and each worker
    process's memory (VmRSS and RssAnon from /proc) is read after the runs. Every model runs
    with distributed's worker profiler off (``distributed.worker.profile.enabled``),
    unless --dask-profiler (docs/integrations.md: it made no measurable difference to
    the manycore worker in interleaved rounds).
(b) Dask's local scheduler on the same graph: ``scheduler="threads"`` (2 workers)
    against ``scheduler=manycore.InterpreterPoolExecutor(2)``.
(c) joblib: ``Parallel(n_jobs=2)`` over 10,000 small tasks (``x + 1``), with the
    "manycore", "loky" and "threading" backends, joblib's auto-batching, each backend
    warmed up by one call first (loky's processes and manycore's interpreters are
    kept between calls); and over T CPU-bound ``spin(n)`` tasks.

Every result is checked against the sequential one; a wrong result makes the exit
status 1. Targets are printed as PASS/FAIL, never the exit status.
"""

import argparse
import logging
import os
import time

from . import common
from ._workloads import plus_one, spin, total

SUMMARY = "Dask (distributed and local) and joblib on manycore vs their threads and processes"
DEFAULT_TASKS = 16
DEFAULT_N = 1_500_000
JOBLIB_TINY_TASKS = 10_000
WORKERS = 2
TARGET_WORKER_VS_THREADS = 1.8
TARGET_WORKER_VS_PROCESSES = 1.0
TARGET_JOBLIB_VS_LOKY = 2.0


def add_arguments(parser):
    parser.add_argument("--part", choices=("all", "dask", "joblib"), default="all",
                        help="what to measure (default: all)")
    parser.add_argument("--dask-profiler", action="store_true",
                        help="leave distributed's event-loop profiler on in the workers (default: off for every model)")
    common.add_common_arguments(parser, repeat=3)
    # Hidden: tests shrink the work so the command runs in seconds.
    parser.add_argument("--tasks", type=common.positive_int, default=DEFAULT_TASKS, help=argparse.SUPPRESS)
    parser.add_argument("--n", type=common.positive_int, default=DEFAULT_N, help=argparse.SUPPRESS)
    parser.add_argument("--tiny", type=common.positive_int, default=JOBLIB_TINY_TASKS, help=argparse.SUPPRESS)


def _graph_maker(tasks, n):
    """make(run) -> the graph, with keys of its own per run: nothing computed before can be reused."""
    import dask

    def make(run):
        return dask.delayed(total)(
            *[dask.delayed(spin)(n + i, dask_key_name=f"spin-{run}-{i}") for i in range(tasks)],
            dask_key_name=f"total-{run}",
        )

    return make


def _expected(tasks, n):
    return sum(spin(n + i) for i in range(tasks))


def _time_graph(compute, make_graph, expected, repeat, errors, label):
    compute(make_graph("warm-up"))  # workers import dask and the workload, interpreters start
    seconds = []
    for run in range(repeat):
        elapsed, result = common.time_call(compute, make_graph(run))
        if result != expected:
            errors.append(f"{label}: wrong result {result!r}, expected {expected!r}")
            return None
        seconds.append(elapsed)
    return common.summarize(seconds)


def _worker_memory(client):
    pids = client.run(os.getpid)
    rss = [common.mib(common.read_status_kib(pid, "VmRSS")) for pid in pids.values()]
    anon = [common.mib(common.read_status_kib(pid, "RssAnon")) for pid in pids.values()]
    return {"processes": len(pids), "rss_mib": rss, "rss_anon_mib": anon}


DISTRIBUTED_MODELS = (
    ("threads", "1 worker, 2 threads (Dask's default)", 1, WORKERS, False),
    ("manycore", "1 worker, 2 manycore interpreters", 1, WORKERS, True),
    ("processes", "2 worker processes, 1 thread each", WORKERS, 1, False),
)


def measure_distributed(tasks, n, repeat, errors, profiler):
    """The three models' clusters run side by side, and each round times one graph on each in turn.

    Interleaved rounds, not one model's runs after another's: on a machine shared with
    other work the load changes within seconds, and a block of runs would hand it to
    one model only. The idle clusters cost each timed one the same (heartbeats).
    """
    import contextlib

    import dask
    import distributed

    from manycore.dask import ManycoreWorkerPlugin

    expected = _expected(tasks, n)
    make_graph = _graph_maker(tasks, n)
    with contextlib.ExitStack() as stack:
        # The nannies hand this configuration to the worker processes they start.
        stack.enter_context(dask.config.set({"distributed.worker.profile.enabled": profiler}))
        clients = []
        for key, label, processes, threads, on_manycore in DISTRIBUTED_MODELS:
            cluster = stack.enter_context(distributed.LocalCluster(
                n_workers=processes, threads_per_worker=threads, processes=True, host="127.0.0.1",
                dashboard_address=":0", worker_dashboard_address=":0", silence_logs=logging.ERROR,
            ))
            client = stack.enter_context(distributed.Client(cluster, set_as_default=False))
            if on_manycore:
                client.register_plugin(ManycoreWorkerPlugin())
            # warm-up: the workers import dask and the workload, the interpreters start
            dask.compute(make_graph("warm-up"), scheduler=client)
            clients.append(client)
        seconds = {key: [] for key, *_ in DISTRIBUTED_MODELS}
        for run in range(repeat):
            for (key, label, *_), client in zip(DISTRIBUTED_MODELS, clients):
                if seconds[key] is None:
                    continue
                elapsed, result = common.time_call(lambda graph: dask.compute(graph, scheduler=client)[0],
                                                   make_graph(run))
                if result != expected:
                    errors.append(f"distributed {label}: wrong result {result!r}, expected {expected!r}")
                    seconds[key] = None
                else:
                    seconds[key].append(elapsed)
        return [{"model": key, "label": label, **common.summarize(seconds[key]), **_worker_memory(client)}
                for (key, label, *_), client in zip(DISTRIBUTED_MODELS, clients) if seconds[key] is not None]


def measure_local(tasks, n, repeat, errors):
    import dask

    import manycore

    expected = _expected(tasks, n)
    graph = _graph_maker(tasks, n)
    rows = []
    summary = _time_graph(lambda g: dask.compute(g, scheduler="threads", num_workers=WORKERS)[0],
                          graph, expected, repeat, errors, "local threads")
    if summary is not None:
        rows.append({"model": "threads", "label": f'scheduler="threads", {WORKERS} workers', **summary})
    with manycore.InterpreterPoolExecutor(WORKERS) as executor:
        summary = _time_graph(lambda g: dask.compute(g, scheduler=executor)[0],
                              graph, expected, repeat, errors, "local manycore")
    if summary is not None:
        rows.append({"model": "manycore", "label": f"scheduler=InterpreterPoolExecutor({WORKERS})", **summary})
    return rows


def measure_joblib(tasks, n, tiny, repeat, errors):
    import joblib

    import manycore.joblib  # noqa: F401 - the backend (import manycore alone offers it too)

    cases = (
        ("tiny", f"{tiny:,} tasks of x + 1", plus_one, list(range(tiny)), [x + 1 for x in range(tiny)]),
        ("cpu", f"{tasks} tasks of spin({n:,})", spin, [n + i for i in range(tasks)], [spin(n + i) for i in range(tasks)]),
    )
    rows = []
    for backend in ("manycore", "loky", "threading"):
        for case, label, function, items, expected in cases:
            def call(items=items, function=function):
                with joblib.parallel_config(backend=backend, n_jobs=WORKERS):
                    return joblib.Parallel()(joblib.delayed(function)(item) for item in items)

            call()  # warm-up: loky starts its processes, manycore its interpreters (both kept)
            seconds = []
            for _ in range(repeat):
                elapsed, result = common.time_call(call)
                if result != expected:
                    errors.append(f"joblib {backend} {case}: wrong result")
                    break
                seconds.append(elapsed)
            else:
                summary = common.summarize(seconds)
                rows.append({"backend": backend, "case": case, "label": label, "tasks": len(items), **summary,
                             "tasks_per_s": len(items) / summary["best_s"]})
    return rows


def evaluate_targets(report):
    targets = []

    def target(name, ours, theirs, threshold):
        ratio = None if ours is None or theirs is None else theirs["best_s"] / ours["best_s"]
        targets.append({"name": name, "ratio": ratio, "threshold": threshold,
                        "passed": None if ratio is None else ratio >= threshold,
                        "spread": None if ratio is None else common.run_spread(ours, theirs)})

    distributed_rows = {row["model"]: row for row in report.get("distributed", [])}
    if "distributed" in report:
        target("Dask worker: 2 threads time / 2 manycore interpreters time", distributed_rows.get("manycore"),
               distributed_rows.get("threads"), TARGET_WORKER_VS_THREADS)
        target("Dask worker: 2 worker processes time / 2 interpreters time", distributed_rows.get("manycore"),
               distributed_rows.get("processes"), TARGET_WORKER_VS_PROCESSES)
    if "joblib" in report:
        joblib_rows = {(row["backend"], row["case"]): row for row in report["joblib"]}
        target(f"joblib {JOBLIB_TINY_TASKS:,} small tasks: loky time / manycore time",
               joblib_rows.get(("manycore", "tiny")), joblib_rows.get(("loky", "tiny")), TARGET_JOBLIB_VS_LOKY)
    return targets


def _memory_text(values):
    return " + ".join(common.format_mib(value) for value in values)


def print_report(report):
    print(f"bench ecosystem: Dask and joblib, {WORKERS} workers; best of {report['repeat']} runs after a warm-up")
    print(common.describe_environment(report["environment"]))
    graph = f"{report['tasks']} tasks of spin(~{report['n']:,}) + a sum"
    if "distributed" in report:
        profiler = "on" if report["dask_profiler"] else "off"
        print(f"\n(a) dask.distributed LocalCluster on 127.0.0.1, one graph of {graph}; worker profiler {profiler}; "
              "the three clusters side by side, rounds interleaved")
        print(common.format_table(
            ("model", "wall s (best)", "wall s (median)", "worker RSS", "worker RssAnon"),
            [(row["label"], f"{row['best_s']:.3f}", f"{row['median_s']:.3f}", _memory_text(row["rss_mib"]),
              _memory_text(row["rss_anon_mib"])) for row in report["distributed"]]))
    if "local" in report:
        print(f"\n(b) Dask's local scheduler, the same graph")
        print(common.format_table(
            ("model", "wall s (best)", "wall s (median)"),
            [(row["label"], f"{row['best_s']:.3f}", f"{row['median_s']:.3f}") for row in report["local"]]))
    if "joblib" in report:
        print(f"\n(c) joblib Parallel(n_jobs={WORKERS}), auto-batching")
        print(common.format_table(
            ("backend", "case", "wall s (best)", "wall s (median)", "tasks/s (best)"),
            [(row["backend"], row["label"], f"{row['best_s']:.3f}", f"{row['median_s']:.3f}",
              f"{row['tasks_per_s']:,.0f}") for row in report["joblib"]]))
    for error in report["errors"]:
        print(f"\nERROR: {error}")
    common.print_targets(report["targets"], 62)


def run(args):
    report = {"benchmark": "ecosystem", "tasks": args.tasks, "n": args.n, "repeat": args.repeat,
              "dask_profiler": args.dask_profiler, "environment": common.environment()}
    errors = []
    if args.part in ("all", "dask"):
        report["distributed"] = measure_distributed(args.tasks, args.n, args.repeat, errors, args.dask_profiler)
        report["local"] = measure_local(args.tasks, args.n, args.repeat, errors)
    if args.part in ("all", "joblib"):
        report["joblib"] = measure_joblib(args.tasks, args.n, args.tiny, args.repeat, errors)
    report["errors"] = errors
    report["targets"] = evaluate_targets(report)
    if args.json:
        common.print_json(report)
    else:
        print_report(report)
    return 1 if errors else 0
