"""build and verify through the CLI where TensorRT is absent, their bad inputs, and TensorRT failure mapping."""

from __future__ import annotations

import json
import os
from pathlib import Path

import onnx
import pytest

from trtconvert.engine.chain import run_chain
from trtconvert.engine.machine import import_tensorrt
from trtconvert.engine.plan_files import (
    build_identity,
    make_sidecar,
    profiles_from_json,
    sidecar_path,
    write_plan,
)
from trtconvert.engine.tensorrt_log import condense, tensorrt_messages
from trtconvert.engine.verify import shape_sets_from_profiles
from trtconvert.errors import BadInput, BuildFailed
from trtconvert.model.info import GraphTensor
from trtconvert.model.profiles import parse_profile
from trtconvert.settings.request import resolve
from trtconvert.settings.spec import Spec
from trtconvert.settings.tolerances import parse_tolerances

PROFILE = "input=1x3x16x16:1x3x24x20:1x3x32x32,factor=1x1x32x32:1x1x48x40:1x1x64x64"
without_tensorrt = pytest.mark.skipif(
    import_tensorrt()[0] is not None, reason="TensorRT is installed here; test_engine_tensorrt.py covers it"
)


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@without_tensorrt
def test_build_runs_the_cpu_stages_then_exits_3(run_cli, example_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "model.plan"
    result = run_cli("build", example_model, "-o", out, "--profile", PROFILE, "--rewrite", "none")
    assert result.code == 3, result.stderr
    for stage in ("load", "fold", "rewrite"):
        assert f"\n{stage} " in "\n" + result.stderr, stage
    assert "error: TensorRT is not installed, so no engine was built (the CPU stages passed)" in result.stderr
    assert "pip install 'trtconvert[tensorrt]'" in result.stderr
    assert not out.exists() and not sidecar_path(out).exists()
    assert not out.parent.exists(), "a failed run created the output folder"


@without_tensorrt
def test_build_leaves_an_existing_plan_byte_identical(run_cli, example_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "model.plan"
    out.write_bytes(os.urandom(4096))
    sidecar_path(out).write_text('{"schema": "trtconvert.plan/1"}\n')
    before = _files(tmp_path)
    result = run_cli("build", example_model, "-o", out, "--profile", PROFILE, "--rewrite", "none", "--json")
    assert result.code == 3
    report = json.loads(result.stdout)
    assert report["ok"] is False and report["exit_code"] == 3 and "TensorRT" in report["error"]
    assert _files(tmp_path) == before


@without_tensorrt
def test_build_verify_checks_the_prepared_model_before_stopping(
    run_cli, example_model: Path, tmp_path: Path
) -> None:
    result = run_cli(
        "build",
        example_model,
        "-o",
        tmp_path / "m.plan",
        "--profile",
        PROFILE,
        "--rewrite",
        "none",
        "--verify",
    )
    assert result.code == 3
    assert "verify " in result.stderr and " ok" in result.stderr
    assert "the prepared model matches on the CPU" in result.stderr


@without_tensorrt
def test_build_from_a_config_with_build_keys(run_cli, example_model: Path, tmp_path: Path) -> None:
    config = tmp_path / "build.yaml"
    config.write_text(
        f"model: {example_model.name}\noutput: out/m.plan\nrewrite: none\nworkspace: 2G\nopt-level: 4\n"
        "tf32: false\ntiming_cache: cache/t.cache\nhardware_compatibility: ampere_plus\n"
        f"profiles:\n  - input: '1x3x16x16:1x3x24x20:1x3x32x32'\n    factor: '1x1x32x32:1x1x48x40:1x1x64x64'\n"
    )
    result = run_cli("build", "--config", config)
    assert result.code == 3, result.stderr
    assert not (tmp_path / "out" / "m.plan").exists()
    # A run that builds nothing creates nothing: not the output folder, not the timing cache's folder.
    assert not (tmp_path / "out").exists() and not (tmp_path / "cache").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workspace", "4X"], "--workspace '4X' is not a size"),
        (["--plugin", "missing.so"], "--plugin missing.so: no such file"),
        (["--hardware-compatibility", "turing"], "Invalid value for '--hardware-compatibility'"),
        (["--opt-level", "6"], "Invalid value for '--opt-level'"),
    ],
)
def test_build_rejects_bad_build_flags(run_cli, example_model: Path, tmp_path: Path, args, message) -> None:
    result = run_cli("build", example_model, "-o", tmp_path / "m.plan", "--profile", PROFILE, *args)
    assert result.code == 2
    assert message in result.stderr
    assert not (tmp_path / "m.plan").exists()


