"""tests/python/test_functions.py: how callables travel: by reference, from the main script, by value (lambdas, closures)."""

import math
import threading

import pytest

import manycore
from manycore import _core
from helpers import remote
from helpers.proc import assert_clean_exit, describe, run_python

MODULE_CONSTANT = 10


def module_function(x):
    return x + MODULE_CONSTANT


# ---- by reference -------------------------------------------------------------------

@pytest.mark.parametrize(
    "function, args, expected",
    [
        (remote.add, (1, 2), 3),
        (module_function, (1,), 11),
        (len, ("abcd",), 4),
        (math.sqrt, (9.0,), 3.0),
        (remote.Counter, (3,), remote.Counter(3)),
        (remote.Point, (1, 2), remote.Point(1, 2)),
    ],
    ids=["helper_function", "test_module_function", "len", "math.sqrt", "class", "namedtuple_class"],
)
def test_importable_callables_travel_by_reference(interp, function, args, expected):
    assert _core.encoded_kind(function) == "reference"
    assert interp.call(function, *args) == expected


def test_reference_is_resolved_by_import_inside_the_interpreter(interp):
    assert interp.call(remote.identity, remote.add) is remote.add
    assert interp.call(remote.identity, math.sqrt) is math.sqrt
    assert interp.call(remote.identity, remote.Counter) is remote.Counter


def test_bound_method_of_a_builtin_value(interp):
    method = "a,b".split
    assert _core.encoded_kind(method) == "pickled"  # pickle: getattr("a,b", "split")
    assert interp.call(method, ",") == ["a", "b"]


def test_bound_method_of_an_importable_object(interp):
    counter = remote.Counter(10)
    assert interp.call(counter.add, 5) == 15
    assert counter.value == 10  # the object was copied, not shared


def test_builtin_methods_and_staticmethods(interp):
    assert interp.call(dict.fromkeys, "ab") == {"a": None, "b": None}
    assert interp.call(int.from_bytes, b"\x01\x00", "little") == 1
    assert interp.call(str.upper, "x") == "X"


def test_builtins_that_read_the_callers_frame_see_the_interpreters_main():
    # Called from C they would have no frame ("SystemError: frame does not exist").
    with manycore.create() as interp:
        interp.prepare_main(x=20)
        assert interp.call(eval, "x + 1") == 21
        interp.call(exec, "y = x * 2")
        assert interp.call(eval, "y") == 40
        assert interp.call(eval, "x", {"x": 5}) == 5  # explicit globals still win
        assert interp.call(vars)["y"] == 40
        assert "y" in interp.call(dir)
        assert "__manycore_call__" not in interp.call(globals)
        assert interp.call(locals)["x"] == 20
        with pytest.raises(NameError, match="missing"):
            interp.call(eval, "missing")
        assert "__manycore_call__" not in interp.call(dir)


def test_pools_run_frame_reading_builtins_in_the_workers_main():
    with manycore.Pool(1) as pool:
        assert pool.map(eval, ["1 + 1", "len('abc')"]) == [2, 3]
        assert pool.apply(eval, ("2 ** 10",)) == 1024


# ---- by value: lambdas and closures -------------------------------------------------

def test_lambda(interp):
    square = lambda x: x * x  # noqa: E731 - a lambda is the point
    assert _core.encoded_kind(square) == "pickled"
    assert interp.call(square, 7) == 49


def test_lambda_using_module_globals(interp):
    assert interp.call(lambda x: module_function(x) * MODULE_CONSTANT, 1) == 110


def test_local_function_with_defaults_and_keyword_only_defaults(interp):
    def with_defaults(a, b=2, *, c=3):
        return a + b + c

    assert interp.call(with_defaults, 1) == 6
    assert interp.call(with_defaults, 1, c=10) == 13


def test_closure_capturing_transferable_values(interp):
    offset = 5
    table = {"k": [1, 2]}

    def closure(key):
        return sum(table[key]) + offset

    assert interp.call(closure, "k") == 8


def test_closure_cells_are_copied(interp):
    seen = []

    def remember(x):
        seen.append(x)
        return len(seen)

    assert interp.call(remember, 1) == 1
    assert seen == []  # the interpreter changed its copy


def test_nested_closures(interp):
    def outer(n):
        def inner(m):
            return n * m

        return inner

    assert interp.call(outer(6), 7) == 42


def test_recursive_local_function(interp):
    def factorial(n):
        return 1 if n <= 1 else n * factorial(n - 1)

    assert interp.call(factorial, 20) == math.factorial(20)


def test_local_function_returned_from_an_interpreter(interp):
    def make_adder(n):
        return lambda x: x + n

    adder = interp.call(make_adder, 3)
    assert adder(4) == 7


def test_closure_over_an_unpicklable_object_raises_not_shareable(interp):
    lock = threading.Lock()

    def uses_lock():
        with lock:
            return 1

    assert not manycore.is_shareable(uses_lock)
    with pytest.raises(manycore.NotShareableError, match="lock"):
        interp.call(uses_lock)


def test_lambda_over_an_unpicklable_default_raises_not_shareable(interp):
    with pytest.raises(manycore.NotShareableError, match="generator"):
        interp.call(lambda g=(i for i in range(2)): list(g))


