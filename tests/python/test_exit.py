"""tests/python/test_exit.py: interpreters still alive when the process exits are closed without a fatal error, and Ctrl-C ends what still runs."""

import signal
import textwrap

import pytest

from helpers.interrupt import interrupt_while_waiting
from helpers.proc import assert_clean_exit, describe, run_python


def test_open_interpreters_are_closed_at_exit():
    result = run_python("""
        import manycore
        from helpers import remote

        interps = [manycore.create() for _ in range(3)]
        print([interp.call(remote.add, interp.id, 0) == interp.id for interp in interps])
    """)
    assert_clean_exit(result)
    assert result.stdout == "[True, True, True]\n"


def test_exit_hook_closes_every_interpreter():
    result = run_python("""
        import atexit

        # atexit runs hooks last-registered first: this one, registered before manycore
        # registers its hook (at import), runs after that hook.
        atexit.register(lambda: print("after manycore's hook:", manycore.list_all()))

        import manycore

        atexit.register(lambda: print("before manycore's hook:", len(manycore.list_all())))
        interps = [manycore.create() for _ in range(2)]
    """)
    assert_clean_exit(result)
    assert result.stdout == (
        "before manycore's hook: 3\n"
        "after manycore's hook: [<manycore.Interpreter id=0 main>]\n"
    )


def test_call_still_running_in_call_in_thread_at_exit(tmp_path):
    done = tmp_path / "done"
    result = run_python(f"""
        import os
        import manycore
        from helpers import remote

        def signal_sleep_mark(started_fd, path):
            import os, time
            os.write(started_fd, b"x")
            time.sleep(0.5)
            with open(path, "w") as marker:
                marker.write("finished")

        started_r, started_w = os.pipe()
        interp = manycore.create()
        handle = interp.call_in_thread(signal_sleep_mark, started_w, {str(done)!r})
        assert remote.wait_for_byte(started_r, 10.0)
        print("running" if interp.is_running() and not handle.done() else "not running")
    """)
    assert_clean_exit(result)
    assert result.stdout == "running\n"
    assert done.read_text() == "finished"  # the exit hook waited for the running call


def test_calls_queued_behind_a_running_call_at_exit_fail_cleanly():
    """The exit hook (_core.close_all) waits for the running call and fails calls queued behind it."""
    result = run_python("""
        import os, threading, time
        import manycore
        from helpers import remote

        started_r, started_w = os.pipe()
        release_r, release_w = os.pipe()
        interp = manycore.create()
        running = interp.call_in_thread(remote.signal_then_block, started_w, release_r, 10.0)
        assert remote.wait_for_byte(started_r, 10.0)
        queued = interp.call_in_thread(remote.add, 1, 2)

        def release_once_dropped():
            deadline = time.monotonic() + 10
            while not queued.done() and time.monotonic() < deadline:
                time.sleep(0.005)
            os.write(release_w, b"x")  # only now may the running call end

        threading.Thread(target=release_once_dropped).start()
        manycore._core.close_all()  # what the exit hook runs
        print(running.result(timeout=10), type(queued.exception(timeout=10)).__name__, manycore.list_all())
    """)
    assert_clean_exit(result)
    assert result.stdout == "True InterpreterNotFoundError [<manycore.Interpreter id=0 main>]\n"


def test_sys_exit_with_open_interpreters_keeps_the_exit_code():
    result = run_python("""
        import sys
        import manycore

        interp = manycore.create()
        interp.call(len, "x")
        sys.exit(3)
    """)
    assert result.returncode == 3 and result.stderr == "", describe(result)


def test_uncaught_exception_with_open_interpreters():
    result = run_python("""
        import manycore

        interp = manycore.create()
        raise RuntimeError("boom")
    """)
    assert result.returncode == 1, describe(result)
    assert result.stderr.rstrip().endswith("RuntimeError: boom"), describe(result)
    assert "Fatal Python error" not in result.stderr


