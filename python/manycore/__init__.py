"""python/manycore/__init__.py: manycore, real multi-core parallelism for CPython through own-GIL subinterpreters."""

import sys

if sys.version_info < (3, 12):
    raise ImportError(
        "manycore needs CPython 3.12 or newer, because a per-interpreter GIL (PEP 684) does not exist "
        f"in Python {sys.version_info[0]}.{sys.version_info[1]}."
    )

from . import _core
from ._errors import ExecutionFailed, InterpreterError, InterpreterNotFoundError, NotShareableError
from ._interpreters import (
    CallHandle, Interpreter, create, get_current, get_main, is_shareable, list_all,
)
from ._queues import Queue, QueueClosed, QueueEmpty, QueueError, QueueFull, create_queue, select
from ._channels import (
    ChannelClosedError, ChannelEmptyError, ChannelError, RecvChannel, SendChannel, create_channel,
)

__version__ = "0.1.0"

__all__ = [
    "CallHandle", "ExecutionFailed", "Interpreter", "InterpreterError", "InterpreterNotFoundError",
    "NotShareableError", "create", "get_current", "get_main", "is_shareable", "list_all",
    "Queue", "QueueError", "QueueEmpty", "QueueFull", "QueueClosed", "create_queue", "select",
    "RecvChannel", "SendChannel", "ChannelError", "ChannelClosedError", "ChannelEmptyError", "create_channel",
]

# The executors load on first use (PEP 562): worker interpreters import manycore too,
# and must not pay for concurrent.futures (and logging) just to start.
_LAZY = {
    "InterpreterPoolExecutor": "._executor",
    "Pool": "._pool",
    "BrokenInterpreterPool": "._errors",
}
__all__ += list(_LAZY)


def __getattr__(name):
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name, __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


def _setup_main_interpreter():
    import atexit

    # Objects from the main script come back from workers as __mp_main__.X
    # (manycore._transport runs the script there under that name).
    if "__main__" in sys.modules:
        sys.modules.setdefault("__mp_main__", sys.modules["__main__"])
    # 3.12 aborts at exit if subinterpreters are still alive; close them first.
    atexit.register(_close_all_at_exit)
    from . import _compat

    _compat.install_fork_guard()
    _compat.install_frames_guard()
    from . import _ecosystem

    _ecosystem.offer_backends()  # joblib.parallel_config(backend="manycore") with no registration call


def _close_all_at_exit():
    """Ends every manycore interpreter, waiting for running calls as Python waits for threads.

    Ctrl-C while it waits raises KeyboardInterrupt in the calls still running (at their
    next bytecode, or at once in a manycore wait); it then waits for them to end.
    """
    from ._dispatch import end_at_exit

    end_at_exit(_core.close_all)


if _core.get_current() == _core.get_main():
    _setup_main_interpreter()
