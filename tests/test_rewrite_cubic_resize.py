"""The cubic Resize rule: every decision, every output-size source, and the numbers of the rewritten graphs.

Numerics: the original runs in onnxruntime, the rewritten graph in onnxruntime with the plugin nodes computed by
the float64 reference (cast to float32), on fresh standard-normal inputs. They agree to atol 2e-5 + rtol 1e-5
(float32 cubic against float64). Where onnxruntime departs from ONNX (align_corners with a fractional
``scale * length``), the rewritten graph is held to ONNX's reference evaluator instead (atol 1e-5, its cubic
weights are float32).
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator
from resize_models import run_onnxruntime, shape_sized_model, single_resize_model
from seeds import fresh_rng

from trtconvert.checks.ort_session import create_session
from trtconvert.errors import BadInput
from trtconvert.prepare.fold import fold
from trtconvert.prepare.rewrite import plan_rewrites, registered_rules, rewrite_model
from trtconvert.settings.target import parse_target

ATOL, RTOL = 2e-5, 1e-5
T84, T10, T101, T11 = (parse_target(v) for v in ("8.4", "10.0", "10.1", "11"))


def _plugin_nodes(model: onnx.ModelProto) -> list[onnx.NodeProto]:
    return [n for n in model.graph.node if n.op_type == "DynamicTRTResize"]


def _attrs(node: onnx.NodeProto) -> dict[str, object]:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _assert_same_outputs(original: onnx.ModelProto, rewritten: onnx.ModelProto, feeds: dict) -> None:
    want = run_onnxruntime(original, feeds)
    got = create_session(rewritten).run(None, feeds)
    for w, g in zip(want, got, strict=True):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, atol=ATOL, rtol=RTOL)


def _assert_matches_onnx_reference(
    original: onnx.ModelProto, rewritten: onnx.ModelProto, x: np.ndarray
) -> None:
    """For resizes onnxruntime refuses (cubic over outer axes with downscaling): ONNX's reference evaluator."""
    want = ReferenceEvaluator(original).run(None, {"x": x})[0]
    got = create_session(rewritten).run(None, {"x": x})[0]
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)


def _randn(*shape: int) -> np.ndarray:
    return fresh_rng().standard_normal(shape).astype(np.float32)


def test_registry_lists_the_cubic_resize_rule():
    assert [rule.name for rule in registered_rules()] == ["cubic_resize", "conv_kernel_shape"]


# --- the bundled example -------------------------------------------------------------------------------------


@pytest.mark.parametrize("folded", [False, True], ids=["unfolded", "folded"])
def test_example_becomes_plugin_sized_by_factor(example_module, folded):
    model = example_module.build_model(seed=0)
    if folded:
        model = fold(model)
    result = rewrite_model(model, "all", T10)
    [node] = _plugin_nodes(result.model)
    assert (node.domain, list(node.input), node.name) == ("Test", ["input", "factor"], "Resize_6")
    assert _attrs(node) == {
        "plugin_version": b"1",
        "plugin_namespace": b"",
        "coordinate_transformation_mode": b"pytorch_half_pixel",
        "cubic_coeff_a": -0.75,
        "exclude_outside": 0,
        "antialias": 0,
    }
    assert {n.op_type for n in result.model.graph.node} == {"DynamicTRTResize", "Conv", "Relu"}
    onnx.checker.check_model(result.model, full_check=True)
    assert [d.line() for d in result.decisions] == [
        "Resize_6 (Resize): rewrite: --rewrite all; -> DynamicTRTResize(input, factor)"
    ]
    for n, h, w, oh, ow in [(1, 16, 16, 32, 32), (2, 17, 23, 40, 37), (1, 30, 20, 11, 9)]:
        _assert_same_outputs(
            model, result.model, {"input": _randn(n, 3, h, w), "factor": _randn(1, 1, oh, ow)}
        )


def test_example_with_constant_scales_becomes_plugin_with_scales(example_module):
    model = example_module.build_model(seed=0, constant_scales=2.0)
    result = rewrite_model(model, "all", T10)
    [node] = _plugin_nodes(result.model)
    assert list(node.input) == ["input"]
    assert _attrs(node)["scales"] == [2.0, 2.0]
    assert "sizes" not in _attrs(node)
    for shape in [(1, 3, 16, 16), (2, 3, 9, 14)]:
        _assert_same_outputs(model, result.model, {"input": _randn(*shape)})


