"""tests/python/test_transport.py: what travels by value (cloudpickle) and what by reference (issue 11, point 10)."""

import pickle
import sys

import cloudpickle

import manycore
from manycore import _transport
from helpers import remote
from helpers.proc import assert_clean_exit, run_python


def test_cloudpickle_is_a_runtime_dependency():
    from importlib import metadata

    requires = metadata.requires("manycore") or []
    assert any(requirement.startswith("cloudpickle") and "extra" not in requirement for requirement in requires)
    assert cloudpickle.__version__


def test_module_level_functions_travel_by_reference():
    payload = _transport.dumps(remote.add)
    assert b"helpers.remote" in payload and b"co_code" not in payload and len(payload) < 100
    assert pickle.loads(payload) is remote.add
    assert manycore.will_pickle(remote.add) is False  # the native codec sends the reference


def test_lambdas_and_closures_travel_by_value(interp):
    offset = 5

    def closure(x):
        return x + offset

    assert interp.call(closure, 1) == 6
    assert interp.call(lambda: [remote.add(1, 2)]) == [3]
    assert manycore.will_pickle(closure) is True


def test_function_sent_by_value_is_rebuilt_once_per_interpreter(interp):
    factor = 3
    function = lambda x: x * factor  # noqa: E731
    payload = _transport.dumps(function)
    first = interp.call(lambda blob: id(_transport.loads(blob)), payload)
    second = interp.call(lambda blob: id(_transport.loads(blob)), payload)
    assert first == second


def test_local_class_travels_by_value_and_keeps_its_identity_per_interpreter(interp):
    class Local:
        def __init__(self, value):
            self.value = value

    same = interp.call(lambda a, b: type(a) is type(b), Local(1), Local(2))
    assert same is True
    back = interp.call(lambda item: item, Local(7))
    assert type(back) is Local and back.value == 7


def test_file_less_main_classes_work_with_a_pool():
    result = run_python("""
        import manycore

        class Point:
            def __init__(self, x):
                self.x = x

        def norm(p):
            return abs(p.x)

        with manycore.Pool(2) as pool:
            print(pool.map(norm, [Point(-i) for i in range(5)]))
        with manycore.InterpreterPoolExecutor(1) as executor:
            print(type(executor.submit(lambda: Point(3)).result()) is Point)
    """)
    assert_clean_exit(result)
    assert result.stdout == "[0, 1, 2, 3, 4]\nTrue\n"


def test_main_script_functions_still_travel_by_reference(tmp_path):
    result = run_python("""
        import manycore

        def work(x):
            return __name__, x

        if __name__ == "__main__":
            print(manycore.create().call(work, 1))
    """, script_path=tmp_path / "script.py", cwd=tmp_path)
    assert_clean_exit(result)
    assert result.stdout == "('__mp_main__', 1)\n"
