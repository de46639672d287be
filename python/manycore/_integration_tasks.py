"""python/manycore/_integration_tasks.py: what worker interpreters run for manycore.dask and manycore.joblib.

distributed does not import in an own-GIL interpreter (psutil's extension refuses
it), and joblib's batch object would bring joblib and the backend along. So their
task wrappers stay in the calling process, and the interpreters run these functions
instead. This module imports only the standard library; a Dask task sent whole (a
``dask._task_spec`` graph node, for run_graph_node) needs ``dask`` itself, which
imports in isolated interpreters (tests/python/test_dask.py), while one sent as its
call (run_call) does not.
"""

import _thread
import time


def run_graph_node(task, data):
    """Runs one Dask task on its dependencies' values; returns (result, start, stop, thread ident)."""
    start = time.time()
    result = task(data)
    return result, start, time.time(), _thread.get_ident()


def run_call(function, args, kwargs):
    """Runs one Dask task given as its call, dependencies' values in place; returns (result, start, stop, thread ident)."""
    start = time.time()
    result = function(*args, **kwargs) if kwargs else function(*args)
    return result, start, time.time(), _thread.get_ident()


def run_calls(calls):
    """Runs one joblib batch: [function(*args, **kwargs) for each (function, args, kwargs)]."""
    return [function(*args, **kwargs) for function, args, kwargs in calls]

