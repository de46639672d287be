"""tests/python/test_sync.py: manycore's threading primitives and AtomicInt within and across interpreters (python/manycore/_sync.py)."""

import asyncio
import math
import sys
import threading
import time

import pytest

import manycore
from helpers import remote, shared_tasks
from helpers.proc import describe, run_python

TIMEOUT = 30


def outcome(call):
    try:
        call()
    except Exception as error:  # noqa: BLE001 - compared with the stdlib's
        return type(error)
    return None


# ---- bad input: the same exception types as threading -------------------------------------

@pytest.mark.parametrize("make", ["Lock", "RLock"])
def test_lock_argument_errors_match_threading(make):
    ours, theirs = getattr(manycore, make)(), getattr(threading, make)()
    ours.acquire()
    theirs.acquire()  # held, so argument checks are reached
    for args, kwargs in [((False, 1), {}), ((True, -2), {}), ((True, math.nan), {}), ((True, "x"), {}),
                         ((), {"bogus": 1})]:
        assert outcome(lambda: ours.acquire(*args, **kwargs)) is outcome(lambda: theirs.acquire(*args, **kwargs))
    ours.release()
    theirs.release()
    assert outcome(ours.release) is outcome(theirs.release) is RuntimeError


def test_other_argument_errors_match_threading():
    pairs = [
        (lambda m: m.Semaphore(-1), ValueError),
        (lambda m: m.BoundedSemaphore(1).release(), ValueError),
        (lambda m: m.Semaphore(1).release(0), ValueError),
        (lambda m: m.Semaphore(1).acquire(False, 1), ValueError),
        (lambda m: m.Semaphore("x"), TypeError),
        (lambda m: m.Condition(m.Lock()).wait(0), RuntimeError),
        (lambda m: m.Condition(m.Lock()).notify(), RuntimeError),
        (lambda m: m.Condition().wait(0), RuntimeError),
        (lambda m: m.Event().wait("x"), TypeError),
    ]
    for make, expected in pairs:
        assert outcome(lambda: make(manycore)) is outcome(lambda: make(threading)) is expected, make
    # threading checks Barrier's parties since 3.13; manycore does on 3.12 too.
    for make, expected in [(lambda m: m.Barrier(0), ValueError), (lambda m: m.Barrier("x"), TypeError)]:
        assert outcome(lambda: make(manycore)) is expected
        if sys.version_info >= (3, 13):
            assert outcome(lambda: make(threading)) is expected


def test_condition_refuses_locks_that_cannot_cross_interpreters():
    with pytest.raises(TypeError, match="manycore.Lock or manycore.RLock"):
        manycore.Condition(threading.Lock())


# ---- semantics in one interpreter -----------------------------------------------------------

def test_lock_basics_and_timeouts():
    lock = manycore.Lock()
    assert lock.acquire() and lock.locked()
    assert lock.acquire(False) is False
    start = time.monotonic()
    assert lock.acquire(timeout=0.05) is False
    assert time.monotonic() - start >= 0.05
    lock.release()
    with lock:
        assert lock.locked()
    assert not lock.locked()
    assert "unlocked" in repr(lock)


def test_rlock_owner_rules_across_threads():
    lock = manycore.RLock()
    with lock, lock:
        assert lock._is_owned()
        errors = []
        thread = threading.Thread(target=lambda: errors.append(outcome(lock.release)))
        thread.start()
        thread.join()
        assert errors == [RuntimeError]
    assert not lock.locked()


def test_semaphores_count_and_bounded_refuses_extra_releases():
    semaphore = manycore.BoundedSemaphore(2)
    assert isinstance(semaphore, manycore.Semaphore)
    assert semaphore.acquire() and semaphore.acquire(timeout=0)
    assert semaphore.acquire(blocking=False) is False
    assert semaphore.acquire(timeout=0.02) is False
    semaphore.release(2)
    with pytest.raises(ValueError, match="too many"):
        semaphore.release()
    plain = manycore.Semaphore(0)
    plain.release(3)
    assert plain._value == 3


def test_condition_wait_for_and_notify_between_threads():
    condition = manycore.Condition()
    box = []

    def produce():
        time.sleep(0.05)
        with condition:
            box.append(1)
            condition.notify()

    thread = threading.Thread(target=produce)
    thread.start()
    with condition:
        assert condition.wait_for(lambda: box, timeout=TIMEOUT)
        assert condition.wait_for(lambda: False, timeout=0.02) is False
    thread.join()
    with condition:
        assert condition.wait(0.01) is False  # no notify: a timeout, lock held again
        assert condition._is_owned()


def test_event_set_clear_wait():
    event = manycore.Event()
    assert event.wait(0.01) is False and not event.is_set()
    threading.Timer(0.05, event.set).start()
    assert event.wait(TIMEOUT) is True
    event.clear()
    assert not event.is_set()


