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

from . import _core, _dispatch, _errors

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


class _BackgroundFeed:
    """Submits an eager map's tasks: the input is collected at once (as the stdlib does),
    but encoded and submitted as the workers go, from a thread of its own after the
    first tasks. Every task runs whether or not the results are iterated (the stdlib's
    semantics), while the encoded input held at any time stays bounded: at most
    _MAX_ITEMS items and about _MAX_BYTES of encoded input are submitted and unfinished
    (the byte bound from the average encoded size of the items so far), and the feeder
    tops up once half of that is done. The first max(64, 4 * workers * chunksize) items
    go by the call itself, so the first result comes as early as Pool.imap's. An item
    that cannot be sent fails its chunk in its place in the order (NotShareableError
    raised where that result would be), as a process pool does.
    """

    _WAIT_SLICE_S = 0.1  # how often a waiting feeder checks that it should stop
    _MAX_ITEMS = 16384
    _MAX_BYTES = 16 << 20

    def __init__(self, executor, results, fn, items, chunksize, star):
        self._executor = executor
        self._results = results
        self._fn = fn
        self._items = items
        self._chunksize = chunksize
        self._star = star
        self._first = max(64, 4 * executor._max_workers * chunksize)  # as Pool.imap's window
        self._window = self._first
        self._submitted_items = 0
        self._submitted_bytes = 0
        self._next = 0
        self._stop = False
        self._thread = None

    def start(self):
        """Submits the first tasks here; the rest from a thread."""
        try:
            self._submit_window(self._first)
        except BaseException:
            self._executor._pool.cancel_queued(self._results)
            self._results.abandon()
            raise
        if self._next >= len(self._items):
            self._results.close()
            return
        self._thread = threading.Thread(target=self._run, name=f"{self._executor._thread_name_prefix}_map_feeder",
                                        daemon=True)
        self._executor._feeds.add(self)
        self._thread.start()

    def _submit(self, batch):
        count, encoded = self._executor._pool.submit_map(self._results, self._fn, batch, self._chunksize, self._star,
                                                         sized=True)
        self._submitted_items += count
        self._submitted_bytes += encoded
        average = max(1, self._submitted_bytes // max(1, self._submitted_items))
        self._window = max(self._first, min(self._MAX_ITEMS, self._MAX_BYTES // average))

    def _submit_window(self, count):
        """The next `count` items (whole chunks, one submit_map); if one of them cannot be
        sent, each chunk alone, a bad one failed in place."""
        start = self._next
        end = min(len(self._items), start + max(count, self._chunksize))
        end = start + -(-(end - start) // self._chunksize) * self._chunksize  # whole chunks
        self._next = min(len(self._items), end)
        try:
            self._submit(self._items[start:end])
            return
        except _errors.NotShareableError:
            self._next = start
        while self._next < end and self._next < len(self._items):
            chunk = self._items[self._next:self._next + self._chunksize]
            self._next += len(chunk)
            try:
                self._submit(chunk)
            except _errors.NotShareableError as error:
                self._results.fail_next(len(chunk), str(error))

    def _run(self):
        try:
            while self._next < len(self._items):
                # Top up once half the window is done: a wake-up per half window, not per task.
                while not self._results.wait_outstanding(self._window // 2, self._WAIT_SLICE_S):
                    if self._stop:
                        break
                if self._stop or self._results.abandoned():
                    break
                self._submit_window(max(1, self._window - self._results.outstanding))
        except BaseException as error:  # noqa: BLE001 - ends the map in its place, never a crash
            left = len(self._items) - self._next
            if left > 0:
                self._results.fail_next(left, f"the map stopped submitting its tasks: {error!r}")
                self._next = len(self._items)
        finally:
            if self._stop and self._next < len(self._items):
                self._results.fail_next(len(self._items) - self._next, "the executor was shut down before this "
                                        "item of the map was submitted", True)
            self._items = None
            self._results.close()
            self._executor._feed_ended(self)

    def stop_and_join(self, finish):
        """finish: submit what is left first (shutdown(wait=True)); else stop feeding now."""
        if not finish:
            self._stop = True
        if self._thread is not None:
            self._thread.join()


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
        self._feeds = set()  # _BackgroundFeed of maps still submitting
        self._map_results = weakref.WeakSet()  # the TaskResults of maps (cancel_futures drops their queued tasks)
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
        self._map_results.add(results)
        if buffersize is not None:
            feed = _WindowFeed(self, results, fn, source, chunksize, star, buffersize)
            return _dispatch.ordered_results(self._pool, results, end_time, feed.yielded)
        items = list(source)  # collected at once, as the stdlib executors do
        with self._shutdown_lock:
            self._check_open()
            _BackgroundFeed(self, results, fn, items, chunksize, star).start()
        return _dispatch.MapResults(_stripping(_dispatch.ordered_batches(self._pool, results, end_time)))

    def shutdown(self, wait=True, *, cancel_futures=False):
        """Takes no more tasks; cancels queued futures if cancel_futures; waits for the rest if wait."""
        with self._shutdown_lock:
            self._shutdown = True
            feeds = list(self._feeds)
        # A map submitted before shutdown runs all its tasks (unless cancel_futures):
        # with wait, its feeder finishes here; without, the last feeder to end stops
        # the pool (_feed_ended).
        for feed in feeds:
            if cancel_futures:
                feed.stop_and_join(finish=False)
            elif wait:
                feed.stop_and_join(finish=True)
        with self._shutdown_lock:
            stop_now = not self._feeds
        if stop_now:
            self._pool.stop(False)
        if cancel_futures:
            for future in self._delivery.pending_handles():
                future.cancel()
            for results in list(self._map_results):  # as the stdlib: a map's queued tasks are futures too
                self._pool.cancel_queued(results)
        self._delivery.close()
        if wait:
            self._pool.join()
            self._delivery.join()

    def _feed_ended(self, feed):
        with self._shutdown_lock:
            self._feeds.discard(feed)
            stop_now = self._shutdown and not self._feeds
        if stop_now:
            self._pool.stop(False)

    def _shutdown_at_exit(self):
        with self._shutdown_lock:
            self._shutdown = True
        for feed in list(self._feeds):
            feed.stop_and_join(finish=False)
        self._pool.stop(True)  # queued tasks are cancelled; running ones finish (Ctrl-C interrupts them)
        self._delivery.close()
        _dispatch.end_at_exit(self._pool.join)
        _dispatch.end_at_exit(self._delivery.join)

from ._tracebacks import _stripping, hide_internal_frames_of  # noqa: E402 - applied once the class exists

hide_internal_frames_of(InterpreterPoolExecutor, "__init__", "submit", "map", "shutdown")
hide_internal_frames_of(_Future, "result", "exception")
hide_internal_frames_of(_dispatch.MapResults, "__next__")