@pytest.mark.parametrize("folded", [False, True], ids=["unfolded", "folded"])
def test_example_with_static_factor_gets_constant_sizes(example_module, folded):
    model = example_module.build_model(seed=0)
    dims = model.graph.input[1].type.tensor_type.shape.dim
    dims[2].dim_value, dims[3].dim_value = 48, 40
    if folded:
        model = fold(model)
        assert "Slice" in {n.op_type for n in model.graph.node}  # Shape(input)[0:2] stays: batch is dynamic
    result = rewrite_model(model, "all", T10)
    [node] = _plugin_nodes(result.model)
    assert list(node.input) == ["input"]
    assert _attrs(node)["sizes"] == [48, 40]
    _assert_same_outputs(model, result.model, {"input": _randn(2, 3, 13, 21), "factor": _randn(1, 1, 48, 40)})


def test_example_with_static_batch_folded_keeps_the_factor_carrier(example_module):
    model = example_module.build_model(seed=0)
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1
    model = fold(model)
    result = rewrite_model(model, "all", T10)
    [node] = _plugin_nodes(result.model)
    assert list(node.input) == ["input", "factor"]
    _assert_same_outputs(model, result.model, {"input": _randn(1, 3, 12, 15), "factor": _randn(1, 1, 25, 31)})


def test_example_plan_per_target(example_module):
    model = example_module.build_model(seed=0)
    [old] = plan_rewrites(model, T84)
    [new] = plan_rewrites(model, T11)
    assert (old.decision, new.decision) == ("rewrite", "keep")
    assert "rejects cubic Resize" in old.reason and "DynamicTRTResize(input, factor)" in old.reason
    assert "imports it and computes what ONNX computes" in new.reason and "except" not in new.reason


# --- a model that already holds the plugin node --------------------------------------------------------------


@pytest.mark.parametrize("align_corners", [0, 1])
def test_exported_plugin_node_is_kept_and_runs_on_the_cpu(example_module, align_corners):
    """The node as exported from PyTorch, DynamicTRTResize(input, factor) with only align_corners."""
    mode = "align_corners" if align_corners else "pytorch_half_pixel"
    original = example_module.build_model(seed=0)
    [resize] = [n for n in original.graph.node if n.op_type == "Resize"]
    for attribute in resize.attribute:
        if attribute.name == "coordinate_transformation_mode":
            attribute.s = mode.encode()
    exported = rewrite_model(original, "all", T10).model
    [node] = _plugin_nodes(exported)
    del node.attribute[:]
    node.attribute.append(helper.make_attribute("align_corners", align_corners))

    result = rewrite_model(exported, "all", T10)
    assert [(d.decision, d.op) for d in result.decisions] == [("keep", "DynamicTRTResize")]
    assert "already a DynamicTRTResize plugin node" in result.decisions[0].reason
    assert result.model.SerializeToString() == exported.SerializeToString()
    _assert_same_outputs(original, exported, {"input": _randn(2, 3, 11, 14), "factor": _randn(1, 1, 30, 20)})


# --- runtime scales and runtime sizes ------------------------------------------------------------------------


def test_runtime_scales_are_kept_for_tensorrt_or_refused():
    model = single_resize_model(["n", 3, "h", "w"], runtime_scales=True, name="resize_rt")
    [auto] = plan_rewrites(model, T10)
    assert auto.decision == "keep"
    with pytest.raises(BadInput, match="'resize_rt'.*scales.*runtime") as error:
        rewrite_model(model, "all", T10)
    assert error.value.exit_code == 2
    with pytest.raises(BadInput, match="'resize_rt'.*rejects cubic Resize.*scales"):
        rewrite_model(model, "auto", T84)
    [planned] = plan_rewrites(model, T84)
    assert planned.decision == "error"


@pytest.mark.parametrize("inner", ["graph_input", "doubled"])
def test_runtime_sizes_become_a_shape_input(inner):
    model = shape_sized_model(inner, coordinate_transformation_mode="half_pixel")
    result = rewrite_model(model, "all", T101)
    [node] = _plugin_nodes(result.model)
    assert _attrs(node)["tensorrt_plugin_shape_input_indices"] == [1]
    assert {"sizes", "scales"}.isdisjoint(_attrs(node))
    [producer] = [n for n in result.model.graph.node if node.input[1] in n.output]
    assert producer.op_type == "Gather"
    onnx.checker.check_model(result.model, full_check=True)
    x = _randn(2, 3, 7, 11)
    feeds = {"x": x} if inner == "doubled" else {"x": x, "hw": np.array([15, 4], dtype=np.int64)}
    _assert_same_outputs(model, result.model, feeds)