def test_interpreter_created_inside_an_interpreter_is_closed_at_exit():
    result = run_python("""
        import manycore

        def create_nested():
            import manycore
            return manycore.create().id

        outer = manycore.create()
        nested_id = outer.call(create_nested)
        print(len(manycore.list_all()), manycore.Interpreter(nested_id).call(len, "ab"))
    """)
    assert_clean_exit(result)
    assert result.stdout == "3 2\n"


def test_thread_started_inside_an_interpreter_is_joined_when_it_closes(tmp_path):
    done = tmp_path / "done"
    result = run_python(f"""
        import manycore

        def start_thread(path):
            import threading, time

            def work():
                time.sleep(0.3)
                with open(path, "w") as marker:
                    marker.write("thread finished")

            threading.Thread(target=work).start()

        interp = manycore.create()
        interp.call(start_thread, {str(done)!r})
        interp.close()
        print("closed")
    """)
    assert_clean_exit(result)
    assert done.read_text() == "thread finished"


@pytest.mark.parametrize("how", ["close", "exit"])
def test_many_interpreters_at_exit(how):
    result = run_python(f"""
        import manycore

        interps = [manycore.create() for _ in range(6)]
        handles = [interp.call_in_thread(sum, range(100_000)) for interp in interps]
        assert [handle.result(timeout=30) for handle in handles] == [4999950000] * 6
        if {how == "close"}:
            for interp in interps:
                interp.close()
            assert manycore.list_all() == [manycore.get_main()]
    """)
    assert_clean_exit(result)


# ---- Ctrl-C while the exit hook waits for calls that do not end ----------------------

_RUNS_FOREVER = {
    "spinning call": """
        handle = manycore.create().call_in_thread(remote.signal_then_spin, started_w, 600)
    """,
    "call blocked in a queue get": """
        queue = manycore.create_queue()
        handle = manycore.create().call_in_thread(remote.signal_then_wait, started_w, "queue_get", queue)
    """,
    "spinning executor task": """
        executor = manycore.InterpreterPoolExecutor(1)
        future = executor.submit(remote.signal_then_spin, started_w, 600)
    """,
    "executor task blocked in a channel recv": """
        executor = manycore.InterpreterPoolExecutor(1)
        recv, send = manycore.create_channel()
        future = executor.submit(remote.signal_then_wait, started_w, "channel_recv", recv)
    """,
}


@pytest.mark.parametrize("what", list(_RUNS_FOREVER))
def test_ctrl_c_at_exit_interrupts_what_still_runs(tmp_path, what):
    """At exit the program waits for running calls (as for threads); Ctrl-C then stops them."""
    source = textwrap.dedent("""
        import os
        import manycore
        from helpers import remote

        started_r, started_w = os.pipe()
    """) + textwrap.dedent(_RUNS_FOREVER[what]) + textwrap.dedent("""
        assert remote.wait_for_byte(started_r, 10.0)
        print("ready", flush=True)
    """)
    result, elapsed, description = interrupt_while_waiting(tmp_path / "forever.py", source, settle=0.5)
    # The process dies of SIGINT once finalized, as after an unhandled KeyboardInterrupt.
    assert result.returncode == -signal.SIGINT, description
    assert result.stderr == (
        "manycore: KeyboardInterrupt at exit: interrupting the calls still running in manycore interpreters\n"
    ), description
    assert elapsed < 10, description


def test_pool_at_exit_stops_a_task_blocked_in_a_queue_get():
    """Pool's exit is terminate() (multiprocessing's workers are daemons): no Ctrl-C needed."""
    result = run_python("""
        import os
        import manycore
        from helpers import remote

        started_r, started_w = os.pipe()
        pool = manycore.Pool(1)
        queue = manycore.create_queue()
        pending = pool.apply_async(remote.signal_then_wait, (started_w, "queue_get", queue))
        assert remote.wait_for_byte(started_r, 10.0)
        print("waiting")
    """, timeout=30)
    assert_clean_exit(result)
    assert result.stdout == "waiting\n"
