"""tools/run_doc_examples.py: runs every ```python block of the given Markdown pages as a script, so the guides' examples are tested.

Usage: python tools/run_doc_examples.py PAGE.md...   (with manycore installed)
Each block runs as its own script file in a fresh temp dir (so functions of the
"main script" travel as they would in a user's program), with a 120 s limit. A block
fails if it exits non-zero or writes to stderr. Prints 'N passed, N failed'.
"""

import pathlib
import re
import subprocess
import sys
import tempfile

BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def main(pages):
    passed, failed = 0, 0
    for page in pages:
        text = pathlib.Path(page).read_text(encoding="utf-8")
        for number, match in enumerate(BLOCK.finditer(text), 1):
            line = text.count("\n", 0, match.start()) + 1
            with tempfile.TemporaryDirectory() as work:
                script = pathlib.Path(work) / "example.py"
                script.write_text(match.group(1), encoding="utf-8")
                try:
                    done = subprocess.run([sys.executable, str(script)], cwd=work, capture_output=True, text=True,
                                          timeout=120)
                    problem = None if done.returncode == 0 and not done.stderr else (
                        f"exit status {done.returncode}\n{done.stderr}")
                except subprocess.TimeoutExpired:
                    problem = "did not finish within 120 s"
            if problem:
                failed += 1
                print(f"FAILED {page}:{line} (block {number}): {problem}")
            else:
                passed += 1
    print(f"{passed} passed, {failed} failed: code examples of {', '.join(pages)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
