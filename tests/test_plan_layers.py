"""Engine layer reports from recorded inspector JSON (tests/data/engine_layers_*.json, written by hand in the
shapes TensorRT 8.5 and 10.x print): precisions, fused ONNX nodes, tactics, names-only plans."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trtconvert.engine.layers import (
    LayerReport,
    format_layers,
    format_profile_layers,
    layer_report,
    layers_json,
    of_profile,
    summary_line,
    tensor_dtype,
)
from trtconvert.errors import BadInput

DATA = Path(__file__).parent / "data"


def fixture(name: str) -> str:
    return (DATA / f"engine_layers_{name}.json").read_text()


@pytest.mark.parametrize(
    ("text", "dtype"),
    [
        ("Row major linear FP32", "FP32"),
        ("Row major linear FP16 format", "FP16"),
        ("Channel major FP16 format where channel % 8 == 0", "FP16"),
        ("Thirty-two wide channel vectorized row major Int8 format", "Int8"),
        ("Four wide channel vectorized row major Int8 format.", "Int8"),
        ("Row major linear Int32", "Int32"),
        ("Row major linear BOOL", "Bool"),
        ("Float", "FP32"),
        ("Half", "FP16"),
        ("BFloat16", "BF16"),
        ("Row major linear BF16 format", "BF16"),
        ("UInt8", "UInt8"),
        ("Int64", "Int64"),
        ("FP8", "FP8"),
        ("N/A due to dynamic shapes", None),
        ("", None),
    ],
)
def test_tensor_types_from_format_text(text, dtype):
    assert tensor_dtype(text) == dtype


def test_fp32_plan_of_tensorrt_8_5():
    report = layer_report(fixture("fp32_trt85"))
    assert isinstance(report, LayerReport) and report.detailed
    assert report.bindings == ("x", "y")
    conv, plugin, conv3, pointwise = report.layers
    assert conv.name == "Conv_0 + Relu_1" and conv.layer_type == "CaskConvolution"
    assert conv.onnx_nodes == ("Conv_0", "Relu_1")  # no Metadata in 8.5: split from the fused name
    assert conv.tactic.startswith("sm80_xmma_fprop_implicit_gemm_f32f32")
    assert conv.precision == "FP32"
    assert conv.inputs[0].dims == (1, 3, 64, 64) and conv.inputs[0].location == "Device"
    assert (plugin.layer_type, plugin.onnx_nodes, plugin.tactic) == (
        "PluginV2",
        ("resize_plugin",),
        "0x0000000000000000",
    )
    assert conv3.onnx_nodes == ("Conv_3",)
    assert pointwise.onnx_nodes == ("Sigmoid_4", "Mul_5")  # PWN(...) wrapper of 8.x pointwise fusions
    assert summary_line(report) == "4 layers: 4 FP32"


@pytest.mark.parametrize(
    ("name", "nodes"),
    [
        ("{ForeignNode[big_matmul...scale_back]}", ("big_matmul", "scale_back")),
        ("{ForeignNode[/attn/MatMul...onnx::Add_42]}", ("/attn/MatMul", "onnx::Add_42")),
        ("{ForeignNode[only_node]}", ("only_node",)),
    ],
)
def test_foreign_node_regions_name_their_first_and_last_nodes(name, nodes):
    layer = {"Name": name, "LayerType": "Myelin", "Inputs": [], "Outputs": []}
    report = layer_report({"Layers": [layer], "Bindings": []})
    assert report.layers[0].onnx_nodes == nodes


def test_fp16_plan_of_tensorrt_10_takes_nodes_from_metadata():
    report = layer_report(fixture("fp16_trt10"))
    reformat_in, conv1, plugin, conv2, reformat_out = report.layers
    assert reformat_in.layer_type == "Reformat" and reformat_in.onnx_nodes == ()
    assert reformat_in.precision == "FP16"  # Float in, Half out: the narrower type
    assert conv1.onnx_nodes == ("/conv1/Conv", "/relu1/Relu")
    assert conv1.precision == "FP16"  # reads Half, writes Float
    assert plugin.layer_type == "PluginV3" and plugin.precision == "FP32"
    assert conv2.onnx_nodes == ("/conv2/Conv", "/act/Sigmoid", "/act/Mul")
    assert reformat_out.onnx_nodes == ()
    assert report.precision_counts() == {"FP16": 4, "FP32": 1}
    assert summary_line(report) == "5 layers: 4 FP16, 1 FP32"


def test_int8_plan_counts_int8_layers_and_lists_folded_qdq_nodes():
    report = layer_report(fixture("int8_trt10"))
    quantize, conv1, conv2, plugin, sigmoid = report.layers
    assert quantize.precision == "Int8" and quantize.onnx_nodes == ("/conv1/input_quantizer/QuantizeLinear",)
    assert conv1.precision == "Int8"
    assert (
        "/conv1/weight_quantizer/DequantizeLinear" in conv1.onnx_nodes and "/relu1/Relu" in conv1.onnx_nodes
    )
    # An INT8 convolution that writes FP16 for the float tail is an INT8 layer.
    assert conv2.precision == "Int8" and conv2.outputs[0].dtype == "FP16"
    assert plugin.precision == "FP16" and sigmoid.precision == "FP16"
    assert summary_line(report) == "5 layers: 3 Int8, 2 FP16"
    assert "i8i8_i8i32" in conv1.tactic


def test_table_lines():
    lines = format_layers(layer_report(fixture("int8_trt10")))
    assert lines[0].split() == ["#", "precision", "type", "layer", "onnx", "nodes", "tactic"]
    assert len(lines) == 1 + 5 + 1
    assert lines[-1] == "5 layers: 3 Int8, 2 FP16"
    row = lines[2]
    assert row.split()[:3] == ["1", "Int8", "CaskConvolution"] and "/conv1/Conv + /relu1/Relu" in row
    assert "/conv1/Conv, /relu1/Relu (+3 Q/DQ)" in row  # folded Q/DQ nodes counted, not listed
    assert lines[1].split()[4] == "/conv1/input_quantizer/QuantizeLinear"  # a layer of Q/DQ alone lists it
    assert all(len(line) < 200 for line in lines)  # long names and tactics are cut
    assert row.endswith("...")


def test_names_only_plan_says_how_to_rebuild_instead_of_an_empty_table():
    report = layer_report(fixture("names_only"))
    assert not report.detailed and len(report.layers) == 5
    assert report.layers[1].name == "/conv1/Conv + /relu1/Relu" and report.layers[1].precision is None
    lines = format_layers(report)
    assert "without detailed profiling verbosity" in lines[0]
    assert "--profilingVerbosity=detailed" in lines[0] and "ProfilingVerbosity.DETAILED" in lines[0]
    assert lines[2].strip() == "1  /conv1/Conv + /relu1/Relu"
    assert lines[-1] == "5 layers, names only (no precisions)"
    assert report.to_json()["precisions"] == {}


def test_no_layer_information_at_all():
    report = layer_report({"Layers": [], "Bindings": ["x", "y"]})
    assert not report.detailed
    (line,) = format_layers(report)
    assert "no layer information" in line and "detailed profiling verbosity" in line


def test_dynamic_shapes_leave_precisions_unknown():
    layer = {
        "Name": "Conv_0",
        "LayerType": "CaskConvolution",
        "Inputs": [
            {"Name": "x", "Dimensions": [-1, 3, -1, -1], "Format/Datatype": "N/A due to dynamic shapes"}
        ],
        "Outputs": [
            {"Name": "y", "Dimensions": [-1, 8, -1, -1], "Format/Datatype": "N/A due to dynamic shapes"}
        ],
        "TacticValue": "0x1",
    }
    report = layer_report({"Layers": [layer]})
    assert report.layers[0].precision is None and report.layers[0].inputs[0].dims == (-1, 3, -1, -1)
    lines = format_layers(report)
    assert lines[1].split()[1] == "?"
    assert lines[-1].startswith("1 layer: 1 unknown (unknown: formats of dynamic shapes")


def test_to_json_round_trips_through_json():
    report = layer_report(fixture("fp16_trt10"))
    document = json.loads(json.dumps(report.to_json()))
    assert document["detailed"] is True and document["bindings"] == ["x", "y"]
    assert document["precisions"] == {"FP16": 4, "FP32": 1}
    layer = document["layers"][1]
    assert layer["onnx_nodes"] == ["/conv1/Conv", "/relu1/Relu"] and layer["type"] == "CaskConvolution"
    assert layer["inputs"][0]["dtype"] == "FP16" and layer["outputs"][0]["dims"] == [1, 8, 64, 64]


def test_text_and_parsed_documents_agree():
    text = fixture("fp32_trt85")
    assert layer_report(text) == layer_report(json.loads(text))


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("not json", "is not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"Bindings": []}', "no 'Layers' list"),
        ('{"Layers": [3]}', "layer 0 is neither a name nor an object"),
    ],
)
def test_malformed_documents_are_refused(document, message):
    with pytest.raises(BadInput, match=message):
        layer_report(document)


# What `inspect --layers` hands TensorRT for a dynamic plan, checked on the CPU with stand-ins for the engine,
# its execution contexts and its inspector (argument level: that TensorRT then resolves the formats is checked
# on a real plan by test_engine_tensorrt.py::test_layers_of_a_two_profile_fp16_plan_show_precisions).
_DYNAMIC_LAYER = {
    "Name": "conv",
    "LayerType": "CaskConvolution",
    "Inputs": [{"Name": "x", "Dimensions": [-1, 3, -1, -1], "Format/Datatype": "N/A due to dynamic shapes"}],
    "Outputs": [{"Name": "y", "Dimensions": [-1, 8, -1, -1], "Format/Datatype": "N/A due to dynamic shapes"}],
}


class _Context:
    def __init__(self, calls: list) -> None:
        self.calls, self.profile, self.shapes = calls, 0, {}

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.calls.append(("context closed",))

    def set_optimization_profile_async(self, index: int, stream: int) -> bool:
        self.calls.append(("profile", index, stream))
        self.profile = index
        return True

    def set_input_shape(self, name: str, shape) -> bool:
        self.calls.append(("shape", name, tuple(shape)))
        self.shapes[name] = tuple(shape)
        return True


class _Inspector:
    """Resolves formats (FP16) only while a context holding every input's shape is set, as TensorRT documents."""

    def __init__(self, calls: list) -> None:
        self.calls, self.execution_context = calls, None

    def get_engine_information(self, fmt) -> str:
        context = self.execution_context
        self.calls.append(
            ("information", None if context is None else (context.profile, dict(context.shapes)))
        )
        layer = json.loads(json.dumps(_DYNAMIC_LAYER))
        if context is not None and "x" in context.shapes:
            for tensor in (*layer["Inputs"], *layer["Outputs"]):
                tensor["Format/Datatype"] = "Row major linear FP16 format"
        return json.dumps({"Layers": [layer]})


