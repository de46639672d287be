"""python/manycore/_sharedctypes.py: Value, Array, RawValue, RawArray: multiprocessing.sharedctypes across interpreters.

``manycore.Value(typecode_or_type, *args, lock=True)`` and
``manycore.Array(typecode_or_type, size_or_initializer, *, lock=True)`` take what
``multiprocessing.Value``/``Array`` take (the typecodes of ``multiprocessing.sharedctypes``
or ctypes types such as ``ctypes.c_int``), and offer ``.value``, indexing and slicing,
``get_lock()`` and ``get_obj()``. The elements live in a SharedBuffer of the C++ core;
the lock is a manycore RLock (or the manycore Lock/RLock passed as ``lock``), so code
written for ``multiprocessing.Pool(initializer=..., initargs=(counter,))`` ports by
changing the import. ``lock=False`` (and RawValue/RawArray) give the storage alone,
without get_lock(), as multiprocessing gives the bare ctypes object.
"""

from . import _core

__all__ = ["Value", "Array", "RawValue", "RawArray"]


def _typecode(typecode_or_type):
    """'i' for 'i' or ctypes.c_int; anything else is passed on for the C type to refuse."""
    if isinstance(typecode_or_type, type):
        code = getattr(typecode_or_type, "_type_", None)
        if isinstance(code, str) and len(code) == 1:
            return code
    return typecode_or_type


class _Locked:
    """acquire/release and the context manager of multiprocessing's Synchronized wrappers (get_lock() is in C)."""

    __slots__ = ()

    def acquire(self, *args, **kwargs):
        return self.get_lock().acquire(*args, **kwargs)

    def release(self):
        return self.get_lock().release()

    def __enter__(self):
        return self.get_lock().__enter__()

    def __exit__(self, *exc_info):
        return self.get_lock().__exit__(*exc_info)


class _ValueRepr:
    __slots__ = ()

    def __repr__(self):
        locked = "" if hasattr(self, "get_lock") else ", lock=False"
        return f"<manycore.Value({self._typecode!r}, {self.value!r}{locked})>"


class _ArrayMethods:
    __slots__ = ()

    def __iter__(self):
        return iter(self[:])

    def __repr__(self):
        locked = "" if hasattr(self, "get_lock") else ", lock=False"
        items = self[:] if len(self) <= 16 else f"<{len(self)} items>"
        return f"<manycore.Array({self._typecode!r}, {items!r}{locked})>"


class SynchronizedValue(_Locked, _ValueRepr, _core.SharedValue):
    """A shared scalar: ``.value`` (each access atomic); ``with v.get_lock(): v.value += 1`` for read-modify-write."""

    __slots__ = ()


class SynchronizedArray(_Locked, _ArrayMethods, _core.SharedArray):
    """A shared fixed-size array: indexing, slicing (a list; bytes for 'c', str for 'u'), len, iteration."""

    __slots__ = ()


class RawSharedValue(_ValueRepr, _core.RawSharedValue):
    """A shared scalar without a lock (RawValue, lock=False, get_obj())."""

    __slots__ = ()


class RawSharedArray(_ArrayMethods, _core.RawSharedArray):
    """A shared array without a lock (RawArray, lock=False, get_obj())."""

    __slots__ = ()


def _has_lock(lock):
    return lock is not False  # multiprocessing: None and True both mean a new RLock


def Value(typecode_or_type, *args, lock=True):
    """A shared value: ``Value('i', 0)``, ``Value(ctypes.c_double, 1.5)``; as multiprocessing.Value."""
    cls = SynchronizedValue if _has_lock(lock) else RawSharedValue
    return cls(_typecode(typecode_or_type), *args, lock=lock)


def Array(typecode_or_type, size_or_initializer, *, lock=True):
    """A shared array: ``Array('d', 10)`` (zeros) or ``Array('i', [1, 2, 3])``; as multiprocessing.Array."""
    cls = SynchronizedArray if _has_lock(lock) else RawSharedArray
    return cls(_typecode(typecode_or_type), size_or_initializer, lock=lock)


def RawValue(typecode_or_type, *args):
    """A shared value without a lock (multiprocessing.sharedctypes.RawValue)."""
    return Value(typecode_or_type, *args, lock=False)


def RawArray(typecode_or_type, size_or_initializer):
    """A shared array without a lock (multiprocessing.sharedctypes.RawArray)."""
    return Array(typecode_or_type, size_or_initializer, lock=False)


for _name, _cls in (("SharedValue", SynchronizedValue), ("SharedArray", SynchronizedArray),
                   ("RawSharedValue", RawSharedValue), ("RawSharedArray", RawSharedArray)):
    _core.use_wrapper_class(_name, _cls)
del _name, _cls
