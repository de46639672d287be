"""tests/python/helpers/interrupt.py: runs a script in a child process and sends it Ctrl-C (SIGINT) while it waits."""

import os
import signal
import subprocess
import sys
import time

from .proc import TESTS_DIR, describe


def interrupt_while_waiting(script_path, source, *, settle=0.3, timeout=20):
    """Runs `source` (which prints "ready" before it starts waiting), sends SIGINT `settle` s later.

    Returns (CompletedProcess, seconds from the signal to the child's end, description).
    """
    script_path.write_text(source)
    env = dict(os.environ, PYTHONPATH=TESTS_DIR)
    child = subprocess.Popen([sys.executable, str(script_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=env)
    try:
        ready = child.stdout.readline()
        if ready != "ready\n":
            child.kill()
            stdout, stderr = child.communicate()
            completed = subprocess.CompletedProcess([], child.returncode, ready + stdout, stderr)
            return completed, 0.0, describe(completed)
        time.sleep(settle)
        signalled = time.monotonic()
        child.send_signal(signal.SIGINT)
        stdout, stderr = child.communicate(timeout=timeout)
        elapsed = time.monotonic() - signalled
    finally:
        child.kill()
    completed = subprocess.CompletedProcess([], child.returncode, stdout, stderr)
    return completed, elapsed, describe(completed)
