"""INT8 Q/DQ models for TensorRT 11: placement, symmetry, types, plugin nodes, and the error against float, on
small generated CNNs and on the shared PP-OCR models, calibrated on text-like images."""

from __future__ import annotations

import logging

import numpy as np
import onnx
import pytest
from calibration_images import text_images
from onnx import TensorProto, helper, numpy_helper
from seeds import fresh_rng, tuned_rng

from trtconvert import log
from trtconvert.checks.ort_session import create_session
from trtconvert.errors import BadInput, MissingDependency
from trtconvert.int8 import qdq
from trtconvert.int8.calibration import CalibrationData
from trtconvert.int8.qdq import (
    INT8_TOLERANCES,
    compare_qdq,
    format_comparison,
    qdq_counts,
    quantize_qdq,
)
from trtconvert.model.info import graph_inputs

PLUGIN_DOMAIN = "trt.plugins"


def small_cnn(
    opset: int = 13, constant_weights: bool = False, plugin: str | None = None, size: int = 16
) -> onnx.ModelProto:
    """x[N,3,H,W] -> Conv+bias -> Relu -> (plugin) -> Conv -> Relu -> GlobalAveragePool -> Flatten -> Gemm."""
    rng = tuned_rng(f"small cnn {opset} {constant_weights} {plugin}")
    tensors = {
        "w1": rng.normal(0, 0.4, size=(8, 3, 3, 3)).astype(np.float32),
        "b1": rng.normal(0, 0.1, size=8).astype(np.float32),
        # Output channels of very different magnitudes: per-tensor weight scales would crush the small ones.
        "w2": (rng.normal(0, 0.2, size=(8, 8, 3, 3)) * np.logspace(-2, 0, 8)[:, None, None, None]).astype(
            np.float32
        ),
        "wg": rng.normal(0, 0.5, size=(4, 8)).astype(np.float32),
        "bg": rng.normal(0, 0.1, size=4).astype(np.float32),
    }
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
    ]
    after = "r1"
    if plugin == "DynamicTRTResize":
        nodes.append(
            helper.make_node(
                "DynamicTRTResize",
                ["r1"],
                ["up"],
                name="resize_plugin",
                domain=PLUGIN_DOMAIN,
                scales=[2.0, 2.0],
                coordinate_transformation_mode="half_pixel",
            )
        )
        after = "up"
    elif plugin is not None:
        nodes.append(helper.make_node(plugin, ["r1"], ["up"], name="other_plugin", domain=PLUGIN_DOMAIN))
        after = "up"
    nodes += [
        helper.make_node("Conv", [after, "w2"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("GlobalAveragePool", ["r2"], ["pooled"], name="pool"),
        helper.make_node("Flatten", ["pooled"], ["flat"], name="flatten"),
        helper.make_node("Gemm", ["flat", "wg", "bg"], ["y"], name="fc", transB=1),
    ]
    initializers = []
    if constant_weights:
        constants = [
            helper.make_node(
                "Constant", [], [name], name=f"const_{name}", value=numpy_helper.from_array(value)
            )
            for name, value in tensors.items()
        ]
        nodes = constants + nodes
    else:
        initializers = [numpy_helper.from_array(value, name) for name, value in tensors.items()]
    graph = helper.make_graph(
        nodes,
        "small_cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, size, size])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4])],
        initializers,
    )
    imports = [helper.make_opsetid("", opset)]
    if plugin is not None:
        imports.append(helper.make_opsetid(PLUGIN_DOMAIN, 1))
    model = helper.make_model(graph, opset_imports=imports)
    model.ir_version = 8
    return model


def image_data(model: onnx.ModelProto, samples: int, shape: tuple[int, ...], label: str) -> CalibrationData:
    images = text_images(samples * shape[0], shape[2], shape[3], tuned_rng(label))
    arrays = {"x": images.reshape(samples, *shape)}
    return CalibrationData(arrays, samples, f"text-like images ({label})", tuple(graph_inputs(model)))


def _producers(model: onnx.ModelProto) -> dict[str, onnx.NodeProto]:
    return {output: node for node in model.graph.node for output in node.output}


def _consumers(model: onnx.ModelProto) -> dict[str, list[onnx.NodeProto]]:
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    return consumers


def assert_tensorrt_qdq(model: onnx.ModelProto, float_model: onnx.ModelProto, op_types=qdq.DEFAULT_OP_TYPES):
    """What TensorRT's explicit quantization wants: standard-domain int8 Q/DQ with zero points 0, DQ only in
    front of the weighted ops, weights per channel, float biases, float graph inputs and outputs."""
    initializers = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    counts = qdq_counts(model)
    assert counts["QuantizeLinear"] > 0 and counts["DequantizeLinear"] >= counts["QuantizeLinear"]
    consumers, producers = _consumers(model), _producers(model)
    for node in model.graph.node:
        if node.op_type not in ("QuantizeLinear", "DequantizeLinear"):
            continue
        assert node.domain in ("", "ai.onnx")
        zero_point = initializers[node.input[2]]
        assert zero_point.dtype == np.int8 and not zero_point.any(), node.name
        if node.op_type == "QuantizeLinear":
            assert all(c.op_type == "DequantizeLinear" for c in consumers[node.output[0]]), node.name
        if node.op_type == "DequantizeLinear":
            # Only the weighted ops read int8-rounded values (a residual Add beside a Conv reads the float).
            assert all(c.op_type in op_types for c in consumers.get(node.output[0], [])), node.name
            source = node.input[0]
            if source in initializers:  # a weight: int8, one scale or one per channel of the axis
                weight, scale = initializers[source], initializers[node.input[1]]
                axis = next((helper.get_attribute_value(a) for a in node.attribute if a.name == "axis"), 1)
                assert weight.dtype == np.int8
                assert scale.ndim == 0 or scale.size == weight.shape[axis], node.name
    for node in model.graph.node:
        if node.op_type in op_types:
            data = producers.get(node.input[0])
            assert data is not None and data.op_type == "DequantizeLinear", f"{node.name} input not quantized"
            if len(node.input) > 2:  # the bias stays a float initializer
                assert initializers[node.input[2]].dtype == np.float32
    assert [(i.name, i.type.tensor_type.elem_type) for i in model.graph.input] == [
        (i.name, i.type.tensor_type.elem_type) for i in float_model.graph.input
    ]
    assert [(o.name, o.type.tensor_type.elem_type) for o in model.graph.output] == [
        (o.name, o.type.tensor_type.elem_type) for o in float_model.graph.output
    ]
    opset = {o.domain: o.version for o in model.opset_import}
    assert opset.get("", opset.get("ai.onnx")) >= qdq.QDQ_OPSET
    onnx.checker.check_model(model)


def test_small_cnn_gets_tensorrt_style_qdq_and_stays_close_to_float(capsys):
    model = small_cnn()
    data = image_data(model, 16, (1, 3, 16, 16), "small cnn")
    quantized = quantize_qdq(model, data)
    # onnxruntime's quantizer prints progress; --json owns stdout, so nothing may reach it.
    assert capsys.readouterr().out == ""
    assert_tensorrt_qdq(quantized, model)
    # conv1, conv2 and fc each get one activation Q/DQ and one weight DQ.
    assert qdq_counts(quantized) == {"QuantizeLinear": 3, "DequantizeLinear": 6}
    initializers = {t.name: numpy_helper.to_array(t) for t in quantized.graph.initializer}
    weight_scales = [
        initializers[n.input[1]]
        for n in quantized.graph.node
        if n.op_type == "DequantizeLinear" and n.input[0] in initializers
    ]
    assert sorted(s.size for s in weight_scales) == [4, 8, 8]  # per output channel of fc, conv1, conv2
    comparison = compare_qdq(model, quantized, data)
    (output,) = comparison.outputs
    # Three quantized layers on a small network, outputs of magnitude ~1: over 260 seeds every output element
    # was within INT8's default tolerance, with max abs errors of 0.009 (median) to 0.054 (worst).
    assert comparison.ok() and output.max_abs < 0.1, format_comparison(comparison)
    assert comparison.samples == 16 and output.elements == 16 * 4


def residual_cnn() -> onnx.ModelProto:
    """x -> Conv -> Relu (r) -> Conv -> Add(., r) -> y: r feeds a Conv and the residual Add."""
    rng = tuned_rng("residual cnn")
    weights = [
        numpy_helper.from_array(rng.normal(0, 0.3, size=(4, 3, 3, 3)).astype(np.float32), "w1"),
        numpy_helper.from_array(rng.normal(0, 0.3, size=(4, 4, 3, 3)).astype(np.float32), "w2"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r"], name="relu"),
        helper.make_node("Conv", ["r", "w2"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["c2", "r"], ["y"], name="residual"),
    ]
    graph = helper.make_graph(
        nodes,
        "residual",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 16, 16])],
        weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


def test_residual_add_reads_the_float_tensor_unless_add_is_quantized():
    model = residual_cnn()
    data = image_data(model, 8, (1, 3, 16, 16), "residual")
    quantized = quantize_qdq(model, data)
    assert_tensorrt_qdq(quantized, model)
    add = next(n for n in quantized.graph.node if n.op_type == "Add")
    assert list(add.input) == ["c2", "r"]
    with_add = quantize_qdq(model, data, op_types=(*qdq.DEFAULT_OP_TYPES, "Add"))
    assert_tensorrt_qdq(with_add, model, op_types=(*qdq.DEFAULT_OP_TYPES, "Add"))
    producers = _producers(with_add)
    add = next(n for n in with_add.graph.node if n.op_type == "Add")
    assert [producers[name].op_type for name in add.input] == ["DequantizeLinear", "DequantizeLinear"]
    # Every output element of this net carries its own error (no pooling averages it out): over 200 seeds
    # 99.6-100 % of them were within tolerance, 98.8-100 % with the Add quantized too.
    for quantized_model in (quantized, with_add):
        comparison = compare_qdq(model, quantized_model, data)
        assert comparison.outputs[0].within >= 0.97, format_comparison(comparison)


def test_quantized_model_runs_on_other_shapes():
    model = small_cnn()
    quantized = quantize_qdq(model, image_data(model, 4, (1, 3, 16, 16), "shapes"))
    session = create_session(quantized)
    (y,) = session.run(None, {"x": text_images(2, 16, 16, fresh_rng("batch of two"))})
    assert y.shape == (2, 4) and np.all(np.isfinite(y))


@pytest.mark.parametrize("method", ["entropy", "percentile"])
def test_other_calibration_methods_clip_outliers(method):
    model = small_cnn(size=64)
    # 16 x 3 x 64 x 64 values: one outlier among them is rarer than the percentile's 0.001 %.
    data = image_data(model, 16, (1, 3, 64, 64), f"method {method}")
    data.arrays["x"][3, 0, 0, 5, 5] = 40.0  # one outlier value stretches the input's max |x|
    minmax = quantize_qdq(model, data, "minmax")
    other = quantize_qdq(model, data, method)
    assert_tensorrt_qdq(other, model)

    def input_scale(quantized):
        initializers = {t.name: numpy_helper.to_array(t) for t in quantized.graph.initializer}
        (q,) = [n for n in quantized.graph.node if n.op_type == "QuantizeLinear" and n.input[0] == "x"]
        return float(initializers[q.input[1]])

    # MinMax keeps the outlier: scale = 40 / 127. Entropy (TensorRT's 2048-bin search, not quantize_static's
    # 128 bins, which equal MinMax) and the 99.999th percentile both clip it.
    assert input_scale(minmax) == pytest.approx(40.0 / 127, rel=1e-5)
    assert input_scale(other) < 0.5 * input_scale(minmax)


def test_constant_weights_and_an_old_opset_still_get_per_channel_weights():
    model = small_cnn(opset=11, constant_weights=True)
    data = image_data(model, 8, (1, 3, 16, 16), "opset 11")
    quantized = quantize_qdq(model, data)
    assert not [n for n in quantized.graph.node if n.op_type == "Constant"]
    assert_tensorrt_qdq(quantized, model)
    axes = [
        helper.get_attribute_value(a)
        for n in quantized.graph.node
        if n.op_type == "DequantizeLinear"
        for a in n.attribute
        if a.name == "axis"
    ]
    assert sorted(axes) == [0, 0, 0]  # conv1, conv2 and fc (transB) weights, per output channel
    assert compare_qdq(model, quantized, data).ok()


def test_calibration_runs_through_the_plugin_and_keeps_it_float():
    model = small_cnn(plugin="DynamicTRTResize")
    data = image_data(model, 12, (1, 3, 16, 16), "plugin")
    quantized = quantize_qdq(model, data)
    assert_tensorrt_qdq(quantized, model)
    (plugin,) = [n for n in quantized.graph.node if n.domain == PLUGIN_DOMAIN]
    assert plugin.name == "resize_plugin" and plugin.op_type == "DynamicTRTResize"
    assert _producers(quantized)[plugin.input[0]].op_type == "Relu"  # no Q/DQ in front of the plugin
    # conv2 reads the plugin's output through a Q/DQ pair: that range was calibrated through the plugin.
    conv2 = next(n for n in quantized.graph.node if n.name == "conv2")
    dq = _producers(quantized)[conv2.input[0]]
    q = _producers(quantized)[dq.input[0]]
    assert q.op_type == "QuantizeLinear" and q.input[0] == "up"
    comparison = compare_qdq(model, quantized, data)
    # As without the plugin: over 200 seeds all within tolerance, max abs error at most 0.033.
    assert comparison.ok() and comparison.outputs[0].max_abs < 0.1, format_comparison(comparison)


def test_unnamed_plugin_nodes_are_named_and_excluded():
    model = small_cnn(plugin="DynamicTRTResize")
    next(n for n in model.graph.node if n.domain == PLUGIN_DOMAIN).name = ""
    quantized = quantize_qdq(model, image_data(model, 4, (1, 3, 16, 16), "unnamed plugin"))
    (plugin,) = [n for n in quantized.graph.node if n.domain == PLUGIN_DOMAIN]
    assert plugin.name.startswith("DynamicTRTResize_")
    assert_tensorrt_qdq(quantized, model)


def test_plugins_without_a_cpu_reference_are_refused():
    model = small_cnn(plugin="EfficientNMS_TRT")
    with pytest.raises(
        BadInput, match=r"cannot run plugin node\(s\) 'other_plugin' \(trt.plugins::EfficientNMS_TRT\)"
    ):
        quantize_qdq(model, image_data(model, 2, (1, 3, 16, 16), "nms"))


def test_older_onnxruntime_without_range_cache(monkeypatch):
    monkeypatch.setattr(qdq, "_range_cache_supported", lambda: False)
    model = small_cnn()
    data = image_data(model, 8, (1, 3, 16, 16), "fallback")
    quantized = quantize_qdq(model, data)
    assert_tensorrt_qdq(quantized, model)
    assert compare_qdq(model, quantized, data).ok()
    with_plugin = small_cnn(plugin="DynamicTRTResize")
    with pytest.raises(MissingDependency, match="pip install -U onnxruntime"):
        quantize_qdq(with_plugin, image_data(with_plugin, 2, (1, 3, 16, 16), "fallback plugin"))


def test_bad_method_and_missing_samples_are_refused():
    model = small_cnn()
    data = image_data(model, 2, (1, 3, 16, 16), "bad")
    with pytest.raises(BadInput, match="calibration method 'kl' is not one of minmax, entropy, percentile"):
        quantize_qdq(model, data, "kl")
    empty = CalibrationData({"other": data.arrays["x"]}, 2, "wrong names")
    with pytest.raises(BadInput, match=r"wrong names has no samples for input\(s\) x"):
        quantize_qdq(model, empty)


def test_report_line_and_root_logging_left_as_found():
    records: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())
    log.LOGGER.addHandler(handler)
    level, root_level = log.LOGGER.level, logging.getLogger().level
    log.LOGGER.setLevel(logging.DEBUG)
    try:
        model = small_cnn()
        data = image_data(model, 2, (1, 3, 16, 16), "report")
        timing = CalibrationData(data.arrays, 2, "random", data.inputs, timing_only=True)
        quantize_qdq(model, timing)
    finally:
        log.LOGGER.removeHandler(handler)
        log.LOGGER.setLevel(level)
    (line,) = [r for r in records if "Q/DQ by onnxruntime" in r]
    assert "Q/DQ by onnxruntime (minmax, 2 samples): 3 QuantizeLinear, 6 DequantizeLinear" in line
    assert "for timing only" in line
    assert logging.getLogger().level == root_level


def test_comparison_of_a_model_with_itself_and_its_report_line():
    model = small_cnn()
    data = image_data(model, 3, (1, 3, 16, 16), "self")
    comparison = compare_qdq(model, model, data, max_samples=2)
    (output,) = comparison.outputs
    assert comparison.samples == 2 and output.max_abs == 0.0 and output.within == 1.0
    line = format_comparison(comparison)
    assert line.startswith(f"int8 vs float on 2 calibration samples, atol {INT8_TOLERANCES[0]:g}")
    assert line.endswith("ok") and "y 100.00% within" in line
    assert comparison.to_json()["outputs"][0]["within"] == 1.0


def test_comparison_flags_outputs_out_of_tolerance():
    model = small_cnn()
    broken = onnx.ModelProto()
    broken.CopyFrom(model)
    bias = next(t for t in broken.graph.initializer if t.name == "bg")
    bias.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(bias) + np.float32(1.0), "bg"))
    comparison = compare_qdq(model, broken, image_data(model, 2, (1, 3, 16, 16), "broken"))
    assert not comparison.ok() and comparison.outputs[0].within == 0.0
    assert comparison.outputs[0].max_abs == pytest.approx(1.0, abs=1e-5)
    assert "BELOW 99% WITHIN TOLERANCE" in format_comparison(comparison)


