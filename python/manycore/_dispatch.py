"""python/manycore/_dispatch.py: what InterpreterPoolExecutor and Pool share: starting pools, exit, result delivery.

- ``start_pool`` starts the C++ worker pool (manycore._core.create_pool).
- ``register_for_exit`` shuts owners down from a ``threading._register_atexit`` hook:
  it runs before the interpreter joins non-daemon threads and before ``atexit`` hooks
  (so before ``_core.close_all``), like ``concurrent.futures`` does for its executors.
  At exit, queued tasks are cancelled and running ones are waited for.
- ``Delivery`` is the one thread per executor or Pool that resolves the handles of
  individually submitted tasks (Futures, AsyncResults). ``map``/``imap`` never use it:
  their caller takes results straight from C++.
- ``ordered_batches`` (wrapped in ``MapResults``, which iterates at C speed) is behind
  ``Executor.map``, ``ordered_results`` behind a map with ``buffersize``;
  ``collect_ordered`` the list behind ``Pool.map``.
"""

import itertools
import math
import operator
import os
import sys
import threading
import time
import weakref

from . import _compat, _core, _worker
from ._errors import ExecutionFailed, InterpreterError

_live_owners = weakref.WeakSet()
_registry_lock = threading.Lock()
_hook_registered = False
_exiting = False


def usable_cores():
    """Cores this process may run on (affinity-aware), at least 1."""
    count = os.process_cpu_count() if hasattr(os, "process_cpu_count") else None
    if count is None:
        try:
            count = len(os.sched_getaffinity(0))
        except AttributeError:
            count = os.cpu_count()
    return max(1, count or 1)


def exiting():
    return _exiting


def wait_timeout(timeout):
    """The one rule for the timeout of the stdlib-compatible waits (Future.result, AsyncResult.get, map, imap).

    None waits forever; a number is seconds, and a negative one does not wait (as in
    concurrent.futures and multiprocessing); NaN raises ValueError and a non-number
    (or a bool) TypeError, as every manycore wait does. Returns None or a float >= 0.
    """
    if timeout is None:
        return None
    # bool is an int, but timeout=True is almost surely a mix-up with `block`.
    if isinstance(timeout, bool) or not (
        isinstance(timeout, (int, float)) or hasattr(type(timeout), "__index__") or hasattr(type(timeout), "__float__")
    ):
        raise TypeError(f"timeout must be a number of seconds or None, not {type(timeout).__name__}")
    seconds = float(timeout)
    if math.isnan(seconds):
        raise ValueError("timeout must be a number of seconds or None, not NaN")
    return max(0.0, seconds)


def check_chunksize(chunksize):
    """chunksize as an int >= 1 (TypeError for a non-int, ValueError out of range), naming the argument."""
    if isinstance(chunksize, bool) or not hasattr(type(chunksize), "__index__"):
        raise TypeError(f"chunksize must be an int >= 1, not {type(chunksize).__name__}")
    value = operator.index(chunksize)
    if value < 1:
        raise ValueError(f"chunksize must be an int >= 1, got {value}")
    if value > sys.maxsize:
        raise ValueError(f"chunksize must be at most sys.maxsize ({sys.maxsize}), got {value}")
    return value


def is_ctrl_c(error):
    """True for a KeyboardInterrupt of the caller's own (Ctrl-C); False for one a task raised.

    A task's exception is that task's result: it arrives rebuilt with the
    ExecutionFailed that carries its remote traceback as __cause__.
    """
    return not isinstance(error.__cause__, ExecutionFailed)


def start_pool(workers, initializer, initargs):
    """A new manycore._core.WorkerPool with `workers` interpreters."""
    if isinstance(workers, bool) or not isinstance(workers, int):
        raise TypeError(f"the number of workers must be an int, not {type(workers).__name__}")
    if workers < 1:
        raise ValueError(f"the number of workers must be at least 1, got {workers}")
    if initializer is not None and not callable(initializer):
        raise TypeError(f"initializer must be a callable, not {type(initializer).__name__}")
    if _exiting:
        raise InterpreterError("the program is exiting: no new worker pool can start")
    if _worker.running_main_script:
        raise InterpreterError(
            "a manycore pool was created while the main script was being imported in a manycore "
            "interpreter (to find a function defined in it); put the script's entry point under "
            "`if __name__ == '__main__':`, as multiprocessing requires"
        )
    _compat.before_first_interpreter()
    return _core.create_pool(workers, initializer, tuple(initargs))


def _shutdown_all_at_exit():
    global _exiting
    _exiting = True
    for owner in list(_live_owners):
        try:
            owner._shutdown_at_exit()
        except BaseException:  # noqa: BLE001 - the other owners must still be shut down
            report_callback_error(f"the exit shutdown of {owner!r}")


_INTERRUPTED_AT_EXIT = (
    "manycore: KeyboardInterrupt at exit: interrupting the calls still running in manycore interpreters"
)
_interrupted_at_exit = False


def end_at_exit(wait):
    """Calls wait() (a join) until it returns; Ctrl-C meanwhile interrupts what still runs.

    At exit the program waits for running calls and tasks (as Python waits for its
    threads). A KeyboardInterrupt during that wait raises KeyboardInterrupt in every
    running call and pool task, and the wait goes on: the interpreters must still end
    before CPython finalizes. Once that happened, later waits interrupt right away.
    """
    global _interrupted_at_exit
    while True:
        try:  # a further Ctrl-C may land anywhere in here: it only starts another round
            if _interrupted_at_exit:
                _core.interrupt_all()
            wait()
            return
        except KeyboardInterrupt:
            first = not _interrupted_at_exit
            _interrupted_at_exit = True
            if first:
                # The process then ends as after an unhandled KeyboardInterrupt: killed
                # by SIGINT once finalization is over (exit status 130 in a shell).
                _core.exit_as_interrupted()
                try:
                    print(_INTERRUPTED_AT_EXIT, file=sys.stderr, flush=True)
                except KeyboardInterrupt:
                    pass  # the next round interrupts anyway


