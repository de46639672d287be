"""tests/python/test_interpreters.py: the PEP 734 surface of manycore._interpreters: lifecycle, exec, call, concurrency."""

import math
import os
import sys
import textwrap
import threading
import time

import pytest

import manycore
from helpers import remote
from helpers.proc import describe, run_python

TIMEOUT = 10.0  # seconds a rendezvous waits before reporting that the peer never ran


@pytest.fixture
def pipe():
    read_fd, write_fd = os.pipe()
    yield read_fd, write_fd
    os.close(read_fd)
    os.close(write_fd)


def block_in_thread(interp, pipe):
    """Starts a call that blocks interp until release() (returns (handle, release))."""
    started_r, started_w = pipe
    release_r, release_w = os.pipe()
    handle = interp.call_in_thread(remote.signal_then_block, started_w, release_r, TIMEOUT)
    assert remote.wait_for_byte(started_r, TIMEOUT), "the call never started"

    def release():
        os.write(release_w, b"x")
        assert handle.result(timeout=TIMEOUT) is True
        os.close(release_r)
        os.close(release_w)

    return handle, release


# ---- module functions ---------------------------------------------------------------

def test_create_returns_a_new_listed_interpreter(interp, other_interp):
    assert isinstance(interp, manycore.Interpreter)
    assert isinstance(interp.id, int)
    assert interp.id != other_interp.id
    assert interp != manycore.get_main()
    listed = manycore.list_all()
    assert listed[0] == manycore.get_main()
    assert interp in listed and other_interp in listed


def test_get_main_and_get_current_in_main():
    main = manycore.get_main()
    assert main.id == 0
    assert manycore.get_current() == main
    assert main.is_running()  # it is running this test


def test_get_current_inside_interpreter(interp, other_interp):
    assert interp.call(remote.current_interpreter_id) == interp.id
    assert other_interp.call(remote.current_interpreter_id) == other_interp.id


def test_is_shareable():
    # PEP 734's meaning, as the stdlib answers (test_pep734.py has the full list);
    # will_pickle() tells what manycore does with the rest.
    assert manycore.is_shareable(1) and manycore.is_shareable((1, "a"))
    assert not manycore.is_shareable({"a": [1, (2, 3)]})
    assert not manycore.is_shareable(remote.identity)
    assert not manycore.is_shareable(threading.Lock())
    assert manycore.will_pickle({"a": [1, (2, 3)]}) is False
    assert manycore.will_pickle(remote.identity) is False  # by reference, natively
    assert manycore.will_pickle(lambda: 1) is True


# ---- Interpreter handle -------------------------------------------------------------

def test_equality_and_hash_by_id(interp, other_interp):
    same = manycore.Interpreter(interp.id)
    assert same == interp and hash(same) == hash(interp)
    assert interp != other_interp
    assert interp != interp.id  # not equal to its bare id
    assert len({interp, same, other_interp}) == 2


def test_handle_rejects_bad_ids():
    with pytest.raises(TypeError, match="must be an int"):
        manycore.Interpreter("1")
    with pytest.raises(TypeError, match="must be an int"):
        manycore.Interpreter(True)
    with pytest.raises(ValueError, match=">= 0"):
        manycore.Interpreter(-1)


def test_repr_shows_id_and_state(interp, pipe):
    assert repr(interp) == f"<manycore.Interpreter id={interp.id} idle>"
    assert repr(manycore.get_main()) == "<manycore.Interpreter id=0 main>"
    handle, release = block_in_thread(interp, pipe)
    try:
        assert repr(interp) == f"<manycore.Interpreter id={interp.id} running>"
    finally:
        release()


def test_is_running_while_a_call_runs(interp, pipe):
    assert not interp.is_running()
    handle, release = block_in_thread(interp, pipe)
    try:
        assert interp.is_running()
        assert not handle.done()
    finally:
        release()
    assert handle.done()
    assert not interp.is_running()


def test_close_running_interpreter_raises(interp, pipe):
    handle, release = block_in_thread(interp, pipe)
    try:
        with pytest.raises(manycore.InterpreterError, match="running"):
            interp.close()
    finally:
        release()
    assert interp in manycore.list_all()  # the failed close left it alive
    assert interp.call(remote.add, 1, 2) == 3


