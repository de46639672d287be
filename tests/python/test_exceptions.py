"""tests/python/test_exceptions.py: manycore's exception hierarchy and how remote exceptions come back."""

import pickle

import pytest

import manycore
from helpers import remote


def remote_failure(call):
    """Runs call(), which must raise; returns the raised exception."""
    with pytest.raises(BaseException) as caught:
        call()
    return caught.value


# ---- hierarchy ----------------------------------------------------------------------

def test_hierarchy():
    assert issubclass(manycore.InterpreterError, Exception)
    assert issubclass(manycore.InterpreterNotFoundError, manycore.InterpreterError)
    assert issubclass(manycore.ExecutionFailed, manycore.InterpreterError)
    assert issubclass(manycore.NotShareableError, ValueError)
    assert not issubclass(manycore.NotShareableError, manycore.InterpreterError)


# ---- call(): the original type with ExecutionFailed as __cause__ ---------------------

def test_call_reraises_builtin_exception_with_execution_failed_cause(interp):
    error = remote_failure(lambda: interp.call(remote.raise_value_error, "bad value"))
    assert type(error) is ValueError
    assert error.args == ("bad value",)
    cause = error.__cause__
    assert type(cause) is manycore.ExecutionFailed
    assert cause.excinfo.type.__name__ == "ValueError"
    assert cause.excinfo.type.__qualname__ == "ValueError"
    assert cause.excinfo.type.__module__ == "builtins"
    assert cause.excinfo.msg == "bad value"


def test_remote_traceback_is_formatted_and_shown(interp):
    cause = remote_failure(lambda: interp.call(remote.raise_value_error, "bad value")).__cause__
    formatted = cause.excinfo.formatted
    assert formatted.startswith("Traceback (most recent call last):")
    assert "remote.py" in formatted and "in raise_value_error" in formatted
    assert formatted.rstrip().endswith("ValueError: bad value")
    text = str(cause)
    assert text.startswith("ValueError: bad value")
    assert "in raise_value_error" in text  # the traceback is part of str()
    assert str(cause.excinfo) == "ValueError: bad value"


def test_importable_custom_exception_keeps_its_type(interp):
    error = remote_failure(lambda: interp.call(remote.raise_custom, "custom"))
    assert type(error) is remote.CustomError and str(error) == "custom"
    assert type(error.__cause__) is manycore.ExecutionFailed
    assert error.__cause__.excinfo.type.__qualname__ == "CustomError"
    assert error.__cause__.excinfo.type.__module__ == "helpers.remote"


def test_chained_remote_exception_shows_the_chain(interp):
    error = remote_failure(lambda: interp.call(remote.nested_failure))
    assert type(error) is RuntimeError and str(error) == "outer"
    formatted = error.__cause__.excinfo.formatted
    assert "KeyError: 'inner'" in formatted and "RuntimeError: outer" in formatted
    assert "direct cause" in formatted


def test_exception_class_defined_in_a_function_arrives_by_value(interp):
    # cloudpickle carries the local class's definition (issue 11, point 10).
    error = remote_failure(lambda: interp.call(remote.raise_local_class))
    assert type(error).__name__ == "LocalError" and str(error) == "defined inside a function"
    assert type(error.__cause__) is manycore.ExecutionFailed
    assert error.__cause__.excinfo.type.__name__ == "LocalError"
    assert "LocalError: defined inside a function" in str(error.__cause__)


def test_exception_that_cannot_be_unpickled_raises_execution_failed(interp):
    with pytest.raises(TypeError):  # shows why: its pickle cannot be loaded
        pickle.loads(pickle.dumps(remote.NeedsTwoArguments("a", "b")))
    error = remote_failure(lambda: interp.call(remote.raise_needs_two_arguments))
    assert type(error) is manycore.ExecutionFailed
    assert error.excinfo.type.__qualname__ == "NeedsTwoArguments"
    assert error.excinfo.msg == "first"


def test_exception_raised_by_a_lambda(interp):
    error = remote_failure(lambda: interp.call(lambda: 1 / 0))
    assert type(error) is ZeroDivisionError
    assert "ZeroDivisionError" in error.__cause__.excinfo.formatted


