"""python/manycore/_bench/pool.py: `bench pool`: manycore's executors side by side with the stdlib's pools.

Three workloads, each through every model's ``map`` in this same process, one model
after the other (runs alternate between models, the best run is reported):

- cpu: T tasks of n! by a plain Python loop (the `bench cpu` workload), W = 1, 2, 4
  workers; wall time and speedup over the same T calls in a row (sequential);
- tiny: ``x + 1`` per task, tasks per second through ``map`` with chunksize 1 and 256
  (W = 2; ``--chunksizes`` picks others): the cost of dispatch itself;
- bytes: a task whose argument and result are 1 MiB ``bytes`` (it returns its
  argument), tasks per second and MiB per second each way (W = 2, chunksize 1;
  ``--sizes`` picks other sizes, e.g. for a plot of transfer cost by size). A
  "pickle" row beside the models: each payload pickled there and back in the main
  thread, with no transport, the floor of a pool that pickles.

Models: ThreadPoolExecutor; ProcessPoolExecutor and multiprocessing.Pool (spawn
context, workers started and warmed up before timing); a pool assembled from the
stdlib's private interpreter modules where they import (3.13: ``_interpreters`` and
``_interpqueues``; 3.12: ``_xxsubinterpreters`` and ``_xxinterpchannels``): one
interpreter and one thread per worker, tasks and results pickled through one shared
queue each way, polled because those modules cannot block; manycore's
InterpreterPoolExecutor and Pool. Every run's results are checked against the
reference: a wrong result drops the model and makes the exit status 1.
"""

import argparse
import concurrent.futures
import inspect
import multiprocessing
import pickle
import sys
import threading
import time

import manycore

from . import common, cpu
from ._workloads import echo, factorial_fingerprint, plus_one, warm_up

SUMMARY = "executors: cpu-bound, tiny and 1 MiB tasks through map, manycore vs threads, processes, stdlib interpreters"
DEFAULT_N = 30_000
CPU_TASKS = 8
CPU_WORKERS = [1, 2, 4]
TINY_WORKERS = 2
TINY_TASKS = {1: 20_000, 256: 400_000}  # chunksize -> tasks per run
TINY_TASKS_MAX = 400_000  # other chunksizes: 20,000 tasks per unit of chunksize, up to this
BYTES_TASKS = 64
BYTES_SIZE = 1 << 20
BYTES_PER_RUN = BYTES_TASKS * BYTES_SIZE  # other sizes: about as many bytes per run, 8 to 4,096 tasks
# Issue 4, on 2 cores, same run: cpu W=2 >= 1.85x sequential and no slower than
# ProcessPoolExecutor; tiny tasks/s >= 10x ProcessPoolExecutor at chunksize 1 and >= it at 256.
TARGET_SPEEDUP = 1.85
TARGET_TINY_CHUNK1 = 10.0
TARGET_TINY_CHUNK256 = 1.0


def add_arguments(parser):
    parser.add_argument(
        "--workers", type=common.worker_counts, default=CPU_WORKERS, metavar="W[,W...]",
        help="worker counts of the cpu workload (default: 1,2,4)",
    )
    common.add_common_arguments(parser, repeat=3)
    # Hidden: tests shrink the work so the command runs in a fraction of a second.
    parser.add_argument(
        "--chunksizes", type=chunksize_list, default=list(TINY_TASKS), metavar="C[,C...]",
        help="chunksizes of the tiny workload (default: 1,256)",
    )
    parser.add_argument(
        "--sizes", type=size_list, default=[BYTES_SIZE], metavar="SIZE[,SIZE...]",
        help="payload sizes of the bytes workload, in bytes or with a K/M suffix (KiB, MiB; default: 1M)",
    )
    parser.add_argument("--n", type=common.positive_int, default=DEFAULT_N, help=argparse.SUPPRESS)
    parser.add_argument("--scale", type=float, default=1.0, help=argparse.SUPPRESS)


def chunksize_list(text):
    """argparse type: '1,16,256' -> [1, 16, 256] (sorted, without repeats)."""
    try:
        return sorted({common.positive_int(part.strip()) for part in text.split(",")})
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"--chunksizes takes positive integers separated by commas (e.g. 1,16,256), got {text!r}") from None


