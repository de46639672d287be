"""tests/python/test_packed_chunks.py: map chunks of plain values travel as one packed list each way; mixed ones per item."""
import pytest

import manycore
from manycore import _core


def plus_one(x):
    return x + 1


def fail_on_three(x):
    if x == 3:
        raise ValueError(f"three: {x}")
    return x


def plain_or_not(x):
    # A plain result for even items, a dict for odd ones: a chunk turns unpacked midway.
    return x if x % 2 == 0 else {"odd": x}


def kind_of(x):
    return type(x).__name__


def same_list(x):
    return SHARED


SHARED = [1, 2, 3]


@pytest.fixture(scope="module")
def pool():
    with manycore.Pool(2) as workers:
        yield workers


def test_plain_chunks_round_trip_every_plain_type(pool):
    items = [None, True, False, 0, -1, 2**62, 2**100, 1.5, float("inf"), "", "é", b"", b"\x00" * 70_000] * 20
    assert pool.map(kind_of, items, chunksize=16) == [type(x).__name__ for x in items]
    assert pool.map(str, items, chunksize=16) == [str(x) for x in items]


def test_mixed_items_in_one_chunk(pool):
    items = [1, (2, 3), "x", [4], {5: 6}, 7.0]
    assert pool.map(kind_of, items, chunksize=6) == ["int", "tuple", "str", "list", "dict", "float"]


def test_a_failure_in_a_plain_chunk_keeps_the_results_before_it(pool):
    iterator = pool.imap(fail_on_three, range(8), chunksize=8)
    assert [next(iterator) for _ in range(3)] == [0, 1, 2]
    with pytest.raises(ValueError, match="three: 3"):
        next(iterator)
    with pytest.raises(ValueError, match="three: 3"):
        pool.map(fail_on_three, range(8), chunksize=8)


def test_a_chunk_that_turns_unpacked_midway_keeps_order(pool):
    assert pool.map(plain_or_not, range(50), chunksize=25) == [x if x % 2 == 0 else {"odd": x} for x in range(50)]


def test_unordered_results_are_never_packed(pool):
    assert sorted(pool.imap_unordered(plus_one, range(1000), chunksize=64)) == list(range(1, 1001))


def test_executor_map_with_plain_chunks():
    with manycore.InterpreterPoolExecutor(2) as executor:
        assert list(executor.map(plus_one, range(5000), chunksize=256)) == list(range(1, 5001))
        assert list(executor.map(plus_one, range(5000), chunksize=256, buffersize=4)) == list(range(1, 5001))


def test_take_with_max_slices_a_packed_chunk(pool):
    results = _core.TaskResults(ordered=True)
    assert pool._pool.submit_map(results, plus_one, list(range(10)), 10) == 10
    results.close()
    taken = []
    while (batch := results.take_in_order(max=3)) is not None:
        assert 1 <= len(batch) <= 3
        taken.extend(batch)
    assert taken == list(range(1, 11))


def test_a_shared_result_object_of_a_chunk_is_not_plain(pool):
    # A list result is not plain: it goes per item, each its own copy.
    first, second = pool.map(same_list, range(2), chunksize=2)
    assert first == second == SHARED and first is not second
