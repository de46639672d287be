"""tests/python/test_executor.py: manycore.InterpreterPoolExecutor, the concurrent.futures-compatible executor."""

import asyncio
import concurrent.futures as cf
import gc
import itertools
import os
import pickle
import signal
import threading
import time

import pytest

import manycore
from manycore import _core
from helpers import pool_tasks
from helpers.interrupt import interrupt_while_waiting
from helpers.proc import assert_clean_exit, run_python

TIMEOUT = 10.0


@pytest.fixture(scope="module")
def executor():
    """One 2-worker executor for the tests that leave it idle (creating one costs ~20 ms)."""
    with manycore.InterpreterPoolExecutor(max_workers=2) as shared:
        yield shared


def blocking_tasks(executor, tmp_path, count):
    """Starts `count` tasks that block until release(); returns (futures, release)."""
    release_file = tmp_path / "release"
    futures = []
    for index in range(count):
        started = tmp_path / f"started-{index}"
        futures.append(executor.submit(pool_tasks.touch_then_wait, str(started), str(release_file), TIMEOUT))
        assert pool_tasks.wait_for_file(str(started), TIMEOUT), "a blocking task never started"

    def release():
        release_file.touch()

    return futures, release


# ---- construction ----------------------------------------------------------------------


def test_is_a_concurrent_futures_executor(executor):
    assert isinstance(executor, cf.Executor)


def test_max_workers_defaults_to_usable_cores():
    expected = os.process_cpu_count() if hasattr(os, "process_cpu_count") else len(os.sched_getaffinity(0))
    with manycore.InterpreterPoolExecutor() as default:
        assert default._max_workers == expected
        assert len(default._interpreter_ids) == expected


@pytest.mark.parametrize("bad", [0, -1])
def test_max_workers_must_be_positive(bad):
    with pytest.raises(ValueError, match="max_workers must be greater than 0"):
        manycore.InterpreterPoolExecutor(max_workers=bad)


def test_max_workers_must_be_an_int():
    with pytest.raises(TypeError, match="must be an int"):
        manycore.InterpreterPoolExecutor(max_workers="2")


def test_initializer_must_be_callable():
    with pytest.raises(TypeError, match="initializer must be a callable"):
        manycore.InterpreterPoolExecutor(1, initializer=42)


def test_workers_are_long_lived_interpreters(executor):
    ids = {executor.submit(pool_tasks.interpreter_id).result(TIMEOUT) for _ in range(40)}
    assert ids <= set(executor._interpreter_ids)
    assert len(executor._interpreter_ids) == 2
    assert manycore.get_main().id not in ids


def test_workers_do_not_import_concurrent_futures(executor):
    # manycore exports the executors lazily, so a worker that imports manycore stays light.
    assert executor.submit(pool_tasks.module_loaded, "concurrent.futures").result(TIMEOUT) is False


def test_thread_name_prefix_names_the_delivery_thread():
    with manycore.InterpreterPoolExecutor(1, thread_name_prefix="resolver") as named:
        named.submit(pool_tasks.plus_one, 1).result(TIMEOUT)
        assert named._delivery._thread.name.startswith("resolver")


# ---- submit and futures ----------------------------------------------------------------


def test_submit_returns_a_real_future(executor):
    future = executor.submit(pool_tasks.square, 12)
    assert isinstance(future, cf.Future)
    assert future.result(TIMEOUT) == 144
    assert future.done() and not future.cancelled() and future.exception() is None


def test_submit_passes_keywords(executor):
    assert executor.submit(pool_tasks.add, 2, b=3, scale=10).result(TIMEOUT) == 50


def test_submit_builtin_and_values_round_trip(executor):
    payload = {"a": [1, 2.5, ("x", b"y")], "b": {3, 4}}
    assert executor.submit(dict, payload).result(TIMEOUT) == payload


def test_exception_keeps_its_type_and_remote_traceback(executor):
    future = executor.submit(pool_tasks.raise_key_error, "missing")
    with pytest.raises(KeyError) as caught:
        future.result(TIMEOUT)
    cause = caught.value.__cause__
    assert isinstance(cause, manycore.ExecutionFailed)
    assert "raise_key_error" in str(cause) and "KeyError" in str(cause)
    assert isinstance(future.exception(), KeyError)


