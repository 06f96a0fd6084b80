"""Copies of a model without its weights, for what needs only types and dims: onnx's shape inference and
checker. Serializing a model for either copies every weight; a copy with stand-ins costs almost nothing."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from trtconvert.model.load import LARGE_TENSOR_BYTES

# Shape inference reads as data only tensors that hold shapes, scales, pads or indices: a few values each.
SHAPE_DATA_BYTES = 1024


def _data_bytes(tensor: onnx.TensorProto) -> int:
    """Bytes of a tensor's data, counted from its type and dims (reading raw_data would copy it)."""
    try:
        itemsize = np.dtype(helper.tensor_dtype_to_np_dtype(tensor.data_type)).itemsize
    except (KeyError, TypeError, ValueError):  # strings and unknown types: count them as small
        return 0
    return int(np.prod(tensor.dims, dtype=np.int64)) * itemsize


def _copy_fields(source, target, *skip: str) -> None:
    """Copy every set field of a protobuf message but those named in ``skip``."""
    for descriptor, value in source.ListFields():
        if descriptor.name in skip:
            continue
        # FieldDescriptor.label is gone from newer protobuf releases, is_repeated absent from older ones.
        repeated = getattr(descriptor, "is_repeated", None)
        if repeated is None:
            repeated = descriptor.label == descriptor.LABEL_REPEATED
        if repeated:
            getattr(target, descriptor.name).extend(value)
        elif descriptor.message_type is not None:
            getattr(target, descriptor.name).CopyFrom(value)
        else:
            setattr(target, descriptor.name, value)


def without_large_data(
    model: onnx.ModelProto,
    empty: bool,
    large_bytes: int = LARGE_TENSOR_BYTES,
    constant_nodes: bool = False,
) -> tuple[onnx.ModelProto, int]:
    """A copy of the model whose large or external initializers are stand-ins without data, and the bytes
    of data it still holds.

    A stand-in keeps the name, type and dims and is marked external, which shape inference needs and never
    reads (only small constants such as shapes are read as data). With ``empty`` it has dims [0] instead,
    for the checker, which would look for the external file. With ``constant_nodes`` the main graph's large
    Constant nodes become stand-in initializers too (exporters such as Paddle's hold every weight in one).
    Everything else is copied as it is.
    """
    light = onnx.ModelProto()
    _copy_fields(model, light, "graph")
    _copy_fields(model.graph, light.graph, "initializer", "node")
    held = 0

    def stand_in_for(name: str, tensor: onnx.TensorProto) -> None:
        stand_in = light.graph.initializer.add(name=name, data_type=tensor.data_type)
        if empty:
            stand_in.dims.append(0)
        else:
            stand_in.dims.extend(tensor.dims)
            stand_in.data_location = onnx.TensorProto.EXTERNAL
            stand_in.external_data.add(key="location", value="weights-left-out")

    for tensor in model.graph.initializer:
        external = tensor.data_location == onnx.TensorProto.EXTERNAL
        size = _data_bytes(tensor)
        if not external and size < large_bytes:
            light.graph.initializer.append(tensor)
            held += size
        else:
            stand_in_for(tensor.name, tensor)
    for node in model.graph.node:
        value = _constant_value(node) if constant_nodes else None
        if value is not None and _data_bytes(value) >= large_bytes:
            stand_in_for(node.output[0], value)
        else:
            light.graph.node.append(node)
    return light, held


def _constant_value(node: onnx.NodeProto) -> onnx.TensorProto | None:
    """The tensor a Constant node holds in its ``value`` attribute, or None for any other node."""
    if node.op_type != "Constant" or node.domain not in ("", "ai.onnx") or len(node.output) != 1:
        return None
    if len(node.attribute) != 1 or node.attribute[0].name != "value":
        return None
    value = node.attribute[0].t
    return None if value.data_location == onnx.TensorProto.EXTERNAL else value


def shape_inference_copy(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy for shape inference whose tensors of SHAPE_DATA_BYTES or more are stand-ins, Constant nodes
    included: inference needs their types and dims only."""
    light, _ = without_large_data(model, empty=False, large_bytes=SHAPE_DATA_BYTES, constant_nodes=True)
    return light
