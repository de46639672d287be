"""python/manycore/_bench/__init__.py: the benchmarks behind `python -m manycore bench NAME`.

Every module of this package that defines ``add_arguments(parser)`` and ``run(args)``
is a benchmark, named after its module: adding ``_bench/queue.py`` adds
``python -m manycore bench queue`` with no other change. A benchmark module also sets
``SUMMARY`` (its one-line help) and uses ``common`` for timing, tables, JSON and memory.

``run(args)`` returns the exit status: 0 unless a model computed a wrong result or
could not run at all. Speed targets are printed as PASS/FAIL, never turned into a
failing exit status (shared machines are noisy).
"""



def discover():
    """{name: module} of every benchmark in this package, sorted by name."""
    # Imported here: worker interpreters import this package for _workloads, and
    # pkgutil (which imports typing) would count as their start-up.
    import importlib
    import pkgutil

    benchmarks = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if callable(getattr(module, "run", None)) and callable(getattr(module, "add_arguments", None)):
            benchmarks[info.name] = module
    return benchmarks