def test_build_needs_profiles_for_dynamic_inputs(run_cli, example_model: Path, tmp_path: Path) -> None:
    result = run_cli("build", example_model, "-o", tmp_path / "m.plan")
    assert result.code == 2
    assert "dynamic input(s) 'input'" in result.stderr and "--profile 'input=" in result.stderr


def test_build_needs_an_output(run_cli, example_model: Path) -> None:
    result = run_cli("build", example_model, "--profile", PROFILE)
    assert result.code == 2 and "no output given" in result.stderr


def test_build_refuses_to_overwrite_its_input(run_cli, example_model: Path) -> None:
    result = run_cli("build", example_model, "-o", example_model, "--profile", PROFILE)
    assert result.code == 2 and "is the input file itself" in result.stderr


def test_build_refuses_a_sidecar_over_its_input(run_cli, example_model: Path, tmp_path: Path) -> None:
    model = tmp_path / "m.plan.json"
    model.write_bytes(example_model.read_bytes())
    result = run_cli("build", model, "-o", tmp_path / "m.plan", "--profile", PROFILE)
    assert result.code == 2 and "sidecar" in result.stderr
    assert model.read_bytes() == example_model.read_bytes()


def test_build_rejects_cache_paths_of_the_wrong_kind(run_cli, example_model: Path, tmp_path: Path) -> None:
    (tmp_path / "dir.cache").mkdir()
    result = run_cli(
        "build",
        example_model,
        "-o",
        tmp_path / "m.plan",
        "--profile",
        PROFILE,
        "--timing-cache",
        tmp_path / "dir.cache",
    )
    assert result.code == 2 and "is a directory" in result.stderr
    (tmp_path / "file").write_text("x")
    result = run_cli(
        "build",
        example_model,
        "-o",
        tmp_path / "m.plan",
        "--profile",
        PROFILE,
        "--cache-dir",
        tmp_path / "file",
    )
    assert result.code == 2 and "--cache-dir" in result.stderr and "is not a folder" in result.stderr


def test_build_help_lists_the_build_flags(run_cli) -> None:
    result = run_cli("build", "--help")
    assert result.code == 0
    for flag in (
        "--plugin",
        "--workspace",
        "--timing-cache",
        "--opt-level",
        "--tf32",
        "--cache-dir",
        "--version-compatible",
        "--hardware-compatibility",
        "--precision",
    ):
        assert flag in result.stdout, flag


def _fake_plan(example_model: Path, folder: Path, profiles: list[str]) -> Path:
    """A sidecar as build writes it, beside bytes that stand for the plan (enough for the CPU side of verify)."""
    spec = Spec(model=example_model, output=folder / "m.plan", profiles=[parse_profile(p) for p in profiles])
    identity = build_identity(resolve(spec, "10.8"), example_model, [], [], "10.8.0.43", "9.0")
    plan = folder / "m.plan"
    data = os.urandom(256)
    sidecar = make_sidecar(
        identity,
        data,
        model=str(example_model),
        inputs=[],
        outputs=[],
        precision={"precision": "fp16", "mode": "builder_flags"},
        gpu={"name": "test", "compute_capability": "9.0"},
        strongly_typed=False,
        timings={},
    )
    write_plan(plan, data, sidecar)
    return plan


@without_tensorrt
def test_verify_runs_the_reference_then_exits_3(run_cli, example_model: Path, tmp_path: Path) -> None:
    plan = _fake_plan(example_model, tmp_path, [PROFILE, "input=1x3x8x8,factor=1x1x16x16"])
    result = run_cli("verify", plan, "--onnx", example_model)
    assert result.code == 3, result.stderr
    # Profile 0: min, opt, max; profile 1 is fixed: one shape set.
    assert "onnxruntime ran" in result.stderr and "on 4 shape set(s)" in result.stderr
    assert "the plan was not run (the onnxruntime reference ran on 4 shape set(s))" in result.stderr


@without_tensorrt
def test_verify_without_sidecar_or_tensorrt(run_cli, example_model: Path, tmp_path: Path) -> None:
    plan = tmp_path / "m.engine"
    plan.write_bytes(b"engine")
    result = run_cli("verify", plan, "--onnx", example_model)
    assert result.code == 3
    assert "nothing could run" in result.stderr


