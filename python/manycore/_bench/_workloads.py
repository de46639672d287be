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
