"""python/manycore/_worker.py: what every manycore interpreter runs: start-up, exec and prepare_main helpers.

Imported first thing in each new interpreter (InterpreterConfig.startup_module).
Keep it light: its import time is part of every interpreter's creation time.
"""

import importlib.machinery
import marshal
import sys

# True while this interpreter runs the main script as __mp_main__ (set by
# _transport._main_object). It lives here, not in _transport, so that checking it
# does not import _transport and pickle: an interpreter that never pickles starts
# ~10 ms faster without them (docs/benchmarks.md, bench cpu).
running_main_script = False

_NOT_ISOLATED_MARKERS = ("does not support loading in subinterpreters", "not supported in subinterpreters")


def isolation_hint(name):
    return (
        f"{name} cannot be imported in an isolated interpreter (it is an extension module "
        "without per-interpreter GIL support, e.g. single-phase init); run "
        f"`python -m manycore check {name}` to see which modules work, and import it in the "
        "main interpreter instead"
    )


class _HintingLoader:
    """Wraps an extension loader so a refusal says why and what to do."""

    def __init__(self, loader):
        self._loader = loader

    def __getattr__(self, name):
        return getattr(self._loader, name)

    def create_module(self, spec):
        try:
            return self._loader.create_module(spec)
        except ImportError as error:
            if any(marker in str(error) for marker in _NOT_ISOLATED_MARKERS):
                raise ImportError(f"{isolation_hint(spec.name)} ({error})", name=spec.name) from error
            raise

    def exec_module(self, module):
        return self._loader.exec_module(module)


class _RefusedModule(type(sys)):
    """A module that imported but cannot work here: any of its names raises AttributeError, with the reason.

    AttributeError (not ImportError) so that getattr(module, name, default), hasattr
    and `from package import submodule` (which then finds a stand-in submodule)
    behave as for a module that lacks the name.
    """

    def __getattr__(self, attribute):
        if attribute.startswith("__") and attribute.endswith("__"):
            raise AttributeError(attribute)
        raise AttributeError(f"{self.__name__}.{attribute} is not available: {self.__refusal__}",
                             name=attribute, obj=self)


class _StandInLoader(_HintingLoader):
    """Loads a module; if it (or an extension it needs) refuses this interpreter, leaves a _RefusedModule.

    Packages import these at the top for a rarely used feature, and would otherwise
    not import at all in an own-GIL interpreter: faulthandler (refused by 3.12 and
    3.13; joblib's loky imports it, so every module that imports joblib), ctypes on
    3.12 (whose _ctypes refuses; fsspec.utils imports it, so dask.bag). Using the
    module still fails, with the reason.
    """

    def create_module(self, spec):
        try:
            return self._loader.create_module(spec)
        except ImportError as error:
            if not _is_refusal(error):
                raise
            module = _RefusedModule(spec.name)
            module.__refusal__ = _refusal_text(spec.name, error)
            return module

    def exec_module(self, module):
        if isinstance(module, _RefusedModule):
            return
        try:
            self._loader.exec_module(module)
        except ImportError as error:
            if not _is_refusal(error):
                raise
            for attribute in [key for key in vars(module) if not key.startswith("__")]:
                delattr(module, attribute)
            module.__refusal__ = _refusal_text(module.__name__, error)
            module.__class__ = _RefusedModule


class _RefusedSubmoduleLoader:
    """Submodules of a refused package are stand-ins too (loky does `from ctypes import wintypes`)."""

    def __init__(self, refusal):
        self._refusal = refusal

    def create_module(self, spec):
        module = _RefusedModule(spec.name)
        module.__refusal__ = self._refusal
        return module

    def exec_module(self, module):
        pass


def _is_refusal(error):
    return any(marker in str(error) for marker in _NOT_ISOLATED_MARKERS + ("isolated interpreter",))


def _refusal_text(name, error):
    return f"{error} (manycore left a stand-in for {name} so that modules importing it still import here)"


# Modules that refuse own-GIL interpreters (or need an extension that does) and that
# packages import at the top for a rarely used feature.
_STAND_IN_ON_REFUSAL = frozenset({"faulthandler", "ctypes"})


class _IsolationHintFinder:
    """A meta path finder that only decorates extension module specs."""

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        parent = sys.modules.get(name.rpartition(".")[0]) if "." in name else None
        if isinstance(parent, _RefusedModule):
            return importlib.machinery.ModuleSpec(name, _RefusedSubmoduleLoader(parent.__refusal__))
        for finder in sys.meta_path:
            if finder is cls:
                continue
            find_spec = getattr(finder, "find_spec", None)
            if find_spec is None:
                continue
            spec = find_spec(name, path, target)
            if spec is not None:
                if name in _STAND_IN_ON_REFUSAL and spec.loader is not None and _core_is_subinterpreter():
                    spec.loader = _StandInLoader(spec.loader)
                elif isinstance(spec.loader, importlib.machinery.ExtensionFileLoader):
                    spec.loader = _HintingLoader(spec.loader)
                return spec
        return None


def _core_is_subinterpreter():
    from . import _core

    return _core.get_current() != _core.get_main()


def _forget_dummy_thread():
    """Drops this thread's threading._DummyThread while the threading module is still whole.

    3.13.0: threading.current_thread() on a thread threading did not start (every
    manycore worker thread: a subinterpreter's main thread is the process's main
    thread) makes a _DummyThread tracked by a thread-local object whose __del__ needs
    threading's globals. Ending the interpreter clears that thread-local after the
    module globals, and each such interpreter printed "Exception ignored in
    _DeleteDummyThreadOnDel.__del__" at its end (dask calls current_thread() at import).
    """
    threading = sys.modules.get("threading")
    tracked = getattr(threading, "_thread_local_info", None)
    if tracked is not None:
        tracked.__dict__.pop("_track_dummy_thread_ref", None)


def _install():
    if _IsolationHintFinder not in sys.meta_path:
        sys.meta_path.insert(0, _IsolationHintFinder)
    if sys.version_info >= (3, 13):
        import atexit

        atexit.register(_forget_dummy_thread)  # interpreter end runs its atexit hooks first


def exec_in_main(kind, payload):
    """Runs source text or a marshalled code object in this interpreter's __main__."""
    namespace = sys.modules["__main__"].__dict__
    try:
        code = compile(payload, "<string>", "exec") if kind == "source" else marshal.loads(payload)
        exec(code, namespace)
    except BaseException as error:
        # The remote traceback starts at the user's code, as the stdlib's does: this
        # helper's frame is dropped, and a bare raise adds no new one.
        error.__traceback__ = error.__traceback__.tb_next
        raise


def prepare_main(namespace):
    sys.modules["__main__"].__dict__.update(namespace)


def try_import(name):
    """(True, '') if `name` imports here, else (False, reason)."""
    try:
        module = importlib.import_module(name)
    except BaseException as error:  # noqa: BLE001 - the reason is the answer
        return False, f"{type(error).__name__}: {error}"
    if isinstance(module, _RefusedModule):  # imports as a stand-in only: its names do not work
        return False, f"ImportError: {module.__refusal__}"
    return True, ""


_install()