def size_list(text):
    """argparse type: '1K,64K,1M' -> [1024, 65536, 1048576] (sorted, without repeats)."""
    sizes = set()
    for part in text.split(","):
        part = part.strip().upper()
        factor = {"K": 1 << 10, "M": 1 << 20}.get(part[-1:], 1)
        digits = part[:-1] if factor > 1 else part
        if not digits.isdigit() or int(digits) < 1 or int(digits) * factor > 1 << 30:
            raise argparse.ArgumentTypeError(
                f"--sizes takes sizes from 1 byte to 1G, in bytes or with a K or M suffix, separated by commas "
                f"(e.g. 1K,64K,1M), got {text!r}")
        sizes.add(int(digits) * factor)
    return sorted(sizes)


def size_label(size):
    for unit, factor in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} B"


# ---- models ------------------------------------------------------------------------------


class Sequential:
    """The calls in a row in the main interpreter: the cpu workload's baseline."""

    key, label = "sequential", "sequential"

    def setup(self, workers):
        pass

    def map(self, function, items, chunksize):
        return [function(item) for item in items]

    def close(self):
        pass


class ThreadPool:
    key, label = "thread_pool", "ThreadPoolExecutor"
    honors_chunksize = False  # its map has the argument and ignores it

    def setup(self, workers):
        self.pool = concurrent.futures.ThreadPoolExecutor(workers)

    def map(self, function, items, chunksize):
        return list(self.pool.map(function, items))  # chunksize is ignored by threads

    def close(self):
        self.pool.shutdown()


class ProcessPool(cpu.ProcessPool):
    """`bench cpu`'s ProcessPoolExecutor model (spawn, every worker started before timing), through map."""

    def map(self, function, items, chunksize):
        return list(self.pool.map(function, items, chunksize=chunksize))


class MultiprocessingPool:
    key, label = "mp_pool", "multiprocessing.Pool"

    def setup(self, workers):
        self.pool = multiprocessing.get_context("spawn").Pool(workers)
        self.pool.map(warm_up, [0.1] * workers, chunksize=1)

    def map(self, function, items, chunksize):
        return self.pool.map(function, items, chunksize)

    def close(self):
        self.pool.terminate()
        self.pool.join()


class ManycoreExecutor:
    key, label = "manycore_executor", "manycore InterpreterPoolExecutor"

    def setup(self, workers):
        self.pool = manycore.InterpreterPoolExecutor(workers)
        list(self.pool.map(warm_up, [0.01] * workers))

    def map(self, function, items, chunksize):
        return list(self.pool.map(function, items, chunksize=chunksize))

    def close(self):
        self.pool.shutdown()


class ManycorePool:
    key, label = "manycore_pool", "manycore Pool"

    def setup(self, workers):
        self.pool = manycore.Pool(workers)
        self.pool.map(warm_up, [0.01] * workers, chunksize=1)

    def map(self, function, items, chunksize):
        return self.pool.map(function, items, chunksize)

    def close(self):
        self.pool.terminate()


# How long a stdlib pool's polling loop sleeps after `polls` empty polls. It backs off
# to 2 ms once idle: polling every 0.1 ms from idle workers took CPU from the other
# models while they were timed (every parallel model lost ~10% at W=2).
_POLL_PAUSE = """
def _poll_pause(polls):
    return 0 if polls < 100 else (0.0001 if polls < 1000 else 0.002)
"""

_STDLIB_TRANSPORTS = {
    # module of interpreters, module of queues, code defining send(q, data) and receive(q)
    (3, 13): ("_interpreters", "_interpqueues", _POLL_PAUSE + """
import queue as _queue_module
import _interpqueues as _queues
def send(qid, data):
    _queues.put(qid, data, 0, 1)
def receive(qid, failed=lambda: False):
    polls = 0
    while True:
        try:
            return _queues.get(qid)[0]
        except _queue_module.Empty:
            polls += 1
            if polls % 1000 == 0 and failed():
                raise RuntimeError("a worker failed")
            _time.sleep(_poll_pause(polls))
"""),
    (3, 12): ("_xxsubinterpreters", "_xxinterpchannels", _POLL_PAUSE + """
import _xxinterpchannels as _channels
def send(cid, data):
    _channels.send(cid, data)
def receive(cid, failed=lambda: False):
    polls = 0
    while True:
        try:
            return _channels.recv(cid)
        except _channels.ChannelEmptyError:
            polls += 1
            if polls % 1000 == 0 and failed():
                raise RuntimeError("a worker failed")
            _time.sleep(_poll_pause(polls))
"""),
}

_STDLIB_WORKER = """
while True:
    data = receive(TASKS)
    if data == b"stop":
        break
    index, name, chunk = pickle.loads(data)
    function = globals()[name]
    send(RESULTS, pickle.dumps((index, [function(item) for item in chunk]), 5))
"""


