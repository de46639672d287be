"""python/manycore/_bench/startup.py: `bench startup`: what a worker costs to start and to keep, manycore vs the stdlib.

Measured side by side in one run, each model alternating with the others so that a
slow patch of a shared machine spreads over all of them:

- setup of W workers with the workload loaded into each (as `bench cpu` measures it):
  the stdlib's private interpreters module (`_interpreters` on 3.13+,
  `_xxsubinterpreters` on 3.12: W creations, then the workload's source run in each);
  manycore's InterpreterPoolExecutor(W) (its workers start at once; W tasks that wait
  for one another, through pipes, prove that every worker is up and has imported the
  workload);
  W `manycore.create()` in a row, each making one call (what `bench cpu` does); and
  ProcessPoolExecutor(W) with the spawn context;
- create + close of one interpreter: stdlib create + destroy against manycore
  create + close;
- extra RSS per live interpreter, each model in a fresh child process: RSS growth
  over K interpreters that each ran something, divided by K (a first one, which loads
  the main-interpreter side, is not counted), with RSS after each step of manycore's;
- the modules a manycore worker imports at start that a bare stdlib interpreter does
  not (only manycore's own may appear), and with ``--importtime`` the import times
  inside a worker (a child process run with ``-X importtime``).

The targets (ratios manycore / stdlib, at most 1.2) are printed as PASS/FAIL; they
are informational, never the exit status.
"""

import argparse
import concurrent.futures
import json
import os
import select
import statistics
import subprocess
import sys
import time

import manycore

from . import common, cpu
from ._workloads import check_in, factorial_fingerprint

SUMMARY = "worker start-up time and memory: stdlib interpreters, manycore pool and interpreters, processes"
DEFAULT_WORKERS = [1, 2]
CREATE_CLOSE_SAMPLES = 20
MEMORY_INTERPRETERS = 8
TARGET_AT_MOST = 1.2
_STDLIB_START = "import sys, os\nos.write(fd, ' '.join(sorted(sys.modules)).encode())\nos.close(fd)\n"


def add_arguments(parser):
    parser.add_argument(
        "--workers", type=common.worker_counts, default=DEFAULT_WORKERS, metavar="W[,W...]",
        help="worker counts of the setup measurement (default: 1,2)",
    )
    parser.add_argument("--no-processes", action="store_true",
                        help="leave out ProcessPoolExecutor (the slowest model to set up)")
    parser.add_argument("--importtime", action="store_true",
                        help="also list the import times inside a new worker (a child run with -X importtime)")
    common.add_common_arguments(parser, repeat=5)
    # Hidden: tests shrink the sample counts so the command runs in seconds.
    parser.add_argument("--samples", type=common.positive_int, default=CREATE_CLOSE_SAMPLES, help=argparse.SUPPRESS)
    parser.add_argument("--interpreters", type=common.positive_int, default=MEMORY_INTERPRETERS,
                        help=argparse.SUPPRESS)


# ---- setup of W workers -------------------------------------------------------------------

class StdlibSetup(cpu.StdlibInterpreters):
    """bench cpu's stdlib model: W creations, then the workload's source run in each."""

    def __init__(self, module):
        super().__init__(module, expected=None)


class ManycorePool:
    key, label = "manycore_pool", "manycore InterpreterPoolExecutor"
    executor = None

    def setup(self, workers):
        self.executor = manycore.InterpreterPoolExecutor(workers)
        arrived_read, arrived_write = os.pipe()
        release_read, release_write = os.pipe()
        futures = []
        try:
            futures = [self.executor.submit(check_in, arrived_write, release_read) for _ in range(workers)]
            arrived, deadline = 0, time.monotonic() + 60
            while arrived < workers:  # W tasks running at once: W workers are up
                for future in futures:
                    if future.done():  # it failed: it did not wait for the others
                        future.result()
                        raise RuntimeError("a start-up barrier task ended before the others arrived")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"only {arrived} of {workers} workers started within 60 s")
                if select.select([arrived_read], [], [], 0.05)[0]:
                    arrived += len(os.read(arrived_read, workers - arrived))
            os.write(release_write, b"." * workers)
            for future in futures:
                future.result(timeout=60)
        finally:
            os.close(release_write)  # a task still waiting reads end-of-file and ends
            # The other ends only once no task can use them: a closed descriptor's
            # number may be reused by the next open.
            if concurrent.futures.wait(futures, timeout=60).not_done:
                return
            for fd in (arrived_read, arrived_write, release_read):
                os.close(fd)

    def close(self):
        if self.executor is not None:
            self.executor.shutdown(wait=True)


