"""Rule: ``Resize(mode="cubic")`` -> ``Test::DynamicTRTResize``, where the target TensorRT cannot compute it.

Node contract of DynamicTRTResize (what this rule emits and what the plugin and the CPU reference read)
=====================================================================================================

Node: ``op_type="DynamicTRTResize"``, ``domain="Test"`` (opset import ``Test`` version 1), one output ``Y``.
TensorRT's ONNX parser finds the plugin creator by op_type, ``plugin_version`` and ``plugin_namespace``.

Inputs
  0. ``X``: float32, float16 or bfloat16, rank >= 2. The two innermost axes are resized; all other axes are
     copied. ``Y`` has ``X``'s type and, on the two innermost axes, the output size below.
  1. Optional, one of two kinds:

     - size carrier (no ``tensorrt_plugin_shape_input_indices``): any tensor of rank >= 2 whose last two
       dimensions are the output height and width. Its values are never read. This is the form
       ``DynamicTRTResize(input, size_tensor)`` that PyTorch exports produce.
     - shape input (``tensorrt_plugin_shape_input_indices = [1]``): an int64 1-D tensor of 2 values
       ``[out_h, out_w]``, a TensorRT shape tensor (TensorRT 10.1+, IPluginV3).

Attributes (ONNX type -> TensorRT PluginField type)
  ``plugin_version``                  STRING "1"        (parser only)
  ``plugin_namespace``                STRING ""         (parser only)
  ``coordinate_transformation_mode``  STRING -> CHAR    one of half_pixel, pytorch_half_pixel, align_corners,
                                                        asymmetric, half_pixel_symmetric, tf_half_pixel_for_nn
                                                        (TrtcCoordinateMode 0..5 in that order); default
                                                        half_pixel
  ``cubic_coeff_a``                   FLOAT -> FLOAT32  Keys coefficient A; default -0.75
  ``exclude_outside``                 INT -> INT32      0 or 1; default 0
  ``antialias``                       INT -> INT32      0 or 1; default 0
  ``scales``                          FLOATS -> FLOAT32[2], optional: ``[scale_h, scale_w]``, the scales the
                                                        coordinate transform divides by (the original Resize's
                                                        constant scales). Absent: ``out / in`` per axis.
  ``sizes``                           INTS -> INT32[2], optional: constant ``[out_h, out_w]``
  ``tensorrt_plugin_shape_input_indices``  INTS -> INT32[1], optional: ``[1]`` marks input 1 a shape input
  ``align_corners``                   INT -> INT32, optional, never emitted: accepted from older exports when
                                                        ``coordinate_transformation_mode`` is absent; 1 means
                                                        align_corners, 0 means pytorch_half_pixel

Output size, first that applies: input 1 (carrier dims or shape-input values); ``sizes``; ``scales`` with
``out = floor(in * scale)`` in exact arithmetic on the float32 scale (as ONNX defines it). The rule emits exactly
one of: input 1, ``sizes``, ``scales``.

Numerics: :mod:`trtconvert.ops.resize_reference` (ONNX cubic semantics, float64 reference; an axis whose
length and scale are unchanged is copied).

Rule decisions
==============

``auto`` rewrites a cubic Resize when the target's parser rejects it or computes it differently
(:meth:`TensorRTTarget.accepts_cubic_resize`), ``all`` rewrites every cubic Resize, ``none`` keeps all. A node
that neither the target nor the plugin can compute is an error. Where the resized axes are not the two
innermost, the plugin runs between two Transposes. Output sizes come, in order of preference, from constants,
from the last two dims of one tensor (a size carrier), or from runtime values through a shape input (targets
with shape inputs only); runtime scales are refused.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import onnx_graphsurgeon as gs

from trtconvert.model.info import is_default_domain
from trtconvert.ops.dynamic_resize import (
    PLUGIN_DOMAIN,
    PLUGIN_NAMESPACE,
    PLUGIN_OP,
    PLUGIN_VERSION,
    SHAPE_INPUT_ATTRIBUTE,
    output_length_from_scale,
)
from trtconvert.ops.resize_reference import COORDINATE_MODES
from trtconvert.prepare.rewrite.shapes import Const, Dim, Entry, Runtime, ShapeTracer, same_dimension
from trtconvert.prepare.rewrite.types import Plan, RewriteDecision, RuleContext
from trtconvert.settings.target import CubicResizeFacts, TensorRTTarget

RULE = "cubic_resize"


class _Refusal(Exception):
    """The plugin cannot compute this node; the message names the attribute or input responsible."""


@dataclass
class _SizeForm:
    """How the plugin node gets its output size, and which axes it resizes."""

    kind: str  # "sizes", "scales", "carrier" or "shape_input"
    pair: tuple[int, int]
    rank: int
    sizes: tuple[int, int] | None = None
    scales: tuple[float, float] | None = None
    carrier: gs.Tensor | None = None
    # shape_input: per axis of the pair, ("sizes", index into the Resize's sizes), ("input", axis of X)
    # or ("const", value)
    pieces: tuple[tuple[str, int], tuple[str, int]] | None = None


@dataclass
class _Analysis:
    facts: CubicResizeFacts
    form: _SizeForm | None
    refusal: str | None


# Where one axis's output length comes from: a constant scale, a traced size entry, or None (runtime/untraced).
_AxisSource = tuple[str, float] | Entry | None


@dataclass
class _ResizeInputs:
    """What a Resize's inputs and attributes say about each axis, as far as the graph proves it."""

    x: gs.Tensor
    x_dims: tuple | None
    rank: int | None
    listed: list[int] | None  # the resized axes, normalised to 0..rank-1 where the rank is known
    scales_t: gs.Tensor | None
    sizes_t: gs.Tensor | None
    runtime_scales: bool
    unread_scales: bool  # constant scales still in external data
    per_axis: dict[int, _AxisSource]

    @classmethod
    def read(cls, node: gs.Node, tracer: ShapeTracer) -> _ResizeInputs:
        axes_attr = node.attrs.get("axes")
        x = node.inputs[0]
        rank = tracer.rank(x)
        scales_t = node.inputs[2] if len(node.inputs) > 2 and node.inputs[2].name else None
        sizes_t = node.inputs[3] if len(node.inputs) > 3 and node.inputs[3].name else None

        scales = tracer.constant(scales_t) if scales_t is not None else None
        if scales is not None and scales.size == 0:
            scales_t, scales = None, None
        unread_scales = isinstance(scales_t, gs.Constant) and scales is None
        runtime_scales = scales_t is not None and scales is None and not unread_scales
        size_entries = tracer.resolve(sizes_t) if sizes_t is not None and scales_t is None else None
        if size_entries is not None and len(size_entries) == 0:
            size_entries = None

        if rank is None and axes_attr is None:
            if scales is not None:
                rank = int(scales.size)
            elif size_entries is not None:
                rank = len(size_entries)
        axes = [int(a) for a in axes_attr] if axes_attr is not None else None
        if axes is not None and rank is not None:
            axes = [a % rank if -rank <= a < rank else a for a in axes]
        listed = axes if axes is not None else (list(range(rank)) if rank is not None else None)

        per_axis: dict[int, _AxisSource] = {}
        if listed is not None and rank is not None:
            for position, axis in enumerate(listed):
                if scales is not None and position < scales.size:
                    per_axis[axis] = ("scale", float(np.float32(scales.reshape(-1)[position])))
                elif size_entries is not None and position < len(size_entries):
                    per_axis[axis] = size_entries[position]
                else:
                    per_axis[axis] = None
        return cls(
            x, tracer.dims(x), rank, listed, scales_t, sizes_t, runtime_scales, unread_scales, per_axis
        )

    def _in_dim(self, axis: int) -> Dim | int | str | None:
        return self.x_dims[axis] if self.x_dims is not None and 0 <= axis < len(self.x_dims) else None

    def unchanged(self, axis: int) -> bool | None:
        """True if the axis provably keeps its length (and scale), False if provably resized, else None."""
        if axis not in self.per_axis:
            return True
        source = self.per_axis[axis]
        if isinstance(source, tuple):
            return source[1] == 1.0
        if source is None or isinstance(source, Runtime):
            return None
        if same_dimension(source, self.x_dims, self.x.name, axis):
            return True
        if isinstance(source, Const) and self.x_dims is not None and isinstance(self.x_dims[axis], int):
            return False
        return None

    def states(self) -> dict[int, bool | None]:
        """unchanged() of every axis; empty where the rank is unknown."""
        return {axis: self.unchanged(axis) for axis in range(self.rank)} if self.rank is not None else {}

    def out_length(self, axis: int) -> int | None:
        source = self.per_axis.get(axis, "same")
        in_dim = self._in_dim(axis)
        if source == "same" or (not isinstance(source, tuple) and self.unchanged(axis)):
            return in_dim if isinstance(in_dim, int) else None
        if isinstance(source, tuple):
            return output_length_from_scale(in_dim, source[1]) if isinstance(in_dim, int) else None
        return source.value if isinstance(source, Const) else None

    def scale_inexact(self, axis: int) -> bool | None:
        """Whether a constant scale leaves in * scale fractional on this axis (None: the length is dynamic)."""
        source = self.per_axis.get(axis)
        if not isinstance(source, tuple):
            return False
        scale = source[1]
        in_dim = self._in_dim(axis)
        if isinstance(in_dim, int):
            return not float(in_dim * scale).is_integer()
        return None if not float(scale).is_integer() else False

    def outer_axes_resized(self) -> bool | None:
        states = self.states()
        outer = [a for a in states if self.rank is not None and a < self.rank - 2]
        if any(states[a] is False for a in outer):
            return True
        if all(states[a] is True for a in outer) and self.rank is not None and not self.runtime_scales:
            return False
        return None

    def output_length_one(self) -> bool | None:
        if self.rank is None or self.rank < 2:
            return None
        inner = (self.rank - 2, self.rank - 1)
        lengths = [self.out_length(a) for a in inner]
        if any(n == 1 for n in lengths):
            return True
        if all(n is not None for n in lengths):
            return False
        scale_sources = [self.per_axis.get(a) for a in inner]
        if all(isinstance(s, tuple) and s[1] >= 2.0 for s in scale_sources):
            return False
        return None

    def inner_scale_inexact(self) -> bool | None:
        if self.rank is None or self.rank < 2:
            return None
        states = [self.scale_inexact(a) for a in (self.rank - 2, self.rank - 1)]
        return True if True in states else (None if None in states else False)


