"""python/manycore/_interpreters.py: the PEP 734 interpreter API (drop-in for concurrent.interpreters)."""

import marshal
import sys
import weakref

from . import _compat, _core, _worker
from ._errors import ExecutionFailed, InterpreterError, InterpreterNotFoundError, NotShareableError

__all__ = [
    "Interpreter", "CallHandle", "create", "list_all", "get_current", "get_main", "is_shareable",
    "InterpreterError", "InterpreterNotFoundError", "ExecutionFailed", "NotShareableError",
    "WHENCE_UNKNOWN", "WHENCE_RUNTIME", "WHENCE_LEGACY_CAPI", "WHENCE_CAPI", "WHENCE_XI", "WHENCE_STDLIB",
]

# Where an interpreter was created: the values of CPython 3.14's _interpreters.WHENCE_*
# and the strings concurrent.interpreters.Interpreter.whence shows for them.
WHENCE_UNKNOWN, WHENCE_RUNTIME, WHENCE_LEGACY_CAPI, WHENCE_CAPI, WHENCE_XI, WHENCE_STDLIB = range(6)
_WHENCE_TO_STR = {
    WHENCE_UNKNOWN: "unknown",
    WHENCE_RUNTIME: "runtime init",
    WHENCE_LEGACY_CAPI: "legacy C-API",
    WHENCE_CAPI: "C-API",
    WHENCE_XI: "cross-interpreter C-API",
    WHENCE_STDLIB: "_interpreters module",
}

# One Interpreter object per id in this interpreter (this module is per interpreter).
_known = weakref.WeakValueDictionary()


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
    return Interpreter._for_id(_core.create(), WHENCE_STDLIB)


def list_all():
    """The main interpreter and every live interpreter created by manycore.create()."""
    main_id = _core.get_main()
    return [Interpreter._for_id(interp_id, WHENCE_RUNTIME if interp_id == main_id else WHENCE_STDLIB)
            for interp_id in _core.list_all()]


def get_current():
    """The interpreter running this code (also inside a pool worker, which list_all() does not show)."""
    current_id = _core.get_current()
    return Interpreter._for_id(current_id, _whence_of(current_id, current=True))


def get_main():
    """The main interpreter."""
    return Interpreter._for_id(_core.get_main(), WHENCE_RUNTIME)


def _whence_of(interp_id, current=False):
    if interp_id == _core.get_main():
        return WHENCE_RUNTIME
    if _core.exists(interp_id):
        return WHENCE_STDLIB  # made by manycore.create(), this module's create()
    if current:
        # A pool worker, or an interpreter manycore did not make: ask CPython (3.13+).
        try:
            import _interpreters

            return _interpreters.whence(interp_id)
        except (ImportError, AttributeError, RuntimeError):
            pass
    return WHENCE_UNKNOWN


_NATIVELY_SHAREABLE = (type(None), bool, int, float, str, bytes)


def is_shareable(obj):
    """True if obj is natively shareable in the PEP 734 sense, exactly as the stdlib answers.

    That is None, bool, int, float, str, bytes, tuples of those, memoryview and the
    cross-interpreter objects (queues, channels) -- exact types only. Everything else
    (lists, dicts, sets, instances of your classes, ...) can still be sent: manycore
    copies the built-in containers natively and pickles the rest. ``will_pickle(obj)``
    tells whether sending obj pickles any part of it.
    """
    kind = type(obj)
    if kind in _NATIVELY_SHAREABLE or kind is memoryview:
        return True
    if kind is tuple:
        return all(is_shareable(item) for item in obj)
    from ._queues import Queue

    if isinstance(obj, Queue):
        return True
    from ._channels import RecvChannel, SendChannel

    return isinstance(obj, (RecvChannel, SendChannel))


