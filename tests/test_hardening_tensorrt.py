"""What the CPU checks of the hardening pass claim about TensorRT, checked against TensorRT itself: the If nested
in an If that the parser check refuses does fail in TensorRT; a dim left dynamic because a branch contradicts it
builds and verifies; a sidecar with an output of unknown rank is read back by `verify`.

Needs TensorRT and a GPU (skipped with the reason elsewhere); tiny shapes and the shared timing cache."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
from tensorrt_machine import NEEDS_TENSORRT_AND_GPU
from test_hardening_categories import _branch_traced_at_batch_2, _nested_if_model

from trtconvert.engine.plan_files import read_sidecar

pytestmark = NEEDS_TENSORRT_AND_GPU


def test_the_nested_if_the_parser_check_refuses_fails_in_tensorrt(
    run_cli, tmp_path: Path, timing_cache
) -> None:
    path = tmp_path / "nested.onnx"
    onnx.save(_nested_if_model(), path)
    args = (
        "build",
        path,
        "-o",
        tmp_path / "n.plan",
        "--profile",
        "x=1x4:2x4:4x4",
        "--timing-cache",
        timing_cache,
    )
    refused = run_cli(*args)
    assert refused.code == 2 and "outer_if/outer_then/inner_if" in refused.stderr, refused.stderr
    tried = run_cli(*args, "--no-check-parser")
    assert tried.code == 5, tried.stderr  # TensorRT's own parser or builder refuses it, as the check said
    assert not (tmp_path / "n.plan").exists()


def test_a_dim_kept_dynamic_for_a_contradicting_branch_builds_and_verifies(
    run_cli, tmp_path: Path, timing_cache
) -> None:
    path = tmp_path / "traced.onnx"
    onnx.save(_branch_traced_at_batch_2(), path)
    plan = tmp_path / "t.plan"
    result = run_cli("build", path, "-o", plan, "--profile", "x=1x4", "--input", "flag=1", "--verify",
                     "--timing-cache", timing_cache, "--json")  # fmt: skip
    assert result.code == 0, result.stderr
    assert "kept dynamic, a subgraph contradicts the static value: x[0]=1" in result.stderr
    assert json.loads(result.stdout)["ok"] is True


def test_a_sidecar_with_an_output_of_unknown_rank_verifies(run_cli, tmp_path: Path, timing_cache) -> None:
    # ONNX's checker refuses a graph output without a shape, so such a sidecar comes from a prepared model
    # whose output lost its shape (or from another writer): the plan it describes must still verify.
    from model_factories import conv_model

    path = tmp_path / "conv.onnx"
    onnx.save(conv_model(), path)
    plan = tmp_path / "u.plan"
    built = run_cli(
        "build",
        path,
        "-o",
        plan,
        "--profile",
        "x=1x3x8x8:1x3x16x16:2x3x16x16",
        "--timing-cache",
        timing_cache,
    )
    assert built.code == 0, built.stderr
    sidecar = plan.with_name(plan.name + ".json")
    document = json.loads(sidecar.read_text())
    for output in document["outputs"]:
        output["dims"] = None
    sidecar.write_text(json.dumps(document))
    assert [o["dims"] for o in read_sidecar(plan)["outputs"]] == [None]
    verified = run_cli("verify", plan, "--onnx", path, "--json")
    assert verified.code == 0, verified.stderr
    assert json.loads(verified.stdout)["ok"] is True
