"""tests/python/test_queue.py: manycore.Queue and select() within and across interpreters (python/manycore/_queues.py)."""

import asyncio
import fractions
import math
import queue
import threading
import time

import pytest

import manycore
from helpers import queue_workers as workers
from helpers import remote
from helpers.proc import describe, run_python

# ---- the queue.Queue surface ----------------------------------------------------------


def test_create_queue_and_its_attributes():
    q = manycore.create_queue()
    bounded = manycore.Queue(maxsize=3)
    assert isinstance(q, manycore.Queue) and type(bounded) is manycore.Queue
    assert q.maxsize == 0 and bounded.maxsize == 3
    assert q.id != bounded.id
    assert q.empty() and not q.full() and q.qsize() == 0 and not q.closed
    assert f"id={q.id}" in repr(q)


def test_a_maxsize_of_zero_or_less_is_unbounded_as_in_queue_queue():
    for maxsize in (0, -1, -(2**70)):
        q = manycore.create_queue(maxsize)
        assert q.maxsize == 0
        for i in range(100):
            q.put_nowait(i)
        assert not q.full() and q.qsize() == 100


def test_fifo_and_the_nowait_forms():
    q = manycore.create_queue()
    items = [1, "two", b"three", (4, [5.0], {"six": None}), 2**100, {7, 8}]
    for item in items:
        q.put(item)
    assert q.qsize() == len(items) and not q.empty()
    assert [q.get() for _ in items] == items
    with pytest.raises(manycore.QueueEmpty):
        q.get_nowait()
    with pytest.raises(queue.Empty):  # catchable as the stdlib's exception
        q.get(block=False)


def test_bounded_queue_is_full_and_raises_queue_full():
    q = manycore.create_queue(maxsize=2)
    q.put_nowait("a")
    q.put("b", block=False)
    assert q.full()
    with pytest.raises(manycore.QueueFull):
        q.put_nowait("c")
    with pytest.raises(queue.Full):
        q.put("c", timeout=0.01)
    assert q.qsize() == 2 and q.get() == "a"
    q.put_nowait("c")
    assert [q.get(), q.get()] == ["b", "c"]


def test_timeouts_honour_fractions_of_a_second():
    q = manycore.create_queue(maxsize=1)
    start = time.monotonic()
    with pytest.raises(manycore.QueueEmpty):
        q.get(timeout=0.15)
    assert 0.15 <= time.monotonic() - start < 1.5
    q.put(1)
    start = time.monotonic()
    with pytest.raises(manycore.QueueFull):
        q.put(2, timeout=0.1)
    assert 0.1 <= time.monotonic() - start < 1.5


def test_exception_hierarchy():
    assert issubclass(manycore.QueueEmpty, manycore.QueueError) and issubclass(manycore.QueueEmpty, queue.Empty)
    assert issubclass(manycore.QueueFull, manycore.QueueError) and issubclass(manycore.QueueFull, queue.Full)
    assert issubclass(manycore.QueueClosed, manycore.QueueError)
    if hasattr(queue, "ShutDown"):
        assert issubclass(manycore.QueueClosed, queue.ShutDown)


@pytest.mark.parametrize(
    ("make", "error", "words"),
    [
        (lambda: manycore.Queue(maxsize="3"), TypeError, "maxsize must be an int"),
        (lambda: manycore.Queue(maxsize=True), TypeError, "maxsize must be an int"),
        (lambda: manycore.Queue(maxsize=2**64), ValueError, "maxsize"),
        (lambda: manycore.Queue("3"), TypeError, "queue id must be an int"),
        (lambda: manycore.Queue(True), TypeError, "queue id must be an int"),
        (lambda: manycore.Queue(2**64), manycore.QueueNotFoundError, "does not exist"),
        (lambda: manycore.Queue(1, 2), TypeError, "create_queue"),
        (lambda: manycore.Queue().get(timeout="1"), TypeError, "timeout must be a number"),
        (lambda: manycore.Queue().get(timeout=-1), ValueError, "non-negative"),
        (lambda: manycore.Queue().get(timeout=math.nan), ValueError, "non-negative"),
        (lambda: manycore.Queue().put(1, timeout=[1]), TypeError, "timeout must be a number"),
        (lambda: manycore.Queue().get(True, True), TypeError, "timeout must be a number"),
        (lambda: manycore.select([]), ValueError, "at least one queue"),
        (lambda: manycore.select([manycore.Queue(), 3]), TypeError, "manycore queues"),
        (lambda: manycore.select(manycore.Queue()), TypeError, "not a single queue"),
        (lambda: manycore.select(5), TypeError, "iterable of queues"),
        (lambda: manycore.select([manycore.Queue()], timeout=-0.5), ValueError, "non-negative"),
    ],
)
def test_bad_input_raises_a_clear_exception(make, error, words):
    with pytest.raises(error, match=words):
        make()


