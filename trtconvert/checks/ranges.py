"""The ranges of a model's intermediate tensors in an fp32 run, and those a narrower float type cannot hold.

Every float tensor that a node computes from the graph inputs becomes an output of a copy of the model, and
one onnxruntime run per input set records its largest magnitude and its smallest non-zero magnitude. A tensor
computed inside the body of an If, a Loop or a Scan cannot be a graph output: the body computes those two
numbers itself and hands them out as an extra output of its node (If: the branch not taken gives neutral ones;
Loop and Scan: one pair per iteration), up to the top-level graph. A tensor is out of fp16's
range when some value passes 65504 (fp16 makes it inf), or when it has non-zero values and every one of them
is below fp16's smallest subnormal, 2^-24 (fp16 makes the whole tensor zero), or below 16 times that (2^-20,
about 9.5e-7: fp16 keeps at most 4 significant bits of any of them, an error past its tolerance; a tiny value
divided by another comes out wrong). Tensors that depend on no graph
input are constants (fold turns them into weights): they are no runtime tensors, but the weights that nodes
computing from the inputs read are checked the same way (constant_ranges), since converting them to fp16
clamps them: past 65504 down to it, below 2^-24 up to the smallest value fp16 holds (TensorRT and the ONNX
conversion alike). A weight below that which nodes only add or subtract (an epsilon) is left out: clamped, it
moves a sum by less than fp16 resolves; where the sum itself is that small, the sum is out of range.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from trtconvert.checks.compare import random_feed
from trtconvert.model.info import GraphTensor, all_graphs, all_nodes, node_subgraphs, type_plugin_outputs
from trtconvert.model.profiles import Shape

# Largest finite value and smallest positive subnormal of each narrower float type.
FLOAT_LIMITS = {
    "fp16": (65504.0, 2.0**-24),
    "bf16": (float(np.finfo(np.float32).max), 2.0**-133),
}
# A tensor whose values all lie below this many times the smallest subnormal keeps FEW_BITS significant bits or
# fewer in the narrower type (an error of 3% or more, past fp16's tolerance of 2%) even where none becomes zero.
FEW_BITS = 4
FEW_BITS_FACTOR = 2.0**FEW_BITS
_FLOATS = (TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.BFLOAT16)


@dataclass
class TensorRange:
    """One intermediate tensor over every input set run: its producer, its readers and its magnitudes."""

    name: str
    producer: str
    consumers: tuple[str, ...]
    max_abs: float = 0.0
    min_nonzero_abs: float = float("inf")
    # A weight that nodes only add or subtract: below the narrower type's smallest value it shifts the sum by
    # less than that type resolves, so that alone is no reason to keep its readers (LayerNorm's eps of 1e-12).
    only_added: bool = False

    def add(self, values: np.ndarray) -> None:
        magnitude = np.abs(values.astype(np.float64, copy=False))
        finite = magnitude[np.isfinite(magnitude)]
        if finite.size:
            self.max_abs = max(self.max_abs, float(finite.max()))
            nonzero = finite[finite > 0]
            if nonzero.size:
                self.min_nonzero_abs = min(self.min_nonzero_abs, float(nonzero.min()))

    def problem(self, target: str) -> str | None:
        """Why ``target`` cannot hold this tensor, or None."""
        largest, smallest = FLOAT_LIMITS[target]
        if self.max_abs > largest:
            return f"reaches {self.max_abs:.3g}, past {target}'s {largest:g}"
        if self.max_abs <= 0 or self.only_added:
            return None
        if self.max_abs < smallest:
            if not self.producer:  # a weight: the conversion clamps it up to the type's smallest value
                return f"has all its values below {target}'s smallest, {smallest:.3g} (at most {self.max_abs:.3g})"
            return f"has all its values below {smallest:.3g} (at most {self.max_abs:.3g}), so {target} makes it zero"
        if self.max_abs < smallest * FEW_BITS_FACTOR:
            return (
                f"has all its values below {smallest * FEW_BITS_FACTOR:.3g} (at most {self.max_abs:.3g}), where "
                f"{target} keeps {FEW_BITS} significant bits or fewer"
            )
        return None

    def add_summary(self, pairs: np.ndarray) -> None:
        """Pairs (largest |value|, smallest non-zero |value|) that a subgraph computed for this tensor."""
        pairs = np.asarray(pairs, np.float64).reshape(-1, 2)
        if pairs.size:
            self.max_abs = max(self.max_abs, float(pairs[:, 0].max()))
            self.min_nonzero_abs = min(self.min_nonzero_abs, float(pairs[:, 1].min()))

    def to_json(self) -> dict:
        return {
            "tensor": self.name,
            "producer": self.producer,
            "consumers": list(self.consumers),
            "max_abs": self.max_abs,
            "min_nonzero_abs": self.min_nonzero_abs if np.isfinite(self.min_nonzero_abs) else None,
        }


@dataclass
class OutOfRange:
    """The tensors ``target`` cannot hold and the nodes to keep in fp32 for them: their producers, and the
    consumers that would read them."""

    target: str
    tensors: list[tuple[TensorRange, str]] = field(default_factory=list)

    @property
    def producers(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t.producer for t, _ in self.tensors if t.producer))

    @property
    def nodes(self) -> tuple[str, ...]:
        """Producers and readers; a constant (no producer after folding) names its readers alone."""
        names = [t.producer for t, _ in self.tensors] + [c for t, _ in self.tensors for c in t.consumers]
        return tuple(dict.fromkeys(name for name in names if name))

    def __bool__(self) -> bool:
        return bool(self.tensors)

    def to_json(self) -> dict:
        return {
            "target": self.target,
            "tensors": [{**t.to_json(), "problem": why} for t, why in self.tensors],
            "keep_fp32": list(self.nodes),
        }


def _input_dependent(graph: onnx.GraphProto) -> set[str]:
    """Tensors that depend on a graph input (graph order is topological in a valid model)."""
    reached = {i.name for i in graph.input} - {t.name for t in graph.initializer}
    for node in graph.node:
        if any(name in reached for name in node.input if name):
            reached.update(o for o in node.output if o)
    return reached


class _Summaries:
    """Writes the nodes that summarise a subgraph tensor as a [1, 2] float tensor (largest |value|, smallest
    non-zero |value|; inf and NaN left out), with names no graph holds."""

    def __init__(self) -> None:
        self._count = itertools.count()

    def name(self, base: str) -> str:
        return f"{base}__trtconvert_range{next(self._count)}"

    def constant(self, nodes: list[onnx.NodeProto], values: Sequence[float], shape: Sequence[int]) -> str:
        name = self.name("constant")
        array = np.array(values, np.float32).reshape(shape)
        nodes.append(helper.make_node("Constant", [], [name], value=numpy_helper.from_array(array, name)))
        return name

    def shape(self, nodes: list[onnx.NodeProto], dims: Sequence[int]) -> str:
        name = self.name("shape")
        array = np.array(dims, np.int64)
        nodes.append(helper.make_node("Constant", [], [name], value=numpy_helper.from_array(array, name)))
        return name

    def of_tensor(self, nodes: list[onnx.NodeProto], tensor: str) -> str:
        n = self.name
        zero, inf = self.constant(nodes, [0.0], [1]), self.constant(nodes, [np.inf], [1])
        flat, cast, magnitude, finite, is_finite = n("flat"), n("cast"), n("abs"), n("finite"), n("is_finite")
        positive, is_positive, largest, smallest = n("positive"), n("is_positive"), n("max"), n("min")
        padded_max, padded_min, pair, summary = n("padded"), n("padded"), n("pair"), n(tensor)
        nodes += [
            helper.make_node("Cast", [tensor], [cast], to=TensorProto.FLOAT),
            helper.make_node("Abs", [cast], [magnitude]),
            helper.make_node("Reshape", [magnitude, self.shape(nodes, [-1])], [flat]),
            helper.make_node("Less", [flat, inf], [is_finite]),  # false for inf and NaN
            helper.make_node("Where", [is_finite, flat, zero], [finite]),
            helper.make_node("Concat", [finite, zero], [padded_max], axis=0),  # an empty tensor has max 0
            helper.make_node("ReduceMax", [padded_max], [largest], keepdims=1),
            helper.make_node("Greater", [finite, zero], [is_positive]),
            helper.make_node("Where", [is_positive, finite, inf], [positive]),
            helper.make_node("Concat", [positive, inf], [padded_min], axis=0),
            helper.make_node("ReduceMin", [padded_min], [smallest], keepdims=1),
            helper.make_node("Concat", [largest, smallest], [pair], axis=0),
            helper.make_node("Reshape", [pair, self.shape(nodes, [1, 2])], [summary]),
        ]
        return summary


def _reads(node: onnx.NodeProto) -> Iterator[tuple[str, onnx.NodeProto]]:
    """(tensor, the node that computes with it) for ``node``'s inputs and for every tensor the nodes of its
    bodies read: a body reads the outer graph's tensors by name, not through its node's inputs, and the node to
    keep in fp32 for such a tensor is the body's node that reads it."""
    for name in node.input:
        if name:
            yield name, node
    for body in node_subgraphs(node):
        for inner in all_nodes(body):
            for name in inner.input:
                if name:
                    yield name, inner


