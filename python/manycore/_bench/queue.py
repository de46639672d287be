"""python/manycore/_bench/queue.py: `bench queue`: moving objects between the main side and a peer, every transport.

The peer runs ``_queue_peers.serve`` (the same code everywhere) and the main side
measures, for each transport:

- round-trip latency: put one small item, wait until the peer has returned it
  (``int``, 100-byte ``bytes``, a small tuple); the mean over many round trips;
- messages per second: a one-way stream of small items until the peer confirms
  it counted them all;
- bandwidth: 1 MiB and 64 MiB ``bytes`` items streamed one way, in MiB/s.

Transports: manycore.Queue between the main interpreter and a manycore interpreter;
``multiprocessing.Queue`` and ``multiprocessing.Pipe`` to a spawned process (spawn,
because forking a process that runs interpreter threads is unsafe); ``queue.Queue``
to a thread (one GIL, so a baseline rather than a rival); and the stdlib's private
interpreter queues where they import: ``test.support.interpreters.queues`` on 3.13,
the 3.12 ``test.support.interpreters`` channels (``send`` sleeps 2 s there, so the
peer uses ``send_nowait``). Both stdlib versions wait by polling every 10 ms.

Each figure is the best of --repeat runs. The targets (manycore round trip
at least 3x faster than multiprocessing.Queue and 50x faster than the stdlib's
polling queues) are printed as PASS/FAIL, computed from this run's numbers.
"""

import argparse
import inspect
import multiprocessing
import queue as stdlib_queue
import sys
import threading
import time

import manycore

from . import _queue_peers, common

SUMMARY = "queue round trips, messages/s and bandwidth: manycore vs multiprocessing, threads, stdlib interpreters"
SMALL_ITEMS = {"int": 12345, "bytes100": b"x" * 100, "tuple": (1, "two", 3.0)}
LARGE_ITEMS = {"1MiB": 1 << 20, "64MiB": 64 << 20}
LARGE_COUNTS = {"1MiB": 64, "64MiB": 4}
# A polling transport needs ~10-20 ms per blocking hand-off: fewer round trips.
POLLING_ROUND_TRIPS = 15
TARGET_VS_MP_QUEUE = 3.0
TARGET_VS_STDLIB_POLLING = 50.0


def add_arguments(parser):
    common.add_common_arguments(parser, repeat=3)
    parser.add_argument("--round-trips", type=common.positive_int, default=5000, metavar="N",
                        help="round trips per latency measurement (default 5000; polling transports use "
                             f"{POLLING_ROUND_TRIPS})")
    parser.add_argument("--messages", type=common.positive_int, default=20000, metavar="N",
                        help="items per messages/s measurement (default 20000)")
    # Hidden: tests skip the large items, which take most of the time.
    parser.add_argument("--no-large", action="store_true", help=argparse.SUPPRESS)


class Unavailable(Exception):
    """The transport cannot run in this Python (the reason is reported)."""


class Unshareable(Exception):
    """The transport cannot carry this item (e.g. a tuple through 3.12 stdlib channels)."""


PEER_FAILED = "peer failed: "  # a str: every transport can carry it


def watch_peer(wait_for_end, report_failure):
    """Runs wait_for_end() in a daemon thread; if it returns a reason, report_failure(reason).

    The main side blocks in get() without a timeout (a timeout would slow some
    transports down); a peer that dies sends it (PEER_FAILED, reason) instead of
    leaving it waiting forever.
    """

    def watch():
        reason = wait_for_end()
        if reason is not None:
            report_failure(PEER_FAILED + reason)

    threading.Thread(target=watch, daemon=True).start()


def failure_of(call):
    """Runs call(); returns None, or the repr of what it raised."""
    try:
        call()
    except BaseException as error:  # noqa: BLE001 - reported to the main side
        return repr(error)
    return None


# ---- transports: start(), put(item), get(), close() -------------------------------------

