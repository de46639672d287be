"""tests/python/test_pool.py: manycore.Pool, the multiprocessing.Pool-compatible pool of worker interpreters."""

import concurrent.futures
import multiprocessing
import os
import signal
import threading
import time

import pytest

import manycore
from helpers import pool_tasks
from helpers.interrupt import interrupt_while_waiting
from helpers.proc import assert_clean_exit, run_python

TIMEOUT = 10.0


@pytest.fixture(scope="module")
def pool():
    """One 2-worker Pool for the tests that leave it running and idle."""
    with manycore.Pool(2) as shared:
        yield shared


def wait_until(predicate, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.002)
    return True


# ---- construction ----------------------------------------------------------------------


def test_processes_defaults_to_usable_cores():
    expected = os.process_cpu_count() if hasattr(os, "process_cpu_count") else len(os.sched_getaffinity(0))
    with manycore.Pool() as default:
        assert default._processes == expected
        assert len(set(default.map(pool_tasks.interpreter_id_after, [0.02] * 8, chunksize=1))) <= expected


def test_processes_must_be_positive():
    with pytest.raises(ValueError, match="at least 1"):
        manycore.Pool(0)


def test_maxtasksperchild_is_refused_with_a_reason():
    with pytest.raises(ValueError, match="maxtasksperchild"):
        manycore.Pool(1, maxtasksperchild=10)


def test_context_is_accepted():
    with manycore.Pool(1, context=multiprocessing.get_context("spawn")) as with_context:
        assert with_context.apply(pool_tasks.square, (3,)) == 9


def test_initializer_and_initargs():
    with manycore.Pool(2, initializer=pool_tasks.initialize, initargs=("set",)) as initialized:
        assert {tuple(x) for x in initialized.map(pool_tasks.initialized_for, range(8), chunksize=1)} == {("set",)}


def test_failing_initializer_raises_broken_interpreter_pool():
    with manycore.Pool(1, initializer=pool_tasks.failing_initializer) as broken:
        with pytest.raises(manycore.BrokenInterpreterPool, match="initializer failed on purpose"):
            broken.apply(pool_tasks.square, (2,))
        with pytest.raises(manycore.BrokenInterpreterPool):
            broken.map(pool_tasks.square, [1, 2])


# ---- apply -----------------------------------------------------------------------------


def test_apply(pool):
    assert pool.apply(pool_tasks.add, (1, 2), {"scale": 3}) == 9


def test_apply_raises_the_original_exception(pool):
    with pytest.raises(KeyError) as caught:
        pool.apply(pool_tasks.raise_key_error, ("k",))
    assert isinstance(caught.value.__cause__, manycore.ExecutionFailed)


def test_apply_async_result_api(pool, tmp_path):
    release = tmp_path / "release"
    result = pool.apply_async(pool_tasks.wait_for_file, (str(release), TIMEOUT))
    assert not result.ready()
    with pytest.raises(ValueError, match="not ready"):
        result.successful()
    with pytest.raises(multiprocessing.TimeoutError):
        result.get(timeout=0.05)
    result.wait(0.01)
    release.touch()
    assert result.get(TIMEOUT) is True
    assert result.ready() and result.successful()


def test_apply_async_callbacks(pool):
    values, errors = [], []
    ok = pool.apply_async(pool_tasks.square, (5,), callback=values.append, error_callback=errors.append)
    bad = pool.apply_async(pool_tasks.raise_key_error, ("x",), callback=values.append, error_callback=errors.append)
    assert ok.get(TIMEOUT) == 25
    with pytest.raises(KeyError):
        bad.get(TIMEOUT)
    assert values == [25]
    assert len(errors) == 1 and isinstance(errors[0], KeyError)
    assert not bad.successful()


def test_apply_async_callback_error_does_not_stop_delivery(pool, capsys):
    def broken_callback(value):
        raise RuntimeError("callback failed")

    pool.apply_async(pool_tasks.square, (2,), callback=broken_callback).wait(TIMEOUT)
    assert pool.apply_async(pool_tasks.square, (3,)).get(TIMEOUT) == 9
    assert "callback failed" in capsys.readouterr().err


# ---- map and starmap -------------------------------------------------------------------


def test_map(pool):
    assert pool.map(pool_tasks.square, range(50)) == [x * x for x in range(50)]


@pytest.mark.parametrize("chunksize", [1, 3, 1000])
def test_map_chunksize(pool, chunksize):
    assert pool.map(pool_tasks.plus_one, range(100), chunksize) == list(range(1, 101))


def test_map_of_a_generator_and_of_nothing(pool):
    assert pool.map(pool_tasks.square, (x for x in range(5))) == [0, 1, 4, 9, 16]
    assert pool.map(pool_tasks.square, []) == []


def test_map_raises_the_first_failure(pool):
    with pytest.raises(ValueError, match="bad item 3"):
        pool.starmap(pool_tasks.fail_on, [(3, x) for x in range(10)])