def test_non_shareable_item_raises_and_leaves_the_queue_unchanged():
    q = manycore.create_queue()
    q.put("before")
    with pytest.raises(manycore.NotShareableError, match="lock"):
        q.put(threading.Lock())
    with pytest.raises(manycore.NotShareableError):
        q.put_nowait(("fine", threading.Lock()))
    assert q.qsize() == 1 and q.get_nowait() == "before" and q.empty()


def test_mutable_items_arrive_as_copies():
    q = manycore.create_queue()
    original = [1, [2]]
    q.put(original)
    original[1].append(3)
    assert q.get() == [1, [2]]


# ---- close and iteration --------------------------------------------------------------


def test_close_refuses_puts_and_get_drains_then_raises():
    q = manycore.create_queue()
    q.put(1)
    q.put(2)
    q.close()
    q.close()  # idempotent
    assert q.closed
    with pytest.raises(manycore.QueueClosed):
        q.put(3)
    assert q.get() == 1 and q.get_nowait() == 2
    with pytest.raises(manycore.QueueClosed):
        q.get()
    with pytest.raises(manycore.QueueClosed):
        q.get_nowait()


def test_iteration_ends_at_close():
    q = manycore.create_queue()
    for item in range(3):
        q.put(item)
    q.close()
    assert list(q) == [0, 1, 2]
    assert list(q) == []


def test_close_wakes_a_blocked_get(interp):
    q = manycore.create_queue()
    handle = interp.call_in_thread(workers.close_after, q, 0.1)
    start = time.monotonic()
    with pytest.raises(manycore.QueueClosed):
        q.get(timeout=10)
    assert time.monotonic() - start < 5
    handle.result(timeout=10)


# ---- across interpreters --------------------------------------------------------------


def test_queue_passed_as_argument_is_the_same_queue(interp):
    q = manycore.create_queue()
    assert interp.call(workers.queue_id_and_type, q) == (q.id, "manycore._queues", "Queue")
    returned = interp.call(remote.identity, q)
    # One object per queue in each interpreter (PEP 734): it comes back as q itself.
    assert returned is q and hash(returned) == hash(q.id)
    assert type(returned) is manycore.Queue


def test_round_trip_through_another_interpreter(interp):
    inbox, outbox = manycore.create_queue(), manycore.create_queue()
    handle = interp.call_in_thread(workers.echo, inbox, outbox, 100)
    for i in range(100):
        inbox.put((i, str(i)))
        assert outbox.get(timeout=10) == (i, str(i))
    assert handle.result(timeout=10) == 100


def test_queue_through_prepare_main_lives_while_the_interpreter_holds_it(interp):
    q = manycore.create_queue()
    queue_id = q.id
    interp.prepare_main(shared_queue=q)
    assert interp.call(workers.main_queue_id) == queue_id
    del q  # only the other interpreter holds it now
    interp.exec("shared_queue.put('still here')")
    interp.exec("shared_queue.put(shared_queue.get())")  # it is alive and usable there
    back = interp.call(lambda: __import__("__main__").shared_queue)
    assert back.id == queue_id and back.get_nowait() == "still here"
    interp.exec("del shared_queue")


def test_queue_inside_another_queue(interp):
    carrier, inner = manycore.create_queue(), manycore.create_queue()
    carrier.put(inner)
    assert interp.call(workers.forward_queue, carrier) == inner.id
    assert inner.get(timeout=10) == ("from", interp.id)


