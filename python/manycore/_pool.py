"""python/manycore/_pool.py: Pool, a multiprocessing.Pool work-alike whose workers are own-GIL interpreters.

A program that uses ``multiprocessing.Pool`` switches by changing the import::

    from manycore import Pool          # was: from multiprocessing import Pool

    with Pool() as pool:
        squares = pool.map(square, range(1000))
        for result in pool.imap_unordered(work, items):   # streams as results complete
            ...

Differences from multiprocessing, all because workers are interpreters, not processes:
``maxtasksperchild`` is refused (a worker is never recycled: ending an interpreter
leaks memory inside CPython), ``context`` is accepted and ignored, and ``terminate()``
stops a running task by raising KeyboardInterrupt in it (at its next bytecode) instead
of killing a process.

Callbacks of ``apply_async`` run on the pool's delivery thread; those of
``map_async``/``starmap_async`` on the thread that collects that map's results.
"""

import collections
import itertools
import sys
import threading
import weakref

from . import _core, _dispatch

__all__ = ["Pool", "AsyncResult", "ApplyResult", "MapResult", "IMapIterator", "IMapUnorderedIterator"]

_RUN, _CLOSE, _TERMINATE = "RUN", "CLOSE", "TERMINATE"
_pool_numbers = itertools.count()


def _timeout_error(message):
    # multiprocessing.TimeoutError, as code written for multiprocessing catches it
    # (imported only when needed: it is not what a worker interpreter should load).
    from multiprocessing import TimeoutError as MultiprocessingTimeoutError

    return MultiprocessingTimeoutError(message)


class AsyncResult:
    """The result of apply_async/map_async (multiprocessing.pool.AsyncResult API)."""

    def __init__(self, callback=None, error_callback=None):
        self._event = threading.Event()
        self._callback = callback
        self._error_callback = error_callback
        self._success = None
        self._value = None

    def __repr__(self):
        state = "ready" if self.ready() else "pending"
        return f"<manycore.{type(self).__name__} {state}>"

    def ready(self):
        return self._event.is_set()

    def successful(self):
        if not self.ready():
            raise ValueError(f"{self!r} not ready")
        return self._success

    def wait(self, timeout=None):
        self._event.wait(_dispatch.wait_timeout(timeout))

    def get(self, timeout=None):
        if not self._event.wait(_dispatch.wait_timeout(timeout)):
            raise _timeout_error("the result was not ready within the timeout")
        if self._success:
            return self._value
        raise self._value

    def _manycore_done(self, ok, value):
        # As multiprocessing: callbacks run before waiters are released.
        self._success = bool(ok)
        self._value = value
        try:
            if self._success and self._callback is not None:
                self._callback(value)
            elif not self._success and self._error_callback is not None:
                self._error_callback(value)
        finally:
            self._event.set()


ApplyResult = AsyncResult


class MapResult(AsyncResult):
    """The result of map_async/starmap_async: a list, in the order of the input."""


class IMapIterator:
    """Results of imap in input order, each as soon as it (and those before it) completed.

    Items are sent to the workers a window at a time as the iteration proceeds, so an
    endless input works and a progress bar around it moves as results complete.
    next(timeout) raises multiprocessing.TimeoutError if no result came in time. A
    task's exception is raised at its place; iteration may go on after it.
    """

    _ordered = True

    def __init__(self, pool, func, iterable, chunksize, star=False):
        chunksize = _dispatch.check_chunksize(chunksize)
        self._pool = pool
        self._func = func
        self._source = iter(iterable)
        self._chunksize = chunksize
        self._star = star
        self._results = _core.TaskResults(ordered=self._ordered)
        # Enough queued work to keep every worker busy between two top-ups.
        self._window = min(sys.maxsize, max(64, 4 * pool._processes * chunksize))
        self._buffer = collections.deque()
        self._exhausted = False
        self._top_up()

    def __iter__(self):
        return self

    def _top_up(self):
        if self._exhausted:
            return
        missing = self._window - self._results.outstanding
        if missing < self._window // 2:
            return
        items = list(itertools.islice(self._source, missing))
        if items:
            self._pool._submit_map(self._results, self._func, items, self._chunksize, self._star)
        if len(items) < missing:
            self._exhausted = True
            self._results.close()

    def _take(self, timeout):
        batch = self._results.take_in_order(timeout=timeout)
        if batch is None:
            raise StopIteration
        self._buffer.extend((True, value) for value in batch)

    def next(self, timeout=None):
        timeout = _dispatch.wait_timeout(timeout)
        if not self._buffer:
            self._top_up()
            try:
                self._take(timeout)
            except KeyboardInterrupt as error:
                # Only the caller's own Ctrl-C stops the map; a task's KeyboardInterrupt
                # is that task's result, raised at its place.
                if _dispatch.is_ctrl_c(error):
                    _dispatch.stop_on_ctrl_c(self._pool._pool, self._results)
                raise
            if not self._buffer:
                raise _timeout_error("no result within the timeout")
        self._top_up()
        ok, value = self._buffer.popleft()
        if not ok:
            raise value
        return value

    __next__ = next


