"""python/manycore/_check.py: `python -m manycore check MODULE...`: which modules import in an isolated interpreter.

Each module is imported in a fresh manycore interpreter (own GIL, isolated
extensions), which is then closed, so one module's import cannot help or spoil
another's. The answer per module is one of:

- works;
- not isolated: it is, or needs, an extension module without per-interpreter GIL
  support (single-phase init, or multi-phase without Py_MOD_PER_INTERPRETER_GIL_SUPPORTED):
  CPython refuses to load it in such an interpreter; import it in the main one;
- missing: the module does not exist here;
- error: its import raised something else.

On CPython 3.12, modules that crash subinterpreters (DESIGN.md section 3) are imported
by manycore in the main interpreter before any interpreter starts (_compat.py); the
report says so for them.
"""

import json
import re
import sys

from . import _compat, _worker
from ._interpreters import create

WORKS, NOT_ISOLATED, MISSING, ERROR = "works", "not isolated", "missing", "error"
# CPython's refusal names the extension that cannot load, which may be a dependency.
_REFUSED_MODULE = re.compile(r"module '?([\w.]+)'? does not support loading in subinterpreters")
_MISSING_MODULE = re.compile(r"^ModuleNotFoundError: No module named '([\w.]+)'$")


def add_arguments(parser):
    parser.add_argument("modules", nargs="+", metavar="MODULE", help="module names, e.g. json numpy readline")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")


def _preimport_note(name):
    if not _compat.needs_preimport():
        return None
    for protected in _compat.PREIMPORT_312:
        if name == protected or name.startswith(protected + "."):
            return (f"CPython 3.12 crashes when {protected} is imported in subinterpreters (gh-110415, gh-119213; docs/compat.md); "
                    "handled: manycore imports it in the main interpreter before starting any interpreter")
    return None


def classify(name, works, reason):
    """(status, explanation) for the outcome of _worker.try_import(name)."""
    if works:
        return WORKS, ""
    if any(marker in reason for marker in _worker._NOT_ISOLATED_MARKERS):
        refused = _REFUSED_MODULE.search(reason)
        culprit = refused.group(1) if refused else name
        needs = "it is" if culprit == name else f"it imports {culprit}, which is"
        return NOT_ISOLATED, (
            f"{needs} an extension module without per-interpreter GIL support (e.g. single-phase init), "
            "which CPython does not load in an isolated interpreter; import it in the main interpreter"
        )
    missing = _MISSING_MODULE.match(reason)
    if missing and (name == missing.group(1) or name.startswith(missing.group(1) + ".")):
        return MISSING, f"no module named {missing.group(1)!r} here"
    return ERROR, reason


def check_module(name):
    """{'module', 'works', 'status', 'reason', 'note'} for one module, imported in a fresh interpreter."""
    try:
        with create() as interpreter:
            works, reason = interpreter.call(_worker.try_import, name)
    except Exception as error:  # noqa: BLE001 - the interpreter itself failed: that is the answer
        works, reason = False, f"{type(error).__name__}: {error}"
    status, explanation = classify(name, works, reason)
    return {"module": name, "works": works, "status": status, "reason": explanation, "detail": reason,
            "note": _preimport_note(name)}


def run(args):
    results = [check_module(name) for name in args.modules]
    all_work = all(result["works"] for result in results)
    if args.json:
        json.dump({"python": sys.version.split()[0], "all_work": all_work, "modules": results}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        width = max(len(result["module"]) for result in results)
        for result in results:
            line = f"{result['module']:<{width}}  {result['status']}"
            if result["reason"]:
                line += f": {result['reason']}"
            print(line)
            if result["note"]:
                print(f"{'':<{width}}  note: {result['note']}")
    return 0 if all_work else 1