class _TensorRT:
    class TensorIOMode:
        INPUT, OUTPUT = "input", "output"

    class LayerInformationFormat:
        JSON = "json"


class _Engine:
    PROFILES = [((1, 3, 16, 16), (1, 3, 32, 32), (2, 3, 48, 48)), ((1, 3, 40, 24),) * 3]

    def __init__(self, calls: list, dims=(-1, 3, -1, -1)) -> None:
        self.calls, self.dims = calls, dims
        self.num_io_tensors, self.num_optimization_profiles = 2, len(self.PROFILES)

    def get_tensor_name(self, index: int) -> str:
        return ["x", "y"][index]

    def get_tensor_mode(self, name: str) -> str:
        return "input" if name == "x" else "output"

    def is_shape_inference_io(self, name: str) -> bool:
        return False

    def get_tensor_shape(self, name: str):
        return self.dims

    def get_tensor_profile_shape(self, name: str, profile: int):
        return self.PROFILES[profile]

    def create_execution_context(self) -> _Context:
        return _Context(self.calls)

    def create_engine_inspector(self) -> _Inspector:
        return _Inspector(self.calls)


def test_a_dynamic_plan_is_inspected_per_profile_at_its_opt_shapes():
    from trtconvert.engine.inspect_plan import inspect_layers

    calls: list = []
    reports = inspect_layers(_Engine(calls), _TensorRT, stream_handle=77)
    assert [r.profile for r in reports] == [0, 1]
    assert [dict(r.opt_shapes) for r in reports] == [{"x": (1, 3, 32, 32)}, {"x": (1, 3, 40, 24)}]
    assert [c for c in calls if c[0] == "information"] == [
        ("information", (0, {"x": (1, 3, 32, 32)})),
        ("information", (1, {"x": (1, 3, 40, 24)})),
    ]
    assert ("profile", 1, 77) in calls and calls.count(("context closed",)) == 2
    assert all(r.precision_counts() == {"FP16": 1} for r in reports)
    text = "\n".join(format_profile_layers(reports))
    assert "profile 1 at its opt shapes (x=1x3x40x24)" in text and "unknown" not in text
    document = layers_json(reports)
    assert document["profile"] == 0 and [p["opt_shapes"] for p in document["profiles"]] == [
        {"x": [1, 3, 32, 32]},
        {"x": [1, 3, 40, 24]},
    ]


