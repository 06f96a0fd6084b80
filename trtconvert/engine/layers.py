"""What TensorRT made of the network: one row per engine layer from its engine inspector, and counts by precision.

Input: ``IEngineInspector.get_engine_information(LayerInformationFormat.JSON)`` (or the file that
``trtexec --exportLayerInfo`` writes): ``{"Layers": [...], "Bindings": [...]}``. What the layers hold depends on
the ProfilingVerbosity the plan was built with:

- DETAILED: one object per layer with ``Name``, ``LayerType``, ``Inputs``/``Outputs`` (each ``Name``,
  ``Location``, ``Dimensions`` and ``Format/Datatype``, a sentence such as "Row major linear FP32" or
  "Thirty-two wide channel vectorized row major Int8 format" in TensorRT 8.x and a type name such as "Half" in
  10.x), ``TacticName`` and/or ``TacticValue``, and from TensorRT 10 ``Metadata``, the ONNX nodes the layer
  came from as ``[ONNX Layer: name]`` items joined by a unit separator (0x1F);
- LAYER_NAMES_ONLY (the default): plain strings, the layer names;
- NONE: no layers.

A layer's precision is the narrowest floating or quantized type among its tensors (4-bit < 8-bit < 16-bit <
FP32): an INT8 convolution that writes FP16 for the next layer counts as Int8, a reformat that quantizes FP32
to Int8 too. Layers whose tensors are all integer or bool (shape arithmetic, indices) take their output's type.
Without an execution context holding input shapes, the inspector cannot resolve dynamic dims and writes
"N/A due to dynamic shapes" instead of a format: such layers have no precision. So a dynamic plan is read once
per optimization profile, through a context set to that profile with its opt shapes (inspect_plan.py), giving
one report per profile.

The ONNX nodes of a layer come from its Metadata where TensorRT writes it, else from its name: TensorRT names
a fused layer by joining its nodes' names with " + " (and wraps pointwise fusions of 8.x as ``PWN(a, b)``; a region of 8.x's graph compiler is
``{ForeignNode[first...last]}``, of which only the two ends are known); reformat layers TensorRT inserted itself have none.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from trtconvert.errors import BadInput

# Narrow to wide: the first of these among a layer's tensors is its precision.
_COMPUTE_ORDER = ("Int4", "FP4", "Int8", "FP8", "FP16", "BF16", "FP32")
_TYPE_PATTERNS = (
    ("UInt8", r"\buint8\b"),
    ("Int4", r"\bint4\b"),
    ("Int8", r"\bint8\b"),
    ("Int32", r"\bint32\b"),
    ("Int64", r"\bint64\b"),
    ("FP4", r"\bfp4\b|\bfloat4"),
    ("FP8", r"\bfp8\b|\bfloat8"),
    ("BF16", r"\bbf16\b|\bbfloat16\b|\bbfloat\b"),
    ("FP16", r"\bfp16\b|\bhalf\b"),
    ("FP32", r"\bfp32\b|\bfloat\b"),
    ("Bool", r"\bbool\b"),
)
_METADATA_SEPARATORS = re.compile("[\x1e\x1f]")
_ONNX_LAYER = re.compile(r"^\[ONNX Layer: (?P<name>.*)\]$", re.DOTALL)
REBUILD_HINT = (
    "rebuild it with detailed profiling verbosity (TensorRT's ProfilingVerbosity.DETAILED, "
    "trtexec --profilingVerbosity=detailed)"
)


@dataclass(frozen=True)
class TensorFormat:
    """One input or output of a layer as the inspector describes it."""

    name: str
    dims: tuple[int, ...]
    format: str
    dtype: str | None
    location: str = ""

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "dims": list(self.dims),
            "format": self.format,
            "dtype": self.dtype,
            "location": self.location,
        }


@dataclass(frozen=True)
class LayerInfo:
    name: str
    layer_type: str
    precision: str | None
    onnx_nodes: tuple[str, ...]
    tactic: str
    inputs: tuple[TensorFormat, ...] = ()
    outputs: tuple[TensorFormat, ...] = ()

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "type": self.layer_type,
            "precision": self.precision,
            "onnx_nodes": list(self.onnx_nodes),
            "tactic": self.tactic,
            "inputs": [t.to_json() for t in self.inputs],
            "outputs": [t.to_json() for t in self.outputs],
        }


@dataclass(frozen=True)
class LayerReport:
    """The engine's layers; ``detailed`` is False when the plan recorded layer names only (or nothing).

    ``profile`` and ``opt_shapes`` say which optimization profile and input shapes resolved the formats of a
    dynamic plan; None and empty for a static one.
    """

    detailed: bool
    layers: tuple[LayerInfo, ...]
    bindings: tuple[str, ...] = ()
    profile: int | None = None
    opt_shapes: tuple[tuple[str, tuple[int, ...]], ...] = ()

    def precision_counts(self) -> dict[str, int]:
        """Layers per precision, most frequent first ("unknown" for layers whose formats were not resolved)."""
        counts = Counter(layer.precision or "unknown" for layer in self.layers)
        order = {name: index for index, name in enumerate(_COMPUTE_ORDER)}
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], order.get(kv[0], len(order)), kv[0])))

    def to_json(self) -> dict:
        document = {
            "detailed": self.detailed,
            "layers": [layer.to_json() for layer in self.layers],
            "bindings": list(self.bindings),
            "precisions": self.precision_counts() if self.detailed else {},
        }
        if self.profile is not None:
            document["profile"] = self.profile
            document["opt_shapes"] = {name: list(shape) for name, shape in self.opt_shapes}
        return document


_PROFILE_SUFFIX = re.compile(r" \[profile (\d+)\]$")


def of_profile(report: LayerReport, profile: int, opt_shapes: Mapping[str, Sequence[int]]) -> LayerReport:
    """``report`` as read through a context of ``profile``, keeping that profile's layers only.

    Where the inspector lists the layers of every profile, those of profile N > 0 carry TensorRT's
    " [profile N]" name suffix (as its bindings do) and the others belong to profile 0.
    """
    layers = report.layers
    if any(_PROFILE_SUFFIX.search(layer.name) for layer in layers):

        def owner(layer: LayerInfo) -> int:
            match = _PROFILE_SUFFIX.search(layer.name)
            return int(match.group(1)) if match else 0

        layers = tuple(layer for layer in layers if owner(layer) == profile)
    shapes = tuple((name, tuple(int(d) for d in shape)) for name, shape in opt_shapes.items())
    return LayerReport(report.detailed, layers, report.bindings, profile, shapes)


def layers_json(reports: Sequence[LayerReport]) -> dict:
    """`inspect --layers --json`'s "layers": the first profile's report as it always was, and with several
    profiles every profile's report under "profiles"."""
    document = reports[0].to_json()
    if len(reports) > 1:
        document["profiles"] = [report.to_json() for report in reports]
    return document