class ManycoreQueue:
    key, label, polling = "manycore", "manycore.Queue (interpreter)", False

    def start(self):
        self.interp = manycore.create()
        self.inbox, self.outbox = manycore.Queue(), manycore.Queue()
        self.handle = self.interp.call_in_thread(_queue_peers.serve_queues, self.inbox, self.outbox)
        watch_peer(lambda: failure_of(self.handle.result), self.outbox.put)
        self.put, self.get = self.inbox.put, self.outbox.get

    def close(self):
        self.put("exit")
        self.handle.join(30)
        self.interp.close()


class _InThread:
    """A peer run by a thread of this process (plain, or entering a stdlib interpreter)."""

    def _run_peer(self, target, *args, report_failure, **kwargs):
        self.thread = threading.Thread(target=target, args=args, kwargs=kwargs)
        self.thread.start()
        watch_peer(lambda: self.thread.join() or self.failure, report_failure)

    failure = None

    def _failing_to(self, target, interp=None):
        """target, recording what it raised; then closes interp from this same thread.

        3.12.1 hangs destroying an interpreter from another thread than the one that
        ran it (measured with test.support.interpreters), so the peer thread does it.
        """

        def run(*args, **kwargs):
            self.failure = failure_of(lambda: target(*args, **kwargs))
            if interp is not None:
                interp.close()

        return run

    def close(self):
        self.put("exit")
        self.thread.join(30)


class ThreadQueue(_InThread):
    key, label, polling = "threads", "queue.Queue (thread)", False

    def start(self):
        self.inbox, self.outbox = stdlib_queue.Queue(), stdlib_queue.Queue()
        self._run_peer(self._failing_to(_queue_peers.serve_queues), self.inbox, self.outbox,
                       report_failure=self.outbox.put)
        self.put, self.get = self.inbox.put, self.outbox.get


class _SpawnedProcess:
    polling = False

    def _spawn(self, target, args, report_failure):
        self.process = multiprocessing.get_context("spawn").Process(target=target, args=args)
        self.process.start()
        watch_peer(lambda: self.process.join() or (None if self.process.exitcode == 0 else
                                                    f"exit code {self.process.exitcode}"), report_failure)

    def close(self):
        self.put("exit")
        self.process.join(30)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


class MultiprocessingQueue(_SpawnedProcess):
    key, label = "mp_queue", "multiprocessing.Queue (process)"

    def close(self):
        super().close()
        for queue in (self.inbox, self.outbox):
            queue.close()
            queue.join_thread()
        # Their semaphores are released when the queues are gone, not at close().
        del self.inbox, self.outbox, self.put, self.get

    def start(self):
        context = multiprocessing.get_context("spawn")
        self.inbox, self.outbox = context.Queue(), context.Queue()
        self._spawn(_queue_peers.serve_queues, (self.inbox, self.outbox), self.outbox.put)
        self.put, self.get = self.inbox.put, self.outbox.get


class MultiprocessingPipe(_SpawnedProcess):
    key, label = "mp_pipe", "multiprocessing.Pipe (process)"

    def start(self):
        self.connection, child_end = multiprocessing.get_context("spawn").Pipe()
        # A dead child closes its end: recv() then raises EOFError instead of waiting.
        self._spawn(_queue_peers.serve_connection, (child_end,), lambda failure: None)
        child_end.close()
        self.put, self.get = self.connection.send, self.connection.recv


def _peer_source(call):
    return inspect.getsource(_queue_peers) + "\n" + call + "\n"


class StdlibQueues313(_InThread):
    key, label, polling = "stdlib", "stdlib interpreters queues (3.13, polling)", True

    def start(self):
        try:
            from test.support import interpreters
            from test.support.interpreters import queues
        except ImportError as error:
            raise Unavailable(f"test.support.interpreters.queues does not import: {error}") from None
        self.interp = interpreters.create()
        self.inbox, self.outbox = queues.create(), queues.create()
        # Queues can only be received where the queues module is imported (3.13).
        self.interp.exec("from test.support.interpreters import queues")
        self.interp.prepare_main(inbox=self.inbox, outbox=self.outbox)
        source = _peer_source("serve(inbox.get, outbox.put)")
        self._run_peer(self._failing_to(self.interp.exec, self.interp), source, report_failure=self.outbox.put)
        self.put, self.get = self.inbox.put, self.outbox.get