def test_system_exit_in_an_interpreter_comes_back_and_leaves_it_usable(interp):
    error = remote_failure(lambda: interp.call(remote.raise_system_exit, 3))
    assert type(error) is SystemExit and error.code == 3
    assert interp.call(remote.add, 1, 1) == 2


def test_failure_to_resolve_the_callable_is_reported(interp, tmp_path, monkeypatch):
    # A module the caller can import but the interpreter cannot (sys.path is copied
    # at creation, so the interpreter never sees tmp_path).
    (tmp_path / "only_in_the_caller.py").write_text("def f():\n    return 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import only_in_the_caller

    try:
        error = remote_failure(lambda: interp.call(only_in_the_caller.f))
    finally:
        del __import__("sys").modules["only_in_the_caller"]
    assert type(error) is ModuleNotFoundError
    assert "only_in_the_caller" in str(error)


# ---- exec(): always ExecutionFailed --------------------------------------------------

def test_exec_raises_execution_failed(interp):
    error = remote_failure(lambda: interp.exec("raise KeyError('missing')"))
    assert type(error) is manycore.ExecutionFailed
    assert error.__cause__ is None
    assert error.excinfo.type.__qualname__ == "KeyError"
    assert error.excinfo.msg == "'missing'"
    assert 'File "<string>", line 1' in error.excinfo.formatted
    assert str(error).startswith("KeyError: 'missing'")
    # The traceback starts at the executed code, not in manycore's own helper.
    assert error.excinfo.formatted.splitlines()[1].startswith('  File "<string>", line 1')
    assert "_worker.py" not in error.excinfo.formatted


def test_exec_syntax_error_raises_execution_failed(interp):
    error = remote_failure(lambda: interp.exec("def broken(:"))
    assert type(error) is manycore.ExecutionFailed
    assert error.excinfo.type.__qualname__ == "SyntaxError"
    assert "_worker.py" not in error.excinfo.formatted and "def broken(:" in error.excinfo.formatted


def test_exec_of_a_function_that_raises(interp):
    def fails():
        raise ArithmeticError("from a function")

    error = remote_failure(lambda: interp.exec(fails))
    assert type(error) is manycore.ExecutionFailed
    assert error.excinfo.msg == "from a function"
    assert "in fails" in error.excinfo.formatted


# ---- call_in_thread ---------------------------------------------------------------

def test_call_in_thread_exception_keeps_the_original_type(interp):
    handle = interp.call_in_thread(remote.raise_custom, "threaded")
    error = handle.exception(timeout=10)
    assert type(error) is remote.CustomError
    assert type(error.__cause__) is manycore.ExecutionFailed
    with pytest.raises(remote.CustomError, match="threaded"):
        handle.result()


def test_call_in_thread_local_exception_class_arrives_by_value(interp):
    handle = interp.call_in_thread(remote.raise_local_class)
    error = handle.exception(timeout=10)
    assert type(error).__name__ == "LocalError" and type(error.__cause__) is manycore.ExecutionFailed
    with pytest.raises(Exception, match="defined inside a function"):
        handle.result()


# ---- ExecutionFailed itself ---------------------------------------------------------

def test_execution_failed_pickles(interp):
    error = remote_failure(lambda: interp.exec("raise OSError('disk')"))
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is manycore.ExecutionFailed
    assert copy.excinfo.type.__qualname__ == "OSError" and copy.excinfo.msg == "disk"
    assert copy.excinfo.formatted == error.excinfo.formatted
    assert str(copy) == str(error)


def test_execution_failed_crosses_interpreters(interp):
    def catch_and_return(code):
        import manycore

        try:
            manycore.get_current().exec(code)
        except manycore.ExecutionFailed as error:
            return error

    error = interp.call(catch_and_return, "raise IndexError('i')")
    assert type(error) is manycore.ExecutionFailed
    assert error.excinfo.type.__qualname__ == "IndexError" and error.excinfo.msg == "i"


def test_exception_without_message(interp):
    error = remote_failure(lambda: interp.exec("raise StopIteration"))
    assert error.excinfo.msg == ""
    assert str(error.excinfo) == "StopIteration"
