"""tests/python/test_shared_dict.py: manycore.SharedDict, one mapping for every interpreter (python/manycore/_shared.py)."""

import pickle
import threading

import pytest

import manycore
from helpers import remote, shared_tasks

TIMEOUT = 30


def test_mapping_operations():
    d = manycore.SharedDict({"a": 1}, b=2)
    d["c"] = [3]
    assert len(d) == 3 and "a" in d and "z" not in d
    assert d["a"] == 1 and d.get("z") is None and d.get("z", 0) == 0
    assert d.setdefault("a", 99) == 1 and d.setdefault("n") is None and d["n"] is None
    assert d.pop("n") is None and d.pop("n", "gone") == "gone"
    del d["b"]
    assert d.items() == [("a", 1), ("c", [3])]  # insertion order, a snapshot list
    assert d.keys() == ["a", "c"] and d.values() == [1, [3]] and list(d) == ["a", "c"]
    d.update([("x", 1)], y=2)
    d.update({"z": 3})
    assert d.copy() == {"a": 1, "c": [3], "x": 1, "y": 2, "z": 3}
    assert repr(d).startswith("manycore.SharedDict({")
    d.clear()
    assert len(d) == 0


def test_missing_keys_and_bad_input_raise_what_dict_raises():
    d, plain = manycore.SharedDict(), {}
    for container in (d, plain):
        with pytest.raises(KeyError):
            container["missing"]
        with pytest.raises(KeyError):
            del container["missing"]
        with pytest.raises(KeyError):
            container.pop("missing")
        with pytest.raises(TypeError):
            container[[1, 2]] = 1  # unhashable key
        with pytest.raises(ValueError):
            container.update([(1, 2, 3)])
        with pytest.raises(TypeError):
            container.get()
    with pytest.raises(manycore.NotShareableError):
        d["lock"] = threading.Lock()
    assert len(d) == 0


def test_keys_follow_python_equality():
    d = manycore.SharedDict()
    d[1] = "int"
    d[1.0] = "float"
    d[True] = "bool"
    assert len(d) == 1 and d[1] == "bool"
    d[remote.Point(1, 2)] = "dataclass"  # a pickled key, found by its equality
    assert d[remote.Point(1, 2)] == "dataclass"
    d[(1, "a")] = "tuple"
    assert d[(1.0, "a")] == "tuple"


def test_reads_return_fresh_copies():
    d = manycore.SharedDict(items=[1, 2])
    got = d["items"]
    got.append(3)
    assert d["items"] == [1, 2]
    assert d["items"] is not d["items"]


def test_compare_and_set():
    d = manycore.SharedDict(n=1)
    assert d.compare_and_set("n", 1, 2) is True and d["n"] == 2
    assert d.compare_and_set("n", 1, 3) is False and d["n"] == 2
    assert d.compare_and_set("absent", None, 1) is False and "absent" not in d


def test_every_interpreter_sees_one_mapping(interp):
    d = manycore.SharedDict()
    interp.call(shared_tasks.dict_store, d, "from worker", {"nested": (1, 2.5, "x")})
    assert d["from worker"] == {"nested": (1, 2.5, "x")}
    d["from main"] = remote.Point(3, 4)
    assert interp.call(shared_tasks.dict_read, d, "from main") == remote.Point(3, 4)
    assert interp.call(remote.identity, d) == d


def test_atomic_counters_from_two_interpreters_and_a_thread(interp, other_interp):
    d = manycore.SharedDict()
    handles = [i.call_in_thread(shared_tasks.dict_counter, d, "n", 1500) for i in (interp, other_interp)]
    thread = threading.Thread(target=shared_tasks.dict_counter, args=(d, "n", 1500))
    thread.start()
    thread.join()
    for handle in handles:
        handle.result(timeout=TIMEOUT)
    assert d["n"] == 4500


def test_outlives_the_interpreter_that_stored_the_items():
    d = manycore.SharedDict()
    worker = manycore.create()
    worker.call(shared_tasks.dict_store, d, "k", remote.Point(5, 6))
    worker.close()
    assert d["k"] == remote.Point(5, 6)


def test_cannot_be_pickled_with_a_reason():
    with pytest.raises(TypeError, match="crosses interpreters by itself"):
        pickle.dumps(manycore.SharedDict())
