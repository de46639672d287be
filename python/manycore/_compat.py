"""python/manycore/_compat.py: work-arounds for CPython bugs that crash subinterpreters (DESIGN.md section 3, docs/compat.md)."""

import sys

from . import _core
from ._errors import InterpreterError

# 3.12 < 3.12.4: importing these in a subinterpreter, then ending it, aborts the process
# (gh-119213: free(): invalid pointer); and these crash when imported in two
# interpreters (gh-110415 family). Importing them in the main interpreter before any
# subinterpreter starts avoids both (measured on 3.12.1, tests/python/test_compat.py).
PREIMPORT_312 = (
    "hashlib", "ssl", "asyncio",
    "datetime", "decimal", "sqlite3", "statistics", "http.client", "urllib.request", "importlib.metadata",
)

# 3.13: `_datetime` imported in two subinterpreters and not in the main one aborts the
# process when the second of them ends (double free / munmap_chunk(): invalid pointer,
# measured on 3.13.0; its static types are owned by the first interpreter that imports
# it, cf. gh-136423). Imported in the main interpreter first, the main one owns them.
# `datetime`, `_strptime`, `zoneinfo`, `email.utils`... all import it.
PREIMPORT_313 = ("_datetime",)

_done = False


def needs_preimport():
    """True on CPython 3.12, where PREIMPORT_312 protects against crashes."""
    return sys.version_info[:2] == (3, 12)


def preimports():
    """The modules imported in the main interpreter before the first manycore interpreter, on this Python."""
    if needs_preimport():
        return PREIMPORT_312
    if sys.version_info >= (3, 13):
        return PREIMPORT_313
    return ()


def before_first_interpreter():
    """Runs once in the main interpreter before manycore creates its first interpreter."""
    global _done
    if _done:
        return
    _done = True
    prefer_forkserver()
    import importlib  # here: worker interpreters import this module and never get here

    if needs_preimport():
        # cloudpickle (by-value transport) creates its Pickler with keyword arguments:
        # made once here first, _pickle's keyword tuple belongs to the main
        # interpreter, not to a worker's memory (gh-119213, docs/compat.md section 1).
        import io
        import pickle

        pickle.Pickler(io.BytesIO(), protocol=5, buffer_callback=None)
    for name in preimports():
        try:
            importlib.import_module(name)
        except ImportError:
            pass  # e.g. a Python built without _ssl or _sqlite3: nothing to protect


# 3.12 and 3.13: os.fork() while subinterpreters exist kills the child (3.13.0: "Fatal
# Python error: PyThreadState_Get"; 3.12.1: SIGSEGV): the child clears the other
# interpreters without a thread state (gh-101437). multiprocessing's default start
# method on Linux is "fork", so a fork Pool would respawn crashing workers forever.
# os.fork and os.forkpty refuse, with what to do instead, while any manycore
# interpreter exists. (subprocess does not fork Python, except with preexec_fn.)
def install_fork_guard():
    """Wraps os.fork and os.forkpty in the main interpreter (once)."""
    import functools
    import os

    for name in ("fork", "forkpty"):
        fork = getattr(os, name, None)
        if fork is None or getattr(fork, "_manycore_guarded", False):
            continue

        @functools.wraps(fork)
        def guarded_fork(*args, _fork=fork, _name=name, **kwargs):
            live = _core.live_count()
            if live:
                raise InterpreterError(
                    f"os.{_name}() is refused while {live} manycore interpreter(s) exist: CPython crashes "
                    "the child process when it forks with live subinterpreters (gh-101437). For "
                    "multiprocessing, use the 'spawn' or 'forkserver' start method "
                    "(multiprocessing.get_context('spawn')); or close the interpreters and pools first"
                )
            return _fork(*args, **kwargs)

        guarded_fork._manycore_guarded = True
        setattr(os, name, guarded_fork)


# multiprocessing's default start method on Linux up to 3.13 is "fork", which the
# guard above must refuse once interpreters exist. A program that never chose a start
# method gets "forkserver" instead (3.14's default on Linux): multiprocessing.Pool(),
# Process() and ProcessPoolExecutor() then work beside manycore interpreters. A
# choice the program made (set_start_method, get_context("fork")) is left alone.
def prefer_forkserver():
    """Makes forkserver multiprocessing's default context, now or when multiprocessing is imported."""
    if sys.platform == "win32" or sys.version_info >= (3, 14):
        return  # no fork default to replace
    context = sys.modules.get("multiprocessing.context")
    if context is not None:
        _use_forkserver_default(context)
    elif _ForkserverDefaultFinder not in sys.meta_path:
        sys.meta_path.insert(0, _ForkserverDefaultFinder)


def _use_forkserver_default(context):
    default = context._default_context
    # _actual_context stays None until the program sets a start method or first uses
    # the default context; only then is the choice made.
    if default._actual_context is None and "forkserver" in context._concrete_contexts:
        default._default_context = context._concrete_contexts["forkserver"]


class _ForkserverDefaultFinder:
    """Applies prefer_forkserver() once multiprocessing.context has been imported."""

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name != "multiprocessing.context":
            return None
        import importlib.util

        sys.meta_path.remove(cls)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_then_prefer_forkserver(module):
            exec_module(module)
            _use_forkserver_default(module)

        spec.loader = _LoaderWithExec(spec.loader, exec_then_prefer_forkserver)
        return spec


class _LoaderWithExec:
    def __init__(self, loader, exec_module):
        self._loader = loader
        self.exec_module = exec_module

    def __getattr__(self, name):
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)
# 3.12.1 and 3.13.0: sys._current_frames() walks every interpreter's threads and makes
# frame objects for other interpreters' frames with this interpreter's allocator; the
# owning interpreter frees them later and the process aborts (free(): invalid pointer).
# Profilers call it periodically (dask.distributed's worker: every 20 ms). In the main
# interpreter it is replaced by manycore._core.current_frames: the same dict, for this
# interpreter's threads only (src/module/register_frames.cc).
def install_frames_guard():
    """Replaces sys._current_frames in this interpreter (once); the original stays in original_current_frames."""
    global original_current_frames
    if sys._current_frames is _core.current_frames:
        return
    original_current_frames = sys._current_frames
    sys._current_frames = _core.current_frames


original_current_frames = None
