"""The package's shape: the README's module table matches the tree, and no module imports one that imports it
back (imports inside functions count: a lazy cycle is still a cycle)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "trtconvert"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([node.module] if node.module else [])])
                for alias in node.names:
                    target = f"{base}.{alias.name}"
                    found.add(target if target in modules else base)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    cycles, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                cycles.append(path[path.index(target) :] + [target])
            elif target not in state:
                visit(target, [*path, target])
        state[node] = "done"

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    return cycles


def test_no_import_cycles() -> None:
    assert _cycles(_imports()) == []


def test_the_cycle_finder_finds_one() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]


def test_readme_module_table_matches_the_tree() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme.split("<!-- module-layout -->", 1)[1].split("\n\n", 1)[0]
    listed: set[str] = set()
    for cell in re.findall(r"^\| (.+?) \|", table, re.M)[2:]:
        listed.update(re.findall(r"`([^`]+)`", cell))
    top_level = {p.name for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py", "__main__.py")}
    top_level |= {f"{p.name}/" for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert top_level - listed == set(), "modules the README does not list"
    assert {m for m in listed if m.endswith((".py", "/")) and "/" not in m[:-1]} - top_level == set(), (
        "the README lists modules that do not exist"
    )


def test_readme_config_keys_are_the_ones_the_loader_takes() -> None:
    from trtconvert.spec import _PARSERS

    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Configs", 1)[1].split("\n## ", 1)[0]
    paragraph = section.split("Keys are the long flag names", 1)[1].split("An unknown key", 1)[0]
    assert set(re.findall(r"`([a-z][a-z0-9_]+)`", paragraph)) == set(_PARSERS)
