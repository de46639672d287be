"""python/manycore/_ecosystem.py: makes the "manycore" joblib backend known to joblib once manycore is imported.

joblib looks a backend name up in ``joblib.parallel.EXTERNAL_BACKENDS`` (a name ->
register function table; "dask" is there) before it refuses it. manycore adds
"manycore" there, so ``joblib.parallel_config(backend="manycore")`` works with no
registration call, and joblib (with loky, ~60 ms) is loaded only by programs that
import it themselves. If joblib is not imported yet, a meta path finder waits for
``joblib.parallel`` and adds the entry right after that module runs. Main interpreter
only; plain classes, not importlib.abc ones, to keep ``import manycore`` light.
"""

import sys

_JOBLIB_TABLE_MODULE = "joblib.parallel"


def _register_joblib_backend():
    from . import joblib as _manycore_joblib  # registers the backend

    _manycore_joblib.register()


def _offer_to(joblib_parallel):
    table = getattr(joblib_parallel, "EXTERNAL_BACKENDS", None)
    if isinstance(table, dict):
        table.setdefault("manycore", _register_joblib_backend)


class _OfferingLoader:
    """Runs joblib.parallel with its own loader, then offers the backend."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        _offer_to(module)


class _JoblibWatcher:
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name != _JOBLIB_TABLE_MODULE:
            return None
        sys.meta_path.remove(cls)  # one module to watch, once
        for finder in sys.meta_path:
            find_spec = getattr(finder, "find_spec", None)
            spec = find_spec(name, path, target) if find_spec is not None else None
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _OfferingLoader(spec.loader)
                return spec
        return None


def offer_backends():
    """Offers "manycore" to joblib now if it is loaded, else as soon as it is."""
    joblib_parallel = sys.modules.get(_JOBLIB_TABLE_MODULE)
    if joblib_parallel is not None:
        _offer_to(joblib_parallel)
    elif _JoblibWatcher not in sys.meta_path:
        sys.meta_path.insert(0, _JoblibWatcher)
