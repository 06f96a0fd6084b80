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