class ManycoreInterpreters(cpu.Manycore):
    key, label = "manycore_interpreters", "manycore.create() x W"


class ProcessPool(cpu.ProcessPool):
    label = "ProcessPoolExecutor (spawn)"


def measure_setup(worker_counts, repeat, stdlib_module, with_processes, errors):
    """Setup time of every model for every W, runs alternating between models."""
    rows = []
    for workers in worker_counts:
        makers = []
        if stdlib_module is not None:
            makers.append(lambda: StdlibSetup(stdlib_module))
        makers += [ManycorePool, ManycoreInterpreters]
        if with_processes:
            makers.append(ProcessPool)
        timings, cpu_times = {}, {}
        failed = set()
        for _ in range(repeat):
            for make in makers:
                model = make()
                if model.key in failed:
                    continue
                try:
                    cpu_start = time.process_time()
                    seconds, _ = common.time_call(model.setup, workers)
                    cpu_times.setdefault(model.key, []).append(time.process_time() - cpu_start)
                except Exception as error:  # noqa: BLE001 - the model is reported as not run
                    failed.add(model.key)
                    timings.pop(model.key, None)
                    errors.append({"model": model.key, "workers": workers, "error": f"setup failed: {error!r}",
                                   "informational": model.key == StdlibSetup.key})
                    continue
                finally:
                    model.close()
                timings.setdefault(model.key, (model.label, []))[1].append(seconds)
        for key, (label, seconds) in timings.items():
            # CPU time of this process, all threads: what the setup costs on a machine
            # whose other load stretches the wall-clock times. A spawned process's
            # own CPU time is not in it, so none is given for processes.
            cpu_s = None if key == ProcessPool.key else cpu_times[key]
            rows.append({"model": key, "label": label, "workers": workers, **common.summarize(seconds),
                         "cpu_best_s": cpu_s and min(cpu_s), "cpu_median_s": cpu_s and statistics.median(cpu_s)})
    return rows


# ---- create + close -----------------------------------------------------------------------

def measure_create_close(samples, stdlib_module):
    """Per-sample create and close times, stdlib and manycore alternating."""
    times = {"stdlib": ([], []), "manycore": ([], [])}
    cpu_times = {"stdlib": [], "manycore": []}
    # A first cycle of each loads what only the first interpreter needs.
    manycore.create().close()
    if stdlib_module is not None:
        stdlib_module.destroy(stdlib_module.create())
    for _ in range(samples):
        if stdlib_module is not None:
            cpu_start, start = time.process_time(), time.perf_counter()
            interp_id = stdlib_module.create()
            created = time.perf_counter()
            stdlib_module.destroy(interp_id)
            times["stdlib"][0].append(created - start)
            times["stdlib"][1].append(time.perf_counter() - created)
            cpu_times["stdlib"].append(time.process_time() - cpu_start)
        cpu_start, start = time.process_time(), time.perf_counter()
        interpreter = manycore.create()
        created = time.perf_counter()
        interpreter.close()
        times["manycore"][0].append(created - start)
        times["manycore"][1].append(time.perf_counter() - created)
        cpu_times["manycore"].append(time.process_time() - cpu_start)
    result = {"samples": samples}
    for model, (creates, closes) in times.items():
        if not creates:
            result[model] = None
            continue
        totals = [a + b for a, b in zip(creates, closes)]
        result[model] = {
            "create_ms": 1000 * statistics.median(creates), "close_ms": 1000 * statistics.median(closes),
            "create_close_ms": 1000 * statistics.median(totals),
            "create_close_best_ms": 1000 * min(totals), "create_close_mean_ms": 1000 * statistics.mean(totals),
            "cpu_ms": 1000 * statistics.median(cpu_times[model]),
        }
    return result


