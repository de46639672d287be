#!/usr/bin/env bash
# tools/find_python.sh: prints the path of a CPython >= 3.12 (per-interpreter GIL), preferring 3.13.
# Usage: tools/find_python.sh [3.13|3.12]   (a version asks for exactly that minor version)
# Looks at $PYTHON, then PATH, then pyenv's versions folder. Exits 1 with a message if none.
set -u
want="${1:-}"

accepts() {  # accepts PATH: the interpreter runs and is the wanted version
  local candidate="$1" version
  [ -x "$candidate" ] || return 1
  version=$("$candidate" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) || return 1
  if [ -n "$want" ]; then
    [ "$version" = "$want" ]
  else
    "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null
  fi
}

if [ -n "${PYTHON:-}" ] && [ -z "$want" ]; then
  chosen=$(command -v "$PYTHON" || echo "$PYTHON")
  if accepts "$chosen"; then echo "$chosen"; exit 0; fi
  echo "find_python.sh: PYTHON=$PYTHON is not a CPython >= 3.12 (a per-interpreter GIL needs 3.12+)" >&2
  exit 1
fi
candidates=()
pyenv_root="${PYENV_ROOT:-}"
if [ -z "$pyenv_root" ]; then
  pyenv_root=$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")
fi
for minor in ${want:-3.13 3.12}; do
  for dir in $(ls -d "$pyenv_root"/versions/"$minor".* 2>/dev/null | sort -rV); do
    case "$dir" in *t) continue ;; esac  # free-threaded builds have no GIL to own
    candidates+=("$dir/bin/python$minor")
  done
  found=$(command -v "python$minor" 2>/dev/null) && candidates+=("$found")
done

for candidate in "${candidates[@]}"; do
  if accepts "$candidate"; then
    echo "$candidate"
    exit 0
  fi
done
echo "find_python.sh: no CPython ${want:->= 3.12} found (looked at \$PYTHON, PATH and $pyenv_root/versions); install one with pyenv or set PYTHON=/path/to/python3.13" >&2
exit 1
