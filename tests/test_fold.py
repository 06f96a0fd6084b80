from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from model_factories import conv_model
from onnx import TensorProto, helper, numpy_helper

from trtconvert.checks.ort_session import create_session
from trtconvert.prepare.fold import fold, foldable_ir_version, onnxruntime_max_ir_version


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    return create_session(model).run(None, {"x": x})[0]


# onnx writes IR versions that some onnxruntime releases cannot read; the installed pair may read each other's,
# so these tests lower the limit the code reads to one below onnx's newest (onnxruntime still really folds).
_LOWERED_LIMIT = 8


@pytest.fixture
def onnxruntime_reads_older_ir(monkeypatch: pytest.MonkeyPatch) -> int:
    assert onnx.IR_VERSION > _LOWERED_LIMIT
    monkeypatch.setattr("trtconvert.prepare.fold.onnxruntime_max_ir_version", lambda: _LOWERED_LIMIT)
    return _LOWERED_LIMIT


def test_ir_version_newer_than_onnxruntime_reads_is_lowered_and_still_folds(onnxruntime_reads_older_ir):
    limit, newest = onnxruntime_reads_older_ir, onnx.IR_VERSION
    model = conv_model(ir_version=newest)
    version, note = foldable_ir_version(model)
    assert version == limit and f"IR {newest} lowered to {limit}" in note
    x = np.random.default_rng(11).uniform(-1, 1, size=(2, 3, 9, 11)).astype(np.float32)
    want = _run(conv_model(ir_version=newest), x)
    folded = fold(model)
    assert folded.ir_version == limit
    assert "fold_me" not in {n.name for n in folded.graph.node}, "the constant Mul was not folded"
    np.testing.assert_allclose(_run(folded, x), want, rtol=1e-6, atol=1e-6)


def test_fold_removes_the_constant_subgraph_and_keeps_numerics():
    original = conv_model()
    x = np.random.default_rng(7).uniform(-1, 1, size=(2, 3, 9, 11)).astype(np.float32)
    want = _run(original, x)
    folded = fold(conv_model())
    assert len(folded.graph.node) == len(original.graph.node) - 1
    np.testing.assert_allclose(_run(folded, x), want, rtol=1e-6, atol=1e-6)


def test_model_at_a_readable_ir_version_keeps_it(onnxruntime_reads_older_ir):
    model = conv_model(ir_version=onnxruntime_reads_older_ir - 1)
    assert foldable_ir_version(model) == (onnxruntime_reads_older_ir - 1, "")
    assert fold(model).ir_version == onnxruntime_reads_older_ir - 1


def test_opset_too_new_for_onnxruntime_skips_folding(onnxruntime_reads_older_ir):
    # The newest opset needs an IR version above the lowered limit, so lowering cannot help.
    model = conv_model(ir_version=onnx.IR_VERSION, opset=onnx.defs.onnx_opset_version())
    version, note = foldable_ir_version(model)
    assert version is None
    assert "folding skipped" in note and f"onnxruntime reads IR <= {onnxruntime_reads_older_ir}" in note
    assert fold(model) is model


def test_the_probe_finds_an_ir_version_onnxruntime_really_reads():
    limit = onnxruntime_max_ir_version()
    model = conv_model(ir_version=limit)
    x = np.random.default_rng(12).uniform(-1, 1, size=(1, 3, 5, 5)).astype(np.float32)
    assert _run(model, x).shape == (1, 4, 5, 5)


