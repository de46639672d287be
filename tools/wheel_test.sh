#!/usr/bin/env bash
# tools/wheel_test.sh: installs a built wheel into a fresh venv and tests it from outside the source tree (smoke test, or the whole pytest suite).
# Usage: tools/wheel_test.sh smoke|full PYTHON WHEEL
#   smoke  imports manycore from the venv, runs a pool, a queue and `python -m manycore check`
#   full   copies tests/python (and pyproject.toml, for the pytest settings) to a temp
#          dir and runs pytest there: the tests import the installed wheel only
# Either way the venv and the working directory live in a temp dir outside the tree,
# and the run fails if `manycore` imports from anywhere but the venv's site-packages.
set -euo pipefail
mode="$1" python="$2" wheel="$(realpath "$3")"
source_dir="$(cd "$(dirname "$0")/.." && pwd)"
case "$mode" in smoke|full) ;; *) echo "wheel_test.sh: mode must be smoke or full, got '$mode'" >&2; exit 2 ;; esac

work="$(mktemp -d "${TMPDIR:-/tmp}/manycore-wheel-test.XXXXXX")"
trap 'rm -rf "$work"' EXIT
"$python" -m venv "$work/venv"
venv_python="$work/venv/bin/python"
if [ "$mode" = full ]; then
  "$venv_python" -m pip install -q "$wheel[test]"  # the test extra: pytest and whatever the tests import
else
  "$venv_python" -m pip install -q "$wheel"
fi
cd "$work"
unset PYTHONPATH

# Where manycore comes from: the venv, never the checkout (python/ must not be on sys.path).
PYTHONSAFEPATH=1 "$venv_python" - "$source_dir" <<'PY'
import os, sys, sysconfig
import manycore
source_dir = sys.argv[1]
location = os.path.realpath(manycore.__file__)
site = os.path.realpath(sysconfig.get_paths()["purelib"])
assert location.startswith(site + os.sep), f"manycore imported from {location}, not from {site}"
assert not any(os.path.realpath(p or ".").startswith(source_dir) for p in sys.path), f"source tree on sys.path: {sys.path}"
print(f"manycore imported from {location}")
PY

if [ "$mode" = smoke ]; then
  cat > smoke.py <<'PY'
"""smoke.py: the installed wheel runs functions in worker interpreters, moves data through a queue and checks modules."""
import manycore


def square(x):
    return x * x


if __name__ == "__main__":
    with manycore.Pool(2) as pool:
        assert pool.map(square, range(100), chunksize=8) == [x * x for x in range(100)]
    interp = manycore.create()
    queue = manycore.create_queue()
    interp.prepare_main(queue=queue)
    interp.exec("queue.put({'answer': 42})")
    assert queue.get(timeout=10) == {"answer": 42}
    assert interp.call(lambda a, b: a * b, 6, 7) == 42
    interp.close()
    print("smoke test passed: Pool.map, Interpreter.call, Queue")
PY
  "$venv_python" smoke.py
  "$venv_python" -m manycore check json math
  echo "1 passed, 0 failed: wheel smoke test of $(basename "$wheel") on $("$venv_python" -V)"
else
  mkdir -p tests
  cp -r "$source_dir/tests/python" tests/python
  cp "$source_dir/pyproject.toml" .
  find tests -name __pycache__ -prune -exec rm -rf {} +
  "$venv_python" -m pytest -p no:cacheprovider ${PYTEST_ARGS:-}
fi