def test_custom_exception_type_crosses(executor):
    with pytest.raises(pool_tasks.CustomError) as caught:
        executor.submit(pool_tasks.raise_custom, 7).result(TIMEOUT)
    assert caught.value.code == 7


def test_a_failing_task_does_not_kill_its_worker(executor):
    before = set(executor._interpreter_ids)
    for _ in range(5):
        with pytest.raises(KeyError):
            executor.submit(pool_tasks.raise_key_error, 1).result(TIMEOUT)
    assert executor.submit(pool_tasks.square, 3).result(TIMEOUT) == 9
    assert set(executor._interpreter_ids) == before


def test_unsendable_result_fails_that_task_only(executor):
    with pytest.raises(manycore.NotShareableError, match="lock"):
        executor.submit(pool_tasks.return_unsendable).result(TIMEOUT)
    assert executor.submit(pool_tasks.plus_one, 1).result(TIMEOUT) == 2


def test_unsendable_argument_raises_at_submit(executor):
    import threading

    with pytest.raises(manycore.NotShareableError):
        executor.submit(pool_tasks.square, threading.Lock())


def test_not_callable_raises_at_submit(executor):
    with pytest.raises(TypeError, match="expected a callable"):
        executor.submit(42)


def test_lambdas_and_closures(executor):
    offset = 10
    assert executor.submit(lambda x: x + offset, 5).result(TIMEOUT) == 15

    def make_scaler(factor):
        def scale(x):
            return x * factor

        return scale

    assert list(executor.map(make_scaler(3), [1, 2, 3])) == [3, 6, 9]


def test_as_completed_and_wait(executor):
    futures = [executor.submit(pool_tasks.sleep_then_return, 0.01 * (i % 3), i) for i in range(12)]
    assert sorted(f.result() for f in cf.as_completed(futures, timeout=TIMEOUT)) == list(range(12))
    done, not_done = cf.wait(futures, timeout=TIMEOUT)
    assert len(done) == 12 and not not_done


def test_wait_first_completed(executor):
    slow = executor.submit(pool_tasks.sleep_then_return, 0.5, "slow")
    fast = executor.submit(pool_tasks.sleep_then_return, 0.0, "fast")
    done, _ = cf.wait([slow, fast], timeout=TIMEOUT, return_when=cf.FIRST_COMPLETED)
    assert fast in done
    assert slow.result(TIMEOUT) == "slow"


def test_done_callbacks_run_with_the_future(executor):
    seen = []
    future = executor.submit(pool_tasks.square, 4)
    future.add_done_callback(lambda f: seen.append(f.result()))
    future.result(TIMEOUT)
    deadline = time.monotonic() + TIMEOUT
    while not seen and time.monotonic() < deadline:
        time.sleep(0.001)
    assert seen == [16]


def test_asyncio_run_in_executor(executor):
    async def main():
        loop = asyncio.get_running_loop()
        return await asyncio.gather(*(loop.run_in_executor(executor, pool_tasks.square, i) for i in range(8)))

    assert asyncio.run(main()) == [i * i for i in range(8)]


def test_asyncio_run_in_executor_raises_original_type(executor):
    async def main():
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(executor, pool_tasks.raise_key_error, "k")

    with pytest.raises(KeyError):
        asyncio.run(main())


def test_cancel_a_queued_future(tmp_path):
    with manycore.InterpreterPoolExecutor(1) as single:
        (running,), release = blocking_tasks(single, tmp_path, 1)
        marker = tmp_path / "ran"
        queued = single.submit(pool_tasks.touch_then_wait, str(marker), str(marker), 0)
        assert running.running()
        assert not running.cancel()  # already running
        assert queued.cancel() and queued.cancelled()
        assert cf.wait([queued], timeout=0).done == {queued}  # waiters are told at once
        release()
        assert running.result(TIMEOUT) is True
        assert single.submit(pool_tasks.plus_one, 1).result(TIMEOUT) == 2
        assert not marker.exists()  # the cancelled task never ran