def test_a_static_plan_is_inspected_once_without_a_context():
    from trtconvert.engine.inspect_plan import inspect_layers

    calls: list = []
    reports = inspect_layers(_Engine(calls, dims=(1, 3, 40, 24)), _TensorRT, stream_handle=77)
    assert len(reports) == 1 and reports[0].profile is None
    assert calls == [("information", None)]
    assert "profiles" not in layers_json(reports) and "profile" not in layers_json(reports)


def test_each_profile_keeps_its_own_layers_where_the_inspector_lists_every_profile():
    document = {"Layers": [dict(_DYNAMIC_LAYER, Name=name) for name in ("conv", "conv [profile 1]")]}
    report = layer_report(document)
    assert [layer.name for layer in of_profile(report, 0, {"x": (1, 3, 8, 8)}).layers] == ["conv"]
    assert [layer.name for layer in of_profile(report, 1, {"x": (1, 3, 8, 8)}).layers] == ["conv [profile 1]"]


def test_a_profile_the_inspector_describes_nothing_at_is_listed_without_formats(caplog):
    # Stand-in (argument level): an inspector that returns an empty text through a context of profile 1.
    from trtconvert.engine.inspect_plan import inspect_layers

    class _EmptyAtProfile1(_Inspector):
        def get_engine_information(self, fmt) -> str:
            context = self.execution_context
            if context is not None and context.profile == 1:
                self.calls.append(("information", "empty"))
                return ""
            return super().get_engine_information(fmt)

    class _Engine2(_Engine):
        def create_engine_inspector(self) -> _Inspector:
            return _EmptyAtProfile1(self.calls)

    calls: list = []
    with caplog.at_level("WARNING", logger="trtconvert"):
        reports = inspect_layers(_Engine2(calls), _TensorRT, stream_handle=77)
    assert [r.profile for r in reports] == [0, 1]
    assert reports[0].precision_counts() == {"FP16": 1}
    assert reports[1].precision_counts() == {"unknown": 1} and reports[1].opt_shapes == ()
    assert calls[-1] == ("information", None)  # the plan as built, without a context
    assert "described nothing at profile 1's opt shapes" in caplog.text
