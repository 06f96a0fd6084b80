"""The precision switch (builder flags on TensorRT 10, ONNX conversion on 11) and the conversion itself."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from trtconvert.checks.compare import CompareRequest, compare_models
from trtconvert.errors import BadInput, MissingDependency
from trtconvert.model.info import graph_inputs
from trtconvert.prepare.precision import precision_stage
from trtconvert.settings.precision_plan import precision_plan
from trtconvert.settings.tolerances import DEFAULT_TOLERANCES

TRT10 = SimpleNamespace(major=10, minor=13)
TRT11 = SimpleNamespace(major=11, minor=0)
HAS_FP16_CONVERTER = importlib.util.find_spec("onnxconverter_common") is not None
needs_converter = pytest.mark.skipif(
    not HAS_FP16_CONVERTER, reason="onnxconverter-common is not installed (pip install onnxconverter-common)"
)


@pytest.mark.parametrize(
    ("precision", "flags"),
    [("fp32", ()), ("fp16", ("fp16",)), ("bf16", ("bf16",))],
)
def test_tensorrt_10_takes_builder_flags(precision: str, flags: tuple[str, ...]) -> None:
    plan = precision_plan(precision, TRT10)
    assert plan.builder_flags == flags
    assert plan.convert_onnx_to is None
    assert plan.strongly_typed is False


@pytest.mark.parametrize(("precision", "convert"), [("fp32", None), ("fp16", "fp16"), ("bf16", "bf16")])
def test_tensorrt_11_converts_the_onnx(precision: str, convert: str | None) -> None:
    plan = precision_plan(precision, TRT11)
    assert plan.builder_flags == ()
    assert plan.convert_onnx_to == convert
    assert plan.strongly_typed is True


def test_versions_past_11_stay_strongly_typed() -> None:
    assert precision_plan("fp16", SimpleNamespace(major=12, minor=0)).convert_onnx_to == "fp16"
    assert precision_plan("fp16", SimpleNamespace(major=9, minor=0)).builder_flags == ("fp16",)


def test_plan_modes() -> None:
    assert precision_plan("fp32", TRT11).mode == "fp32"
    assert precision_plan("fp16", TRT10).mode == "builder_flags"
    assert precision_plan("fp16", TRT11).mode == "onnx_conversion"


def test_unknown_precision() -> None:
    with pytest.raises(BadInput, match="'int4' is not one of fp32, fp16, bf16, int8, int8,fp16"):
        precision_plan("int4", TRT10)


def test_int8_is_builder_flags_up_to_10_and_qdq_on_11() -> None:
    assert precision_plan("int8", TRT10).builder_flags == ("int8",)
    assert precision_plan("int8,fp16", TRT10).builder_flags == ("int8", "fp16")
    on_11 = precision_plan("int8", TRT11)
    assert on_11.convert_onnx_to == "int8" and on_11.strongly_typed and on_11.builder_flags == ()
    assert on_11.int8 and not precision_plan("fp16", TRT11).int8
    with pytest.raises(BadInput, match="use --precision int8"):
        precision_plan("int8,fp16", TRT11)


def _plugin_model() -> onnx.ModelProto:
    """Conv -> Test::DynamicTRTResize (size from a carrier input) -> Conv -> Relu, all fp32."""
    rng = np.random.default_rng(3)
    w1 = numpy_helper.from_array(rng.normal(0, 0.3, size=(4, 3, 3, 3)).astype(np.float32), "w1")
    b1 = numpy_helper.from_array(rng.normal(0, 0.1, size=(4,)).astype(np.float32), "b1")
    w2 = numpy_helper.from_array(rng.normal(0, 0.3, size=(2, 4, 3, 3)).astype(np.float32), "w2")
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node(
            "DynamicTRTResize",
            ["c1", "size"],
            ["up"],
            name="plugin_resize",
            domain="Test",
            coordinate_transformation_mode="half_pixel",
            cubic_coeff_a=-0.75,
        ),
        helper.make_node("Conv", ["up", "w2"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["y"], name="relu"),
    ]
    graph = helper.make_graph(
        nodes,
        "plugin_model",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, 8, 8]),
            helper.make_tensor_value_info("size", TensorProto.FLOAT, [1, 1, 16, 16]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 2, 16, 16])],
        [w1, b1, w2],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("Test", 1)]
    )
    model.ir_version = 8
    return model


def _types(model: onnx.ModelProto) -> dict[str, int]:
    inferred = onnx.shape_inference.infer_shapes(model)
    graph = inferred.graph
    types = {v.name: v.type.tensor_type.elem_type for v in [*graph.input, *graph.value_info, *graph.output]}
    types.update({t.name: t.data_type for t in graph.initializer})
    return types


@pytest.mark.parametrize("precision", ["fp32", "fp16", "bf16"])
def test_tensorrt_10_leaves_the_onnx_untouched(precision: str) -> None:
    model = _plugin_model()
    before = model.SerializeToString()
    converted, result = precision_stage(model, precision_plan(precision, TRT10))
    assert converted.SerializeToString() == before
    assert result.plan.builder_flags == (() if precision == "fp32" else (precision,))
    assert result.cpu_verifiable


@needs_converter
def test_tensorrt_11_fp16_keeps_io_types_and_plugin_nodes_fp32() -> None:
    model = _plugin_model()
    converted, result = precision_stage(model, precision_plan("fp16", TRT11))
    onnx.checker.check_model(converted)
    assert result.converter == "onnxconverter-common"
    assert result.kept_fp32 == ("plugin_resize",)
    assert result.casts_added > 0
    assert [(i.name, i.dtype) for i in graph_inputs(converted)] == [("x", "float32"), ("size", "float32")]
    assert converted.graph.output[0].type.tensor_type.elem_type == TensorProto.FLOAT
    weights = {t.name: t.data_type for t in converted.graph.initializer}
    assert weights["w1"] == TensorProto.FLOAT16 and weights["w2"] == TensorProto.FLOAT16
    types = _types(converted)
    plugin = next(n for n in converted.graph.node if n.op_type == "DynamicTRTResize")
    # The plugin sees fp32 in, and its output is cast back to fp16 before the next fp16 Conv.
    assert types[plugin.input[0]] == TensorProto.FLOAT
    consumer = next(n for n in converted.graph.node if plugin.output[0] in n.input)
    assert consumer.op_type == "Cast" and consumer.attribute[0].i == TensorProto.FLOAT16
    conv2 = next(n for n in converted.graph.node if n.name == "conv2")
    assert types[conv2.input[0]] == TensorProto.FLOAT16
    # The input model is not modified.
    assert model.graph.initializer[0].data_type == TensorProto.FLOAT


@needs_converter
def test_tensorrt_11_fp16_matches_fp32_on_the_cpu_within_fp16_tolerance(tmp_path: Path) -> None:
    model = _plugin_model()
    converted, _ = precision_stage(model, precision_plan("fp16", TRT11))
    atol, rtol = DEFAULT_TOLERANCES["fp16"]
    inputs = graph_inputs(model)
    shapes = [{"x": (2, 3, 8, 8), "size": (1, 1, 16, 16)}, {"x": (1, 3, 8, 8), "size": (1, 1, 16, 16)}]
    results = compare_models(model, converted, CompareRequest(inputs, shapes, {}, atol, rtol, seed=11))
    assert all(r.ok for r in results), [r.to_json() for r in results]
    # fp16 really is in use: the outputs differ from fp32, just not by more than fp16 allows.
    assert max(o.max_abs for r in results for o in r.outputs) > 0


@needs_converter
def test_tensorrt_11_fp16_of_the_bundled_example(example_model: Path) -> None:
    model = onnx.load(example_model)
    converted, result = precision_stage(model, precision_plan("fp16", TRT11))
    atol, rtol = DEFAULT_TOLERANCES["fp16"]
    shapes = [{"input": (1, 3, 24, 20), "factor": (1, 1, 48, 40)}]
    results = compare_models(
        example_model, converted, CompareRequest(graph_inputs(model), shapes, {}, atol, rtol, seed=5)
    )
    assert all(r.ok for r in results), [r.to_json() for r in results]
    assert result.kept_fp32 == ()


def test_bf16_for_tensorrt_11_without_modelopt_says_what_to_install(monkeypatch) -> None:
    monkeypatch.setattr(
        "trtconvert.prepare.precision.available_converters",
        lambda: {"onnxconverter-common": HAS_FP16_CONVERTER, "modelopt": False},
    )
    with pytest.raises(MissingDependency, match=r"pip install nvidia-modelopt\[onnx\]"):
        precision_stage(_plugin_model(), precision_plan("bf16", TRT11))


def test_fp16_for_tensorrt_11_without_any_converter_says_what_to_install(monkeypatch) -> None:
    monkeypatch.setattr(
        "trtconvert.prepare.precision.available_converters",
        lambda: {"onnxconverter-common": False, "modelopt": False},
    )
    with pytest.raises(MissingDependency, match="pip install onnxconverter-common.*--target-tensorrt 10"):
        precision_stage(_plugin_model(), precision_plan("fp16", TRT11))


def test_bf16_conversion_is_marked_not_cpu_verifiable() -> None:
    from trtconvert.prepare.precision import PrecisionResult

    assert not PrecisionResult(precision_plan("bf16", TRT11), "modelopt-autocast").cpu_verifiable
    assert PrecisionResult(precision_plan("bf16", TRT10)).cpu_verifiable
    assert PrecisionResult(precision_plan("fp16", TRT11), "onnxconverter-common").cpu_verifiable


def test_onnxruntime_cannot_run_bf16_on_the_cpu() -> None:
    """The fact behind skipping CPU verification for bf16; if onnxruntime gains the kernels, revisit it."""
    import onnxruntime

    nodes = [
        helper.make_node("Cast", ["x"], ["xb"], to=TensorProto.BFLOAT16),
        helper.make_node("Add", ["xb", "xb"], ["yb"]),
        helper.make_node("Cast", ["yb"], ["y"], to=TensorProto.FLOAT),
    ]
    graph = helper.make_graph(
        nodes,
        "bf16",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 22)])
    model.ir_version = 10
    with pytest.raises(Exception, match="NOT_IMPLEMENTED|Could not find an implementation"):
        onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


@needs_converter
def test_prepare_fp16_for_tensorrt_11_verifies_on_the_cpu(
    run_cli, example_model: Path, tmp_path: Path
) -> None:
    out = tmp_path / "fp16.onnx"
    result = run_cli(
        "prepare",
        example_model,
        "-o",
        out,
        "--profile",
        "input=1x3x16x16:1x3x24x20:1x3x32x32,factor=1x1x32x32:1x1x48x40:1x1x64x64",
        "--precision",
        "fp16",
        "--target-tensorrt",
        "11.0",
        "--verify",
        "--json",
    )
    assert result.code == 0, result.stderr
    import json

    report = json.loads(result.stdout)
    assert report["precision"]["mode"] == "onnx_conversion"
    assert report["verification"] and all(o["ok"] for r in report["verification"] for o in r["outputs"])
    assert "precision" in result.stderr and "converted to fp16" in result.stderr
    saved = onnx.load(out)
    assert any(t.data_type == TensorProto.FLOAT16 for t in saved.graph.initializer)
