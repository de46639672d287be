"""python/manycore/_queues.py: cross-interpreter queues (PEP 734 surface, plus close, iteration, select, asyncio).

``manycore.Queue`` is a thin subclass of the C type ``manycore._core.Queue``: put/get
and friends run in C++ (the GIL is released while they wait); this module adds the
asyncio methods. Received queues arrive as this class in every interpreter that
imports manycore (``_core.use_wrapper_class``).
"""

from . import _core, _errors
from ._errors import QueueError, QueueNotFoundError

__all__ = [
    "Queue", "create_queue", "list_queues", "select",
    "QueueError", "QueueNotFoundError", "QueueEmpty", "QueueFull", "QueueClosed",
]


class Queue(_core.Queue):
    """A FIFO shared by every interpreter of the process.

    ``Queue(id)`` is the existing queue with that id, in any interpreter (PEP 734;
    QueueNotFoundError if there is none); ``create_queue(maxsize=0)`` or
    ``Queue(maxsize=0)`` makes a new one. Each interpreter holds one object per queue:
    ``Queue(q.id) is q``. A queue pickles by id and lives while any interpreter holds it.

    Same methods as ``queue.Queue``: ``put(obj, block=True, timeout=None)``,
    ``put_nowait``, ``get(block=True, timeout=None)``, ``get_nowait``, ``qsize``,
    ``empty``, ``full``; plus ``id``, ``maxsize``, ``close()``, ``closed``, iteration
    (``for item in q`` ends once the queue is closed and drained), and
    ``await get_async()`` / ``await put_async(obj)``.

    Items are copied across interpreters by the value codec (native types, else
    pickle). Passing the queue itself to another interpreter (call argument,
    ``prepare_main``, inside another queue) gives that interpreter the same queue.
    """

    __slots__ = ()

    async def get_async(self):
        """Like get(), but waits without blocking the event loop (no thread is used).

        Cancelling it takes nothing out of the queue.
        """
        while True:
            try:
                return self.get_nowait()
            except _errors.QueueEmpty:
                pass
            await _wait_for(self, "get", lambda: self.qsize() > 0 or self.closed)

    async def put_async(self, obj):
        """Like put(), but waits for room without blocking the event loop.

        Cancelling it puts nothing.
        """
        while True:
            try:
                return self.put_nowait(obj)
            except _errors.QueueFull:
                pass
            await _wait_for(self, "put", lambda: not self.full() or self.closed)


async def _wait_for(queue, event, ready):
    """Waits until ready() holds, woken through a pipe the queue writes to (loop.add_reader)."""
    # Imported here, not at the top: every worker interpreter imports this module, and
    # importing asyncio in a subinterpreter crashes 3.12.1 at exit (gh-119213).
    import asyncio

    loop = asyncio.get_running_loop()
    watch = queue._watch(event)
    try:
        # Subscribed before this check: a change after it is signalled on the pipe.
        while not ready():
            woken = loop.create_future()
            loop.add_reader(watch.fileno(), lambda: woken.done() or woken.set_result(None))
            try:
                await woken
            finally:
                loop.remove_reader(watch.fileno())
            watch.take()
    finally:
        watch.close()


def create_queue(maxsize=0):
    """A new queue; ``maxsize`` > 0 bounds it (put blocks, or raises QueueFull, when full)."""
    return Queue(maxsize=maxsize)


def list_queues():
    """Every queue that exists in the process (held by any interpreter), in id order."""
    return _core.list_queues()


# The names of concurrent.interpreters._queues (3.14): create and list_all.
create = create_queue
list_all = list_queues


def select(queues, timeout=None):
    """Waits until one of ``queues`` has an item and returns that queue (the first in list order).

    Returns None if ``timeout`` seconds pass first. Closed, drained queues are skipped;
    QueueClosed is raised once all of them are. The GIL is released while waiting.
    With several consumers the item may be taken by another one before you get it:
    use ``get_nowait()`` and handle QueueEmpty.
    """
    return _core.select(queues, timeout)


_core.use_wrapper_class("Queue", Queue)


def __getattr__(name):
    # The exceptions derived from the queue module's are made on first use (see _errors).
    if name in ("QueueEmpty", "QueueFull", "QueueClosed"):
        return getattr(_errors, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
