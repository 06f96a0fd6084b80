"""ONNX models shared by the tests: small generated ones, and the flags that run the shared real ones."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def conv_model(ir_version: int = 8, opset: int = 13, dynamic: bool = True) -> onnx.ModelProto:
    """Conv -> Add(constant subgraph) -> Relu, with a foldable Mul of two constants feeding the Add."""
    rng = np.random.default_rng(1)
    dims = ["batch", 3, "height", "width"] if dynamic else [1, 3, 8, 8]
    weight = numpy_helper.from_array(rng.normal(size=(4, 3, 3, 3)).astype(np.float32), "w")
    a = numpy_helper.from_array(rng.normal(size=(1, 4, 1, 1)).astype(np.float32), "a")
    b = numpy_helper.from_array(rng.normal(size=(1, 4, 1, 1)).astype(np.float32), "b")
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Mul", ["a", "b"], ["ab"], name="fold_me"),
        helper.make_node("Add", ["c", "ab"], ["s"], name="add"),
        helper.make_node("Relu", ["s"], ["y"], name="relu"),
    ]
    graph = helper.make_graph(
        nodes,
        "conv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [dims[0], 4, dims[2], dims[3]])],
        [weight, a, b],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = ir_version
    return model


def embedding_model() -> onnx.ModelProto:
    """ids (int64, [batch, 3], values 0..15) -> Gather from a 16x8 table -> MatMul 8x8 -> Add x (float32,
    [batch, 3, 8]) -> y: a model with an int64 input, which TensorRT before 9.0 binds as int32; the MatMul is a
    layer INT8 calibration has to find scales for."""
    rng = np.random.default_rng(64)
    table = numpy_helper.from_array(rng.normal(size=(16, 8)).astype(np.float32), "table")
    weight = numpy_helper.from_array(rng.normal(0, 0.3, size=(8, 8)).astype(np.float32), "project_weight")
    nodes = [
        helper.make_node("Gather", ["table", "ids"], ["rows"], name="lookup", axis=0),
        helper.make_node("MatMul", ["rows", "project_weight"], ["projected"], name="project"),
        helper.make_node("Add", ["projected", "x"], ["y"], name="add"),
    ]
    graph = helper.make_graph(
        nodes,
        "embedding",
        [
            helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", 3]),
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 8]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3, 8])],
        [table, weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


# Flags that cover every dynamic input of each shared real model, with narrow profiles so that TensorRT builds
# stay short. silero: its sample rate frozen, and batch 1 (its If nodes on batch == 1 fold away only then).
REAL_MODELS = {
    "ppocr_v4_det.onnx": ["--profile", "x=1x3x64x64:1x3x96x96:1x3x128x128"],
    "ppocr_mobile_v2_cls.onnx": ["--profile", "x=1x3x48x192:4x3x48x192:8x3x48x192"],
    "silero_vad_16k_op15.onnx": ["--profile", "input=1x512,state=2x1x128", "--freeze", "sr=16000"],
}


def overflow_model(batch: int = 4) -> onnx.ModelProto:
    """x (in [-1, 1]) -> Add 2 -> MatMul to about 1.6e5 (past fp16's 65504) -> Mul 1e-4 -> Relu: in fp32 the output
    is about 16; in fp16 the MatMul's output is inf, and so is everything after it."""
    rng = np.random.default_rng(24)
    weight = numpy_helper.from_array(
        (5000 * rng.uniform(0.9, 1.1, size=(16, 8))).astype(np.float32), "weight"
    )
    two = numpy_helper.from_array(np.array(2.0, np.float32), "two")
    scale = numpy_helper.from_array(np.array(1e-4, np.float32), "scale")
    nodes = [
        helper.make_node("Add", ["x", "two"], ["shifted"], name="shift"),
        helper.make_node("MatMul", ["shifted", "weight"], ["large"], name="big_matmul"),
        helper.make_node("Mul", ["large", "scale"], ["scaled"], name="scale_back"),
        helper.make_node("Relu", ["scaled"], ["y"], name="relu"),
    ]
    graph = helper.make_graph(
        nodes,
        "overflow",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 8])],
        [weight, two, scale],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def cancellation_model(rows: int = 64, width: int = 256) -> onnx.ModelProto:
    """x (in [-1, 1]) -> two MatMuls by whole-number weights in [-64, 64] that differ by one everywhere (outputs
    up to about 1500, which fp16 rounds to within 0.5) -> Sub of the two (up to about 40: the cancellation) ->
    Mul 0.5. Nothing leaves fp16's range, so the overflow finder names nothing; with the MatMuls' outputs in
    fp16 the difference is off by up to about 1, in fp32 by about 1e-3. The weights are exact in fp16 and TF32,
    so only the rounding of the products matters."""
    rng = np.random.default_rng(31)
    first = rng.integers(-64, 65, size=(width, width)).astype(np.float32)
    second = first + rng.choice(np.array([-1.0, 1.0], np.float32), size=(width, width))
    nodes = [
        helper.make_node("MatMul", ["x", "w_a"], ["a"], name="matmul_a"),
        helper.make_node("MatMul", ["x", "w_b"], ["b"], name="matmul_b"),
        helper.make_node("Sub", ["a", "b"], ["difference"], name="cancel"),
        helper.make_node("Mul", ["difference", "half"], ["y"], name="halve"),
    ]
    graph = helper.make_graph(
        nodes,
        "cancellation",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [rows, width])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [rows, width])],
        [
            numpy_helper.from_array(first, "w_a"),
            numpy_helper.from_array(second, "w_b"),
            numpy_helper.from_array(np.array(0.5, np.float32), "half"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def qdq_conv_model() -> onnx.ModelProto:
    """A small conv net quantized explicitly, as ModelOpt or onnxruntime's quantizer write it: the activation
    through QuantizeLinear -> DequantizeLinear, the int8 weights through a per-channel DequantizeLinear, then
    Conv -> Relu. Symmetric (zero points 0)."""
    rng = np.random.default_rng(5)
    weight = rng.normal(0, 0.3, size=(8, 3, 3, 3)).astype(np.float32)
    weight_scale = (np.abs(weight).reshape(8, -1).max(axis=1) / 127).astype(np.float32)
    weight_q = np.clip(np.round(weight / weight_scale[:, None, None, None]), -127, 127).astype(np.int8)
    initializers = [
        numpy_helper.from_array(np.array(1.0 / 127, np.float32), "x_scale"),
        numpy_helper.from_array(np.array(0, np.int8), "x_zero"),
        numpy_helper.from_array(weight_q, "w_q"),
        numpy_helper.from_array(weight_scale, "w_scale"),
        numpy_helper.from_array(np.zeros(8, np.int8), "w_zero"),
        numpy_helper.from_array(rng.normal(0, 0.1, size=(8,)).astype(np.float32), "bias"),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "x_scale", "x_zero"], ["x_q"], name="x_quantize"),
        helper.make_node("DequantizeLinear", ["x_q", "x_scale", "x_zero"], ["x_dq"], name="x_dequantize"),
        helper.make_node(
            "DequantizeLinear", ["w_q", "w_scale", "w_zero"], ["w"], name="w_dequantize", axis=0
        ),
        helper.make_node("Conv", ["x_dq", "w", "bias"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["y"], name="relu"),
    ]
    graph = helper.make_graph(
        nodes,
        "qdq_conv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 16, 16])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


def _body_overflow_weights() -> tuple[onnx.TensorProto, onnx.TensorProto]:
    """A 64x64 weight (values about 3e4) that takes inputs in [-1, 1] past fp16's 65504, and a 1e-5 scale that
    brings the product back to a few units."""
    rng = np.random.default_rng(5)
    weight = (rng.uniform(0.5, 1.0, size=(64, 64)) * 40000).astype(np.float32)
    return numpy_helper.from_array(weight, "W"), numpy_helper.from_array(np.array(1e-5, np.float32), "s")


def if_overflow_model() -> onnx.ModelProto:
    """x [4, 64] -> If (sum(x) > -1e4, decided at run time, so fold keeps it): then MatMul past fp16's range
    (then_matmul) and a Mul scaling it back (then_scale); else x unchanged. Then Add 1."""
    weight, scale = _body_overflow_weights()
    then_branch = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "W"], ["t_big"], name="then_matmul"),
            helper.make_node("Mul", ["t_big", "s"], ["t_out"], name="then_scale"),
        ],
        "then",
        [],
        [helper.make_tensor_value_info("t_out", TensorProto.FLOAT, None)],
    )
    else_branch = helper.make_graph(
        [helper.make_node("Mul", ["x", "one"], ["e_out"], name="else_mul")],
        "else",
        [],
        [helper.make_tensor_value_info("e_out", TensorProto.FLOAT, None)],
    )
    nodes = [
        helper.make_node("ReduceSum", ["x"], ["sum"], name="sum", keepdims=0),
        helper.make_node("Greater", ["sum", "low"], ["cond"], name="above"),
        helper.make_node(
            "If", ["cond"], ["y0"], name="the_if", then_branch=then_branch, else_branch=else_branch
        ),
        helper.make_node("Add", ["y0", "one"], ["y"], name="add_one"),
    ]
    constants = [
        numpy_helper.from_array(np.array(1.0, np.float32), "one"),
        numpy_helper.from_array(np.array(-1e4, np.float32), "low"),
    ]
    graph = helper.make_graph(
        nodes,
        "if_overflow",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 64])],
        [weight, scale, *constants],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