class StdlibChannels312(_InThread):
    key, label, polling = "stdlib", "stdlib interpreters channels (3.12, polling)", True

    def start(self):
        try:
            from test.support import interpreters
            interpreters.create_channel  # noqa: B018 - present on 3.12 only
        except (ImportError, AttributeError) as error:
            raise Unavailable(f"test.support.interpreters channels are not available: {error}") from None
        self.interp = interpreters.create()
        in_recv, in_send = interpreters.create_channel()
        out_recv, out_send = interpreters.create_channel()
        # Only the low-level channel ids cross (3.12); the peer wraps them again.
        source = _peer_source(
            "from test.support import interpreters\n"
            "serve(interpreters.RecvChannel(in_id).recv, interpreters.SendChannel(out_id).send_nowait)"
        )
        self._run_peer(self._failing_to(self.interp.run, self.interp), source, channels={"in_id": in_recv.id, "out_id": out_send.id},
                       report_failure=out_send.send_nowait)
        self.put, self.get = in_send.send_nowait, out_recv.recv


def transports():
    stdlib = StdlibQueues313 if sys.version_info >= (3, 13) else StdlibChannels312
    return [ManycoreQueue(), MultiprocessingQueue(), MultiprocessingPipe(), ThreadQueue(), stdlib()]


# ---- measurements ---------------------------------------------------------------------

def checked_get(transport):
    item = transport.get()
    if type(item) is str and item.startswith(PEER_FAILED):
        raise RuntimeError(f"{transport.label}: {item}")
    return item


def start_phase(transport, phase, item):
    """Starts a phase with item's first put; Unshareable (the phase ended) if it cannot be sent."""
    transport.put(phase)
    try:
        transport.put(item)
    except Exception as error:  # noqa: BLE001 - the transport's own "cannot share this" error
        transport.put(None)
        if phase == "sink":
            checked_get(transport)  # the "0 0" count
        raise Unshareable(f"n/a ({type(error).__name__})") from error


def round_trip_seconds(transport, item, count):
    """Mean seconds per round trip of item (after a short warm-up)."""
    start_phase(transport, "echo", item)
    checked_get(transport)
    put, get = transport.put, transport.get
    for _ in range(min(count, 50)):
        put(item)
        get()
    start = time.perf_counter()
    for _ in range(count):
        put(item)
        if (returned := get()) != item:
            raise RuntimeError(f"{transport.label} returned {returned!r:.200} instead of {item!r:.200}")
    elapsed = time.perf_counter() - start
    put(None)
    return elapsed / count


def stream_seconds(transport, item, count):
    """Seconds from the first put of count items until the peer confirms it got them all."""
    start = time.perf_counter()
    start_phase(transport, "sink", item)
    put = transport.put
    for _ in range(count - 1):
        put(item)
    put(None)
    counted = checked_get(transport)
    elapsed = time.perf_counter() - start
    expected = f"{count} {count * len(item) if type(item) is bytes else 0}"
    if counted != expected:
        raise RuntimeError(f"{transport.label}: the peer counted {counted} (items, bytes), expected {expected}")
    return elapsed


def best(measure, repeat):
    return min(measure() for _ in range(repeat))


def measure_transport(transport, args):
    """{"round_trip_us": {...}, "messages_per_s": {...}, "mib_per_s": {...}} or {"unavailable": reason}."""
    try:
        transport.start()
    except Unavailable as error:
        return {"unavailable": str(error)}
    results = {"round_trip_us": {}, "messages_per_s": {}, "mib_per_s": {}}
    try:
        round_trips = POLLING_ROUND_TRIPS if transport.polling else args.round_trips
        for name, item in SMALL_ITEMS.items():
            try:
                seconds = best(lambda: round_trip_seconds(transport, item, round_trips), args.repeat)
                results["round_trip_us"][name] = seconds * 1e6
                seconds = best(lambda: stream_seconds(transport, item, args.messages), args.repeat)
                results["messages_per_s"][name] = args.messages / seconds
            except Unshareable as error:
                results["round_trip_us"][name] = results["messages_per_s"][name] = str(error)
        if not args.no_large:
            for name, size in LARGE_ITEMS.items():
                item, count = b"\x5a" * size, LARGE_COUNTS[name]
                seconds = best(lambda: stream_seconds(transport, item, count), args.repeat)
                results["mib_per_s"][name] = count * size / (1 << 20) / seconds
                del item
    finally:
        transport.close()
    return results


