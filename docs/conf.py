"""docs/conf.py: Sphinx configuration of the manycore documentation site (`make docs`; docs/packaging.md says how it is checked)."""

import pathlib
import re
import sys

DOCS = pathlib.Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS / "_ext"))

# The API reference documents the installed package (`make docs` installs the wheel
# into .venv-docs), never python/ of the checkout: what users get is what is shown.
import manycore  # noqa: E402

if pathlib.Path(manycore.__file__).resolve().is_relative_to(ROOT / "python"):
    raise RuntimeError(f"docs must be built against an installed manycore, not {manycore.__file__}")

project = "manycore"
author = "the manycore authors"
copyright = "2026, the manycore authors"  # noqa: A001 - Sphinx's name
release = version = manycore.__version__

extensions = ["myst_parser", "sphinx.ext.autodoc", "manycore_docs"]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "_ext", "plots/data"]

# Strict: every warning fails the build (-W in the Makefile); -n makes every
# unresolved cross-reference a warning; MyST checks every [text](file.md#anchor) link.
nitpicky = True
myst_heading_anchors = 4
myst_enable_extensions = ["colon_fence"]
# Types from the standard library: there is no network at build time, so no
# intersphinx inventory; their names are shown as written.
nitpick_ignore_regex = [
    ("py:class", r"(concurrent|multiprocessing|queue|asyncio|collections|typing|types|threading)(\..+)?"),
    ("py:class", r"(callable|iterable|optional|object|int|float|str|bytes|bool|None|tuple|list|dict)"),
    ("py:exc", r"(queue|concurrent|multiprocessing)\..+"),
    # Private bases shown by show-inheritance (queue.Empty is _queue.Empty; the C++
    # wrapper types of manycore._core): not part of the documented API.
    ("py:class", r"(_queue|manycore\._core)\..+"),
]

autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_typehints = "none"


def escape_stars(app, what, name, obj, options, lines):
    """Docstrings here are plain text: `*args`, `**kwargs` are not reST emphasis (outside ``literals``)."""
    for index, line in enumerate(lines):
        parts = re.split(r"(``.*?``)", line)
        lines[index] = "".join(part if part.startswith("``") else re.sub(r"(?<!\\)\*", r"\\*", part)
                               for part in parts)


def setup(app):
    app.connect("autodoc-process-docstring", escape_stars)


html_theme = "alabaster"
html_title = f"manycore {release}"
html_static_path = []
html_theme_options = {
    "description": "Real multi-core parallelism for CPython through own-GIL subinterpreters",
    "fixed_sidebar": True,
}

# `make docs-linkcheck` runs Sphinx's linkcheck builder without a network: every
# external URL is reported as ignored, never fetched; local targets are still checked.
linkcheck_ignore = [r"https?://.*", r"mailto:.*"]
linkcheck_anchors = False

# Where the repository's own files are (the C++ headers page reads include/manycore/).
manycore_root = str(ROOT)
