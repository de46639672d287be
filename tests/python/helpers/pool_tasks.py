"""tests/python/helpers/pool_tasks.py: module-level tasks that the executor and Pool tests send to worker interpreters.

Importable in workers (tests/python is on sys.path, which pools copy); stdlib only.
"""

import os
import sys
import threading
import time

_initialized = []


def square(x):
    return x * x


def add(a, b=0, *, scale=1):
    return (a + b) * scale


def plus_one(x):
    return x + 1


def interpreter_id():
    """The id of the interpreter running this (a pool worker's)."""
    import manycore

    return manycore.get_current().id


def interpreter_id_after(seconds):
    time.sleep(seconds)
    return interpreter_id()


def sleep_then_return(seconds, value=None):
    time.sleep(seconds)
    return value


def raise_key_error(key):
    raise KeyError(key)


class CustomError(Exception):
    """An exception type defined in an importable module: it crosses with its type."""

    def __init__(self, code):
        super().__init__(f"custom failure {code}")
        self.code = code


def raise_custom(code):
    raise CustomError(code)


def fail_on(bad, x):
    if x == bad:
        raise ValueError(f"bad item {x}")
    return x


def initialize(tag):
    _initialized.append(tag)


def initialized():
    return list(_initialized)


def failing_initializer():
    raise RuntimeError("initializer failed on purpose")


def return_unsendable():
    return threading.Lock()


def factorial_bits(n):
    result = 1
    for i in range(2, n + 1):
        result *= i
    return result.bit_length()


def pid_and_thread():
    return (os.getpid(), threading.get_ident())


def wait_for_file(path, timeout):
    """Blocks until `path` exists (at most timeout seconds); True if it appeared."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            return True
        time.sleep(0.005)
    return False


def touch_then_wait(started, release, timeout):
    """Creates `started`, then waits for `release` to exist."""
    with open(started, "w"):
        pass
    return wait_for_file(release, timeout)


def in_main_interpreter():
    return sys.modules["__main__"].__dict__.get("__name__")


def initialized_for(_item):
    """initialized(), as a one-argument function for map."""
    return initialized()


def sleep_echo(seconds):
    time.sleep(seconds)
    return seconds


def fail_on_two(x):
    return fail_on(2, x)


def module_loaded(name):
    return name in sys.modules


def wait_catching_interrupt(started, timeout):
    """Creates `started`, waits up to timeout s; returns "interrupted" if KeyboardInterrupt reached it."""
    with open(started, "w"):
        pass
    try:
        wait_for_file(started + ".never", timeout)
    except KeyboardInterrupt:
        return "interrupted"
    return "waited"


def wait_long(path):
    """wait_for_file(path, 600): a task that only an interrupt ends within a test's time."""
    return wait_for_file(path, 600)


_free_gate = []


def set_free_gate(gate, record):
    """In a worker: WaitsOnFree objects freed here wait on `gate` and put what they saw into `record`."""
    _free_gate[:] = [gate, record]


def return_one(_argument):
    return 1


class WaitsOnFree:
    """When freed, waits up to 10 s for the gate of set_free_gate and records whether it opened in time.

    Freed before the caller got its result, it waits in vain (the caller opens the gate only after).
    """

    def __del__(self):
        if _free_gate:
            gate, record = _free_gate
            record.put(gate.wait(10))


def touch(path):
    """Creates the file at path (a task that leaves a trace)."""
    with open(path, "w"):
        pass