# ---- memory, in fresh child processes ---------------------------------------------------------

def _child_memory(kind, count):
    """Body of a child process: RSS steps of `count` live interpreters of `kind`, as JSON on stdout."""
    steps = [("start", common.read_status_kib())]
    alive = []
    if kind == "stdlib":
        module, why = cpu.stdlib_interpreters_module()
        if module is None:
            raise SystemExit(why)

        def new():
            interp_id = module.create()
            module.run_string(interp_id, "pass", {})
            alive.append(interp_id)

        def close_all():
            while alive:
                module.destroy(alive.pop())
    else:
        import manycore as package

        steps.append(("import manycore", common.read_status_kib()))

        def new():
            interpreter = package.create()
            alive.append(interpreter)
            steps.append(("create", common.read_status_kib()))
            interpreter.call(os.getpid)

        def close_all():
            while alive:
                alive.pop().close()

    new()  # the first: loads the main-interpreter side (not counted)
    steps.append(("first interpreter, one call", common.read_status_kib()))
    before = (steps[-1][1], common.read_status_kib("self", "RssAnon"))
    for _ in range(count):
        new()
    steps.append((f"{count} more", common.read_status_kib()))
    after = (steps[-1][1], common.read_status_kib("self", "RssAnon"))
    close_all()
    print(json.dumps({"steps": steps, "before": before, "after": after}))


def measure_memory(count, with_stdlib):
    """Extra RSS per live interpreter of each model, each in its own fresh process."""
    result = {"interpreters": count}
    for kind in (["stdlib"] if with_stdlib else []) + ["manycore"]:
        code = f"from manycore._bench import startup; startup._child_memory({kind!r}, {count})"
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            result[kind] = {"error": done.stderr.strip().splitlines()[-1:] or [f"exit code {done.returncode}"]}
            continue
        data = json.loads(done.stdout.strip().splitlines()[-1])
        (rss_before, anon_before), (rss_after, anon_after) = data["before"], data["after"]
        if None in (rss_before, anon_before, rss_after, anon_after):
            result[kind] = {"rss_per_interpreter_mib": None, "rss_anon_per_interpreter_mib": None, "steps": []}
            continue
        result[kind] = {
            "rss_per_interpreter_mib": common.mib((rss_after - rss_before) / count),
            "rss_anon_per_interpreter_mib": common.mib((anon_after - anon_before) / count),
            "steps": [{"step": name, "rss_mib": common.mib(kib)} for name, kib in data["steps"]],
        }
    return result


# ---- what a worker imports --------------------------------------------------------------------

def worker_start_modules(stdlib_module):
    """Modules in sys.modules of a new manycore worker and of a new stdlib interpreter."""
    with manycore.create() as interpreter:
        in_manycore = interpreter.call(eval, "sorted(__import__('sys').modules)")
    in_stdlib = None
    if stdlib_module is not None:
        read_end, write_end = os.pipe()
        interp_id = stdlib_module.create()
        try:
            stdlib_module.run_string(interp_id, _STDLIB_START, {"fd": write_end})
        finally:
            stdlib_module.destroy(interp_id)
        with os.fdopen(read_end, "rb") as pipe:
            in_stdlib = pipe.read().decode().split()
    return in_manycore, in_stdlib


def extra_start_modules(in_manycore, in_stdlib):
    """(manycore's own, any other) modules a manycore worker has at start beyond a stdlib interpreter."""
    extra = sorted(set(in_manycore) - set(in_stdlib))
    own = [name for name in extra if name == "manycore" or name.startswith("manycore.")]
    return own, [name for name in extra if name not in own]


# A worker imports its start-up module before its first job: the worker here runs one.
_IMPORTTIME_CHILD = (
    "import os, sys, manycore\n"
    "with manycore.create() as first:\n"  # the first one loads main-interpreter pieces too
    "    first.call(os.getpid)\n"
    "print('-- worker start', file=sys.stderr, flush=True)\n"
    "with manycore.create() as worker:\n"
    "    worker.call(os.getpid)\n"
    "    print('-- worker started', file=sys.stderr, flush=True)\n"
)