def _attr_str(node: gs.Node, name: str, default: str) -> str:
    value = node.attrs.get(name, default)
    return value.decode() if isinstance(value, bytes) else str(value)


class CubicResizeRule:
    name = RULE

    def matches(self, node: gs.Node) -> bool:
        if node.op == "Resize" and is_default_domain(node.domain):
            return _attr_str(node, "mode", "nearest") == "cubic"
        return node.op == PLUGIN_OP and not is_default_domain(node.domain)

    def plan(self, node: gs.Node, ctx: RuleContext) -> Plan:
        name = node.name or node.outputs[0].name
        if node.op == PLUGIN_OP:
            return Plan(
                RewriteDecision(
                    name, node.op, "keep", f"already a {PLUGIN_OP} plugin node ({node.domain})", RULE
                )
            )
        analysis = _analyse(node, ctx.tracer, ctx.target)
        target_ok, target_reason = ctx.target.accepts_cubic_resize(analysis.facts)
        plugin_ok = analysis.form is not None
        if not target_ok and not plugin_ok:
            return Plan(
                RewriteDecision(
                    name,
                    node.op,
                    "error",
                    f"node {name!r}: {target_reason}, and {PLUGIN_OP} cannot take it: {analysis.refusal}",
                    RULE,
                )
            )
        if ctx.policy == "none":
            note = (
                target_reason if target_ok else f"{target_reason}: the build will fail or compute otherwise"
            )
            refuses = "" if target_ok else target_reason
            return Plan(RewriteDecision(name, node.op, "keep", f"--rewrite none; {note}", RULE, refuses))
        if ctx.policy == "auto" and target_ok:
            return Plan(RewriteDecision(name, node.op, "keep", target_reason, RULE))
        if not plugin_ok:
            return Plan(
                RewriteDecision(
                    name,
                    node.op,
                    "error",
                    f"node {name!r}: --rewrite all cannot rewrite it: {analysis.refusal}; "
                    f"use --rewrite auto to leave it to TensorRT {ctx.target.version}, which imports it",
                    RULE,
                )
            )
        why = "--rewrite all" if ctx.policy == "all" else target_reason
        description = _describe(node, analysis.form)
        if not ctx.target.has_bundled_plugin:
            description += (
                f" (the bundled plugin needs TensorRT 8.5+; TensorRT {ctx.target.version} needs its own)"
            )
        form = analysis.form
        return Plan(
            RewriteDecision(name, node.op, "rewrite", f"{why}; -> {description}", RULE),
            apply=lambda graph: _apply(graph, node, form),
        )


