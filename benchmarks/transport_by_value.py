"""benchmarks/transport_by_value.py: cloudpickle vs manycore 0.1's hand-written by-value code for functions sent to interpreters (issue 11, point 10).

One-off decision benchmark: the hand-written code was replaced, so it is loaded from
git history (commit d44ab43). Side by side, alternating, in one process:

- sender: ``_transport.dumps`` of a lambda, a closure and a file-less-__main__-style
  function using globals (what every task or chunk pays on the sending side);
- receiver, cached: ``_transport.loads`` of a payload already rebuilt once in this
  interpreter (the per-worker cache: what every further task pays);
- receiver, first time: the rebuild itself (once per worker and function).

Run: .venv-3.13/bin/python benchmarks/transport_by_value.py (from the repository root).
"""

import importlib.util
import statistics
import subprocess
import sys
import time
import types

import manycore  # noqa: F401 - the package the old module imports from
from manycore import _transport as new


def load_old():
    source = subprocess.run(["git", "show", "d44ab43:python/manycore/_transport.py"], capture_output=True,
                            text=True, check=True).stdout
    module = types.ModuleType("manycore._transport_handwritten")
    module.__package__ = "manycore"
    module.__spec__ = importlib.util.spec_from_loader(module.__name__, loader=None)
    sys.modules[module.__name__] = module  # its helpers pickle by reference
    exec(compile(source, "_transport_handwritten.py", "exec"), module.__dict__)
    return module


SCALE = 3


def make_cases():
    offset = 10

    def closure(x):
        return x * SCALE + offset

    namespace = {"SCALE": SCALE, "__name__": "__main__"}
    exec("def uses_globals(x):\n    return [x * SCALE for _ in range(3)]\n", namespace)
    return {"lambda": lambda x: x + 1, "closure": closure, "main function (no file)": namespace["uses_globals"]}


def per_call_us(function, repeat=7, number=2000):
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            function()
        runs.append((time.perf_counter() - start) / number * 1e6)
    return statistics.median(runs)


def main():
    old = load_old()
    print(f"Python {sys.version.split()[0]}; median of 7 runs, us per operation")
    print("| function | operation | hand-written (0.1) | cloudpickle | ratio (cloudpickle / hand-written) |")
    print("| --- | --- | --- | --- | --- |")
    for name, function in make_cases().items():
        blobs = {}
        for label, module in (("old", old), ("new", new)):
            blobs[label] = module.dumps(function)
            assert module.loads(blobs[label])(2) == function(2)
        rows = {
            "dumps (sender)": lambda module, label: (lambda: module.dumps(function)),
            "loads, cached (per task)": lambda module, label: (lambda: module.loads(blobs[label])),
            "loads, first time (rebuild)": lambda module, label: (
                lambda: (module._function_cache.clear(), module.loads(blobs[label]))),
        }
        for operation, make in rows.items():
            old_us = per_call_us(make(old, "old"))
            new_us = per_call_us(make(new, "new"))
            print(f"| {name} | {operation} | {old_us:.1f} | {new_us:.1f} | {new_us / old_us:.2f}x |")
        print(f"| {name} | payload bytes | {len(blobs['old'])} | {len(blobs['new'])} | "
              f"{len(blobs['new']) / len(blobs['old']):.2f}x |")


if __name__ == "__main__":
    main()