def worker_importtime():
    """[{module, self_us, cumulative_us}] of one new worker and its first call, from a child run with -X importtime."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", _IMPORTTIME_CHILD],
                          capture_output=True, text=True, timeout=120)
    lines = done.stderr.splitlines()
    if "-- worker start" not in lines or "-- worker started" not in lines:
        return None
    rows = []
    for line in lines[lines.index("-- worker start") + 1:lines.index("-- worker started")]:
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = (part.strip() for part in line[len("import time:"):].split("|"))
        rows.append({"module": name, "self_us": int(self_us), "cumulative_us": int(cumulative_us),
                     "depth": (len(name) - len(name.lstrip())) // 2})
    return rows


# ---- targets and report -----------------------------------------------------------------------

def evaluate_targets(setup_rows, lifecycle, memory, worker_counts):
    """manycore / stdlib ratios, each at most TARGET_AT_MOST (None where not measured)."""
    rows = {(row["model"], row["workers"]): row for row in setup_rows}
    targets = []

    def target(name, manycore_value, stdlib_value, spread=None):
        measured = manycore_value is not None and stdlib_value
        ratio = manycore_value / stdlib_value if measured else None
        targets.append({"name": name, "ratio": ratio, "threshold": TARGET_AT_MOST, "at_most": True,
                        "passed": None if ratio is None else ratio <= TARGET_AT_MOST, "spread": spread})

    for workers in worker_counts:
        pool, stdlib = rows.get(("manycore_pool", workers)), rows.get((StdlibSetup.key, workers))
        both = pool is not None and stdlib is not None
        target(f"pool setup W={workers}, manycore / stdlib", pool and pool["best_s"], stdlib and stdlib["best_s"],
               common.run_spread(pool, stdlib) if both else None)
    mine, theirs = lifecycle.get("manycore"), lifecycle.get("stdlib")
    target("create+close, manycore / stdlib", mine and mine["create_close_ms"], theirs and theirs["create_close_ms"])
    mine, theirs = memory.get("manycore") or {}, memory.get("stdlib") or {}
    target("extra RSS per interpreter, manycore / stdlib", mine.get("rss_per_interpreter_mib"),
           theirs.get("rss_per_interpreter_mib"))
    return targets


def cpu_ratios(setup_rows, lifecycle, worker_counts):
    """{name: manycore / stdlib CPU-time ratio} of the timing targets (medians), where both were measured."""
    rows = {(row["model"], row["workers"]): row for row in setup_rows}
    ratios = {}
    for workers in worker_counts:
        pool, stdlib = rows.get(("manycore_pool", workers)), rows.get((StdlibSetup.key, workers))
        if pool and stdlib and stdlib["cpu_median_s"]:
            ratios[f"pool setup W={workers}, manycore / stdlib"] = pool["cpu_median_s"] / stdlib["cpu_median_s"]
    if lifecycle.get("manycore") and lifecycle.get("stdlib") and lifecycle["stdlib"]["cpu_ms"]:
        ratios["create+close, manycore / stdlib"] = lifecycle["manycore"]["cpu_ms"] / lifecycle["stdlib"]["cpu_ms"]
    return ratios


def print_report(report):
    print(f"bench startup: worker start-up time and memory; best of {report['repeat']} setups")
    print(common.describe_environment(report["environment"]))
    if report["stdlib_interpreters_unavailable"]:
        print(f"stdlib interpreters: not measured: {report['stdlib_interpreters_unavailable']}")
    print("\nsetup of W workers, the workload loaded in each:")
    print(common.format_table(
        ("model", "W", "setup ms (best)", "setup ms (median)", "CPU ms (median)"),
        [(row["label"], row["workers"], f"{1000 * row['best_s']:.1f}", f"{1000 * row['median_s']:.1f}",
          "-" if row["cpu_median_s"] is None else f"{1000 * row['cpu_median_s']:.1f}") for row in report["setup"]]))
    lifecycle = report["create_close"]
    print(f"\ncreate + close of one interpreter (median of {lifecycle['samples']}, alternating):")
    rows = []
    for model, label in (("stdlib", "stdlib create + destroy"), ("manycore", "manycore create + close")):
        if lifecycle.get(model):
            row = lifecycle[model]
            rows.append((label, f"{row['create_ms']:.1f}", f"{row['close_ms']:.1f}", f"{row['create_close_ms']:.1f}",
                         f"{row['create_close_best_ms']:.1f}", f"{row['cpu_ms']:.1f}"))
    print(common.format_table(("model", "create ms", "close ms", "total ms", "total ms (best)", "CPU ms"), rows))
    memory = report["memory"]
    print(f"\nextra RSS per live interpreter ({memory['interpreters']} interpreters, a fresh process each):")
    rows = []
    for model in ("stdlib", "manycore"):
        if model in memory:
            row = memory[model]
            if "error" in row:
                rows.append((model, "failed: " + " ".join(row["error"]), ""))
            else:
                rows.append((model, common.format_mib(row["rss_per_interpreter_mib"]),
                             common.format_mib(row["rss_anon_per_interpreter_mib"])))
    print(common.format_table(("model", "RSS", "private RssAnon"), rows))
    steps = (memory.get("manycore") or {}).get("steps")
    if steps:
        print("manycore process RSS by step: " + ", ".join(
            f"{step['step']} {step['rss_mib']:.1f} MiB" for step in steps if not step["step"].startswith("create")))
    modules = report["worker_modules"]
    if modules["other"] is not None:
        other = ", ".join(modules["other"]) or "none"
        print(f"\nmodules a new manycore worker has beyond a bare stdlib interpreter: manycore's own "
              f"({len(modules['manycore'])}: {', '.join(modules['manycore'])}); any other: {other}")
    if report.get("importtime"):
        print("\nimports inside a new manycore worker (-X importtime, us):")
        print(common.format_table(("module", "self", "cumulative"),
                                  [("  " * row["depth"] + row["module"].strip(), row["self_us"], row["cumulative_us"])
                                   for row in report["importtime"]]))
    for error in report["errors"]:
        kind = "not measured (informational model)" if error["informational"] else "ERROR"
        print(f"\n{kind}: {error['model']} at W={error['workers']}: {error['error']}")
    common.print_targets(report["targets"], 46)
    if report["cpu_ratios"]:
        print("same ratios in CPU time of this process (what the wall-clock ones cost without the machine's "
              "other load):")
        for name, ratio in report["cpu_ratios"].items():
            print(f"  {name:<46} {ratio:.2f}x")


def run(args):
    stdlib_module, stdlib_unavailable = cpu.stdlib_interpreters_module()
    report = {"benchmark": "startup", "workers": args.workers, "repeat": args.repeat,
              "environment": common.environment(), "stdlib_interpreters_unavailable": stdlib_unavailable,
              "errors": []}
    # Memory first, in child processes: nothing this process did can change it.
    report["memory"] = measure_memory(args.interpreters, with_stdlib=stdlib_module is not None)
    in_manycore, in_stdlib = worker_start_modules(stdlib_module)
    own, other = extra_start_modules(in_manycore, in_stdlib) if in_stdlib is not None else (None, None)
    report["worker_modules"] = {"manycore_worker": in_manycore, "stdlib_interpreter": in_stdlib,
                                "manycore": own, "other": other}
    factorial_fingerprint(10)  # the workload module is loaded here before any timing
    report["setup"] = measure_setup(args.workers, args.repeat, stdlib_module, not args.no_processes,
                                    report["errors"])
    report["create_close"] = measure_create_close(args.samples, stdlib_module)
    report["importtime"] = worker_importtime() if args.importtime else None
    report["targets"] = evaluate_targets(report["setup"], report["create_close"], report["memory"], args.workers)
    report["cpu_ratios"] = cpu_ratios(report["setup"], report["create_close"], args.workers)
    if args.json:
        common.print_json(report)
    else:
        print_report(report)
    failed = [error for error in report["errors"] if not error["informational"]]
    failed += [kind for kind in ("stdlib", "manycore") if "error" in (report["memory"].get(kind) or {})]
    return 1 if failed else 0
