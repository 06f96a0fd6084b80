"""Precision control on a real TensorRT: --keep-fp32 layers built in fp32 and shown so by the engine inspector,
and explicit INT8 from an ONNX that already holds Q/DQ nodes. Needs TensorRT and a GPU (skips without them);
the models are tiny and the builds share the test run's timing cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from model_factories import cancellation_model, conv_model, if_overflow_model, overflow_model, qdq_conv_model
from tensorrt_machine import NEEDS_TENSORRT_AND_GPU, require_feature

pytestmark = NEEDS_TENSORRT_AND_GPU


def _overflow_onnx(folder: Path) -> Path:
    path = folder / "overflow.onnx"
    onnx.save(overflow_model(), path)
    return path


def test_kept_nodes_build_as_fp32_layers_and_the_engine_verifies(
    run_cli, tmp_path: Path, timing_cache: Path
) -> None:
    model, plan = _overflow_onnx(tmp_path), tmp_path / "kept.plan"
    built = run_cli(
        "build", model, "-o", plan, "--precision", "fp16", "--keep-fp32", "op:MatMul", "--keep-fp32", "scale_back",
        "--timing-cache", timing_cache, "--verify", "--json", "-v",
    )  # fmt: skip
    assert built.code == 0, built.stderr
    report = json.loads(built.stdout)
    assert report["precision"]["keep_fp32"] == {"op:MatMul": ["big_matmul"], "scale_back": ["scale_back"]}
    assert "keep fp32: " in built.stderr and "precision constraints obeyed" in built.stderr
    assert all(o["ok"] for r in report["engine_verification"]["results"] for o in r["outputs"])
    described = run_cli("inspect", plan)
    assert "keep fp32 op:MatMul: big_matmul" in described.stdout
    layers = run_cli("inspect", plan, "--layers", "--json")
    assert layers.code == 0, layers.stderr
    rows = json.loads(layers.stdout)["layers"]["layers"]
    kept = [row for row in rows if {"big_matmul", "scale_back"} & set(row["onnx_nodes"])]
    assert kept, rows
    assert all(row["precision"] == "FP32" for row in kept), kept


def test_kept_nodes_inside_an_if_body_build_in_fp32_and_the_engine_verifies(
    run_cli, tmp_path: Path, timing_cache: Path
) -> None:
    """The finder's flags for an overflow inside an If branch: the layers of the body's nodes are found by name and
    set to fp32, and the fp16 engine then matches fp32 (without them its If output is inf)."""
    model, plan = tmp_path / "if.onnx", tmp_path / "if.plan"
    onnx.save(if_overflow_model(), model)
    built = run_cli(
        "build", model, "-o", plan, "--precision", "fp16", "--keep-fp32", "then_matmul", "--keep-fp32",
        "then_scale", "--timing-cache", timing_cache, "--verify", "--json", "-v",
    )  # fmt: skip
    assert built.code == 0, built.stderr
    report = json.loads(built.stdout)
    assert report["precision"]["kept_fp32"] == ["then_matmul", "then_scale"]
    assert all(o["ok"] for r in report["engine_verification"]["results"] for o in r["outputs"])


def _layers(run_cli, plan: Path) -> dict:
    result = run_cli("inspect", plan, "--layers", "--json")
    assert result.code == 0, result.stderr
    return json.loads(result.stdout)["layers"]


def test_a_qdq_conv_net_builds_as_explicit_int8_without_calibration(
    run_cli, tmp_path: Path, timing_cache: Path
) -> None:
    model, plan = tmp_path / "qdq.onnx", tmp_path / "qdq.plan"
    onnx.save(qdq_conv_model(), model)
    built = run_cli(
        "build",
        model,
        "-o",
        plan,
        "--precision",
        "int8",
        "--timing-cache",
        timing_cache,
        "--verify",
        "--json",
    )
    assert built.code == 0, built.stderr
    assert "explicit quantization" in built.stderr and "calibrated" not in built.stderr
    report = json.loads(built.stdout)
    assert report["precision"]["converter"] == "explicit-qdq"
    assert all(o["ok"] for r in report["engine_verification"]["results"] for o in r["outputs"])
    assert _layers(run_cli, plan)["precisions"].get("Int8", 0) > 0


def test_our_tensorrt_11_qdq_output_builds_here_as_explicit_int8(
    run_cli, tmp_path: Path, timing_cache: Path
) -> None:
    """The Q/DQ ONNX that `prepare --target-tensorrt 11 --precision int8` writes, built by this TensorRT."""
    source, qdq, plan = tmp_path / "conv.onnx", tmp_path / "conv.qdq.onnx", tmp_path / "conv.plan"
    onnx.save(conv_model(dynamic=False), source)
    rng = np.random.default_rng(8)
    calib = tmp_path / "calib.npz"
    np.savez(calib, x=rng.uniform(-1, 1, size=(16, 1, 3, 8, 8)).astype(np.float32))
    prepared = run_cli(
        "prepare", source, "-o", qdq, "--target-tensorrt", "11", "--precision", "int8", "--calib-data", calib
    )
    assert prepared.code == 0, prepared.stderr
    built = run_cli(
        "build", qdq, "-o", plan, "--precision", "int8", "--timing-cache", timing_cache, "--verify", "--json"
    )
    assert built.code == 0, built.stderr
    assert "explicit quantization" in built.stderr
    assert _layers(run_cli, plan)["precisions"].get("Int8", 0) > 0


def test_strongly_typed_fp16_on_9_and_10(run_cli, tmp_path: Path, timing_cache: Path) -> None:
    require_feature("strongly_typed")
    source, plan = tmp_path / "conv.onnx", tmp_path / "typed.plan"
    onnx.save(conv_model(dynamic=False), source)
    built = run_cli(
        "build", source, "-o", plan, "--precision", "fp16", "--strongly-typed", "--timing-cache", timing_cache,
        "--verify", "--json",
    )  # fmt: skip
    assert built.code == 0, built.stderr
    assert json.loads(built.stdout)["precision"]["mode"] == "onnx_conversion"
    assert _layers(run_cli, plan)["precisions"].get("FP16", 0) > 0


def test_auto_keep_fp32_finds_a_set_that_passes(run_cli, tmp_path: Path, timing_cache: Path) -> None:
    model, plan = _overflow_onnx(tmp_path), tmp_path / "auto.plan"
    built = run_cli(
        "build", model, "-o", plan, "--precision", "fp16", "--auto-keep-fp32", "--max-builds", "4",
        "--timing-cache", timing_cache, "--verify", "--json",
    )  # fmt: skip
    assert built.code == 0, built.stderr
    report = json.loads(built.stdout)
    searched = report["auto_keep_fp32"]
    assert searched["passed"] and searched["builds"] <= 4
    if searched["builds"] > 1:  # this TensorRT's fp16 engine overflowed: the set kept must hold the MatMul
        assert "big_matmul" in searched["kept"]
        assert report["precision"]["keep_fp32"]
        assert "to make it permanent" in built.stderr
        # The diagnostic build ran (one of the 4) and saw the overflow in the MatMul's own output.
        assert searched["diagnostic"]["ran"] and searched["diagnostic"]["marked"] == 4, searched["diagnostic"]
        first = searched["ranking"][0]
        assert first["node"] == "big_matmul" and first["ranked_by"] == "finder"
        assert first["gain"] == "inf" or first["gain"] > 0.1, first


def _spec(model: Path, tmp_path: Path, timing_cache: Path):
    from trtconvert.settings.spec import make_spec

    return make_spec(
        None,
        {
            "model": model,
            "output": tmp_path / "unused.plan",
            "precision": "fp16",
            "timing_cache": timing_cache,
        },
    )


def test_the_diagnostic_engine_marks_intermediate_tensors_and_measures_their_error(
    tmp_path: Path, timing_cache: Path
) -> None:
    """The diagnostic build alone, on the overflow and the cancellation models: every intermediate tensor marked
    as an fp16 output of the engine, and the error of each against onnxruntime's fp32 run shows where fp16
    breaks (the MatMul's overflow; the Sub's cancellation, far beyond the rounding of the MatMuls it reads)."""
    from trtconvert.checks.node_error import node_gains, rank_by_gain
    from trtconvert.checks.ranges import with_intermediate_outputs
    from trtconvert.engine.layer_errors import measure_layer_errors

    overflow = _overflow_onnx(tmp_path)
    measured = measure_layer_errors(
        _spec(overflow, tmp_path, timing_cache), ["shifted", "large", "scaled", "y"]
    )
    assert not measured.failed, measured.failed
    assert measured.marked == 4 and measured.unmarked == {}, measured.unmarked
    assert measured.errors["shifted"] < 1e-2, measured.errors  # fp16 rounding of values in [1, 3]
    assert measured.errors["large"] > 0.1, measured.errors  # 1.6e5 held in fp16: inf (or clamped to 65504)
    assert timing_cache.is_file()  # the diagnostic build added to the shared timing cache

    cancelling = tmp_path / "cancellation.onnx"
    onnx.save(cancellation_model(), cancelling)
    _, tracked = with_intermediate_outputs(cancellation_model())
    measured = measure_layer_errors(_spec(cancelling, tmp_path, timing_cache), list(tracked))
    assert not measured.failed and measured.unmarked == {}, (measured.failed, measured.unmarked)
    errors = measured.errors
    assert set(errors) == {"a", "b", "difference", "y"}
    # Each MatMul: fp16's rounding of x and of its output; the Sub: the cancellation, far beyond that.
    assert max(errors["a"], errors["b"]) < 2**-8, errors
    assert errors["difference"] > 10 * max(errors["a"], errors["b"]), errors
    ranked = rank_by_gain(
        [], ["matmul_a", "matmul_b", "cancel", "halve"], node_gains(tracked.values(), errors)
    )
    assert ranked[0].node == "cancel" and ranked[-1].node == "halve", ranked


def test_auto_keep_fp32_ranks_the_cancelling_node_first_and_keeps_it(
    run_cli, tmp_path: Path, timing_cache: Path
) -> None:
    """No tensor of the cancellation model leaves fp16's range, so the overflow finder names nothing and the
    magnitude order puts the two MatMuls first; the diagnostic ranks the Sub that cancels their rounded outputs
    first and the Mul that only halves its result last, and the search keeps the Sub within the default bound."""
    model, plan = tmp_path / "cancellation.onnx", tmp_path / "cancellation.plan"
    onnx.save(cancellation_model(), model)
    built = run_cli(
        "build", model, "-o", plan, "--precision", "fp16", "--auto-keep-fp32", "--max-builds", "8",
        "--timing-cache", timing_cache, "--verify", "--json",
    )  # fmt: skip
    assert built.code == 0, built.stderr
    searched = json.loads(built.stdout)["auto_keep_fp32"]
    if searched["builds"] == 1:
        pytest.skip(
            "this TensorRT computed the MatMuls of the cancellation model without rounding their outputs to fp16 "
            "(the first engine passed): there was nothing to search"
        )
    assert searched["passed"] and searched["builds"] <= 8, searched
    assert searched["diagnostic"]["ran"] and searched["unranked"] == 0, searched
    ranking = searched["ranking"]
    assert [r["ranked_by"] for r in ranking] == ["error gain"] * 4, ranking
    assert ranking[0]["node"] == "cancel" and ranking[-1]["node"] == "halve", ranking
    assert "cancel" in searched["kept"] and "halve" not in searched["kept"], searched
    assert "auto-keep  ranked: cancel +" in built.stderr
    described = run_cli("inspect", plan, "--layers", "--json")
    assert described.code == 0, described.stderr
    rows = json.loads(described.stdout)["layers"]["layers"]
    kept = [row for row in rows if "cancel" in row["onnx_nodes"]]
    assert kept and all(row["precision"] == "FP32" for row in kept), kept
