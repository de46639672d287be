#!/usr/bin/env bash
# benchmarks/run_all.sh: runs every `python -m manycore bench NAME` with one Python, extra arguments passed to each.
# Usage: benchmarks/run_all.sh [--json] [--repeat N]     (PYTHON=/path/to/python with manycore installed)
# With --json, each benchmark's JSON goes to build/benchmarks/<python version>-<name>.json (not versioned).
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-.venv/bin/python}"
if ! "$python" -c 'import manycore' 2>/dev/null; then
  echo "run_all.sh: $python cannot import manycore: run 'make venv' or set PYTHON" >&2
  exit 1
fi
version=$("$python" -c 'import platform; print(platform.python_version())')
# The benchmark list comes from the package, so a new benchmark module is picked up here too.
names=$("$python" -c 'from manycore._bench import discover; print(*discover())')
status=0
for name in $names; do
  echo "== bench $name (Python $version)"
  if [[ " $* " == *" --json "* ]]; then
    mkdir -p build/benchmarks
    out="build/benchmarks/$version-$name.json"
    "$python" -m manycore bench "$name" "$@" >"$out" || status=1
    echo "wrote $out"
  else
    "$python" -m manycore bench "$name" "$@" || status=1
  fi
done
exit $status
