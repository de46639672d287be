"""python/manycore/dask.py: dask.distributed workers that run their tasks in own-GIL interpreters, one per thread slot.

Dask's local scheduler needs nothing from here: it takes any concurrent.futures
Executor, so ``dask.compute(graph, scheduler=manycore.InterpreterPoolExecutor(n))``
runs a graph's tasks on ``n`` cores (docs/integrations.md).

For a dask.distributed cluster, each worker process gets manycore interpreters in
place of its thread pool in one of two ways::

    # from the client, for every worker now and later (restarts included)
    client.register_plugin(manycore.dask.ManycoreWorkerPlugin())

    # or when starting the workers
    dask worker tcp://scheduler:8786 --nthreads 4 --preload manycore.dask

A worker then runs ``nthreads`` interpreters; its tasks run there, each under its own
GIL. The worker's thread pool stays available as the ``"threads"`` executor, for tasks
that need a module that refuses isolated interpreters (numpy, pandas, psutil...)::

    with dask.annotate(executor="threads"):
        frame = dask.delayed(load_with_pandas)(path)

``ManycoreWorkerPlugin(default=False)`` leaves the threads as the default and offers
the interpreters as ``dask.annotate(executor="manycore")`` instead.

What runs in the interpreter is the task itself: Dask's task wrapper and its
messages stay in the worker process (distributed cannot be imported in an isolated
interpreter: psutil refuses), so ``distributed.get_worker()`` and ``worker_client()``
are not available inside such a task. A task that is one call of a function on values
and on its dependencies' results (what dask.delayed, client.submit and client.map
make) reaches the interpreter as that call, so the interpreter does not import dask
(~14 MiB and ~0.1 s per interpreter); any other graph node goes whole and runs there
with dask's own code.
"""

import concurrent.futures
import threading
import time

import distributed
from dask._task_spec import Alias, DataNode, Dict, GraphNode, List, Set, Task, TaskRef, Tuple
from dask.sizeof import sizeof
from distributed.core import error_message
from distributed.worker import _run_task_simple

from ._integration_tasks import run_call, run_graph_node
from ._errors import ExecutionFailed
from ._executor import InterpreterPoolExecutor

__all__ = ["ManycoreExecutor", "ManycoreWorkerPlugin", "dask_setup"]


class _TaskFuture(concurrent.futures.Future):
    """The worker's view of one task: cancelling it withdraws the task from the interpreters."""

    _inner = None

    def cancel(self):
        inner = self._inner
        if inner is not None and not inner.cancel():
            return False
        return super().cancel()


# Graph nodes whose value needs no task code to work out: containers (dask.delayed
# turns a list argument into a List node) and references.
_CONTAINER_NODES = (List, Tuple, Set, Dict)


class _NeedsTaskCode(Exception):
    """An argument is itself a task: the whole node must run in the interpreter."""


def _argument_value(argument, data):
    """What Task.__call__ passes for one argument, worked out without running task code."""
    if isinstance(argument, TaskRef):  # a distributed.Future is one too
        return data[argument.key]
    if not isinstance(argument, GraphNode):
        return argument
    kind = type(argument)
    if kind is Alias:
        return data[argument.target]
    if kind is DataNode:
        return argument.value
    if kind in _CONTAINER_NODES:
        # Task.__call__ of a container node: its constructor over its arguments' values.
        return argument.func(*(_argument_value(item, data) for item in argument.args), **argument.kwargs)
    raise _NeedsTaskCode


def _direct_call(task, data):
    """(function, args, kwargs) that computes `task` as Task.__call__(data) would, or None.

    None for any node that is not a Task of a plain function, or whose arguments hold
    another task, or that misses a dependency: such a node is sent whole, and dask's
    own code runs (or reports) it in the interpreter.
    """
    if type(task) is not Task:
        return None
    try:
        args = tuple(_argument_value(argument, data) for argument in task.args)
        kwargs = {name: _argument_value(value, data) for name, value in task.kwargs.items()}
    except (_NeedsTaskCode, KeyError):
        return None
    return task.func, args, kwargs or None


def _remote_traceback(error):
    cause = error.__cause__
    if isinstance(cause, ExecutionFailed):
        return cause.excinfo.formatted
    return None


def _task_erred(error):
    """The message distributed's own task wrapper builds for a task that raised."""
    try:
        raise error  # error_message reads the exception being handled
    except BaseException:  # noqa: BLE001 - every task error becomes a message
        message = error_message(error)
    remote = _remote_traceback(error)
    if remote:
        message["traceback_text"] = remote
    message["op"] = "task-erred"
    message["actual_exception"] = error
    return message


