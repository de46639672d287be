"""tests/python/test_worker.py: what a new worker interpreter loads at start (manycore/_worker.py and the lazy package)."""

import queue

import pytest

import manycore
from manycore._bench import cpu, startup


@pytest.fixture(scope="module")
def start_modules():
    stdlib_module, why = cpu.stdlib_interpreters_module()
    if stdlib_module is None:
        pytest.skip(why)
    return startup.worker_start_modules(stdlib_module)


def test_a_worker_imports_no_module_a_bare_stdlib_interpreter_lacks(start_modules):
    in_manycore, in_stdlib = start_modules
    own, other = startup.extra_start_modules(in_manycore, in_stdlib)
    assert other == []
    assert set(own) == {"manycore", "manycore._core", "manycore._errors", "manycore._worker"}


def test_extra_start_modules_separates_manycore_from_the_rest():
    own, other = startup.extra_start_modules(["sys", "manycore", "manycore._core", "queue", "manycorex"], ["sys"])
    assert own == ["manycore", "manycore._core"]
    assert other == ["manycorex", "queue"]


def test_public_names_load_on_first_use_in_a_worker():
    with manycore.create() as interpreter:
        interpreter.exec("import sys, manycore\nbefore = 'manycore._interpreters' in sys.modules\n"
                         "create = manycore.create\nafter = 'manycore._interpreters' in sys.modules")
        assert interpreter.call(eval, "(before, after)") == (False, True)


def test_every_public_name_resolves():
    for name in manycore.__all__:
        assert getattr(manycore, name) is not None
    assert set(manycore.__all__) <= set(dir(manycore))
    with pytest.raises(AttributeError, match="no_such_name"):
        manycore.no_such_name  # noqa: B018 - the access is the test


def test_queue_exceptions_are_the_queue_modules_subclasses():
    assert issubclass(manycore.QueueEmpty, queue.Empty)
    assert issubclass(manycore.QueueFull, queue.Full)
    if hasattr(queue, "ShutDown"):
        assert issubclass(manycore.QueueClosed, queue.ShutDown)
    assert manycore.QueueEmpty.__qualname__ == "QueueEmpty"
    assert manycore.QueueEmpty.__module__ == "manycore"  # shown and pickled as manycore.QueueEmpty


def _put_twice_and_close(q):
    """Runs in a worker that has not touched the queue classes: each failure must be the right class."""
    import queue as stdlib_queue

    outcomes = [type(q).__name__]
    q.put_nowait(1)
    try:
        q.put_nowait(2)
    except stdlib_queue.Full as error:
        outcomes.append(type(error).__name__)
    q.get_nowait()
    try:
        q.get_nowait()
    except stdlib_queue.Empty as error:
        outcomes.append(type(error).__name__)
    q.close()
    try:
        q.put(3)
    except Exception as error:  # noqa: BLE001 - its type is the result
        outcomes.append(type(error).__name__)
    return outcomes


def test_a_queue_received_first_thing_in_a_worker_is_a_manycore_queue():
    q = manycore.Queue(maxsize=1)
    with manycore.create() as interpreter:
        assert interpreter.call(_put_twice_and_close, q) == ["Queue", "QueueFull", "QueueEmpty", "QueueClosed"]


def test_channel_ends_received_in_a_fresh_worker_are_manycore_classes():
    receiver, sender = manycore.create_channel()
    with manycore.create() as interpreter:
        assert interpreter.call(lambda r, s: (type(r).__name__, type(s).__name__), receiver, sender) == (
            "RecvChannel", "SendChannel")
