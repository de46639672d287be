"""python/manycore/_dask_task.py: the part of manycore.dask that runs inside worker interpreters: one Dask task.

A Dask worker's own task wrapper (``distributed.worker._run_task_simple``) cannot run
in an isolated interpreter: ``distributed`` imports ``psutil``, whose extension refuses
own-GIL interpreters. ``manycore.dask.ManycoreExecutor`` sends this function instead
and builds the worker's message around its result in the worker process. So this
module imports nothing but the standard library; the task itself (a
``dask._task_spec`` graph node) needs only ``dask``, which imports in isolated
interpreters (tests/python/test_dask.py).
"""

import _thread
import time


def run_graph_node(task, data):
    """Runs one Dask task on its dependencies' values; returns (result, start, stop, thread ident)."""
    start = time.time()
    result = task(data)
    return result, start, time.time(), _thread.get_ident()