def _analyse(node: gs.Node, tracer: ShapeTracer, target: TensorRTTarget) -> _Analysis:
    inputs = _ResizeInputs.read(node, tracer)
    axes_attr = node.attrs.get("axes")
    facts = CubicResizeFacts(
        name=node.name,
        coordinate_transformation_mode=_attr_str(node, "coordinate_transformation_mode", "half_pixel"),
        cubic_coeff_a=float(node.attrs.get("cubic_coeff_a", -0.75)),
        exclude_outside=int(node.attrs.get("exclude_outside", 0)),
        antialias=int(node.attrs.get("antialias", 0)),
        keep_aspect_ratio_policy=_attr_str(node, "keep_aspect_ratio_policy", "stretch"),
        axes=tuple(int(a) for a in axes_attr) if axes_attr is not None else None,
        rank=inputs.rank,
        outer_axes_resized=inputs.outer_axes_resized(),
        output_length_one=inputs.output_length_one(),
        scale_inexact=inputs.inner_scale_inexact(),
        runtime_scales=inputs.runtime_scales,
    )
    try:
        form = _choose_form(node, facts, inputs, tracer, target)
    except _Refusal as refusal:
        return _Analysis(facts, None, str(refusal))
    return _Analysis(facts, form, None)


def _check_plugin_can_take(facts: CubicResizeFacts, inputs: _ResizeInputs) -> None:
    """Raise _Refusal for attributes and inputs the plugin cannot compute, whatever the output size."""
    mode = facts.coordinate_transformation_mode
    if inputs.unread_scales:
        raise _Refusal(
            f"input scales ({inputs.scales_t.name}) is in external data that was not loaded; "  # type: ignore[union-attr]
            "give the model's folder (base_dir) or load the model with its data"
        )
    if facts.keep_aspect_ratio_policy != "stretch":
        raise _Refusal(
            f"keep_aspect_ratio_policy={facts.keep_aspect_ratio_policy} (only stretch is supported)"
        )
    if mode not in COORDINATE_MODES:
        raise _Refusal(f"coordinate_transformation_mode={mode}")
    if facts.exclude_outside not in (0, 1) or facts.antialias not in (0, 1):
        raise _Refusal("exclude_outside and antialias must be 0 or 1")
    if not math.isfinite(facts.cubic_coeff_a):
        raise _Refusal(f"cubic_coeff_a={facts.cubic_coeff_a}")
    if inputs.runtime_scales:
        raise _Refusal(
            f"its scales ({inputs.scales_t.name}) are a runtime value; the plugin takes constant scales only: "  # type: ignore[union-attr]
            "make them constant, or export with sizes"
        )
    rank, listed = inputs.rank, inputs.listed
    if rank is None or listed is None:
        raise _Refusal("the rank of the input and the resized axes cannot be determined")
    if rank < 2:
        raise _Refusal(f"input rank {rank}; the plugin resizes the two innermost axes of a rank >= 2 tensor")
    if facts.duplicate_axes or any(not 0 <= a < rank for a in listed):
        raise _Refusal(f"axes={list(facts.axes or ())}")
    if inputs.scales_t is None and inputs.sizes_t is None:
        raise _Refusal("the node has neither scales nor sizes")


