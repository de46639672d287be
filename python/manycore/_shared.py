"""python/manycore/_shared.py: SharedBuffer and SharedDict, memory and a mapping that every interpreter shares.

Both are C types of ``manycore._core`` backed by C++ objects (``src/core/shared_buffer.cc``,
``src/core/shared_dict.cc``); this module only names them for the package. The memory
model (what becomes visible when) is in docs/shared.md.
"""

from . import _core

__all__ = ["SharedBuffer", "SharedDict"]

SharedBuffer = _core.SharedBuffer


class SharedDict(_core.SharedDict):
    """One mapping every interpreter sees: the in-process counterpart of ``multiprocessing.Manager().dict()``.

    Keys and values are stored encoded (native values; anything else pickled), so
    ``d[k]`` returns a fresh copy: mutate it and store it back. Every operation is
    atomic; ``compare_and_set(key, expected, new)`` and ``setdefault`` make
    read-modify-write safe without a lock. ``items()``, ``keys()`` and ``values()``
    are snapshot lists.
    """

    __slots__ = ()


SharedDict.__module__ = "manycore"
_core.use_wrapper_class("SharedDict", SharedDict)
