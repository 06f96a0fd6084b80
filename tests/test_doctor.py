"""doctor: reports every component and always exits 0."""

from __future__ import annotations

import importlib.metadata
import json
import platform
from pathlib import Path

import pytest

from trtconvert import __version__
from trtconvert.engine.doctor import Check, doctor_report, format_report, run_checks
from trtconvert.engine.machine import import_tensorrt


def test_doctor_json_lists_versions(run_cli) -> None:
    result = run_cli("doctor", "--json")
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    checks = {c["name"]: c for c in report["checks"]}
    for name in ("python", "trtconvert", "onnx", "onnxruntime", "polygraphy", "tensorrt", "gpu", "nvcc"):
        assert name in checks, name
    assert checks["python"]["detail"].startswith(platform.python_version())
    assert checks["trtconvert"]["detail"].startswith(__version__)
    assert checks["onnx"]["detail"] == importlib.metadata.version("onnx")
    assert checks["polygraphy"]["detail"] == importlib.metadata.version("polygraphy")
    assert report["can_prepare"] is True


def test_doctor_tells_how_to_get_tensorrt_where_it_is_missing(run_cli) -> None:
    module, _ = import_tensorrt()
    if module is not None:
        pytest.skip("TensorRT is installed here")
    report = json.loads(run_cli("doctor", "--json").stdout)
    tensorrt = next(c for c in report["checks"] if c["name"] == "tensorrt")
    assert tensorrt["ok"] is False
    assert "pip install 'trtconvert[tensorrt]'" in tensorrt["hint"]
    assert report["can_build"] is False


def test_doctor_text_output(run_cli) -> None:
    result = run_cli("doctor")
    assert result.code == 0
    assert "onnxruntime" in result.stdout and "build/verify:" in result.stdout


def test_doctor_survives_missing_tools(run_cli, monkeypatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    result = run_cli("doctor", "--json")
    assert result.code == 0, result.stderr
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["nvcc"]["ok"] is False and "not found on PATH" in checks["nvcc"]["detail"]


def test_a_failing_probe_is_reported_not_raised() -> None:
    def broken() -> Check:
        raise RuntimeError("driver exploded")

    def fine() -> Check:
        return Check("fine", True, "1.0")

    checks = run_checks([broken, fine])
    assert checks[0].ok is False and "RuntimeError: driver exploded" in checks[0].detail
    assert checks[1] == Check("fine", True, "1.0")


def test_doctor_exits_0_even_when_every_probe_fails(run_cli, monkeypatch) -> None:
    def broken() -> Check:
        raise OSError("nothing works")

    monkeypatch.setattr("trtconvert.engine.doctor.CHECKS", [broken, broken])
    result = run_cli("doctor")
    assert result.code == 0
    assert result.stdout.count("probe failed: OSError: nothing works") == 2


def test_format_marks_missing_components_with_their_hint() -> None:
    report = doctor_report([lambda: Check("tensorrt", False, "TensorRT is not installed", "pip install x")])
    lines = format_report(report)
    assert lines[0].startswith("--") and "TensorRT is not installed" in lines[0]
    assert "-> pip install x" in lines[1]


def test_doctor_states_the_supported_range_and_what_a_version_lacks() -> None:
    from trtconvert.engine.doctor import describe_tensorrt

    old = describe_tensorrt("8.5.3.1", Path("/x"))
    assert old.ok and "supported range 8.5 to 11.x" in old.detail
    assert "plugin interface IPluginV2DynamicExt" in old.detail
    assert (
        "lacks --opt-level (the builder optimization level)" in old.detail
        and "--precision bf16" in old.detail
    )
    new = describe_tensorrt("10.16.0.72", Path("/x"))
    assert new.ok and "plugin interface IPluginV3" in new.detail and "lacks" not in new.detail
    too_old = describe_tensorrt("8.4.3.1", Path("/x"))
    assert not too_old.ok and "older than trtconvert supports (8.5 to 11.x)" in too_old.detail


@pytest.mark.parametrize(
    ("installed", "says", "never"),
    [
        ("8.5.3.1", ["TensorRT 8.5 - 8.6 (installed: 8.5)", "measured: 8.5.3.1 on an H200"], "from sources"),
        (
            "10.16.0.72",
            [
                "TensorRT 10.x, 11.x (installed: 10.16)",
                "measured: nothing",
                "argument level:",
                "from sources:",
            ],
            "measured: 8.5",
        ),
        (None, ["default target, none installed: 11.0", "measured: nothing"], "measured: 8.5"),
    ],
)
def test_doctor_says_how_the_installed_version_was_verified(monkeypatch, installed, says, never) -> None:
    from trtconvert.engine.doctor import check_evidence
    from trtconvert.settings import target

    monkeypatch.setattr(target, "_installed_version", lambda: installed)
    check = check_evidence()
    assert check.ok and check.name == "how verified"
    for words in says:
        assert words in check.detail
    assert never not in check.detail


def test_the_readme_version_table_is_the_evidence_table() -> None:
    from trtconvert.settings.target import EVIDENCE, parse_target

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    table = readme.split("<!-- tensorrt-evidence -->", 1)[1].strip().split("\n\n", 1)[0].splitlines()[2:]
    rows = [[cell.strip() for cell in line.strip("|").split(" | ")] for line in table]
    assert rows == [
        [row.versions, parse_target(f"{row.first[0]}.{row.first[1]}").plugin_interface, row.summary()]
        for row in EVIDENCE
    ]