# ---- map -------------------------------------------------------------------------------


def test_map_keeps_order(executor):
    assert list(executor.map(pool_tasks.square, range(100))) == [x * x for x in range(100)]


@pytest.mark.parametrize("chunksize", [1, 7, 256])
def test_map_chunksize(executor, chunksize):
    assert list(executor.map(pool_tasks.plus_one, range(1000), chunksize=chunksize)) == list(range(1, 1001))


def test_map_several_iterables(executor):
    assert list(executor.map(pool_tasks.add, [1, 2, 3], [10, 20, 30, 40])) == [11, 22, 33]


def test_map_empty(executor):
    assert list(executor.map(pool_tasks.square, [])) == []


def test_map_chunksize_must_be_positive(executor):
    with pytest.raises(ValueError, match="chunksize must be an int >= 1"):
        executor.map(pool_tasks.square, [1], chunksize=0)


def test_map_raises_at_the_failing_item(executor):
    results = executor.map(pool_tasks.fail_on, [3] * 6, range(6), chunksize=2)
    assert [next(results) for _ in range(3)] == [0, 1, 2]
    with pytest.raises(ValueError, match="bad item 3"):
        next(results)


def test_map_timeout(executor):
    results = executor.map(pool_tasks.sleep_then_return, [0.0, 2.0], timeout=0.3)
    with pytest.raises(TimeoutError):
        list(results)


def test_map_is_lazy_only_in_results(executor, tmp_path):
    # The tasks are submitted by map() itself, not when iteration starts (as the stdlib).
    marker = tmp_path / "started-0"
    results = executor.map(pool_tasks.touch_then_wait, [str(marker)], [str(marker)], [TIMEOUT])
    assert pool_tasks.wait_for_file(str(marker), TIMEOUT)
    assert list(results) == [True]


@pytest.mark.parametrize("position", [0, 3000])
def test_an_item_that_cannot_be_sent_fails_in_its_place(executor, position):
    # As ProcessPoolExecutor: map() returns, and the error is raised where that item's
    # result would be; the results before it arrive, the tasks after it still run.
    items = [1] * position + [threading.Lock()] + [2] * 10
    results = executor.map(pool_tasks.square, items, chunksize=3)
    assert [next(results) for _ in range(position)] == [1] * position
    with pytest.raises(manycore.NotShareableError, match="lock"):
        next(results)
    assert list(executor.map(pool_tasks.square, range(5000), chunksize=7)) == [x * x for x in range(5000)]


@pytest.mark.parametrize("size, bound", [(8, None), (100_000, 16 << 20)])
def test_map_keeps_a_bounded_window_of_encoded_tasks(executor, size, bound):
    # Without buffersize the input is collected at once, but encoded and submitted as
    # the workers go: at most 16384 items, and about 16 MiB of encoded input, in flight.
    seen = []  # (items in flight, encoded bytes of the batch) at each submission
    original = executor._pool.submit_map

    def counting_submit(results, fn, batch, chunksize, star, sized=False):
        in_flight = results.outstanding + len(batch)
        answer = original(results, fn, batch, chunksize, star, sized=sized)
        seen.append((in_flight, answer[1] if sized else None))
        return answer

    count = 40_000 if size == 8 else 600
    items = [b"x" * size for _ in range(count)]
    executor._pool = _Spy(executor._pool, submit_map=counting_submit)
    try:
        assert list(executor.map(len, items, chunksize=2)) == [size] * count
    finally:
        executor._pool = executor._pool.wrapped
    assert len(seen) > 2
    assert max(in_flight for in_flight, _ in seen) <= 16384 + 2
    if bound is not None:
        per_item = max(encoded / n for (n, encoded) in seen[:1])  # the first batch: all of it in flight
        assert max(in_flight for in_flight, _ in seen[1:]) * size <= 2 * bound


