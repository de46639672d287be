"""tests/python/test_values.py: values crossing interpreters: native round trips, copies, pickled subclasses, failures."""

import collections
import math
import os
import socket
import threading

import pytest

import manycore
from manycore import _core
from helpers import remote

NATIVE_VALUES = {
    "none": None,
    "true": True,
    "false": False,
    "zero": 0,
    "small_int": 7,
    "negative_int": -12345,
    "int64_max": 2**63 - 1,
    "int64_min": -(2**63),
    "just_above_int64": 2**63,
    "just_below_int64": -(2**63) - 1,
    "huge_int": 3**500,
    "negative_huge_int": -(7**300),
    "float": 1.5,
    "tiny_float": 5e-324,
    "inf": math.inf,
    "negative_inf": -math.inf,
    "complex": complex(1.5, -2.0),
    "complex_inf": complex(math.inf, 0.5),
    "empty_str": "",
    "ascii_str": "hello",
    "latin1_str": "caf\xe9",
    "bmp_str": "\u4e2d\u6587",
    "non_bmp_str": "\U0001f600 \U00010348",
    "lone_surrogates": "a\ud800b\udfffc",
    "nul_in_str": "a\0b",
    "bytes": b"\x00\xffabc",
    "empty_bytes": b"",
    "bytearray": bytearray(b"\x01\x02"),
    "tuple": (1, "two", 3.0),
    "empty_tuple": (),
    "list": [1, [2, [3]]],
    "dict": {"a": 1, 2: "b", (3, 4): [5], None: None},
    "set": {1, "x", (2, 3)},
    "frozenset": frozenset({1, frozenset({2})}),
    "nested": {"key": [(1, {2, 3}), {"inner": frozenset({b"x"})}, bytearray(b"y"), 2**100]},
}


def assert_same_value(result, expected):
    """Equal and of exactly the same type, recursively."""
    assert type(result) is type(expected), (result, expected)
    if isinstance(expected, (list, tuple)):
        assert len(result) == len(expected)
        for got, want in zip(result, expected):
            assert_same_value(got, want)
    elif isinstance(expected, dict):
        assert list(result) == list(expected)  # insertion order is kept too
        for key in expected:
            assert_same_value(result[key], expected[key])
    else:
        assert result == expected


@pytest.fixture(params=["roundtrip", "call"])
def send(request, interp):
    """Sends a value and brings it back: _core.roundtrip or a real call to another interpreter."""
    if request.param == "roundtrip":
        return _core.roundtrip
    return lambda value: interp.call(remote.identity, value)


@pytest.mark.parametrize("name", NATIVE_VALUES)
def test_native_round_trip_keeps_value_and_type(send, name):
    value = NATIVE_VALUES[name]
    assert_same_value(send(value), value)


@pytest.mark.parametrize("name", NATIVE_VALUES)
def test_native_values_are_not_pickled(name):
    assert _core.encoded_kind(NATIVE_VALUES[name]) not in ("pickled", "reference")


def test_type_seen_inside_the_interpreter(interp):
    assert interp.call(remote.type_of, 2**80) == ("builtins", "int")
    assert interp.call(remote.type_of, frozenset()) == ("builtins", "frozenset")
    assert interp.call(remote.type_of, bytearray()) == ("builtins", "bytearray")


def test_nan_round_trip(send):
    result = send(math.nan)
    assert type(result) is float and math.isnan(result)
    nested = send([math.nan, complex(math.nan, 1.0)])
    assert math.isnan(nested[0]) and math.isnan(nested[1].real) and nested[1].imag == 1.0


def test_negative_zero_keeps_its_sign(send):
    result = send(-0.0)
    assert result == 0.0 and math.copysign(1.0, result) == -1.0
    result = send(complex(-0.0, -0.0))
    assert math.copysign(1.0, result.real) == -1.0 and math.copysign(1.0, result.imag) == -1.0


def test_huge_int_values(send):
    for value in (2**64, -(2**64), 10**4000, -(10**4000) + 1, 0x8000_0000_0000_0000_0000):
        result = send(value)
        assert type(result) is int and result == value


def test_lone_surrogates_keep_code_points(send):
    value = "\udc80\ud83d"  # a lone low and a lone high surrogate, which UTF-8 cannot encode
    assert [ord(c) for c in send(value)] == [0xDC80, 0xD83D]


