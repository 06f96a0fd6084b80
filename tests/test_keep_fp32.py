"""--keep-fp32: patterns resolved against the prepared graph, the TensorRT 11 conversion leaving the nodes in
fp32, and what a TensorRT 8.5-10 build is handed (argument level: the loaders and the layer callback; the real
builds are the tensorrt-marked tests in test_precision_tensorrt.py)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import onnx
import pytest
from model_factories import conv_model, if_overflow_model, overflow_model
from onnx import TensorProto

from trtconvert.checks.compare import CompareRequest, compare_models
from trtconvert.engine.chain import Timed, engine_loader_chain
from trtconvert.engine.inspect_plan import format_plan
from trtconvert.engine.layer_precision import KeepLayersFp32
from trtconvert.errors import BadInput
from trtconvert.model.info import graph_inputs
from trtconvert.prepare.keep_fp32 import keep_fp32_config, keep_fp32_flags, resolve_keep_fp32
from trtconvert.prepare.precision import precision_stage
from trtconvert.settings.precision_plan import precision_plan
from trtconvert.settings.request import resolve
from trtconvert.settings.spec import Spec, make_spec

TRT10 = SimpleNamespace(major=10, minor=8)
TRT11 = SimpleNamespace(major=11, minor=0)
needs_converter = pytest.mark.skipif(
    importlib.util.find_spec("onnxconverter_common") is None, reason="onnxconverter-common is not installed"
)


def _types(model: onnx.ModelProto) -> dict[str, int]:
    graph = onnx.shape_inference.infer_shapes(model).graph
    types = {v.name: v.type.tensor_type.elem_type for v in [*graph.input, *graph.value_info, *graph.output]}
    types.update({t.name: t.data_type for t in graph.initializer})
    return types


def test_patterns_by_name_glob_and_op() -> None:
    model = overflow_model()
    kept = resolve_keep_fp32(model, ["big_matmul", "s*", "op:Relu"])
    assert kept.matches == {
        "big_matmul": ("big_matmul",),
        "s*": ("shift", "scale_back"),
        "op:Relu": ("relu",),
    }
    assert kept.nodes == ("big_matmul", "shift", "scale_back", "relu")
    assert resolve_keep_fp32(model, ["op:Mat*"]).nodes == ("big_matmul",)


def test_a_name_with_glob_characters_matches_itself() -> None:
    model = overflow_model()
    model.graph.node[1].name = "/blocks[0]/MatMul"
    assert resolve_keep_fp32(model, ["/blocks[0]/MatMul"]).nodes == ("/blocks[0]/MatMul",)


def test_unknown_name_names_the_closest() -> None:
    with pytest.raises(BadInput, match=r"--keep-fp32 big_matmull: no node .* closest node names: big_matmul"):
        resolve_keep_fp32(overflow_model(), ["big_matmull"])


def test_unknown_op_names_the_closest_op_types() -> None:
    with pytest.raises(BadInput, match=r"no Softmax node; .*the model's op types: op:Add, op:MatMul"):
        resolve_keep_fp32(overflow_model(), ["op:Softmax"])
    with pytest.raises(BadInput, match=r"closest op types: op:MatMul"):
        resolve_keep_fp32(overflow_model(), ["op:Matmul"])


def test_unnamed_nodes_reached_by_op_get_names() -> None:
    model = overflow_model()
    for node in model.graph.node:
        node.name = ""
    kept = resolve_keep_fp32(model, ["op:MatMul"])
    assert kept.nodes == ("MatMul_1",) and model.graph.node[1].name == "MatMul_1"


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_keep_fp32_needs_a_reduced_float_precision(precision: str) -> None:
    with pytest.raises(BadInput, match=f"--keep-fp32 applies only to .*this run is {precision}"):
        make_spec(None, {"keep_fp32": ["x"], "precision": precision})


def test_keep_fp32_from_a_config(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("precision: fp16\nkeep_fp32: [big_matmul, 'op:Softmax']\n")
    assert make_spec(config, {}).keep_fp32 == ["big_matmul", "op:Softmax"]
    config.write_text("precision: fp16\nkeep-fp32: ''\n")
    with pytest.raises(BadInput, match="names no node"):
        make_spec(config, {})


def test_flags_and_config_lines_are_pasteable() -> None:
    assert keep_fp32_flags(["big_matmul", "/a b/MatMul", "big_matmul"]) == (
        "--keep-fp32 big_matmul --keep-fp32 '/a b/MatMul'"
    )
    assert keep_fp32_config(["it's"]) == "keep_fp32:\n  - 'it''s'\n"


def test_builder_flags_leave_the_onnx_fp32_and_record_the_nodes() -> None:
    model = overflow_model()
    before = model.SerializeToString()
    converted, result = precision_stage(model, precision_plan("fp16", TRT10), keep_fp32=["op:MatMul"])
    assert converted.SerializeToString() == before
    assert result.kept_fp32 == ("big_matmul",)
    assert result.to_json()["keep_fp32"] == {"op:MatMul": ["big_matmul"]}


@needs_converter
@pytest.mark.parametrize(
    "patterns", [["big_matmul", "scale_back"], ["big_*", "scale_*"], ["op:MatMul", "op:Mul"]]
)
def test_tensorrt_11_conversion_keeps_the_nodes_fp32_and_the_rest_fp16(patterns: list[str]) -> None:
    model = overflow_model()
    converted, result = precision_stage(model, precision_plan("fp16", TRT11), keep_fp32=patterns)
    onnx.checker.check_model(converted)
    assert set(result.kept_fp32) == {"big_matmul", "scale_back"}
    types = _types(converted)
    nodes = {n.name: n for n in converted.graph.node}
    assert types[nodes["big_matmul"].output[0]] == TensorProto.FLOAT
    assert types[nodes["big_matmul"].input[0]] == TensorProto.FLOAT
    assert types[nodes["scale_back"].output[0]] == TensorProto.FLOAT
    # The nodes not kept are converted.
    assert types[nodes["shift"].output[0]] == TensorProto.FLOAT16
    assert types[nodes["relu"].output[0]] == TensorProto.FLOAT16
    # And the kept ones compute what fp32 computes, within fp16's tolerance for the fp16 input rounding.
    results = compare_models(
        model, converted, CompareRequest(graph_inputs(model), [{"x": (4, 16)}], {}, 2e-2, 2e-2, seed=3)
    )
    assert all(r.ok for r in results), [r.to_json() for r in results]


def test_chain_obeys_precision_constraints_only_when_keeping(tmp_path: Path, monkeypatch) -> None:
    """What the chain hands to polygraphy: the parsed network post-processed by the kept layers' precisions
    (recorded through PostprocessNetwork's public constructor), and a config that obeys them."""
    import polygraphy.backend.trt as polygraphy_trt

    made = []
    real = polygraphy_trt.PostprocessNetwork

    def record(*args, **kwargs):
        made.append((args, kwargs))
        return real(*args, **kwargs)

    monkeypatch.setattr(polygraphy_trt, "PostprocessNetwork", record)
    onnx_path = tmp_path / "m.onnx"
    onnx.save(overflow_model(), onnx_path)
    spec = Spec(model=onnx_path, output=tmp_path / "m.plan", precision="fp16", keep_fp32=["big_matmul"])
    request = resolve(spec, "8.5.3")
    keep = KeepLayersFp32.from_model(overflow_model(), ["big_matmul"])
    chain = engine_loader_chain(request, onnx_path, keep_fp32=keep)
    assert isinstance(chain.parse, Timed) and isinstance(chain.parse.loader, real)
    assert made == [((chain.network, keep), {"name": "keep fp32"})]
    assert chain.config.precision_constraints == "obey"
    assert chain.config.fp16 is True
    plain = engine_loader_chain(resolve(Spec(model=onnx_path, precision="fp16"), "8.5.3"), onnx_path)
    assert plain.parse.loader is plain.network and len(made) == 1
    assert plain.config.precision_constraints is None


class _Tensor(SimpleNamespace):
    pass


class _Layer:
    def __init__(self, name: str, kind: str, outputs: list[tuple[str, str]]) -> None:
        self.name, self.type = name, kind
        self._outputs = [_Tensor(name=n, dtype=d) for n, d in outputs]
        self.num_outputs = len(outputs)
        self.precision = None
        self.output_types: dict[int, str] = {}

    def get_output(self, index: int) -> _Tensor:
        return self._outputs[index]

    def set_output_type(self, index: int, dtype: str) -> None:
        self.output_types[index] = dtype


def test_layers_of_kept_nodes_are_set_to_fp32() -> None:
    """Our matching of layers to ONNX nodes, on stand-ins named the way TensorRT's ONNX parser names them (the
    real parser's names are checked by the tensorrt-marked tests)."""
    trt = SimpleNamespace(
        float32="f32", float16="f16", int32="i32", LayerType=SimpleNamespace(CONSTANT="const", SHAPE="shape")
    )
    layers = [
        _Layer("shift", "elementwise", [("shifted", "f32")]),
        _Layer("weight", "const", [("weight", "f32")]),
        _Layer("big_matmul", "matmul", [("big_matmul_out", "f32")]),
        _Layer("big_matmul_1", "shuffle", [("large", "f32")]),  # a second layer of the same node
        _Layer("(Unnamed Layer* 7) [ElementWise]", "elementwise", [("scaled", "f32")]),  # found by its output
        _Layer("scale_back_shape", "shape", [("s", "i32")]),
        _Layer("relu", "activation", [("y", "f32")]),
    ]
    network = SimpleNamespace(num_layers=len(layers), get_layer=lambda i: layers[i])
    model = overflow_model()
    keep = KeepLayersFp32.from_model(model, ["big_matmul", "scale_back"])
    keep.apply(trt, network)
    assert keep.applied == {
        "big_matmul": ["big_matmul", "big_matmul_1"],
        "scale_back": ["(Unnamed Layer* 7) [ElementWise]"],
    }
    assert [layer.precision for layer in layers] == [None, None, "f32", "f32", "f32", None, None]
    assert layers[3].output_types == {0: "f32"}


def test_nodes_inside_bodies_are_matched_by_name_and_op_and_become_layers() -> None:
    """The finder names body nodes (then_matmul): they must resolve, unnamed ones get names, and the builder-flag
    path finds their layers (TensorRT's parser names a body node's layer after the node, like any other)."""
    model = if_overflow_model()
    then_branch = next(a.g for a in model.graph.node[2].attribute if a.name == "then_branch")
    then_branch.node[1].name = ""  # the Mul
    kept = resolve_keep_fp32(model, ["then_*", "op:Mul", "add_one"])
    assert kept.matches["then_*"] == ("then_matmul",)
    named_mul = then_branch.node[1].name
    assert named_mul.startswith("Mul_") and sorted(kept.matches["op:Mul"]) == sorted([named_mul, "else_mul"])
    assert sorted(kept.nodes) == sorted(["then_matmul", named_mul, "else_mul", "add_one"])
    with pytest.raises(BadInput, match="closest node names: then_matmul"):
        resolve_keep_fp32(model, ["then_matmu"])
    keep = KeepLayersFp32.from_model(model, ["then_matmul"])
    assert keep.owner("then_matmul", []) == "then_matmul" and keep.owner("else_mul", []) is None


def test_a_node_named_like_a_suffix_is_not_taken_for_another() -> None:
    model = conv_model()
    model.graph.node[1].name = "conv_1"
    keep = KeepLayersFp32.from_model(model, ["conv"])
    assert keep.owner("conv_1", []) is None
    assert keep.owner("conv_2", []) == "conv"


@needs_converter
def test_prepare_reports_what_was_kept(run_cli, tmp_path: Path) -> None:
    source = tmp_path / "m.onnx"
    onnx.save(overflow_model(), source)
    result = run_cli(
        "prepare", source, "-o", tmp_path / "out.onnx", "--precision", "fp16", "--target-tensorrt", "11",
        "--keep-fp32", "op:MatMul", "--keep-fp32", "scale_*", "--json",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["precision"]["keep_fp32"] == {"op:MatMul": ["big_matmul"], "scale_*": ["scale_back"]}
    assert "2 node(s) kept fp32 (--keep-fp32)" in result.stderr


def test_prepare_refuses_unknown_names_and_keep_without_reduced_precision(run_cli, tmp_path: Path) -> None:
    source = tmp_path / "m.onnx"
    onnx.save(overflow_model(), source)
    out = tmp_path / "out.onnx"
    unknown = run_cli("prepare", source, "-o", out, "--precision", "fp16", "--keep-fp32", "bigmatmul")
    assert unknown.code == 2 and "closest node names: big_matmul" in unknown.stderr
    assert "Traceback" not in unknown.stderr and not out.exists()
    fp32 = run_cli("prepare", source, "-o", out, "--keep-fp32", "big_matmul")
    assert fp32.code == 2 and "add --precision fp16" in fp32.stderr


def test_inspect_plan_lists_what_was_kept() -> None:
    report = {
        "path": "m.plan",
        "precision": {"precision": "fp16", "mode": "builder_flags", "keep_fp32": {"op:MatMul": ["a", "b"]}},
    }
    assert "keep fp32 op:MatMul: a, b" in format_plan(report)


def test_keep_fp32_changes_the_cache_key(tmp_path: Path) -> None:
    from trtconvert.engine.plan_files import engine_config

    base = Spec(model=tmp_path / "m.onnx", precision="fp16")
    kept = Spec(model=tmp_path / "m.onnx", precision="fp16", keep_fp32=["op:Softmax"])
    assert engine_config(resolve(base, "8.5.3")) != engine_config(resolve(kept, "8.5.3"))
    assert "keep_fp32" not in engine_config(resolve(base, "8.5.3"))


def test_random_inputs_of_the_overflow_model_really_overflow_fp16() -> None:
    """The fact the other tests rest on: the MatMul's fp32 output is past fp16's largest finite value."""
    import onnxruntime

    model = overflow_model()
    model.graph.output.append(onnx.helper.make_tensor_value_info("large", TensorProto.FLOAT, [4, 8]))
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).uniform(-1, 1, size=(4, 16)).astype(np.float32)
    y, large = session.run(None, {"x": x})
    assert np.abs(large).min() > 65504 and 5 < np.abs(y).max() < 50


def test_a_sidecar_with_a_malformed_keep_list_is_refused() -> None:
    from trtconvert.engine.plan_files import Malformed, check_sidecar

    check_sidecar({"precision": {"keep_fp32": {"op:MatMul": ["a"]}}})
    with pytest.raises(Malformed, match="keep_fp32"):
        check_sidecar({"precision": {"keep_fp32": ["a"]}})
