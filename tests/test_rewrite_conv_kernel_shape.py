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