def test_runtime_sizes_are_refused_without_shape_inputs():
    model = shape_sized_model("doubled", coordinate_transformation_mode="half_pixel")
    with pytest.raises(BadInput, match="'resize'.*runtime value.*10.1"):
        rewrite_model(model, "all", T10)


def test_sizes_that_may_resize_outer_axes_are_refused():
    model = single_resize_model(["n", 3, "h", "w"], runtime_sizes=True)
    with pytest.raises(BadInput, match="may resize axes \\[0, 1, 2, 3\\]"):
        rewrite_model(model, "all", T11)
    [decision] = plan_rewrites(model, T11)
    assert decision.decision == "keep" and "provided the runtime sizes" in decision.reason


def test_carrier_sizes_from_shape(tmp_path):
    model = shape_sized_model("carrier", coordinate_transformation_mode="align_corners", cubic_coeff_a=-0.5)
    result = rewrite_model(model, "all", T10)
    [node] = _plugin_nodes(result.model)
    assert list(node.input) == ["x", "like"]
    _assert_same_outputs(model, result.model, {"x": _randn(1, 2, 6, 9), "like": _randn(1, 1, 13, 5)})


# --- auto decisions per target -------------------------------------------------------------------------------


def test_auto_rewrites_a_plain_cubic_resize_for_8_4_and_keeps_it_for_10():
    model = single_resize_model([1, 3, 8, 8], scales=[1.0, 1.0, 2.0, 2.0])
    old = rewrite_model(model, "auto", T84)
    assert [d.decision for d in old.decisions] == ["rewrite"]
    assert len(_plugin_nodes(old.model)) == 1
    _assert_same_outputs(model, old.model, {"x": _randn(1, 3, 8, 8)})
    new = rewrite_model(model, "auto", T10)
    assert [d.decision for d in new.decisions] == ["keep"]
    assert new.model.SerializeToString() == model.SerializeToString()


@pytest.mark.parametrize(
    "kwargs,words",
    [
        ({"antialias": 1, "opset": 18, "sizes": [1, 3, 5, 6]}, "rejects antialias"),
        ({"coordinate_transformation_mode": "half_pixel_symmetric", "scales": [1, 1, 1.7, 0.6]}, "symmetric"),
        (
            {
                "coordinate_transformation_mode": "tf_half_pixel_for_nn",
                "opset": 11,
                "scales": [1, 1, 2.0, 1.5],
            },
            "tf_half_pixel_for_nn differently",
        ),
    ],
)
def test_auto_rewrites_what_tensorrt_10_rejects_or_miscomputes(kwargs, words):
    opset = kwargs.pop("opset", 19)
    model = single_resize_model([1, 3, 9, 8], opset=opset, **kwargs)
    result = rewrite_model(model, "auto", T10)
    [decision] = result.decisions
    assert decision.decision == "rewrite" and words in decision.reason
    assert len(_plugin_nodes(result.model)) == 1
    _assert_same_outputs(model, result.model, {"x": _randn(1, 3, 9, 8)})


@pytest.mark.parametrize(
    "sizes", [[1, 3, 4, 12], [1, 3, 1, 12]], ids=["lengths above one", "output length 1"]
)
def test_auto_keeps_pytorch_half_pixel_on_10(sizes):
    # The 10.x parser maps it as 8.5's does (kUPPER at output length 1: ONNX's coordinate 0), see target.py.
    model = single_resize_model(
        [1, 3, 9, 8], sizes=sizes, coordinate_transformation_mode="pytorch_half_pixel"
    )
    [decision] = plan_rewrites(model, T10)
    assert decision.decision == "keep" and "except" not in decision.reason


def test_auto_refuses_runtime_scales_with_axes_on_10():
    # The 10.x parser takes a scales tensor only with trivial axes, and the plugin takes constant scales only.
    model = single_resize_model([1, 3, 9, 8], axes=[2, 3], runtime_scales=True)
    [decision] = plan_rewrites(model, T10)
    assert decision.decision == "error"
    assert (
        "rejects axes=[2, 3] with runtime scales" in decision.reason and "constant scales" in decision.reason
    )


