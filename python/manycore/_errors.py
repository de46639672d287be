"""python/manycore/_errors.py: manycore's exception hierarchy (raised by the C++ binding through one mapping)."""

import os
import sys

# types.SimpleNamespace without importing `types` in every worker (types.py defines it so).
_SimpleNamespace = type(sys.implementation)


class InterpreterError(Exception):
    """An interpreter operation failed (e.g. closing one that is running)."""


class InterpreterNotFoundError(InterpreterError):
    """The interpreter does not exist (any more): it was closed or never created."""


class NotShareableError(ValueError):
    """The object cannot be sent to another interpreter: neither the native codec nor pickle carries it."""


class ExceptionInfo(_SimpleNamespace):
    """What is known of an exception raised in another interpreter: type, msg, formatted (traceback)."""

    def __str__(self):
        return f"{self.type.__qualname__}: {self.msg}" if self.msg else self.type.__qualname__


class ExecutionFailed(InterpreterError):
    """Code run in another interpreter raised; ``excinfo`` describes that exception.

    ``str()`` shows the remote exception's type, message and formatted traceback.
    """

    def __init__(self, excinfo):
        self.excinfo = excinfo
        super().__init__(f"{excinfo}\n\nUncaught in the interpreter:\n\n{excinfo.formatted}".rstrip())

    @classmethod
    def _from_remote(cls, type_module, type_qualname, message, formatted):
        formatted = _without_internal_entries(formatted)
        remote_type = _SimpleNamespace(
            __module__=type_module, __qualname__=type_qualname, __name__=type_qualname.rpartition(".")[2]
        )
        return cls(ExceptionInfo(type=remote_type, msg=message, formatted=formatted, errdisplay=formatted))

    def __reduce__(self):
        return (_rebuild_execution_failed, (self.excinfo.type.__module__, self.excinfo.type.__qualname__,
                                            self.excinfo.msg, self.excinfo.formatted))


_PACKAGE_FILE_PREFIX = '  File "' + os.path.dirname(os.path.abspath(__file__)) + os.sep


def _without_internal_entries(formatted):
    """A formatted remote traceback without the entries of manycore's own files (_transport.py, _worker.py, ...)."""
    if _PACKAGE_FILE_PREFIX not in formatted:
        return formatted
    kept = []
    skipping = False
    for line in formatted.splitlines(keepends=True):
        if line.startswith('  File "'):
            skipping = line.startswith(_PACKAGE_FILE_PREFIX)
        elif not line.startswith("    "):
            skipping = False
        if not skipping:
            kept.append(line)
    return "".join(kept)


def _rebuild_execution_failed(type_module, type_qualname, message, formatted):
    return ExecutionFailed._from_remote(type_module, type_qualname, message, formatted)


# ---- queues and channels -------------------------------------------------------------

class QueueError(RuntimeError):
    """A queue operation failed."""


class QueueNotFoundError(QueueError):
    """No queue has that id (any more): ``Queue(id)`` of a queue that was never created or is gone."""


# QueueEmpty, QueueFull and QueueClosed derive from queue.Empty, queue.Full and
# queue.ShutDown, so that code written for queue.Queue catches them. They are made on
# first use (PEP 562, see __getattr__ below): `queue` imports threading and
# collections, ~10 ms in a new interpreter, which a worker must not pay to start.
# The binding, too, looks them up only when it raises one.

def _make_queue_empty():
    import queue

    class QueueEmpty(QueueError, queue.Empty):
        """get_nowait() found the queue empty, or get(timeout=...) waited in vain."""

    QueueEmpty.__module__ = "manycore"
    return QueueEmpty


def _make_queue_full():
    import queue

    class QueueFull(QueueError, queue.Full):
        """put_nowait() found the queue full, or put(timeout=...) waited in vain."""

    QueueFull.__module__ = "manycore"
    return QueueFull


def _make_queue_closed():
    import queue

    # queue.ShutDown (3.13+) has the same meaning for queue.Queue: catching it catches both.
    shutdown_bases = (queue.ShutDown,) if hasattr(queue, "ShutDown") else ()

    class QueueClosed(QueueError, *shutdown_bases):
        """The queue was closed: no more put(); get() raises this once the queue is drained."""

    QueueClosed.__module__ = "manycore"
    return QueueClosed


class ChannelError(RuntimeError):
    """A channel operation failed."""


class ChannelClosedError(ChannelError):
    """The channel was closed (by either end, or because every end on one side is gone)."""


class ChannelEmptyError(ChannelError):
    """recv_nowait() found no sender waiting, and no default was given."""


# ---- executors -------------------------------------------------------------------------
# BrokenInterpreterPool derives from concurrent.futures.BrokenExecutor. It is made on
# first use (PEP 562) so that worker interpreters, which import this module, do not
# import concurrent.futures (and logging) just to start.

def _make_broken_interpreter_pool():
    from concurrent.futures import BrokenExecutor

    class BrokenInterpreterPool(BrokenExecutor):
        """A worker's initializer failed: the pool runs no more tasks (like BrokenProcessPool)."""

    # Pickled by reference as manycore.BrokenInterpreterPool (manycore's __getattr__ finds it).
    BrokenInterpreterPool.__module__ = "manycore"
    BrokenInterpreterPool.__qualname__ = "BrokenInterpreterPool"
    return BrokenInterpreterPool


# Shown (and pickled by reference) as manycore.X, the names users import; the lazy
# classes set it when they are made.
for _public in (InterpreterError, InterpreterNotFoundError, NotShareableError, ExecutionFailed, QueueError,
                QueueNotFoundError, ChannelError, ChannelClosedError, ChannelEmptyError):
    _public.__module__ = "manycore"
del _public

_LAZY_CLASSES = {
    "QueueEmpty": _make_queue_empty,
    "QueueFull": _make_queue_full,
    "QueueClosed": _make_queue_closed,
    "BrokenInterpreterPool": _make_broken_interpreter_pool,
}


def __getattr__(name):
    make = _LAZY_CLASSES.get(name)
    if make is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    cls = make()
    cls.__qualname__ = name  # pickled by reference as manycore.<name>
    globals()[name] = cls
    return cls
