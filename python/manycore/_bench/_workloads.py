"""python/manycore/_bench/_workloads.py: the code benchmarks run inside workers (threads, processes, interpreters).

Kept apart from the benchmark modules and light to import: every worker process and
interpreter imports this module, and what it imports would count as that worker's
start-up time and memory.
"""

import os
import time


def factorial_fingerprint(n):
    """Computes n! with a plain Python loop; returns (bit length, hash) of it."""
    r = 1
    for i in range(2, n + 1):
        r *= i
    return r.bit_length(), hash(r)


def warm_up(pause):
    """Run once in each worker before timing: imports this module there; returns the worker's pid."""
    time.sleep(pause)
    return os.getpid()


def report_ready_and_wait(connection):
    """Body of a spawned process whose start-up is measured: say it runs, then wait to be told to exit."""
    connection.send(os.getpid())
    connection.recv()


def plus_one(x):
    """The tiny task of `bench pool`: dispatch cost only."""
    return x + 1


def echo(data):
    """Returns its argument: `bench pool` sends 1 MiB bytes each way through it."""
    return data


def check_in(arrived_fd, release_fd):
    """A pool's start-up barrier: tell the caller this worker runs, then wait for its go.

    A worker blocked here takes no other task, so W of these running at once prove that
    W workers are up and have imported this module. Pipes (file descriptors are ints)
    rather than queues: the barrier imports nothing a task would not.
    """
    os.write(arrived_fd, b".")
    if os.read(release_fd, 1) != b".":
        raise RuntimeError("the start-up barrier's pipe was closed")


def crc32_of_buffer(buffer, start, stop):
    """zlib.crc32 of buffer[start:stop], read in place through a memoryview (the demo's shared-memory task)."""
    import zlib

    with memoryview(buffer) as view, view[start:stop] as part:
        return zlib.crc32(part)


def crc32_of_shared_memory(name, start, stop):
    """crc32_of_buffer over a multiprocessing.shared_memory block, attached by name (in a worker process)."""
    from multiprocessing import shared_memory

    block = shared_memory.SharedMemory(name=name)
    try:
        return crc32_of_buffer(block.buf, start, stop)
    finally:
        block.close()
def spin(n):
    """Pure-Python CPU work for `bench ecosystem` (Dask and joblib tasks): a sum of squares in a loop."""
    total = 0
    for i in range(n):
        total += i * i
    return total


def total(*values):
    """The last node of `bench ecosystem`'s Dask graph."""
    return sum(values)
def int_list(n):
    """A fresh list of n ints: the result of each of `bench data`'s ten pool tasks."""
    return list(range(n))


def size_of(data):
    """len(data), or 0 for values without one: `bench data`'s one-way task (the result is tiny)."""
    try:
        return len(data)
    except TypeError:
        return 0


def count_lines(chunk):
    """Lines in one chunk of log text: `bench data`'s streaming map task."""
    return chunk.count("\n")