def test_align_corners_with_fractional_length_follows_onnx_not_onnxruntime():
    model = single_resize_model(
        [1, 2, 4, 7], scales=[1.0, 1.0, 0.8, 2.3], coordinate_transformation_mode="align_corners"
    )
    result = rewrite_model(model, "all", T10)
    assert _attrs(_plugin_nodes(result.model)[0])["scales"] == pytest.approx([0.8, 2.3])
    x = _randn(1, 2, 4, 7)
    got = create_session(result.model).run(None, {"x": x})[0]
    want = ReferenceEvaluator(model).run(None, {"x": x})[0]
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)
    assert not np.allclose(run_onnxruntime(model, {"x": x})[0], want, atol=1e-3)


# --- none, errors, and what every rewrite guarantees ---------------------------------------------------------


def test_none_keeps_everything_and_says_what_tensorrt_will_do():
    model = single_resize_model([1, 3, 8, 8], scales=[1.0, 1.0, 2.0, 2.0])
    result = rewrite_model(model, "none", T84)
    [decision] = result.decisions
    assert decision.decision == "keep" and "--rewrite none" in decision.reason and "fail" in decision.reason
    assert result.model.SerializeToString() == model.SerializeToString()
    assert result.model is not model


@pytest.mark.parametrize("policy", ["auto", "all", "none"])
@pytest.mark.parametrize(
    "kwargs,attribute",
    [
        (
            {"keep_aspect_ratio_policy": "not_larger", "sizes": [5, 5], "axes": [2, 3]},
            "keep_aspect_ratio_policy",
        ),
        (
            {"coordinate_transformation_mode": "tf_crop_and_resize", "scales": [1, 1, 2.0, 2.0]},
            "tf_crop_and_resize",
        ),
    ],
)
def test_what_nothing_computes_is_a_preflight_error(policy, kwargs, attribute):
    model = single_resize_model([1, 3, 8, 8], name="odd_resize", **kwargs)
    with pytest.raises(BadInput, match=f"'odd_resize'.*{attribute}") as error:
        rewrite_model(model, policy, T10)
    assert error.value.exit_code == 2 and "\n" not in str(error.value)


def test_unknown_policy_is_bad_input():
    with pytest.raises(BadInput, match="sometimes"):
        rewrite_model(single_resize_model([1, 1, 4, 4], scales=[1, 1, 2, 2]), "sometimes", T10)


def test_input_model_is_never_modified(example_module):
    model = example_module.build_model(seed=0)
    before = model.SerializeToString()
    rewrite_model(model, "all", T10)
    plan_rewrites(model, T84)
    assert model.SerializeToString() == before


def test_attribute_types_are_what_the_parser_turns_into_plugin_fields():
    model = single_resize_model(
        [1, 3, 8, 8], scales=[1.0, 1.0, 2.0, 0.5], exclude_outside=1, cubic_coeff_a=-0.5
    )
    result = rewrite_model(model, "all", T11)
    [node] = _plugin_nodes(result.model)
    types = {a.name: a.type for a in node.attribute}
    A = onnx.AttributeProto
    assert types == {
        "plugin_version": A.STRING,
        "plugin_namespace": A.STRING,
        "coordinate_transformation_mode": A.STRING,
        "cubic_coeff_a": A.FLOAT,
        "exclude_outside": A.INT,
        "antialias": A.INT,
        "scales": A.FLOATS,
    }
    assert {(o.domain, o.version) for o in result.model.opset_import} == {("", 19), ("Test", 1)}
    assert result.model.ir_version == model.ir_version


def test_several_resizes_are_decided_one_by_one():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 6, 6])
    scales = numpy_helper.from_array(np.array([1, 1, 2, 2], dtype=np.float32), "scales")
    nodes = [
        helper.make_node("Resize", ["x", "", "scales"], ["a"], mode="cubic"),
        helper.make_node("Resize", ["a", "", "scales"], ["b"], name="linear", mode="linear"),
        helper.make_node("Resize", ["b", "", "scales"], ["y"], name="aa", mode="cubic", antialias=1),
    ]
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None] * 4)
    model = helper.make_model(
        helper.make_graph(nodes, "g", [x], [y], [scales]), opset_imports=[helper.make_opsetid("", 19)]
    )
    model.ir_version = 8
    result = rewrite_model(model, "auto", T10)
    assert [(d.node, d.decision) for d in result.decisions] == [("a", "keep"), ("aa", "rewrite")]
    result = rewrite_model(model, "all", T10)
    assert [n.name for n in _plugin_nodes(result.model)] == ["a", "aa"]
    _assert_same_outputs(model, result.model, {"x": _randn(1, 2, 6, 6)})