def test_map_tasks_run_even_when_nobody_iterates(tmp_path):
    with manycore.InterpreterPoolExecutor(2) as executor:
        executor.map(pool_tasks.square, range(2000), chunksize=1)
    # shutdown(wait=True) on leaving the block waited for every task to be submitted and run.
    with manycore.InterpreterPoolExecutor(1) as executor:
        markers = [str(tmp_path / f"m{i}") for i in range(300)]
        executor.map(pool_tasks.touch, markers)
    assert all(os.path.exists(marker) for marker in markers)


class _Spy:
    """Wraps the executor's pool object, replacing some of its methods."""

    def __init__(self, wrapped, **methods):
        self.wrapped = wrapped
        self.__dict__.update(methods)

    def __getattr__(self, name):
        return getattr(self.wrapped, name)


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-1, ValueError), (1.5, TypeError), (True, TypeError)])
def test_map_buffersize_is_checked(executor, bad, error):
    with pytest.raises(error, match="buffersize"):
        executor.map(pool_tasks.square, [1], buffersize=bad)


@pytest.mark.parametrize("chunksize", [1, 3])
def test_map_with_buffersize_reads_its_input_lazily(executor, chunksize):
    consumed = []

    def source():
        for x in itertools.count():
            consumed.append(x)
            yield x

    results = executor.map(pool_tasks.square, source(), chunksize=chunksize, buffersize=2)
    # As 3.14: the first buffersize tasks are submitted before map returns.
    assert len(consumed) == 2 * chunksize
    first = [next(results) for _ in range(10)]
    assert first == [x * x for x in range(10)]
    # At most buffersize tasks are submitted and not yet yielded.
    assert len(consumed) <= 10 + 2 * chunksize + 1
    results.close()


def test_map_with_buffersize_yields_everything_and_raises_in_place(executor):
    assert list(executor.map(pool_tasks.add, range(50), range(50), buffersize=3)) == [2 * x for x in range(50)]
    results = executor.map(pool_tasks.fail_on, [2] * 5, range(5), buffersize=2)
    assert next(results) == 0 and next(results) == 1
    with pytest.raises(ValueError, match="bad item 2"):
        next(results)


# ---- shutdown, initializer, exit ---------------------------------------------------------


def test_submit_after_shutdown_raises():
    closed = manycore.InterpreterPoolExecutor(1)
    closed.shutdown()
    with pytest.raises(RuntimeError, match="cannot schedule new futures after shutdown"):
        closed.submit(pool_tasks.square, 2)
    with pytest.raises(RuntimeError, match="after shutdown"):
        closed.map(pool_tasks.square, [2])


def test_shutdown_waits_for_submitted_work():
    pool = manycore.InterpreterPoolExecutor(2)
    futures = [pool.submit(pool_tasks.sleep_then_return, 0.05, i) for i in range(6)]
    pool.shutdown(wait=True)
    assert all(f.done() for f in futures)
    assert [f.result() for f in futures] == list(range(6))


def test_shutdown_cancel_futures(tmp_path):
    pool = manycore.InterpreterPoolExecutor(1)
    (running,), release = blocking_tasks(pool, tmp_path, 1)
    queued = [pool.submit(pool_tasks.square, i) for i in range(5)]
    pool.shutdown(wait=False, cancel_futures=True)
    assert all(f.cancelled() for f in queued)
    release()
    assert running.result(TIMEOUT) is True
    pool.shutdown(wait=True)


def test_context_manager_shuts_down():
    with manycore.InterpreterPoolExecutor(1) as pool:
        future = pool.submit(pool_tasks.sleep_then_return, 0.05, "ok")
    assert future.done() and future.result() == "ok"
    with pytest.raises(RuntimeError):
        pool.submit(pool_tasks.square, 1)


def test_shutdown_right_after_submit_still_runs_the_task():
    for round_number in range(5):
        with manycore.InterpreterPoolExecutor(1) as pool:
            future = pool.submit(pool_tasks.plus_one, round_number)
        assert future.result(0) == round_number + 1


def test_initializer_runs_once_per_worker_before_tasks():
    with manycore.InterpreterPoolExecutor(2, initializer=pool_tasks.initialize, initargs=("ready",)) as pool:
        seen = {tuple(pool.submit(pool_tasks.initialized).result(TIMEOUT)) for _ in range(10)}
    assert seen == {("ready",)}


