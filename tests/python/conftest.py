"""tests/python/conftest.py: shared interpreters for the suite (creating one costs ~10 ms and leaks ~2 MB in CPython)."""

import os

import pytest

import manycore


def _close_if_idle(interp):
    if interp in manycore.list_all() and not interp.is_running():
        interp.close()


@pytest.fixture(scope="session")
def interp():
    """One manycore interpreter shared by the whole session; tests must leave it idle."""
    created = manycore.create()
    yield created
    _close_if_idle(created)


@pytest.fixture(scope="session")
def other_interp():
    """A second shared interpreter, for tests that need two."""
    created = manycore.create()
    yield created
    _close_if_idle(created)


def pytest_collection_modifyitems(config, items):
    """Tests marked `long` run only with MANYCORE_LONG=1 (`make stress`)."""
    if os.environ.get("MANYCORE_LONG") == "1":
        return
    skip = pytest.mark.skip(reason="long variant: run `make stress` (MANYCORE_LONG=1)")
    for item in items:
        if "long" in item.keywords:
            item.add_marker(skip)
