"""An fp16 (or bf16) model as a GPU computes it, for the CPU check: every fp16 tensor a node writes is rounded
to fp16.

onnxruntime's CPU has fp16 kernels for few ops; for the rest it casts to fp32, runs the fp32 kernel and casts
back, and then removes the casts between two such nodes. The fp16 tensor between them is never formed: a
MatMul whose outputs pass 65504 followed by a Mul that scales them back gives finite values on the CPU, where a
GPU stores the MatMul's output as fp16, that is inf, and the Mul keeps it inf. So the CPU check of an fp16
model could pass a model that overflows on the GPU.

``emulate_fp16`` writes the model that forms every such tensor: an fp32 graph (fp16 weights and constants
widened, which is exact) in which every node output that is fp16 in the original goes through
Cast(to fp16) -> Cast(to fp32), casts onnxruntime keeps because they lose precision. Each node then computes
in fp32 from fp16-rounded inputs and its output is rounded to fp16, overflowing to inf and underflowing to
zero as an fp16 tensor does: what a GPU kernel with fp32 accumulation computes. Layers that TensorRT fuses
skip a rounding the emulation makes, so the emulation errs on the strict side.

The bodies of If, Loop and Scan nodes are emulated the same way, their fp16 inputs and outputs made fp32 (the
types come from onnx's shape inference, which types every subgraph's tensors). A bf16 model is emulated with
bf16 rounding: onnxruntime's CPU has bf16 casts but few bf16 kernels, so only the emulation can run it at all.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from trtconvert.model.info import type_plugin_outputs

_SUFFIX = "__fp16_emulated"
# The narrower float types a converted model holds, as ONNX element types.
NARROW_TYPES = {"fp16": TensorProto.FLOAT16, "bf16": TensorProto.BFLOAT16}


class CannotEmulate(Exception):
    """The model has the narrower type where the emulation does not reach (graph inputs or outputs)."""


def _widen_tensor(tensor: TensorProto, narrow: int) -> None:
    if tensor.data_type == narrow:
        widened = numpy_helper.from_array(numpy_helper.to_array(tensor).astype(np.float32), tensor.name)
        tensor.CopyFrom(widened)


def _inferred(model: onnx.ModelProto) -> onnx.ModelProto:
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False)
    type_plugin_outputs(inferred)
    return inferred


def _graph_types(graph: onnx.GraphProto, outer: dict[str, int]) -> dict[str, int]:
    """Element types of a graph's tensors, outer-scope tensors included (a subgraph may read them)."""
    types = dict(outer)
    types.update(
        {
            info.name: info.type.tensor_type.elem_type
            for info in [*graph.input, *graph.value_info, *graph.output]
            if info.type.HasField("tensor_type")
        }
    )
    types.update({t.name: t.data_type for t in graph.initializer})
    return types


def has_fp16(model: onnx.ModelProto) -> bool:
    """Whether any tensor of the top-level graph is fp16 (after type inference)."""
    return TensorProto.FLOAT16 in _graph_types(_inferred(model).graph, {}).values()


def emulate_fp16(model: onnx.ModelProto, narrow: str = "fp16") -> onnx.ModelProto:
    """The fp32 model that rounds every ``narrow`` (fp16 or bf16) node output to that type (module docstring),
    in subgraphs too; ``model`` is not changed.

    Raises CannotEmulate where the narrower type reaches the graph's inputs or outputs."""
    element = NARROW_TYPES[narrow]
    emulated = _inferred(model)
    graph = emulated.graph
    if any(v.type.tensor_type.elem_type == element for v in [*graph.input, *graph.output]):
        raise CannotEmulate(f"an {narrow} graph input or output")
    _emulate_graph(graph, {}, element, subgraph=False)
    return emulated


def _emulate_graph(graph: onnx.GraphProto, outer: dict[str, int], narrow: int, *, subgraph: bool) -> None:
    types = _graph_types(graph, outer)
    if subgraph:
        # A body's inputs and outputs carry the values of its node, which now computes in fp32.
        for info in [*graph.input, *graph.output]:
            if info.type.tensor_type.elem_type == narrow:
                info.type.tensor_type.elem_type = TensorProto.FLOAT
    for tensor in graph.initializer:
        _widen_tensor(tensor, narrow)
    nodes: list[onnx.NodeProto] = []
    for node in list(graph.node):
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.TENSOR:
                _widen_tensor(attribute.t, narrow)
            elif attribute.type == onnx.AttributeProto.GRAPH:
                _emulate_graph(attribute.g, types, narrow, subgraph=True)
            elif attribute.type == onnx.AttributeProto.GRAPHS:
                for body in attribute.graphs:
                    _emulate_graph(body, types, narrow, subgraph=True)
            elif attribute.name in ("to", "dtype") and attribute.i == narrow:
                attribute.i = TensorProto.FLOAT
        rounded = []
        for index, output in enumerate(node.output):
            if output and types.get(output) == narrow:
                node.output[index] = output + _SUFFIX
                rounded.append(output)
        nodes.append(node)
        for output in rounded:
            half = output + _SUFFIX + "_half"
            nodes.append(helper.make_node("Cast", [output + _SUFFIX], [half], to=narrow))
            nodes.append(helper.make_node("Cast", [half], [output], to=TensorProto.FLOAT))
    del graph.node[:]
    graph.node.extend(nodes)
    # The recorded narrow types no longer hold; onnxruntime infers what it needs.
    del graph.value_info[:]