def test_starmap(pool):
    assert pool.starmap(pool_tasks.add, [(1, 2), (3, 4)]) == [3, 7]


def test_map_async_and_starmap_async(pool):
    got = []
    result = pool.map_async(pool_tasks.square, range(10), callback=got.append)
    assert result.get(TIMEOUT) == [x * x for x in range(10)]
    assert got == [[x * x for x in range(10)]]
    assert pool.starmap_async(pool_tasks.add, [(1, 1), (2, 2)]).get(TIMEOUT) == [2, 4]


def test_map_async_error_callback(pool):
    errors = []
    result = pool.map_async(pool_tasks.raise_key_error, [1, 2], error_callback=errors.append)
    with pytest.raises(KeyError):
        result.get(TIMEOUT)
    assert not result.successful()
    assert len(errors) == 1 and isinstance(errors[0], KeyError)


def test_lambdas_and_closures(pool):
    base = 7
    assert pool.map(lambda x: x + base, [1, 2]) == [8, 9]
    assert pool.apply(lambda: base * 2) == 14


# ---- imap ------------------------------------------------------------------------------


def test_imap_in_order(pool):
    assert list(pool.imap(pool_tasks.square, range(300))) == [x * x for x in range(300)]


def test_imap_chunksize(pool):
    assert list(pool.imap(pool_tasks.plus_one, range(1000), chunksize=50)) == list(range(1, 1001))


def test_imap_unordered_has_every_result(pool):
    assert sorted(pool.imap_unordered(pool_tasks.square, range(300), chunksize=4)) == [x * x for x in range(300)]


def test_imap_unordered_yields_in_completion_order(pool):
    assert list(pool.imap_unordered(pool_tasks.sleep_echo, [0.4, 0.0], chunksize=1)) == [0.0, 0.4]


def test_imap_streams_results_as_they_complete(pool):
    results = pool.imap(pool_tasks.sleep_echo, [0.0, 0.0, 1.0], chunksize=1)
    start = time.monotonic()
    assert next(results) == 0.0 and next(results) == 0.0
    assert time.monotonic() - start < 0.9  # before the slow last task is done
    assert list(results) == [1.0]


def test_imap_endless_input_is_consumed_lazily(pool):
    import itertools

    results = pool.imap(pool_tasks.square, itertools.count(), chunksize=2)
    assert [next(results) for _ in range(500)] == [x * x for x in range(500)]


def test_imap_next_timeout(pool):
    results = pool.imap(pool_tasks.sleep_then_return, [1.0], chunksize=1)
    with pytest.raises(multiprocessing.TimeoutError):
        results.next(timeout=0.05)
    assert results.next(timeout=TIMEOUT) is None
    with pytest.raises(StopIteration):
        results.next()


def test_imap_continues_after_a_failure(pool):
    results = pool.imap(pool_tasks.fail_on_two, [1, 2, 3], chunksize=1)
    assert next(results) == 1
    with pytest.raises(ValueError, match="bad item 2"):
        next(results)
    assert next(results) == 3
    with pytest.raises(StopIteration):
        next(results)
    unordered = pool.imap_unordered(pool_tasks.fail_on_two, [1, 2, 3])
    outcomes = []
    for _ in range(3):
        try:
            outcomes.append(next(unordered))
        except ValueError:
            outcomes.append("failed")
    assert sorted(map(str, outcomes)) == ["1", "3", "failed"]


def test_imap_chunksize_must_be_positive(pool):
    with pytest.raises(ValueError, match="chunksize must be an int >= 1"):
        pool.imap(pool_tasks.square, [1], chunksize=0)


# ---- life cycle ------------------------------------------------------------------------


def test_close_then_join_finishes_submitted_work():
    finished = manycore.Pool(2)
    result = finished.map_async(pool_tasks.sleep_then_return, [0.02] * 6, chunksize=1)
    finished.close()
    with pytest.raises(ValueError, match="Pool not running"):
        finished.apply(pool_tasks.square, (1,))
    finished.join()
    assert result.get(0) == [None] * 6


def test_join_while_running_raises():
    running = manycore.Pool(1)
    with pytest.raises(ValueError, match="Pool is still running"):
        running.join()
    running.terminate()


def test_terminate_interrupts_running_tasks_and_drops_queued_ones(tmp_path):
    terminated = manycore.Pool(1)
    started, never = tmp_path / "started", tmp_path / "never"
    # 600 s: only the interrupt ends it before the test's own timeout.
    running = terminated.apply_async(pool_tasks.touch_then_wait, (str(started), str(never), 600))
    assert pool_tasks.wait_for_file(str(started), TIMEOUT)
    queued = [terminated.apply_async(pool_tasks.square, (i,)) for i in range(5)]
    begun = time.monotonic()
    terminated.terminate()
    assert time.monotonic() - begun < TIMEOUT
    with pytest.raises(concurrent.futures.CancelledError, match=r"stopped by Pool.terminate\(\)"):
        running.get(0)
    assert running.ready() and not running.successful()
    for result in queued:
        with pytest.raises(concurrent.futures.CancelledError, match="cancelled"):
            result.get(0)