def stdlib_pool_modules():
    """(interpreters module, queue module id creator, transport code) or (None, why not)."""
    found = _STDLIB_TRANSPORTS.get(sys.version_info[:2])
    if found is None:
        return None, f"no stdlib interpreter pool pieces known for Python {sys.version_info[0]}.{sys.version_info[1]}"
    interpreters_name, queues_name, transport = found
    try:
        interpreters = __import__(interpreters_name)
        queues = __import__(queues_name)
    except ImportError as error:
        return None, f"cannot import the stdlib interpreter modules ({error})"
    return (interpreters, queues, transport), None


class StdlibInterpreterPool:
    """W stdlib interpreters, each looping in a thread of its own over one shared task queue."""

    key = "stdlib_pool"
    # Seconds to wait, untimed, after each of its runs: its idle workers poll every
    # 0.1 ms for ~0.1 s before they back off to 2 ms, and that burst took CPU from the
    # model timed next (measured: the executor, timed right after it, lost 1-2% at W=2).
    settle_s = 0.25

    def __init__(self, modules):
        self.interpreters, self.queues, self.transport = modules
        self.label = f"{self.interpreters.__name__} pool (stdlib)"
        self.ids, self.threads, self.failures, self.handles = [], [], [], []
        namespace = {"_time": time}
        exec(self.transport, namespace)
        self.send, self.receive = namespace["send"], namespace["receive"]

    def _new_queue(self):
        if self.queues.__name__ == "_interpqueues":
            return self.queues.create(0, 0, 1)
        channel = self.queues.create()
        self.handles.append(channel)  # 3.12 destroys a channel when its last ChannelID object goes
        return int(channel)

    def setup(self, workers):
        self.tasks, self.results = self._new_queue(), self._new_queue()
        sources = "\n".join(inspect.getsource(function) for function in (factorial_fingerprint, plus_one, echo))
        script = (f"import pickle\nimport time as _time\n{self.transport}\n{sources}\n"
                  f"TASKS, RESULTS = {int(self.tasks)}, {int(self.results)}\n{_STDLIB_WORKER}")
        for _ in range(workers):
            self.ids.append(self.interpreters.create())
        for interp_id in self.ids:
            thread = threading.Thread(target=self._serve, args=(interp_id, script))
            thread.start()
            self.threads.append(thread)

    def _serve(self, interp_id, script):
        try:
            # 3.13 returns a description of an uncaught exception; 3.12 raises RunFailedError.
            failure = (self.interpreters.run_string(interp_id, script) if self.queues.__name__ == "_interpqueues"
                       else self.interpreters.run_string(interp_id, script, {}))
        except Exception as error:  # noqa: BLE001 - reported by map
            failure = error
        if failure is not None:
            self.failures.append(failure)

    def map(self, function, items, chunksize):
        items = list(items)
        chunks = [items[start:start + chunksize] for start in range(0, len(items), chunksize)]
        for index, chunk in enumerate(chunks):
            self.send(self.tasks, pickle.dumps((index, function.__name__, chunk), 5))
        results = [None] * len(chunks)
        for _ in chunks:
            index, values = pickle.loads(self.receive(self.results, lambda: bool(self.failures)))
            results[index] = values
        return [value for chunk in results for value in chunk]

    def close(self):
        for _ in self.threads:
            self.send(self.tasks, b"stop")
        for thread in self.threads:
            thread.join()
        for interp_id in self.ids:
            self.interpreters.destroy(interp_id)
        self.queues.destroy(self.tasks)
        self.queues.destroy(self.results)
        if self.failures:
            raise RuntimeError(f"{self.label}: {self.failures[0]}")


def models(stdlib_modules, with_sequential=False):
    chosen = ([Sequential()] if with_sequential else []) + [ThreadPool(), ProcessPool(), MultiprocessingPool()]
    if stdlib_modules is not None:
        chosen.append(StdlibInterpreterPool(stdlib_modules))
    return chosen + [ManycoreExecutor(), ManycorePool()]


# ---- measuring ---------------------------------------------------------------------------


