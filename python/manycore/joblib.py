"""python/manycore/joblib.py: the "manycore" joblib backend: Parallel(n_jobs=...) on own-GIL interpreters.

    import joblib

    with joblib.parallel_config(backend="manycore", n_jobs=2):
        results = joblib.Parallel()(joblib.delayed(score)(x) for x in items)

``import manycore`` is enough to make the name known to joblib (manycore offers it
in joblib's list of external backends, whether joblib is imported before or after
manycore: manycore._ecosystem); importing this module registers it directly.

The backend sends each batch's calls, ``(function, args, kwargs)``, not joblib's batch
object, so a worker interpreter imports joblib only if the task's own module does
(joblib imports there thanks to manycore._worker's stand-in for faulthandler, which
refuses own-GIL interpreters; loky imports it at the top). A nested ``Parallel``
inside a task runs sequentially; ``require="sharedmem"`` selects joblib's threads, as
with any process backend.

The interpreters are kept between ``Parallel`` calls, as loky keeps its processes: one
executor per process, made again only when a call asks for a different n_jobs
(creating interpreters costs ~10 ms each and ending one leaks ~2 MB in CPython).
"""

import threading

import joblib
from joblib._parallel_backends import AutoBatchingMixin, FallbackToBackend, ParallelBackendBase, SequentialBackend

from . import _dispatch
from ._integration_tasks import run_calls

__all__ = ["ManycoreBackend", "register"]

_shared_lock = threading.Lock()
_shared_executor = None  # guarded by _shared_lock


def _executor_for(workers):
    """The process-wide executor of `workers` interpreters (made again when the count changes)."""
    global _shared_executor
    from ._executor import InterpreterPoolExecutor

    with _shared_lock:
        executor = _shared_executor
        if executor is not None and executor._max_workers == workers and not executor._shutdown:
            return executor
        _shared_executor = InterpreterPoolExecutor(workers, thread_name_prefix="manycore-joblib")
    if executor is not None:
        executor.shutdown(wait=False, cancel_futures=True)
    return _shared_executor


class ManycoreBackend(AutoBatchingMixin, ParallelBackendBase):
    """joblib's ParallelBackend on manycore interpreters (one per job, each with its own GIL).

    Batches are sized by joblib's auto-batching, as for loky. A batch whose calls
    cannot be sent to an interpreter (an argument that neither manycore nor pickle can
    carry) fails with NotShareableError; a task needing a module that refuses isolated
    interpreters fails with an ImportError that names the module.
    """

    supports_retrieve_callback = True
    supports_inner_max_num_threads = False
    default_n_jobs = 1

    def __init__(self, nesting_level=None, inner_max_num_threads=None, **backend_kwargs):
        super().__init__(nesting_level=nesting_level, inner_max_num_threads=inner_max_num_threads, **backend_kwargs)
        self._executor = None
        self._futures = set()  # this call's pending futures, guarded by self._futures_lock
        self._futures_lock = threading.Lock()

    def effective_n_jobs(self, n_jobs):
        if n_jobs == 0:
            raise ValueError("n_jobs == 0 in Parallel has no meaning")
        if n_jobs is None:
            return 1
        if n_jobs < 0:
            return max(_dispatch.usable_cores() + 1 + n_jobs, 1)
        return n_jobs

    def configure(self, n_jobs=1, parallel=None, prefer=None, require=None, **backend_kwargs):
        workers = self.effective_n_jobs(n_jobs)
        if workers == 1:
            # One interpreter would only add copying: run in the caller, as loky does.
            raise FallbackToBackend(SequentialBackend(nesting_level=self.nesting_level))
        self.parallel = parallel
        self._executor = _executor_for(workers)
        return workers

    def submit(self, func, callback=None):
        calls = getattr(func, "items", None)  # a joblib BatchedCalls: send its calls, not joblib
        if calls is None:
            future = self._executor.submit(func)
        else:
            future = self._executor.submit(run_calls, calls)
        with self._futures_lock:
            self._futures.add(future)
        future.add_done_callback(self._forget)
        if callback is not None:
            future.add_done_callback(callback)
        return future

    def _forget(self, future):
        with self._futures_lock:
            self._futures.discard(future)

    def retrieve_result_callback(self, future):
        return future.result()

    def abort_everything(self, ensure_ready=True):
        """A task failed: the call's queued batches never run (running ones finish; an interpreter is not killed)."""
        with self._futures_lock:
            pending = list(self._futures)
        for future in pending:
            future.cancel()

    def terminate(self):
        # The interpreters stay for the next Parallel call (as loky's workers do).
        self._executor = None
        self.reset_batch_stats()

    def get_nested_backend(self):
        # A task runs in one interpreter: nested loops run there, one call after another.
        return SequentialBackend(nesting_level=(self.nesting_level or 0) + 1), None


def register():
    """Makes "manycore" a joblib backend name (idempotent)."""
    joblib.register_parallel_backend("manycore", ManycoreBackend)


register()
