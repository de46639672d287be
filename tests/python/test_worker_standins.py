"""tests/python/test_worker_standins.py: what manycore._worker adds to worker interpreters: stand-ins for refused modules, no dummy-thread noise at the end."""

import sys

import pytest

from helpers.proc import assert_clean_exit, run_python

ON_312 = sys.version_info[:2] == (3, 12)


def test_faulthandler_imports_as_a_stand_in_that_says_why(interp):
    interp.exec("""
import faulthandler
try:
    faulthandler.enable()
except AttributeError as error:
    message = str(error)
ok = getattr(faulthandler, "dump_traceback_later", None) is None
""")
    assert interp.call(_main_value, "ok") is True
    text = interp.call(_main_value, "message")
    assert "faulthandler.enable is not available" in text
    assert "does not support loading in subinterpreters" in text


def _main_value(name):
    import __main__

    return getattr(__main__, name)


def test_the_main_interpreter_keeps_the_real_modules():
    import faulthandler

    assert callable(faulthandler.enable)


@pytest.mark.skipif(not ON_312, reason="3.13 loads _ctypes in own-GIL interpreters")
def test_ctypes_stand_in_on_312(interp):
    interp.exec("""
import ctypes
from ctypes import wintypes  # a submodule of a stand-in is one too
ctypes_message = ""
try:
    ctypes.CDLL
except AttributeError as error:
    ctypes_message = str(error)
""")
    assert "_ctypes cannot be imported in an isolated interpreter" in interp.call(_main_value, "ctypes_message")


def test_other_import_errors_are_untouched(interp):
    interp.exec("""
try:
    import manycore_no_such_module
except ImportError as error:
    missing = type(error).__name__
""")
    assert interp.call(_main_value, "missing") == "ModuleNotFoundError"


def test_current_thread_in_a_task_leaves_nothing_on_stderr_at_exit():
    # 3.13.0 printed "Exception ignored in: _DeleteDummyThreadOnDel.__del__" at the end
    # of each interpreter whose thread had called threading.current_thread() at import
    # time of a module that stays referenced (dask.threaded does; plain code may not).
    pytest.importorskip("dask")
    result = run_python("""
        import dask
        import manycore
        from helpers import ecosystem_tasks

        with manycore.InterpreterPoolExecutor(2) as executor:
            list(executor.map(ecosystem_tasks.import_module, ["dask.threaded"] * 4))
        interp = manycore.create()
        interp.exec("import dask.threaded")
        interp.close()
        print("done")
    """)
    assert_clean_exit(result)
    assert result.stdout == "done\n"


def test_check_still_reports_a_stand_in_as_not_isolated(interp):
    from manycore import _worker

    ok, reason = interp.call(_worker.try_import, "faulthandler")
    assert not ok and "does not support loading in subinterpreters" in reason
