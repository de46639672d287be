"""python/manycore/_bench/data.py: `python -m manycore bench data`, moving values between interpreters vs pickle and processes.

Every case goes through every path in this one process, one path after the other
(best of --repeat runs; a path that takes under 1 ms is timed as the mean of a loop of
about 20 ms, as timeit does, best of at least 7, and for a value whose one way takes
under 1 ms, one way, round trip and pickle take turns run by run, so that the
machine's drift weighs on all three alike). The paths users would pick instead of manycore (pickle, the
floor, the process pool, the stdlib queue, the sequential run) run with manycore's
arena cache emptied and off (``common.stock_allocator``), as they would in a process
without manycore:

- manycore one way: ``Interpreter.call(size_of, value)``: encoded here, decoded in the
  interpreter (the result is one int);
- manycore round trip: ``Interpreter.call(echo, value)``: there and back;
- pickle: ``pickle.loads(pickle.dumps(value, 5))`` in this process (what any
  process-based transfer pays at least);
- floor: building the same objects with no transfer: ``array.tolist()`` for the
  numeric lists, one fresh copy (``bytes(memoryview)``) for the bytes; once with
  CPython's own arena allocation and once on the arenas manycore's cache keeps
  (src/core/arena_cache.h);
- ProcessPoolExecutor round trip (forkserver, one warmed-up worker): ``submit(echo,
  value).result()``;
- stdlib queue: the stdlib's low-level interpreter queue (3.13 ``_interpqueues``, 3.12
  ``_xxinterpchannels``) put and get, where it can carry the value (it carries no list);
- peak RSS: the highest extra resident memory of this process during one more manycore
  round trip after the timed ones (the interpreter lives in this process), from a
  baseline taken once freed memory was given back, reset through /proc/self/clear_refs.

Cases: 1M ints, 1M floats, 100k short str, a dict of 100k str -> int, 100k records
(dicts of 5 fields: int, str, float, tuple, bool), a 20-level DAG whose two children
are the same list, 64 MiB of bytes; then ten Pool tasks that each return a 1M-int list
(manycore.Pool vs ProcessPoolExecutor vs sequential, with the peak RSS of the process
tree), and the identity cases (the DAG and a self-containing dict); what identity
tracking costs the acyclic case (``_core.roundtrip`` with tracking on and off); and a
streaming map over 100 MB of log chunks (time to the first result and to the end:
``InterpreterPoolExecutor.map`` with and without ``buffersize``, ``Pool.imap``).
"""

import argparse
import array
import contextlib
import concurrent.futures
import multiprocessing
import pickle
import sys
import time

import manycore

from . import common
from ._workloads import count_lines, echo, int_list, size_of, warm_up

SUMMARY = "data: values to an interpreter and back vs pickle, a process pool and the stdlib queues, with peak RSS"
POOL_TASKS = 10
POOL_WORKERS = 2
# Issue 9 targets, ratios from one run.
TARGET_VS_PICKLE = 1.0          # one way faster than pickle dumps+loads
TARGET_FLOOR = 1.3              # numeric lists one way within 1.3x of the floor
TARGET_VS_PROCESS_ROUND = 2.0   # round trip >= 2x faster than ProcessPoolExecutor's
TARGET_BYTES_COPY = 1.5         # 64 MiB one way <= 1.5x one fresh copy
TARGET_POOL = 1.5               # ten big results >= 1.5x faster than ProcessPoolExecutor
TARGET_IDENTITY_MS = 1.0        # DAG and self-containing dict round trips under 1 ms


def add_arguments(parser):
    common.add_common_arguments(parser, repeat=5)
    # Hidden: tests shrink every case so the command runs in a second or two.
    parser.add_argument("--scale", type=float, default=1.0, help=argparse.SUPPRESS)


# ---- cases -----------------------------------------------------------------------------


def _records(n):
    return [{"id": i, "name": f"user{i}", "score": i * 0.25, "tags": (i % 7, "tag"), "active": i % 2 == 0}
            for i in range(n)]


