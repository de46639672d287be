"""python/manycore/_transport.py: pickling for what the native codec cannot carry.

The C++ codec carries built-in values natively and module-level functions and classes
by reference. Everything else comes here (pickle protocol 5) with three additions:

- Functions and classes defined in the main script travel by reference, the way
  ``multiprocessing``'s spawn does it: the receiving interpreter runs the script once
  as ``__mp_main__`` (its ``if __name__ == "__main__":`` block does not run) and looks
  the object up there.
- Lambdas, closures, and functions and classes of a ``__main__`` without a script file
  (REPL, Jupyter, ``python -c``, stdin) travel by value with cloudpickle, as Dask, Ray
  and loky send them. A function sent by value is rebuilt once per interpreter and
  cached by its payload, so ``map`` does not rebuild it per item; cloudpickle keeps one
  class object per class in each interpreter, so ``isinstance`` works across messages.
- Modules travel by name.

``dumps``/``loads`` are the codec's pickle fallback (CodecHooks): bytes in, bytes out.
"""

import builtins
import importlib
import io
import marshal
import os
import pickle
import sys
import threading
import types

from . import _worker

_PROTOCOL = 5
_FUNCTION_CACHE_LIMIT = 4096
# blob -> rebuilt function, per interpreter (this module is per interpreter).
_function_cache = {}
# Counts dumps() calls on this thread, for pickles_when_sent().
_state = threading.local()


def _lookup(root, qualname):
    obj = root
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _main_script():
    """The main script's path when __main__ is a real file, else None."""
    path = getattr(sys.modules.get("__main__"), "__file__", None)
    return path if path and os.path.isfile(path) else None


def _main_object(path, qualname):
    """Looks up qualname in the main script, running it as __mp_main__ if needed."""
    main = sys.modules.get("__main__")
    if main is not None and getattr(main, "__file__", None) == path:
        return _lookup(main, qualname)
    module = sys.modules.get("__mp_main__")
    if module is None or getattr(module, "__file__", None) != path:
        module = types.ModuleType("__mp_main__")
        module.__file__ = path
        module.__builtins__ = builtins
        sys.modules["__mp_main__"] = module
        with open(path, "rb") as source:
            code = compile(source.read(), path, "exec")
        _worker.running_main_script = True
        try:
            exec(code, module.__dict__)
        except BaseException:
            del sys.modules["__mp_main__"]
            raise
        finally:
            _worker.running_main_script = False
    return _lookup(module, qualname)


def _is_importable(module_name):
    if module_name in (None, "__main__", "__mp_main__"):
        return False
    module = sys.modules.get(module_name)
    return module is not None and getattr(module, "__spec__", None) is not None


def _by_reference(obj):
    """The reduction that sends a function or class by reference, or None if it must go by value."""
    qualname = obj.__qualname__
    if "<" in qualname:
        return None  # a lambda or a local: no name finds it
    module_name = obj.__module__
    if _is_importable(module_name):
        try:
            if _lookup(sys.modules[module_name], qualname) is obj:
                return NotImplemented  # plain pickle: by module and qualname
        except AttributeError:
            pass
    elif module_name == "__main__" and (path := _main_script()) is not None:
        try:
            if _lookup(sys.modules["__main__"], qualname) is obj:
                return (_main_object, (path, qualname))
        except AttributeError:
            pass
    return None


def _common_reduction(obj):
    """What both picklers do the same way: main-script objects, modules, code objects."""
    if isinstance(obj, (types.FunctionType, type)):
        return _by_reference(obj)
    if isinstance(obj, types.ModuleType) and obj.__name__ not in ("__main__", "__mp_main__"):
        return (importlib.import_module, (obj.__name__,))
    if isinstance(obj, types.CodeType):
        return (marshal.loads, (marshal.dumps(obj),))
    return NotImplemented


_value_pickler_class = None


def _value_pickler():
    """cloudpickle's Pickler with manycore's by-reference rules first (cloudpickle loads on first use)."""
    global _value_pickler_class
    if _value_pickler_class is None:
        import cloudpickle

        class ValuePickler(cloudpickle.Pickler):
            # Only what cloudpickle would do differently: main-script objects by
            # reference (as __mp_main__) and code objects by marshal (faster).
            # Importable functions, classes and modules go by reference in cloudpickle too.
            def reducer_override(self, obj):
                if (reduction := _shareable_reduction(obj)) is not None:
                    return reduction
                kind = type(obj)
                if kind is types.FunctionType or isinstance(obj, type):
                    if obj.__module__ == "__main__" and (reduction := _by_reference(obj)) is not None:
                        return reduction
                elif kind is types.CodeType:
                    return (marshal.loads, (marshal.dumps(obj),))
                return super().reducer_override(obj)

        _value_pickler_class = ValuePickler
    return _value_pickler_class


def _dumps_by_value(obj):
    buffer = io.BytesIO()
    # Protocol by position (gh-119213, see dumps); cloudpickle's own keyword call into
    # _pickle is made once in the main interpreter first (_compat.before_first_interpreter).
    _value_pickler()(buffer, _PROTOCOL).dump(obj)
    return buffer.getvalue()


def _load_function(blob):
    """The function pickled by value in blob, rebuilt once per interpreter."""
    function = _function_cache.get(blob)
    if function is None:
        function = pickle.loads(blob)
        if len(_function_cache) >= _FUNCTION_CACHE_LIMIT:
            _function_cache.clear()
        _function_cache[blob] = function
    return function


def _load_shareable(index):
    """The manycore shared object (queue, lock, buffer, ...) that a received pickle names by index."""
    from . import _core

    return _core.unpickle_shareable(index)


def _shareable_reduction(obj):
    """A manycore shared object met inside a pickled value crosses by reference, as it does outside pickles."""
    from . import _core

    index = _core.pickle_shareable(obj)
    return None if index is None else (_load_shareable, (index,))


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj):
        reduction = _shareable_reduction(obj) or _common_reduction(obj)
        if reduction is not None:
            return reduction
        if isinstance(obj, types.FunctionType):
            return (_load_function, (_dumps_by_value(obj),))
        # A class that no name finds elsewhere (file-less __main__, a local class):
        # cloudpickle sends its definition.
        return (pickle.loads, (_dumps_by_value(obj),))


def dumps(obj):
    """Pickles obj for another interpreter (protocol 5)."""
    buffer = io.BytesIO()
    # Protocol passed by position: on 3.12.0-3.12.3 the first keyword call to _pickle's
    # Pickler() made in a subinterpreter caches its keyword tuple in that interpreter's
    # memory, and the process aborts at exit when the main interpreter frees it
    # (gh-119213, docs/compat.md).
    _state.dumps_calls = getattr(_state, "dumps_calls", 0) + 1
    _Pickler(buffer, _PROTOCOL).dump(obj)
    return buffer.getvalue()


def loads(data):
    """Rebuilds an object pickled by dumps, in this interpreter."""
    return pickle.loads(data)


def pickles_when_sent(obj):
    """Whether the codec hands some part of obj to dumps() when sending it (NotShareableError if it cannot send it)."""
    from . import _core
    from ._errors import NotShareableError

    before = getattr(_state, "dumps_calls", 0)
    if not _core.is_shareable(obj):  # encodes obj as a send does (the codec calls dumps for what it cannot carry)
        raise NotShareableError(f"{type(obj).__qualname__} object cannot be sent to another interpreter: "
                                "neither manycore's codec nor pickle carries it")
    return getattr(_state, "dumps_calls", 0) != before
