"""tests/python/helpers/shared_tasks.py: functions that shared-memory and sync tests run inside manycore interpreters.

Module-level and stdlib-only, so they travel by reference and import in any interpreter.
"""

import array
import io
import operator
import re
import struct
import sys
import zlib

_kept = []


def buffer_protocol_report(buf):
    """Uses buf through every route of the buffer protocol; returns what each saw."""
    view = memoryview(buf)
    doubles = view.cast("d")
    doubles[0] = 2.5
    struct.pack_into("<I", buf, 8, 0xDEADBEEF)
    io.BytesIO(b"readinto!").readinto(buf[16:25])
    values = array.array("B")
    values.frombytes(buf[:4])
    report = {
        "nbytes": view.nbytes,
        "double": struct.unpack_from("d", buf, 0)[0],
        "word": hex(struct.unpack_from("<I", buf, 8)[0]),
        "read": bytes(buf[16:25]),
        "array": list(values),
        "crc": zlib.crc32(buf),
        "re": re.search(rb"read(\w+)", buf).group(1),
    }
    if sys.version_info >= (3, 13):  # 3.12.1 aborts at exit after hashlib in a subinterpreter (gh-119213)
        import hashlib

        report["sha256"] = hashlib.sha256(buf).hexdigest()
    view.release()
    doubles.release()
    return report


def fill(buf, byte):
    buf[:] = bytes([byte]) * len(buf)
    return len(buf)


def make_buffer(nbytes, byte):
    import manycore

    buf = manycore.SharedBuffer(nbytes)
    fill(buf, byte)
    return buf


def keep_memoryview(buf):
    """Keeps only a memoryview of buf (the wrapper itself is dropped by the caller)."""
    _kept.append(memoryview(buf))
    return len(_kept)


def write_through_kept_view(byte):
    view = _kept[-1]
    view[:] = bytes([byte]) * len(view)
    total = sum(view)
    _kept.clear()
    return total


def try_writes(buf):
    """Each way to write into buf, with what it raised (for read-only buffers)."""
    outcomes = {}
    attempts = {
        "item": lambda: operator.setitem(buf, 0, 1),
        "memoryview": lambda: operator.setitem(memoryview(buf), 0, 1),
        "pack_into": lambda: struct.pack_into("b", buf, 0, 1),
        "readinto": lambda: io.BytesIO(b"x").readinto(buf),
    }
    for name, attempt in attempts.items():
        try:
            attempt()
            outcomes[name] = None
        except Exception as error:  # noqa: BLE001 - reported to the test
            outcomes[name] = type(error).__name__
    return outcomes


def is_readonly(buf):
    return buf.readonly, memoryview(buf).readonly


# ---- synchronization -------------------------------------------------------------------------

def locked_increments(lock, counter_buf, times):
    """times read-modify-write increments of an int64 in counter_buf, each under lock."""
    for _ in range(times):
        with lock:
            (value,) = struct.unpack_from("q", counter_buf, 0)
            struct.pack_into("q", counter_buf, 0, value + 1)
    return times


def atomic_adds(counter, times):
    for _ in range(times):
        counter.add(1)
    return counter.load()


def value_increments(value, times):
    for _ in range(times):
        with value.get_lock():
            value.value += 1
    return times


def release(lock):
    lock.release()


def acquire_nonblocking(lock):
    return lock.acquire(False)


def set_event_later(event, delay):
    import time

    time.sleep(delay)
    event.set()


def wait_event(event, started, timeout=None):
    started.set()
    return event.wait(timeout)


def wait_lock(lock, started):
    started.set()
    return lock.acquire()


def consume(condition, items, count):
    """Takes `count` items appended (under condition) to the SharedDict `items` key 'list'."""
    got = []
    with condition:
        while len(got) < count:
            condition.wait_for(lambda: items.get("list"))
            current = items["list"]
            got.extend(current)
            items["list"] = []
    return got


def barrier_party(barrier, timeout=None):
    return barrier.wait(timeout)


def barrier_party_outcome(barrier, timeout=None):
    try:
        return barrier.wait(timeout)
    except Exception as error:  # noqa: BLE001 - reported to the test
        return type(error).__name__


def append_line(path):
    """A Barrier action: records that it ran, and in which interpreter."""
    import manycore

    with open(path, "a") as record:
        record.write(f"{manycore.get_current().id}\n")


def failing_action():
    raise ValueError("action failed")


def atomic_wait(atomic, expected, started, timeout=None):
    started.set()
    return atomic.wait(expected, timeout)


def ping_pong(mine, theirs, rounds):
    """Acquire mine, release theirs, `rounds` times (the other side does the mirror)."""
    for _ in range(rounds):
        mine.acquire()
        theirs.release()
    return rounds


def dict_counter(shared, key, times):
    for _ in range(times):
        while True:
            seen = shared.setdefault(key, 0)
            if shared.compare_and_set(key, seen, seen + 1):
                break
    return times


def dict_read(shared, key):
    return shared[key]


def dict_store(shared, key, value):
    shared[key] = value


def wait_condition(condition, started):
    with condition:
        started.set()
        return condition.wait()


def wait_barrier(barrier, started):
    started.set()
    return barrier.wait()


class Holder:
    """A plain class instance (pickled when sent) holding manycore shared objects."""

    def __init__(self, **parts):
        self.__dict__.update(parts)


def use_holder(holder):
    """Works through the shared objects inside a pickled Holder; returns what it saw."""
    with holder.lock:
        holder.buffer[:4] = b"seen"
        holder.counter.add(5)
        holder.queue.put("from the holder")
        holder.mapping["by"] = "holder"
    return {"lock": type(holder.lock).__name__, "same_lock_twice": holder.lock is holder.again}


def add_to_holder_counter(holder):
    holder.counter.add(1)