# --- axes other than the two innermost -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs,shape,oracles",
    [
        ({"scales": [1.0, 2.0, 1.5, 1.0], "opset": 13}, (2, 5, 6, 3), "onnxruntime onnx"),  # NHWC
        # onnxruntime refuses cubic downscaling of a non-innermost axis
        ({"sizes": [9, 4], "axes": [1, 2], "opset": 18}, (2, 5, 6, 3), "onnx"),
        ({"scales": [1.0, 2.0, 1.0, 1.0], "opset": 13}, (1, 4, 3, 5), "onnxruntime onnx"),  # one outer axis
        # ONNX's reference evaluator fails on negative axes
        ({"scales": [2.0, 0.5], "axes": [-1, -2], "opset": 18}, (1, 2, 6, 4), "onnxruntime"),
    ],
)
def test_other_axes_are_resized_between_transposes(kwargs, shape, oracles):
    opset = kwargs.pop("opset")
    model = single_resize_model(
        list(shape), opset=opset, coordinate_transformation_mode="half_pixel", **kwargs
    )
    result = rewrite_model(model, "all", T10)
    [decision] = result.decisions
    assert decision.decision == "rewrite"
    if "axes" in kwargs and kwargs["axes"] == [-1, -2]:
        assert "Transpose" not in {n.op_type for n in result.model.graph.node}
    else:
        assert [n.op_type for n in result.model.graph.node] == ["Transpose", "DynamicTRTResize", "Transpose"]
        assert "between Transposes" in decision.reason
    x = _randn(*shape)
    if "onnxruntime" in oracles:
        _assert_same_outputs(model, result.model, {"x": x})
    if "onnx" in oracles.split():
        _assert_matches_onnx_reference(model, result.model, x)


def test_three_resized_axes_are_an_error():
    model = single_resize_model([2, 4, 6, 8], scales=[1.0, 2.0, 2.0, 2.0], name="volume")
    with pytest.raises(BadInput, match="'volume'.*two innermost.*resize axes \\[1, 2, 3\\]"):
        rewrite_model(model, "auto", T10)


def test_unnamed_resize_gets_a_plugin_node_named_after_its_output():
    model = single_resize_model([1, 1, 4, 4], scales=[1, 1, 2, 2], name="")
    result = rewrite_model(model, "all", T10)
    assert [n.name for n in _plugin_nodes(result.model)] == ["y"]
    assert result.decisions[0].node == "y"


def test_constants_in_unloaded_external_data_are_read_from_the_model_folder(tmp_path):
    model = single_resize_model([1, 3, 8, 8], scales=[1.0, 1.0, 2.0, 0.5], antialias=1, opset=18)
    path = tmp_path / "model.onnx"
    on_disk = onnx.ModelProto()
    on_disk.CopyFrom(model)  # saving with external data rewrites the proto it is given
    onnx.save_model(on_disk, path, save_as_external_data=True, location="model.data", size_threshold=0)
    graph_only = onnx.load(path, load_external_data=False)
    [unknown] = plan_rewrites(graph_only, T10)
    assert unknown.decision == "error" and "external data that was not loaded" in unknown.reason
    [known] = plan_rewrites(graph_only, T10, base_dir=tmp_path)
    assert known.decision == "rewrite" and "scales=[2.0, 0.5]" in known.reason
    result = rewrite_model(graph_only, "auto", T10, base_dir=tmp_path)
    assert _attrs(_plugin_nodes(result.model)[0])["scales"] == [2.0, 0.5]
    _assert_same_outputs(model, result.model, {"x": _randn(1, 3, 8, 8)})


