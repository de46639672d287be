"""tests/python/helpers/remote.py: functions, classes and exceptions that tests send to manycore interpreters.

Everything here is module-level and importable (tests/python is on sys.path, which new
interpreters copy), so it travels by reference. Stdlib imports only: this module is
imported inside worker interpreters.
"""

import collections
import dataclasses
import enum
import os
import select
import sys
import threading
import time


# ---- plain functions ----------------------------------------------------------------

def identity(value):
    return value


def type_of(value):
    """The module and qualname of value's type, as seen inside the interpreter."""
    return (type(value).__module__, type(value).__qualname__)


def add(a, b=0, *, scale=1):
    return (a + b) * scale


def append_and_return(items, item):
    items.append(item)
    return items


def current_interpreter_id():
    import manycore

    return manycore.get_current().id


def main_namespace_value(name):
    return sys.modules["__main__"].__dict__[name]


def sys_path():
    return list(sys.path)


def module_names():
    return sorted(sys.modules)


def import_module(name):
    import importlib

    importlib.import_module(name)
    return name in sys.modules


def set_main_attribute(name, value):
    setattr(sys.modules["__main__"], name, value)


# ---- values that cannot travel ------------------------------------------------------

def make_lock():
    return threading.Lock()


def make_generator():
    return (i for i in range(3))


def make_socket():
    import socket

    return socket.socket()


def deeply_nested_list(depth):
    value = []
    for _ in range(depth):
        value = [value]
    return value


def nesting_depth(value):
    depth = 0
    while isinstance(value, list) and value:
        value = value[0]
        depth += 1
    return depth


# ---- cross-interpreter rendezvous through pipes (file descriptors are process-wide) --

def wait_for_byte(read_fd, timeout):
    """True if a byte arrives on read_fd within timeout seconds (consumes it)."""
    ready, _, _ = select.select([read_fd], [], [], timeout)
    if not ready:
        return False
    return os.read(read_fd, 1) == b"x"


def rendezvous(write_fd, read_fd, timeout):
    """Signals the peer, then waits for the peer's signal: both return True only if both ran at once.

    Returns (met, start, end) with time.monotonic() stamps (one clock for the whole process).
    """
    start = time.monotonic()
    os.write(write_fd, b"x")
    met = wait_for_byte(read_fd, timeout)
    return met, start, time.monotonic()


def signal_then_block(write_fd, read_fd, timeout):
    """Tells the caller it started, then blocks until released (or timeout)."""
    os.write(write_fd, b"x")
    return wait_for_byte(read_fd, timeout)


def signal_then_spin(write_fd, seconds):
    """Tells the caller it started, then runs Python bytecode for `seconds`; returns "finished"."""
    os.write(write_fd, b"x")
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass
    return "finished"


def signal_then_wait(write_fd, how, waitable):
    """Tells the caller it started, then blocks in a manycore wait: a queue get, a channel recv or a select."""
    os.write(write_fd, b"x")
    if how == "queue_get":
        return waitable.get()
    if how == "channel_recv":
        return waitable.recv()
    if how == "select":
        import manycore

        return manycore.select(waitable)
    raise ValueError(how)


def spin_holding_gil(flag_path, timeout):
    """Spins in pure Python until byte 0 of flag_path's mapping becomes 1.

    The switch interval is raised so this interpreter's GIL is not handed over while
    it spins: a peer sharing this GIL could never set the flag (returns False after
    timeout). mmap item access runs no blocking call, so the GIL is never released.
    """
    import mmap

    previous = sys.getswitchinterval()
    sys.setswitchinterval(1000.0)
    try:
        with open(flag_path, "r+b") as file, mmap.mmap(file.fileno(), 1) as flag:
            deadline = time.monotonic() + timeout
            while flag[0] == 0:
                if time.monotonic() > deadline:
                    return False
            return True
    finally:
        sys.setswitchinterval(previous)


def set_flag(flag_path):
    import mmap

    with open(flag_path, "r+b") as file, mmap.mmap(file.fileno(), 1) as flag:
        flag[0] = 1


# ---- subclasses of native types and user types --------------------------------------

class Color(enum.IntEnum):
    RED = 1
    GREEN = 2


Point = collections.namedtuple("Point", "x y")


@dataclasses.dataclass
class Record:
    name: str
    tags: list


class Counter:
    def __init__(self, start):
        self.value = start

    def add(self, amount):
        self.value += amount
        return self.value

    def __eq__(self, other):
        return isinstance(other, Counter) and other.value == self.value


def make_counter(start):
    return Counter(start)


# ---- exceptions ---------------------------------------------------------------------

class CustomError(Exception):
    """Importable: crosses back with its type."""


class NeedsTwoArguments(Exception):
    """Pickles (args=(a,)) but cannot be rebuilt from its pickle: __init__ needs two arguments."""

    def __init__(self, a, b):
        super().__init__(a)
        self.b = b


def raise_value_error(message):
    raise ValueError(message)


def raise_custom(message):
    raise CustomError(message)


def raise_local_class():
    class LocalError(Exception):
        pass

    raise LocalError("defined inside a function")


def raise_needs_two_arguments():
    raise NeedsTwoArguments("first", "second")


def raise_system_exit(code):
    sys.exit(code)


def nested_failure():
    try:
        raise KeyError("inner")
    except KeyError as error:
        raise RuntimeError("outer") from error