def test_terminate_keeps_the_result_of_a_task_that_handles_the_interrupt(tmp_path):
    terminated = manycore.Pool(1)
    started = tmp_path / "started"
    running = terminated.apply_async(pool_tasks.wait_catching_interrupt, (str(started), 600))
    assert pool_tasks.wait_for_file(str(started), TIMEOUT)
    terminated.terminate()
    assert running.get(0) == "interrupted"


def test_context_manager_terminates():
    with manycore.Pool(1) as scoped:
        assert scoped.apply(pool_tasks.square, (4,)) == 16
    with pytest.raises(ValueError, match="Pool not running"):
        scoped.map(pool_tasks.square, [1])


def test_program_switches_from_multiprocessing_by_changing_the_import(tmp_path):
    program = """
        from {module} import Pool

        def cube(x):
            return x ** 3

        if __name__ == "__main__":
            with Pool(2) as pool:
                print(pool.map(cube, range(5)))
                print(sorted(pool.imap_unordered(cube, range(3))))
                print(pool.apply_async(cube, (4,)).get(10))
                print(pool.starmap(pow, [(2, 5)]))
    """
    outputs = []
    for module in ("multiprocessing", "manycore"):
        result = run_python(program.format(module=module), script_path=tmp_path / f"with_{module}.py",
                            cwd=tmp_path)
        assert_clean_exit(result)
        outputs.append(result.stdout)
    assert outputs[0] == outputs[1] == "[0, 1, 8, 27, 64]\n[0, 1, 8]\n64\n[32]\n"


def test_workers_importing_datetime_end_cleanly(tmp_path):
    # DESIGN.md section 3: `import datetime` in several subinterpreters, then their end,
    # aborted 3.13.0 and crashed 3.12.1 (manycore._compat works around both).
    result = run_python("""
        import manycore

        def iso_day(day):
            import datetime
            return datetime.date(2024, 1, day).isoformat()

        if __name__ == "__main__":
            for _ in range(2):
                with manycore.Pool(2) as pool:
                    print(pool.map(iso_day, [1, 2, 3, 4], chunksize=1))
    """, script_path=tmp_path / "dates.py", cwd=tmp_path)
    assert_clean_exit(result)
    days = "['2024-01-01', '2024-01-02', '2024-01-03', '2024-01-04']"
    assert result.stdout == f"{days}\n{days}\n"


def test_exit_with_work_in_flight_is_clean():
    result = run_python("""
        import manycore
        from helpers import pool_tasks

        pool = manycore.Pool(2)
        pending = pool.map_async(pool_tasks.sleep_then_return, [0.2] * 40, chunksize=1)
        stream = pool.imap(pool_tasks.sleep_then_return, [0.2] * 40)
        asynchronous = [pool.apply_async(pool_tasks.sleep_then_return, (5,)) for _ in range(10)]
        print("exiting")
    """, timeout=30)
    assert_clean_exit(result)
    assert result.stdout == "exiting\n"


@pytest.mark.parametrize("call", [
    "pool.map(pool_tasks.wait_long, [never] * 20, chunksize=1)",
    "list(pool.imap(pool_tasks.wait_long, [never] * 20))",
    "list(pool.imap_unordered(pool_tasks.wait_long, [never] * 20))",
    "pool.map_async(pool_tasks.wait_long, [never] * 20, chunksize=1).get()",
])
def test_ctrl_c_while_waiting_on_map_stops_cleanly(tmp_path, call):
    # Every task would wait 600 s for a file that never appears: the program ends at
    # once only because Ctrl-C interrupts the running tasks too (as SIGINT reaches the
    # workers of a multiprocessing.Pool).
    result, elapsed, outcome = interrupt_while_waiting(tmp_path / "interrupted.py", (
        "import manycore\n"
        "from helpers import pool_tasks\n"
        f"never = {str(tmp_path / 'never')!r}\n"
        "with manycore.Pool(2) as pool:\n"
        "    print('ready', flush=True)\n"
        f"    {call}\n"
    ))
    assert result.returncode == -signal.SIGINT, outcome
    assert elapsed < 5, outcome  # the running tasks were interrupted, not waited for
    assert result.stderr.rstrip().endswith("KeyboardInterrupt"), outcome
    assert "Fatal Python error" not in result.stderr, outcome


def test_a_task_result_arrives_before_its_last_argument_is_freed():
    gate, record = manycore.Event(), manycore.create_queue()
    with manycore.Pool(1, initializer=pool_tasks.set_free_gate, initargs=(gate, record)) as pool:
        assert pool.map(pool_tasks.return_one, [pool_tasks.WaitsOnFree()], chunksize=1) == [1]
        gate.set()
        assert record.get(timeout=30) is True