def _dag(levels):
    node = [0]
    for _ in range(levels):
        node = [node, node]
    return node


def cases(scale):
    """(key, label, make value, floor function or None)."""
    million, hundred_k = max(1, int(1_000_000 * scale)), max(1, int(100_000 * scale))
    ints = array.array("q", range(million))
    floats = array.array("d", (i * 0.5 for i in range(million)))
    big = max(1, int((64 << 20) * scale))
    return [
        ("ints", f"{million:,} ints", ints.tolist, ints.tolist),
        ("floats", f"{million:,} floats", floats.tolist, floats.tolist),
        ("strs", f"{hundred_k:,} short str", lambda: [f"item-{i}" for i in range(hundred_k)], None),
        ("dict", f"dict of {hundred_k:,} str->int", lambda: {f"key{i}": i for i in range(hundred_k)}, None),
        ("records", f"{hundred_k:,} records (5 fields)", lambda: _records(hundred_k), None),
        ("dag", "20-level DAG, shared children", lambda: _dag(20), None),
        ("bytes", f"{big / (1 << 20):.0f} MiB bytes", lambda: b"\x5a" * big, "copy"),
    ]


# ---- measurement -------------------------------------------------------------------------


# A value that takes under this long is timed in loops (timeit's way): one call of a
# few microseconds is below the clock's noise, and it would time the wake-up of an
# idle worker thread rather than the transfer.
_LOOP_BELOW_S = 1e-3
_LOOP_FOR_S = 0.02


def _loops(function):
    """How many calls one timed run of `function` makes: 1, or about 20 ms' worth for a fast one."""
    once = 1.0
    for _ in range(2):  # the first call may be a cold one (an import, a worker's first job)
        start = time.perf_counter()
        function()
        once = min(once, time.perf_counter() - start)
    if once >= _LOOP_BELOW_S:
        return 1
    start = time.perf_counter()
    for _ in range(10):  # the first call may have woken a parked worker: time ten more
        function()
    once = (time.perf_counter() - start) / 10
    return max(1, min(100_000, int(_LOOP_FOR_S / max(once, 1e-7))))


def _timed_run(function, loops):
    start = time.perf_counter()
    for _ in range(loops):
        function()
    return (time.perf_counter() - start) / loops


def _best(function, repeat):
    """Best, median and every run of `function`: each run the mean of a loop of calls for fast ones."""
    loops = _loops(function)
    if loops > 1:
        repeat = max(repeat, 7)  # a few more runs of 20 ms: the clock's noise is in the microseconds
    timing = common.summarize([_timed_run(function, loops) for _ in range(repeat)])
    timing["loops"] = loops
    return timing


def _best_taking_turns(paths, repeat):
    """{name: timing} for {name: (function, context)}: as _best, but the paths take turns run by run.

    For values that cross in microseconds: this machine's speed drifts by a third from
    one second to the next (a shared VM), and paths timed one after the other would
    compare different machines. `context` wraps each of the path's runs.
    """
    loops = {name: _loops(function) for name, (function, _) in paths.items()}
    seconds = {name: [] for name in paths}
    for _ in range(max(repeat, 7)):
        for name, (function, context) in paths.items():
            with context():
                seconds[name].append(_timed_run(function, loops[name]))
    return {name: {**common.summarize(runs), "loops": loops[name]} for name, runs in seconds.items()}



