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


def onnx_backend_cubic_cases() -> list[tuple[str, onnx.NodeProto, list[np.ndarray], np.ndarray]]:
    """ONNX's own backend test cases of cubic Resize: (name, node, inputs, expected output), by name."""
    from unittest import mock

    import onnx.backend.test.case.node.resize as resize_cases

    cases = []

    def capture(node, inputs, outputs, name, **_):
        if helper.get_attribute_value(next(a for a in node.attribute if a.name == "mode")) == b"cubic":
            cases.append((name, node, inputs, outputs[0]))

    with mock.patch.object(resize_cases, "expect", capture):
        for attribute in dir(resize_cases.Resize):
            if attribute.startswith("export"):
                getattr(resize_cases.Resize, attribute)()
    return sorted(cases, key=lambda case: case[0])


def backend_case_model(node: onnx.NodeProto, inputs: list[np.ndarray]) -> onnx.ModelProto:
    """A model of one backend case: X a graph input of its static shape, roi/scales/sizes initializers."""
    names = [name for name in node.input if name]
    values = dict(zip(names, inputs, strict=True))
    attributes = {a.name for a in node.attribute}
    modes = [
        helper.get_attribute_value(a) for a in node.attribute if a.name == "coordinate_transformation_mode"
    ]
    # Opset-18 attributes (and half_pixel_symmetric) need opset 19; the others are valid from 13.
    newer = attributes & {"antialias", "axes", "keep_aspect_ratio_policy"} or modes == [
        b"half_pixel_symmetric"
    ]
    x = values[names[0]]
    graph = helper.make_graph(
        [node],
        "backend_case",
        [helper.make_tensor_value_info(names[0], helper.np_dtype_to_tensor_dtype(x.dtype), list(x.shape))],
        [helper.make_tensor_value_info(node.output[0], TensorProto.FLOAT, [None] * x.ndim)],
        [numpy_helper.from_array(value, name) for name, value in values.items() if name != names[0]],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19 if newer else 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def run_onnxruntime(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    import onnxruntime

    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def shape_sized_model(inner: str, opset: int = 13, **attributes: object) -> onnx.ModelProto:
    """Resize of x [N, C, H, W] with sizes Concat(Shape(x)[0:2], <inner>), the way exporters build them.

    inner: "carrier" (Shape(like)[-2:], a second input like [1, 1, h, w]), "graph_input" (an int64 [2] input
    ``hw``) or "doubled" (Shape(x)[2:4] * 2, runtime arithmetic).
    """
    dims: list[int | str | None] = ["n", "c", "h", "w"]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)]
    initializers = [
        numpy_helper.from_array(np.array([0], dtype=np.int64), "zero"),
        numpy_helper.from_array(np.array([2], dtype=np.int64), "two"),
        numpy_helper.from_array(np.array([4], dtype=np.int64), "four"),
        numpy_helper.from_array(np.array([-2], dtype=np.int64), "minus_two"),
        numpy_helper.from_array(np.array([np.iinfo(np.int64).max], dtype=np.int64), "end"),
    ]
    nodes = [
        helper.make_node("Shape", ["x"], ["x_shape"], name="shape_x"),
        helper.make_node("Slice", ["x_shape", "zero", "two"], ["nc"], name="slice_nc"),
    ]
    if inner == "carrier":
        inputs.append(helper.make_tensor_value_info("like", TensorProto.FLOAT, [1, 1, "oh", "ow"]))
        nodes += [
            helper.make_node("Shape", ["like"], ["like_shape"], name="shape_like"),
            helper.make_node("Slice", ["like_shape", "minus_two", "end"], ["hw"], name="slice_hw"),
        ]
    elif inner == "graph_input":
        inputs.append(helper.make_tensor_value_info("hw", TensorProto.INT64, [2]))
    elif inner == "doubled":
        initializers.append(numpy_helper.from_array(np.array([2], dtype=np.int64), "factor_two"))
        nodes += [
            helper.make_node("Slice", ["x_shape", "two", "four"], ["in_hw"], name="slice_in_hw"),
            helper.make_node("Mul", ["in_hw", "factor_two"], ["hw"], name="double_hw"),
        ]
    else:
        raise ValueError(inner)
    nodes += [
        helper.make_node("Concat", ["nc", "hw"], ["sizes"], name="concat_sizes", axis=0),
        helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], name="resize", mode="cubic", **attributes),
    ]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None] * 4)]
    graph = helper.make_graph(nodes, "shape_sized", inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model
