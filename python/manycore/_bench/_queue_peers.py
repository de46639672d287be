"""python/manycore/_bench/_queue_peers.py: the far side of `bench queue`, the same code for every transport.

``serve(get, put)`` runs in a thread, a process, a manycore interpreter or a stdlib
interpreter; only the two callables differ. It obeys phases sent by the main side:

- ``"echo"``: return every item until ``None`` (round-trip latency);
- ``"sink"``: count items (and bytes) until ``None``, then put ``"count nbytes"``
  (messages per second, bandwidth; a str, which every transport can carry);
- ``"exit"``: return.

Stdlib imports only, and none at all at module level: the stdlib interpreter models
run this file's source text in an interpreter that has not imported manycore.
"""


def serve(get, put):
    while True:
        phase = get()
        if phase == "exit":
            return
        if phase == "echo":
            while (item := get()) is not None:
                put(item)
        elif phase == "sink":
            count = nbytes = 0
            while (item := get()) is not None:
                count += 1
                if type(item) is bytes:
                    nbytes += len(item)
            put(f"{count} {nbytes}")
        else:
            raise ValueError(f"unknown phase {phase!r}")


def serve_queues(inbox, outbox):
    """For queue objects with get()/put() (manycore, multiprocessing, queue.Queue)."""
    serve(inbox.get, outbox.put)


def serve_connection(connection):
    """For a multiprocessing Pipe end."""
    serve(connection.recv, connection.send)