def _reset_peak(pid="self"):
    """Resets VmHWM (peak RSS) of a process to its current RSS; False where Linux cannot."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


def _settle_memory():
    """Gives freed memory of this process back before a baseline RSS is read.

    Without it, memory an earlier path freed but kept resident (glibc's heap, manycore's
    arena cache) is counted in the baseline, and whatever path runs next looks that
    much leaner: the cache is emptied (its limit set to 0 and back) and glibc trimmed.
    """
    import gc
    from manycore import _core
    gc.collect()
    limit = _core.arena_cache_info()["limit_bytes"]
    _core.set_arena_cache_limit(0)
    _core.set_arena_cache_limit(limit)
    try:
        import ctypes
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim
        pass


def _peak_extra_mib(before_kib, pid="self"):
    peak = common.read_status_kib(pid, "VmHWM")
    return None if peak is None or before_kib is None else max(0.0, (peak - before_kib) / 1024)


class StdlibQueue:
    """The stdlib's low-level interpreter queue (3.13) or channel (3.12), put and get here."""

    def __init__(self):
        self.unavailable = None
        try:
            if sys.version_info >= (3, 13):
                import _interpqueues as queues
                self._id = queues.create(0, 0, 1)
                self._put = lambda value: queues.put(self._id, value, 0, 1)
                self._get = lambda: queues.get(self._id)[0]
                self._destroy = lambda: queues.destroy(self._id)
            else:
                import _xxinterpchannels as channels
                self._id = channels.create()
                self._put = lambda value: channels.send(self._id, value)
                self._get = lambda: channels.recv(self._id)
                self._destroy = lambda: channels.destroy(self._id)
        except (ImportError, AttributeError, TypeError) as error:
            self.unavailable = f"the stdlib queue module does not work here: {error}"

    def carry(self, value):
        self._put(value)
        return self._get()

    def close(self):
        if self.unavailable is None:
            self._destroy()


def measure_case(key, label, make, floor, repeat, interp, process_pool, stdlib_queue):
    value = make()
    row = {"case": key, "label": label}
    row["one_way"] = _best(lambda: interp.call(size_of, value), repeat)
    back = interp.call(echo, value)
    if back != value and key != "dag":
        raise RuntimeError(f"manycore round trip changed the {label}")
    del back
    row["round_trip"] = _best(lambda: interp.call(echo, value), repeat)
    # The peak RSS of one more round trip, from a settled baseline, timed apart: giving
    # memory back (malloc_trim) slows the runs after it for a while (measured: the dict
    # case's round trips 25-27 ms without it, 25-42 ms after it).
    _settle_memory()
    rss_before = common.read_status_kib("self", "VmRSS")
    row["peak_rss_measured"] = _reset_peak()
    interp.call(echo, value)
    row["peak_rss_mib"] = _peak_extra_mib(rss_before) if row["peak_rss_measured"] else None
    if floor == "copy":
        view = memoryview(value)
        floor = lambda: bytes(view)  # noqa: E731 - one fresh copy
    if floor is not None:
        row["floor_cached"] = _best(floor, repeat)
    with common.stock_allocator():
        row["pickle"] = _best(lambda: pickle.loads(pickle.dumps(value, 5)), repeat)
        if floor is not None:
            row["floor"] = _best(floor, repeat)
        if process_pool is not None:
            row["process_round_trip"] = _best(lambda: process_pool.submit(echo, value).result(), repeat)
        if stdlib_queue.unavailable is None:
            try:
                stdlib_queue.carry(value)
                row["stdlib_queue"] = _best(lambda: stdlib_queue.carry(value), repeat)
            except (TypeError, ValueError) as error:
                row["stdlib_queue_unavailable"] = f"n/a (cannot carry it: {type(error).__name__})"
    if row["one_way"]["loops"] > 1:  # microseconds: time the three side by side instead
        row.update(_best_taking_turns({
            "one_way": (lambda: interp.call(size_of, value), contextlib.nullcontext),
            "round_trip": (lambda: interp.call(echo, value), contextlib.nullcontext),
            "pickle": (lambda: pickle.loads(pickle.dumps(value, 5)), common.stock_allocator),
        }, repeat))
    return row


def measure_identity(interp, repeat):
    """The DAG and a self-containing dict, round trip; identity checked."""
    dag = _dag(20)
    looped = {"name": "loop"}
    looped["self"] = looped["again"] = looped
    back = interp.call(echo, dag)
    kept_dag = all(back[0] is back[1] for back in [back])
    back = interp.call(echo, looped)
    kept_loop = back["self"] is back and back["again"] is back
    return [
        {"case": "dag", "label": "20-level DAG", "identity_kept": kept_dag,
         "round_trip": _best(lambda: interp.call(echo, dag), repeat)},
        {"case": "self_dict", "label": "dict holding itself twice", "identity_kept": kept_loop,
         "round_trip": _best(lambda: interp.call(echo, looped), repeat)},
    ]