def _deliver(future, inner, submitted, time_delay):
    """Turns the interpreter's result into distributed's task message (runs in the worker process)."""
    try:
        result, start, stop, thread = inner.result()
    except (SystemExit, KeyboardInterrupt) as error:
        # As distributed's wrapper: these pass through and the worker handles them.
        _settle(future, error=error)
        return
    except concurrent.futures.CancelledError:
        future.cancel()
        return
    except BaseException as error:  # noqa: BLE001 - reported to the scheduler as the task's error
        message = _task_erred(error)
        start, stop, thread = submitted, time.time(), threading.get_ident()
    else:
        message = {
            "op": "task-finished",
            "status": "OK",
            "result": result,
            "nbytes": sizeof(result),
            "type": type(result) if result is not None else None,
        }
    message["start"] = start + time_delay
    message["stop"] = stop + time_delay
    message["thread"] = thread
    _settle(future, result=message)


def _settle(future, result=None, error=None):
    try:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
    except concurrent.futures.InvalidStateError:
        pass  # the worker cancelled the task meanwhile: nobody reads this result


class ManycoreExecutor(concurrent.futures.Executor):
    """The executor of a Dask worker: its tasks run in own-GIL interpreters.

    max_workers interpreters (default: the usable cores) run the worker's tasks, one
    task each at a time. A Dask task (what the worker submits as
    ``distributed.worker._run_task_simple``) runs in an interpreter; Dask's message
    about it is built in the worker process, as distributed's wrapper would. Anything
    else the worker submits (its disk and memory benchmarks, for instance) needs
    distributed itself, so it goes to `fallback` (a concurrent.futures Executor; by
    default a thread of its own, started on first use).
    """

    def __init__(self, max_workers=None, *, fallback=None):
        self._interpreters = InterpreterPoolExecutor(max_workers, thread_name_prefix="manycore-dask")
        self._max_workers = self._interpreters._max_workers
        self._fallback = fallback
        self._own_fallback = None
        self._lock = threading.Lock()

    def __repr__(self):
        return f"<manycore.dask.ManycoreExecutor interpreters={self._max_workers}>"

    def submit(self, fn, /, *args, **kwargs):
        if fn is _run_task_simple:
            return self._submit_task(*args, **kwargs)
        return self._other_executor().submit(fn, *args, **kwargs)

    def _submit_task(self, task, data, time_delay=0.0):
        future = _TaskFuture()
        submitted = time.time()
        call = _direct_call(task, data)
        if call is not None:
            inner = self._interpreters.submit(run_call, *call)
        else:
            inner = self._interpreters.submit(run_graph_node, task, data)
        future._inner = inner
        inner.add_done_callback(lambda done: _deliver(future, done, submitted, time_delay))
        return future

    def _other_executor(self):
        if self._fallback is not None:
            return self._fallback
        with self._lock:
            if self._own_fallback is None:
                self._own_fallback = concurrent.futures.ThreadPoolExecutor(1, "manycore-dask-fallback")
            return self._own_fallback

    def shutdown(self, wait=True, *, cancel_futures=False):
        self._interpreters.shutdown(wait=wait, cancel_futures=cancel_futures)
        with self._lock:
            own, self._own_fallback = self._own_fallback, None
        if own is not None:
            own.shutdown(wait=wait, cancel_futures=cancel_futures)


class ManycoreWorkerPlugin(distributed.WorkerPlugin):
    """Gives each Dask worker a ManycoreExecutor with one interpreter per thread slot.

    interpreters: how many (default: the worker's nthreads, so the worker's own task
    scheduling stays as it is). default=True makes it the worker's default executor
    and keeps the worker's thread pool as the "threads" executor; default=False adds
    it as the "manycore" executor only (select it with dask.annotate(executor="manycore")).
    Registered with client.register_plugin, the scheduler installs it on every worker,
    including workers that join or restart later.
    """

    name = "manycore"

    def __init__(self, interpreters=None, default=True):
        if interpreters is not None and (
            isinstance(interpreters, bool) or not isinstance(interpreters, int) or interpreters < 1
        ):
            raise ValueError(f"interpreters must be a positive int or None, got {interpreters!r}")
        self.interpreters = interpreters
        self.default = default

    def setup(self, worker):
        threads = worker.executors.get("default")
        if isinstance(threads, ManycoreExecutor):  # installed already (preload and plugin)
            return
        executor = ManycoreExecutor(self.interpreters or worker.state.nthreads, fallback=threads)
        worker.executors["manycore"] = executor
        if self.default:
            worker.executors["threads"] = threads
            worker.executors["default"] = executor

    def teardown(self, worker):
        executor = worker.executors.pop("manycore", None)
        if executor is None:
            return
        if worker.executors.get("default") is executor:
            worker.executors["default"] = worker.executors.pop("threads")
        executor.shutdown(wait=True)


def dask_setup(worker):
    """``dask worker ... --preload manycore.dask``: the worker runs its tasks in manycore interpreters."""
    if not isinstance(worker, distributed.Worker):
        raise TypeError(
            f"manycore.dask is a worker preload (--preload), not one for a {type(worker).__name__} "
            "(--preload-nanny): the interpreters must live in the worker process"
        )
    return worker.plugin_add(ManycoreWorkerPlugin(), catch_errors=False)