def test_verify_bad_inputs(run_cli, example_model: Path, tmp_path: Path) -> None:
    result = run_cli("verify", tmp_path / "missing.plan", "--onnx", example_model)
    assert result.code == 2 and "plan file not found" in result.stderr
    plan = _fake_plan(example_model, tmp_path, [PROFILE])
    result = run_cli("verify", plan)
    assert result.code == 2 and "--onnx" in result.stderr
    result = run_cli("verify", plan, "--onnx", example_model, "--atol", "output=abc")
    assert result.code == 2 and "--atol 'output=abc'" in result.stderr
    result = run_cli("verify", plan, "--onnx", example_model, "--rtol", "nosuch=1e-3")
    assert result.code == 2 and "has no output 'nosuch'" in result.stderr
    result = run_cli("verify", plan, "--onnx", example_model, "--plugin", tmp_path / "missing.so")
    assert result.code == 2 and "no such file" in result.stderr
    plan.write_bytes(b"replaced by another build")
    result = run_cli("verify", plan, "--onnx", example_model)
    assert result.code == 2 and "describes other bytes" in result.stderr


def test_tolerances_default_by_precision_and_per_output() -> None:
    tol = parse_tolerances([], [], "fp16", ["a", "b"])
    assert tol.for_output("a") == (2e-2, 2e-2)
    tol = parse_tolerances(["1e-3", "b=5e-2"], ["b=0.1"], "fp32", ["a", "b"])
    assert tol.for_output("a") == (1e-3, 1e-3)
    assert tol.for_output("b") == (5e-2, 0.1)
    # Names split at the last '=' (ONNX names may hold '=').
    tol = parse_tolerances(["x=y=0.5"], [], "fp32", ["x=y"])
    assert tol.for_output("x=y")[0] == 0.5
    with pytest.raises(BadInput, match="a tolerance must be a finite number of at least 0"):
        parse_tolerances(["-1"], [], "fp32", ["a"])


def test_shape_sets_cover_min_opt_max_of_each_profile() -> None:
    inputs = [
        GraphTensor("x", "float32", ("n", 3, "h", "w")),
        GraphTensor("fixed", "float32", (1, 4)),
    ]
    profiles = [
        {"x": {"min": [1, 3, 8, 8], "opt": [2, 3, 16, 16], "max": [4, 3, 32, 32]}},
        {"x": {"min": [1, 3, 5, 5], "opt": [1, 3, 5, 5], "max": [1, 3, 5, 5]}},
    ]
    # As the sidecar records them, read back as Profiles.
    sets = shape_sets_from_profiles(profiles_from_json(profiles), inputs)
    assert [(s.profile, s.which) for s in sets] == [(0, "min"), (0, "opt"), (0, "max"), (1, "min")]
    assert sets[2].shapes == {"fixed": (1, 4), "x": (4, 3, 32, 32)}
    assert shape_sets_from_profiles([], [GraphTensor("fixed", "float32", (1, 4))])[0].shapes == {
        "fixed": (1, 4)
    }


def test_tensorrt_messages_collects_errors_and_restores_the_logger() -> None:
    from polygraphy.logger import G_LOGGER

    before = G_LOGGER.module_severity.get()
    with tensorrt_messages() as messages:
        G_LOGGER.error("[network.cpp::addInput::123] Error Code 3: input has no name")
        G_LOGGER.warning("just a warning")
    assert messages.errors == ["[network.cpp::addInput::123] Error Code 3: input has no name"]
    assert G_LOGGER.module_severity.get() == before
    assert G_LOGGER.use_python_logging_system is False


def test_polygraphy_failure_becomes_build_failed_with_tensorrt_lines() -> None:
    from polygraphy.logger import G_LOGGER

    def chain():
        G_LOGGER.error("In node 7 (importResize): UNSUPPORTED_NODE: cubic with antialias")
        G_LOGGER.error("In node 7 (importResize): UNSUPPORTED_NODE: cubic with antialias")
        G_LOGGER.critical("Could not parse ONNX correctly")

    with pytest.raises(BuildFailed) as caught:
        run_chain(chain, " (hint)")
    message = str(caught.value)
    assert caught.value.exit_code == 5
    assert message.count("UNSUPPORTED_NODE: cubic with antialias") == 1
    assert "Could not parse" not in message and "(hint)" in message and "\n" not in message


def test_condense() -> None:
    assert condense([], "fallback") == "fallback"
    assert condense(["a\nb", "b", "  c  d "], "x") == "a; b; c d"
    assert condense(["Invalid Engine. Please ensure", "real reason"], "x") == "real reason"
    assert len(condense(["x" * 1000], "y")) == 600