def test_barrier_passes_breaks_and_resets():
    barrier = manycore.Barrier(2, timeout=TIMEOUT)
    results = []
    thread = threading.Thread(target=lambda: results.append(barrier.wait()))
    thread.start()
    results.append(barrier.wait())
    thread.join()
    assert sorted(results) == [0, 1] and barrier.parties == 2 and barrier.n_waiting == 0
    with pytest.raises(threading.BrokenBarrierError):
        barrier.wait(0.02)  # a timeout breaks it, as in threading
    assert barrier.broken
    with pytest.raises(threading.BrokenBarrierError):
        barrier.wait()
    barrier.reset()
    assert not barrier.broken
    barrier.abort()
    with pytest.raises(threading.BrokenBarrierError):
        barrier.wait()


def test_atomic_int_operations_and_errors():
    counter = manycore.AtomicInt(5)
    assert counter.add(3) == 8 and counter.fetch_add() == 8 and counter.load() == 9
    assert counter.compare_exchange(9, 1) is True and counter.compare_exchange(9, 2) is False
    assert counter.exchange(4) == 1 and int(counter) == 4
    counter.store(2**63 - 1)
    assert counter.add(1) == -(2**63)  # wraps like an int64
    assert counter.wait(0) == "not-equal"
    assert counter.wait(counter.load(), timeout=0.01) == "timed-out"
    assert counter.notify() == 0
    with pytest.raises(OverflowError):
        manycore.AtomicInt(2**63)
    with pytest.raises(TypeError):
        counter.add(1.5)
    with pytest.raises(TypeError):
        counter.wait(0, timeout="soon")


# ---- across interpreters ---------------------------------------------------------------------

def test_lock_gives_mutual_exclusion_to_two_interpreters(interp, other_interp):
    lock = manycore.Lock()
    counter = manycore.SharedBuffer(8)
    handles = [i.call_in_thread(shared_tasks.locked_increments, lock, counter, 3000) for i in (interp, other_interp)]
    shared_tasks.locked_increments(lock, counter, 3000)
    for handle in handles:
        assert handle.result(timeout=TIMEOUT) == 3000
    assert int.from_bytes(bytes(counter), "little") == 9000


def test_a_lock_is_the_same_object_in_every_interpreter(interp):
    lock = manycore.Lock()
    assert interp.call(shared_tasks.acquire_nonblocking, lock) is True
    assert lock.locked()  # taken by the other interpreter
    interp.call(shared_tasks.release, lock)  # any thread may release a Lock
    assert not lock.locked()
    assert interp.call(remote.identity, lock) == lock


def test_rlock_owned_here_cannot_be_released_by_another_interpreter(interp):
    lock = manycore.RLock()
    with lock:
        with pytest.raises(RuntimeError, match="un-acquired"):
            interp.call(shared_tasks.release, lock)
        assert interp.call(shared_tasks.acquire_nonblocking, lock) is False


def test_event_set_in_a_worker_wakes_the_main_interpreter(interp):
    event = manycore.Event()
    handle = interp.call_in_thread(shared_tasks.set_event_later, event, 0.05)
    assert event.wait(TIMEOUT) is True
    handle.result(timeout=TIMEOUT)


def test_condition_producer_in_main_consumer_in_a_worker(interp):
    condition = manycore.Condition()
    items = manycore.SharedDict()
    handle = interp.call_in_thread(shared_tasks.consume, condition, items, 6)
    for batch in ([1, 2], [3], [4, 5, 6]):
        time.sleep(0.02)
        with condition:
            items["list"] = items.get("list", []) + batch
            condition.notify()
    assert sorted(handle.result(timeout=TIMEOUT)) == [1, 2, 3, 4, 5, 6]


def test_barrier_across_interpreters_runs_its_action_once(interp, other_interp, tmp_path):
    record = str(tmp_path / "runs")
    barrier = manycore.Barrier(3, action=lambda: shared_tasks.append_line(record), timeout=TIMEOUT)
    handles = [i.call_in_thread(shared_tasks.barrier_party, barrier) for i in (interp, other_interp)]
    indices = [barrier.wait()] + [handle.result(timeout=TIMEOUT) for handle in handles]
    assert sorted(indices) == [0, 1, 2]
    with open(record) as lines:
        assert len(lines.readlines()) == 1


def test_a_failing_barrier_action_raises_in_its_party_and_breaks_the_others(interp):
    barrier = manycore.Barrier(2, action=shared_tasks.failing_action, timeout=TIMEOUT)
    handle = interp.call_in_thread(shared_tasks.barrier_party_outcome, barrier)
    time.sleep(0.1)  # the worker waits; the main interpreter arrives last and runs the action
    with pytest.raises(ValueError, match="action failed"):
        barrier.wait()
    assert handle.result(timeout=TIMEOUT) == "BrokenBarrierError"
    assert barrier.broken


def test_atomic_adds_from_two_interpreters_lose_nothing(interp, other_interp):
    counter = manycore.AtomicInt()
    handles = [i.call_in_thread(shared_tasks.atomic_adds, counter, 20000) for i in (interp, other_interp)]
    for handle in handles:
        handle.result(timeout=TIMEOUT)
    assert counter.load() == 40000


