"""What the CPU round trips of tests/test_real_architectures.py claim, checked against TensorRT itself: the
architectures whose CPU steps pass build into engines that verify with inspect's own suggested profile, and the
two parser refusals (an op TensorRT 8.5 cannot import, an antialiased Resize) are what TensorRT does.

Needs TensorRT and a GPU (skipped with the reason elsewhere); tiny models, the shared timing cache."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import onnx
import pytest
from real_architectures import ARCHITECTURES
from tensorrt_machine import NEEDS_TENSORRT_AND_GPU, TARGET

pytestmark = NEEDS_TENSORRT_AND_GPU

# Architectures whose CPU round trip exits 0 for TensorRT 8.5 (tests/real_architectures.py): their engine must
# build and verify with the profile inspect suggests.
BUILDS = [
    "lstm_states_as_inputs",
    "gru_tf2onnx_sequence_lens",
    "loop_greedy_decode",
    "nonzero_gather",
    "topk_k_from_shape",
    "range_expand_constant_of_shape",
    "yolo_head",
    "silero_like_vad",
    "wav2vec_like_frontend",
    "transformer_opset13_bool_mask",
    "decoder_with_kv_cache",
    "clip_text_eos_pooling",
    "t5_relative_position_bias",
]


@pytest.mark.parametrize("name", BUILDS)
def test_a_real_architecture_builds_and_verifies(run_cli, tmp_path: Path, timing_cache, name: str) -> None:
    model = tmp_path / "model.onnx"
    onnx.save(ARCHITECTURES[name].factory(), model)
    report = json.loads(run_cli("inspect", "--json", model, "--target-tensorrt", str(TARGET)).stdout)
    profile = shlex.split(report["profile_example"]) if report["profile_example"] else []
    plan = tmp_path / "model.plan"
    result = run_cli("build", model, *profile, "--verify", "--timing-cache", timing_cache, "-o", plan)
    assert result.code == 0, result.stderr[-3000:]
    assert plan.exists()


def test_layer_normalization_fails_in_the_parser_of_tensorrt_8_5(
    run_cli, tmp_path: Path, timing_cache
) -> None:
    if TARGET is None or (TARGET.major, TARGET.minor) >= (8, 6):
        pytest.skip("TensorRT 8.6 and newer import LayerNormalization")
    model = tmp_path / "encoder.onnx"
    onnx.save(ARCHITECTURES["transformer_opset17"].factory(), model)
    args = ("build", model, "--profile", "input_ids=1x8:1x16:2x32,attention_mask=1x8:1x16:2x32",
            "--timing-cache", timing_cache, "-o", tmp_path / "e.plan")  # fmt: skip
    refused = run_cli(*args)
    assert refused.code == 2 and "LayerNormalization" in refused.stderr, refused.stderr
    tried = run_cli(*args, "--no-check-parser")
    assert tried.code == 5, tried.stderr  # the parser fails on it, as the check said


def test_an_antialiased_downscale_is_not_what_tensorrt_builds(run_cli, tmp_path: Path, timing_cache) -> None:
    """TensorRT's parser ignores antialias (8.5 to 10.1) or rejects it: an engine built anyway either fails
    (exit 5) or differs from onnxruntime (exit 4), never verifies."""
    model = tmp_path / "antialias.onnx"
    onnx.save(ARCHITECTURES["opset18_antialias_resize"].factory(), model)
    args = ("build", model, "--profile", "image=1x3x16x16:1x3x32x32:2x3x32x32", "--verify",
            "--timing-cache", timing_cache, "-o", tmp_path / "a.plan")  # fmt: skip
    refused = run_cli(*args)
    assert refused.code == 2 and "antialias" in refused.stderr, refused.stderr
    tried = run_cli(*args, "--no-check-parser")
    assert tried.code in (4, 5), tried.stderr


def test_a_reduction_axes_input_is_dropped_by_the_parser_of_tensorrt_before_10(
    run_cli, tmp_path: Path, timing_cache
) -> None:
    if TARGET is None or TARGET.major >= 10:
        pytest.skip("TensorRT 10 reads the axes input of a reduction")
    model = tmp_path / "reductions.onnx"
    onnx.save(ARCHITECTURES["opset18_reductions"].factory(), model)
    args = ("build", model, "--profile", "image=1x3x16x16:1x3x32x32:2x3x32x32", "--verify",
            "--timing-cache", timing_cache, "-o", tmp_path / "r.plan")  # fmt: skip
    refused = run_cli(*args)
    assert refused.code == 2 and "axes input" in refused.stderr, refused.stderr
    tried = run_cli(*args, "--no-check-parser")
    assert tried.code in (4, 5), (
        tried.stderr
    )  # every axis reduced: another output, or a shape the graph refuses