def format_profile_layers(reports: Sequence[LayerReport]) -> list[str]:
    """The layer table of each report, headed by its profile and opt shapes where the plan is dynamic."""
    lines: list[str] = []
    for report in reports:
        if report.profile is not None:
            shapes = ", ".join(f"{name}={'x'.join(map(str, shape))}" for name, shape in report.opt_shapes)
            lines += [*([""] if lines else []), f"profile {report.profile} at its opt shapes ({shapes})"]
        lines += format_layers(report)
    return lines


def tensor_dtype(format_text: str) -> str | None:
    """The element type named in a ``Format/Datatype`` text, None when it names none ("N/A due to dynamic
    shapes")."""
    text = format_text.lower()
    for name, pattern in _TYPE_PATTERNS:
        if re.search(pattern, text):
            return name
    return None


def layer_report(inspector_json: str | Mapping[str, Any]) -> LayerReport:
    """Read the engine inspector's JSON (text or parsed); BadInput when it is not such a document."""
    document = _document(inspector_json)
    layers = document.get("Layers")
    if not isinstance(layers, list):
        raise BadInput(
            "engine layer information has no 'Layers' list; give the JSON of "
            "get_engine_information(LayerInformationFormat.JSON) or of trtexec --exportLayerInfo"
        )
    bindings = tuple(str(b) for b in document.get("Bindings", []) if isinstance(b, str))
    if all(isinstance(layer, str) for layer in layers) and layers:
        return LayerReport(False, tuple(LayerInfo(name, "", None, (), "") for name in layers), bindings)
    if not layers:
        return LayerReport(False, (), bindings)
    parsed = []
    for index, layer in enumerate(layers):
        if not isinstance(layer, Mapping):
            raise BadInput(f"engine layer information: layer {index} is neither a name nor an object")
        parsed.append(_layer(layer))
    return LayerReport(True, tuple(parsed), bindings)


def _document(inspector_json: str | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(inspector_json, Mapping):
        return inspector_json
    try:
        # strict=False: Metadata separators (0x1F) may come unescaped, which strict JSON forbids.
        document = json.loads(inspector_json, strict=False)
    except json.JSONDecodeError as error:
        raise BadInput(
            f"engine layer information is not JSON ({error.msg} at line {error.lineno}); get it with "
            "LayerInformationFormat.JSON"
        ) from None
    except RecursionError:
        raise BadInput(
            "engine layer information nests JSON too deeply to be TensorRT's layer report"
        ) from None
    if not isinstance(document, Mapping):
        raise BadInput(
            "engine layer information is not a JSON object with 'Layers'; get it with LayerInformationFormat.JSON"
        )
    return document


def _tensors(entries: object) -> tuple[TensorFormat, ...]:
    tensors = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, Mapping):
            continue
        text = str(entry.get("Format/Datatype", entry.get("Format", "")))
        dims = tuple(int(d) for d in entry.get("Dimensions", []) if isinstance(d, int | float))
        tensors.append(
            TensorFormat(
                str(entry.get("Name", "")), dims, text, tensor_dtype(text), str(entry.get("Location", ""))
            )
        )
    return tuple(tensors)