def test_interrupt_stops_the_running_call_and_the_interpreter_goes_on(interp, pipe):
    started_r, started_w = pipe
    assert interp.interrupt() is False  # nothing runs
    handle = interp.call_in_thread(remote.signal_then_spin, started_w, 600)
    assert remote.wait_for_byte(started_r, TIMEOUT), "the call never started"
    assert interp.interrupt() is True
    with pytest.raises(KeyboardInterrupt) as raised:
        handle.result(timeout=TIMEOUT)
    assert isinstance(raised.value.__cause__, manycore.ExecutionFailed)
    assert "signal_then_spin" in raised.value.__cause__.excinfo.formatted
    assert not interp.is_running()
    assert interp.call(remote.add, 1, 2) == 3  # nothing left pending


@pytest.mark.parametrize("how", ["queue_get", "channel_recv", "select"])
def test_interrupt_reaches_a_call_blocked_in_a_manycore_wait(interp, pipe, how):
    started_r, started_w = pipe
    queue = manycore.create_queue()
    recv, send = manycore.create_channel()
    waitable = {"queue_get": queue, "channel_recv": recv, "select": [queue]}[how]
    handle = interp.call_in_thread(remote.signal_then_wait, started_w, how, waitable)
    assert remote.wait_for_byte(started_r, TIMEOUT), "the call never started"
    time.sleep(0.2)  # well inside the wait by now
    assert interp.interrupt() is True
    with pytest.raises(KeyboardInterrupt):
        handle.result(timeout=TIMEOUT)
    queue.put("after")  # the interrupted wait took nothing, and the interpreter goes on
    assert interp.call(remote.signal_then_wait, started_w, "queue_get", queue) == "after"


def test_interrupt_refuses_the_current_and_closed_interpreters():
    with pytest.raises(manycore.InterpreterError, match="cannot interrupt itself"):
        manycore.get_main().interrupt()
    closed = manycore.create()
    closed.close()
    with pytest.raises(manycore.InterpreterNotFoundError):
        closed.interrupt()


def test_closed_interpreter_raises_not_found():
    interp = manycore.create()
    interp.close()
    assert interp not in manycore.list_all()
    assert repr(interp) == f"<manycore.Interpreter id={interp.id} closed>"
    for use in (interp.close, interp.is_running, lambda: interp.call(remote.identity, 1),
                lambda: interp.exec("pass"), lambda: interp.prepare_main(x=1),
                lambda: interp.call_in_thread(remote.identity, 1)):
        with pytest.raises(manycore.InterpreterNotFoundError, match=str(interp.id)):
            use()
    with pytest.raises(manycore.InterpreterNotFoundError):
        manycore.Interpreter(10**9).call(remote.identity, 1)


def test_main_interpreter_cannot_be_closed():
    with pytest.raises(manycore.InterpreterError, match="main interpreter"):
        manycore.get_main().close()


def test_context_manager_closes():
    with manycore.create() as interp:
        assert interp.call(remote.add, 2, 3) == 5
    assert interp not in manycore.list_all()
    with pytest.raises(manycore.InterpreterNotFoundError):
        interp.call(remote.identity, 1)


def test_context_manager_closes_on_error():
    with pytest.raises(ZeroDivisionError):
        with manycore.create() as interp:
            1 / 0
    assert interp not in manycore.list_all()


def test_interpreter_cannot_close_itself(interp):
    def close_current():
        import manycore

        manycore.get_current().close()

    with pytest.raises(manycore.InterpreterError, match="cannot close itself"):
        interp.call(close_current)
    assert interp.call(remote.add, 1, 1) == 2


# ---- prepare_main and exec ----------------------------------------------------------

def test_prepare_main_binds_names(interp):
    interp.prepare_main({"from_dict": [1, 2]}, from_kwargs="text", overridden=1)
    interp.prepare_main({"overridden": 1}, overridden=2)  # keywords win over the dict
    assert interp.call(remote.main_namespace_value, "from_dict") == [1, 2]
    assert interp.call(remote.main_namespace_value, "from_kwargs") == "text"
    assert interp.call(remote.main_namespace_value, "overridden") == 2
    with pytest.raises(ValueError):  # nothing to bind: PEP 734 raises
        interp.prepare_main()


def test_prepare_main_copies_values(interp):
    items = [1, 2]
    interp.prepare_main(items=items)
    interp.exec("items.append(3)")
    assert items == [1, 2]
    assert interp.call(remote.main_namespace_value, "items") == [1, 2, 3]


