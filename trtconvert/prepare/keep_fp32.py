"""--keep-fp32 patterns resolved against the prepared graph: which ONNX nodes stay in fp32.

A pattern is a node name or a glob over node names (``fnmatch``: ``*``, ``?``, ``[...]``), or ``op:TYPE`` with
TYPE an op type or a glob over op types. A pattern that is exactly some node's name matches the nodes of that
name and nothing else, so a name holding glob characters or starting with ``op:`` needs no escaping and the
flags the overflow finder prints keep what they name, no more. Nodes inside If, Loop and Scan bodies count like any other (the
overflow finder names them too). Patterns are resolved after fold and rewrite, on the graph that
TensorRT will parse, so the names are those of the prepared model (``trtconvert inspect`` and the overflow
finder print them). A pattern that matches nothing is an error naming the closest names.
"""

from __future__ import annotations

import difflib
import fnmatch
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import onnx

from trtconvert.errors import BadInput, clipped
from trtconvert.model.info import all_nodes
from trtconvert.settings.spec import OP_PREFIX


@dataclass(frozen=True)
class KeptFp32:
    """What each --keep-fp32 pattern matched: pattern -> node names, in graph order."""

    matches: dict[str, tuple[str, ...]]

    @property
    def nodes(self) -> tuple[str, ...]:
        """Every node kept, once, in the order the patterns first matched them."""
        return tuple(dict.fromkeys(name for names in self.matches.values() for name in names))

    def __bool__(self) -> bool:
        return bool(self.matches)

    def to_json(self) -> dict[str, list[str]]:
        return {pattern: list(names) for pattern, names in self.matches.items()}


def _matches(pattern: str, value: str) -> bool:
    return value == pattern or fnmatch.fnmatchcase(value, pattern)


def name_unnamed_nodes(model: onnx.ModelProto) -> list[str]:
    """Give every unnamed node, in bodies too, a unique name (OPTYPE_INDEX), so that it can be kept and
    reported."""
    nodes = list(all_nodes(model.graph))
    taken = {node.name for node in nodes if node.name}
    named = []
    for index, node in enumerate(nodes):
        if node.name:
            continue
        name, suffix = f"{node.op_type}_{index}", 0
        while name in taken:
            suffix += 1
            name = f"{node.op_type}_{index}_{suffix}"
        node.name = name
        taken.add(name)
        named.append(name)
    return named


def resolve_keep_fp32(model: onnx.ModelProto, patterns: Sequence[str]) -> KeptFp32:
    """Match ``patterns`` against the model's nodes, those in bodies included; unnamed nodes a pattern would
    reach by op type get names first. Raises BadInput for a pattern that matches nothing."""
    if not patterns:
        return KeptFp32({})
    if any(p.startswith(OP_PREFIX) for p in patterns):
        name_unnamed_nodes(model)
    nodes = list(all_nodes(model.graph))
    names = {n.name for n in nodes if n.name}
    matches: dict[str, tuple[str, ...]] = {}
    for pattern in patterns:
        if pattern in names:
            matches[pattern] = tuple(n.name for n in nodes if n.name == pattern)
            continue
        if pattern.startswith(OP_PREFIX):
            op_pattern = pattern[len(OP_PREFIX) :]
            found = tuple(n.name for n in nodes if _matches(op_pattern, n.op_type))
            if not found:
                raise BadInput(
                    f"--keep-fp32 {_quoted(pattern)}: the prepared model has no {_quoted(op_pattern)} node; "
                    + _closest(op_pattern, sorted({n.op_type for n in nodes}), "op types", OP_PREFIX)
                )
        else:
            found = tuple(n.name for n in nodes if n.name and _matches(pattern, n.name))
            if not found:
                raise BadInput(
                    f"--keep-fp32 {_quoted(pattern)}: no node of the prepared model is named so; "
                    + _closest(pattern, [n.name for n in nodes if n.name], "node names")
                )
        matches[pattern] = found
    return KeptFp32(matches)


def _closest(wanted: str, known: Sequence[str], what: str, prefix: str = "") -> str:
    close = difflib.get_close_matches(wanted, known, n=3, cutoff=0.5)
    if close:
        return "closest " + what + ": " + ", ".join(_quoted(prefix + c) for c in close)
    listed = ", ".join(_quoted(prefix + k, 40) for k in known[:8]) + (", ..." if len(known) > 8 else "")
    return f"the model's {what}: {listed or 'none'}"


def _quoted(name: str, limit: int = 80) -> str:
    """A name as a shell takes it (quoted where it holds spaces or special characters), cut short."""
    return clipped(shlex.quote(name), limit)


def keep_fp32_flags(nodes: Iterable[str]) -> str:
    """The pasteable flags that keep ``nodes`` in fp32, quoted for a POSIX shell."""
    return " ".join(f"--keep-fp32 {shlex.quote(name)}" for name in dict.fromkeys(nodes))


def keep_fp32_config(nodes: Iterable[str]) -> str:
    """The same set as config lines."""
    return "keep_fp32:\n" + "".join(f"  - {_yaml_text(name)}\n" for name in dict.fromkeys(nodes))


def _yaml_text(text: str) -> str:
    if text.isprintable():
        return "'" + text.replace("'", "''") + "'"
    # YAML folds a line break in a single-quoted scalar into a space and takes no control character raw: a
    # double-quoted scalar with those escaped reads back as the name.
    escaped = "".join(f"\\{c}" if c in '"\\' else c if c.isprintable() else f"\\U{ord(c):08X}" for c in text)
    return f'"{escaped}"'


def matching_nodes(model: onnx.ModelProto, patterns: Sequence[str]) -> set[str]:
    """The names of the nodes that ``patterns`` match in ``model``, without complaint for those that match
    nothing (another graph of the same model, such as the original before fold)."""
    found: set[str] = set()
    nodes = list(all_nodes(model.graph))
    names = {n.name for n in nodes if n.name}
    for node in nodes:
        for pattern in patterns:
            if pattern in names:
                hit = node.name == pattern
            elif pattern.startswith(OP_PREFIX):
                hit = _matches(pattern[len(OP_PREFIX) :], node.op_type)
            else:
                hit = bool(node.name) and _matches(pattern, node.name)
            if hit:
                found.add(node.name or node.op_type)
    return found
