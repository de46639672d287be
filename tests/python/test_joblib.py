"""tests/python/test_joblib.py: the "manycore" joblib backend (manycore.joblib, offered to joblib by manycore._ecosystem)."""

import pytest

joblib = pytest.importorskip("joblib")

import manycore  # noqa: E402
from helpers import ecosystem_tasks as tasks  # noqa: E402
from helpers.proc import assert_clean_exit, run_python  # noqa: E402


def run(calls, **config):
    with joblib.parallel_config(backend="manycore", **config):
        return joblib.Parallel()(calls)


def test_results_in_order_from_interpreters():
    assert run((joblib.delayed(tasks.square)(i) for i in range(2000)), n_jobs=2) == [i * i for i in range(2000)]
    places = run((joblib.delayed(tasks.interpreter_id)(i) for i in range(20)), n_jobs=2, batch_size=1)
    main = manycore.get_main().id
    assert all(interp != main for interp, _ in places)
    assert len({interp for interp, _ in places}) <= 2


def test_lambdas_closures_and_kwargs():
    offset = 10
    assert run((joblib.delayed(lambda x: x + offset)(i) for i in range(5)), n_jobs=2) == [10, 11, 12, 13, 14]
    assert run([joblib.delayed(tasks.add)(1, 2, 3)], n_jobs=2) == [6]


def test_exception_keeps_its_type_and_the_remote_traceback():
    with pytest.raises(tasks.TaskFailed, match="task failed on 37") as caught:
        run((joblib.delayed(tasks.fail_on)(i, 37) for i in range(200)), n_jobs=2)
    assert isinstance(caught.value.__cause__, manycore.ExecutionFailed)
    assert "in fail_on" in caught.value.__cause__.excinfo.formatted
    # the backend's interpreters still serve the next call
    assert run((joblib.delayed(tasks.square)(i) for i in range(10)), n_jobs=2) == [i * i for i in range(10)]


def test_interpreters_are_reused_across_calls():
    from manycore import joblib as manycore_joblib

    run([joblib.delayed(tasks.square)(1)] * 4, n_jobs=2)
    first = manycore_joblib._shared_executor
    run([joblib.delayed(tasks.square)(1)] * 4, n_jobs=2)
    assert manycore_joblib._shared_executor is first


def test_n_jobs_minus_one_and_one():
    assert run((joblib.delayed(tasks.square)(i) for i in range(10)), n_jobs=-1) == [i * i for i in range(10)]
    # n_jobs=1 runs in the caller (as loky does), so the main interpreter's id comes back
    main = manycore.get_main().id
    assert run([joblib.delayed(tasks.interpreter_id)()], n_jobs=1) == [(main, main)]


def test_generator_output():
    with joblib.parallel_config(backend="manycore", n_jobs=2):
        results = joblib.Parallel(return_as="generator")(joblib.delayed(tasks.square)(i) for i in range(50))
        assert list(results) == [i * i for i in range(50)]


def test_task_needing_a_refusing_module_names_it():
    pytest.importorskip("psutil")
    with pytest.raises(ImportError, match="cannot be imported in an isolated interpreter"):
        run([joblib.delayed(tasks.import_module)("psutil")] * 2, n_jobs=2)


@pytest.mark.parametrize("order", ["manycore first", "joblib first"])
def test_backend_name_needs_only_import_manycore(order):
    imports = "import manycore\nimport joblib" if order == "manycore first" else "import joblib\nimport manycore"
    result = run_python(f"""
{imports}
from helpers import ecosystem_tasks as tasks

if __name__ == "__main__":
    with joblib.parallel_config(backend="manycore", n_jobs=2):
        print(joblib.Parallel()(joblib.delayed(tasks.square)(i) for i in range(5)))
""", timeout=120)
    assert_clean_exit(result)
    assert result.stdout == "[0, 1, 4, 9, 16]\n"


def test_joblib_is_not_imported_by_import_manycore():
    result = run_python("import sys, manycore; print('joblib' in sys.modules)")
    assert_clean_exit(result)
    assert result.stdout == "False\n"
