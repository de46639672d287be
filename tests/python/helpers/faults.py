"""tests/python/helpers/faults.py: code the reliability suite runs inside manycore interpreters (tasks that fail, block or produce).

Module-level and importable, so these functions travel by reference. Stdlib imports only.
"""

import time

STOP = None


def fails_one_in_a_hundred(x):
    """x * 2, except that about 1% of the inputs (chosen by a fixed hash) raise ValueError."""
    if (x * 2654435761) % 100 == 0:
        raise ValueError(f"planned failure for {x}")
    return 2 * x


def planned_failure(x):
    return (x * 2654435761) % 100 == 0


def keyboard_interrupt_on_tens(x):
    if x % 10 == 0:
        raise KeyboardInterrupt(f"raised by the task for {x}")
    return x


def raise_memory_error(really_allocate):
    if really_allocate:
        return len(bytearray(2**62))
    raise MemoryError("planned")


def recurse_forever(depth=0):
    return recurse_forever(depth + 1)


def sleep_for(seconds):
    start = time.monotonic()
    try:
        time.sleep(seconds)
    except KeyboardInterrupt:
        return ("interrupted", time.monotonic() - start)
    return ("slept", time.monotonic() - start)


def event_wait_for(seconds):
    import threading

    start = time.monotonic()
    try:
        threading.Event().wait(seconds)
    except KeyboardInterrupt:
        return ("interrupted", time.monotonic() - start)
    return ("waited", time.monotonic() - start)


def produce(queue, producer, count):
    for sequence in range(count):
        queue.put((producer, sequence), timeout=60)
    return count


def consume(queue):
    """Every item until STOP, in the order this consumer got them."""
    taken = []
    while (item := queue.get(timeout=60)) is not STOP:
        taken.append(item)
    return taken


def use_asyncio(x):
    import asyncio

    async def main():
        await asyncio.sleep(0)
        return x

    return asyncio.run(main())


def use_tqdm(n):
    import io

    from tqdm import tqdm

    return sum(tqdm(range(n), file=io.StringIO()))
