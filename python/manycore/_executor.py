"""python/manycore/_executor.py: InterpreterPoolExecutor, a concurrent.futures.Executor whose workers are own-GIL interpreters.

Drop-in for ``ThreadPoolExecutor`` / ``ProcessPoolExecutor``::

    with manycore.InterpreterPoolExecutor() as executor:
        future = executor.submit(work, 10)
        results = list(executor.map(work, range(100), chunksize=8))

- The workers are long-lived interpreters (one per core by default), each with its own
  GIL, so CPU-bound Python code runs on every core. A task that raises does not end
  its worker.
- ``submit`` returns a ``concurrent.futures.Future`` (a subclass whose ``cancel()`` also
  withdraws the queued task), so ``as_completed``, ``wait``, callbacks and asyncio's
  ``loop.run_in_executor`` work. Results are set by one delivery thread per executor;
  done-callbacks run there.
- ``map`` encodes the items chunk by chunk and hands each batch to the C++ pool as it
  is encoded (the workers start on the first chunks while the rest is encoded), then
  takes the results in order straight from C++ (no Future per item); ``chunksize``
  batches small tasks (one message per chunk each way). ``buffersize`` (as in Python
  3.14's Executor.map) bounds how many tasks are submitted but not yet yielded: the
  input is then read lazily, and the first result comes as early as ``Pool.imap``'s.
- A task's exception is re-raised with its original type, its remote traceback in an
  ``ExecutionFailed`` as ``__cause__``. If an initializer raises, the pool is broken:
  pending and later tasks fail with ``BrokenInterpreterPool``.
- What a task may be: anything manycore sends (module-level functions, functions of
  the main script, lambdas and closures over sendable values); arguments and results
  are copied across interpreters (natively for built-in types, else pickled).
"""

import collections
import itertools
import threading
import time
import weakref
from concurrent import futures

from . import _core, _dispatch

__all__ = ["InterpreterPoolExecutor"]

_executor_numbers = itertools.count()


class _Future(futures.Future):
    """A concurrent.futures.Future whose cancel() withdraws the task from the queue.

    A task that already runs in a worker cannot be cancelled (cancel() returns False),
    as with the stdlib executors; running() is True while it runs.
    """

    _delivery = None
    _ticket = None

    def _bind(self, delivery, ticket):
        self._delivery = delivery
        self._ticket = ticket

    def cancel(self):
        if self.done():
            return self.cancelled()
        if self._delivery is None or not self._delivery.cancel(self._ticket):
            return False
        cancelled = super().cancel()
        # Tells wait() and as_completed() too (the executor's part, as the task never runs).
        self.set_running_or_notify_cancel()
        return cancelled

    def result(self, timeout=None):
        return super().result(_dispatch.wait_timeout(timeout))

    def exception(self, timeout=None):
        return super().exception(_dispatch.wait_timeout(timeout))

    def running(self):
        if super().running():
            return True
        return not self.done() and self._delivery is not None and self._delivery.running(self._ticket)

    def _manycore_done(self, ok, value):
        if ok is None:  # dropped before it ran (shutdown at exit, broken pool's siblings)
            if super().cancel():
                self.set_running_or_notify_cancel()
            return
        try:
            if ok:
                self.set_result(value)
            else:
                self.set_exception(value)
        except futures.InvalidStateError:
            pass  # cancelled meanwhile: nobody waits for this result


# Items per submission of an eager map: large enough that encoding fn once per batch
# costs nothing, small enough that the workers start after a few milliseconds.
_EAGER_BATCH_ITEMS = 1024


class _WindowFeed:
    """Submits a lazy map's tasks: at most `buffersize` tasks submitted and not yet yielded."""

    def __init__(self, executor, results, fn, source, chunksize, star, buffersize):
        self._executor = executor
        self._results = results
        self._fn = fn
        self._source = source
        self._chunksize = chunksize
        self._star = star
        self._unyielded = collections.deque()  # per submitted task: its results not yet yielded
        self._exhausted = False
        try:
            for _ in range(buffersize):
                if not self._submit_one():
                    break
        except BaseException:
            executor._pool.cancel_queued(results)
            results.abandon()
            raise

    def _submit_one(self):
        if self._exhausted:
            return False
        chunk = list(itertools.islice(self._source, self._chunksize))
        if not chunk:
            self._exhausted = True
            self._results.close()
            return False
        with self._executor._shutdown_lock:
            self._executor._check_open()
            self._executor._pool.submit_map(self._results, self._fn, chunk, self._chunksize, self._star)
        self._unyielded.append(len(chunk))
        return True

    def yielded(self):
        """Called after each yielded result: a task fully yielded makes room for the next."""
        self._unyielded[0] -= 1
        if self._unyielded[0] == 0:
            self._unyielded.popleft()
            self._submit_one()


def _finalize(pool, delivery):
    # The executor was garbage-collected without shutdown(): like ThreadPoolExecutor,
    # submitted work still finishes; then the delivery thread (if any) joins the pool.
    pool.stop(False)
    delivery.close()