def test_function_attributes_and_metadata_travel(interp):
    def documented():
        """The docstring."""
        return documented.__doc__, documented.__name__, documented.__qualname__, documented.marker

    documented.marker = "attribute"
    doc, name, qualname, marker = interp.call(documented)
    assert (doc, name, marker) == ("The docstring.", "documented", "attribute")
    assert qualname.endswith("<locals>.documented")


def test_rebuilt_functions_are_cached_per_interpreter(interp, other_interp):
    def count_calls(state=[]):  # noqa: B006 - the shared default shows the object is reused
        state.append(1)
        return len(state)

    assert interp.call(count_calls) == 1
    assert interp.call(count_calls) == 2  # same function object, same default list
    assert other_interp.call(count_calls) == 1  # another interpreter rebuilds its own
    assert count_calls.__defaults__ == ([],)  # nothing came back to the caller's function


def test_cached_function_keeps_state_in_a_function_attribute(interp):
    def tally():
        tally.calls = getattr(tally, "calls", 0) + 1
        return tally.calls

    assert [interp.call(tally) for _ in range(3)] == [1, 2, 3]
    assert not hasattr(tally, "calls")


def test_cached_lambda_keeps_its_mutable_default(interp):
    counter = lambda cache={}: cache.setdefault("n", []).append(1) or len(cache["n"])  # noqa: E731
    assert [interp.call(counter) for _ in range(3)] == [1, 2, 3]


def test_two_different_lambdas_are_not_confused(interp):
    first = lambda: "first"  # noqa: E731
    second = lambda: "second"  # noqa: E731
    assert interp.call(first) == "first"
    assert interp.call(second) == "second"


# ---- functions defined in the main script (subprocess) -----------------------------

MAIN_SCRIPT = """
    import manycore
    from manycore import _core

    SCALE = 3


    def work(x):
        return x * SCALE


    class Box:
        def __init__(self, content):
            self.content = content


    def make_box(content):
        return Box(content)


    def main():
        interp = manycore.create()
        assert interp.call(work, 14) == 42
        box = interp.call(make_box, "thing")
        assert type(box) is Box and box.content == "thing"
        assert interp.call(Box, 5).content == 5
        assert interp.call(lambda v: work(v) + 1, 1) == 4  # a lambda using a script global
        assert interp.call(lambda: __name__) == "__main__"  # names the script as its module
        print("kinds", _core.encoded_kind(work), _core.encoded_kind(Box))
        print("ok")


    if __name__ == "__main__":
        main()
"""


def test_function_and_class_from_the_main_script(tmp_path):
    result = run_python(MAIN_SCRIPT, script_path=tmp_path / "main_script.py", cwd=tmp_path)
    assert_clean_exit(result)
    assert result.stdout.splitlines() == ["kinds pickled pickled", "ok"]


def test_main_script_runs_once_per_interpreter_without_its_main_block(tmp_path):
    marker = tmp_path / "runs.txt"
    script = f"""
        import manycore

        with open({str(marker)!r}, "a") as log:
            log.write(__name__ + "\\n")


        def work():
            return "done"


        if __name__ == "__main__":
            interp = manycore.create()
            assert [interp.call(work) for _ in range(3)] == ["done"] * 3
            print("ok")
    """
    result = run_python(script, script_path=tmp_path / "main_once.py", cwd=tmp_path)
    assert_clean_exit(result)
    assert marker.read_text().splitlines() == ["__main__", "__mp_main__"]


def test_unguarded_create_in_main_script_raises_clear_error(tmp_path):
    script = """
        import manycore


        def work(x):
            return x + 1


        interp = manycore.create()
        print(interp.call(work, 1))
    """
    result = run_python(script, script_path=tmp_path / "unguarded.py", cwd=tmp_path, timeout=60)
    assert result.returncode == 1, describe(result)
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("manycore.InterpreterError: manycore.create() was called"), describe(result)
    assert "if __name__ == '__main__':" in last_line
    assert "Fatal Python error" not in result.stderr


def test_functions_from_python_dash_c_travel_by_value():
    result = run_python("""
        import manycore
        from manycore import _core

        FACTOR = 7

        def work(x):
            return x * FACTOR

        interp = manycore.create()
        print(_core.encoded_kind(work), interp.call(work, 6))
    """)
    assert_clean_exit(result)
    assert result.stdout == "pickled 42\n"


def test_class_from_a_main_without_a_script_file_travels_by_value():
    # A REPL, notebook or `python -c` has no file the other interpreter could run:
    # cloudpickle sends the class's definition (issue 11, point 10).
    result = run_python("""
        import manycore

        class Point:
            def __init__(self, x):
                self.x = x

            def moved(self, dx):
                return Point(self.x + dx)

        interp = manycore.create()
        moved = interp.call(Point.moved, Point(1), 2)
        print(type(moved) is Point, moved.x)
        print(interp.call(lambda cls: cls(5).x, Point))
        back = interp.call(lambda: [Point(i) for i in range(3)])
        print([type(p) is Point for p in back])
        print(interp.call(lambda p: type(p) is type(Point(0)), Point(1)))
    """)
    assert_clean_exit(result)
    assert result.stdout == "True 3\n5\n[True, True, True]\nTrue\n"