# --- the shared PP-OCR models ----------------------------------------------------------------------------------


def test_ppocr_det_int8(shared_models):
    model = onnx.load(shared_models / "ppocr_v4_det.onnx")
    data = image_data(model, 16, (1, 3, 64, 64), "ppocr det")
    quantized = quantize_qdq(model, data)
    assert_tensorrt_qdq(quantized, model)
    comparison = compare_qdq(model, quantized, data)
    (output,) = comparison.outputs
    # The output is a text-probability map behind a sigmoid, mostly 0 with steep edges around glyphs. Over 48
    # seeds of 16 text-like 64x64 images, 97.5-99.6 % of its elements were within INT8's default tolerance
    # (atol = rtol = 0.05; about the same on images it was not calibrated on) and the mean abs error was
    # 0.002-0.018; the rest are edge pixels that flip between ~0 and ~1 (max abs error ~1), where a small shift
    # of the logit crosses the sigmoid. 0.95 leaves room for seeds not drawn yet; the default verdict's 0.99 is
    # missed on most seeds, and that is reported, not hidden.
    assert output.within >= 0.95 and output.mean_abs < 0.03, format_comparison(comparison)


def test_ppocr_cls_int8(shared_models):
    model = onnx.load(shared_models / "ppocr_mobile_v2_cls.onnx")
    # The config's opt shape, 8 crops of 48x192 per sample.
    data = image_data(model, 4, (8, 3, 48, 192), "ppocr cls")
    quantized = quantize_qdq(model, data)
    assert_tensorrt_qdq(quantized, model)
    comparison = compare_qdq(model, quantized, data)
    (output,) = comparison.outputs
    # The classifier (MobileNetV3 with hard-swish and squeeze-excite blocks, softmax over 0 / 180 degrees) is
    # INT8-fragile: over 48 seeds only 48-89 % of its probabilities stayed within atol = rtol = 0.05, with max
    # abs errors of 0.16-0.60 and mean abs errors of 0.027-0.10. Its float outputs on these images are not
    # confident either: input noise of sigma 0.01 alone moves them by up to 0.1. These bounds only catch a
    # broken quantization (activation scales off by 4x or 16x gave 9-28 % within and mean abs errors above
    # 0.3); the default verdict reports this model BELOW tolerance, and that is the finding.
    assert output.within >= 0.35 and output.mean_abs < 0.15 and output.max_abs < 0.8, format_comparison(
        comparison
    )


def test_quantized_convs_carry_the_kernel_shape_tensorrts_parser_reads():
    # Once quantized, a Conv's weights come through a DequantizeLinear, and TensorRT's ONNX parser takes the
    # kernel size of such a Conv from kernel_shape alone (prepare/rewrite/rules/conv_kernel_shape.py).
    model = residual_cnn()
    assert all(
        not n.attribute or "kernel_shape" not in {a.name for a in n.attribute} for n in model.graph.node
    )
    quantized = quantize_qdq(model, image_data(model, 4, (1, 3, 16, 16), "residual cnn"))
    kernels = {
        n.name: helper.get_attribute_value(next(a for a in n.attribute if a.name == "kernel_shape"))
        for n in quantized.graph.node
        if n.op_type == "Conv"
    }
    assert kernels == {"conv1": [3, 3], "conv2": [3, 3]}
    assert all(not any(a.name == "kernel_shape" for a in n.attribute) for n in model.graph.node)