def test_failing_initializer_breaks_the_pool():
    pool = manycore.InterpreterPoolExecutor(1, initializer=pool_tasks.failing_initializer)
    future = pool.submit(pool_tasks.square, 2)
    with pytest.raises(manycore.BrokenInterpreterPool, match="initializer failed on purpose") as caught:
        future.result(TIMEOUT)
    assert isinstance(caught.value, cf.BrokenExecutor)
    assert type(pickle.loads(pickle.dumps(caught.value))) is manycore.BrokenInterpreterPool
    with pytest.raises(manycore.BrokenInterpreterPool):
        pool.submit(pool_tasks.square, 3)
    with pytest.raises(manycore.BrokenInterpreterPool):
        list(pool.map(pool_tasks.square, [1]))
    pool.shutdown()


def test_executor_dropped_without_shutdown_still_finishes_its_work():
    future = manycore.InterpreterPoolExecutor(1).submit(pool_tasks.sleep_then_return, 0.05, "kept")
    gc.collect()
    assert future.result(TIMEOUT) == "kept"


def test_main_script_functions_lambdas_and_closures(tmp_path):
    result = run_python("""
        import manycore

        def double(x):
            return 2 * x

        def make_adder(n):
            return lambda x: x + n

        if __name__ == "__main__":
            with manycore.InterpreterPoolExecutor(2) as pool:
                print(pool.submit(double, 21).result())
                print(list(pool.map(make_adder(100), [1, 2])))
                print(list(pool.map(lambda x: -x, [1, 2], chunksize=2)))
    """, script_path=tmp_path / "script.py", cwd=tmp_path)
    assert_clean_exit(result)
    assert result.stdout.split("\n") == ["42", "[101, 102]", "[-1, -2]", ""]


def test_exit_with_work_in_flight_is_clean(tmp_path):
    done = tmp_path / "done"
    result = run_python(f"""
        import manycore
        from helpers import pool_tasks

        pool = manycore.InterpreterPoolExecutor(2)
        running = [pool.submit(pool_tasks.touch_then_wait, {str(done)!r} + str(i), "/nonexistent", 0.3)
                   for i in range(2)]
        queued = [pool.submit(pool_tasks.sleep_then_return, 5, i) for i in range(20)]
        for i in range(2):
            pool_tasks.wait_for_file({str(done)!r} + str(i), 10)
        print("exiting")
    """, timeout=30)
    assert_clean_exit(result)
    assert result.stdout == "exiting\n"


@pytest.mark.parametrize("chunksize", [1, 4])
def test_ctrl_c_while_waiting_on_map_stops_cleanly(tmp_path, chunksize):
    # Every task would wait 600 s: the program ends at once only because Ctrl-C
    # interrupts the map's running tasks too (as SIGINT reaches process-pool workers).
    result, elapsed, outcome = interrupt_while_waiting(tmp_path / "interrupted.py", (
        "import manycore\n"
        "from helpers import pool_tasks\n"
        f"never = {str(tmp_path / 'never')!r}\n"
        "with manycore.InterpreterPoolExecutor(2) as pool:\n"
        "    print('ready', flush=True)\n"
        f"    list(pool.map(pool_tasks.wait_long, [never] * 40, chunksize={chunksize}))\n"
    ))
    assert result.returncode == -signal.SIGINT, outcome
    assert elapsed < 5, outcome  # the running tasks were interrupted, not waited for
    assert result.stderr.rstrip().endswith("KeyboardInterrupt"), outcome
    assert "Fatal Python error" not in result.stderr, outcome


def test_shutdown_cancelling_stops_a_map_that_is_still_feeding():
    executor = manycore.InterpreterPoolExecutor(1)
    results = executor.map(pool_tasks.sleep_then_return, [0.05] * 400)
    executor.shutdown(wait=True, cancel_futures=True)
    outcomes = []
    with pytest.raises(cf.CancelledError):
        for value in results:
            outcomes.append(value)
    assert len(outcomes) < 400
