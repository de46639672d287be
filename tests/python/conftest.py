"""tests/python/conftest.py: shared interpreters for the suite (creating one costs ~10 ms and leaks ~2 MB in CPython)."""

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