def _has_body(node: onnx.NodeProto) -> bool:
    return any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute)


def _float_types(graph: onnx.GraphProto, outer: Mapping[str, int]) -> dict[str, int]:
    types = dict(outer)
    for info in [*graph.input, *graph.value_info, *graph.output]:
        if info.type.HasField("tensor_type"):
            types[info.name] = info.type.tensor_type.elem_type
    types.update({t.name: t.data_type for t in graph.initializer})
    return types


def _summary_output(name: str) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, None)


def _summarise_body(
    body: onnx.GraphProto,
    outer: Mapping[str, int],
    outer_dependent: set[str],
    where: str,
    ranges: dict[str, TensorRange],
    summaries: _Summaries,
) -> list[tuple[str, str]]:
    """Add to ``body`` a [-1, 2] summary of every float tensor its nodes (and its nodes' bodies) compute;
    returns (summary tensor in ``body``, key in ``ranges``) pairs. Tensors that depend on no graph input are
    constants, left out as at the top level."""
    types = _float_types(body, outer)
    dependent = set(outer_dependent) | {i.name for i in body.input}
    for node in body.node:
        if any(name in dependent for name in node.input if name) or _has_body(node):
            dependent.update(o for o in node.output if o)
    consumers: dict[str, list[str]] = {}
    for node in body.node:
        for name, reader in _reads(node):
            consumers.setdefault(name, []).append(reader.name or reader.op_type)
    found: list[tuple[str, str]] = []
    nodes: list[onnx.NodeProto] = []
    for node in list(body.node):
        nodes.append(node)
        for summary, key in _summarise_node(node, types, dependent, where, ranges, summaries):
            flat = summaries.name("nested")
            nodes.append(helper.make_node("Reshape", [summary, summaries.shape(nodes, [-1, 2])], [flat]))
            found.append((flat, key))
        for name in node.output:
            if name in dependent and types.get(name) in _FLOATS:
                key = f"{where}/{name}"
                producer = node.name or node.op_type
                ranges[key] = TensorRange(name, producer, tuple(dict.fromkeys(consumers.get(name, []))))
                found.append((summaries.of_tensor(nodes, name), key))
    del body.node[:]
    body.node.extend(nodes)
    return found


