"""prepare on models whose large weights stay in external data while folding and rewriting."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from trtconvert.model.load import LARGE_TENSOR_BYTES

HIDDEN = 1024  # 4 MiB float32 weights: over LARGE_TENSOR_BYTES, so they stay on disk


def _run(run_cli, *args):
    result = run_cli(*args)
    return result.code, result.stdout, result.stderr


def save_external(model: onnx.ModelProto, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.onnx"
    onnx.save_model(model, path, save_as_external_data=True, location="model.onnx.data", size_threshold=1024)
    return path


def weight(rng, name, shape):
    return numpy_helper.from_array((rng.standard_normal(shape) / 32).astype(np.float32), name)


def dense_model(rng) -> onnx.ModelProto:
    """Transpose of a large weight (foldable), a Reshape shaped by Shape folding of a large weight, an If on
    a constant condition whose branches use large outer weights."""
    assert HIDDEN * HIDDEN * 4 >= LARGE_TENSOR_BYTES
    inits = [
        weight(rng, "w0_t", (HIDDEN, HIDDEN)),
        weight(rng, "w1", (HIDDEN, HIDDEN)),
        weight(rng, "w_then", (HIDDEN, HIDDEN)),
        weight(rng, "w_else", (HIDDEN, HIDDEN)),
        weight(rng, "w_flat", (HIDDEN * HIDDEN,)),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "one"),
        numpy_helper.from_array(np.array([-1], dtype=np.int64), "minus_one"),
        numpy_helper.from_array(np.array(2.0, dtype=np.float32), "a"),
        numpy_helper.from_array(np.array(1.0, dtype=np.float32), "b"),
    ]
    then_graph = helper.make_graph(
        [helper.make_node("MatMul", ["h2", "w_then"], ["t"])],
        "then",
        [],
        [helper.make_tensor_value_info("t", TensorProto.FLOAT, ["batch", HIDDEN])],
    )
    else_graph = helper.make_graph(
        [helper.make_node("MatMul", ["h2", "w_else"], ["e"])],
        "else",
        [],
        [helper.make_tensor_value_info("e", TensorProto.FLOAT, ["batch", HIDDEN])],
    )
    nodes = [
        helper.make_node("Transpose", ["w0_t"], ["w0"], perm=[1, 0]),
        helper.make_node("MatMul", ["x", "w0"], ["h0"]),
        helper.make_node("Shape", ["w1"], ["w1_shape"]),
        helper.make_node("Gather", ["w1_shape", "one"], ["width"]),
        helper.make_node("Concat", ["minus_one", "width"], ["flat_shape"], axis=0),
        helper.make_node("Reshape", ["w_flat", "flat_shape"], ["w_square"]),
        helper.make_node("MatMul", ["h0", "w_square"], ["h1"]),
        helper.make_node("MatMul", ["h1", "w1"], ["h2"]),
        helper.make_node("Greater", ["a", "b"], ["cond"]),
        helper.make_node("If", ["cond"], ["y"], then_branch=then_graph, else_branch=else_graph),
    ]
    graph = helper.make_graph(
        nodes,
        "dense",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", HIDDEN])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", HIDDEN])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def arrays(path: Path) -> dict[str, np.ndarray]:
    model = onnx.load(path)
    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


PROFILE = ["--profile", f"x=1x{HIDDEN}:2x{HIDDEN}:4x{HIDDEN}"]


@pytest.mark.parametrize("fold", [True, False])
def test_large_external_weights_fold_and_verify(run_cli, tmp_path, fold):
    rng = np.random.default_rng(7)
    source = save_external(dense_model(rng), tmp_path / "src")
    before = sorted(p.name for p in source.parent.iterdir())
    output = tmp_path / "out" / "prepared.onnx"
    flags = [] if fold else ["--no-fold"]
    code, out, err = _run(run_cli, "prepare", source, "-o", output, "--verify", "--json", *PROFILE, *flags)
    assert code == 0, err
    report = json.loads(out)
    assert all(o["ok"] for r in report["verification"] for o in r["outputs"])
    assert sorted(p.name for p in source.parent.iterdir()) == before
    prepared = onnx.load(output)
    ops = [n.op_type for n in prepared.graph.node]
    original = arrays(source)
    got = arrays(output)
    if fold:
        assert ops == ["MatMul", "MatMul", "MatMul", "MatMul"], ops
        np.testing.assert_array_equal(got["w0"], original["w0_t"].T)
        np.testing.assert_array_equal(got["w_square"], original["w_flat"].reshape(HIDDEN, HIDDEN))
        inlined = [name for name in got if name.startswith("w_then")]
        assert len(inlined) == 1 and not any(name.startswith("w_else") for name in got)
        np.testing.assert_array_equal(got[inlined[0]], original["w_then"])
    else:
        assert "If" in ops and "Transpose" in ops
        for name, value in original.items():
            np.testing.assert_array_equal(got[name], value)


def test_fold_reads_every_weight_when_a_needed_one_was_left_on_disk(run_cli, tmp_path, monkeypatch):
    rng = np.random.default_rng(8)
    source = save_external(dense_model(rng), tmp_path / "src")
    monkeypatch.setattr("trtconvert.prepare.fold._folding_inputs", lambda model: set())
    output = tmp_path / "out" / "prepared.onnx"
    code, _, err = _run(run_cli, "prepare", source, "-o", output, "--verify", *PROFILE)
    assert code == 0, err
    assert [n.op_type for n in onnx.load(output).graph.node] == ["MatMul"] * 4
    assert "folding failed" not in err


def test_no_inference_failure_logged(run_cli, tmp_path):
    rng = np.random.default_rng(12)
    source = save_external(dense_model(rng), tmp_path / "src")
    code, _, err = _run(run_cli, "prepare", source, "-o", tmp_path / "out" / "p.onnx", *PROFILE)
    assert code == 0, err
    assert "Inference failed" not in err


def test_folding_reads_only_what_it_computes_with(tmp_path):
    from trtconvert.prepare.fold import _folding_inputs

    model = dense_model(np.random.default_rng(9))
    assert _folding_inputs(model) >= {"w0_t", "w_flat", "w_then", "w_else", "a", "b", "one", "minus_one"}
    assert "w1" in _folding_inputs(model)  # Shape(w1) runs in onnxruntime on the data
    model.graph.node[2].input[0] = "x"
    assert "w1" not in _folding_inputs(model)


def cubic_conv_model(rng) -> onnx.ModelProto:
    channels = 256  # 256x256x3x3 float32 = 2.25 MiB
    inits = [
        weight(rng, "conv_w", (channels, channels, 3, 3)),
        numpy_helper.from_array(np.array([1, 1, 2, 2], dtype=np.float32), "scales"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "conv_w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Resize", ["c", "", "scales"], ["y"], mode="cubic"),
    ]
    graph = helper.make_graph(
        nodes,
        "cubic",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, channels, "h", "w"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 256, "h2", "w2"])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


def test_rewrite_with_weights_on_disk(run_cli, tmp_path):
    rng = np.random.default_rng(10)
    source = save_external(cubic_conv_model(rng), tmp_path / "src")
    output = tmp_path / "out" / "prepared.onnx"
    profile = ["--profile", "x=1x256x8x8:1x256x16x16:1x256x16x16"]
    code, _, err = _run(run_cli, "prepare", source, "-o", output, "--rewrite", "all", "--verify", *profile)
    assert code == 0, err
    prepared = onnx.load(output)
    assert [n.op_type for n in prepared.graph.node] == ["Conv", "DynamicTRTResize"]
    np.testing.assert_array_equal(arrays(output)["conv_w"], arrays(source)["conv_w"])


def test_fp16_conversion_with_weights_on_disk(run_cli, tmp_path):
    rng = np.random.default_rng(11)
    source = save_external(dense_model(rng), tmp_path / "src")
    output = tmp_path / "out" / "prepared.onnx"
    code, _, err = _run(
        run_cli, "prepare", source, "-o", output, "--precision", "fp16", "--target-tensorrt", "11.0", *PROFILE
    )
    assert code == 0, err
    got = arrays(output)
    assert got["w0"].dtype == np.float16
    np.testing.assert_allclose(got["w0"], arrays(source)["w0_t"].T, rtol=1e-3, atol=1e-4)


def test_prepare_in_the_models_folder_with_the_same_output_name(run_cli, tmp_path, monkeypatch):
    from trtconvert.model import save as onnx_files

    rng = np.random.default_rng(13)
    source = save_external(dense_model(rng), tmp_path / "src")
    monkeypatch.chdir(source.parent)
    monkeypatch.setattr(onnx_files, "EXTERNAL_DATA_THRESHOLD", 1000)
    code, _, err = _run(run_cli, "prepare", "model.onnx", "-o", tmp_path / "out" / "model.onnx", *PROFILE)
    assert code == 0, err
    assert (tmp_path / "out" / "model.onnx.data").is_file()
    got = arrays(tmp_path / "out" / "model.onnx")
    np.testing.assert_array_equal(got["w1"], arrays(source)["w1"])


def test_external_save_matches_onnx_layout(tmp_path):
    from trtconvert.model.save import save_onnx

    model = dense_model(np.random.default_rng(14))
    ours, theirs = tmp_path / "ours" / "m.onnx", tmp_path / "theirs" / "m.onnx"
    ours.parent.mkdir()
    theirs.parent.mkdir()
    reference = onnx.ModelProto()
    reference.CopyFrom(model)
    save_onnx(model, ours, True)
    onnx.save_model(
        reference,
        theirs,
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="m.onnx.data",
        size_threshold=1024,
    )
    assert ours.read_bytes() == theirs.read_bytes()
    assert (ours.parent / "m.onnx.data").read_bytes() == (theirs.parent / "m.onnx.data").read_bytes()
