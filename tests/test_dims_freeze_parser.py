"""Real models must build: tied dim names, placeholders, dims every profile fixes, --freeze, and the parser
checks that catch what TensorRT's ONNX parser rejects before any GPU time (on generated and shared models)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import numpy as np
import onnx
import pytest
from model_factories import REAL_MODELS
from onnx import TensorProto, helper, numpy_helper

from trtconvert.errors import BadInput
from trtconvert.model.dims import fixed_dims, is_placeholder, make_placeholders_unique, tied_axes
from trtconvert.model.info import graph_inputs
from trtconvert.model.profiles import check_ties, parse_profile
from trtconvert.prepare.parser_checks import find_problems


def _two_input_model(x_dims, y_dims, out_dims=None) -> onnx.ModelProto:
    """x + y (broadcasting), so that any dims are valid for the checks that read names only."""
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "y"], ["z"], name="add")],
        "two",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, x_dims),
            helper.make_tensor_value_info("y", TensorProto.FLOAT, y_dims),
        ],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, out_dims or x_dims)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


@pytest.mark.parametrize("name", ["", "?", "-1", "None", "unk__12", "unk_3", "0", "*", "unknown", "DYNAMIC"])
def test_placeholders(name: str) -> None:
    assert is_placeholder(name)


@pytest.mark.parametrize("name", ["batch", "N", "height", "p2o.DynamicDimension.0", "seq_len", "unk_batch"])
def test_real_names(name: str) -> None:
    assert not is_placeholder(name)


def test_placeholders_are_made_unique_and_real_names_kept() -> None:
    model = _two_input_model(["batch", 3, "?", "?"], ["batch", 1, "unk__1", "unk__1"], ["batch", 3, "?", "?"])
    notes = make_placeholders_unique(model)
    dims = {
        v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in [*model.graph.input, *model.graph.output]
    }
    assert dims == {
        "x": ["batch", 3, "x_dim2", "x_dim3"],
        "y": ["batch", 1, "y_dim2", "y_dim3"],
        "z": ["batch", 3, "z_dim2", "z_dim3"],
    }
    assert "x[2] '?' -> x_dim2" in notes and len(notes) == 6
    assert make_placeholders_unique(model) == []  # nothing left to rename


def test_tied_axes_and_the_refusal_with_a_corrected_profile() -> None:
    inputs = graph_inputs(_two_input_model(["batch", 3, "?", "?"], [2, "batch", "?"]))
    assert tied_axes(inputs) == {"batch": [("x", 0), ("y", 1)]}
    good = parse_profile("x=1x3x8x8:2x3x16x16:4x3x32x32,y=2x1x5:2x2x5:2x4x5")
    check_ties([good], inputs)
    bad = parse_profile("x=1x3x8x8:2x3x16x16:4x3x32x32,y=2x1x5:2x3x5:2x4x5")
    with pytest.raises(BadInput) as refused:
        check_ties([bad], inputs)
    message = str(refused.value)
    assert "axes tied by the dim name 'batch' get different opt values (x[0]=2, y[1]=3)" in message
    assert "use --profile 'x=1x3x8x8:2x3x16x16:4x3x32x32,y=2x1x5:2x2x5:2x4x5'" in message
    # The corrected profile as printed passes.
    check_ties([parse_profile(message.split("--profile '")[1].rstrip("'"))], inputs)


def test_cli_refuses_tied_axes_with_different_values_before_folding(run_cli, tmp_path: Path) -> None:
    path = tmp_path / "two.onnx"
    onnx.save(_two_input_model(["batch", 3], ["batch", 3]), path)
    result = run_cli("prepare", path, "-o", tmp_path / "out.onnx", "--profile", "x=1x3:2x3:4x3,y=1x3:1x3:4x3")
    assert result.code == 2, result.stderr
    assert "tied by the dim name 'batch'" in result.stderr and "\nfold " not in "\n" + result.stderr
    assert not (tmp_path / "out.onnx").exists()


def test_dims_every_profile_fixes() -> None:
    inputs = graph_inputs(_two_input_model(["n", 3, "h"], ["n", 3, 1]))
    profiles = [parse_profile("x=1x3x8:1x3x16:1x3x32,y=1x3x1"), parse_profile("x=1x3x64,y=1x3x1")]
    assert fixed_dims(profiles, inputs) == {("x", 0): 1, ("y", 0): 1}
    assert fixed_dims([parse_profile("x=1x3x8,y=1x3x1"), parse_profile("x=2x3x8,y=2x3x1")], inputs) == {
        ("x", 2): 8
    }
    assert fixed_dims([], inputs) == {}


def test_shared_cls_model_gets_unique_dims_in_the_prepared_model(
    run_cli, shared_models: Path, tmp_path: Path
):
    out = tmp_path / "cls.onnx"
    # The model writes height and width both '?', which TensorRT would tie; the profile fixes the height (48),
    # which becomes static, and varies the width, whose name becomes its own.
    result = run_cli("prepare", shared_models / "ppocr_mobile_v2_cls.onnx", "-o", out,
                     "--profile", "x=1x3x48x96:2x3x48x192:4x3x48x320", "--verify")  # fmt: skip
    assert result.code == 0, result.stderr
    assert "dims every profile fixes made static: x[2]=48" in result.stderr
    assert "x[3] '?' -> x_dim3" in result.stderr
    dims = [d.dim_param or d.dim_value for d in onnx.load(out).graph.input[0].type.tensor_type.shape.dim]
    assert dims[1:] == [3, 48, "x_dim3"]


# ---- --freeze


def _mode_switch_model() -> onnx.ModelProto:
    """y = x * 2 if mode else a rank-changing ReduceSum(x): TensorRT cannot build the If unless mode is fixed."""
    then_graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "two"], ["then_out"])], "then", [],
        [helper.make_tensor_value_info("then_out", TensorProto.FLOAT, ["n", 4])],
    )  # fmt: skip
    else_graph = helper.make_graph(
        [helper.make_node("ReduceSum", ["x"], ["else_out"], keepdims=0)], "else", [],
        [helper.make_tensor_value_info("else_out", TensorProto.FLOAT, [])],
    )  # fmt: skip
    graph = helper.make_graph(
        [
            helper.make_node("Cast", ["mode"], ["cond"], to=TensorProto.BOOL, name="to_bool"),
            helper.make_node(
                "If", ["cond"], ["y"], name="switch", then_branch=then_graph, else_branch=else_graph
            ),
        ],
        "mode_switch",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4]),
            helper.make_tensor_value_info("mode", TensorProto.INT64, []),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4])],
        [numpy_helper.from_array(np.array(2.0, dtype=np.float32), "two")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def test_an_if_on_an_input_value_is_found_with_the_freeze_fix() -> None:
    (problem,) = find_problems(_mode_switch_model())
    assert problem.node == "switch" and problem.value_inputs == ("mode",) and problem.shape_inputs == ()
    assert "--freeze mode=VALUE" in problem.line()


def test_freeze_folds_the_if_away_and_verify_feeds_the_value(run_cli, tmp_path: Path) -> None:
    path = tmp_path / "switch.onnx"
    onnx.save(_mode_switch_model(), path)
    out = tmp_path / "prepared.onnx"
    refused = run_cli("prepare", path, "-o", out, "--profile", "x=1x4:2x4:4x4")
    assert refused.code == 2, refused.stderr
    assert "will reject node 'switch'" in refused.stderr and "--freeze mode=VALUE" in refused.stderr
    assert not out.exists()
    tried = run_cli("prepare", path, "-o", out, "--profile", "x=1x4:2x4:4x4", "--no-check-parser")
    assert tried.code == 0 and "warning: TensorRT's ONNX parser will reject node 'switch'" in tried.stderr
    frozen = run_cli("prepare", path, "-o", out, "--profile", "x=1x4:2x4:4x4", "--freeze", "mode=1", "--verify",
                     "--json")  # fmt: skip
    assert frozen.code == 0, frozen.stderr
    assert "frozen mode=1" in frozen.stderr and "nothing the ONNX parser is known to reject" in frozen.stderr
    prepared = onnx.load(out)
    assert [i.name for i in prepared.graph.input] == ["x"]
    assert not [n for n in prepared.graph.node if n.op_type == "If"]
    report = json.loads(frozen.stdout)
    assert report["verification"][0]["outputs"][0]["max_abs"] == 0


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--freeze", "nope=1"], "--freeze nope: the model has no input 'nope'"),
        (["--freeze", "mode=abc"], "--freeze mode=abc: give a number or a path ending in .npy"),
        (["--freeze", "x=1"], "--freeze x: a number fills the input's shape, but [n, 4] is not static"),
        (["--freeze", "mode=1", "--input", "mode=2"], "given both --freeze and --input"),
        (["--freeze", "badflag"], "--freeze 'badflag': write NAME=VALUE"),
    ],
)
def test_freeze_bad_input(run_cli, tmp_path: Path, flags: list[str], message: str) -> None:
    path = tmp_path / "switch.onnx"
    onnx.save(_mode_switch_model(), path)
    result = run_cli("prepare", path, "-o", tmp_path / "o.onnx", "--profile", "x=1x4:2x4:4x4", *flags)
    assert result.code == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr


def test_a_frozen_input_takes_no_profile(run_cli, tmp_path: Path) -> None:
    path = tmp_path / "switch.onnx"
    np.save(tmp_path / "x.npy", np.ones((2, 4), dtype=np.float32))
    onnx.save(_mode_switch_model(), path)
    result = run_cli("prepare", path, "-o", tmp_path / "o.onnx", "--freeze", f"x={tmp_path / 'x.npy'}",
                     "--profile", "x=1x4:2x4:4x4", "--freeze", "mode=1")  # fmt: skip
    assert result.code == 2 and "input 'x' is frozen (--freeze), so it takes no --profile" in result.stderr
    ok = run_cli("prepare", path, "-o", tmp_path / "o.onnx", "--freeze", f"x={tmp_path / 'x.npy'}",
                 "--freeze", "mode=1", "--verify")  # fmt: skip
    assert ok.code == 0, ok.stderr


def test_freeze_in_a_config(run_cli, tmp_path: Path) -> None:
    onnx.save(_mode_switch_model(), tmp_path / "switch.onnx")
    (tmp_path / "c.yaml").write_text(
        "model: switch.onnx\noutput: out.onnx\nprofiles:\n  - x: 1x4:2x4:4x4\nfreeze:\n  mode: 1\nverify: true\n"
    )
    result = run_cli("prepare", "--config", tmp_path / "c.yaml")
    assert result.code == 0, result.stderr
    assert [i.name for i in onnx.load(tmp_path / "out.onnx").graph.input] == ["x"]


# ---- shared models


def test_silero_with_a_dynamic_batch_is_refused_with_the_fix(run_cli, shared_models: Path, tmp_path: Path):
    result = run_cli("prepare", shared_models / "silero_vad_16k_op15.onnx", "-o", tmp_path / "s.onnx",
                     "--profile", "input=1x512:2x512:4x512,state=2x1x128:2x2x128:2x4x128", "--freeze", "sr=16000")  # fmt: skip
    assert result.code == 2, result.stderr
    assert "an If whose branches give output 0 different shapes" in result.stderr
    assert "fix the dynamic dims of input(s) input in every --profile (min = opt = max)" in result.stderr
    # Four Ifs, two of them nested inside another If's branch: the first is the error line, the others warnings
    # above it; none is said twice.
    lines = result.stderr.splitlines()
    errors = [line for line in lines if line.startswith("error:")]
    assert (
        len(errors) == 1 and "node '/model/decoder/rnn/If'" in errors[0] and "(and 3 more above)" in errors[0]
    )
    assert any("sub_graph7//model/decoder/rnn/If_2'" in line for line in lines if line.startswith("warning:"))
    assert sum("node '/model/decoder/rnn/If'" in line for line in lines) == 1
    assert sum("node '/model/decoder/rnn/If_1'" in line for line in lines if line.startswith("warning:")) == 1


def test_silero_config_prepares_without_if_nodes(run_cli, tmp_path: Path, shared_models: Path) -> None:
    config = Path(__file__).resolve().parents[1] / "configs" / "silero_vad.yaml"
    out = tmp_path / "silero.onnx"
    result = run_cli("prepare", "--config", config, "-o", out, "--verify")
    assert result.code == 0, result.stderr
    prepared = onnx.load(out)
    assert [i.name for i in prepared.graph.input] == ["input", "state"]
    assert not [n for n in prepared.graph.node if n.op_type in ("If", "Loop")]


def _suggestion(run_cli, model: Path) -> list[str]:
    report = run_cli("inspect", model, "--json")
    assert report.code == 0, report.stderr
    return shlex.split(json.loads(report.stdout)["profile_example"])


@pytest.mark.parametrize("name", sorted(REAL_MODELS))
def test_the_suggested_profile_of_each_shared_model_passes_prepare_verify(
    run_cli, shared_models, tmp_path, name
):
    flags = _suggestion(run_cli, shared_models / name)
    result = run_cli("prepare", shared_models / name, "-o", tmp_path / "p.onnx", *flags, "--verify")
    assert result.code == 0, f"{flags}: {result.stderr[-2000:]}"


def test_the_suggested_profile_of_the_example_passes_prepare_verify(run_cli, example_model, tmp_path):
    flags = _suggestion(run_cli, example_model)
    result = run_cli("prepare", example_model, "-o", tmp_path / "p.onnx", *flags, "--verify")
    assert result.code == 0, f"{flags}: {result.stderr[-2000:]}"


def test_inspect_shows_tied_dims_and_why_a_suggestion_is_fixed(run_cli, shared_models: Path) -> None:
    result = run_cli("inspect", shared_models / "silero_vad_16k_op15.onnx")
    assert "tied      'batch': input[0], state[1]" in result.stdout
    assert "input fixed to one shape: If nodes choose their branches by those dims" in result.stdout
    report = json.loads(run_cli("inspect", shared_models / "silero_vad_16k_op15.onnx", "--json").stdout)
    assert report["tied_dims"] == {"batch": ["input[0]", "state[1]"]}
    assert report["parser_problems"] and report["profile_fixes"] == ["input"]


def test_inspect_fixes_the_dim_that_shape_inference_says_the_model_constrains(
    run_cli, tmp_path: Path
) -> None:
    # A Reshape to 7 x 48: only inputs whose n x 3 x w is a multiple of 336 can run; w = 112 is the first usual
    # size that does for every batch.
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["x", "shape"], ["y"], name="to_48")],
        "fixed",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, "w"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.array([-1, 7, 48], dtype=np.int64), "shape")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "fixed.onnx")
    report = json.loads(run_cli("inspect", tmp_path / "fixed.onnx", "--json").stdout)
    assert report["profile_check"] is None, report["profile_check"]
    assert report["profile_fixed_by_model"] == {"x[2]": 112}
    assert report["profile_example"] == "--profile 'x=1x3x112:1x3x112:8x3x112'"


def test_a_resize_kept_by_rewrite_none_that_the_target_rejects_is_a_parser_problem(
    run_cli, tmp_path: Path
) -> None:
    from resize_models import single_resize_model

    path = tmp_path / "antialias.onnx"
    onnx.save(single_resize_model([1, 3, 8, 8], scales=[1.0, 1.0, 0.5, 0.5], antialias=1), path)
    out = tmp_path / "prepared.onnx"
    args = ("prepare", path, "-o", out, "--target-tensorrt", "10.8")
    refused = run_cli(*args, "--rewrite", "none")
    assert refused.code == 2, refused.stderr
    errors = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
    assert (
        len(errors) == 1
        and "'resize' was kept by --rewrite none, but TensorRT 10.8 rejects antialias=1" in errors[0]
    )
    assert "drop --rewrite none" in errors[0] and "--no-check-parser" in errors[0]
    assert "nothing the ONNX parser is known to reject" not in refused.stderr and not out.exists()

    tried = run_cli(*args, "--rewrite", "none", "--no-check-parser")
    assert tried.code == 0 and "warning: node 'resize' was kept by --rewrite none" in tried.stderr
    assert "1 problem(s), trying anyway" in tried.stderr

    # The default rewrites it; and --rewrite none on a target that computes the node as ONNX does is no problem.
    assert "nothing the ONNX parser is known to reject" in run_cli(*args).stderr
    plain = tmp_path / "plain.onnx"
    onnx.save(single_resize_model([1, 3, 8, 8], scales=[1.0, 1.0, 2.0, 2.0]), plain)
    kept = run_cli("prepare", plain, "-o", out, "--target-tensorrt", "10.8", "--rewrite", "none")
    assert kept.code == 0 and "nothing the ONNX parser is known to reject" in kept.stderr, kept.stderr
