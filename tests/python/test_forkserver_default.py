"""tests/python/test_forkserver_default.py: multiprocessing's default becomes forkserver beside manycore interpreters (issue 11, point 11).

A program that never chose a start method gets "forkserver" (3.14's default on
Linux) once manycore starts an interpreter, so multiprocessing.Pool(),
ProcessPoolExecutor() and Process() work beside it; an explicit choice stays, and an
explicit fork is still refused with the clear InterpreterError (_compat.py). Each case
runs in a fresh process (the default context is process-wide).
"""

import sys

import pytest

from helpers.proc import assert_clean_exit, run_python

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="fork/forkserver are POSIX start methods")

MIXED_PROGRAM = """
    import concurrent.futures
    import multiprocessing
    import manycore
    from helpers import remote

    if __name__ == "__main__":
        {before}
        interp = manycore.create()
        {after}
        print(multiprocessing.get_start_method())
        with multiprocessing.Pool(1) as pool:
            print("Pool", pool.apply(remote.add, (2, 3)))
        with concurrent.futures.ProcessPoolExecutor(1) as executor:
            print("ProcessPoolExecutor", executor.submit(remote.add, 4, 5).result())
        process = multiprocessing.Process(target=remote.add, args=(1, 2))
        process.start()
        process.join()
        print("Process", process.exitcode, interp.call(remote.add, 1, 1))
"""


@pytest.mark.parametrize("imported", ["before", "after"])
def test_default_pools_work_beside_interpreters(tmp_path, imported):
    # multiprocessing.context imported before the first interpreter, or only after it.
    before = "import multiprocessing.pool" if imported == "before" else "pass"
    source = MIXED_PROGRAM.replace("    import multiprocessing\n", "", 1) if imported == "after" else MIXED_PROGRAM
    after = "import multiprocessing" if imported == "after" else "pass"
    result = run_python(source.format(before=before, after=after), script_path=tmp_path / "mixed.py", cwd=tmp_path,
                        timeout=180)
    assert_clean_exit(result)
    assert result.stdout == "forkserver\nPool 5\nProcessPoolExecutor 9\nProcess 0 2\n"


def test_a_chosen_start_method_is_kept(tmp_path):
    result = run_python(MIXED_PROGRAM.format(before="multiprocessing.set_start_method('spawn')", after="pass"),
                        script_path=tmp_path / "chosen.py", cwd=tmp_path, timeout=180)
    assert_clean_exit(result)
    assert result.stdout.splitlines()[0] == "spawn"


def test_explicit_fork_is_still_refused(tmp_path):
    result = run_python("""
        import multiprocessing
        import manycore

        if __name__ == "__main__":
            interp = manycore.create()
            for make in (lambda: multiprocessing.get_context("fork").Pool(1),
                         lambda: (multiprocessing.set_start_method("fork"), multiprocessing.Pool(1))):
                try:
                    make()
                except manycore.InterpreterError as error:
                    print("refused", "gh-101437" in str(error), "forkserver" in str(error))
    """, script_path=tmp_path / "fork.py", cwd=tmp_path, timeout=120)
    assert_clean_exit(result)
    assert result.stdout == "refused True True\nrefused True True\n"


def test_no_interpreter_no_change():
    result = run_python("""
        import multiprocessing, sys
        import manycore
        print(multiprocessing.get_start_method(allow_none=True), multiprocessing.get_context()._name)
    """)
    assert_clean_exit(result)
    assert result.stdout == "None fork\n"
