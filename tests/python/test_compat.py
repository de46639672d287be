"""tests/python/test_compat.py: the CPython bugs of DESIGN.md section 3 (docs/compat.md), each in a child process.

Every scenario runs twice where the bug exists on this Python: with manycore's
work-around (must exit cleanly) and with it switched off (must crash), which shows the
work-around is what makes the first pass. Switching it off = marking _compat's
pre-import as done before the first interpreter starts.
"""

import sys

import pytest

from manycore import _compat
from helpers.proc import assert_clean_exit, describe, run_python

PY312_BEFORE_FIX = (3, 12) <= sys.version_info[:3] < (3, 12, 4)  # gh-119213 fixed in 3.12.4
PY3130 = sys.version_info[:3] == (3, 13, 0)
ON_312 = sys.version_info[:2] == (3, 12)
ON_313 = sys.version_info[:2] == (3, 13)


def import_then_close(modules, *, interpreters=2, workaround=True, leave_open=False):
    """Child process: imports `modules` in each of `interpreters` fresh interpreters, closes them, exits."""
    return run_python(f"""
        import manycore
        from manycore import _compat

        if not {workaround}:
            _compat._done = True  # skip the pre-import in the main interpreter
        interps = [manycore.create() for _ in range({interpreters})]
        for interp in interps:
            for name in {list(modules)!r}:
                interp.exec("import " + name)
        if not {leave_open}:
            for interp in interps:
                interp.close()
        print("closed")
    """, timeout=60)


def assert_closed_cleanly(result):
    assert_clean_exit(result)
    assert result.stdout == "closed\n"


def assert_crashed(result):
    """Killed by a signal (abort, segfault): the CPython bug shows."""
    assert result.returncode < 0 or result.returncode == 134, describe(result)


def test_preimports_for_this_python():
    if ON_312:
        assert _compat.preimports() == _compat.PREIMPORT_312
        assert {"hashlib", "ssl", "asyncio", "datetime", "importlib.metadata"} <= set(_compat.preimports())
    elif ON_313:
        assert _compat.preimports() == ("_datetime",)


def test_preimports_happen_before_the_first_interpreter():
    result = run_python("""
        import sys
        import manycore
        from manycore import _compat

        assert not _compat._done
        manycore.create()
        print(_compat._done, [name for name in _compat.preimports() if name not in sys.modules])
    """)
    assert_clean_exit(result)
    assert result.stdout == "True []\n"


# ---- hashlib / ssl / asyncio in a subinterpreter, then closing it (3.12 < 3.12.4: gh-119213) ---

GH119213_MODULES = ["hashlib", "ssl", "asyncio"]


@pytest.mark.parametrize("module", GH119213_MODULES)
def test_import_then_close_exits_cleanly(module):
    assert_closed_cleanly(import_then_close([module], interpreters=1))


@pytest.mark.skipif(not PY312_BEFORE_FIX, reason="gh-119213 is fixed in 3.12.4")
def test_312_control_without_the_preimport_hashlib_aborts():
    result = import_then_close(["hashlib"], interpreters=1, workaround=False)
    assert_crashed(result)
    # glibc names the invalid free by where the pointer lands: free() or munmap_chunk().
    assert "free()" in result.stderr or "munmap_chunk()" in result.stderr, describe(result)


# ---- modules that crash 3.12 when imported in two interpreters (gh-110415 family) ---------

TWO_INTERPRETER_MODULES = [
    "datetime", "decimal", "sqlite3", "statistics", "http.client", "urllib.request", "importlib.metadata",
]


@pytest.mark.parametrize("module", TWO_INTERPRETER_MODULES)
def test_import_in_two_interpreters_does_not_crash(module):
    assert_closed_cleanly(import_then_close([module], interpreters=2))


@pytest.mark.skipif(not ON_312, reason="CPython 3.12 bug")
@pytest.mark.parametrize("module", ["datetime", "importlib.metadata"])
def test_312_control_without_the_preimport_two_interpreters_crash(module):
    result = import_then_close([module], interpreters=2, workaround=False)
    assert_crashed(result)


# ---- 3.13.0: datetime in several interpreters, then closing them -------------------------

@pytest.mark.parametrize("module", ["datetime", "_strptime", "zoneinfo"])
def test_datetime_in_several_interpreters_then_close(module):
    if ON_312 and module == "zoneinfo":
        pytest.skip("3.12 refuses _datetime in isolated interpreters, so zoneinfo cannot import: "
                    "test_312_zoneinfo_fails_cleanly")
    assert_closed_cleanly(import_then_close([module], interpreters=3))


@pytest.mark.skipif(not ON_312, reason="CPython 3.12 limitation")
def test_312_zoneinfo_fails_cleanly():
    result = run_python("""
        import manycore
        interp = manycore.create()
        try:
            interp.exec("import zoneinfo")
        except manycore.ExecutionFailed as error:
            print(error.excinfo.type.__name__, error.excinfo.msg)
        print(interp.call(len, "still usable"))
    """)
    assert_clean_exit(result)
    assert result.stdout == "AttributeError module 'datetime' has no attribute 'datetime_CAPI'\n12\n"


def test_datetime_in_several_interpreters_left_open_at_exit():
    result = import_then_close(["datetime"], interpreters=3, leave_open=True)
    assert_clean_exit(result)