def _resized_pair(inputs: _ResizeInputs, states: dict[int, bool | None]) -> tuple[int, int]:
    """The two axes the plugin resizes: the innermost ones unless the node may resize others."""
    rank = inputs.rank
    assert rank is not None
    maybe_resized = [a for a in range(rank) if states.get(a) is not True]
    if len(maybe_resized) > 2:
        unknown = [a for a in maybe_resized if states.get(a) is None]
        what = f"axes {maybe_resized}" + (f" (axes {unknown} only at runtime)" if unknown else "")
        raise _Refusal(f"it may resize {what}; the plugin resizes two axes")
    inner = (rank - 2, rank - 1)
    if all(a in inner for a in maybe_resized):
        return inner
    if len(maybe_resized) == 2:
        return (maybe_resized[0], maybe_resized[1])
    return (maybe_resized[0], rank - 1)


def _choose_form(
    node: gs.Node,
    facts: CubicResizeFacts,
    inputs: _ResizeInputs,
    tracer: ShapeTracer,
    target: TensorRTTarget,
) -> _SizeForm:
    _check_plugin_can_take(facts, inputs)
    rank, listed, per_axis = inputs.rank, inputs.listed, inputs.per_axis
    assert rank is not None and listed is not None
    states = inputs.states()
    pair = _resized_pair(inputs, states)
    if inputs.scales_t is not None:
        scale_pair = tuple(per_axis[a][1] if a in per_axis else 1.0 for a in pair)  # type: ignore[index]
        return _SizeForm("scales", pair, rank, scales=scale_pair)  # type: ignore[arg-type]

    x = node.inputs[0]
    entries: list[Entry] = []
    for axis in pair:
        source = per_axis.get(axis)
        if axis not in per_axis or states.get(axis) is True:
            entries.append(tracer.dim_entry(x, axis))
        elif isinstance(source, Const | Dim):
            entries.append(source)
        else:
            entries.append(Runtime())
    if all(isinstance(e, Const) for e in entries):
        return _SizeForm("sizes", pair, rank, sizes=(entries[0].value, entries[1].value))  # type: ignore[union-attr]
    first, second = entries
    if isinstance(first, Dim) and isinstance(second, Dim) and first.tensor == second.tensor:
        carrier = _find_tensor(node, first.tensor)
        carrier_rank = tracer.rank(carrier) if carrier is not None else None
        if carrier_rank is not None and (first.axis, second.axis) == (carrier_rank - 2, carrier_rank - 1):
            return _SizeForm("carrier", pair, rank, carrier=carrier)
    if not target.supports_shape_inputs:
        raise _Refusal(
            f"its output size is a runtime value ({inputs.sizes_t.name}); TensorRT {target.version} has no plugin "  # type: ignore[union-attr]
            "shape inputs (10.1+): pass --target-tensorrt 10.1 or newer, or make the sizes constant"
        )
    pieces = []
    for axis, entry in zip(pair, entries, strict=True):
        if isinstance(entry, Const):
            pieces.append(("const", entry.value))
        elif axis in per_axis and states.get(axis) is not True:
            pieces.append(("sizes", listed.index(axis)))
        else:
            pieces.append(("input", axis))
    return _SizeForm("shape_input", pair, rank, pieces=(pieces[0], pieces[1]))