class IMapUnorderedIterator(IMapIterator):
    """Results of imap_unordered, each as soon as it completed."""

    _ordered = False

    def _take(self, timeout):
        batch = self._results.take_arrived(timeout=timeout)
        if batch is None:
            raise StopIteration
        self._buffer.extend((bool(ok), value) for _, ok, value in batch)


def _finalize(pool, delivery):
    # The Pool was garbage-collected while running: drop what is queued, as
    # multiprocessing's finalizer terminates the pool.
    pool.stop(True)
    delivery.close()


class Pool:
    """A pool of own-GIL worker interpreters with the multiprocessing.Pool API.

    processes defaults to the number of usable cores; initializer(*initargs) runs once
    in each worker before it takes tasks (if it raises, tasks fail with
    BrokenInterpreterPool).
    """

    def __init__(self, processes=None, initializer=None, initargs=(), maxtasksperchild=None, context=None):
        if maxtasksperchild is not None:
            raise ValueError(
                "manycore.Pool does not support maxtasksperchild: its workers are long-lived "
                "interpreters, and ending one leaks memory inside CPython; leave it None"
            )
        del context  # accepted for compatibility: there are no processes to start
        if processes is None:
            processes = _dispatch.usable_cores()
        if isinstance(processes, int) and not isinstance(processes, bool) and processes < 1:
            raise ValueError("Number of processes must be at least 1")
        self._processes = processes
        self._state = _RUN
        self._lock = threading.Lock()
        self._number = next(_pool_numbers)
        self._pool = _dispatch.start_pool(processes, initializer, initargs)
        self._delivery = _dispatch.Delivery(self._pool, f"manycore.Pool-{self._number}_delivery")
        self._collectors = set()  # threads collecting map_async results, guarded by _lock
        self._finalizer = weakref.finalize(self, _finalize, self._pool, self._delivery)
        self._finalizer.atexit = False  # exit is handled by _shutdown_at_exit
        _dispatch.register_for_exit(self)

    def __repr__(self):
        return f"<manycore.Pool state={self._state} pool_size={self._processes}>"

    def __enter__(self):
        self._check_running()
        return self

    def __exit__(self, *exc_info):
        self.terminate()

    def _check_running(self):
        if self._state != _RUN:
            raise ValueError("Pool not running")

    def _default_chunksize(self, items):
        chunksize, extra = divmod(len(items), self._processes * 4)
        return max(1, chunksize + bool(extra))

    def _submit_map(self, results, func, items, chunksize, star):
        self._pool.submit_map(results, func, items, chunksize, star)

    # ---- blocking -------------------------------------------------------------------

    def apply(self, func, args=(), kwds={}):  # noqa: B006 - the multiprocessing signature
        """func(*args, **kwds) in a worker; its result."""
        return self.apply_async(func, args, kwds).get()

    def map(self, func, iterable, chunksize=None):
        """list(map(func, iterable)) computed by the workers, chunksize items per task."""
        return self._map(func, iterable, chunksize, star=False)

    def starmap(self, func, iterable, chunksize=None):
        """[func(*args) for args in iterable] computed by the workers."""
        return self._map(func, iterable, chunksize, star=True)

    def _map(self, func, iterable, chunksize, star):
        self._check_running()
        results = self._start_map(func, iterable, chunksize, star)
        return self._collect(results)

    def _start_map(self, func, iterable, chunksize, star):
        if chunksize is not None:
            chunksize = _dispatch.check_chunksize(chunksize)
        items = iterable if hasattr(iterable, "__len__") else list(iterable)
        if chunksize is None:
            chunksize = self._default_chunksize(items)
        results = _core.TaskResults(ordered=True)
        self._submit_map(results, func, items, chunksize, star)
        results.close()
        return results

    def _collect(self, results):
        return _dispatch.collect_ordered(self._pool, results)

    # ---- asynchronous ---------------------------------------------------------------

    def apply_async(self, func, args=(), kwds={}, callback=None, error_callback=None):  # noqa: B006
        """Starts func(*args, **kwds) in a worker; an AsyncResult."""
        self._check_running()
        result = ApplyResult(callback, error_callback)
        self._delivery.submit(func, tuple(args), dict(kwds) or None, result)
        return result

    def map_async(self, func, iterable, chunksize=None, callback=None, error_callback=None):
        """Starts map(func, iterable); a MapResult whose get() is the list."""
        return self._map_async(func, iterable, chunksize, callback, error_callback, star=False)

    def starmap_async(self, func, iterable, chunksize=None, callback=None, error_callback=None):
        """Starts starmap(func, iterable); a MapResult whose get() is the list."""
        return self._map_async(func, iterable, chunksize, callback, error_callback, star=True)

    def _map_async(self, func, iterable, chunksize, callback, error_callback, star):
        self._check_running()
        result = MapResult(callback, error_callback)
        results = self._start_map(func, iterable, chunksize, star)

        def collect():
            try:
                value, ok = self._collect(results), True
            except BaseException as error:  # noqa: BLE001 - handed to the result
                value, ok = error, False
            try:
                result._manycore_done(ok, value)
            except BaseException:  # noqa: BLE001
                _dispatch.report_callback_error(f"the callback of {result!r}")
            with self._lock:
                self._collectors.discard(threading.current_thread())

        collector = threading.Thread(target=collect, name=f"manycore.Pool-{self._number}_map")
        with self._lock:
            self._collectors.add(collector)
        collector.start()
        return result

    def imap(self, func, iterable, chunksize=1):
        """An iterator over map(func, iterable) that yields each result once it and those before it are done."""
        self._check_running()
        return IMapIterator(self, func, iterable, chunksize)

    def imap_unordered(self, func, iterable, chunksize=1):
        """An iterator over the results of func on each item, in completion order."""
        self._check_running()
        return IMapUnorderedIterator(self, func, iterable, chunksize)

    # ---- life cycle -----------------------------------------------------------------

    def close(self):
        """No more tasks; the workers finish what was submitted."""
        if self._state == _RUN:
            self._state = _CLOSE
            self._pool.stop(False)
            self._delivery.close()

    def terminate(self):
        """Stops now: drops queued tasks, interrupts running ones, ends the workers.

        Running tasks get KeyboardInterrupt at their next bytecode (time.sleep and
        manycore waits within 50 ms; a task blocked in another C call, e.g. Event.wait,
        sees it when the call returns, and terminate waits for that); the results of what
        was dropped or interrupted raise concurrent.futures.CancelledError.
        """
        self._state = _TERMINATE
        self._pool.stop(True)
        self._pool.interrupt_running(None, "the task was stopped by Pool.terminate()")
        self._delivery.close()
        self._join_all()

    def join(self):
        """Waits for the workers to end; call close() or terminate() first."""
        if self._state == _RUN:
            raise ValueError("Pool is still running")
        self._join_all()

    def _join_all(self):
        self._pool.join()
        self._delivery.join()
        with self._lock:
            collectors = list(self._collectors)
        for collector in collectors:
            if collector is not threading.current_thread():
                collector.join()

    def _shutdown_at_exit(self):
        # As multiprocessing, whose workers are daemon processes: running tasks are stopped.
        _dispatch.end_at_exit(self.terminate)

from ._tracebacks import hide_internal_frames_of  # noqa: E402 - applied once the classes exist

hide_internal_frames_of(Pool, "__init__", "__exit__", "apply", "map", "starmap", "apply_async", "map_async",
                        "starmap_async", "imap", "imap_unordered", "close", "terminate", "join")
hide_internal_frames_of(AsyncResult, "wait", "get", "successful")
hide_internal_frames_of(IMapIterator, "next", "__next__")
