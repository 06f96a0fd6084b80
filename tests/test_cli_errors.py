"""Every bad input: exit 2, one `error:` line naming the problem, no traceback, nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest
from model_factories import conv_model

PROFILE = "x=1x3x8x8:1x3x16x16:2x3x32x32"


def _assert_clean_failure(result, code: int, message: str, folder: Path, allowed: set[str]) -> None:
    assert result.code == code, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    assert message in lines[0], lines[0]
    assert "Traceback" not in result.stderr
    assert {p.name for p in folder.iterdir()} <= allowed, "a failed run left files behind"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path


def _with_external_data(folder: Path) -> Path:
    path = folder / "ext.onnx"
    onnx.save_model(conv_model(), path, save_as_external_data=True, location="ext.data", size_threshold=0)
    return path


def _bad_model(folder: Path, kind: str) -> Path:
    if kind == "missing":
        return folder / "nope.onnx"
    if kind == "directory":
        (folder / "dir.onnx").mkdir()
        return folder / "dir.onnx"
    if kind == "random bytes":
        path = folder / "random.onnx"
        path.write_bytes(bytes(range(256)) * 40)
        return path
    if kind == "truncated":
        path = folder / "truncated.onnx"
        data = conv_model().SerializeToString()
        path.write_bytes(data[: len(data) // 2])
        return path
    if kind == "external data missing":
        path = _with_external_data(folder)
        (folder / "ext.data").unlink()
        return path
    if kind == "external data outside":
        inner = folder / "inner"
        inner.mkdir()
        model = onnx.load(_with_external_data(folder), load_external_data=False)
        for tensor in model.graph.initializer:
            for entry in tensor.external_data:
                if entry.key == "location":
                    entry.value = "../ext.data"
        path = inner / "escape.onnx"
        onnx.save(model, path)
        return path
    raise AssertionError(kind)


MESSAGES = {
    "missing": "model file not found",
    "directory": "is a directory",
    "random bytes": "not a readable ONNX model",
    "truncated": "not a readable ONNX model",
    "external data missing": "external data file 'ext.data' of tensor",
    "external data outside": "outside the model's folder",
}


@pytest.mark.parametrize("command", ["prepare", "inspect"])
@pytest.mark.parametrize("kind", list(MESSAGES))
def test_bad_model_files(run_cli, folder, kind, command):
    model = _bad_model(folder, kind)
    before = {p.name for p in folder.iterdir()}
    args = [command, model] + (
        ["-o", folder / "out.onnx", "--profile", PROFILE] if command == "prepare" else []
    )
    result = run_cli(*args)
    _assert_clean_failure(result, 2, MESSAGES[kind], folder, before)


@pytest.mark.parametrize(
    ("profile", "message"),
    [
        ("y=1x3x8x8", "no input 'y'"),
        ("x=1x3x8x8:1x3x16x16", "three"),
        ("x=1x3x8", "rank 3"),
        ("x=1x4x8x8", "fixes it to 3"),
        ("x=1x3x16x16:1x3x8x8:1x3x32x32", "min <= opt <= max"),
        ("x=0x3x8x8", "at least 1"),
        ("x=1x3x8x8,x=1x3x8x8", "appears twice"),
    ],
)
def test_profile_errors_exit_2(run_cli, conv_model_path, folder, profile, message):
    before = {p.name for p in folder.iterdir()}
    result = run_cli("prepare", conv_model_path, "-o", folder / "out.onnx", "--profile", profile)
    _assert_clean_failure(result, 2, message, folder, before)


def test_uncovered_dynamic_input_prints_a_ready_flag(run_cli, conv_model_path, folder):
    result = run_cli("prepare", conv_model_path, "-o", folder / "out.onnx", "--verify")
    _assert_clean_failure(
        result, 2, "--profile 'x=1x3x64x64:1x3x256x256:8x3x1024x1024'", folder, {"conv.onnx"}
    )


def test_output_equal_to_input_is_refused(run_cli, conv_model_path, folder):
    original = conv_model_path.read_bytes()
    result = run_cli("prepare", conv_model_path, "-o", conv_model_path)
    _assert_clean_failure(result, 2, "is the input file itself", folder, {"conv.onnx"})
    assert conv_model_path.read_bytes() == original


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("profiles: [unclosed", "is not valid YAML"),
        ("- just\n- a list\n", "must be a mapping"),
        ("profils:\n  - x: 1x3x8x8\n", "unknown key 'profils'; did you mean 'profiles'?"),
        ("fold: maybe\n", "expected true or false"),
        ("rewrite: sometimes\n", "not one of auto, all, none"),
    ],
)
def test_bad_configs(run_cli, conv_model_path, folder, text, message):
    config = folder / "bad.yaml"
    config.write_text(text)
    result = run_cli("prepare", conv_model_path, "-o", folder / "out.onnx", "--config", config)
    _assert_clean_failure(result, 2, message, folder, {"conv.onnx", "bad.yaml"})


def test_missing_config_file(run_cli, conv_model_path, folder):
    result = run_cli("prepare", conv_model_path, "-o", folder / "out.onnx", "--config", folder / "none.yaml")
    _assert_clean_failure(result, 2, "config file not found", folder, {"conv.onnx"})


def test_unknown_flag_is_a_usage_error(run_cli, conv_model_path):
    result = run_cli("prepare", conv_model_path, "--no-such-flag")
    assert result.code == 2
    assert "No such option" in result.stderr


def test_bad_input_value(run_cli, conv_model_path, folder):
    result = run_cli(
        "prepare", conv_model_path, "-o", folder / "o.onnx", "--profile", PROFILE, "--input", "x=abc"
    )
    _assert_clean_failure(result, 2, "give a number or a path ending in .npy", folder, {"conv.onnx"})


def _existing_output(folder: Path) -> tuple[Path, bytes]:
    output = folder / "out.onnx"
    output.write_bytes(b"previous build, must survive")
    return output, output.read_bytes()


def test_existing_output_survives_bad_input(run_cli, conv_model_path, folder):
    output, before = _existing_output(folder)
    result = run_cli("prepare", conv_model_path, "-o", output, "--profile", "x=1x3x8")
    assert result.code == 2
    assert output.read_bytes() == before


def test_existing_output_survives_verification_failure(run_cli, conv_model_path, folder):
    output, before = _existing_output(folder)
    result = run_cli(
        "prepare",
        conv_model_path,
        "-o",
        output,
        "--profile",
        PROFILE,
        "--verify",
        "--precision",
        "fp16",
        "--atol",
        "0",
        "--rtol",
        "0",
    )  # fmt: skip  (fp16 cannot match fp32 exactly)
    _assert_clean_failure(result, 4, "differs from the original", folder, {"conv.onnx", "out.onnx"})
    assert output.read_bytes() == before


@pytest.mark.parametrize("command", ["prepare", "build"])
def test_a_verification_failure_in_json_carries_the_measurements(run_cli, conv_model_path, folder, command):
    # build checks the prepared model on the CPU before it needs TensorRT, so both fail here the same way.
    output = folder / ("out.onnx" if command == "prepare" else "out.plan")
    result = run_cli(
        command, conv_model_path, "-o", output, "--profile", PROFILE, "--verify", "--precision", "fp16",
        "--atol", "0", "--rtol", "0", "--json",
    )  # fmt: skip
    assert result.code == 4, result.stderr
    failed = json.loads(result.stdout)
    assert (
        failed["ok"] is False and failed["exit_code"] == 4 and "differs from the original" in failed["error"]
    )
    outputs = [o for shape_set in failed["verification"] for o in shape_set["outputs"]]
    assert outputs and not any(o["ok"] for o in outputs) and min(o["max_abs"] for o in outputs) > 0
    assert not output.exists()


def test_existing_output_survives_a_crash_while_writing(run_cli, conv_model_path, folder, monkeypatch):
    output, before = _existing_output(folder)

    def broken_save(model, path, external_data):
        path.write_bytes(b"half a mod")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("trtconvert.prepare.pipeline.save_onnx", broken_save)
    result = run_cli("prepare", conv_model_path, "-o", output, "--profile", PROFILE)
    _assert_clean_failure(result, 2, "No space left on device", folder, {"conv.onnx", "out.onnx"})
    assert output.read_bytes() == before


def test_debug_shows_the_traceback_and_keeps_the_exit_code(run_cli, conv_model_path, folder):
    result = run_cli("prepare", conv_model_path, "-o", folder / "o.onnx", "--profile", "y=1x3x8x8", "--debug")
    assert result.code == 2, result.stderr
    assert "Traceback (most recent call last)" in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "no input 'y'" in errors[0]


def test_json_error_report(run_cli, folder):
    import json

    result = run_cli("inspect", folder / "nope.onnx", "--json")
    assert result.code == 2
    report = json.loads(result.stdout)
    assert report["ok"] is False and report["exit_code"] == 2 and "not found" in report["error"]