def _find_tensor(node: gs.Node, name: str) -> gs.Tensor | None:
    """The tensor named ``name`` as seen from ``node``'s graph (graph-surgeon nodes hold no graph pointer)."""
    seen: set[int] = set()
    stack: list[gs.Tensor] = list(node.inputs)
    while stack:
        tensor = stack.pop()
        if id(tensor) in seen:
            continue
        seen.add(id(tensor))
        if tensor.name == name:
            return tensor
        for producer in tensor.inputs:
            stack.extend(producer.inputs)
    return None


def _describe(node: gs.Node, form: _SizeForm) -> str:
    x = node.inputs[0].name
    inner = form.pair == (form.rank - 2, form.rank - 1)
    if form.kind == "carrier":
        text = f"{PLUGIN_OP}({x}, {form.carrier.name})"  # type: ignore[union-attr]
    elif form.kind == "shape_input":
        text = f"{PLUGIN_OP}({x}, output size as a shape input)"
    elif form.kind == "sizes":
        text = f"{PLUGIN_OP}({x}) with sizes={list(form.sizes or ())}"
    else:
        text = f"{PLUGIN_OP}({x}) with scales={[float(s) for s in form.scales or ()]}"
    if not inner:
        text += f" over axes {list(form.pair)} between Transposes"
    return text


class _Names:
    """Fresh node and tensor names (separate namespaces in ONNX) that do not collide with the graph's."""

    def __init__(self, graph: gs.Graph) -> None:
        self.tensors = set(graph.tensors().keys())
        self.nodes = {n.name for n in graph.nodes}

    @staticmethod
    def _fresh(base: str, used: set[str]) -> str:
        name, i = base, 1
        while name in used:
            name, i = f"{base}_{i}", i + 1
        used.add(name)
        return name

    def tensor(self, base: str) -> str:
        return self._fresh(base, self.tensors)

    def node(self, base: str) -> str:
        return self._fresh(base, self.nodes)


