"""python/manycore/_worker.py: what every manycore interpreter runs: start-up, exec and prepare_main helpers.

Imported in each new interpreter right before its first job
(InterpreterConfig.startup_module, startup_module_on_first_job): an interpreter that
never runs anything never imports it. Keep it light: its import time is part of every
worker's start-up (a pool's workers import it as they start). It, and
what `import manycore` loads in a worker, import no module that a bare stdlib
interpreter does not load at start (docs/benchmarks.md, bench startup; tested).
"""

# importlib.machinery.ExtensionFileLoader is this module's class; the frozen module
# is loaded in every interpreter, while the `importlib` package is not.
import _frozen_importlib
import _frozen_importlib_external
import marshal
import sys

# True while this interpreter runs the main script as __mp_main__ (set by
# _transport._main_object). It lives here, not in _transport, so that checking it
# does not import _transport and pickle: an interpreter that never pickles starts
# ~10 ms faster without them (docs/benchmarks.md, bench cpu).
running_main_script = False

_NOT_ISOLATED_MARKERS = ("does not support loading in subinterpreters", "not supported in subinterpreters")


# Extension modules CPython refused to load in this interpreter, in refusal order. A
# package that catches the ImportError and falls back to pure Python (msgpack, PyYAML)
# leaves its name here; `python -m manycore check` reports it.
refused_extensions = []


def isolation_hint(name):
    return (
        f"{name} cannot be imported in an isolated interpreter (it is an extension module "
        "without per-interpreter GIL support, e.g. single-phase init); run "
        f"`python -m manycore check {name}` to see which modules work. Import it in the main "
        "interpreter instead; for a pool, run such tasks in a process pool "
        "(concurrent.futures.ProcessPoolExecutor)"
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
                refused_extensions.append(spec.name)
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
            return _frozen_importlib.ModuleSpec(name, _RefusedSubmoduleLoader(parent.__refusal__))
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
                elif isinstance(spec.loader, _frozen_importlib_external.ExtensionFileLoader):
                    spec.loader = _HintingLoader(spec.loader)
                return spec
        return None


def _core_is_subinterpreter():
    from . import _core

    return _core.get_current() != _core.get_main()


def _install():
    if _IsolationHintFinder not in sys.meta_path:
        sys.meta_path.insert(0, _IsolationHintFinder)
    from . import _core

    if _core.get_current() != _core.get_main():
        main = sys.modules.get("__main__")
        # CPython <= 3.13 starts every interpreter's __main__ with an empty __annotations__
        # that 3.14's (PEP 649) has not; a fresh worker's __main__ looks like 3.14's. Code
        # with module-level annotations creates it again when it runs.
        if main is not None and getattr(main, "__file__", None) is None and main.__dict__.get("__annotations__") == {}:
            del main.__annotations__
        # time.sleep in a non-main thread cannot be cut short by an interrupt (it retries on
        # EINTR): this one can, so Pool.terminate() and Interpreter.interrupt() reach a
        # sleeping task within 50 ms (docs/reliability.md). The time module is per interpreter.
        import time

        time.sleep = _core.sleep
        _silence_known_isolation_warnings()


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


def before_end():
    """Called by the worker thread right before its interpreter ends (InterpreterConfig.end_hook).

    On 3.13 the worker thread's threading._DummyThread (made when a task called
    threading.current_thread(), as asyncio does) is dropped by a finalizer that runs
    only after the threading module was torn down, and prints "Exception ignored in
    _DeleteDummyThreadOnDel.__del__": it is released here, while threading still works.
    """
    threading = sys.modules.get("threading")
    info = getattr(threading, "_thread_local_info", None)
    if info is not None and hasattr(info, "_track_dummy_thread_ref"):
        del info._track_dummy_thread_ref


class _PrefixMatch:
    """A warnings filter message pattern that matches by prefix (the C warnings code calls .match)."""

    def __init__(self, prefix):
        self._prefix = prefix

    def match(self, text):
        return text.startswith(self._prefix)


def _silence_known_isolation_warnings():
    # tqdm starts a daemon monitor thread; own-GIL interpreters allow no daemon threads
    # (Py_EndInterpreter cannot end one), so tqdm warns once per interpreter and runs
    # without it, as with monitor_interval=0. The warning says nothing the user can act on.
    import _warnings

    _warnings.filters.insert(0, ("ignore", _PrefixMatch("tqdm:disabling monitor support"), Warning, None, 0))


def prepare_main(namespace):
    sys.modules["__main__"].__dict__.update(namespace)


def import_report(name):
    """What importing `name` here did: works, reason, the extension modules refused, and all loaded after it."""
    refused_before = len(refused_extensions)
    works, reason = try_import(name)
    return {"works": works, "reason": reason, "refused": refused_extensions[refused_before:],
            "extensions": loaded_extensions()}


def loaded_extensions():
    """Names of the extension modules (shared libraries) loaded in this interpreter."""
    return sorted(name for name, module in list(sys.modules.items())
                  if isinstance(getattr(getattr(module, "__spec__", None), "loader", None),
                                (_frozen_importlib_external.ExtensionFileLoader, _HintingLoader)))


def try_import(name):
    """(True, '') if `name` imports here, else (False, reason)."""
    try:
        __import__(name)
        module = sys.modules[name]
    except BaseException as error:  # noqa: BLE001 - the reason is the answer
        return False, f"{type(error).__name__}: {error}"
    if isinstance(module, _RefusedModule):  # imports as a stand-in only: its names do not work
        return False, f"ImportError: {module.__refusal__}"
    return True, ""


_install()