def test_prepared_model_is_unchanged_by_build(run_cli, example_model: Path, tmp_path: Path) -> None:
    before = example_model.read_bytes()
    run_cli("build", example_model, "-o", tmp_path / "m.plan", "--profile", PROFILE, "--rewrite", "all")
    assert example_model.read_bytes() == before
    onnx.checker.check_model(str(example_model))


def test_default_tolerance_follows_precision_and_tf32() -> None:
    from trtconvert.settings.tolerances import sidecar_tolerance_key

    assert sidecar_tolerance_key({"precision": {"precision": "fp32"}, "config": {"tf32": True}}) == "tf32"
    assert sidecar_tolerance_key({"precision": {"precision": "fp32"}, "config": {"tf32": False}}) == "fp32"
    assert sidecar_tolerance_key({"precision": {"precision": "fp16"}, "config": {"tf32": True}}) == "fp16"
    assert sidecar_tolerance_key(None) == "tf32"
    assert parse_tolerances([], [], "tf32", ["y"]).for_output("y") == (2e-2, 2e-2)
    assert parse_tolerances([], [], "fp32", ["y"]).for_output("y") == (1e-4, 1e-3)


def test_plugin_hint_names_the_custom_ops_and_the_library() -> None:
    from onnx import TensorProto, helper

    from trtconvert.engine.plugins import plugin_hint

    node = helper.make_node("DynamicTRTResize", ["x", "s"], ["y"], domain="Test", name="r")
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 1, 4, 4]) for n in ("x", "s")],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("Test", 1)]
    )
    hint = plugin_hint(model, [])
    assert "Test::DynamicTRTResize" in hint and "trtconvert plugins build" in hint and "--plugin" in hint
    assert plugin_hint(model, [Path("lib.so")]) == ""


def test_build_verify_keeps_the_engine_measurements_for_the_report(example_model: Path, monkeypatch) -> None:
    """The plumbing around verify_engine (which needs TensorRT): a pass fills the report's engine_verification,
    a failure carries the CPU check's measurements and the engine's together."""
    from trtconvert.engine import build as engine_build
    from trtconvert.errors import VerificationFailed
    from trtconvert.prepare.pipeline import preflight
    from trtconvert.settings.request import resolve
    from trtconvert.settings.spec import Spec

    request = resolve(Spec(model=example_model, profiles=[], verify=False), "10.8.0")
    checked = preflight(request)
    results = [{"profile": 0, "shapes_from": "min", "shapes": {}, "outputs": [{"name": "y", "ok": True}]}]
    engine_report = {
        "ok": True, "command": "verify", "plan": "staged.plan", "onnx": "m.onnx", "tensorrt": "10.8.0",
        "default_tolerance_of": "tf32", "tolerances": {"atol": 0.02}, "results": results,
    }  # fmt: skip
    monkeypatch.setattr(engine_build, "verify_engine", lambda *args: engine_report)
    verification: dict = {"verification": ["cpu"]}
    engine_build._engine_check(request, checked, verification)(Path("staged.plan"))
    assert verification == {
        "verification": ["cpu"],
        "engine_verification": {
            "default_tolerance_of": "tf32",
            "tolerances": {"atol": 0.02},
            "results": results,
        },
    }

    def fails(*args):
        raise VerificationFailed("the engine differs", {k: v for k, v in engine_report.items() if k != "ok"})

    monkeypatch.setattr(engine_build, "verify_engine", fails)
    with pytest.raises(VerificationFailed, match="the engine differs") as failed:
        engine_build._engine_check(request, checked, {"verification": ["cpu"]})(Path("staged.plan"))
    assert failed.value.measured["verification"] == ["cpu"]
    assert failed.value.measured["engine_verification"]["results"] == results
    assert "plan" not in failed.value.measured["engine_verification"]