def _precision(inputs: Sequence[TensorFormat], outputs: Sequence[TensorFormat]) -> str | None:
    types = [t.dtype for t in (*outputs, *inputs) if t.dtype]
    for name in _COMPUTE_ORDER:
        if name in types:
            return name
    return types[0] if types else None


# TensorRT 8.x names a region it compiles as one foreign node "{ForeignNode[first...last]}".
_FOREIGN_NODE = re.compile(r"\{ForeignNode\[(?P<first>.*?)(?:\.\.\.(?P<last>.*))?\]\}")


def _onnx_nodes(name: str, layer_type: str, metadata: str) -> tuple[str, ...]:
    if metadata:
        found = []
        for item in _METADATA_SEPARATORS.split(metadata):
            match = _ONNX_LAYER.match(item.strip())
            if match and match.group("name") not in found:
                found.append(match.group("name"))
        if found:
            return tuple(found)
    if layer_type == "Reformat" or name.startswith(("Reformatting CopyNode", "(Unnamed Layer")):
        return ()
    foreign = _FOREIGN_NODE.fullmatch(name)
    if foreign:  # a region handed to TensorRT's graph compiler, named by its first and last ONNX nodes
        return tuple(dict.fromkeys(p for p in (foreign.group("first"), foreign.group("last")) if p))
    if "PWN(" in name:
        parts = re.split(r", | \+ ", name.replace("PWN(", ""))
        return tuple(dict.fromkeys(p.rstrip(")") for p in parts if p.rstrip(")")))
    return tuple(dict.fromkeys(p for p in name.split(" + ") if p))


def _layer(layer: Mapping[str, Any]) -> LayerInfo:
    name = str(layer.get("Name", ""))
    layer_type = str(layer.get("LayerType", ""))
    inputs, outputs = _tensors(layer.get("Inputs")), _tensors(layer.get("Outputs"))
    tactic = str(layer.get("TacticName") or layer.get("TacticValue") or "")
    nodes = _onnx_nodes(name, layer_type, str(layer.get("Metadata") or ""))
    return LayerInfo(name, layer_type, _precision(inputs, outputs), nodes, tactic, inputs, outputs)


def _nodes_cell(nodes: Sequence[str]) -> str:
    """The table's node column: the compute nodes, with the Q/DQ nodes folded into the layer only counted
    (their names are long and say little); a layer of Q/DQ nodes alone shows them."""
    qdq = [n for n in nodes if "quantizelinear" in n.lower()]
    others = [n for n in nodes if n not in qdq]
    if not others:
        return ", ".join(nodes) or "-"
    return ", ".join(others) + (f" (+{len(qdq)} Q/DQ)" if qdq else "")


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def summary_line(report: LayerReport) -> str:
    """'42 layers: 30 FP16, 10 FP32, 2 Int8' (names-only plans: 'N layers, names only')."""
    count = len(report.layers)
    noun = "layer" if count == 1 else "layers"
    if not report.detailed:
        return f"{count} {noun}, names only (no precisions)"
    parts = ", ".join(f"{n} {precision}" for precision, n in report.precision_counts().items())
    line = f"{count} {noun}: {parts}"
    if "unknown" in report.precision_counts():
        line += (
            " (unknown: formats of dynamic shapes are resolved only when the inspector is given an execution "
            "context with input shapes)"
        )
    return line


def format_layers(report: LayerReport) -> list[str]:
    """A table of the layers (precision, type, name, fused ONNX nodes, tactic) and the summary line; for a plan
    that recorded names only, a line saying so and how to rebuild it, then the names."""
    if not report.detailed:
        if not report.layers:
            return [f"the plan recorded no layer information (profiling verbosity none); {REBUILD_HINT}"]
        lines = [
            "the plan was built without detailed profiling verbosity: TensorRT recorded layer names only, no "
            f"precisions or tactics; {REBUILD_HINT}"
        ]
        lines += [f"  {index:>3}  {layer.name}" for index, layer in enumerate(report.layers)]
        return [*lines, summary_line(report)]
    rows = [
        (
            str(index),
            layer.precision or "?",
            layer.layer_type,
            _cut(layer.name, 56),
            _cut(_nodes_cell(layer.onnx_nodes), 48),
            _cut(layer.tactic, 40) or "-",
        )
        for index, layer in enumerate(report.layers)
    ]
    header = ("#", "precision", "type", "layer", "onnx nodes", "tactic")
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header))]

    def line(row: Sequence[str]) -> str:
        cells = [row[0].rjust(widths[0])] + [
            cell.ljust(width) for cell, width in zip(row[1:], widths[1:], strict=True)
        ]
        return "  " + "  ".join(cells).rstrip()

    return [line(header), *(line(row) for row in rows), summary_line(report)]
