#!/usr/bin/env bash
# tools/check_old_python.sh: on a Python older than 3.12 (the machine's python3), `import manycore` must fail with one clear ImportError.
set -u
old=$(command -v python3.11 || command -v python3)
if "$old" -c 'import sys; sys.exit(sys.version_info >= (3, 12))'; then
  out=$(PYTHONPATH=python "$old" -c 'import manycore' 2>&1)
  if echo "$out" | tail -1 | grep -q "^ImportError: manycore needs CPython 3.12 or newer"; then
    echo "1 passed, 0 failed: $("$old" -V) refuses manycore with: $(echo "$out" | tail -1)"
  else
    echo "0 passed, 1 failed: unexpected output from $("$old" -V):"; echo "$out"; exit 1
  fi
else
  echo "no Python older than 3.12 here: skipped"
fi
