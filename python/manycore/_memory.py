"""python/manycore/_memory.py: the arena cache's knobs: how much freed memory manycore keeps faulted in for reuse.

CPython's small-object allocator gives every empty 1 MiB arena back to the system, and
the next arena is faulted in page by page. When data moves between interpreters, one
side frees what the other is about to build, so manycore keeps freed arenas and hands
them to the next arena request of any interpreter in the process: at most 512 MiB (or
a sixteenth of the machine's memory, if less; ``MANYCORE_ARENA_CACHE_MIB`` sets it),
and none for more than a second after it was freed, when a purger thread gives it
back. The first interpreter or pool created installs it (src/core/arena_cache.h);
``MANYCORE_ARENA_CACHE_MIB=0`` keeps CPython's allocator as it is. docs/architecture.md
and docs/benchmarks.md have the measurements.
"""

import os
import warnings

from . import _core

ENVIRONMENT_VARIABLE = "MANYCORE_ARENA_CACHE_MIB"


def arena_cache_info():
    """The cache's state: a dict of installed, limit_bytes, cached_bytes, reused, fresh, released.

    reused counts arena requests served from the cache, fresh those passed to the
    system, released the freed arenas given back because the cache was full.
    """
    return _core.arena_cache_info()


def set_arena_cache_limit(limit_bytes, /):
    """Keeps at most limit_bytes of freed arenas for reuse; 0 empties the cache and keeps it empty.

    Arenas over a lower limit go back to the system before this returns; under any
    limit, an arena nobody asks for again goes back a second after it was freed.
    """
    _core.set_arena_cache_limit(limit_bytes)


def check_environment():
    """Warns once, at import, when MANYCORE_ARENA_CACHE_MIB is set to something the cache ignores."""
    text = os.environ.get(ENVIRONMENT_VARIABLE)
    if text is None or text == "" or (text.isascii() and text.isdigit() and int(text) <= 1 << 24):
        return
    warnings.warn(
        f"{ENVIRONMENT_VARIABLE}={text!r} is not a whole number of MiB from 0 to {1 << 24}: "
        "manycore keeps the default arena cache limit (0 turns the cache off)",
        RuntimeWarning, stacklevel=3)
