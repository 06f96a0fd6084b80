"""Precision control on a real TensorRT: --keep-fp32 layers built in fp32 and shown so by the engine inspector,
and explicit INT8 from an ONNX that already holds Q/DQ nodes. Needs TensorRT and a GPU (skips without them);
the models are tiny and the builds share the test run's timing cache."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
from model_factories import overflow_model
from tensorrt_machine import NEEDS_TENSORRT_AND_GPU

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
