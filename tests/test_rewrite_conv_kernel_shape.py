"""The conv_kernel_shape rule: a Conv whose weights are computed (explicit quantization's DequantizeLinear) gets the
kernel_shape that TensorRT's ONNX parser reads for such a node, from the weights' shape; nothing else changes.

TensorRT itself is not involved here: the parser's need is read from its sources (onnx-tensorrt `release/8.5-GA`
`onnx2trt_utils.cpp` and `release/10.1-GA` `importerUtils.cpp`, `convMultiInput`), and seen on TensorRT 8.5.3, where
the Q/DQ conv of `model_factories.qdq_conv_model` failed to parse without it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from model_factories import conv_model, qdq_conv_model
from seeds import fresh_rng

from trtconvert.prepare.rewrite import plan_rewrites, rewrite_model
from trtconvert.settings.target import parse_target

T85, T11 = parse_target("8.5"), parse_target("11")


def _attrs(model: onnx.ModelProto, op: str) -> dict:
    [node] = [n for n in model.graph.node if n.op_type == op]
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


@pytest.mark.parametrize("target", [T85, T11])
def test_a_quantized_conv_gets_its_weights_kernel_shape(target) -> None:
    model = qdq_conv_model()
    assert "kernel_shape" not in _attrs(model, "Conv")
    result = rewrite_model(model, "auto", target)
    assert [(d.node, d.decision, d.rule) for d in result.decisions] == [
        ("conv", "rewrite", "conv_kernel_shape")
    ]
    assert _attrs(result.model, "Conv")["kernel_shape"] == [3, 3]
    assert "kernel_shape" not in _attrs(model, "Conv")  # the input model is left as it was


def test_the_attribute_changes_nothing_onnxruntime_computes() -> None:
    from trtconvert.checks.ort_session import create_session

    model = qdq_conv_model()
    rewritten = rewrite_model(model, "auto", T85).model
    x = fresh_rng().normal(size=(1, 3, 16, 16)).astype(np.float32)
    before = create_session(model).run(None, {"x": x})[0]
    after = create_session(rewritten).run(None, {"x": x})[0]
    np.testing.assert_array_equal(before, after)


def test_a_conv_with_initializer_weights_or_its_own_kernel_shape_is_not_touched() -> None:
    plain = conv_model()
    assert plan_rewrites(plain, T85) == []
    quantized = qdq_conv_model()
    for node in quantized.graph.node:
        if node.op_type == "Conv":
            node.attribute.append(onnx.helper.make_attribute("kernel_shape", [3, 3]))
    assert plan_rewrites(quantized, T85) == []


def test_rewrite_none_keeps_it_and_says_the_build_will_fail() -> None:
    [decision] = rewrite_model(qdq_conv_model(), "none", T85).decisions
    assert decision.decision == "keep" and "needs kernel_shape" in decision.target_refuses


def test_inspect_and_prepare_report_it(run_cli, tmp_path: Path) -> None:
    path = tmp_path / "qdq.onnx"
    onnx.save(qdq_conv_model(), path)
    report = run_cli("inspect", path, "--target-tensorrt", "8.5", "--json")
    assert report.code == 0, report.stderr
    assert [d["rule"] for d in json.loads(report.stdout)["rewrites"]] == ["conv_kernel_shape"]
    out = tmp_path / "out.onnx"
    prepared = run_cli(
        "prepare", path, "-o", out, "--target-tensorrt", "8.5", "--precision", "int8", "--verify"
    )
    assert prepared.code == 0, prepared.stderr
    assert "1 of 1 candidate node(s) rewritten" in prepared.stderr
    assert _attrs(onnx.load(out), "Conv")["kernel_shape"] == [3, 3]


def _computed_weights_model(op: str, weight_shape: list, x_shape: list, **attrs) -> onnx.ModelProto:
    """x -> op(x, Identity(w_in)): weights that are a tensor, of the shape given (ints, or names for unknown)."""
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node("Identity", ["w_in"], ["w"], name="weights"),
        helper.make_node(op, ["x", "w"], ["y"], name="conv", **attrs),
    ]
    graph = helper.make_graph(
        nodes,
        "computed_weights",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape),
            helper.make_tensor_value_info("w_in", TensorProto.FLOAT, weight_shape),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None] * len(x_shape))],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


@pytest.mark.parametrize(
    ("op", "weight_shape", "x_shape", "attrs", "kernel"),
    [
        ("Conv", [8, 3, 5], [1, 3, 32], {}, [5]),  # 1-D
        ("Conv", [8, 1, 3, 3], [1, 4, 16, 16], {"group": 4}, [3, 3]),  # grouped: (M, C/group, kH, kW)
        ("ConvTranspose", [3, 8, 2, 4], [1, 3, 16, 16], {}, [2, 4]),  # (C, M/group, kH, kW)
        ("Conv", [8, 3, 1, 3, 3], [1, 3, 4, 16, 16], {}, [1, 3, 3]),  # 3-D
    ],
)
def test_every_conv_form_gets_the_spatial_dims_of_its_weights(
    op, weight_shape, x_shape, attrs, kernel
) -> None:
    result = rewrite_model(_computed_weights_model(op, weight_shape, x_shape, **attrs), "auto", T85)
    assert [d.decision for d in result.decisions] == ["rewrite"]
    assert _attrs(result.model, op)["kernel_shape"] == kernel


def test_weights_of_unknown_shape_are_named_by_the_parser_check(run_cli, tmp_path: Path) -> None:
    path = tmp_path / "dynamic_weights.onnx"
    onnx.save(_computed_weights_model("Conv", [8, 3, "k", "k"], [1, 3, 16, 16]), path)
    out = tmp_path / "out.onnx"
    result = run_cli("prepare", path, "-o", out, "--target-tensorrt", "8.5")
    assert result.code == 2 and not out.exists()
    assert "from kernel_shape alone" in result.stderr and "'conv'" in result.stderr
    assert "give the node a kernel_shape attribute" in result.stderr
    assert result.stderr.count("error:") == 1 and "Traceback" not in result.stderr