def test_items_stay_valid_after_the_putting_interpreter_is_closed():
    q = manycore.create_queue()
    producer = manycore.create()
    producer.call(workers.put_fraction, q, 3, 4)
    producer.call(workers.put_items, q, [b"x" * 100_000, ("tuple", 1)])
    producer.close()
    assert q.get_nowait() == fractions.Fraction(3, 4)
    assert q.get_nowait() == b"x" * 100_000
    assert q.get_nowait() == ("tuple", 1)


def test_iteration_in_another_interpreter_ends_at_close(interp):
    q = manycore.create_queue()
    handle = interp.call_in_thread(workers.drain, q)
    for item in range(5):
        q.put(item)
    q.close()
    assert handle.result(timeout=10) == [0, 1, 2, 3, 4]


def test_idle_blocking_get_does_not_burn_a_core():
    q = manycore.create_queue()
    cpu_before, wall_before = time.process_time(), time.monotonic()
    with pytest.raises(manycore.QueueEmpty):
        q.get(timeout=0.5)
    cpu = time.process_time() - cpu_before
    assert time.monotonic() - wall_before >= 0.5
    assert cpu < 0.15, f"a 0.5 s idle wait used {cpu:.3f} s of CPU"


def test_ctrl_c_interrupts_a_blocked_get():
    result = run_python(
        """
        import os, signal, threading, time
        import manycore
        q = manycore.create_queue()
        threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
        start = time.monotonic()
        try:
            q.get()
        except KeyboardInterrupt:
            print("interrupted after", round(time.monotonic() - start, 2))
        try:
            threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
            manycore.select([q, manycore.create_queue()])
        except KeyboardInterrupt:
            print("select interrupted")
        """,
        timeout=30,
    )
    assert result.returncode == 0, describe(result)
    lines = result.stdout.splitlines()
    assert lines[0].startswith("interrupted after") and float(lines[0].split()[-1]) < 2, describe(result)
    assert lines[1] == "select interrupted", describe(result)


# ---- select ---------------------------------------------------------------------------


def test_select_returns_the_first_queue_with_an_item():
    a, b, c = manycore.create_queue(), manycore.create_queue(), manycore.create_queue()
    c.put("c")
    b.put("b")
    assert manycore.select([a, b, c]) is b
    assert manycore.select((q for q in [a, c]), timeout=0) is c


def test_select_times_out_with_none():
    start = time.monotonic()
    assert manycore.select([manycore.create_queue()], timeout=0.1) is None
    assert 0.1 <= time.monotonic() - start < 1.5


def test_select_wakes_when_another_interpreter_puts(interp):
    a, b = manycore.create_queue(), manycore.create_queue()
    handle = interp.call_in_thread(workers.put_after, b, 0.1, "late")
    assert manycore.select([a, b], timeout=10) is b
    assert b.get_nowait() == "late"
    handle.result(timeout=10)


def test_select_in_another_interpreter(interp):
    a, b = manycore.create_queue(), manycore.create_queue()
    handle = interp.call_in_thread(workers.select_and_get, [a, b], 10)
    time.sleep(0.05)
    b.put("to b")
    assert handle.result(timeout=10) == (1, "to b")


def test_select_skips_closed_queues_and_raises_when_all_are_closed():
    a, b = manycore.create_queue(), manycore.create_queue()
    a.close()
    b.put(1)
    assert manycore.select([a, b]) is b
    b.get()
    b.close()
    with pytest.raises(manycore.QueueClosed):
        manycore.select([a, b], timeout=5)


# ---- asyncio --------------------------------------------------------------------------


def run_with_ticker(coroutine_factory):
    """Runs the coroutine while a ticker counts event loop turns: (result, ticks)."""

    async def main():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        ticking = asyncio.ensure_future(ticker())
        try:
            result = await asyncio.wait_for(coroutine_factory(), 10)
        finally:
            ticking.cancel()
        return result, ticks

    return asyncio.run(main())