def test_bool_is_not_int(send):
    assert send(True) is True
    assert send([True, 1])[0] is True and type(send([True, 1])[1]) is int


# ---- copies -------------------------------------------------------------------------

@pytest.mark.parametrize("make", [list, dict.fromkeys, set, bytearray], ids=["list", "dict", "set", "bytearray"])
def test_roundtrip_makes_copies_of_mutable_containers(make):
    original = make(b"ab") if make is bytearray else make([1, 2])
    copy = _core.roundtrip(original)
    assert copy == original and copy is not original


def test_nested_mutable_containers_are_copied():
    inner = [1]
    original = {"inner": inner}
    copy = _core.roundtrip(original)
    copy["inner"].append(2)
    assert inner == [1]


def test_remote_mutation_does_not_change_the_callers_object(interp):
    items = [1, 2]
    result = interp.call(remote.append_and_return, items, 3)
    assert result == [1, 2, 3]
    assert items == [1, 2]


def test_shared_references_inside_one_value(send):
    shared = [1]
    result = send((shared, shared))
    assert result == ([1], [1])


# ---- subclasses and user types: pickled, keep their type ------------------------------

SUBCLASS_VALUES = {
    "int_enum": remote.Color.GREEN,
    "namedtuple": remote.Point(1, 2),
    "ordered_dict": collections.OrderedDict([("b", 1), ("a", 2)]),
    "dataclass": remote.Record("r", ["t"]),
    "user_object": remote.Counter(5),
    "defaultdict": collections.defaultdict(int, {"a": 1}),
}


@pytest.mark.parametrize("name", SUBCLASS_VALUES)
def test_subclasses_travel_pickled_with_their_type(send, name):
    value = SUBCLASS_VALUES[name]
    assert _core.encoded_kind(value) == "pickled"
    result = send(value)
    assert type(result) is type(value) and result == value


def test_subclass_type_is_seen_inside_the_interpreter(interp):
    assert interp.call(remote.type_of, remote.Color.RED) == ("helpers.remote", "Color")
    assert interp.call(remote.type_of, remote.Point(1, 2)) == ("helpers.remote", "Point")
    assert interp.call(remote.type_of, collections.OrderedDict()) == ("collections", "OrderedDict")
    assert interp.call(remote.type_of, remote.Record("a", [])) == ("helpers.remote", "Record")


def test_ordered_dict_keeps_order(send):
    value = collections.OrderedDict([("z", 1), ("a", 2), ("m", 3)])
    assert list(send(value)) == ["z", "a", "m"]


def test_int_enum_returned_by_a_call(interp):
    assert interp.call(remote.identity, remote.Color.RED) is remote.Color.RED


def test_user_object_returned_by_a_call(interp):
    counter = interp.call(remote.make_counter, 41)
    assert type(counter) is remote.Counter and counter.add(1) == 42


# ---- what cannot travel ------------------------------------------------------------

def make_unpicklable(kind):
    if kind == "lock":
        return threading.Lock(), "lock", "_thread.lock"
    if kind == "generator":
        return (i for i in range(2)), "generator", "generator"
    return socket.socket(), "socket", "socket"


@pytest.mark.parametrize("kind", ["lock", "generator", "socket"])
def test_unpicklable_argument_raises_not_shareable(interp, kind):
    obj, type_name, reason = make_unpicklable(kind)
    try:
        assert not manycore.is_shareable(obj)
        with pytest.raises(manycore.NotShareableError) as caught:
            interp.call(remote.identity, obj)
        message = str(caught.value)
        assert f"object of type {type_name} cannot cross interpreters" in message
        assert f"cannot pickle '{reason}' object" in message
        with pytest.raises(manycore.NotShareableError, match=type_name):
            interp.call(remote.identity, [1, {"k": obj}])  # nested too
        with pytest.raises(manycore.NotShareableError, match=type_name):
            interp.call(remote.identity, key=obj)
        with pytest.raises(manycore.NotShareableError, match=type_name):
            _core.roundtrip(obj)
    finally:
        if kind == "socket":
            obj.close()


@pytest.mark.parametrize(
    "make, type_name, reason",
    [(remote.make_lock, "lock", "_thread.lock"), (remote.make_generator, "generator", "generator"),
     (remote.make_socket, "socket", "socket")],
    ids=["lock", "generator", "socket"],
)
def test_unsendable_return_value_raises_not_shareable(interp, make, type_name, reason):
    with pytest.raises(manycore.NotShareableError) as caught:
        interp.call(make)
    assert str(caught.value) == f"object of type {type_name} cannot cross interpreters: cannot pickle '{reason}' object"
    assert interp.call(remote.add, 1, 1) == 2  # the interpreter is still usable


