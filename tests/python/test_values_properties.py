"""tests/python/test_values_properties.py: property-based round trips of the value codec (hypothesis): sharing, cycles, types.

Each example is an object graph: lists, dicts and sets made empty first, tuples and
frozensets built from anything made before them, then the lists and dicts filled with
references to anything (so lists and dicts may hold each other and themselves, and
tuples sit inside cycles through lists, the case pickle's memo exists for). The graph
goes through the codec in three ways: _core.roundtrip, a call to another interpreter
and back, and a queue that a worker interpreter echoes. What arrives must be
isomorphic to what left: same types, equal leaves, and one arrived container for each
original container (shared stays shared, distinct stays distinct, cycles stay cycles).
"""

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import manycore
from manycore import _core
from helpers import queue_workers as workers
from helpers import remote

LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**200), max_value=2**200),
    st.floats(allow_nan=True, allow_infinity=True),
    st.complex_numbers(allow_nan=False),
    st.text(max_size=12),
    st.text(alphabet=st.characters(min_codepoint=0x100, max_codepoint=0x10FFFF), max_size=4),
    st.binary(max_size=12),
)
HASHABLE_LEAVES = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8), st.binary(max_size=8))
CONTAINERS = (list, tuple, dict, set, frozenset)


@st.composite
def object_graphs(draw):
    mutable_count = draw(st.integers(min_value=1, max_value=6))
    mutables = [draw(st.sampled_from([list, list, dict, set]))() for _ in range(mutable_count)]
    immutables = []
    for _ in range(draw(st.integers(min_value=0, max_value=4))):
        pool = mutables + immutables
        if draw(st.booleans()):
            items = draw(st.lists(st.one_of(LEAVES, st.sampled_from(pool)), max_size=4))
            immutables.append(tuple(items))
        else:
            hashable = [item for item in immutables if _hashable(item)]
            choices = st.one_of(HASHABLE_LEAVES, st.sampled_from(hashable)) if hashable else HASHABLE_LEAVES
            immutables.append(frozenset(draw(st.lists(choices, max_size=4))))
    everything = mutables + immutables
    for container in mutables:
        count = draw(st.integers(min_value=0, max_value=5))
        for _ in range(count):
            if isinstance(container, list):
                container.append(draw(st.one_of(LEAVES, st.sampled_from(everything))))
            elif isinstance(container, dict):
                key = draw(st.one_of(HASHABLE_LEAVES, st.sampled_from([i for i in immutables if _hashable(i)] or [0])))
                container[key] = draw(st.one_of(LEAVES, st.sampled_from(everything)))
            else:
                hashable = [i for i in immutables if _hashable(i)]
                container.add(draw(st.one_of(HASHABLE_LEAVES, st.sampled_from(hashable))) if hashable
                              else draw(HASHABLE_LEAVES))
    return draw(st.sampled_from(everything))


def _hashable(value):
    try:
        hash(value)
    except TypeError:
        return False
    return True


def assert_isomorphic(original, arrived):
    """Walks both graphs in step: containers map one to one, leaves are equal with the same type."""
    forward, backward = {}, {}
    stack = [(original, arrived)]
    while stack:
        left, right = stack.pop()
        assert type(left) is type(right), (left, right)
        # The empty tuple is a singleton (and may be the empty frozenset): a leaf here.
        if not isinstance(left, CONTAINERS) or (isinstance(left, (tuple, frozenset)) and not left):
            if isinstance(left, float) and math.isnan(left):
                assert math.isnan(right)
            elif isinstance(left, complex):
                assert repr(left) == repr(right)
            else:
                assert left == right and repr(left) == repr(right)
            continue
        if id(left) in forward:
            assert forward[id(left)] is right, "one original container arrived as two objects"
            continue
        assert id(right) not in backward, "two original containers arrived as one object"
        assert right is not left
        forward[id(left)] = right
        backward[id(right)] = left
        assert len(left) == len(right)
        if isinstance(left, (list, tuple)):
            stack.extend(zip(left, right))
        elif isinstance(left, dict):
            assert list(map(repr, left)) == list(map(repr, right)) or set(left) == set(right)
            for key in left:
                stack.append((left[key], right[key]))
        else:  # hashable items: compare as sets of reprs, the items are leaves or frozen
            assert left == right


PROPERTY_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(object_graphs())
def test_roundtrip_keeps_types_values_and_identity(graph):
    assert_isomorphic(graph, _core.roundtrip(graph))


@PROPERTY_SETTINGS
@given(object_graphs())
def test_a_call_to_another_interpreter_keeps_identity_both_ways(interp, graph):
    assert_isomorphic(graph, interp.call(remote.identity, graph))


@pytest.fixture(scope="module")
def echo_queues():
    return manycore.Queue(), manycore.Queue()


@PROPERTY_SETTINGS
@given(object_graphs())
def test_a_queue_echoed_by_a_worker_keeps_identity(interp, echo_queues, graph):
    inbox, outbox = echo_queues
    inbox.put(graph)
    assert interp.call(workers.echo, inbox, outbox, 1) == 1
    assert_isomorphic(graph, outbox.get(timeout=10))


@PROPERTY_SETTINGS
@given(st.lists(LEAVES, max_size=30), st.sampled_from([list, tuple]))
def test_homogeneous_and_mixed_runs_round_trip(items, kind):
    # Packed runs (all int, all float, all str, all bytes) and their fallbacks (a
    # big int or another type partway through) must give back the same sequence.
    for sequence in (kind(items), kind(x for x in items if type(x) is int), kind(x for x in items if type(x) is str)):
        assert_isomorphic(sequence, _core.roundtrip(sequence))


def test_shared_leaves_inside_runs_stay_shared():
    text = "shared" * 10
    blob = b"\x00" * 100
    arrived = _core.roundtrip(([text, text, "x"], [blob, blob]))
    assert arrived[0][0] is arrived[0][1] and arrived[1][0] is arrived[1][1]
