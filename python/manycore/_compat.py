"""python/manycore/_compat.py: work-arounds for CPython bugs that crash subinterpreters (DESIGN.md section 3)."""

import importlib
import sys

# 3.12 < 3.12.4: importing these in a subinterpreter, then ending it, aborts the process
# (gh-119213: free(): invalid pointer); and these crash when imported in two
# interpreters (gh-110415 family). Importing them in the main interpreter before any
# subinterpreter starts avoids both (measured on 3.12.1, tests/python/test_compat.py).
PREIMPORT_312 = (
    "hashlib", "ssl", "asyncio",
    "datetime", "decimal", "sqlite3", "statistics", "http.client", "urllib.request", "importlib.metadata",
)

_done = False


def needs_preimport():
    return sys.version_info[:2] == (3, 12)


def before_first_interpreter():
    """Runs once in the main interpreter before manycore creates its first interpreter."""
    global _done
    if _done:
        return
    _done = True
    if needs_preimport():
        for name in PREIMPORT_312:
            try:
                importlib.import_module(name)
            except ImportError:
                pass  # e.g. a Python built without _ssl or _sqlite3: nothing to protect
