"""python/manycore/_transport.py: pickling for what the native codec cannot carry.

The C++ codec carries built-in values natively and module-level functions and classes
by reference. Everything else comes here (pickle protocol 5) with three additions:

- Functions and classes defined in the main script travel by reference, the way
  ``multiprocessing``'s spawn does it: the receiving interpreter runs the script once
  as ``__mp_main__`` (its ``if __name__ == "__main__":`` block does not run) and looks
  the object up there.
- Lambdas, closures and functions without a script file (REPL, ``python -c``) travel
  by value: their marshalled code plus the globals they use and their closure cells,
  each itself sent by this module. Rebuilt functions are cached per interpreter.
- Modules travel by name.
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
_state = threading.local()


class _SelfReference:
    """Marks where a function refers to itself (recursion) inside its own payload."""

    def __reduce__(self):
        return (_self_reference, ())


_SELF = _SelfReference()


def _self_reference():
    return _SELF


class _EmptyCell:
    def __reduce__(self):
        return (_empty_cell, ())


_EMPTY = _EmptyCell()


def _empty_cell():
    return _EMPTY


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


def _global_names(code):
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


def _is_importable(module_name):
    if module_name in (None, "__main__", "__mp_main__"):
        return False
    module = sys.modules.get(module_name)
    return module is not None and getattr(module, "__spec__", None) is not None


def _function_payload(function):
    code = function.__code__
    module_name = function.__module__
    captured = None
    if not _is_importable(module_name):
        namespace = function.__globals__
        captured = {}
        for name in sorted(_global_names(code)):
            if name in namespace:
                value = namespace[name]
                captured[name] = _SELF if value is function else value
    cells = tuple(
        _EMPTY if _cell_is_empty(cell) else (_SELF if cell.cell_contents is function else cell.cell_contents)
        for cell in (function.__closure__ or ())
    )
    spec = (
        marshal.dumps(code), function.__name__, function.__qualname__, module_name,
        function.__defaults__, function.__kwdefaults__, captured, cells, function.__dict__ or None,
        function.__doc__,
    )
    return dumps(spec)


def _cell_is_empty(cell):
    try:
        cell.cell_contents
    except ValueError:
        return True
    return False


def _load_function(blob):
    function = _function_cache.get(blob)
    if function is not None:
        return function
    (code_bytes, name, qualname, module_name, defaults, kwdefaults, captured, cells, attributes, doc) = loads(blob)
    if captured is None:
        namespace = importlib.import_module(module_name).__dict__
    else:
        namespace = {"__builtins__": builtins, "__name__": module_name or "__main__"}
    closure = tuple(types.CellType() if value is _EMPTY else types.CellType(value) for value in cells) or None
    function = types.FunctionType(marshal.loads(code_bytes), namespace, name, defaults, closure)
    function.__qualname__ = qualname
    function.__kwdefaults__ = kwdefaults
    function.__doc__ = doc
    if attributes:
        function.__dict__.update(attributes)
    if captured is not None:
        namespace.update({key: function if value is _SELF else value for key, value in captured.items()})
    for cell in closure or ():
        if not _cell_is_empty(cell) and cell.cell_contents is _SELF:
            cell.cell_contents = function
    if len(_function_cache) >= _FUNCTION_CACHE_LIMIT:
        _function_cache.clear()
    _function_cache[blob] = function
    return function


def _reduce_function(function):
    qualname = function.__qualname__
    module_name = function.__module__
    if "<" not in qualname:
        if _is_importable(module_name):
            try:
                if _lookup(sys.modules[module_name], qualname) is function:
                    return NotImplemented  # plain pickle: by reference
            except AttributeError:
                pass
        elif module_name == "__main__" and (path := _main_script()) is not None:
            try:
                if _lookup(sys.modules["__main__"], qualname) is function:
                    return (_main_object, (path, qualname))
            except AttributeError:
                pass
    in_progress = getattr(_state, "in_progress", None)
    if in_progress is None:
        in_progress = _state.in_progress = []
    if any(item is function for item in in_progress):
        raise pickle.PicklingError(
            f"function {qualname!r} is part of a cycle of local functions that refer to each other; "
            "define them at module level to send them"
        )
    in_progress.append(function)
    try:
        return (_load_function, (_function_payload(function),))
    finally:
        in_progress.pop()


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj):
        if isinstance(obj, types.FunctionType):
            return _reduce_function(obj)
        if isinstance(obj, type) and obj.__module__ == "__main__" and "<" not in obj.__qualname__:
            path = _main_script()
            if path is None:
                # By reference it would fail only in the receiver, with an AttributeError.
                raise pickle.PicklingError(
                    f"class {obj.__qualname__!r} is defined in __main__, which has no script file here "
                    "(a REPL, a notebook, python -c or stdin), so another interpreter cannot find it; "
                    "define the class in a module and import it"
                )
            return (_main_object, (path, obj.__qualname__))
        if isinstance(obj, types.ModuleType) and obj.__name__ not in ("__main__", "__mp_main__"):
            return (importlib.import_module, (obj.__name__,))
        if isinstance(obj, types.CodeType):
            return (marshal.loads, (marshal.dumps(obj),))
        return NotImplemented


def dumps(obj):
    """Pickles obj for another interpreter (protocol 5)."""
    buffer = io.BytesIO()
    # Protocol passed by position: on 3.12.0-3.12.3 the first keyword call to _pickle's
    # Pickler() made in a subinterpreter caches its keyword tuple in that interpreter's
    # memory, and the process aborts at exit when the main interpreter frees it
    # (gh-119213, docs/compat.md).
    _Pickler(buffer, _PROTOCOL).dump(obj)
    return buffer.getvalue()


def loads(data):
    """Rebuilds an object pickled by dumps, in this interpreter."""
    return pickle.loads(data)
