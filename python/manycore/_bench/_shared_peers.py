"""python/manycore/_bench/_shared_peers.py: what `bench shared` runs in its workers (interpreters, threads, spawned processes).

Stdlib only at import (manycore objects arrive as arguments), so a spawned process or
a new interpreter imports it cheaply.
"""

import time
import zlib


def first_byte(buf):
    """The hand-off probe: touches the received buffer (one byte)."""
    return buf[0] if len(buf) else None


def crc_of(buf):
    return zlib.crc32(buf)


def crc_of_shared_memory(name, start, stop):
    """ProcessPoolExecutor task: attach to multiprocessing.shared_memory by name, crc32 a range."""
    from multiprocessing import shared_memory

    block = shared_memory.SharedMemory(name=name)
    try:
        view = block.buf[start:stop]
        try:
            return zlib.crc32(view)
        finally:
            view.release()
    finally:
        block.close()


def ping_pong(mine, theirs, rounds, ready=None):
    """The peer side of lock ping-pong: acquire mine, release theirs, `rounds` times."""
    if ready is not None:
        ready.set()
    for _ in range(rounds):
        mine.acquire()
        theirs.release()
    return rounds


def start_together(start):
    """Waits for the start signal (an Event, or an AtomicInt that becomes non-zero)."""
    if hasattr(start, "wait") and not hasattr(start, "load"):
        start.wait()
        return
    while start.load() == 0:
        pass


def atomic_adds(counter, times, start):
    start_together(start)
    began = time.perf_counter()
    for _ in range(times):
        counter.add(1)
    return time.perf_counter() - began


def value_increments(value, times, start):
    start_together(start)
    began = time.perf_counter()
    for _ in range(times):
        with value.get_lock():
            value.value += 1
    return time.perf_counter() - began


def dict_get_set(shared, key, times, start):
    start_together(start)
    began = time.perf_counter()
    for i in range(times):
        shared[key] = i
        shared[key]
    return time.perf_counter() - began


def in_process(target, args, results):
    """A spawned process's body: run target(*args), send back what it returned."""
    results.put(target(*args))
