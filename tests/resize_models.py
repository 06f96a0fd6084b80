"""Small ONNX models with cubic Resize nodes, built in code for the reference and rewrite tests."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def single_resize_model(
    input_shape: list[int | str | None],
    *,
    scales: list[float] | None = None,
    sizes: list[int] | None = None,
    axes: list[int] | None = None,
    opset: int = 19,
    runtime_scales: bool = False,
    runtime_sizes: bool = False,
    name: str = "resize",
    **attributes: object,
) -> onnx.ModelProto:
    """One cubic Resize of graph input ``x``; scales/sizes are initializers, or graph inputs when runtime_*."""
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, input_shape)]
    initializers: list[onnx.TensorProto] = []
    resize_inputs = ["x", ""]
    if runtime_scales:
        count = len(axes) if axes is not None else len(input_shape)
        inputs.append(helper.make_tensor_value_info("scales", TensorProto.FLOAT, [count]))
        resize_inputs.append("scales")
    elif scales is not None:
        initializers.append(numpy_helper.from_array(np.array(scales, dtype=np.float32), "scales"))
        resize_inputs.append("scales")
    if runtime_sizes:
        count = len(axes) if axes is not None else len(input_shape)
        inputs.append(helper.make_tensor_value_info("sizes", TensorProto.INT64, [count]))
        resize_inputs += ["", "sizes"]
    elif sizes is not None:
        initializers.append(numpy_helper.from_array(np.array(sizes, dtype=np.int64), "sizes"))
        resize_inputs += ["", "sizes"]
    if opset < 13:
        # Opsets 11-12 require the roi and scales inputs to be present, even when empty.
        initializers.append(numpy_helper.from_array(np.array([], dtype=np.float32), "roi"))
        resize_inputs[1] = "roi"
        if resize_inputs[2] == "":
            initializers.append(numpy_helper.from_array(np.array([], dtype=np.float32), "no_scales"))
            resize_inputs[2] = "no_scales"
    while resize_inputs and resize_inputs[-1] == "":
        resize_inputs.pop()
    node_attributes = {"mode": "cubic", **attributes}
    if axes is not None:
        node_attributes["axes"] = axes
    node = helper.make_node("Resize", resize_inputs, ["y"], name=name, **node_attributes)
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None] * len(input_shape))]
    graph = helper.make_graph([node], "single_resize", inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def run_onnxruntime(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    import onnxruntime

    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)
