"""Write the bundled example: a small super-resolution network whose upscale size is the shape of a second input.

The graph is laid out node for node the way PyTorch (opset 11) exports

    x = F.interpolate(x, size=factor.shape[-2:], mode="bicubic", align_corners=False)
    x = conv5x5(relu(conv1x1(relu(conv9x9(x)))))

so the cubic Resize takes its sizes from Shape(factor), the case TensorRT's plugin DynamicTRTResize was made
for. Weights are seeded random numbers: the example exercises the converter, not image quality.

    python examples/super_resolution.py -o super_resolution.onnx [--constant-scales 2.0]
"""

from __future__ import annotations

import argparse

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _conv_weights(rng: np.random.Generator, out_ch: int, in_ch: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    fan_in = in_ch * k * k
    weight = rng.normal(0.0, (2.0 / fan_in) ** 0.5, size=(out_ch, in_ch, k, k)).astype(np.float32)
    bias = rng.normal(0.0, 0.01, size=(out_ch,)).astype(np.float32)
    return weight, bias


def build_model(seed: int = 0, constant_scales: float | None = None) -> onnx.ModelProto:
    """Return the example model; with ``constant_scales`` the Resize uses fixed scales and no ``factor`` input."""
    rng = np.random.default_rng(seed)
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, "height", "width"])]
    nodes: list[onnx.NodeProto] = []
    initializers: list[onnx.TensorProto] = [
        numpy_helper.from_array(np.array([], dtype=np.float32), "roi"),
    ]
    if constant_scales is None:
        inputs.append(
            helper.make_tensor_value_info("factor", TensorProto.FLOAT, [1, 1, "out_height", "out_width"])
        )
        initializers += [
            numpy_helper.from_array(np.array([], dtype=np.float32), "scales"),
            numpy_helper.from_array(np.array([0], dtype=np.int64), "zero"),
            numpy_helper.from_array(np.array([2], dtype=np.int64), "two"),
            numpy_helper.from_array(np.array([-2], dtype=np.int64), "minus_two"),
            numpy_helper.from_array(np.array([np.iinfo(np.int64).max], dtype=np.int64), "int64_max"),
        ]
        nodes += [
            helper.make_node("Shape", ["factor"], ["factor_shape"], name="Shape_0"),
            helper.make_node(
                "Slice", ["factor_shape", "minus_two", "int64_max", "zero"], ["size_hw"], name="Slice_1"
            ),
            helper.make_node("Cast", ["size_hw"], ["size_hw_i64"], name="Cast_2", to=TensorProto.INT64),
            helper.make_node("Shape", ["input"], ["input_shape"], name="Shape_3"),
            helper.make_node(
                "Slice", ["input_shape", "zero", "two", "zero"], ["batch_channels"], name="Slice_4"
            ),
            helper.make_node("Concat", ["batch_channels", "size_hw_i64"], ["sizes"], name="Concat_5", axis=0),
        ]
        resize_inputs = ["input", "roi", "scales", "sizes"]
    else:
        initializers.append(
            numpy_helper.from_array(
                np.array([1.0, 1.0, constant_scales, constant_scales], dtype=np.float32), "scales"
            )
        )
        resize_inputs = ["input", "roi", "scales"]
    nodes.append(
        helper.make_node(
            "Resize",
            resize_inputs,
            ["upscaled"],
            name="Resize_6",
            mode="cubic",
            coordinate_transformation_mode="pytorch_half_pixel",
            cubic_coeff_a=-0.75,
            nearest_mode="floor",
        )
    )
    previous = "upscaled"
    layers = [(64, 3, 9, True), (32, 64, 1, True), (3, 32, 5, False)]
    for index, (out_ch, in_ch, k, relu) in enumerate(layers):
        weight, bias = _conv_weights(rng, out_ch, in_ch, k)
        w_name, b_name = f"conv{index + 1}.weight", f"conv{index + 1}.bias"
        initializers += [numpy_helper.from_array(weight, w_name), numpy_helper.from_array(bias, b_name)]
        conv_out = "output" if index == len(layers) - 1 else f"conv{index + 1}"
        pad = k // 2
        nodes.append(
            helper.make_node(
                "Conv",
                [previous, w_name, b_name],
                [conv_out],
                name=f"Conv_{7 + 2 * index}",
                kernel_shape=[k, k],
                pads=[pad, pad, pad, pad],
            )
        )
        previous = conv_out
        if relu:
            nodes.append(
                helper.make_node("Relu", [conv_out], [f"relu{index + 1}"], name=f"Relu_{8 + 2 * index}")
            )
            previous = f"relu{index + 1}"
    out_dims = (
        ["batch", 3, "out_height", "out_width"] if constant_scales is None else ["batch", 3, None, None]
    )
    outputs = [helper.make_tensor_value_info("output", TensorProto.FLOAT, out_dims)]
    graph = helper.make_graph(nodes, "super_resolution", inputs, outputs, initializers)
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 11)], producer_name="trtconvert-example"
    )
    # IR 6 is what opset-11 exporters write; it keeps the file loadable by every onnxruntime.
    model.ir_version = 6
    onnx.checker.check_model(model, full_check=True)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-o", "--output", default="super_resolution.onnx", help="where to write the model")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights")
    parser.add_argument(
        "--constant-scales",
        type=float,
        default=None,
        help="use fixed Resize scales instead of a factor input",
    )
    args = parser.parse_args()
    onnx.save(build_model(args.seed, args.constant_scales), args.output)
    print(args.output)


if __name__ == "__main__":
    main()