def test_get_async_waits_without_blocking_the_event_loop(interp):
    q = manycore.create_queue()
    handle = interp.call_in_thread(workers.put_after, q, 0.3, "async item")
    item, ticks = run_with_ticker(q.get_async)
    handle.result(timeout=10)
    assert item == "async item"
    assert ticks >= 10, f"the event loop turned only {ticks} times in 0.3 s"


def test_put_async_waits_for_room_without_blocking_the_event_loop(interp):
    q = manycore.create_queue(maxsize=1)
    q.put("first")
    handle = interp.call_in_thread(workers.get_after, q, 0.3)
    _, ticks = run_with_ticker(lambda: q.put_async("second"))
    assert handle.result(timeout=10) == "first"
    assert q.get_nowait() == "second"
    assert ticks >= 10


def test_get_async_returns_at_once_and_raises_when_closed():
    q = manycore.create_queue()
    q.put(1)
    q.close()

    async def main():
        first = await q.get_async()
        with pytest.raises(manycore.QueueClosed):
            await q.get_async()
        with pytest.raises(manycore.QueueClosed):
            await q.put_async(2)
        return first

    assert asyncio.run(main()) == 1


def test_cancelled_get_async_takes_nothing():
    q = manycore.create_queue()

    async def main():
        waiting = asyncio.ensure_future(q.get_async())
        await asyncio.sleep(0.05)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        q.put("kept")
        return q.get_nowait()

    assert asyncio.run(main()) == "kept"


# ---- stress ---------------------------------------------------------------------------


@pytest.mark.stress
def test_stress_many_producer_and_consumer_interpreters():
    producers, consumers, per_producer = 3, 2, 2000
    q = manycore.create_queue(maxsize=32)  # bounded: producers block too
    interps = [manycore.create() for _ in range(producers + consumers)]
    try:
        started = time.monotonic()
        consuming = [interp.call_in_thread(workers.consume, q) for interp in interps[producers:]]
        producing = [
            interp.call_in_thread(workers.put_items, q, [(p, seq) for seq in range(per_producer)])
            for p, interp in enumerate(interps[:producers])
        ]
        assert [h.result(timeout=30) for h in producing] == [per_producer] * producers
        for _ in range(consumers):
            q.put(workers.STOP)
        received = [h.result(timeout=30) for h in consuming]
        assert time.monotonic() - started < 30
    finally:
        for interp in interps:
            interp.close()
    everything = [item for items in received for item in items]
    assert len(everything) == producers * per_producer
    assert len(set(everything)) == len(everything)  # nothing duplicated
    assert sum(p * 1_000_003 + seq for p, seq in everything) == sum(
        p * 1_000_003 + seq for p in range(producers) for seq in range(per_producer)
    )
    for items in received:  # FIFO per producer, as each consumer saw it
        for p in range(producers):
            seqs = [seq for producer, seq in items if producer == p]
            assert seqs == sorted(seqs)
    assert q.empty()


@pytest.mark.stress
def test_stress_main_and_interpreters_share_one_queue_both_ways():
    count = 1000
    inbox, outbox = manycore.create_queue(), manycore.create_queue()
    interps = [manycore.create() for _ in range(3)]
    try:
        echoing = [interp.call_in_thread(workers.echo_until_stop, inbox, outbox) for interp in interps]
        feeder = threading.Thread(target=lambda: [inbox.put(i) for i in range(count)])
        feeder.start()
        got = [outbox.get(timeout=10) for _ in range(count)]
        feeder.join()
        for _ in interps:
            inbox.put(workers.STOP)
        assert sum(h.result(timeout=10) for h in echoing) == count
    finally:
        for interp in interps:
            interp.close()
    assert sorted(got) == list(range(count))


def test_queue_inside_a_pickled_object_arrives_as_the_same_queue(interp):
    # Queues pickle by id (PEP 734): never copied, attached again where they are unpickled.
    import types

    q, carrier = manycore.create_queue(), manycore.create_queue()
    carrier.put(types.SimpleNamespace(queue=q))
    assert carrier.get().queue is q
    interp.call(remote.identity, types.SimpleNamespace(queue=q)).queue.put("through pickle")
    assert q.get(timeout=10) == "through pickle"