def loop_overflow_model() -> onnx.ModelProto:
    """x [4, 64] -> Loop of 2 iterations whose body multiplies the carried value by W (loop_matmul, past fp16's
    range) and scales it back (loop_scale), with a scan output of its magnitude; y = final value + sum of scans."""
    weight, scale = _body_overflow_weights()
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"], name="keep_going"),
            helper.make_node("MatMul", ["v_in", "W"], ["big"], name="loop_matmul"),
            helper.make_node("Mul", ["big", "s"], ["v_out"], name="loop_scale"),
            helper.make_node("Abs", ["v_out"], ["scan"], name="loop_abs"),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v_in", TensorProto.FLOAT, None),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v_out", TensorProto.FLOAT, None),
            helper.make_tensor_value_info("scan", TensorProto.FLOAT, None),
        ],
    )
    nodes = [
        helper.make_node("Loop", ["trips", "true", "x"], ["v_final", "scans"], name="the_loop", body=body),
        helper.make_node("ReduceSum", ["scans", "axis0"], ["scan_sum"], name="sum_scans", keepdims=0),
        helper.make_node("Add", ["v_final", "scan_sum"], ["y"], name="add_scans"),
    ]
    constants = [
        numpy_helper.from_array(np.array(2, np.int64), "trips"),
        numpy_helper.from_array(np.array(True), "true"),
        numpy_helper.from_array(np.array([0], np.int64), "axis0"),
    ]
    graph = helper.make_graph(
        nodes,
        "loop_overflow",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 64])],
        [weight, scale, *constants],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


def weight_overflow_model() -> onnx.ModelProto:
    """x [4, 8] / w (an initializer of 2e5, past fp16's 65504: fp16 clamps it) * k (a Constant node of 5e4, within
    range): in fp32 y = x / 4; with w clamped, y is about 3 times larger."""
    nodes = [
        helper.make_node(
            "Constant",
            [],
            ["k"],
            name="k_const",
            value=numpy_helper.from_array(np.array(5e4, np.float32), "kv"),
        ),
        helper.make_node("Div", ["x", "w"], ["small"], name="divide"),
        helper.make_node("Mul", ["small", "k"], ["y"], name="times_k"),
    ]
    graph = helper.make_graph(
        nodes,
        "weight_overflow",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 8])],
        [numpy_helper.from_array(np.full((8,), 2e5, np.float32), "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model
