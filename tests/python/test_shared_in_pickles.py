"""tests/python/test_shared_in_pickles.py: manycore shared objects inside values that are pickled cross by reference."""
import pickle

import pytest

import manycore
from manycore import _core
from helpers import shared_tasks


@pytest.fixture(scope="module")
def interp():
    interpreter = manycore.create()
    yield interpreter
    interpreter.close()


def make_holder():
    lock = manycore.Lock()
    return shared_tasks.Holder(lock=lock, again=lock, buffer=manycore.SharedBuffer(8), counter=manycore.AtomicInt(),
                               queue=manycore.create_queue(), mapping=manycore.SharedDict())


def check_effects(holder):
    assert holder.buffer[:4].tobytes() == b"seen"
    assert holder.counter.load() == 5
    assert holder.queue.get(timeout=10) == "from the holder"
    assert holder.mapping["by"] == "holder"
    assert not holder.lock.locked()


def test_a_pickled_object_holding_shared_objects_shares_them(interp):
    holder = make_holder()
    assert manycore.will_pickle(holder)
    seen = interp.call(shared_tasks.use_holder, holder)
    assert seen == {"lock": "Lock", "same_lock_twice": True}
    check_effects(holder)


def test_through_a_queue_and_back(interp):
    holder = make_holder()
    queue = manycore.create_queue()
    interp.prepare_main(queue=queue)
    queue.put(holder)
    interp.exec("from helpers import shared_tasks\nh = queue.get(timeout=10)\nshared_tasks.use_holder(h)\nqueue.put(h)")
    back = queue.get(timeout=10)
    check_effects(holder)
    assert back.lock == holder.lock and back.again is back.lock
    back.counter.add(1)
    assert holder.counter.load() == 6


def test_a_function_closing_over_a_lock_travels_by_value_with_the_lock(interp):
    lock = manycore.Lock()
    lock.acquire()
    try:
        assert interp.call(lambda: lock.locked()) is True  # a lambda crosses by value (cloudpickle)
    finally:
        lock.release()
    assert interp.call(lambda: lock.locked()) is False


def test_a_pool_task_argument_holding_shared_objects(interp):
    counter = manycore.AtomicInt()
    holders = [shared_tasks.Holder(counter=counter) for _ in range(20)]
    with manycore.Pool(2) as pool:
        pool.map(shared_tasks.add_to_holder_counter, holders, chunksize=4)
    assert counter.load() == 20


def test_a_partial_holding_a_shared_object(interp):
    import functools

    counter = manycore.AtomicInt()
    interp.call(functools.partial(shared_tasks.add_to_holder_counter, shared_tasks.Holder(counter=counter)))
    assert counter.load() == 1


def test_plain_pickle_still_refuses_them():
    with pytest.raises(TypeError):
        pickle.dumps(manycore.Lock())


def test_naming_outside_a_transfer_does_nothing_and_loading_outside_one_is_a_clear_error():
    assert _core.pickle_shareable(manycore.Lock()) is None
    with pytest.raises(RuntimeError, match="only be loaded by manycore"):
        _core.unpickle_shareable(0)
