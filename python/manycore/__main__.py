"""python/manycore/__main__.py: the `python -m manycore` command line: `demo`, `bench NAME` and `check MODULE...`.

`bench` offers every benchmark module of manycore._bench (see its docstring: a new
benchmark is one new file there); `check` is manycore._check.
"""

import argparse
import sys

from . import _bench, _check, _demo


def _description(module):
    """A module's docstring as command help, without its leading "path/file.py: " label."""
    first, _, rest = module.__doc__.partition("\n")
    label, separator, summary = first.partition(".py: ")
    return (summary if separator else first) + ("\n" + rest if rest else "")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m manycore",
        description="manycore: real multi-core parallelism for CPython through own-GIL subinterpreters.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    bench = commands.add_parser(
        "bench", help="measure manycore side by side with threads, processes and stdlib interpreters",
        description="Run a benchmark: manycore side by side with the other ways to use several cores.",
    )
    benchmarks = bench.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    for name, module in _bench.discover().items():
        benchmark = benchmarks.add_parser(name, help=module.SUMMARY, description=_description(module),
                                          formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(benchmark)
        benchmark.set_defaults(handler=module.run)

    demo = commands.add_parser(
        "demo", help=_demo.SUMMARY, description=_description(_demo),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _demo.add_arguments(demo)
    demo.set_defaults(handler=_demo.run)

    check = commands.add_parser(
        "check", help="tell which modules import in an isolated interpreter (exit status 1 if any does not)",
        description=_description(_check), formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _check.add_arguments(check)
    check.set_defaults(handler=_check.run)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
