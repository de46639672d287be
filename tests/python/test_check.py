"""tests/python/test_check.py: `python -m manycore check` names pure-Python fallbacks and blocking extensions, and says what to do (issue 11, point 12).

msgpack, PyYAML and numpy come from the test extra (pyproject.toml). A package that
wraps numpy's refusal in its own ImportError (as pandas does) is made on the fly.
"""

import importlib.util
import json
import subprocess
import sys

import pytest


def run_check(*names, cwd, pythonpath=None):
    import os

    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    completed = subprocess.run([sys.executable, "-m", "manycore", "check", "--json", *names], capture_output=True,
                               text=True, cwd=cwd, env=env, timeout=300)
    return completed, json.loads(completed.stdout)


def needs(name):
    return pytest.mark.skipif(importlib.util.find_spec(name) is None, reason=f"{name} is in the test extra")


@needs("msgpack")
@needs("yaml")
def test_pure_python_fallbacks_are_reported(tmp_path):
    completed, report = run_check("msgpack", "yaml", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr  # they do work, only slower
    results = {result["module"]: result for result in report["modules"]}
    assert results["msgpack"]["status"] == "fallback" and "msgpack._cmsgpack" in results["msgpack"]["fallbacks"]
    if sys.version_info < (3, 13):  # 3.12 also refuses _datetime, which msgpack imports (docs/compat.md)
        assert "_datetime" in results["msgpack"]["fallbacks"]
    assert results["yaml"]["status"] == "fallback" and "yaml._yaml" in results["yaml"]["fallbacks"]
    for result in results.values():
        assert result["works"] is True
        assert result["reason"].startswith("works, but ") and "fell back to pure Python" in result["reason"]
        assert "ProcessPoolExecutor" in result["advice"]


@needs("msgpack")
def test_fallback_text_output(tmp_path):
    completed = subprocess.run([sys.executable, "-m", "manycore", "check", "msgpack"], capture_output=True,
                               text=True, cwd=tmp_path, timeout=300)
    assert completed.stdout.startswith("msgpack  works, but ")
    assert "msgpack._cmsgpack" in completed.stdout and "fell back to pure Python" in completed.stdout
    assert "what to do:" in completed.stdout


def test_modules_without_fallbacks_just_work(tmp_path):
    completed, report = run_check("json", "math", cwd=tmp_path)
    assert completed.returncode == 0
    assert [result["status"] for result in report["modules"]] == ["works", "works"]


def test_stdlib_fallbacks_of_312_are_reported(tmp_path):
    # 3.12 refuses _decimal in isolated interpreters: decimal silently runs _pydecimal there.
    completed, report = run_check("decimal", cwd=tmp_path)
    result = report["modules"][0]
    if sys.version_info < (3, 13):
        assert result["status"] == "fallback" and result["fallbacks"] == ["_decimal"]
    else:
        assert result["status"] == "works"


@needs("numpy")
def test_blocking_extension_is_named(tmp_path):
    completed, report = run_check("numpy", cwd=tmp_path)
    assert completed.returncode == 1
    result = report["modules"][0]
    assert result["status"] == "not isolated"
    assert "numpy._core._multiarray_umath" in result["reason"] and "per-interpreter GIL" in result["reason"]
    assert "ProcessPoolExecutor" in result["advice"]


@needs("numpy")
def test_a_wrapped_refusal_names_the_dependency(tmp_path):
    # pandas catches numpy's ImportError and raises "Unable to import required dependency numpy".
    package = tmp_path / "needs_numpy"
    package.mkdir()
    (package / "__init__.py").write_text(
        "try:\n    import numpy\nexcept ImportError as error:\n"
        "    raise ImportError('Unable to import required dependency numpy') from None\n")
    completed, report = run_check("needs_numpy", cwd=tmp_path, pythonpath=tmp_path)
    assert completed.returncode == 1
    result = report["modules"][0]
    assert result["status"] == "not isolated", result
    assert result["reason"].startswith("it needs numpy, whose numpy._core._multiarray_umath is an extension module")
    assert "Unable to import required dependency numpy" in result["detail"]


def test_pool_users_are_told_what_to_do_when_an_import_fails_in_a_worker(tmp_path):
    import manycore

    with manycore.Pool(1) as pool:
        with pytest.raises(ImportError, match="ProcessPoolExecutor"):
            pool.apply(__import__, ("_testsinglephase" if importlib.util.find_spec("_testsinglephase")
                                    else "readline",))