def measure_pool(scale, repeat, errors):
    """Ten tasks that each return a 1M-int list: manycore.Pool, ProcessPoolExecutor, sequential."""
    n = max(1, int(1_000_000 * scale))
    rows = []
    sizes = [n] * POOL_TASKS
    expected = n * (n - 1) // 2 * POOL_TASKS

    def check(results):
        if sum(sum(result) for result in results) != expected:
            raise RuntimeError("wrong pool results")

    with common.stock_allocator():
        timing = _best(lambda: [int_list(size) for size in sizes], repeat)
    rows.append({"model": "sequential", "label": "sequential", **timing, "peak_rss_mib": None})
    with manycore.Pool(POOL_WORKERS) as pool:
        pool.map(warm_up, [0.0] * POOL_WORKERS)
        _settle_memory()
        rss_before = common.read_status_kib("self", "VmRSS")
        measured = _reset_peak()
        timing = _best(lambda: check(pool.map(int_list, sizes, chunksize=1)), repeat)
        rows.append({"model": "manycore_pool", "label": "manycore Pool", **timing,
                     "peak_rss_mib": _peak_extra_mib(rss_before) if measured else None})
    try:
        context = multiprocessing.get_context("forkserver")
        with concurrent.futures.ProcessPoolExecutor(POOL_WORKERS, mp_context=context) as executor:
            pids = set(executor.map(warm_up, [0.2] * POOL_WORKERS))
            _settle_memory()
            before = {pid: common.read_status_kib(pid, "VmRSS") for pid in pids}
            before["self"] = common.read_status_kib("self", "VmRSS")
            measured = all(_reset_peak(pid) for pid in before)
            with common.stock_allocator():
                timing = _best(lambda: check(list(executor.map(int_list, sizes))), repeat)
            peaks = [_peak_extra_mib(kib, pid) for pid, kib in before.items()] if measured else [None]
            rows.append({"model": "process_pool", "label": "ProcessPoolExecutor (forkserver)", **timing,
                         "peak_rss_mib": None if None in peaks else sum(peaks)})
    except Exception as error:  # noqa: BLE001 - reported, the other models still count
        errors.append({"model": "process_pool", "error": repr(error)})
    return rows


def measure_tracking(scale, repeat):
    """_core.roundtrip (encode + decode, no thread hop) with identity tracking on and off."""
    from manycore import _core
    rows = []
    values = [("ints", list(range(max(1, int(1_000_000 * scale))))),
              ("records", _records(max(1, int(100_000 * scale)))),
              ("strs", [f"item-{i}" for i in range(max(1, int(100_000 * scale)))])]
    for key, value in values:
        runs = {True: [], False: []}
        try:
            for _ in range(max(repeat, 9)):  # alternating, so both see the same machine load
                for setting in (True, False):
                    _core._set_identity_tracking(setting)
                    start = time.perf_counter()
                    _core.roundtrip(value)
                    runs[setting].append(time.perf_counter() - start)
        finally:
            _core._set_identity_tracking(True)
        rows.append({"case": key, "on": common.summarize(runs[True]), "off": common.summarize(runs[False])})
    return rows


