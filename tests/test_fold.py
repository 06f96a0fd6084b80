from __future__ import annotations

import numpy as np
import onnx
import pytest
from model_factories import conv_model

from trtconvert.checks.ort_session import create_session
from trtconvert.prepare.fold import fold, foldable_ir_version, onnxruntime_max_ir_version


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    return create_session(model).run(None, {"x": x})[0]


def test_ir_version_newer_than_onnxruntime_reads_is_lowered_and_still_folds():
    newest = onnx.IR_VERSION
    limit = onnxruntime_max_ir_version()
    if newest <= limit:
        pytest.skip(f"onnxruntime reads onnx's newest IR version {newest}; nothing to lower")
    model = conv_model(ir_version=newest)
    version, note = foldable_ir_version(model)
    assert version == limit and f"IR {newest} lowered to {limit}" in note
    folded = fold(model)
    assert folded.ir_version == limit
    assert "fold_me" not in {n.name for n in folded.graph.node}, "the constant Mul was not folded"


def test_fold_removes_the_constant_subgraph_and_keeps_numerics():
    original = conv_model()
    x = np.random.default_rng(7).uniform(-1, 1, size=(2, 3, 9, 11)).astype(np.float32)
    want = _run(original, x)
    folded = fold(conv_model())
    assert len(folded.graph.node) == len(original.graph.node) - 1
    np.testing.assert_allclose(_run(folded, x), want, rtol=1e-6, atol=1e-6)


def test_opset_too_new_for_onnxruntime_skips_folding():
    model = conv_model(ir_version=onnx.IR_VERSION, opset=onnx.defs.onnx_opset_version())
    version, note = foldable_ir_version(model)
    if version is not None:
        pytest.skip("the installed onnxruntime reads onnx's newest opset; nothing to refuse")
    assert "folding skipped" in note
    assert fold(model) is model


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
