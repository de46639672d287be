"""docs/_ext/manycore_docs.py: Sphinx directives of the manycore site: the API reference from __all__, the C++ headers page from include/manycore/*.h.

``.. manycore-api:: manycore`` documents every name of the package's ``__all__`` with
autodoc, grouped by the module that defines it (one section per module, titled by
that module's docstring), so a name another change adds to ``__all__`` is documented
with no change here, and a name without a docstring is a build error.

``{manycore-headers}`` turns every public header into a section: its leading
comment block (what the unit offers, its guarantees, lifetime and threading rules:
STYLE.md point 9, "public headers are documentation") as text, then the header
itself. A header added to include/manycore/ appears with no change here.
"""

import importlib
import inspect
import pathlib

from docutils import nodes
from docutils.parsers.rst import Directive
from docutils.statemachine import StringList
from sphinx.util.nodes import make_id, nested_parse_with_titles


def module_title(module):
    """A module's docstring first line, without its "path/file.py: " label, capitalized."""
    first = (module.__doc__ or module.__name__).strip().splitlines()[0]
    summary = first.split(".py: ", 1)[1] if ".py: " in first else first
    if not summary.startswith("manycore"):  # the package's name stays lower-case
        summary = summary[:1].upper() + summary[1:]
    return summary.rstrip(".")


class ManycoreApi(Directive):
    required_arguments = 1
    has_content = False

    def run(self):
        package = importlib.import_module(self.arguments[0])
        groups = {}
        for name in package.__all__:
            obj = getattr(package, name)
            if not (inspect.getdoc(obj) or "").strip():
                raise self.error(f"{package.__name__}.{name} has no docstring: the API reference needs one")
            home = getattr(obj, "__module__", package.__name__)
            groups.setdefault(home, []).append((name, obj))
        lines = []
        for home, members in groups.items():
            # Names made at first use (PEP 562) say they live in the package itself.
            title = "More" if home == package.__name__ else module_title(importlib.import_module(home))
            lines += [title, "-" * len(title), ""]
            for name, obj in members:
                if not callable(obj):  # a constant (WHENCE_*): its value, not its type's docstring
                    meaning = ("a value of ``Interpreter.whence``: how the interpreter was created, as in "
                               "3.14's ``concurrent.interpreters``") if name.startswith("WHENCE_") else "a constant"
                    lines += [f".. py:data:: {package.__name__}.{name}", f"   :value: {obj!r}", "",
                              f"   {meaning[0].upper() + meaning[1:]}.", ""]
                    continue
                if isinstance(obj, type) and issubclass(obj, BaseException):
                    kind = "autoexception"
                elif isinstance(obj, type):
                    kind = "autoclass"
                else:
                    kind = "autofunction"
                lines += [f".. {kind}:: {package.__name__}.{name}", ""]
        node = nodes.section()
        node.document = self.state.document
        nested_parse_with_titles(self.state, StringList(lines, source=self.arguments[0]), node)
        return node.children


def leading_comment(text):
    """The first block of `//` lines, without the markers and the first line's path label."""
    lines = []
    for line in text.splitlines():
        if not line.startswith("//"):
            break
        lines.append(line[2:].removeprefix(" "))
    if lines and ": " in lines[0]:
        lines[0] = lines[0].split(": ", 1)[1]
    return lines


def paragraphs(lines):
    """Groups comment lines into paragraphs (blank line = break; '- ' starts a list item)."""
    blocks, current = [], []
    for line in lines:
        starts_item = line.startswith("- ")
        if not line.strip() or (starts_item and current):
            if current:
                blocks.append(" ".join(current))
            current = []
        if line.strip():
            current.append(line.strip())
    if current:
        blocks.append(" ".join(current))
    return blocks


class ManycoreHeaders(Directive):
    has_content = False

    def run(self):
        env = self.state.document.settings.env
        root = pathlib.Path(env.config.manycore_root)
        headers = sorted((root / "include" / "manycore").glob("*.h"))
        if not headers:
            raise self.error(f"no headers found in {root / 'include' / 'manycore'}")
        result = []
        for header in headers:
            env.note_dependency(str(header))
            text = header.read_text(encoding="utf-8")
            name = f"manycore/{header.name}"
            section = nodes.section(ids=[make_id(env, self.state.document, "", "header-" + header.stem)])
            section += nodes.title(name, "", nodes.literal(name, name))
            items = None
            for block in paragraphs(leading_comment(text)):
                if block.startswith("- "):
                    if items is None:
                        items = nodes.bullet_list()
                        section += items
                    items += nodes.list_item("", nodes.paragraph(block[2:], block[2:]))
                else:
                    items = None
                    section += nodes.paragraph(block, block)
            listing = nodes.literal_block(text, text, language="cpp")
            listing["classes"].append("manycore-header")
            section += nodes.container("", nodes.rubric(f"include/{name}", f"include/{name}"), listing)
            result.append(section)
        return result


def setup(app):
    app.add_config_value("manycore_root", "", "env")
    app.add_directive("manycore-api", ManycoreApi)
    app.add_directive("manycore-headers", ManycoreHeaders)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