def measure_streaming(scale, repeat):
    """First result and whole map over ~100 MB of log chunks (each ~100 kB of text)."""
    line = "2026-12-02T04:00:00Z INFO request handled in 3 ms path=/api/items status=200\n"
    chunk = line * max(1, 100_000 // len(line))
    chunks = [f"{i}\n{chunk}" for i in range(max(2, int(1000 * scale)))]  # distinct objects, as read from a file
    expected = (chunk.count("\n") + 1) * len(chunks)
    rows = []

    def run(label, start_map):
        best_first, best_total = None, None
        for _ in range(repeat):
            start = time.perf_counter()
            results = start_map()
            total = next(results)
            first = time.perf_counter() - start
            total += sum(results)
            elapsed = time.perf_counter() - start
            if total != expected:
                raise RuntimeError(f"{label}: wrong result")
            best_first = first if best_first is None else min(best_first, first)
            best_total = elapsed if best_total is None else min(best_total, elapsed)
        rows.append({"label": label, "first_s": best_first, "total_s": best_total})

    with manycore.InterpreterPoolExecutor(POOL_WORKERS) as executor:
        list(executor.map(warm_up, [0.0] * POOL_WORKERS))
        run("InterpreterPoolExecutor.map", lambda: executor.map(count_lines, chunks))
        run("InterpreterPoolExecutor.map(buffersize=8)", lambda: executor.map(count_lines, chunks, buffersize=8))
    with manycore.Pool(POOL_WORKERS) as pool:
        pool.map(warm_up, [0.0] * POOL_WORKERS)
        run("Pool.imap", lambda: pool.imap(count_lines, chunks))
    return rows


def _ratio(ours, theirs):
    return None if ours is None or theirs is None else theirs / ours


def evaluate_targets(rows, pool_rows, identity_rows, tracking_rows=(), streaming_rows=()):
    targets = []

    def target(name, ratio, threshold):
        targets.append({"name": name, "ratio": ratio, "threshold": threshold,
                        "passed": None if ratio is None else ratio >= threshold})

    for row in rows:
        one_way = row["one_way"]["best_s"]
        target(f"{row['case']}: one way vs pickle dumps+loads", _ratio(one_way, row["pickle"]["best_s"]),
               TARGET_VS_PICKLE)
        if "process_round_trip" in row:
            target(f"{row['case']}: round trip vs ProcessPoolExecutor's",
                   _ratio(row["round_trip"]["best_s"], row["process_round_trip"]["best_s"]), TARGET_VS_PROCESS_ROUND)
        if "floor" in row:
            # "within X of the floor": floor * X / ours >= 1.
            limit = TARGET_BYTES_COPY if row["case"] == "bytes" else TARGET_FLOOR
            target(f"{row['case']}: one way within {limit}x of the floor",
                   row["floor"]["best_s"] * limit / one_way, 1.0)
    by_model = {row["model"]: row for row in pool_rows}
    ours, theirs = by_model.get("manycore_pool"), by_model.get("process_pool")
    if ours and theirs:
        target("ten 1M-int results: Pool vs ProcessPoolExecutor", _ratio(ours["best_s"], theirs["best_s"]),
               TARGET_POOL)
        if ours["peak_rss_mib"] is not None and theirs["peak_rss_mib"] is not None:
            target("ten 1M-int results: process tree peak RSS / manycore's",
                   _ratio(ours["peak_rss_mib"], theirs["peak_rss_mib"]), 1.0)
    for row in identity_rows:
        ratio = TARGET_IDENTITY_MS / (1000 * row["round_trip"]["best_s"]) if row["identity_kept"] else 0.0
        target(f"{row['case']}: round trip under {TARGET_IDENTITY_MS:g} ms with identity kept", ratio, 1.0)
    for row in tracking_rows:
        # "not slower because of the memo": off / on, within 5% (noise on a shared machine).
        target(f"{row['case']}: identity tracking on vs off (acyclic)", _ratio(row["on"]["best_s"], row["off"]["best_s"]),
               0.95)
    by_label = {row["label"]: row for row in streaming_rows}
    lazy, imap = by_label.get("InterpreterPoolExecutor.map(buffersize=8)"), by_label.get("Pool.imap")
    if lazy and imap:
        target("streaming: first result, map(buffersize) vs Pool.imap", _ratio(lazy["first_s"], imap["first_s"]), 1.0)
    return targets


def _ms(timing):
    if timing is None:
        return ""
    ms = 1000 * timing["best_s"]
    return f"{ms:.1f}" if ms >= 1 else f"{ms:.4f}"  # the DAG takes microseconds


def print_report(report):
    print(f"bench data: every path in this process; best of {report['repeat']} runs, milliseconds")
    print(common.describe_environment(report["environment"]))
    print("\n(a) one value, main interpreter -> interpreter (and back)")
    table = []
    for row in report["cases"]:
        stdlib = _ms(row.get("stdlib_queue")) or row.get("stdlib_queue_unavailable", "not measured")
        table.append((row["label"], _ms(row["one_way"]), _ms(row["round_trip"]), _ms(row["pickle"]),
                      _ms(row.get("floor")) or "-", _ms(row.get("floor_cached")) or "-",
                      _ms(row.get("process_round_trip")) or "not measured", stdlib,
                      common.format_mib(row["peak_rss_mib"])))
    print(common.format_table(
        ("case", "manycore one way", "manycore round trip", "pickle dumps+loads", "floor", "floor, cached arenas",
         "ProcessPool round trip", "stdlib queue", "peak RSS (round trip)"), table))
    print(f"\n(b) {POOL_TASKS} Pool tasks that each return a 1M-int list, W={POOL_WORKERS}")
    print(common.format_table(
        ("model", "wall s (best)", "wall s (median)", "peak RSS of the tree"),
        [(row["label"], f"{row['best_s']:.3f}", f"{row['median_s']:.3f}", common.format_mib(row["peak_rss_mib"]))
         for row in report["pool"]]))
    print("\n(c) identity: round trips that keep shared references and cycles")
    print(common.format_table(
        ("case", "round trip ms (best)", "identity kept"),
        [(row["label"], f"{1000 * row['round_trip']['best_s']:.3f}", "yes" if row["identity_kept"] else "NO")
         for row in report["identity"]]))
    print("\n(d) what identity tracking costs the acyclic case: _core.roundtrip (encode + decode here)")
    print(common.format_table(
        ("case", "tracking on ms", "tracking off ms", "on / off"),
        [(row["case"], _ms(row["on"]), _ms(row["off"]), f"{row['on']['best_s'] / row['off']['best_s']:.2f}x")
         for row in report["tracking"]]))
    print(f"\n(e) streaming map over ~100 MB of log chunks, W={POOL_WORKERS}")
    print(common.format_table(
        ("how", "first result s", "whole map s"),
        [(row["label"], f"{row['first_s']:.3f}", f"{row['total_s']:.3f}") for row in report["streaming"]]))
    for error in report["errors"]:
        print(f"\nERROR: {error['model']}: {error['error']}")
    common.print_targets(report["targets"], 58)


def run(args):
    report = {"benchmark": "data", "repeat": args.repeat, "scale": args.scale, "environment": common.environment()}
    errors = []
    interp = manycore.create()
    stdlib_queue = StdlibQueue()
    process_pool = None
    try:
        try:
            process_pool = concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("forkserver"))
            process_pool.submit(warm_up, 0.0).result()
        except Exception as error:  # noqa: BLE001 - reported; the other paths still count
            errors.append({"model": "process_pool", "error": repr(error)})
            process_pool = None
        interp.call(size_of, 0)  # imports the workload module there: not part of any timing
        interp.call(echo, 0)
        report["cases"] = [measure_case(*case, args.repeat, interp, process_pool, stdlib_queue)
                           for case in cases(args.scale)]
        report["identity"] = measure_identity(interp, args.repeat)
    finally:
        if process_pool is not None:
            process_pool.shutdown()
        stdlib_queue.close()
        interp.close()
    report["pool"] = measure_pool(args.scale, args.repeat, errors)
    report["tracking"] = measure_tracking(args.scale, args.repeat)
    report["streaming"] = measure_streaming(args.scale, args.repeat)
    report["errors"] = errors
    report["targets"] = evaluate_targets(report["cases"], report["pool"], report["identity"], report["tracking"],
                                         report["streaming"])
    if args.json:
        common.print_json(report)
    else:
        print_report(report)
    return 1 if errors else 0
