"""tests/python/helpers/proc.py: runs Python code in a child process, for behaviour that could crash or ends the process."""

import os
import subprocess
import sys
import textwrap

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_python(source, *, timeout=60, cwd=None, script_path=None):
    """Runs dedented `source` with this Python (as a script file when script_path is given, else with -c).

    tests/python is put on PYTHONPATH so the child can import helpers.remote. Returns
    the CompletedProcess (text mode); subprocess.TimeoutExpired if it hangs.
    """
    source = textwrap.dedent(source)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [TESTS_DIR, env.get("PYTHONPATH")]))
    env.pop("PYTHONFAULTHANDLER", None)
    if script_path is not None:
        with open(script_path, "w", encoding="utf-8") as script:
            script.write(source)
        command = [sys.executable, str(script_path)]
    else:
        command = [sys.executable, "-c", source]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env)


def describe(result):
    return f"return code {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


def assert_clean_exit(result):
    """Exit code 0 and nothing on stderr (no fatal error, no abort message, no warning)."""
    assert result.returncode == 0 and result.stderr == "", describe(result)