def test_prepare_main_rejects_bad_input(interp):
    with pytest.raises(TypeError, match="names must be str"):
        interp.prepare_main({1: "x"})
    with pytest.raises(manycore.NotShareableError):
        interp.prepare_main(lock=threading.Lock())


def test_exec_source_string(interp):
    interp.exec("exec_result = sum(range(10))")
    assert interp.call(remote.main_namespace_value, "exec_result") == 45


def test_exec_runs_in_main_namespace_shared_with_prepare_main(interp):
    interp.prepare_main(base=40)
    interp.exec("import sys\nplus_two = base + 2\nsame_module = sys.modules['__main__'].plus_two")
    assert interp.call(remote.main_namespace_value, "same_module") == 42


def test_exec_code_object(interp):
    code = compile("exec_code_result = 'from a code object'", "<test>", "exec")
    interp.exec(code)
    assert interp.call(remote.main_namespace_value, "exec_code_result") == "from a code object"


def test_exec_function_without_arguments(interp):
    def body():
        import sys

        sys.modules["__main__"].exec_function_result = ("ran", sys.modules["__main__"].__name__)

    interp.exec(body)
    assert interp.call(remote.main_namespace_value, "exec_function_result") == ("ran", "__main__")


def test_exec_rejects_functions_with_arguments_and_closures(interp):
    captured = 1

    def needs_argument(x):
        return x

    def closure():
        return captured

    with pytest.raises(ValueError, match="no arguments"):
        interp.exec(needs_argument)
    with pytest.raises(ValueError, match="closure"):
        interp.exec(closure)
    with pytest.raises(TypeError, match="not int"):
        interp.exec(42)


def test_exec_does_not_return_values(interp):
    assert interp.exec("1 + 1") is None


# ---- call ---------------------------------------------------------------------------

def test_call_returns_result_with_args_and_kwargs(interp):
    assert interp.call(remote.add, 1, 2, scale=10) == 30
    assert interp.call(remote.add, a=1) == 1
    assert interp.call(math.sqrt, 16.0) == 4.0
    assert interp.call(len, "abc") == 3


def test_call_rejects_non_callable(interp):
    with pytest.raises(TypeError, match="expected a callable"):
        interp.call(42)


def test_calls_into_a_busy_interpreter_queue_up(interp, pipe):
    handle, release = block_in_thread(interp, pipe)
    try:
        queued = interp.call_in_thread(remote.add, 20, 22)
        assert not queued.done()
    finally:
        release()
    assert queued.result(timeout=TIMEOUT) == 42


def test_call_from_inside_an_interpreter_into_itself_runs_inline(interp):
    def call_self():
        import manycore
        from helpers import remote

        return manycore.get_current().call(remote.add, 1, 2)

    assert interp.call(call_self) == 3


def test_interpreter_can_call_another(interp, other_interp):
    def call_other(other_id):
        import manycore
        from helpers import remote

        return manycore.Interpreter(other_id).call(remote.current_interpreter_id)

    assert interp.call(call_other, other_interp.id) == other_interp.id