@pytest.mark.parametrize("command", ["build", "prepare", "verify"])
def test_help_states_the_default_tolerances_the_code_uses(run_cli, command: str) -> None:
    import re

    from trtconvert.settings.tolerances import DEFAULT_TOLERANCES

    text = " ".join(run_cli(command, "--help").stdout.split())
    for flag, word, column in (("--atol", "Absolute", 0), ("--rtol", "Relative", 1)):
        stated = re.search(rf"{flag} \S+ {word} tolerance .*?\((.*?)\)", text).group(1)
        segments = [
            segment for segment in re.split(r",\s*", stated) if re.search(r"[0-9.]+e-[0-9]+", segment)
        ]
        for precision in ("fp32", "fp16", "bf16", "int8"):
            # The first segment that names the precision: "2e-2 fp16 and an fp32 engine with TF32" follows fp32's.
            segment = next(s for s in segments if re.search(rf"\b{precision}\b", s))
            number = float(re.search(r"[0-9.]+e-[0-9]+", segment).group(0))
            assert number == DEFAULT_TOLERANCES[precision][column], (flag, precision, stated)
    assert "--input x=page.npy" in text


def test_condense_keeps_the_parsers_cause_and_drops_its_node_dump() -> None:
    # TensorRT 8.5's ONNX parser logs the node's name, a dump of the node over many lines, then the cause.
    errors = [
        'ModelImporter.cpp:726: While parsing node number 3 [Conv -> "c"]:',
        "ModelImporter.cpp:727: --- Begin node ---",
        'ModelImporter.cpp:728: input: "x_dq"\ninput: "w"\noutput: "c"\nop_type: "Conv"',
        "ModelImporter.cpp:729: --- End node ---",
        "ModelImporter.cpp:732: ERROR: builtin_op_importers.cpp:700 In function importConv:\n"
        "[8] Assertion failed: the reason",
        "Failed to parse ONNX model",
    ]
    assert condense(errors, "x") == (
        'While parsing node number 3 [Conv -> "c"]:; ERROR: builtin_op_importers.cpp:700 In function importConv:; '
        "[8] Assertion failed: the reason"
    )


def test_a_timing_cache_tensorrt_could_not_use_is_told_from_other_failures() -> None:
    from trtconvert.engine.chain import timing_cache_unusable

    # As TensorRT 8.5.3 words it when a shared cache's Myelin entries do not fit the network (H100).
    seen = (
        "1: [myelinCache.h::deserializeFromBuffer::52] Error Code 1: Myelin (Myelin error from unknown graph); "
        "4: The timing cache will not be used!; 10: [optimizer.cpp::computeCosts::3728] Error Code 10: Internal "
        "Error (Could not find any implementation for node {ForeignNode[table...add]}.)"
    )
    assert timing_cache_unusable(seen)
    assert not timing_cache_unusable("10: Could not find any implementation for node conv")


def test_a_build_failing_on_its_timing_cache_is_built_again_without_it(tmp_path: Path, caplog) -> None:
    # Argument level: the chains stand in for polygraphy's; the first logs what TensorRT 8.5 logged on an H100.
    from polygraphy.logger import G_LOGGER

    from trtconvert.engine.chain import run_chain_without_unusable_cache

    cache = tmp_path / "shared.cache"
    cache.write_bytes(b"entries of other networks")
    request = resolve(Spec(model=tmp_path / "m.onnx", profiles=[], verify=False, timing_cache=cache), "8.5.3")
    asked: list = []

    def make_chain(this_request):
        asked.append(this_request.spec.timing_cache)

        def chain():
            if this_request.spec.timing_cache is not None:
                G_LOGGER.error(
                    "1: [myelinCache.h::deserializeFromBuffer::52] Error Code 1: Myelin (Myelin error)"
                )
                G_LOGGER.error("4: The timing cache will not be used!")
                G_LOGGER.critical("Invalid Engine. Please ensure the engine was built correctly")
            return b"engine"

        return chain

    with caplog.at_level("WARNING", logger="trtconvert"):
        _, engine = run_chain_without_unusable_cache(make_chain, request)
    assert engine == b"engine" and asked == [cache, None]
    assert f"could not use the timing cache {cache}" in caplog.text
    assert cache.read_bytes() == b"entries of other networks"


def test_other_build_failures_are_not_built_again(tmp_path: Path) -> None:
    from polygraphy.logger import G_LOGGER

    from trtconvert.engine.chain import run_chain_without_unusable_cache

    request = resolve(
        Spec(model=tmp_path / "m.onnx", profiles=[], verify=False, timing_cache=tmp_path / "c.cache"), "8.5.3"
    )
    asked: list = []

    def make_chain(this_request):
        asked.append(this_request.spec.timing_cache)

        def chain():
            G_LOGGER.critical("10: Could not find any implementation for node conv")

        return chain

    with pytest.raises(BuildFailed, match="Could not find any implementation"):
        run_chain_without_unusable_cache(make_chain, request)
    assert len(asked) == 1