class InterpreterPoolExecutor(futures.Executor):
    """An Executor running calls in a pool of own-GIL interpreters (concurrent.futures API).

    max_workers defaults to the number of usable cores. thread_name_prefix names the
    executor's delivery thread. initializer(*initargs) runs once in each worker before
    it takes tasks; if it raises, the executor is broken (BrokenInterpreterPool).
    """

    def __init__(self, max_workers=None, thread_name_prefix="", initializer=None, initargs=()):
        if max_workers is None:
            max_workers = _dispatch.usable_cores()
        elif isinstance(max_workers, int) and not isinstance(max_workers, bool) and max_workers <= 0:
            raise ValueError("max_workers must be greater than 0")
        self._max_workers = max_workers
        self._thread_name_prefix = thread_name_prefix or f"InterpreterPoolExecutor-{next(_executor_numbers)}"
        self._pool = _dispatch.start_pool(max_workers, initializer, initargs)
        self._delivery = _dispatch.Delivery(self._pool, f"{self._thread_name_prefix}_delivery")
        self._shutdown = False
        self._shutdown_lock = threading.Lock()
        self._finalizer = weakref.finalize(self, _finalize, self._pool, self._delivery)
        self._finalizer.atexit = False  # exit is handled by _shutdown_at_exit
        _dispatch.register_for_exit(self)

    def __repr__(self):
        state = "shut down" if self._shutdown else "running"
        return f"<manycore.InterpreterPoolExecutor max_workers={self._max_workers} {state}>"

    @property
    def _interpreter_ids(self):
        return self._pool.interpreter_ids

    def _check_open(self):
        if self._shutdown:
            raise RuntimeError("cannot schedule new futures after shutdown")
        if _dispatch.exiting():
            raise RuntimeError("cannot schedule new futures after interpreter shutdown")

    def submit(self, fn, /, *args, **kwargs):
        """Schedules fn(*args, **kwargs) in a worker interpreter; returns a Future."""
        with self._shutdown_lock:
            self._check_open()
            future = _Future()
            ticket = self._delivery.submit(fn, args, kwargs or None, future)
            future._bind(self._delivery, ticket)
        return future

    def map(self, fn, *iterables, timeout=None, chunksize=1, buffersize=None):
        """Like map(fn, *iterables), run in the workers; results are yielded in order.

        chunksize items go to a worker together (one task). Without buffersize every
        item is submitted before map returns (as the stdlib executors do), batch by
        batch as it is encoded. With buffersize (Python 3.14's semantics), at most
        buffersize tasks are submitted and not yet yielded: the first ones before map
        returns, one more each time a task's results have all been yielded, so the
        input is read lazily and may be endless.
        timeout (seconds, from this call) bounds the whole iteration: TimeoutError.
        A task's exception is raised when its result would be yielded.
        """
        if buffersize is not None:
            if not isinstance(buffersize, int) or isinstance(buffersize, bool):
                raise TypeError("buffersize must be an integer or None")
            if buffersize < 1:
                raise ValueError("buffersize must be None or > 0")
        chunksize = _dispatch.check_chunksize(chunksize)
        if not iterables:
            raise TypeError("map() must have at least two arguments.")
        timeout = _dispatch.wait_timeout(timeout)
        end_time = None if timeout is None else timeout + time.monotonic()
        star = len(iterables) > 1
        source = iter(zip(*iterables) if star else iterables[0])
        results = _core.TaskResults(ordered=True)
        if buffersize is not None:
            feed = _WindowFeed(self, results, fn, source, chunksize, star, buffersize)
            return _dispatch.ordered_results(self._pool, results, end_time, feed.yielded)
        # Batches of several chunks: each submit_map encodes fn once, so a batch
        # amortizes it, and the workers start on the first batch while the next encodes.
        batch_items = max(_EAGER_BATCH_ITEMS, 16 * chunksize)
        try:
            while batch := list(itertools.islice(source, batch_items)):
                with self._shutdown_lock:
                    self._check_open()
                    self._pool.submit_map(results, fn, batch, chunksize, star)
        except BaseException:
            self._pool.cancel_queued(results)  # a bad item: what was submitted does not run
            results.abandon()
            raise
        results.close()
        return _dispatch.ordered_results(self._pool, results, end_time)

    def shutdown(self, wait=True, *, cancel_futures=False):
        """Takes no more tasks; cancels queued futures if cancel_futures; waits for the rest if wait."""
        with self._shutdown_lock:
            self._shutdown = True
            self._pool.stop(False)
        if cancel_futures:
            for future in self._delivery.pending_handles():
                future.cancel()
        self._delivery.close()
        if wait:
            self._pool.join()
            self._delivery.join()

    def _shutdown_at_exit(self):
        with self._shutdown_lock:
            self._shutdown = True
        self._pool.stop(True)  # queued tasks are cancelled; running ones finish (Ctrl-C interrupts them)
        self._delivery.close()
        _dispatch.end_at_exit(self._pool.join)
        _dispatch.end_at_exit(self._delivery.join)

from ._tracebacks import hide_internal_frames_of  # noqa: E402 - applied once the class exists

hide_internal_frames_of(InterpreterPoolExecutor, "__init__", "submit", "map", "shutdown")
hide_internal_frames_of(_Future, "result", "exception")
