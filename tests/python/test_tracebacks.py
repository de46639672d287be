"""tests/python/test_tracebacks.py: user-facing tracebacks keep the user's frames and the remote traceback, not manycore's (issue 11, point 14)."""

import re
import traceback

import pytest

import manycore

from helpers.proc import describe, run_python

ENTRY_POINTS = {
    "Pool.map": "with manycore.Pool(1) as pool:\n        pool.map(boom, [1])",
    "Pool.imap": "with manycore.Pool(1) as pool:\n        list(pool.imap(boom, [1]))",
    "Pool.apply_async": "with manycore.Pool(1) as pool:\n        pool.apply_async(boom, (1,)).get(timeout=30)",
    "InterpreterPoolExecutor.submit": "with manycore.InterpreterPoolExecutor(1) as ex:\n        ex.submit(boom, 1).result()",
    "InterpreterPoolExecutor.map": "with manycore.InterpreterPoolExecutor(1) as ex:\n        list(ex.map(boom, [1]))",
    "Interpreter.call": "manycore.create().call(boom, 1)",
    "Interpreter.exec": "manycore.create().exec('raise ValueError(\"bad 1\")')",
    "call_in_thread": "manycore.create().call_in_thread(boom, 1).result(timeout=30)",
}


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_traceback_has_no_manycore_frames(tmp_path, entry):
    script = tmp_path / "user_script.py"
    result = run_python(f"""
import manycore


def boom(x):
    raise ValueError(f"bad {{x}}")


if __name__ == "__main__":
    {ENTRY_POINTS[entry]}
""", script_path=script, cwd=tmp_path, timeout=120)
    assert result.returncode == 1, describe(result)
    files = re.findall(r'File "([^"]+)"', result.stderr)
    assert not [path for path in files if "/manycore/" in path], describe(result)
    assert str(script) in files, describe(result)  # the user's frames
    assert "ValueError: bad 1" in result.stderr
    if entry != "Interpreter.exec":
        assert 'in boom\n    raise ValueError(f"bad {x}")' in result.stderr  # the remote traceback
    assert "Uncaught in the interpreter" in result.stderr


def test_user_frames_inside_the_call_stay(tmp_path):
    # An input iterator of the user's raising inside imap keeps its own frame.
    script = tmp_path / "user_iter.py"
    result = run_python("""
import manycore


def items():
    yield 1
    raise KeyError("from the user's generator")


if __name__ == "__main__":
    with manycore.Pool(1) as pool:
        list(pool.imap(abs, items()))
""", script_path=script, cwd=tmp_path, timeout=120)
    assert result.returncode == 1, describe(result)
    assert "in items" in result.stderr and "KeyError" in result.stderr
    assert "/manycore/" not in result.stderr, describe(result)


def test_exception_names_show_the_public_module():
    result = run_python("""
        import manycore
        manycore.Interpreter(10**6)
    """)
    assert result.stderr.strip().splitlines()[-1].startswith("manycore.InterpreterNotFoundError: "), describe(result)


def test_executor_map_results_raised_by_next_show_no_manycore_frames():
    def boom(x):
        raise ValueError(f"bad {x}")

    with manycore.InterpreterPoolExecutor(1) as executor:
        results = executor.map(boom, [1])
        with pytest.raises(ValueError) as caught:
            next(results)
    frames = [entry.filename for entry in traceback.extract_tb(caught.value.__traceback__)]
    assert not [path for path in frames if "/manycore/" in path], frames