def test_atomic_wait_in_a_worker_is_woken_by_notify_here(interp):
    counter = manycore.AtomicInt(0)
    started = manycore.Event()
    handle = interp.call_in_thread(shared_tasks.atomic_wait, counter, 0, started, TIMEOUT)
    assert started.wait(TIMEOUT)
    deadline = time.monotonic() + TIMEOUT
    while counter.notify() == 0 and time.monotonic() < deadline:  # until the waiter is parked
        time.sleep(0.005)
    assert handle.result(timeout=TIMEOUT) == "ok"


def test_lock_ping_pong_between_interpreters(interp):
    mine, theirs = manycore.Lock(), manycore.Lock()
    mine.acquire()
    theirs.acquire()
    handle = interp.call_in_thread(shared_tasks.ping_pong, mine, theirs, 200)
    for _ in range(200):
        mine.release()
        theirs.acquire()
    assert handle.result(timeout=TIMEOUT) == 200


# ---- interrupts reach a waiter -------------------------------------------------------------

@pytest.mark.parametrize("what", ["lock", "event", "condition", "barrier"])
def test_interpreter_interrupt_reaches_a_waiter(interp, what):
    started = manycore.Event()
    if what == "lock":
        waitable = manycore.Lock()
        waitable.acquire()
        handle = interp.call_in_thread(shared_tasks.wait_lock, waitable, started)
    elif what == "event":
        waitable = manycore.Event()
        handle = interp.call_in_thread(shared_tasks.wait_event, waitable, started)
    elif what == "condition":
        waitable = manycore.Condition()
        handle = interp.call_in_thread(shared_tasks.wait_condition, waitable, started)
    else:
        waitable = manycore.Barrier(2)
        handle = interp.call_in_thread(shared_tasks.wait_barrier, waitable, started)
    assert started.wait(TIMEOUT)
    time.sleep(0.2)  # parked by now
    assert interp.interrupt() is True
    with pytest.raises(KeyboardInterrupt):
        handle.result(timeout=TIMEOUT)
    if what == "condition":
        assert waitable.acquire(timeout=TIMEOUT)  # the interrupted wait took its lock back, then let it go
        waitable.release()
    if what == "barrier":
        assert waitable.broken  # the other parties do not wait for the one that left


def test_pool_terminate_reaches_a_task_waiting_on_an_event():
    event, started = manycore.Event(), manycore.Event()
    pool = manycore.Pool(1)
    result = pool.apply_async(shared_tasks.wait_event, (event, started))
    assert started.wait(TIMEOUT)
    time.sleep(0.1)
    begun = time.monotonic()
    pool.terminate()
    assert time.monotonic() - begun < TIMEOUT
    assert result.ready() and not result.successful()


def test_ctrl_c_interrupts_the_main_interpreter_waiting_on_a_lock():
    result = run_python(
        """
        import os, signal, threading, time
        import manycore
        lock = manycore.Lock()
        lock.acquire()
        threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
        start = time.monotonic()
        try:
            lock.acquire()
        except KeyboardInterrupt:
            print("interrupted after", round(time.monotonic() - start, 2))
        condition = manycore.Condition()
        with condition:
            threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
            try:
                condition.wait()
            except KeyboardInterrupt:
                print("condition interrupted, lock held:", condition._is_owned())
        """,
        timeout=60,
    )
    assert result.returncode == 0, describe(result)
    lines = result.stdout.splitlines()
    assert lines[0].startswith("interrupted after") and float(lines[0].split()[-1]) < 2, describe(result)
    assert lines[1] == "condition interrupted, lock held: True", describe(result)


# ---- asyncio variants ------------------------------------------------------------------------

def test_async_variants_wait_without_blocking_the_loop(interp):
    async def main():
        lock, event, semaphore = manycore.Lock(), manycore.Event(), manycore.Semaphore(0)
        lock.acquire()
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.005)

        ticking = asyncio.ensure_future(ticker())
        handle = interp.call_in_thread(shared_tasks.set_event_later, event, 0.1)
        assert await event.wait_async(timeout=TIMEOUT) is True
        assert await lock.acquire_async(timeout=0.05) is False
        threading.Timer(0.05, lock.release).start()
        assert await lock.acquire_async(timeout=TIMEOUT) is True
        threading.Timer(0.05, semaphore.release).start()
        assert await semaphore.acquire_async() is True
        counter = manycore.AtomicInt(0)
        threading.Timer(0.05, counter.store, (1,)).start()
        assert await counter.wait_async(0, timeout=TIMEOUT) == "ok"
        ticking.cancel()
        handle.result(timeout=TIMEOUT)
        return ticks

    assert asyncio.run(main()) > 5  # the loop kept running while they waited


def test_cancelled_async_acquire_takes_nothing():
    async def main():
        lock = manycore.Lock()
        lock.acquire()
        waiter = asyncio.ensure_future(lock.acquire_async())
        await asyncio.sleep(0.02)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        lock.release()
        return lock.locked()

    assert asyncio.run(main()) is False


def test_primitives_refuse_pickle_with_a_reason():
    import pickle

    for primitive in (manycore.Lock(), manycore.RLock(), manycore.Event(), manycore.AtomicInt()):
        with pytest.raises(TypeError, match="crosses interpreters by itself"):
            pickle.dumps(primitive)
