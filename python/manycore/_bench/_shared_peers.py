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


def sha256_of(buf):
    import hashlib  # imported where it runs: the module stays cheap to import elsewhere

    return hashlib.sha256(buf).hexdigest()


WORK = {"crc32": crc_of, "sha256": sha256_of}


def work_on(name, buf):
    """WORK[name](buf): zlib.crc32 or hashlib.sha256 of a bytes-like (both release the GIL)."""
    return WORK[name](buf)


def warm_up(seconds):
    """A spawned worker's first task: the imports of work_on_shared_memory, then a pause, so that
    each of two tasks lands in its own worker."""
    import hashlib  # noqa: F401
    import resource  # noqa: F401
    from multiprocessing import shared_memory  # noqa: F401

    time.sleep(seconds)


def minor_faults():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def work_on_shared_memory(name, block_name, start, stop):
    """ProcessPoolExecutor task: attach to multiprocessing.shared_memory by name, run WORK[name] on a range.

    Returns (result, minor page faults the task took): each task maps the block
    afresh, so it faults its pages in again.
    """
    from multiprocessing import shared_memory

    faults = minor_faults()
    block = shared_memory.SharedMemory(name=block_name)
    try:
        view = block.buf[start:stop]
        try:
            result = WORK[name](view)
        finally:
            view.release()
    finally:
        block.close()
    return result, minor_faults() - faults


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