def _summarise_node(
    node: onnx.NodeProto,
    types: Mapping[str, int],
    dependent: set[str],
    where: str,
    ranges: dict[str, TensorRange],
    summaries: _Summaries,
) -> list[tuple[str, str]]:
    """The summaries of the tensors an If's branches or a Loop's or Scan's body compute, as new outputs of
    ``node``."""
    label = f"{where}{node.name or node.op_type}"
    new: list[tuple[str, str]] = []
    if node.op_type == "If":
        branches = {a.name: a.g for a in node.attribute if a.type == onnx.AttributeProto.GRAPH}
        then_branch, else_branch = branches["then_branch"], branches["else_branch"]
        then_found = _summarise_body(then_branch, types, dependent, f"{label}/then_branch", ranges, summaries)
        else_found = _summarise_body(else_branch, types, dependent, f"{label}/else_branch", ranges, summaries)
        for found, taken, other in (
            (then_found, then_branch, else_branch),
            (else_found, else_branch, then_branch),
        ):
            for summary, key in found:
                taken.output.append(_summary_output(summary))
                neutral: list[onnx.NodeProto] = []
                placeholder = summaries.constant(neutral, [0.0, np.inf], [1, 2])
                other.node.extend(neutral)
                other.output.append(_summary_output(placeholder))
                output = summaries.name("if")
                node.output.append(output)
                new.append((output, key))
    elif node.op_type in ("Loop", "Scan"):
        (body,) = [a.g for a in node.attribute if a.type == onnx.AttributeProto.GRAPH]
        for summary, key in _summarise_body(body, types, dependent, f"{label}/body", ranges, summaries):
            body.output.append(_summary_output(summary))  # a scan output: one summary per iteration
            output = summaries.name(node.op_type.lower())
            node.output.append(output)
            for attribute in node.attribute:
                if attribute.name in ("scan_output_axes", "scan_output_directions"):
                    attribute.ints.append(0)  # one entry per scan output, the new one included
            new.append((output, key))
    return new