def evaluate_targets(results):
    """PASS/FAIL lines for the issue's round-trip targets, per small item."""
    lines = []
    ours = results.get("manycore", {}).get("round_trip_us", {})
    for rival, factor in (("mp_queue", TARGET_VS_MP_QUEUE), ("stdlib", TARGET_VS_STDLIB_POLLING)):
        theirs = results.get(rival, {}).get("round_trip_us")
        if not theirs:
            lines.append({"target": f"round trip >= {factor:g}x faster than {rival}", "status": "SKIPPED",
                          "detail": results.get(rival, {}).get("unavailable", "not measured")})
            continue
        for name in SMALL_ITEMS:
            if not isinstance(ours.get(name), float) or not isinstance(theirs.get(name), float):
                continue
            speedup = theirs[name] / ours[name]
            lines.append({"target": f"round trip ({name}) >= {factor:g}x faster than {rival}",
                          "status": "PASS" if speedup >= factor else "FAIL", "detail": f"{speedup:.1f}x"})
    return lines


def _cell(value, fmt):
    return value if isinstance(value, str) else fmt.format(value)


def print_report(report):
    print(f"bench queue: {common.describe_environment(report['environment'])}")
    measured = [(t, r) for t, r in report["transports"] if "unavailable" not in r]
    for t, r in report["transports"]:
        if "unavailable" in r:
            print(f"  {t['label']}: unavailable ({r['unavailable']})")
    print(f"\nRound trip, main <-> peer (mean us, best of {report['repeat']}; lower is better)")
    print(common.format_table(["transport", *SMALL_ITEMS],
                              [[t["label"], *(_cell(r["round_trip_us"][n], "{:,.1f}") for n in SMALL_ITEMS)]
                               for t, r in measured]))
    print(f"\nMessages per second, one-way stream of {report['messages']} items (higher is better)")
    print(common.format_table(["transport", *SMALL_ITEMS],
                              [[t["label"], *(_cell(r["messages_per_s"][n], "{:,.0f}") for n in SMALL_ITEMS)]
                               for t, r in measured]))
    if any(r["mib_per_s"] for _, r in measured):
        counts = ", ".join(f"{LARGE_COUNTS[n]} x {n}" for n in LARGE_ITEMS)
        print(f"\nBandwidth, bytes items streamed one way ({counts}; MiB/s, higher is better)")
        print(common.format_table(["transport", *LARGE_ITEMS],
                                  [[t["label"], *(_cell(r["mib_per_s"][n], "{:,.0f}") for n in LARGE_ITEMS)]
                                   for t, r in measured]))
    print("\nTargets")
    for line in report["targets"]:
        print(f"  {line['status']:7} {line['target']}: {line['detail']}")


def run(args):
    report = {"environment": common.environment(), "repeat": args.repeat, "messages": args.messages,
              "round_trips": args.round_trips, "transports": []}
    results = {}
    failed = False
    for transport in transports():
        try:
            measured = measure_transport(transport, args)
        except (RuntimeError, EOFError, OSError) as error:  # a wrong result or a dead peer: reported, exit 1
            measured, failed = {"unavailable": f"failed: {error}"}, True
        results[transport.key] = measured
        report["transports"].append(({"key": transport.key, "label": transport.label}, measured))
    report["targets"] = evaluate_targets(results)
    if args.json:
        common.print_json({**report, "transports": [{**t, **r} for t, r in report["transports"]]})
    else:
        print_report(report)
    return 1 if failed else 0