def measure(workload, workers, cases, stdlib_modules, repeat, errors, with_sequential=False):
    """Times every model on every case; {(model key, case name): (label, [seconds])}.

    cases: [(case name, function, items, chunksize, expected results)]. Models take
    turns within each repetition, so a busy moment of a shared machine spreads over
    all of them (the sequential baseline too, when with_sequential).
    """
    timings = {}
    active, prepared = [], []
    try:
        for model in models(stdlib_modules, with_sequential):
            prepared.append(model)
            try:
                model.setup(workers)
            except Exception as error:  # noqa: BLE001 - reported, the others go on
                errors.append({"workload": workload, "model": model.key, "workers": workers,
                               "error": f"setup failed: {error!r}", "informational": model.key == "stdlib_pool"})
                continue
            active.append(model)
        for _ in range(repeat):
            for model in list(active):
                for name, function, items, chunksize, expected in cases:
                    if chunksize > 1 and not getattr(model, "honors_chunksize", True):
                        continue
                    try:
                        seconds, outcome = common.time_call(model.map, function, items, chunksize)
                        message = "wrong result"
                    except Exception as error:  # noqa: BLE001 - the model is reported as failed
                        outcome, message = None, repr(error)
                    if outcome != expected:
                        active.remove(model)
                        errors.append({"workload": workload, "model": model.key, "workers": workers,
                                       "error": message, "informational": model.key == "stdlib_pool"})
                        break
                    timings.setdefault((model.key, name), (model.label, []))[1].append(seconds)
                    outcome = None  # 64 MiB of results must not stay alive while the next model runs
                    time.sleep(getattr(model, "settle_s", 0))
    finally:
        for model in prepared:
            try:
                model.close()
            except Exception as error:  # noqa: BLE001
                errors.append({"workload": workload, "model": model.key, "workers": workers,
                               "error": f"close failed: {error!r}", "informational": model.key == "stdlib_pool"})
    return timings


def measure_cpu(n, worker_counts, repeat, stdlib_modules, errors):
    items = [n] * CPU_TASKS
    expected = [factorial_fingerprint(n)] * CPU_TASKS
    # The sequential baseline runs in every W block, taking turns with the models; its
    # best run over all blocks is the baseline of every speedup.
    sequential, measured = [], []
    for workers in worker_counts:
        timings = measure("cpu", workers, [("cpu", factorial_fingerprint, items, 1, expected)], stdlib_modules,
                          repeat, errors, with_sequential=True)
        for (key, _), (label, seconds) in timings.items():
            if key == "sequential":
                sequential.extend(seconds)
            else:
                measured.append((key, label, workers, seconds))
    if not sequential:
        return []
    baseline = min(sequential)
    rows = [{"model": "sequential", "label": "sequential", "workers": 1, **common.summarize(sequential),
             "speedup": 1.0}]
    for key, label, workers, seconds in measured:
        summary = common.summarize(seconds)
        rows.append({"model": key, "label": label, "workers": workers, **summary,
                     "speedup": baseline / summary["best_s"]})
    return rows


def measure_tiny(chunksizes, scale, repeat, stdlib_modules, errors):
    cases = []
    for chunksize in chunksizes:
        tasks = TINY_TASKS.get(chunksize, min(TINY_TASKS_MAX, TINY_TASKS[1] * chunksize))
        count = max(1, int(tasks * scale))
        cases.append((f"chunksize {chunksize}", plus_one, list(range(count)), chunksize, list(range(1, count + 1))))
    timings = measure("tiny", TINY_WORKERS, cases, stdlib_modules, repeat, errors)
    rows = []
    for (key, case), (label, seconds) in timings.items():
        count = next(len(items) for name, _, items, _, _ in cases if name == case)
        summary = common.summarize(seconds)
        chunksize = next(size for name, _, _, size, _ in cases if name == case)
        rows.append({"model": key, "label": label, "case": case, "chunksize": chunksize, "tasks": count, **summary,
                     "tasks_per_s": count / summary["best_s"]})
    return rows


PICKLE_LABEL = "pickle only (dumps+loads both ways, no transport)"


def time_pickle_round_trips(items, repeat):
    """[seconds] of pickling each item there and back in this thread: what a process pool pays before any pipe."""
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        for item in items:
            pickle.loads(pickle.dumps(pickle.loads(pickle.dumps(item, 5)), 5))
        runs.append(time.perf_counter() - start)
    return runs


