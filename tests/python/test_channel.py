"""tests/python/test_channel.py: rendezvous channels (create_channel, RecvChannel, SendChannel) across interpreters."""

import gc
import math
import threading
import time

import pytest

import manycore
from helpers import queue_workers as workers
from helpers.proc import describe, run_python


def test_create_channel_returns_two_ends_of_one_channel():
    recv, send = manycore.create_channel()
    assert type(recv) is manycore.RecvChannel and type(send) is manycore.SendChannel
    assert recv.id == send.id and not recv.closed and not send.closed
    other_recv, _ = manycore.create_channel()
    assert other_recv.id != recv.id
    assert "RecvChannel" in repr(recv) and f"id={send.id}" in repr(send)


def test_send_nowait_and_recv_nowait_without_a_partner():
    recv, send = manycore.create_channel()
    assert send.send_nowait("nobody listens") is False
    assert recv.recv_nowait(default=None) is None
    sentinel = object()
    assert recv.recv_nowait(sentinel) is sentinel
    with pytest.raises(manycore.ChannelEmptyError):
        recv.recv_nowait()


def test_send_returns_only_once_the_object_was_received(interp):
    recv, send = manycore.create_channel()
    handle = interp.call_in_thread(workers.recv_one, recv)
    send.send({"hello": [1, 2]}, timeout=10)
    assert handle.result(timeout=10) == {"hello": [1, 2]}

    # The other way: main receives, a slow sender waits for it.
    handle = interp.call_in_thread(workers.send_one, send, "from the interpreter")
    assert recv.recv(timeout=10) == "from the interpreter"
    assert handle.result(timeout=10) is True


def test_send_blocks_while_nobody_receives(interp):
    recv, send = manycore.create_channel()
    started = time.monotonic()
    handle = interp.call_in_thread(workers.send_one, send, "slow")
    time.sleep(0.2)
    assert not handle.done()  # still waiting for a receiver
    assert recv.recv(timeout=10) == "slow"
    assert handle.result(timeout=10) is True
    assert time.monotonic() - started >= 0.2


def test_send_nowait_hands_over_to_a_waiting_receiver(interp):
    recv, send = manycore.create_channel()
    handle = interp.call_in_thread(workers.recv_one, recv)
    deadline = time.monotonic() + 10
    while not send.send_nowait("quick") and time.monotonic() < deadline:
        time.sleep(0.005)
    assert handle.result(timeout=10) == "quick"


def test_timeouts_withdraw_the_object_and_honour_fractions():
    recv, send = manycore.create_channel()
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        send.send("never taken", timeout=0.1)
    assert 0.1 <= time.monotonic() - start < 1.5
    assert recv.recv_nowait(default="nothing") == "nothing"
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        recv.recv(timeout=0.1)
    assert 0.1 <= time.monotonic() - start < 1.5


def test_close_on_either_end_closes_the_channel_everywhere(interp):
    for closing_end in (0, 1):
        ends = manycore.create_channel()
        recv, send = ends
        ends[closing_end].close()
        assert recv.closed and send.closed
        with pytest.raises(manycore.ChannelClosedError):
            send.send(1)
        with pytest.raises(manycore.ChannelClosedError):
            send.send_nowait(1)
        with pytest.raises(manycore.ChannelClosedError):
            recv.recv(timeout=1)
        with pytest.raises(manycore.ChannelClosedError):
            recv.recv_nowait(default=None)


def test_close_in_another_interpreter_wakes_a_blocked_recv(interp):
    recv, send = manycore.create_channel()
    handle = interp.call_in_thread(workers.close_after, send, 0.1)
    with pytest.raises(manycore.ChannelClosedError):
        recv.recv(timeout=10)
    handle.result(timeout=10)


def test_dropping_every_send_end_closes_the_channel():
    recv, send = manycore.create_channel()
    del send
    gc.collect()
    with pytest.raises(manycore.ChannelClosedError):
        recv.recv(timeout=5)


def test_iteration_ends_at_close(interp):
    recv, send = manycore.create_channel()
    handle = interp.call_in_thread(workers.recv_all, recv)
    for item in range(5):
        send.send(item, timeout=10)
    send.close()
    assert handle.result(timeout=10) == [0, 1, 2, 3, 4]


def test_ends_passed_to_another_interpreter_are_the_same_channel(interp):
    recv, send = manycore.create_channel()
    assert interp.call(workers.channel_ids, recv, send) == (recv.id, send.id, "RecvChannel", "SendChannel")
    carrier = manycore.create_queue()
    carrier.put(send)
    handle = interp.call_in_thread(lambda c: c.get(timeout=10).send("via a queue", timeout=10), carrier)
    assert recv.recv(timeout=10) == "via a queue"
    handle.result(timeout=10)


def test_non_shareable_object_raises_and_leaves_the_channel_usable():
    recv, send = manycore.create_channel()
    with pytest.raises(manycore.NotShareableError):
        send.send(threading.Lock(), timeout=0.1)
    with pytest.raises(manycore.NotShareableError):
        send.send_nowait(threading.Lock())
    assert not send.closed and recv.recv_nowait(default=None) is None


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda r, s: r.recv(timeout="soon"), TypeError),
        (lambda r, s: r.recv(timeout=-1), ValueError),
        (lambda r, s: s.send(1, timeout=math.nan), ValueError),
        (lambda r, s: manycore.RecvChannel(), TypeError),
    ],
)
def test_bad_input_raises_a_clear_exception(call, error):
    with pytest.raises(error):
        call(*manycore.create_channel())


def test_ctrl_c_interrupts_a_blocked_recv_and_send():
    result = run_python(
        """
        import os, signal, threading
        import manycore
        recv, send = manycore.create_channel()
        for name, blocked in (("recv", recv.recv), ("send", lambda: send.send("x"))):
            threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
            try:
                blocked()
            except KeyboardInterrupt:
                print(name, "interrupted")
        """,
        timeout=30,
    )
    assert result.returncode == 0, describe(result)
    assert result.stdout.splitlines() == ["recv interrupted", "send interrupted"], describe(result)


@pytest.mark.stress
def test_stress_many_senders_and_receivers_deliver_each_object_once():
    senders, receivers, per_sender = 2, 2, 500
    recv, send = manycore.create_channel()
    interps = [manycore.create() for _ in range(senders + receivers)]
    try:
        receiving = [interp.call_in_thread(workers.recv_all, recv) for interp in interps[senders:]]
        sending = [interp.call_in_thread(workers.send_many, send, s, per_sender)
                   for s, interp in enumerate(interps[:senders])]
        assert [h.result(timeout=30) for h in sending] == [per_sender] * senders
        send.close()  # every send returned, so everything was received
        received = [h.result(timeout=30) for h in receiving]
    finally:
        for interp in interps:
            interp.close()
    everything = [item for items in received for item in items]
    assert len(everything) == senders * per_sender and len(set(everything)) == len(everything)
    for items in received:
        for s in range(senders):
            seqs = [seq for sender, seq in items if sender == s]
            assert seqs == sorted(seqs)