def test_not_shareable_error_is_a_value_error():
    assert issubclass(manycore.NotShareableError, ValueError)


# ---- deep and cyclic structures -----------------------------------------------------

def test_deep_nesting_up_to_the_limit_round_trips(send):
    value = remote.deeply_nested_list(1990)  # the codec takes 2000 levels of containers (a call adds its tuple)
    assert remote.nesting_depth(send(value)) == 1990


def test_very_deep_nesting_fails_cleanly(send, interp):
    value = remote.deeply_nested_list(10_000)
    with pytest.raises(manycore.NotShareableError, match="nested deeper than 2000 containers"):
        send(value)
    assert interp.call(remote.add, 1, 1) == 2


def test_very_deep_return_value_fails_cleanly(interp):
    with pytest.raises(manycore.NotShareableError, match="nested deeper than 2000 containers"):
        interp.call(remote.deeply_nested_list, 10_000)
    assert interp.call(remote.nesting_depth, [[[]]]) == 2


def test_self_referencing_list(send):
    value = [1]
    value.append(value)
    result = send(value)
    assert type(result) is list and result[0] == 1 and result[1] is result  # a cycle, not an unrolling


def test_self_referencing_dict(send):
    value = {"n": 1}
    value["a"] = value["b"] = value
    result = send(value)
    assert result["n"] == 1 and result["a"] is result and result["b"] is result


def test_shared_references_arrive_shared(send):
    shared = [1, "x"]
    result = send([shared, shared, (shared,), {"k": shared}])
    assert result[0] is result[1] is result[2][0] is result[3]["k"]
    assert result[0] == shared and result[0] is not shared


def test_a_tuple_in_a_cycle_through_a_list_keeps_its_identity(send):
    inner = []
    outer = (inner, 1)
    inner.append(outer)
    result = send([outer, inner])
    assert type(result[0]) is tuple and result[0][0] is result[1] and result[1][0] is result[0]


def test_a_tuple_holding_a_frozenset_in_a_cycle_keeps_its_identity(send):
    holder = []
    frozen = frozenset([("tag", 1)])
    key = (frozen, holder)
    holder.append(key)
    result = send(key)
    assert result[1][0] is result and type(result[0]) is frozenset


def test_a_dag_of_shared_children_stays_linear(send):
    node = [0]
    for _ in range(40):  # 2**40 paths: copied per path this would never finish
        node = [node, node]
    result = send(node)
    depth = 0
    while len(result) == 2:
        assert result[0] is result[1]
        result = result[0]
        depth += 1
    assert depth == 40


@pytest.mark.skipif(not os.environ.get("MANYCORE_BIGMEM"), reason="needs ~3 GiB of memory: set MANYCORE_BIGMEM=1")
def test_a_1_gib_bytes_object_goes_through(interp):
    data = bytes(1 << 30)
    assert interp.call(len, data) == 1 << 30
    back = _core.roundtrip(data)
    assert len(back) == 1 << 30 and back[:8] == back[-8:] == bytes(8)


def test_dict_str_keys_arrive_with_their_hash(interp):
    # The encoder sends a str key's hash beside it and the decoder stores it in the new
    # str (codec.cc, kTagKeyHash): what arrives must hash and look up as a fresh copy.
    def fresh(key):
        return key.encode("utf-8", "surrogatepass").decode("utf-8", "surrogatepass")

    keys = [f"key{i}" for i in range(200)] + ["", "a", "é" * 3, "\u4e00x", "\U0001f600y", "\ud800z"]
    shared = "shared-key"
    value = {key: i for i, key in enumerate(keys)}
    value[shared] = shared  # the same str as key and value: sent once
    nested = [value, {shared: 1, (1, "t"): 2}]
    for back in (interp.call(_identity, nested), _through_queue(nested)):
        assert back == nested
        for arrived in back:
            for key in arrived:
                if isinstance(key, str):
                    assert hash(key) == hash(fresh(key))
                    assert arrived[fresh(key)] == arrived[key]
        assert back[0][shared] is next(key for key in back[0] if key == shared)


def _identity(value):
    return value


def _through_queue(value):
    queue = manycore.create_queue()
    queue.put(value)
    return queue.get()