def _apply(graph: gs.Graph, node: gs.Node, form: _SizeForm) -> None:
    names = _Names(graph)
    base = node.name or node.outputs[0].name
    x, y = node.inputs[0], node.outputs[0]
    perm = [a for a in range(form.rank) if a not in form.pair] + list(form.pair)
    transposed = perm != list(range(form.rank))
    new_nodes: list[gs.Node] = []

    data = x
    if transposed:
        data = gs.Variable(names.tensor(f"{base}/innermost_in"), dtype=x.dtype)
        new_nodes.append(
            gs.Node(
                "Transpose", names.node(f"{base}/to_innermost"), {"perm": perm}, inputs=[x], outputs=[data]
            )
        )

    attrs: OrderedDict[str, object] = OrderedDict()
    attrs["plugin_version"] = PLUGIN_VERSION
    attrs["plugin_namespace"] = PLUGIN_NAMESPACE
    attrs["coordinate_transformation_mode"] = _attr_str(node, "coordinate_transformation_mode", "half_pixel")
    attrs["cubic_coeff_a"] = float(node.attrs.get("cubic_coeff_a", -0.75))
    attrs["exclude_outside"] = int(node.attrs.get("exclude_outside", 0))
    attrs["antialias"] = int(node.attrs.get("antialias", 0))
    plugin_inputs: list[gs.Tensor] = [data]
    if form.kind == "scales":
        attrs["scales"] = [float(s) for s in form.scales or ()]
    elif form.kind == "sizes":
        attrs["sizes"] = [int(s) for s in form.sizes or ()]
    elif form.kind == "carrier":
        plugin_inputs.append(form.carrier)  # type: ignore[arg-type]
    else:
        plugin_inputs.append(_shape_input(node, form, names, new_nodes, base))
        attrs[SHAPE_INPUT_ATTRIBUTE] = [1]

    out = gs.Variable(names.tensor(f"{base}/innermost_out"), dtype=y.dtype) if transposed else y
    node.outputs.clear()  # detaches the Resize; cleanup() then drops it and any size computation left unused
    new_nodes.append(
        gs.Node(
            PLUGIN_OP,
            names.node(base) if node.name == "" else node.name,
            attrs,
            inputs=plugin_inputs,
            outputs=[out],
            domain=PLUGIN_DOMAIN,
        )
    )
    if transposed:
        inverse = [perm.index(a) for a in range(form.rank)]
        new_nodes.append(
            gs.Node(
                "Transpose",
                names.node(f"{base}/from_innermost"),
                {"perm": inverse},
                inputs=[out],
                outputs=[y],
            )
        )
    graph.nodes.extend(new_nodes)


def _shape_input(
    node: gs.Node, form: _SizeForm, names: _Names, new_nodes: list[gs.Node], base: str
) -> gs.Variable:
    """An int64 [2] tensor holding the output height and width, built from the Resize's sizes."""
    pieces = form.pieces or ()
    output = gs.Variable(names.tensor(f"{base}/output_size"), dtype=np.int64, shape=[2])
    if all(kind == "sizes" for kind, _ in pieces):
        index = gs.Constant(
            names.tensor(f"{base}/size_indices"), np.array([v for _, v in pieces], dtype=np.int64)
        )
        new_nodes.append(
            gs.Node(
                "Gather", names.node(f"{base}/output_size"), {"axis": 0}, [node.inputs[3], index], [output]
            )
        )
        return output
    parts: list[gs.Tensor] = []
    for kind, value in pieces:
        if kind == "const":
            parts.append(gs.Constant(names.tensor(f"{base}/size_const"), np.array([value], dtype=np.int64)))
            continue
        source = node.inputs[3]
        if kind == "input":
            source = gs.Variable(names.tensor(f"{base}/input_shape"), dtype=np.int64, shape=[form.rank])
            new_nodes.append(
                gs.Node("Shape", names.node(f"{base}/input_shape"), inputs=[node.inputs[0]], outputs=[source])
            )
        index = gs.Constant(names.tensor(f"{base}/size_index"), np.array([value], dtype=np.int64))
        part = gs.Variable(names.tensor(f"{base}/size_part"), dtype=np.int64, shape=[1])
        new_nodes.append(
            gs.Node("Gather", names.node(f"{base}/size_part"), {"axis": 0}, [source, index], [part])
        )
        parts.append(part)
    new_nodes.append(gs.Node("Concat", names.node(f"{base}/output_size"), {"axis": 0}, parts, [output]))
    return output
