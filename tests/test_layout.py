"""The package's shape, as the README describes it. Which layer may import which, "only the TensorRT layer
imports tensorrt" and "no import cycles" are import-linter contracts (pyproject.toml, run as `lint-imports`);
what is checked here is what a newcomer reads: the README's layer table against the tree, each layer's
docstring, and the few modules at the top."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "trtconvert"
MAX_TOP_LEVEL_MODULES = 8


def _layer_table() -> dict[str, set[str]]:
    """The README's table: each layer (or `base`) and the module names its row lists."""
    readme = (ROOT / "README.md").read_text()
    table = readme.split("<!-- module-layout -->", 1)[1].split("\n\n", 1)[0]
    rows: dict[str, set[str]] = {}
    for line in [line for line in table.splitlines() if line.startswith("|")][2:]:
        layer, _job, modules = (cell.strip() for cell in line.strip("|").split("|"))
        names = set(re.findall(r"`([a-z0-9_]+(?:\.py|/))`", modules))
        rows[layer.strip("`")] = names
    return rows


def _subpackages() -> list[Path]:
    return sorted(p for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists())


def test_readme_layer_table_matches_the_tree() -> None:
    rows = _layer_table()
    assert {f"{p.name}/" for p in _subpackages()} == {layer for layer in rows if layer != "base"}
    for package in _subpackages():
        children = {p.name for p in package.glob("*.py") if p.name != "__init__.py"}
        children |= {f"{p.name}/" for p in package.iterdir() if (p / "__init__.py").exists()}
        # A row may also name the modules of a nested package (rewrite/'s stage.py): they must exist below.
        below = {p.name for p in package.rglob("*.py")} | {
            f"{p.parent.name}/" for p in package.rglob("__init__.py")
        }
        listed = rows[f"{package.name}/"]
        assert children - listed == set(), f"{package.name}/: modules the README does not list"
        assert listed - below == set(), f"{package.name}/: the README lists modules that do not exist"
    top = {p.name for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py", "__main__.py")}
    assert top == rows["base"]


def test_few_modules_at_the_top() -> None:
    assert len(list(PACKAGE.glob("*.py"))) <= MAX_TOP_LEVEL_MODULES


def test_every_layer_says_its_job_and_what_it_may_import() -> None:
    for package in _subpackages():
        doc = ast.get_docstring(ast.parse((package / "__init__.py").read_text())) or ""
        assert "Layer:" in doc, f"{package.name}/__init__.py: no 'Layer:' line in its docstring"


def test_every_layer_is_in_the_import_contract() -> None:
    """A new subpackage outside the layers contract would be checked by nothing."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (layers,) = [c["layers"] for c in config["contracts"] if c["type"] == "layers"]
    named = {name.strip() for layer in layers for name in layer.split("|")}
    assert {f"trtconvert.{p.name}" for p in _subpackages()} <= named
    assert {f"trtconvert.{p.stem}" for p in PACKAGE.glob("*.py") if not p.stem.startswith("__")} <= named


def test_readme_config_keys_are_the_ones_the_loader_takes() -> None:
    from trtconvert.settings.spec import _PARSERS

    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Configs", 1)[1].split("\n## ", 1)[0]
    paragraph = section.split("Keys are the long flag names", 1)[1].split("An unknown key", 1)[0]
    assert set(re.findall(r"`([a-z][a-z0-9_]+)`", paragraph)) == set(_PARSERS)


# Long functions with long positional parameter lists grow back one new option at a time; a request or
# analysis dataclass, or keyword-only parameters, keep a call site readable. Click's command callbacks take one
# parameter per option by design, so trtconvert/cli/ is left out.
MAX_FUNCTION_LINES = 80
MAX_POSITIONAL_PARAMETERS = 6


def _oversized_functions(source: str, where: str) -> list[str]:
    """Each function of ``source`` longer than MAX_FUNCTION_LINES (its def to its last line) or taking more
    than MAX_POSITIONAL_PARAMETERS positional parameters (a method's self or cls not counted, keyword-only
    parameters not counted), as 'WHERE:LINE NAME: WHY'."""
    found = []

    def visit(node: ast.AST, in_class: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                positional = [*child.args.posonlyargs, *child.args.args]
                static = any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in child.decorator_list)
                if in_class and not static:
                    positional = positional[1:]
                lines = (child.end_lineno or child.lineno) - child.lineno + 1
                why = []
                if lines > MAX_FUNCTION_LINES:
                    why.append(f"{lines} lines (at most {MAX_FUNCTION_LINES})")
                if len(positional) > MAX_POSITIONAL_PARAMETERS:
                    why.append(
                        f"{len(positional)} positional parameters (at most {MAX_POSITIONAL_PARAMETERS}; "
                        "make the rest keyword-only or pass a dataclass)"
                    )
                if why:
                    found.append(f"{where}:{child.lineno} {child.name}: {', '.join(why)}")
            visit(child, isinstance(child, ast.ClassDef))

    visit(ast.parse(source), False)
    return found


def test_the_size_check_counts_what_it_says() -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES - 1))
    source = f"""
def long_one():
{body}
    return 0

def short_one():
{body}

def seven(a, b, c, d, e, f, g):
    pass

def six_and_keywords(a, b, c, d, e, f, *, g, h, i):
    pass

class Holder:
    def method(self, a, b, c, d, e, f):
        pass

    @staticmethod
    def static(a, b, c, d, e, f, g):
        def nested(a, b, c, d, e, f, g):
            pass
"""
    found = _oversized_functions(source, "m.py")
    lines = source.splitlines()
    assert [entry.split(": ", 1)[0] for entry in found] == [
        "m.py:2 long_one",
        f"m.py:{lines.index('def seven(a, b, c, d, e, f, g):') + 1} seven",
        f"m.py:{lines.index('    def static(a, b, c, d, e, f, g):') + 1} static",
        f"m.py:{lines.index('        def nested(a, b, c, d, e, f, g):') + 1} nested",
    ]
    assert f"{MAX_FUNCTION_LINES + 1} lines" in found[0] and "7 positional parameters" in found[1]


def test_no_long_functions_or_long_positional_parameter_lists() -> None:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(ROOT)
        if relative.parts[1] == "cli":
            continue
        found += _oversized_functions(path.read_text(), str(relative))
    assert found == [], (
        "split these, or give them a request dataclass or keyword-only parameters:\n" + "\n".join(found)
    )