def _with_intermediates(
    model: onnx.ModelProto,
) -> tuple[onnx.ModelProto, dict[str, TensorRange], dict[str, str]]:
    """The model with every intermediate float tensor as an output, its ranges to fill, and the outputs that
    summarise subgraph tensors (output -> key in the ranges)."""
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False)
    type_plugin_outputs(inferred)
    infos = {v.name: v for v in inferred.graph.value_info}
    graph = model.graph
    outputs = {o.name for o in graph.output}
    dependent = _input_dependent(graph)
    consumers: dict[str, list[str]] = {}
    for node in graph.node:
        for name, reader in _reads(node):
            consumers.setdefault(name, []).append(reader.name or reader.op_type)
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    ranges: dict[str, TensorRange] = {}
    summarised: dict[str, str] = {}
    summaries = _Summaries()
    # Types of every graph's tensors, bodies included, from the inferred model (the copy keeps the model's own
    # value_info; a body's tensor names are its own, so one map serves all).
    types: dict[str, int] = {}
    for typed in all_graphs(inferred.graph):
        types.update(_float_types(typed, {}))
    for node in copy.graph.node:
        for output, key in _summarise_node(node, types, dependent, "", ranges, summaries):
            copy.graph.output.append(_summary_output(output))
            summarised[output] = key
    for node in graph.node:
        for name in node.output:
            if not name or name not in dependent:
                continue
            info = infos.get(name)
            graph_output = name in outputs
            if info is None and not graph_output:
                continue
            if info is not None and info.type.tensor_type.elem_type not in _FLOATS:
                continue
            if not graph_output:
                copy.graph.output.append(info)
            producer = node.name or node.op_type
            ranges[name] = TensorRange(name, producer, tuple(dict.fromkeys(consumers.get(name, []))))
    return copy, ranges, summarised


