"""python/manycore/_check.py: `python -m manycore check MODULE...`: which modules import in an isolated interpreter.

Each module is imported in a fresh manycore interpreter (own GIL, isolated
extensions), which is then closed, so one module's import cannot help or spoil
another's. The answer per module is one of:

- works;
- fallback: it imports, but an extension module it uses was refused (or did not load
  as it does in the main interpreter) and it fell back to pure Python, e.g. msgpack
  (about 30x slower) or PyYAML without libyaml;
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
import os
import re
import subprocess
import sys

from . import _compat, _worker
from ._interpreters import create

WORKS, FALLBACK, NOT_ISOLATED, MISSING, ERROR = "works", "fallback", "not isolated", "missing", "error"

# What a user should do about a module that does not work (fully) in an interpreter.
ADVICE = {
    FALLBACK: ("for speed, use it in the main interpreter; with manycore.Pool or InterpreterPoolExecutor, run "
               "the tasks that need it in concurrent.futures.ProcessPoolExecutor (or multiprocessing.Pool), "
               "and keep manycore for the rest"),
    NOT_ISOLATED: ("import it in the main interpreter only; with manycore.Pool or InterpreterPoolExecutor, run "
                   "the tasks that need it in concurrent.futures.ProcessPoolExecutor (or multiprocessing.Pool), "
                   "and keep manycore for the rest"),
}

# Run in a fresh process: the extension modules the main interpreter loads for one import.
_MAIN_EXTENSIONS = """
import importlib, importlib.machinery, json, sys
def extensions():
    return {n for n, m in list(sys.modules.items())
            if isinstance(getattr(getattr(m, "__spec__", None), "loader", None), importlib.machinery.ExtensionFileLoader)}
before = extensions()
try:
    importlib.import_module(sys.argv[1])
except BaseException:
    pass
print(json.dumps(sorted(extensions() - before)))
"""
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


def _package(extension):
    return extension.partition(".")[0]


def classify(name, works, reason, refused=(), fell_back=()):
    """(status, explanation) for the outcome of importing name in an isolated interpreter.

    ``refused``: the extension modules CPython refused there during the import;
    ``fell_back``: those that loaded in the main interpreter but not there.
    """
    if works:
        if not fell_back:
            return WORKS, ""
        names = ", ".join(fell_back)
        return FALLBACK, (
            f"works, but {names} fell back to pure Python: {'it is an extension module' if len(fell_back) == 1 else 'they are extension modules'} "
            "without per-interpreter GIL support, which CPython does not load in an isolated interpreter, "
            "so the module runs its slower pure-Python code there"
        )
    refused_here = _REFUSED_MODULE.search(reason)
    if refused or refused_here or any(marker in reason for marker in _worker._NOT_ISOLATED_MARKERS):
        culprit = refused[0] if refused else (refused_here.group(1) if refused_here else name)
        if culprit == name:
            needs = "it is"
        elif _package(culprit) != _package(name) and _package(culprit) != culprit:
            needs = f"it needs {_package(culprit)}, whose {culprit} is"
        else:
            needs = f"it imports {culprit}, which is"
        return NOT_ISOLATED, (
            f"{needs} an extension module without per-interpreter GIL support (e.g. single-phase init), "
            "which CPython does not load in an isolated interpreter"
        )
    missing = _MISSING_MODULE.match(reason)
    if missing and (name == missing.group(1) or name.startswith(missing.group(1) + ".")):
        return MISSING, f"no module named {missing.group(1)!r} here"
    return ERROR, reason


def main_interpreter_extensions(name):
    """The extension modules a fresh process's main interpreter loads to import name (None if that failed)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(path for path in sys.path if path))
    try:
        completed = subprocess.run([sys.executable, "-c", _MAIN_EXTENSIONS, name], capture_output=True, text=True,
                                   env=env, timeout=300)
        return json.loads(completed.stdout.strip().splitlines()[-1]) if completed.returncode == 0 else None
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


def check_module(name):
    """{'module', 'works', 'status', 'reason', 'advice', 'fallbacks', 'detail', 'note'} for one module.

    It is imported in a fresh isolated interpreter, and in a fresh process's main
    interpreter to see which extension modules it loads when nothing stops them.
    """
    report = {"works": False, "reason": "", "refused": [], "extensions": []}
    try:
        with create() as interpreter:
            report = interpreter.call(_worker.import_report, name)
    except Exception as error:  # noqa: BLE001 - the interpreter itself failed: that is the answer
        report["reason"] = f"{type(error).__name__}: {error}"
    fell_back = []
    if report["works"]:
        in_main = main_interpreter_extensions(name) or []
        loaded_here = set(report["extensions"])
        fell_back = sorted(set(report["refused"]) | {ext for ext in in_main if ext not in loaded_here})
    status, explanation = classify(name, report["works"], report["reason"], report["refused"], fell_back)
    return {"module": name, "works": report["works"], "status": status, "reason": explanation,
            "advice": ADVICE.get(status), "fallbacks": fell_back, "detail": report["reason"],
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
            if result["status"] == FALLBACK:
                line = f"{result['module']:<{width}}  {result['reason']}"
            else:
                line = f"{result['module']:<{width}}  {result['status']}"
                if result["reason"]:
                    line += f": {result['reason']}"
            print(line)
            if result["advice"]:
                print(f"{'':<{width}}  what to do: {result['advice']}")
            if result["note"]:
                print(f"{'':<{width}}  note: {result['note']}")
    return 0 if all_work else 1
