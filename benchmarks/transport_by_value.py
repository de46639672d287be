"""benchmarks/transport_by_value.py: cloudpickle vs manycore 0.1's hand-written by-value code for functions sent to interpreters (issue 11, point 10).

One-off decision benchmark: the hand-written code was replaced, so it is loaded from
git history (commit d44ab43). Side by side, alternating, in one process:

- sender: ``_transport.dumps`` of a lambda, a closure and a file-less-__main__-style
  function using globals (what every task or chunk pays on the sending side);
- receiver, cached: ``_transport.loads`` of a payload already rebuilt once in this
  interpreter (the per-worker cache: what every further task pays);
- receiver, first time: the rebuild itself (once per worker and function).

End to end, each variant in a fresh process whose interpreters all use it (the old
module replaces manycore._transport in the main interpreter and, through the pool
initializer, in every worker): Pool.map of a lambda over 20,000 items (the callable is
encoded once per map and cached per worker), and 2,000 Interpreter.call(lambda) (one
send per call).

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


SWAP_MODULE = r"""
import importlib.util, sys, types


def use(source):
    # Importable here, so it travels by reference under either implementation.
    if source:
        module = types.ModuleType("manycore._transport")
        module.__package__ = "manycore"
        module.__spec__ = importlib.util.spec_from_loader("manycore._transport", loader=None)
        sys.modules["manycore._transport"] = module
        exec(compile(source, "_transport_handwritten.py", "exec"), module.__dict__)
        import manycore
        manycore._transport = module
"""

END_TO_END = r"""
import sys, time
import manycore
from swap_transport import use

source = sys.stdin.read()
use(source)
factor = 3
runs = {"map": [], "call": []}
with manycore.Pool(2, initializer=use, initargs=(source,)) as pool:
    interp = manycore.create()
    interp.call(use, source)
    pool.map(lambda x: x * factor, range(2000), chunksize=100)
    for _ in range(5):
        start = time.perf_counter()
        pool.map(lambda x: x * factor, range(20000), chunksize=100)
        runs["map"].append((time.perf_counter() - start) * 1e3)
        start = time.perf_counter()
        for i in range(2000):
            interp.call(lambda x: x * factor, i)
        runs["call"].append((time.perf_counter() - start) / 2000 * 1e6)
    print(sorted(runs["map"])[2], sorted(runs["call"])[2], "_SelfReference" in dir(sys.modules["manycore._transport"]))
"""


def end_to_end(source):
    import os
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        with open(os.path.join(folder, "swap_transport.py"), "w") as module:
            module.write(SWAP_MODULE)
        env = dict(os.environ, PYTHONPATH=folder)
        completed = subprocess.run([sys.executable, "-c", END_TO_END], input=source, capture_output=True, text=True,
                                   env=env, cwd=folder)
    if completed.returncode != 0:
        raise RuntimeError(completed.stderr)
    map_ms, call_us, is_old = completed.stdout.split()
    assert is_old == str(bool(source))
    return float(map_ms), float(call_us)


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
    old_source = subprocess.run(["git", "show", "d44ab43:python/manycore/_transport.py"], capture_output=True,
                                text=True, check=True).stdout
    results = {"old": [], "new": []}
    for _ in range(3):  # alternating, fresh processes
        results["old"].append(end_to_end(old_source))
        results["new"].append(end_to_end(""))
    old_map, old_call = (statistics.median(values) for values in zip(*results["old"]))
    new_map, new_call = (statistics.median(values) for values in zip(*results["new"]))
    print(f"| lambda, end to end | Pool(2).map, 20,000 items, chunksize 100 (ms) | {old_map:.1f} | {new_map:.1f} | "
          f"{new_map / old_map:.2f}x |")
    print(f"| lambda, end to end | Interpreter.call per call (us) | {old_call:.1f} | {new_call:.1f} | "
          f"{new_call / old_call:.2f}x |")


if __name__ == "__main__":
    main()