def register_for_exit(owner):
    """Calls owner._shutdown_at_exit() at interpreter exit if owner is still alive then."""
    global _hook_registered
    with _registry_lock:
        if not _hook_registered:
            threading._register_atexit(_shutdown_all_at_exit)
            _hook_registered = True
        _live_owners.add(owner)


def report_callback_error(what):
    """Prints the exception being handled, the way threading reports uncaught ones."""
    print(f"Exception in {what}:", file=sys.stderr)
    sys.excepthook(*sys.exc_info())


class Delivery:
    """Resolves the handles of tasks submitted one by one, on one thread of its own.

    Each submitted task gets a ticket; its handle (a Future or an AsyncResult) has a
    ``_manycore_done(ok, value)`` method, called on the delivery thread with ok True
    (value is the result), False (value is the exception) or None (the task was dropped
    before it ran: value is a CancelledError). The thread starts with the first task
    and ends once ``close()`` was called and every task ended; it then joins the pool.
    """

    def __init__(self, pool, name):
        self.results = _core.TaskResults(ordered=False)
        self._pool = pool
        self._name = name
        self._handles = {}  # ticket -> handle, guarded by _lock
        self._lock = threading.Lock()
        self._thread = None

    def submit(self, fn, args, kwargs, handle):
        with self._lock:
            # Under the lock: the delivery thread cannot look the ticket up before it is stored.
            ticket = self._pool.submit(self.results, fn, args, kwargs)
            self._handles[ticket] = handle
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name)
                self._thread.start()
        return ticket

    def cancel(self, ticket):
        """True if the task had not started: it will never run (its handle is dropped here)."""
        if not self.results.cancel(ticket):
            return False
        with self._lock:
            self._handles.pop(ticket, None)
        return True

    def running(self, ticket):
        return self.results.running(ticket)

    def pending_handles(self):
        with self._lock:
            return list(self._handles.values())

    def close(self):
        """No more tasks: the thread ends once every submitted task ended."""
        self.results.close()

    def join(self):
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _run(self):
        take = self.results.take_arrived
        while (batch := take()) is not None:
            with self._lock:
                handles = [(self._handles.pop(ticket, None), ok, value) for ticket, ok, value in batch]
            for handle, ok, value in handles:
                if handle is None:
                    continue
                try:
                    handle._manycore_done(ok, value)
                except BaseException:  # noqa: BLE001 - a callback's error must not end delivery
                    report_callback_error(f"the result callback of {handle!r}")
        # Every task ended: the workers only wait for the queue to drain, so this is quick.
        self._pool.join()


def stop_on_ctrl_c(pool, results):
    """Ctrl-C reached a caller waiting on a map: its tasks stop too.

    With processes, SIGINT reaches every worker of the terminal's process group; here
    the map's queued tasks are dropped and its running ones get KeyboardInterrupt, so
    the program does not wait for them before it exits.
    """
    pool.cancel_queued(results)
    pool.interrupt_running(results, "the map was interrupted by Ctrl-C")


def collect_ordered(pool, results):
    """The results of a map as a list, in order; raises the first failure (dropping the rest)."""
    collected = []
    try:
        while (batch := results.take_in_order()) is not None:
            collected.extend(batch)
    except KeyboardInterrupt as error:
        if is_ctrl_c(error):
            stop_on_ctrl_c(pool, results)
        raise
    finally:
        pool.cancel_queued(results)
        results.abandon()
    return collected


def ordered_batches(pool, results, end_time=None):
    """Yields the results of a map in order, a batch (list) at a time; raises a task's
    exception where its result would be.

    end_time (time.monotonic()) bounds the whole iteration: TimeoutError after it.
    Queued tasks of this map are dropped when the generator is closed early.
    """
    try:
        while True:
            if end_time is None:
                batch = results.take_in_order()
            else:
                batch = results.take_in_order(timeout=max(0.0, end_time - time.monotonic()))
                if batch == []:
                    raise TimeoutError("the map did not finish within its timeout")
            if batch is None:
                return
            yield batch
    except KeyboardInterrupt as error:
        if is_ctrl_c(error):
            stop_on_ctrl_c(pool, results)
        raise
    finally:
        pool.cancel_queued(results)
        results.abandon()


def ordered_results(pool, results, end_time=None, on_yielded=None):
    """Yields the results of a map in order (ordered_batches, one result at a time).

    on_yielded() runs after each result is yielded (a lazy map submits more there).
    """
    for batch in ordered_batches(pool, results, end_time):
        if on_yielded is None:
            yield from batch
        else:
            for value in batch:
                yield value
                on_yielded()


class MapResults:
    """The iterator Executor.map returns when nothing runs per result: iterating it
    (for, list, ...) walks the batches at C speed (itertools.chain), one result at a
    time as a generator would, with next() and close() as on a generator.
    """

    __slots__ = ("_batches", "_items")

    def __init__(self, batches):
        self._batches = batches
        self._items = itertools.chain.from_iterable(batches)

    def __iter__(self):
        return self._items

    def __next__(self):
        return next(self._items)

    def close(self):
        """Stops the map: its queued tasks are dropped."""
        self._batches.close()