def constant_ranges(model: onnx.ModelProto) -> dict[str, TensorRange]:
    """The ranges of the float weights (initializers and Constant nodes) that nodes computing from the inputs
    read. A weight past the narrower type's range is clamped when the model or the layer is converted, so it
    counts like an intermediate tensor; it has no producer (fold makes every constant a weight), and keeping its
    readers in fp32 keeps it fp32."""
    graph = model.graph
    dependent = _input_dependent(graph)
    readers: dict[str, list[str]] = {}
    reading_ops: dict[str, set[str]] = {}
    for node in graph.node:
        if any(output in dependent for output in node.output):
            for name, reader in _reads(node):
                readers.setdefault(name, []).append(reader.name or reader.op_type)
                reading_ops.setdefault(name, set()).add(reader.op_type)
    values: dict[str, np.ndarray] = {}
    for tensor in graph.initializer:
        if tensor.name in readers and tensor.data_type in _FLOATS:
            values[tensor.name] = numpy_helper.to_array(tensor)
    for node in graph.node:
        if node.op_type != "Constant" or not node.output or node.output[0] not in readers:
            continue
        for attribute in node.attribute:
            if attribute.name == "value" and attribute.t.data_type in _FLOATS:
                values[node.output[0]] = numpy_helper.to_array(attribute.t)
            elif attribute.name in ("value_float", "value_floats"):
                values[node.output[0]] = np.asarray(helper.get_attribute_value(attribute), np.float32)
    ranges = {}
    for name, value in values.items():
        only_added = reading_ops[name] <= {"Add", "Sub"}
        ranges[name] = TensorRange(name, "", tuple(dict.fromkeys(readers[name])), only_added=only_added)
        ranges[name].add(np.asarray(value))
    return ranges


def with_intermediate_outputs(model: onnx.ModelProto) -> tuple[onnx.ModelProto, dict[str, TensorRange]]:
    """A copy of ``model`` with every float tensor the main graph computes from the graph inputs as an output, and
    those tensors (their ranges still empty). Tensors inside If, Loop and Scan bodies are left out: they are not
    tensors of the main graph, which is all an engine can mark."""
    copy, ranges, summarised = _with_intermediates(model)
    in_bodies = set(summarised.values())
    return copy, {key: value for key, value in ranges.items() if key not in in_bodies}


def intermediate_values(
    with_outputs: onnx.ModelProto, names: Collection[str], feeds: Iterable[Mapping[str, np.ndarray]]
) -> Iterator[dict[str, np.ndarray]]:
    """For each feed, the float values of the tensors ``names`` (outputs of ``with_outputs``, as
    with_intermediate_outputs makes it) in one onnxruntime run; one feed's values at a time are held."""
    from trtconvert.checks.ort_session import create_session

    session = create_session(with_outputs)
    wanted = [o.name for o in session.get_outputs() if o.name in names]
    session_inputs = {i.name for i in session.get_inputs()}
    for feed in feeds:
        values = session.run(wanted, {k: v for k, v in feed.items() if k in session_inputs})
        yield {
            name: np.asarray(value)
            for name, value in zip(wanted, values, strict=True)
            if np.issubdtype(np.asarray(value).dtype, np.floating)
        }


def intermediate_ranges(
    model: onnx.ModelProto | Path,
    inputs: Sequence[GraphTensor],
    shape_sets: Sequence[Mapping[str, Shape]],
    given: Mapping[str, np.ndarray],
    seed: int = 0,
) -> dict[str, TensorRange]:
    """Run ``model`` in fp32 on the inputs compare_models feeds (same seeds) and record every intermediate
    float tensor's range, those inside If, Loop and Scan bodies included."""
    loaded = onnx.load(str(model)) if isinstance(model, Path) else model
    copy, ranges, summarised = _with_intermediates(loaded)
    feeds = (random_feed(inputs, shapes, given, seed + index) for index, shapes in enumerate(shape_sets))
    for values in intermediate_values(copy, set(ranges) | set(summarised), feeds):
        for name, value in values.items():
            if name in summarised:
                ranges[summarised[name]].add_summary(value)
            else:
                ranges[name].add(value)
    return ranges


def out_of_range(ranges: Mapping[str, TensorRange], target: str, kept: Sequence[str] = ()) -> OutOfRange:
    """The tensors ``target`` cannot hold, except those whose producer and readers are all in ``kept``."""
    found = OutOfRange(target)
    already = set(kept)
    for tensor in ranges.values():
        why = tensor.problem(target)
        # A weight has no producer: keeping its readers keeps it.
        if why is not None and not ({tensor.producer, *tensor.consumers} - {""} <= already):
            found.tensors.append((tensor, why))
    return found
