"""python/manycore/_interpreters.py: the PEP 734 interpreter API (drop-in for concurrent.interpreters)."""

import marshal
import sys
import types

from . import _compat, _core, _worker
from ._errors import ExecutionFailed, InterpreterError, InterpreterNotFoundError, NotShareableError

__all__ = [
    "Interpreter", "CallHandle", "create", "list_all", "get_current", "get_main", "is_shareable",
    "InterpreterError", "InterpreterNotFoundError", "ExecutionFailed", "NotShareableError",
]


def create():
    """Starts a new isolated interpreter with its own GIL and returns it.

    It sees the caller's ``sys.path`` and lives until ``close()`` or interpreter exit.
    """
    if _worker.running_main_script:
        raise InterpreterError(
            "manycore.create() was called while the main script was being imported in a manycore "
            "interpreter (to find a function defined in it); put the script's entry point under "
            "`if __name__ == '__main__':`, as multiprocessing requires"
        )
    _compat.before_first_interpreter()
    return Interpreter(_core.create())


def list_all():
    """The main interpreter and every live interpreter created by manycore."""
    return [Interpreter(interp_id) for interp_id in _core.list_all()]


def get_current():
    """The interpreter running this code."""
    return Interpreter(_core.get_current())


def get_main():
    """The main interpreter."""
    return Interpreter(_core.get_main())


def is_shareable(obj):
    """True if obj can be sent to another interpreter (natively or pickled)."""
    return _core.is_shareable(obj)


def _exec_payload(code):
    if isinstance(code, str):
        return ("source", code)
    if isinstance(code, types.CodeType):
        return ("code", marshal.dumps(code))
    if isinstance(code, types.FunctionType):
        func_code = code.__code__
        if func_code.co_argcount or func_code.co_kwonlyargcount or func_code.co_flags & 0x0C:
            raise ValueError(f"exec() needs a function that takes no arguments, got {code.__qualname__!r}")
        if code.__closure__:
            raise ValueError(f"exec() cannot run a closure ({code.__qualname__!r}); use call() instead")
        return ("code", marshal.dumps(func_code))
    raise TypeError(f"exec() takes source text, a code object or a function, not {type(code).__name__}")


class Interpreter:
    """A handle to one interpreter, by id. Equal handles refer to the same interpreter.

    Calls run in that interpreter under its own GIL, so calls into different
    interpreters from different threads use different cores. The caller's GIL is
    released while it waits.
    """

    __slots__ = ("_id",)

    def __init__(self, id):  # noqa: A002 - PEP 734 name
        if not isinstance(id, int) or isinstance(id, bool):
            raise TypeError(f"interpreter id must be an int, not {type(id).__name__}")
        if id < 0:
            raise ValueError(f"interpreter id must be >= 0, got {id}")
        self._id = id

    @property
    def id(self):  # noqa: A003 - PEP 734 name
        return self._id

    def __repr__(self):
        if self._id == _core.get_main():
            state = "main"
        elif not _core.exists(self._id):
            state = "closed"
        else:
            state = "running" if _core.is_running(self._id) else "idle"
        return f"<manycore.Interpreter id={self._id} {state}>"

    def __eq__(self, other):
        return isinstance(other, Interpreter) and other._id == self._id

    def __hash__(self):
        return hash(("manycore.Interpreter", self._id))

    def __reduce__(self):
        return (Interpreter, (self._id,))

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        if _core.exists(self._id) and self._id != _core.get_main():
            self.close()

    def is_running(self):
        """Whether this interpreter is running (or has queued) a call."""
        return _core.is_running(self._id)

    def interrupt(self):
        """Raises KeyboardInterrupt in the call running in this interpreter; True if one ran.

        It arrives at the call's next bytecode (time.sleep and manycore waits within
        50 ms; a call blocked in another C call, e.g. Event.wait, sees it when that
        returns: docs/reliability.md); its caller gets the KeyboardInterrupt, as from
        any exception of the call. Queued calls are not touched. Not part of PEP 734.
        """
        return _core.interrupt(self._id)

    def close(self):
        """Ends the interpreter. InterpreterError if it is running; closing twice raises InterpreterNotFoundError."""
        _core.close(self._id)

    def prepare_main(self, ns=None, /, **kwargs):
        """Binds names in the interpreter's __main__ module (values are copied across)."""
        namespace = dict(ns) if ns is not None else {}
        namespace.update(kwargs)
        for name in namespace:
            if not isinstance(name, str):
                raise TypeError(f"prepare_main() names must be str, not {type(name).__name__}")
        _core.call(self._id, _worker.prepare_main, (namespace,), None, False)

    def exec(self, code, /):
        """Runs source text, a code object or an argument-less function in the interpreter's __main__.

        Raises ExecutionFailed if it raises.
        """
        kind, payload = _exec_payload(code)
        _core.call(self._id, _worker.exec_in_main, (kind, payload), None, False)

    def call(self, callable, /, *args, **kwargs):  # noqa: A002 - PEP 734 name
        """Returns callable(*args, **kwargs) run in this interpreter.

        If it raises, the same exception type is raised here with an ExecutionFailed
        (holding the remote traceback) as __cause__; if that type cannot be rebuilt
        here, ExecutionFailed is raised.
        """
        return _core.call(self._id, callable, args, kwargs or None)

    def call_in_thread(self, callable, /, *args, **kwargs):  # noqa: A002 - PEP 734 name
        """Starts callable(*args, **kwargs) in this interpreter and returns at once.

        The returned CallHandle has join(), result(timeout=None) and exception().
        """
        return CallHandle(_core.call_async(self._id, callable, args, kwargs or None))


class CallHandle:
    """The running call started by Interpreter.call_in_thread (unlike the stdlib, it keeps the result)."""

    __slots__ = ("_pending",)

    def __init__(self, pending):
        self._pending = pending

    def done(self):
        return self._pending.done()

    def join(self, timeout=None):
        """Waits for the call to finish; returns whether it did within timeout."""
        return self._pending.wait(timeout)

    def result(self, timeout=None):
        """The call's return value; re-raises its exception; TimeoutError if not done in time."""
        return self._pending.result(timeout)

    def exception(self, timeout=None):
        """The exception the call raised, or None."""
        return self._pending.exception(timeout)
