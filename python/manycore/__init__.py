"""python/manycore/__init__.py: manycore, real multi-core parallelism for CPython through own-GIL subinterpreters."""

import sys

if sys.version_info < (3, 12):
    raise ImportError(
        "manycore needs CPython 3.12 or newer, because a per-interpreter GIL (PEP 684) does not exist "
        f"in Python {sys.version_info[0]}.{sys.version_info[1]}."
    )

from . import _core

__version__ = "0.1.0"

# Every public name loads on first use (PEP 562): each worker interpreter imports this
# package (its start-up module is manycore._worker) and should start about as fast as
# a bare stdlib interpreter, importing no module that one does not (docs/benchmarks.md,
# bench startup). The executors would bring concurrent.futures (and logging), the
# queue exceptions `queue` (threading, collections). A queue or channel end received
# before its class was used still arrives as that class (src/module/hooks.cc).
_LAZY = {}
for _module_name, _names in {
    "._errors": ("ExecutionFailed", "InterpreterError", "InterpreterNotFoundError", "NotShareableError",
                 "QueueEmpty", "QueueFull", "QueueClosed", "BrokenInterpreterPool"),
    "._interpreters": ("CallHandle", "Interpreter", "create", "get_current", "get_main", "is_shareable", "list_all",
                       "will_pickle", "WHENCE_UNKNOWN", "WHENCE_RUNTIME", "WHENCE_LEGACY_CAPI", "WHENCE_CAPI",
                       "WHENCE_XI", "WHENCE_STDLIB"),
    "._queues": ("Queue", "QueueError", "QueueNotFoundError", "create_queue", "list_queues", "select"),
    "._channels": ("ChannelClosedError", "ChannelEmptyError", "ChannelError", "RecvChannel", "SendChannel",
                   "create_channel"),
    "._shared": ("SharedBuffer", "SharedDict"),
    "._sync": ("AtomicInt", "Barrier", "BoundedSemaphore", "Condition", "Event", "Lock", "RLock", "Semaphore"),
    "._sharedctypes": ("Array", "RawArray", "RawValue", "Value"),
    "._executor": ("InterpreterPoolExecutor",),
    "._pool": ("Pool", "AsyncResult", "MapResult", "IMapIterator"),
    "._memory": ("arena_cache_info", "set_arena_cache_limit"),
}.items():
    _LAZY.update(dict.fromkeys(_names, _module_name))
del _module_name, _names

__all__ = [
    "CallHandle", "ExecutionFailed", "Interpreter", "InterpreterError", "InterpreterNotFoundError",
    "NotShareableError", "create", "get_current", "get_main", "is_shareable", "list_all",
    "Queue", "QueueError", "QueueEmpty", "QueueFull", "QueueClosed", "create_queue", "select",
    "QueueNotFoundError", "list_queues", "will_pickle",
    "WHENCE_UNKNOWN", "WHENCE_RUNTIME", "WHENCE_LEGACY_CAPI", "WHENCE_CAPI", "WHENCE_XI", "WHENCE_STDLIB",
    "RecvChannel", "SendChannel", "ChannelError", "ChannelClosedError", "ChannelEmptyError", "create_channel",
    "SharedBuffer", "SharedDict", "AtomicInt", "Lock", "RLock", "Condition", "Event", "Semaphore",
    "BoundedSemaphore", "Barrier", "Value", "Array", "RawValue", "RawArray",
    "InterpreterPoolExecutor", "Pool", "BrokenInterpreterPool", "AsyncResult", "MapResult", "IMapIterator",
    "arena_cache_info", "set_arena_cache_limit",
]


def __getattr__(name):
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    # __import__, not importlib: a worker has not imported the importlib package.
    value = getattr(__import__(__name__ + module_name, fromlist=["_"]), name)
    globals()[name] = value
    return value


# Which module registers the public wrapper class of each shared C++ object type
# (_core.use_wrapper_class); src/module/hooks.cc asks for it when such an object
# arrives in an interpreter that has not loaded that class yet.
_WRAPPER_MODULES = {
    "Queue": "._queues", "RecvChannel": "._channels", "SendChannel": "._channels",
    "SharedBuffer": "._shared", "SharedDict": "._shared",
    "Lock": "._sync", "RLock": "._sync", "Condition": "._sync", "Event": "._sync", "Semaphore": "._sync",
    "BoundedSemaphore": "._sync", "Barrier": "._sync", "AtomicInt": "._sync",
    "SharedValue": "._sharedctypes", "SharedArray": "._sharedctypes",
    "RawSharedValue": "._sharedctypes", "RawSharedArray": "._sharedctypes",
}


def _load_wrapper_class(type_name):
    module_name = _WRAPPER_MODULES.get(type_name)
    if module_name is not None:
        __import__(__name__ + module_name, fromlist=["_"])
    return module_name is not None


def __dir__():
    # Public names only (plus __version__), not the modules this one happens to import.
    return sorted(__all__ + ["__version__"])


def _setup_main_interpreter():
    import atexit

    # Objects from the main script come back from workers as __mp_main__.X
    # (manycore._transport runs the script there under that name).
    if "__main__" in sys.modules:
        sys.modules.setdefault("__mp_main__", sys.modules["__main__"])
    # 3.12 aborts at exit if subinterpreters are still alive; close them first.
    atexit.register(_close_all_at_exit)
    if "MANYCORE_ARENA_CACHE_MIB" in __import__("os").environ:
        from . import _memory

        _memory.check_environment()
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
