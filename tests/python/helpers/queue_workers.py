"""tests/python/helpers/queue_workers.py: code the queue and channel tests run inside manycore interpreters.

Module-level and importable (tests/python is on sys.path, which new interpreters copy),
so these functions travel by reference. Stdlib imports only.
"""

import fractions

import manycore

STOP = "stop"


def echo(inbox, outbox, count):
    """Moves `count` items from inbox to outbox; returns how many it moved."""
    for _ in range(count):
        outbox.put(inbox.get(timeout=10))
    return count


def echo_until_stop(inbox, outbox):
    moved = 0
    while (item := inbox.get(timeout=10)) != STOP:
        outbox.put(item)
        moved += 1
    return moved


def put_items(queue, items):
    for item in items:
        queue.put(item, timeout=10)
    return len(items)


def get_items(queue, count, timeout=10):
    return [queue.get(timeout=timeout) for _ in range(count)]


def drain(queue):
    """Every item until the queue is closed (iteration ends at close)."""
    return list(queue)


def queue_id_and_type(queue):
    return queue.id, type(queue).__module__, type(queue).__qualname__


def main_queue_id():
    import __main__

    return __main__.shared_queue.id


def put_fraction(queue, numerator, denominator):
    """A pickled (non-native) item made in this interpreter."""
    queue.put(fractions.Fraction(numerator, denominator))


def forward_queue(carrier):
    """Takes a queue out of `carrier` and puts a marker into it."""
    inner = carrier.get(timeout=10)
    inner.put(("from", manycore.get_current().id))
    return inner.id


def produce(queue, producer, count):
    """Puts (producer, seq) for seq in range(count), then STOP."""
    for seq in range(count):
        queue.put((producer, seq), timeout=10)
    queue.put(STOP, timeout=10)
    return count


def consume(queue):
    """Gets items until STOP; returns them in the order received."""
    received = []
    while (item := queue.get(timeout=10)) != STOP:
        received.append(item)
    return received


def select_and_get(queues, timeout):
    chosen = manycore.select(queues, timeout)
    return None if chosen is None else (queues.index(chosen), chosen.get_nowait())


# ---- channels -----------------------------------------------------------------------

def recv_one(recv, timeout=10):
    return recv.recv(timeout=timeout)


def send_one(send, obj, timeout=10):
    send.send(obj, timeout=timeout)
    return True


def send_many(send, sender, count):
    for seq in range(count):
        send.send((sender, seq), timeout=10)
    return count


def recv_all(recv):
    """Receives until the channel is closed (iteration ends at close)."""
    return list(recv)


def channel_ids(recv, send):
    return recv.id, send.id, type(recv).__qualname__, type(send).__qualname__


def put_after(queue, delay, item):
    """Sleeps `delay` seconds, then puts item (to wake a waiter that is already parked)."""
    import time

    time.sleep(delay)
    queue.put(item)


def get_after(queue, delay):
    import time

    time.sleep(delay)
    return queue.get(timeout=10)


def close_after(obj, delay):
    """Closes a queue or a channel end after `delay` seconds."""
    import time

    time.sleep(delay)
    obj.close()