def will_pickle(obj):
    """Whether sending obj to another interpreter pickles any part of it (else it is copied natively).

    NotShareableError if obj cannot be sent at all. manycore's codec copies exact
    built-in values (None, bool, int, float, complex, str, bytes, bytearray, tuple,
    list, dict, set, frozenset), importable module-level functions and classes, and
    queues and channels natively; everything else is pickled. Not part of PEP 734.
    """
    from . import _transport

    return _transport.pickles_when_sent(obj)


def _exec_payload(code):
    if isinstance(code, str):
        return ("source", code)
    import types  # here: worker interpreters import this module, and a bare one has no `types`

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
    """A handle to one interpreter, by id: one object per id in each interpreter.

    ``Interpreter(id)`` is the same object as ``get_main()``, ``get_current()`` or
    ``list_all()`` give for that id; InterpreterNotFoundError if no such interpreter
    exists. Calls run in that interpreter under its own GIL, so calls into different
    interpreters from different threads use different cores. The caller's GIL is
    released while it waits.
    """

    __slots__ = ("_id", "_whence", "__weakref__")

    def __new__(cls, id, /):  # noqa: A002 - PEP 734 name
        if not isinstance(id, int) or isinstance(id, bool):
            raise TypeError(f"interpreter id must be an int, not {type(id).__name__}")
        if id < 0:
            raise ValueError(f"interpreter id must be >= 0, got {id}")
        current = id == _core.get_current()
        if not current and not _core.exists(id):
            raise InterpreterNotFoundError(f"interpreter {id} does not exist (it was closed, or never created)")
        known = _known.get(id)
        return known if known is not None else cls._for_id(id, _whence_of(id, current=current))

    @classmethod
    def _for_id(cls, interp_id, whence):
        """The one object for interp_id in this interpreter (made without checking that it exists)."""
        known = _known.get(interp_id)
        if known is None:
            known = object.__new__(cls)
            known._id = interp_id
            known._whence = whence
            _known[interp_id] = known
        return known

    @property
    def id(self):  # noqa: A003 - PEP 734 name
        return self._id

    @property
    def whence(self):
        """Where the interpreter was created, as 3.14's concurrent.interpreters says it.

        'runtime init' for the main interpreter, '_interpreters module' for interpreters
        made by manycore.create(); for others (pool workers, interpreters made elsewhere),
        what CPython says ('C-API' on 3.13 for pool workers; 'unknown' where it cannot tell).
        """
        return _WHENCE_TO_STR[self._whence]

    def __repr__(self):
        if self._id == _core.get_main():
            state = "main"
        elif not _core.exists(self._id):
            state = "closed"
        else:
            state = "running" if _core.is_running(self._id) else "idle"
        return f"<manycore.Interpreter id={self._id} {state}>"

    def __eq__(self, other):
        if not isinstance(other, Interpreter):
            return NotImplemented
        return other._id == self._id

    def __hash__(self):
        return hash(self._id)

    def __reduce__(self):
        # By id, as PEP 734 interpreters pickle: Interpreter(id) where it is unpickled.
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
        """Binds names in the interpreter's __main__ module (values are copied across).

        ``ns`` is a mapping or an iterable of (name, value) pairs; ValueError if there
        is nothing to bind.
        """
        namespace = dict(ns) if ns is not None else {}
        namespace.update(kwargs)
        if not namespace:
            raise ValueError("prepare_main() needs names to bind: a dict, (name, value) pairs or keyword arguments")
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
        # A C method here (an instancemethod of a _core function) was a tenth faster on
        # small calls but crashed 3.12.1 at exit now and then, with daemon threads still
        # calling (test_daemon_threads_creating_interpreters_and_pools_at_exit_exit_cleanly).
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


from ._tracebacks import hide_internal_frames, hide_internal_frames_of  # noqa: E402 - applied once the classes exist

create = hide_internal_frames(create)
hide_internal_frames_of(Interpreter, "__new__", "__exit__", "is_running", "interrupt", "close", "prepare_main",
                        "exec", "call", "call_in_thread")
hide_internal_frames_of(CallHandle, "join", "result", "exception")