def test_nested_multi_output_ifs_are_inlined_without_breaking_the_graph(shared_models):
    # graph-surgeon's own inlining loses an output of silero's nested two-output If; ours keeps every one, and
    # leaves the Ifs whose conditions depend on the dynamic batch.
    model = onnx.load(shared_models / "silero_vad_16k_op15.onnx")
    folded = fold(onnx.load(shared_models / "silero_vad_16k_op15.onnx"))
    onnx.checker.check_model(folded, full_check=True)
    assert len(folded.graph.node) < len(model.graph.node)
    assert 0 < sum(n.op_type == "If" for n in folded.graph.node) < 12
    rng = np.random.default_rng(3)
    feed = {
        "input": rng.uniform(-1, 1, (2, 512)).astype(np.float32),
        "state": rng.uniform(-1, 1, (2, 2, 128)).astype(np.float32),
        "sr": np.array(16000, dtype=np.int64),
    }
    want = create_session(model).run(None, feed)
    got = create_session(folded).run(None, feed)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_ifs_on_a_static_batch_fold_away(shared_models):
    from trtconvert.model.dims import pin_dims

    model = onnx.load(shared_models / "silero_vad_16k_op15.onnx")
    pinned = onnx.load(shared_models / "silero_vad_16k_op15.onnx")
    assert pin_dims(pinned, {("input", 0): 1, ("input", 1): 512, ("state", 1): 1}) == [
        "input[0]=1", "input[1]=512", "state[1]=1"
    ]  # fmt: skip
    folded = fold(pinned)
    onnx.checker.check_model(folded, full_check=True)
    assert not [n for n in folded.graph.node if n.op_type in ("If", "Loop")]
    rng = np.random.default_rng(4)
    feed = {
        "input": rng.uniform(-1, 1, (1, 512)).astype(np.float32),
        "state": rng.uniform(-1, 1, (2, 1, 128)).astype(np.float32),
        "sr": np.array(16000, dtype=np.int64),
    }
    want = create_session(model).run(None, feed)
    got = create_session(folded).run(None, feed)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def _model_onnxruntime_fails_to_fold() -> onnx.ModelProto:
    """A constant Reshape of 2 values to 3: onnxruntime fails while graph-surgeon evaluates it."""
    values = numpy_helper.from_array(np.ones((2,), np.float32), "values")
    shape = numpy_helper.from_array(np.array([3], np.int64), "shape")
    graph = helper.make_graph(
        [
            helper.make_node("Reshape", ["values", "shape"], ["reshaped"], name="bad_reshape"),
            helper.make_node("Add", ["x", "reshaped"], ["y"], name="add"),
        ],
        "fails_to_fold",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])],
        [values, shape],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


def test_a_library_failure_leaves_the_model_unfolded_with_a_warning(caplog):
    model = _model_onnxruntime_fails_to_fold()
    with caplog.at_level("WARNING", logger="trtconvert"):
        folded = fold(model)
    assert [n.name for n in folded.graph.node] == ["bad_reshape", "add"]
    assert "constant folding failed" in caplog.text and "bad_reshape" in caplog.text


def test_a_bug_in_our_code_is_not_taken_for_a_folding_failure(monkeypatch):
    # A wrong assumption in trtconvert's own code (here: that every tensor is a TensorProto) raises inside
    # fold.py; that must reach the user as a bug, not as "folding failed" and an unfolded model.
    monkeypatch.setattr("trtconvert.prepare.fold.all_tensors", lambda graph: [None])
    with pytest.raises(AttributeError, match="data_location"):
        fold(conv_model())


def test_prepare_folds_at_the_lowered_ir_version_and_verifies(onnxruntime_reads_older_ir, run_cli, tmp_path):
    # The whole `prepare --verify` path with a model newer than onnxruntime reads (the limit lowered as above):
    # folded at the lowered version, which the prepared model keeps, and the original verified at it too.
    source = tmp_path / "new_ir.onnx"
    onnx.save(conv_model(ir_version=onnx.IR_VERSION), source)
    out = tmp_path / "prepared.onnx"
    profile = "x=1x3x8x8:2x3x16x16:2x3x24x24"
    result = run_cli("prepare", source, "-o", out, "--profile", profile, "--verify", "--json")
    assert result.code == 0, result.stderr
    assert f"IR {onnx.IR_VERSION} lowered to {onnxruntime_reads_older_ir}" in result.stderr
    assert json.loads(result.stdout)["verification"], "prepare --verify reported no comparison"
    prepared = onnx.load(out)
    assert prepared.ir_version == onnxruntime_reads_older_ir
    assert "fold_me" not in {n.name for n in prepared.graph.node}
    assert onnx.load(source).ir_version == onnx.IR_VERSION, "the input model was changed"
