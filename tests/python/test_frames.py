"""tests/python/test_frames.py: sys._current_frames() beside own-GIL interpreters (manycore._core.current_frames, _compat)."""

import sys
import threading

from manycore import _core

from helpers.proc import assert_clean_exit, describe, run_python


def test_current_frames_is_guarded_and_sees_this_interpreters_threads():
    assert sys._current_frames is _core.current_frames
    started, release = threading.Event(), threading.Event()

    def parked():
        started.set()
        release.wait()

    thread = threading.Thread(target=parked)
    thread.start()
    try:
        started.wait()
        frames = sys._current_frames()
        assert frames[threading.get_ident()].f_code.co_name == "test_current_frames_is_guarded_and_sees_this_interpreters_threads"
        frame = frames[thread.ident]
        names = []
        while frame is not None:
            names.append(frame.f_code.co_name)
            frame = frame.f_back
        assert "parked" in names
    finally:
        release.set()
        thread.join()


PROFILER_BESIDE_INTERPRETERS = """
    import sys, threading, time
    import manycore
    from manycore import _compat
    import json, email.message, http.client, argparse  # the main interpreter has them too (as in real programs)

    if not {guarded}:
        sys._current_frames = _compat.original_current_frames
    stop = False

    def profiler():  # what dask.distributed's worker does every 20 ms
        while not stop:
            sys._current_frames()
            time.sleep(0.0005)

    thread = threading.Thread(target=profiler)
    thread.start()
    try:
        for _ in range(4):
            interp = manycore.create()
            interp.exec("import json, email.message, http.client, argparse")
            interp.close()
    finally:
        stop = True
        thread.join()
    print("done")
"""


def test_a_profiler_beside_interpreters_does_not_crash():
    result = run_python(PROFILER_BESIDE_INTERPRETERS.format(guarded=True), timeout=120)
    assert_clean_exit(result)
    assert result.stdout == "done\n"


def test_the_unguarded_function_crashes():
    """Shows that the guard is what makes the test above pass (CPython 3.12.1 and 3.13.0)."""
    result = run_python(PROFILER_BESIDE_INTERPRETERS.format(guarded=False), timeout=120)
    assert result.returncode != 0, describe(result)
