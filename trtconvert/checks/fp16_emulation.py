"""An fp16 model as a GPU computes it, for the CPU check: every fp16 tensor a node writes is rounded to fp16.

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
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from trtconvert.model.info import node_subgraphs, type_plugin_outputs

_SUFFIX = "__fp16_emulated"


class CannotEmulate(Exception):
    """The model has fp16 where the emulation does not reach (graph inputs or outputs, subgraphs)."""


def _widen_tensor(tensor: TensorProto) -> None:
    if tensor.data_type == TensorProto.FLOAT16:
        widened = numpy_helper.from_array(numpy_helper.to_array(tensor).astype(np.float32), tensor.name)
        tensor.CopyFrom(widened)


def _element_types(model: onnx.ModelProto) -> dict[str, int]:
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False)
    type_plugin_outputs(inferred)
    graph = inferred.graph
    types = {
        info.name: info.type.tensor_type.elem_type
        for info in [*graph.input, *graph.value_info, *graph.output]
        if info.type.HasField("tensor_type")
    }
    types.update({t.name: t.data_type for t in graph.initializer})
    return types


def has_fp16(model: onnx.ModelProto) -> bool:
    """Whether any tensor of the top-level graph is fp16 (after type inference)."""
    return TensorProto.FLOAT16 in _element_types(model).values()


def emulate_fp16(model: onnx.ModelProto) -> onnx.ModelProto:
    """The fp32 model that rounds every fp16 node output to fp16 (module docstring); ``model`` is not changed.

    Raises CannotEmulate where fp16 reaches graph inputs or outputs or lives inside subgraphs."""
    types = _element_types(model)
    graph = model.graph
    io = [*graph.input, *graph.output]
    if any(v.type.tensor_type.elem_type == TensorProto.FLOAT16 for v in io):
        raise CannotEmulate("an fp16 graph input or output")
    if any(node_subgraphs(node) for node in graph.node):
        raise CannotEmulate("subgraphs (If, Loop, Scan)")
    emulated = onnx.ModelProto()
    emulated.CopyFrom(model)
    graph = emulated.graph
    for tensor in graph.initializer:
        _widen_tensor(tensor)
    nodes: list[onnx.NodeProto] = []
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.TENSOR:
                _widen_tensor(attribute.t)
            elif attribute.name in ("to", "dtype") and attribute.i == TensorProto.FLOAT16:
                attribute.i = TensorProto.FLOAT
        rounded = []
        for index, output in enumerate(node.output):
            if output and types.get(output) == TensorProto.FLOAT16:
                node.output[index] = output + _SUFFIX
                rounded.append(output)
        nodes.append(node)
        for output in rounded:
            half = output + _SUFFIX + "_half"
            nodes.append(helper.make_node("Cast", [output + _SUFFIX], [half], to=TensorProto.FLOAT16))
            nodes.append(helper.make_node("Cast", [half], [output], to=TensorProto.FLOAT))
    del graph.node[:]
    graph.node.extend(nodes)
    # The recorded fp16 types no longer hold; onnxruntime infers what it needs.
    del graph.value_info[:]
    return emulated
