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
import _frozen_importlib_external
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


class _IsolationHintFinder:
    """A meta path finder that only decorates extension module specs."""

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        for finder in sys.meta_path:
            if finder is cls:
                continue
            find_spec = getattr(finder, "find_spec", None)
            if find_spec is None:
                continue
            spec = find_spec(name, path, target)
            if spec is not None:
                if isinstance(spec.loader, _frozen_importlib_external.ExtensionFileLoader):
                    spec.loader = _HintingLoader(spec.loader)
                return spec
        return None


def _install():
    if _IsolationHintFinder not in sys.meta_path:
        sys.meta_path.insert(0, _IsolationHintFinder)


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
        __import__(name)
    except BaseException as error:  # noqa: BLE001 - the reason is the answer
        return False, f"{type(error).__name__}: {error}"
    return True, ""


_install()
