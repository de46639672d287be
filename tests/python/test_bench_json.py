"""tests/python/test_bench_json.py: every `python -m manycore bench NAME` takes --json (the documentation's plots are drawn from it)."""

import pytest

from manycore import __main__ as cli
from manycore._bench import discover


@pytest.mark.parametrize("name", sorted(discover()))
def test_every_benchmark_takes_json(name):
    args = cli.build_parser().parse_args(["bench", name, "--json"])
    assert args.json is True and args.benchmark == name


def test_json_is_off_by_default():
    for name in discover():
        assert cli.build_parser().parse_args(["bench", name]).json is False