@pytest.mark.skipif(not PY3130, reason="measured on 3.13.0")
def test_3130_control_without_the_preimport_datetime_aborts():
    result = import_then_close(["datetime"], interpreters=2, workaround=False)
    assert_crashed(result)
    assert result.stdout == "", describe(result)  # it dies closing the second interpreter


def test_datetime_works_in_interpreters():
    result = run_python("""
        import manycore
        interps = [manycore.create() for _ in range(2)]
        def today_year():
            import datetime
            return datetime.date(2024, 5, 17).isoformat(), datetime.datetime.fromtimestamp(0, datetime.timezone.utc).year
        print([interp.call(today_year) for interp in interps])
    """)
    assert_clean_exit(result)
    assert result.stdout == "[('2024-05-17', 1970), ('2024-05-17', 1970)]\n"


# ---- gh-119213 beyond imports: keyword calls to extension functions ----------------------

def test_value_pickled_first_in_a_worker_exits_cleanly():
    """manycore's own pickling in a worker must not trip gh-119213 (it passes the protocol by position)."""
    result = run_python("""
        import manycore
        from helpers import remote

        interp = manycore.create()
        counter = interp.call(remote.make_counter, 3)  # pickled in the worker, before the main pickled anything
        assert type(counter) is remote.Counter and counter.value == 3
        interp.close()
        print("ok")
    """)
    assert_clean_exit(result)
    assert result.stdout == "ok\n"


@pytest.mark.skipif(not PY312_BEFORE_FIX, reason="gh-119213 is fixed in 3.12.4")
def test_312_control_first_keyword_call_in_a_worker_aborts_at_exit():
    """The documented hazard for user code (docs/compat.md): not something manycore can pre-import away."""
    result = run_python("""
        import manycore
        interp = manycore.create()
        interp.exec("import _struct; _struct.unpack_from('b', b'x', offset=0)")
        interp.close()
        print("closed")
    """)
    assert result.stdout == "closed\n", describe(result)  # the process dies after, freeing the keyword tuple
    assert_crashed(result)


@pytest.mark.skipif(not PY312_BEFORE_FIX, reason="gh-119213 is fixed in 3.12.4")
def test_312_same_keyword_call_made_first_in_main_exits_cleanly():
    result = run_python("""
        import _struct
        import manycore

        _struct.unpack_from('b', b'x', offset=0)  # the keyword tuple now belongs to the main interpreter
        interp = manycore.create()
        interp.exec("import _struct; _struct.unpack_from('b', b'x', offset=0)")
        interp.close()
    """)
    assert_clean_exit(result)


# ---- os.fork() with live subinterpreters (gh-101437) ---------------------------------

def test_fork_is_refused_while_interpreters_exist_and_allowed_otherwise():
    result = run_python("""
        import os, warnings
        import manycore

        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork of a multi-threaded process

        def fork_and_reap():
            pid = os.fork()
            if pid == 0:
                os._exit(5)
            return os.waitpid(pid, 0)[1] >> 8

        print("before", fork_and_reap())
        interp = manycore.create()
        pool = manycore.Pool(1)
        for closing in ("interp", "pool"):
            try:
                os.fork()
            except manycore.InterpreterError as error:
                print("refused", manycore._core.live_count(), "gh-101437" in str(error), "'spawn'" in str(error))
            if closing == "interp":
                interp.close()
            else:
                pool.terminate()
        print("after", fork_and_reap())
    """)
    assert_clean_exit(result)
    assert result.stdout == "before 5\nrefused 2 True True\nrefused 1 True True\nafter 5\n"


def test_fork_multiprocessing_pool_is_refused_and_spawn_pools_work_beside_interpreters(tmp_path):
    script = tmp_path / "mp_beside_manycore.py"
    result = run_python("""
        import multiprocessing
        import manycore
        from helpers import remote

        if __name__ == "__main__":
            interp = manycore.create()
            try:
                multiprocessing.get_context("fork").Pool(1)
            except manycore.InterpreterError:
                print("fork pool refused")
            for method in ("spawn", "forkserver"):
                with multiprocessing.get_context(method).Pool(1) as pool:
                    print(method, pool.apply(remote.add, (2, 3)), interp.call(remote.add, 1, 1))
    """, script_path=script, cwd=tmp_path, timeout=120)
    assert_clean_exit(result)
    assert result.stdout == "fork pool refused\nspawn 5 2\nforkserver 5 2\n"


def test_control_fork_with_live_interpreters_breaks_the_child_without_the_guard():
    result = run_python("""
        import os, signal, time, warnings
        import manycore

        warnings.simplefilter("ignore", DeprecationWarning)
        os.fork = os.fork.__wrapped__  # the guard off
        interp = manycore.create()
        pid = os.fork()
        if pid == 0:
            os._exit(0)  # never reached: the child dies in CPython's after-fork code
        deadline = time.monotonic() + 3  # a healthy child exits in milliseconds
        while (reaped := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        if reaped[0] == 0:  # seen on 3.12.1 with pipes: the child deadlocks instead
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            print("child broken")
        else:
            print("child broken" if reaped[1] != 0 else "child lived")
    """)
    assert result.returncode == 0, describe(result)
    assert result.stdout == "child broken\n", describe(result)