def test_real_detector_with_its_upsamplers_made_cubic(shared_models):
    """PaddleOCR's detector (opset 12, scales from Constant nodes) with its six Resize nodes switched to cubic."""
    model = onnx.load(shared_models / "ppocr_v4_det.onnx")
    resizes = [n for n in model.graph.node if n.op_type == "Resize"]
    for node in resizes:
        for attribute in node.attribute:
            if attribute.name == "mode":
                attribute.s = b"cubic"
    model.graph.output.extend(helper.make_empty_tensor_value_info(n.output[0]) for n in resizes)
    result = rewrite_model(model, "auto", T84)
    assert [d.decision for d in result.decisions] == ["rewrite"] * 6
    assert sorted(_attrs(n)["scales"][0] for n in _plugin_nodes(result.model)) == [
        2.0,
        2.0,
        2.0,
        2.0,
        4.0,
        8.0,
    ]
    assert "Resize" not in {n.op_type for n in result.model.graph.node}
    x = _randn(1, 3, 96, 128)
    want = run_onnxruntime(model, {"x": x})
    got = create_session(result.model).run(None, {"x": x})
    for w, g in zip(want, got, strict=True):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, atol=ATOL * max(1.0, float(np.abs(w).max())), rtol=RTOL)


def test_resizes_inside_subgraphs_are_rewritten_too():
    scales = numpy_helper.from_array(np.array([1, 1, 2, 2], dtype=np.float32), "scales")
    out = helper.make_tensor_value_info
    then_branch = helper.make_graph(
        [helper.make_node("Resize", ["x", "", "scales"], ["t"], name="inner", mode="cubic", antialias=1)],
        "then",
        [],
        [out("t", TensorProto.FLOAT, [None] * 4)],
    )
    else_branch = helper.make_graph(
        [helper.make_node("Resize", ["x", "", "scales"], ["e"], name="other", mode="linear")],
        "else",
        [],
        [out("e", TensorProto.FLOAT, [None] * 4)],
    )
    graph = helper.make_graph(
        [helper.make_node("If", ["c"], ["y"], then_branch=then_branch, else_branch=else_branch)],
        "branches",
        [out("x", TensorProto.FLOAT, [1, 2, 4, 5]), out("c", TensorProto.BOOL, [])],
        [out("y", TensorProto.FLOAT, [None] * 4)],
        [scales],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    model.ir_version = 9
    result = rewrite_model(model, "auto", T10)
    assert [(d.node, d.decision) for d in result.decisions] == [("inner", "rewrite")]
    _assert_same_outputs(model, result.model, {"x": _randn(1, 2, 4, 5), "c": np.array(True)})


def test_runtime_sizes_for_tensorrt_8_5_exit_2_naming_the_node(run_cli, tmp_path):
    path = tmp_path / "doubled.onnx"
    onnx.save(
        shape_sized_model("doubled", coordinate_transformation_mode="half_pixel_symmetric", opset=19), path
    )
    result = run_cli("prepare", path, "-o", tmp_path / "out.onnx", "--target-tensorrt", "8.5",
                     "--profile", "x=1x1x4x4:1x3x8x8:2x3x16x16")  # fmt: skip
    assert result.code == 2, result.stderr
    assert (
        "node 'resize'" in result.stderr
        and "TensorRT 8.5 has no plugin shape inputs (10.1+)" in result.stderr
    )
    assert not (tmp_path / "out.onnx").exists()


def _resize_inputs(model: onnx.ModelProto):
    import onnx_graphsurgeon as gs

    from trtconvert.prepare.rewrite.rules.cubic_resize import _ResizeInputs
    from trtconvert.prepare.rewrite.shapes import ShapeTracer, infer_static_shapes

    node = next(n for n in gs.import_onnx(model).nodes if n.op == "Resize")
    return _ResizeInputs.read(node, ShapeTracer(infer_static_shapes(model)))


def test_the_analysis_of_constant_scales_on_the_inner_axes():
    inputs = _resize_inputs(single_resize_model([1, 3, 4, 7], scales=[1, 1, 0.5, 2.0]))
    assert inputs.rank == 4 and inputs.listed == [0, 1, 2, 3] and not inputs.runtime_scales
    assert inputs.states() == {0: True, 1: True, 2: False, 3: False}
    assert [inputs.out_length(a) for a in range(4)] == [1, 3, 2, 14]
    assert inputs.outer_axes_resized() is False and inputs.output_length_one() is False
    assert inputs.scale_inexact(2) is False and inputs.inner_scale_inexact() is False
    fractional = _resize_inputs(single_resize_model([1, 3, 5, 7], scales=[1, 1, 0.5, 2.0]))
    assert fractional.scale_inexact(2) is True and fractional.inner_scale_inexact() is True


def test_the_analysis_of_runtime_scales_and_of_axes_on_an_outer_axis():
    runtime = _resize_inputs(single_resize_model(["n", 3, 5, 7], runtime_scales=True))
    assert runtime.runtime_scales and runtime.states() == {0: None, 1: None, 2: None, 3: None}
    assert runtime.outer_axes_resized() is None and runtime.output_length_one() is None
    outer = _resize_inputs(single_resize_model([1, 3, 5, 7], sizes=[6, 10], axes=[1, 3]))
    assert outer.listed == [1, 3] and outer.states() == {0: True, 1: False, 2: True, 3: False}
    assert outer.outer_axes_resized() is True and outer.out_length(1) == 6


def _with_constant_node_parameters(model: onnx.ModelProto) -> onnx.ModelProto:
    """The same model with its initializers moved into Constant nodes, as paddle2onnx writes them."""
    nodes = [helper.make_node("Constant", [], [i.name], value=i) for i in model.graph.initializer]
    nodes += list(model.graph.node)
    del model.graph.initializer[:]
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return model


LIMITS_ONLY_MODELS = {
    "fine": lambda: single_resize_model([1, 1, 4, 4], opset=13, scales=[1, 1, 2, 2], mode="nearest"),
    "negative scale": lambda: single_resize_model(
        [1, 1, 4, 4], opset=13, scales=[1, 1, -2, 2], mode="linear"
    ),
    "overflow at static length": lambda: single_resize_model(
        [1, 1, 4, 4], opset=13, scales=[1, 1, 1e9, 2], mode="nearest"
    ),
    "overflow at any length": lambda: single_resize_model(
        [1, 1, "h", "w"], opset=13, scales=[1, 1, 3e9, 2], mode="linear"
    ),
    "sizes out of range": lambda: single_resize_model(
        [1, 1, 4, 4], opset=13, sizes=[1, 1, 0, 4], mode="nearest"
    ),
    "opset 11 with empty roi": lambda: single_resize_model(
        [1, 1, "h", 4], opset=11, sizes=[1, 1, 8, 8], mode="linear"
    ),
    "runtime scales": lambda: single_resize_model(
        [1, 1, 4, 4], opset=13, runtime_scales=True, mode="nearest"
    ),
}


@pytest.mark.parametrize("constant_nodes", [False, True])
@pytest.mark.parametrize("case", sorted(LIMITS_ONLY_MODELS))
def test_inspects_light_view_of_non_cubic_resizes_decides_as_the_whole_graph(
    case: str, constant_nodes: bool
) -> None:
    # `inspect` imports only the Resize nodes and their parameters when no rule can match: the decisions must be
    # those of the whole graph, errors included.
    from trtconvert.prepare.rewrite import stage

    model = LIMITS_ONLY_MODELS[case]()
    if constant_nodes:
        model = _with_constant_node_parameters(model)
    view = stage._limits_check_view(model, stage._constant_names(model))
    assert view is not None
    _, whole = stage._plans(model, "auto", T11, None)
    decisions = plan_rewrites(model, T11)
    assert [p.decision for p in whole] == decisions
    refused = case not in {"fine", "opset 11 with empty roi", "runtime scales"}
    assert [d.decision for d in decisions] == (["error"] if refused else [])


def test_a_cubic_resize_or_a_resize_in_a_subgraph_gets_the_whole_graph() -> None:
    from trtconvert.prepare.rewrite import stage

    cubic = single_resize_model([1, 1, 4, 4], opset=13, scales=[1, 1, 2, 2])
    assert stage._limits_check_view(cubic, stage._constant_names(cubic)) is None
    inner = single_resize_model([1, 1, 4, 4], opset=13, scales=[1, 1, 2, 2], mode="nearest").graph
    branch = helper.make_graph(list(inner.node), "branch", [], list(inner.output), list(inner.initializer))
    outer = helper.make_model(
        helper.make_graph(
            [helper.make_node("If", ["c"], ["y"], then_branch=branch, else_branch=branch)],
            "outer",
            [helper.make_tensor_value_info("c", TensorProto.BOOL, []), *inner.input],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        ),
        opset_imports=[helper.make_opsetid("", 13)],
    )
    assert stage._limits_check_view(outer, stage._constant_names(outer)) is None
