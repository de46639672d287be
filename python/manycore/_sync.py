"""python/manycore/_sync.py: threading's Lock, RLock, Condition, Event, Semaphore, BoundedSemaphore, Barrier and AtomicInt, across interpreters.

Each class is a thin subclass of its C type in ``manycore._core`` (the primitive
lives in the C++ core, ``src/core/sync.cc``): blocking calls run in C++ with the GIL
released, spin briefly, then park, and wake every 50 ms for signal handlers and
interrupts. Passing a primitive to another interpreter (call argument,
``prepare_main``, a queue, a container, ``Pool(initargs=...)``) gives that
interpreter the same primitive. This module adds what Python does better: the
asyncio variants and ``Condition.wait_for``.

The asyncio variants (``await lock.acquire_async()``, ``await event.wait_async()``,
...) poll the non-blocking form with a back-off from 50 us to 1 ms, so the event loop
never blocks and cancelling takes nothing: a waiter is woken at most ~1 ms after the
primitive becomes available.
"""

import time

from . import _core

__all__ = ["Lock", "RLock", "Condition", "Event", "Semaphore", "BoundedSemaphore", "Barrier", "AtomicInt"]

_FIRST_POLL = 0.00005
_LONGEST_POLL = 0.001


async def _poll(ready, timeout):
    """Awaits until ready() is true (True) or timeout seconds pass (False); ready() never blocks."""
    import asyncio  # here, not at the top: worker interpreters import this module (gh-119213 on 3.12.1)

    if ready():
        return True
    deadline = None if timeout is None else time.monotonic() + max(timeout, 0)
    delay = _FIRST_POLL
    while True:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            delay = min(delay, remaining)
        await asyncio.sleep(delay)
        if ready():
            return True
        delay = min(delay * 2, _LONGEST_POLL)


def _async_timeout(timeout):
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds or None, not {type(timeout).__name__}")
    if timeout != timeout:
        raise ValueError("timeout must not be NaN")
    return timeout


class Lock(_core.Lock):
    """threading.Lock for every thread of every interpreter (any thread may release it)."""

    __slots__ = ()

    async def acquire_async(self, timeout=None):
        """Like acquire(), without blocking the event loop; True once acquired, False after timeout seconds."""
        return await _poll(lambda: self.acquire(False), _async_timeout(timeout))


class RLock(_core.RLock):
    """threading.RLock for every thread of every interpreter (the owner is the acquiring OS thread)."""

    __slots__ = ()

    async def acquire_async(self, timeout=None):
        """Like acquire(), without blocking the event loop (the event loop's thread becomes the owner)."""
        return await _poll(lambda: self.acquire(False), _async_timeout(timeout))


class Condition(_core.Condition):
    """threading.Condition over a manycore Lock or RLock (a new RLock by default)."""

    __slots__ = ()

    def wait_for(self, predicate, timeout=None):
        """Waits until predicate() is true, as threading.Condition.wait_for (the lock must be held)."""
        end = None
        waittime = timeout
        result = predicate()
        while not result:
            if waittime is not None:
                if end is None:
                    end = time.monotonic() + waittime
                else:
                    waittime = end - time.monotonic()
                    if waittime <= 0:
                        break
            self.wait(waittime)
            result = predicate()
        return result


class Event(_core.Event):
    """threading.Event for every thread of every interpreter."""

    __slots__ = ()

    async def wait_async(self, timeout=None):
        """Like wait(), without blocking the event loop: True once set, False after timeout seconds."""
        return await _poll(self.is_set, _async_timeout(timeout))


class Semaphore(_core.Semaphore):
    """threading.Semaphore for every thread of every interpreter."""

    __slots__ = ()

    async def acquire_async(self, timeout=None):
        """Like acquire(), without blocking the event loop."""
        return await _poll(lambda: self.acquire(False), _async_timeout(timeout))


class BoundedSemaphore(_core.BoundedSemaphore, Semaphore):
    """threading.BoundedSemaphore: release() past the initial value raises ValueError."""

    __slots__ = ()


class Barrier(_core.Barrier):
    """threading.Barrier across interpreters; the action runs in the interpreter of the last party to arrive."""

    __slots__ = ()


class AtomicInt(_core.AtomicInt):
    """A signed 64-bit integer shared by every interpreter: load, store, add, fetch_add, compare_exchange, wait, notify."""

    __slots__ = ()

    async def wait_async(self, expected, timeout=None):
        """Like wait(), without blocking the event loop: 'not-equal', 'ok' (the value changed) or 'timed-out'.

        It polls the value, so it returns once the value differs from expected; a notify()
        that leaves the value unchanged does not end it.
        """
        if self.load() != expected:
            return "not-equal"
        changed = await _poll(lambda: self.load() != expected, _async_timeout(timeout))
        return "ok" if changed else "timed-out"


for _cls in (Lock, RLock, Condition, Event, Semaphore, BoundedSemaphore, Barrier, AtomicInt):
    _cls.__module__ = "manycore"
    _core.use_wrapper_class(_cls.__name__, _cls)
del _cls
