"""tests/python/helpers/ecosystem_tasks.py: tasks that the Dask and joblib tests send to manycore interpreters (and Dask workers).

Module level, so interpreters and Dask worker processes import them by name
(tests/python is on sys.path in both).
"""


class TaskFailed(Exception):
    """A user exception type: must arrive in the caller as itself."""


def square(x):
    return x * x


def add(*values):
    return sum(values)


def interpreter_id(_=None):
    """(manycore id of the interpreter running this, id of the main one)."""
    import manycore

    return manycore.get_current().id, manycore.get_main().id


def fail_on(x, bad):
    if x == bad:
        raise TaskFailed(f"task failed on {x}")
    return x


def import_module(name):
    """Imports `name` where the task runs (a module that refuses isolated interpreters raises ImportError)."""
    import importlib

    importlib.import_module(name)
    return name


def spin(n):
    """Pure-Python CPU work: a sum of squares, ~n loop iterations."""
    total = 0
    for i in range(n):
        total += i * i
    return total


def worker_address(_=None):
    """distributed.get_worker() from inside a task: needs distributed where the task runs."""
    import distributed

    return distributed.get_worker().address


def describe(*args, **kwargs):
    """Its arguments back, with the types of the containers among them."""
    return [(type(arg).__name__, arg) for arg in args], sorted(kwargs.items())


def imported(name):
    """Whether module `name` is loaded where this runs."""
    import sys

    return name in sys.modules
