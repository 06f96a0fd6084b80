"""Facts about a loaded ONNX model: its graph inputs and outputs, opsets, op counts, weight bytes.

Works on a model loaded without its external data, so describing a 10 GB model reads only its graph.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import numpy as np
import onnx
from onnx import helper

from trtconvert.model.dims import is_placeholder

Dim = int | str | None


@dataclass(frozen=True)
class GraphTensor:
    """A graph input or output: name, element type and dims (int static, str symbolic, None unknown)."""

    name: str
    dtype: str
    dims: tuple[Dim, ...]
    shape_known: bool = True
    # For an integer input that indexes a weight (a Gather on an embedding table, on token types): the rows of the
    # smallest such table, so that random values stay in range. Not part of what the tensor is.
    index_rows: int | None = field(default=None, compare=False)

    @property
    def is_static(self) -> bool:
        return self.shape_known and all(isinstance(d, int) for d in self.dims)

    def dims_text(self) -> str:
        if not self.shape_known:
            return "[unknown rank]"
        return "[" + ", ".join("?" if d is None else str(d) for d in self.dims) + "]"

    def to_json(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "dims": list(self.dims) if self.shape_known else None}


def _dtype_name(elem_type: int) -> str:
    try:
        return np.dtype(helper.tensor_dtype_to_np_dtype(elem_type)).name
    except (KeyError, TypeError, ValueError):
        return onnx.TensorProto.DataType.Name(elem_type).lower()


def _value_info(value: onnx.ValueInfoProto) -> GraphTensor:
    tensor_type = value.type.tensor_type
    if not tensor_type.HasField("shape"):
        return GraphTensor(value.name, _dtype_name(tensor_type.elem_type), (), shape_known=False)
    dims: list[Dim] = []
    for dim in tensor_type.shape.dim:
        if dim.HasField("dim_value") and dim.dim_value > 0:
            dims.append(int(dim.dim_value))
        elif dim.HasField("dim_param") and not is_placeholder(dim.dim_param):
            dims.append(dim.dim_param)
        else:
            # -1, 0, placeholder names ('?', 'unk__3', ...) and absent dims all mean "unknown".
            dims.append(None)
    return GraphTensor(value.name, _dtype_name(tensor_type.elem_type), tuple(dims))


def graph_inputs(model: onnx.ModelProto) -> list[GraphTensor]:
    """The inputs a user feeds: graph inputs that are not initializers (old exporters list weights as inputs)."""
    initializers = {i.name for i in model.graph.initializer}
    rows = _index_rows(model)
    return [
        replace(_value_info(v), index_rows=rows.get(v.name))
        for v in model.graph.input
        if v.name not in initializers
    ]


# Ops that pass integer indices on unchanged in value (torch's `ids.unsqueeze(0).long()` before an embedding).
_INDEX_PASS_THROUGH = {
    "Cast",
    "Identity",
    "Unsqueeze",
    "Squeeze",
    "Reshape",
    "Flatten",
    "Expand",
    "Transpose",
}


def _index_rows(model: onnx.ModelProto) -> dict[str, int]:
    """For each graph input that reaches the indices of a Gather on a constant table, directly or through ops
    that keep its values, the rows of the smallest such table (its length on the Gather's axis)."""
    shapes = {t.name: tuple(t.dims) for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant" and node.output:
            for attribute in node.attribute:
                if attribute.name == "value" and attribute.type == onnx.AttributeProto.TENSOR:
                    shapes[node.output[0]] = tuple(attribute.t.dims)
    readers: dict[str, list[onnx.NodeProto]] = {}
    for node in model.graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    found: dict[str, int] = {}
    for graph_input in model.graph.input:
        frontier, seen = [graph_input.name], {graph_input.name}
        while frontier:
            tensor = frontier.pop()
            for node in readers.get(tensor, []):
                if node.op_type == "Gather" and len(node.input) > 1 and node.input[1] == tensor:
                    table = shapes.get(node.input[0])
                    axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
                    if table and -len(table) <= axis < len(table) and table[axis] > 0:
                        found[graph_input.name] = min(found.get(graph_input.name, table[axis]), table[axis])
                elif node.op_type in _INDEX_PASS_THROUGH and node.input and node.input[0] == tensor:
                    for output in node.output:
                        if output and output not in seen:
                            seen.add(output)
                            frontier.append(output)
    return found


def graph_outputs(model: onnx.ModelProto) -> list[GraphTensor]:
    return [_value_info(v) for v in model.graph.output]


def _tensor_bytes(tensor: onnx.TensorProto) -> int:
    # From shape and type alone: an external length is checked against them where the model is loaded.
    count = math.prod(tensor.dims)
    try:
        itemsize = np.dtype(helper.tensor_dtype_to_np_dtype(tensor.data_type)).itemsize
    except (KeyError, TypeError, ValueError):
        itemsize = 1
    return count * itemsize


DEFAULT_DOMAIN = "ai.onnx"
STANDARD_DOMAINS = (DEFAULT_DOMAIN, "ai.onnx.ml")


def onnx_domain(domain: str | None) -> str:
    """A node's or opset's domain by its full name: '' (and graph-surgeon's None) is ai.onnx."""
    return domain or DEFAULT_DOMAIN


def is_default_domain(domain: str | None) -> bool:
    """Whether the domain is ONNX's default operator set (where Resize, Cast, ... live)."""
    return onnx_domain(domain) == DEFAULT_DOMAIN


def is_custom_domain(domain: str | None) -> bool:
    """Whether ops of this domain are outside the ONNX standard: TensorRT runs them only through a plugin."""
    return onnx_domain(domain) not in STANDARD_DOMAINS


def node_subgraphs(node: onnx.NodeProto) -> list[onnx.GraphProto]:
    """The graphs a node holds as attributes: If's branches, Loop's and Scan's bodies."""
    bodies: list[onnx.GraphProto] = []
    for attribute in node.attribute:
        if attribute.type == onnx.AttributeProto.GRAPH:
            bodies.append(attribute.g)
        elif attribute.type == onnx.AttributeProto.GRAPHS:
            bodies.extend(attribute.graphs)
    return bodies


def if_branches(node: onnx.NodeProto) -> tuple[onnx.GraphProto, onnx.GraphProto]:
    """An If node's (then_branch, else_branch)."""
    branches = {a.name: a.g for a in node.attribute if a.type == onnx.AttributeProto.GRAPH}
    return branches["then_branch"], branches["else_branch"]


def all_graphs(graph: onnx.GraphProto) -> Iterator[onnx.GraphProto]:
    """``graph`` and every graph nested in it, outer first."""
    yield graph
    for node in graph.node:
        for body in node_subgraphs(node):
            yield from all_graphs(body)


def all_nodes(graph: onnx.GraphProto) -> Iterator[onnx.NodeProto]:
    """Every node, those inside If/Loop/Scan bodies included (each body right after the node holding it)."""
    for node in graph.node:
        yield node
        for body in node_subgraphs(node):
            yield from all_nodes(body)


def all_initializers(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    """Initializers of ``graph`` and of every nested body, in the order onnx writes external data."""
    for each in all_graphs(graph):
        yield from each.initializer


def all_tensors(model: onnx.ModelProto) -> Iterator[onnx.TensorProto]:
    """Initializers and the tensors held by node attributes (Constant nodes), subgraphs included."""
    yield from all_initializers(model.graph)
    for node in all_nodes(model.graph):
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.TENSOR:
                yield attribute.t
            elif attribute.type == onnx.AttributeProto.TENSORS:
                yield from attribute.tensors


def largest_weight_bytes(model: onnx.ModelProto) -> int:
    return max((_tensor_bytes(t) for t in all_tensors(model)), default=0)


def weight_bytes(model: onnx.ModelProto) -> int:
    return sum(_tensor_bytes(t) for t in all_tensors(model))


def op_counts(model: onnx.ModelProto) -> dict[str, int]:
    counts = Counter(
        n.op_type if is_default_domain(n.domain) else f"{n.domain}::{n.op_type}"
        for n in all_nodes(model.graph)
    )
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def custom_nodes(model: onnx.ModelProto) -> list[onnx.NodeProto]:
    """Nodes outside the standard ONNX domains: they need a TensorRT plugin."""
    return [n for n in all_nodes(model.graph) if is_custom_domain(n.domain)]


def opsets(model: onnx.ModelProto) -> dict[str, int]:
    return {onnx_domain(o.domain): int(o.version) for o in model.opset_import}


def default_opset(model: onnx.ModelProto) -> int:
    return opsets(model).get(DEFAULT_DOMAIN, 1)


def type_plugin_outputs(model: onnx.ModelProto, typed: onnx.ModelProto | None = None) -> None:
    """Declare each plugin output of ``model`` with its first input's element type, the contract of this
    project's plugins: shape inference knows nothing of custom ops, so converters and quantizers would leave
    everything downstream of a plugin untyped. Types are read from ``typed`` (a shape-inferred copy) if given."""
    graph = (typed or model).graph
    types = {v.name: v.type.tensor_type.elem_type for v in [*graph.input, *graph.value_info, *graph.output]}
    types.update({t.name: t.data_type for t in graph.initializer})
    for node in custom_nodes(model):
        elem_type = types.get(node.input[0]) if node.input else None
        if not elem_type:
            continue
        for output in node.output:
            if output and not types.get(output):
                model.graph.value_info.append(helper.make_tensor_value_info(output, elem_type, None))
                types[output] = elem_type
