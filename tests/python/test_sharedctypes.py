"""tests/python/test_sharedctypes.py: manycore.Value/Array against multiprocessing.Value/Array (python/manycore/_sharedctypes.py)."""

import ctypes
import multiprocessing
import pickle
import threading

import pytest

import manycore
from helpers import remote, shared_tasks
from helpers.proc import describe, run_python

TIMEOUT = 30
TYPECODES = "cubBhHiIlLqQfd"


def outcome(call):
    try:
        return ("ok", call())
    except Exception as error:  # noqa: BLE001 - compared with multiprocessing's
        return ("raised", type(error))


def both(make):
    """(what manycore does, what multiprocessing does) for make(module)."""
    return outcome(lambda: make(manycore)), outcome(lambda: make(multiprocessing))


@pytest.mark.parametrize("make", [
    lambda m: m.Value("x"),
    lambda m: m.Value("", 1),
    lambda m: m.Value("i", "a"),
    lambda m: m.Value("i", 3.5),
    lambda m: m.Value("d", "a"),
    lambda m: m.Value("c", "a"),
    lambda m: m.Array("i", -1),
    lambda m: m.Array("i", 2.5),
    lambda m: m.Array("i", "abc"),
    lambda m: m.Array("z", 3),
    lambda m: m.Array("i", 3)[3],
    lambda m: m.Array("i", 3)[-4],
    lambda m: m.Array("i", 3)["a"],
    lambda m: m.Array("i", 3).__setitem__(0, "x"),
    lambda m: m.Array("i", 3).__setitem__(slice(0, 2), [1]),
    lambda m: m.Array("i", 3).__setitem__(5, 1),
    lambda m: m.Value("i", 1, lock=5),
    lambda m: setattr(m.Value("d"), "value", "s"),
    lambda m: m.Value("i", lock=False).get_lock(),
], ids=lambda make: "")
def test_bad_input_raises_what_multiprocessing_raises(make):
    ours, theirs = both(make)
    assert ours[0] == theirs[0] == "raised", (ours, theirs)
    assert ours[1] is theirs[1], (ours, theirs)


@pytest.mark.parametrize("typecode, value", [("b", -1), ("B", -1), ("B", 300), ("h", 70000), ("i", 2**40),
                                             ("I", -1), ("q", 2**63 - 1), ("Q", 2**64 + 5), ("i", True),
                                             ("f", 1.1), ("d", 1e300), ("c", b"x"), ("c", 65), ("u", "é")])
def test_values_convert_as_ctypes_does(typecode, value):
    assert manycore.Value(typecode, value).value == multiprocessing.Value(typecode, value).value


@pytest.mark.parametrize("typecode", list(TYPECODES))
def test_every_typecode_defaults_to_zero_like_multiprocessing(typecode):
    assert manycore.Value(typecode).value == multiprocessing.Value(typecode).value
    assert manycore.Array(typecode, 3)[:] == multiprocessing.Array(typecode, 3)[:]


def test_ctypes_types_are_accepted_as_typecodes():
    assert manycore.Value(ctypes.c_double, 2.5).value == 2.5
    assert manycore.Array(ctypes.c_int, [1, 2])[:] == [1, 2]


def test_arrays_index_slice_and_iterate_like_multiprocessing():
    ours, theirs = manycore.Array("i", [5, 6, 7, 8]), multiprocessing.Array("i", [5, 6, 7, 8])
    for key in (0, -1, slice(None), slice(1, 3), slice(None, None, 2), slice(None, None, -1), slice(10, 20)):
        assert ours[key] == theirs[key], key
    ours[1:3] = theirs[1:3] = [60, 70]
    ours[::2] = theirs[::2] = [1, 2]
    assert ours[:] == theirs[:] and len(ours) == len(theirs) == 4
    assert list(ours) == list(theirs)


def test_char_arrays_have_value_and_raw():
    ours, theirs = manycore.Array("c", b"hello"), multiprocessing.Array("c", b"hello")
    assert (ours.value, ours.raw, ours[1:3], ours[0]) == (theirs.value, theirs.raw, theirs[1:3], theirs[0])
    ours.value = theirs.value = b"hi"
    assert ours.raw == theirs.raw and ours.value == theirs.value
    assert both(lambda m: setattr(m.Array("c", 2), "value", b"toolong"))[0] == ("raised", ValueError)
    wide = manycore.Array("u", 5)
    wide.value = "héllo"
    assert wide.value == "héllo" and wide[1] == "é"


def test_get_lock_get_obj_and_the_lock_argument():
    value = manycore.Value("i", 1)
    assert isinstance(value.get_lock(), manycore.RLock)  # multiprocessing's default is an RLock too
    with value:  # Synchronized wrappers are context managers of their lock
        assert value.get_lock()._is_owned()
    raw = value.get_obj()
    raw.value = 9
    assert value.value == 9 and not hasattr(raw, "get_lock")
    mine = manycore.Lock()
    assert manycore.Array("d", 2, lock=mine).get_lock() == mine
    assert not hasattr(manycore.RawValue("i"), "get_lock") and not hasattr(manycore.RawArray("i", 2), "get_lock")
    assert isinstance(manycore.Value("i", lock=None).get_lock(), manycore.RLock)  # as multiprocessing
    assert repr(manycore.Value("i", 3, lock=False)) == "<manycore.Value('i', 3, lock=False)>"
    with pytest.raises(TypeError, match="cannot be shared across interpreters"):
        manycore.Value("i", lock=threading.Lock())


def test_increments_under_get_lock_from_two_interpreters_are_exact(interp, other_interp):
    counter = manycore.Value("q", 0)
    handles = [i.call_in_thread(shared_tasks.value_increments, counter, 2000) for i in (interp, other_interp)]
    shared_tasks.value_increments(counter, 2000)
    for handle in handles:
        handle.result(timeout=TIMEOUT)
    assert counter.value == 6000


def test_raw_objects_cross_without_a_lock(interp):
    raw = manycore.RawArray("i", [1, 2])
    assert interp.call(remote.type_of, raw)[1] == "RawSharedArray"
    assert interp.call(remote.type_of, manycore.Value("i").get_obj())[1] == "RawSharedValue"


def test_an_array_is_the_same_memory_in_a_worker(interp):
    array = manycore.Array("d", 4)
    interp.prepare_main(array=array)
    interp.exec("array[2] = 1.5; array[0:2] = [3.0, 4.0]")
    assert array[:] == [3.0, 4.0, 1.5, 0.0]
    assert bytes(array._buffer()[16:24]) == bytes(memoryview(array._buffer())[16:24])


def test_cannot_be_pickled_with_a_reason():
    with pytest.raises(TypeError, match="crosses interpreters by itself"):
        pickle.dumps(manycore.Value("i"))


PROGRAM = """
    import {module} as mp

    counter = None

    def init(shared):
        global counter
        counter = shared

    def work(x):
        with counter.get_lock():
            counter.value += 1
        return x * x

    if __name__ == "__main__":
        counter = mp.Value("i", 0)
        with mp.Pool(2, initializer=init, initargs=(counter,)) as pool:
            print(sum(pool.map(work, range(200))))
        print(counter.value)
"""


@pytest.mark.parametrize("module", ["multiprocessing", "manycore"])
def test_pool_initargs_counter_ports_by_changing_the_import(tmp_path, module):
    result = run_python(PROGRAM.format(module=module), script_path=tmp_path / "counter.py", timeout=120)
    assert result.returncode == 0, describe(result)
    assert result.stdout.split() == [str(sum(x * x for x in range(200))), "200"], describe(result)
