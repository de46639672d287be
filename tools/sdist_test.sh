#!/usr/bin/env bash
# tools/sdist_test.sh: builds a wheel from the sdist alone, as a fresh machine would (isolated build env from PyPI), then smoke-tests it.
# Usage: tools/sdist_test.sh PYTHON SDIST
# The sdist is unpacked in a temp dir: nothing of the checkout (build dirs, venvs)
# takes part, so a file missing from the sdist fails the build here.
set -euo pipefail
python="$1" sdist="$(realpath "$2")"
source_dir="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/manycore-sdist-test.XXXXXX")"
trap 'rm -rf "$work"' EXIT
tar -xzf "$sdist" -C "$work"
unpacked=$(ls -d "$work"/manycore-*/)
"$python" -m venv "$work/venv"
echo "== building a wheel from $(basename "$sdist") in an isolated environment"
(cd "$work" && "$work/venv/bin/python" -m pip wheel -q --no-deps -w "$work/wheels" "$unpacked")
"$source_dir/tools/wheel_test.sh" smoke "$python" "$(ls "$work"/wheels/manycore-*.whl)"