def measure_bytes(sizes, scale, repeat, stdlib_modules, errors):
    rows = []
    for size in sizes:
        count = max(1, int(min(4096, max(8, BYTES_PER_RUN // size)) * scale))
        payload = (bytes(range(256)) * (size // 256 + 1))[:size]
        items = [payload] * count
        timings = measure("bytes", TINY_WORKERS, [(size_label(size), echo, items, 1, items)], stdlib_modules,
                          repeat, errors)
        timings[("pickle", size_label(size))] = (PICKLE_LABEL, time_pickle_round_trips(items, repeat))
        for (key, case), (label, seconds) in timings.items():
            summary = common.summarize(seconds)
            rows.append({"model": key, "label": label, "case": case, "size_bytes": size, "tasks": count, **summary,
                         "tasks_per_s": count / summary["best_s"],
                         "mib_per_s_each_way": count * size / (1 << 20) / summary["best_s"]})
        items = payload = None  # the next size's run must not keep this one's payloads alive
    return rows


def evaluate_targets(cpu_rows, tiny_rows):
    cpu = {(row["model"], row["workers"]): row for row in cpu_rows}
    tiny = {(row["model"], row["case"]): row["tasks_per_s"] for row in tiny_rows}
    sequential = cpu.get(("sequential", 1))
    targets = []

    def target(name, ratio, threshold, spread=None):
        targets.append({"name": name, "ratio": ratio, "threshold": threshold,
                        "passed": None if ratio is None else ratio >= threshold, "spread": spread})

    for key, label in (("manycore_executor", "InterpreterPoolExecutor"), ("manycore_pool", "Pool")):
        mine = cpu.get((key, 2))
        processes = cpu.get(("process_pool", 2))
        against_processes = processes is not None and mine is not None
        target(f"cpu W=2: {label} speedup over sequential",
               sequential["best_s"] / mine["best_s"] if sequential and mine else None, TARGET_SPEEDUP)
        target(f"cpu W=2: ProcessPoolExecutor time / {label} time",
               processes["best_s"] / mine["best_s"] if against_processes else None, 1.0,
               common.run_spread(processes, mine) if against_processes else None)
        for case, threshold in (("chunksize 1", TARGET_TINY_CHUNK1), ("chunksize 256", TARGET_TINY_CHUNK256)):
            ours, theirs = tiny.get((key, case)), tiny.get(("process_pool", case))
            target(f"tiny {case}: {label} tasks/s / ProcessPoolExecutor's",
                   ours / theirs if ours and theirs else None, threshold)
    return targets


def print_report(report):
    print(f"bench pool: every model's map in this process; best of {report['repeat']} runs")
    print(common.describe_environment(report["environment"]))
    print(f"\n(a) cpu: {CPU_TASKS} tasks of {report['n']:,}! (plain Python loop), chunksize 1")
    print(common.format_table(
        ("model", "W", "wall s (best)", "wall s (median)", "speedup"),
        [(row["label"], row["workers"], f"{row['best_s']:.3f}", f"{row['median_s']:.3f}", f"{row['speedup']:.2f}x")
         for row in report["cpu"]]))
    print(f"\n(b) tiny tasks (x + 1) through map, W={TINY_WORKERS}")
    print(common.format_table(
        ("model", "case", "tasks", "tasks/s (best)", "wall s (best)"),
        [(row["label"], row["case"], f"{row['tasks']:,}", f"{row['tasks_per_s']:,.0f}", f"{row['best_s']:.3f}")
         for row in report["tiny"]]))
    sizes = ", ".join(dict.fromkeys(row["case"] for row in report["bytes"])) or "no"
    print(f"\n(c) {sizes} bytes argument and result (echo), W={TINY_WORKERS}, chunksize 1")
    print(common.format_table(
        ("model", "size", "tasks", "tasks/s (best)", "MiB/s each way"),
        [(row["label"], row["case"], row["tasks"], f"{row['tasks_per_s']:,.1f}", f"{row['mib_per_s_each_way']:,.0f}")
         for row in report["bytes"]]))
    if report["stdlib_pool_unavailable"]:
        print(f"\nstdlib interpreter pool: not measured: {report['stdlib_pool_unavailable']}")
    for error in report["errors"]:
        kind = "not measured (informational model)" if error["informational"] else "ERROR"
        print(f"\n{kind}: {error['workload']}: {error['model']} at W={error['workers']}: {error['error']}")
    common.print_targets(report["targets"], 58)


def run(args):
    stdlib_modules, stdlib_unavailable = stdlib_pool_modules()
    report = {"benchmark": "pool", "n": args.n, "workers": args.workers, "repeat": args.repeat,
              "environment": common.environment(), "stdlib_pool_unavailable": stdlib_unavailable}
    errors = []
    report["cpu"] = measure_cpu(args.n, args.workers, args.repeat, stdlib_modules, errors)
    report["tiny"] = measure_tiny(args.chunksizes, args.scale, args.repeat, stdlib_modules, errors)
    report["bytes"] = measure_bytes(args.sizes, args.scale, args.repeat, stdlib_modules, errors)
    report["errors"] = errors
    report["targets"] = evaluate_targets(report["cpu"], report["tiny"])
    if args.json:
        common.print_json(report)
    else:
        print_report(report)
    return 1 if any(not error["informational"] for error in errors) else 0