def test_user_modules_import_through_copied_sys_path(tmp_path, monkeypatch):
    (tmp_path / "user_module_for_manycore.py").write_text("def triple(x):\n    return 3 * x\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import user_module_for_manycore

    try:
        with manycore.create() as fresh:
            assert str(tmp_path) in fresh.call(remote.sys_path)
            assert fresh.call(user_module_for_manycore.triple, 14) == 42
    finally:
        del sys.modules["user_module_for_manycore"]


# ---- call_in_thread -----------------------------------------------------------------

def test_call_in_thread_result_join_exception(interp):
    handle = interp.call_in_thread(remote.add, 1, b=2, scale=2)
    assert handle.join(timeout=TIMEOUT) is True
    assert handle.done()
    assert handle.result() == 6
    assert handle.result() == 6  # kept: asking twice is fine
    assert handle.exception() is None
    assert isinstance(handle, manycore.CallHandle)


def test_call_in_thread_join_without_timeout(interp):
    handle = interp.call_in_thread(remote.identity, "x")
    assert handle.join() is True
    assert handle.result() == "x"


def test_call_in_thread_timeouts(interp, pipe):
    handle, release = block_in_thread(interp, pipe)
    try:
        assert handle.join(timeout=0.01) is False
        with pytest.raises(TimeoutError):
            handle.result(timeout=0.01)
        with pytest.raises(TimeoutError):
            handle.exception(timeout=0.01)
        with pytest.raises(ValueError, match="non-negative"):
            handle.result(timeout=math.nan)
        with pytest.raises(ValueError, match="non-negative"):
            handle.join(timeout=-1)
        with pytest.raises(TypeError, match="timeout must be a number"):
            handle.join(timeout="1")
    finally:
        release()


def test_call_in_thread_exception(interp):
    handle = interp.call_in_thread(remote.raise_value_error, "from a thread")
    assert handle.join(timeout=TIMEOUT)
    error = handle.exception()
    assert type(error) is ValueError and str(error) == "from a thread"
    assert isinstance(error.__cause__, manycore.ExecutionFailed)
    with pytest.raises(ValueError, match="from a thread"):
        handle.result()


def test_call_in_thread_arguments_are_checked_at_once(interp):
    with pytest.raises(manycore.NotShareableError):
        interp.call_in_thread(remote.identity, threading.Lock())


# ---- concurrency --------------------------------------------------------------------

def test_calls_from_two_threads_run_at_the_same_time(interp, other_interp):
    """Each call signals, then waits for the other's signal: serialized calls would both time out."""
    a_to_b_r, a_to_b_w = os.pipe()
    b_to_a_r, b_to_a_w = os.pipe()
    results = {}

    def run(name, target, write_fd, read_fd):
        results[name] = target.call(remote.rendezvous, write_fd, read_fd, TIMEOUT)

    threads = [
        threading.Thread(target=run, args=("a", interp, a_to_b_w, b_to_a_r)),
        threading.Thread(target=run, args=("b", other_interp, b_to_a_w, a_to_b_r)),
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        for fd in (a_to_b_r, a_to_b_w, b_to_a_r, b_to_a_w):
            os.close(fd)
    (met_a, start_a, end_a), (met_b, start_b, end_b) = results["a"], results["b"]
    assert met_a and met_b
    assert start_a < end_b and start_b < end_a  # the two intervals overlap


def test_interpreters_have_their_own_gil(interp, other_interp, tmp_path):
    """interp spins in pure Python without giving up its GIL; other_interp can still set the flag."""
    flag = tmp_path / "flag"
    flag.write_bytes(b"\0")
    spinning = interp.call_in_thread(remote.spin_holding_gil, str(flag), TIMEOUT)
    other_interp.call(remote.set_flag, str(flag))
    assert spinning.result(timeout=2 * TIMEOUT) is True


def test_own_gil_control_a_thread_sharing_the_gil_cannot_set_the_flag(interp, tmp_path):
    """Negative control for the test above: the spin really keeps its GIL from a peer that shares it."""

    def spin_against_own_thread(path):
        import threading
        import time

        from helpers import remote

        def set_later():
            time.sleep(0.2)  # let the spin start first
            remote.set_flag(path)

        thread = threading.Thread(target=set_later)
        thread.start()
        try:
            return remote.spin_holding_gil(path, 1.0)
        finally:
            thread.join()

    flag = tmp_path / "flag"
    flag.write_bytes(b"\0")
    assert interp.call(spin_against_own_thread, str(flag)) is False


def test_caller_gil_is_released_while_waiting(interp, pipe):
    """A Python thread of the main interpreter must run to release the call the main thread waits on."""
    release_r, release_w = pipe
    ran_python = []

    def releaser():
        ran_python.append(sum(range(1000)))  # needs the main GIL
        os.write(release_w, b"x")

    thread = threading.Thread(target=releaser)
    thread.start()
    try:
        assert interp.call(remote.wait_for_byte, release_r, TIMEOUT) is True
    finally:
        thread.join()
    assert ran_python == [499500]


def test_ctrl_c_interrupts_a_blocked_call_promptly():
    result = run_python("""
        import os, signal, threading, time
        import manycore
        from helpers import remote

        interp = manycore.create()
        release_r, release_w = os.pipe()
        sent = []

        def interrupt_soon():
            time.sleep(0.3)
            sent.append(time.monotonic())
            os.kill(os.getpid(), signal.SIGINT)

        threading.Thread(target=interrupt_soon).start()
        try:
            interp.call(remote.wait_for_byte, release_r, 30.0)
        except KeyboardInterrupt:
            print("interrupted after", round(time.monotonic() - sent[0], 3))
        else:
            print("not interrupted")
        os.write(release_w, b"x")  # let the call end so the exit hook can close the interpreter
    """, timeout=60)
    assert result.returncode == 0 and result.stderr == "", describe(result)
    assert result.stdout.startswith("interrupted after"), describe(result)
    # The call would block for 30 s; the wait checks for signals every 50 ms.
    assert float(result.stdout.split()[-1]) < 5.0, describe(result)


def test_uncaught_ctrl_c_during_call_exits_cleanly():
    result = run_python("""
        import os, signal, threading, time
        import manycore
        from helpers import remote

        interp = manycore.create()

        def interrupt_soon():
            time.sleep(0.3)
            os.kill(os.getpid(), signal.SIGINT)

        threading.Thread(target=interrupt_soon).start()
        interp.call(time.sleep, 1.5)  # still running at exit: the exit hook waits for it
    """, timeout=60)
    assert result.returncode == -2, describe(result)  # died of the re-raised SIGINT, as CPython does
    assert "KeyboardInterrupt" in result.stderr, describe(result)
    assert "Fatal Python error" not in result.stderr, describe(result)


def test_call_in_thread_from_many_threads_into_one_interpreter(interp):
    """Calls from several Python threads into one interpreter all complete (FIFO, one at a time)."""
    results = [None] * 8

    def run(index):
        results[index] = interp.call(remote.add, index, 100)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [i + 100 for i in range(8)]


def test_create_from_inside_an_interpreter(interp):
    def create_nested():
        import manycore
        from helpers import remote

        nested = manycore.create()
        try:
            return nested.id, nested.call(remote.current_interpreter_id)
        finally:
            nested.close()

    nested_id, seen = interp.call(create_nested)
    assert nested_id == seen and nested_id not in (interp.id, 0)
    assert nested_id not in [listed.id for listed in manycore.list_all()]
    with pytest.raises(manycore.InterpreterNotFoundError):
        manycore.Interpreter(nested_id)


def test_exec_defines_functions_in_main(interp):
    interp.exec(textwrap.dedent("""
        def helper():
            return 'defined by exec'
        defined = helper()
    """))
    assert interp.call(remote.main_namespace_value, "defined") == "defined by exec"


def test_call_in_thread_handle_waited_from_two_threads(interp):
    """Both waiters get the outcome (the result used to be taken twice: SystemError)."""
    from helpers import queue_workers

    gate = manycore.create_queue()
    handle = interp.call_in_thread(queue_workers.get_items, gate, 1)
    seen = []
    waiter = threading.Thread(target=lambda: seen.append(handle.exception(timeout=10)))
    waiter.start()
    gate.put("go")
    assert handle.result(timeout=10) == ["go"]
    waiter.join(10)
    assert seen == [None]


def test_a_call_returns_before_its_arguments_are_freed():
    # The worker frees a call's arguments and result once the caller has the result:
    # the caller decodes while the worker frees (docs/architecture.md).
    from helpers import pool_tasks

    interp = manycore.create()
    try:
        gate, record = manycore.Event(), manycore.create_queue()
        interp.call(pool_tasks.set_free_gate, gate, record)
        assert interp.call(pool_tasks.return_one, pool_tasks.WaitsOnFree()) == 1
        gate.set()
        assert record.get(timeout=30) is True
    finally:
        interp.close()


def test_core_call_takes_its_arguments_by_position_and_by_keyword(interp):
    # Interpreter.call's four positional arguments take a fast path; every other form
    # goes through the argument parser, with its checks.
    from manycore import _core

    assert _core.call(interp.id, divmod, (7, 2), None) == (3, 1)
    assert _core.call(interp.id, divmod, (7, 2), None, True) == (3, 1)
    assert _core.call(interp.id, sorted, ([3, 1, 2],), {"reverse": True}) == [3, 2, 1]
    assert _core.call(id=interp.id, callable=len, args=("ab",)) == 2
    assert _core.call(interp.id, len, ("abc",), raise_original=False) == 3
    with pytest.raises(TypeError, match="missing required argument 'args'"):
        _core.call(interp.id, len)
    with pytest.raises(TypeError, match="cannot be interpreted as an integer"):
        _core.call("1", len, (), None)
    with pytest.raises(TypeError, match="expected a callable, got int"):
        _core.call(interp.id, 5, (), None)
    with pytest.raises(manycore.InterpreterNotFoundError):
        _core.call(10**9, len, ((),), None)
    with pytest.raises(TypeError):
        _core.call(interp.id, len, ((),), None, True, "extra")
