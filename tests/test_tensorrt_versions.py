"""TensorRT 8.5 to 11 on one code path: what each version lacks is refused before any slow stage, and a long
build shows it is alive on every version (TensorRT's log for all, its progress monitor from 10).

The version rules are checked against stand-in `tensorrt` modules that carry only a version: what the real
TensorRT 8.5 does with them runs in the tests marked tensorrt (test_engine_tensorrt.py).
"""

from __future__ import annotations

import io
import re
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from trtconvert import log
from trtconvert.engine import build as engine_build
from trtconvert.engine.chain import EngineSettings, make_progress_monitor, phase_text
from trtconvert.engine.tensorrt_log import Heartbeat, TensorRTLog, activity_of, tensorrt_messages
from trtconvert.errors import BadInput
from trtconvert.model.profiles import parse_profile
from trtconvert.settings.request import check_build_settings
from trtconvert.settings.spec import Spec
from trtconvert.settings.target import parse_target

PROFILE = "input=1x3x16x16:1x3x24x20:1x3x32x32,factor=1x1x32x32:1x1x48x40:1x1x64x64"


def _spec(**fields) -> Spec:
    return Spec(
        model=Path("m.onnx"), output=Path("m.plan"), profiles=[parse_profile("x=1x3:2x3:4x3")], **fields
    )


@pytest.mark.parametrize(
    ("fields", "needs"),
    [
        ({"opt_level": 3}, "--opt-level (the builder optimization level) needs TensorRT 8.6"),
        ({"version_compatible": True}, "--version-compatible needs TensorRT 8.6"),
        ({"hardware_compatibility": "ampere_plus"}, "--hardware-compatibility needs TensorRT 8.6"),
        ({"precision": "bf16"}, "--precision bf16 needs TensorRT 9.0"),
    ],
)
def test_tensorrt_8_5_refuses_what_it_lacks(fields: dict, needs: str) -> None:
    with pytest.raises(BadInput, match="TensorRT 8.5 builds this engine") as refused:
        check_build_settings(_spec(**fields), parse_target("8.5"))
    assert needs in str(refused.value)
    assert refused.value.exit_code == 2
    # The versions that have the feature take it.
    check_build_settings(_spec(**fields), parse_target("10.8"))


def test_tensorrt_8_5_takes_what_it_has() -> None:
    check_build_settings(_spec(precision="fp16", workspace="1G", tf32=False), parse_target("8.5"))
    check_build_settings(_spec(opt_level=2, version_compatible=True), parse_target("8.6"))
    with pytest.raises(BadInput, match="bf16 needs TensorRT 9.0"):
        check_build_settings(_spec(precision="bf16"), parse_target("8.6"))


def test_supported_versions_and_plugin_interfaces() -> None:
    assert (
        not parse_target("8.4").supported and parse_target("8.5").supported and parse_target("11.1").supported
    )
    assert (
        parse_target("8.5").plugin_interface == parse_target("9.3").plugin_interface == "IPluginV2DynamicExt"
    )
    assert parse_target("10.0").plugin_interface == "IPluginV3"
    assert not parse_target("8.4").has_bundled_plugin and parse_target("8.5").has_bundled_plugin
    assert not parse_target("9.3").has("progress_monitor") and parse_target("10").has("progress_monitor")
    assert not parse_target("8.5").has("plugin_load_library") and parse_target("8.6").has(
        "plugin_load_library"
    )


def _fake_tensorrt(monkeypatch, version: str) -> None:
    module = SimpleNamespace(__version__=version, Builder=object)
    monkeypatch.setattr(engine_build, "import_tensorrt", lambda: (module, f"TensorRT {version}"))


def test_build_refuses_a_missing_feature_before_the_cpu_stages(
    run_cli, example_model: Path, tmp_path: Path, monkeypatch
) -> None:
    _fake_tensorrt(monkeypatch, "8.5.3.1")
    out = tmp_path / "model.plan"
    result = run_cli("build", example_model, "-o", out, "--profile", PROFILE, "--opt-level", "3")
    assert result.code == 2, result.stderr
    assert "error: --opt-level (the builder optimization level) needs TensorRT 8.6 or newer" in result.stderr
    assert "TensorRT 8.5 builds this engine; drop --opt-level" in result.stderr
    assert "\nfold " not in "\n" + result.stderr  # refused before the slow stages
    assert "Traceback" not in result.stderr and not out.exists()


def test_build_refuses_an_unsupported_tensorrt(
    run_cli, example_model: Path, tmp_path: Path, monkeypatch
) -> None:
    _fake_tensorrt(monkeypatch, "8.4.3.1")
    result = run_cli("build", example_model, "-o", tmp_path / "m.plan", "--profile", PROFILE)
    assert result.code == 3, result.stderr
    assert "TensorRT 8.4.3.1 is installed; trtconvert builds with TensorRT 8.5 to 11.x" in result.stderr


# ---- the build is shown alive


@pytest.mark.parametrize(
    ("line", "activity"),
    [
        ("--------------- Timing Runner: Conv_12 + Relu_13 (CaskConvolution)", "timing Conv_12 + Relu_13 (CaskConvolution)"),
        ("*************** Autotuning format combination: Float(150528,50176,224,1) -> Float(...) ***************",
         "choosing formats Float(150528,50176,224,1) -> Float(...) ***************"),
        ("Constructing optimization profile number 1 [1/2].", "optimization profile 1"),
        ("[MemUsageChange] Init CUDA: CPU +12, GPU +0, now: CPU 300, GPU 800 (MiB)",
         "memory: Init CUDA: CPU +12, GPU +0, now: CPU 300, GPU 800 (MiB)"),
        ("Tactic: 0x0000000000000001 Time: 0.012", None),
    ],
)  # fmt: skip
def test_tensorrt_lines_become_activity(line: str, activity: str | None) -> None:
    assert activity_of(line) == (activity[:100] if activity else None)


def test_verbose_tensorrt_lines_reach_the_activity_without_being_shown(capsys) -> None:
    from polygraphy.logger import G_LOGGER

    log.configure(0)
    before = G_LOGGER.module_severity.get()
    sink = TensorRTLog()
    with tensorrt_messages(sink) as messages:
        assert messages is sink
        G_LOGGER.extra_verbose("--------------- Timing Runner: Conv_3 (CaskConvolution)")
        G_LOGGER.error("Error Code 2: out of memory")
    assert sink.activity == "timing Conv_3 (CaskConvolution)"
    assert sink.errors == ["Error Code 2: out of memory"]
    assert G_LOGGER.module_severity.get() == before
    captured = capsys.readouterr()
    assert "Conv_3" not in captured.err + captured.out


def _wait_for(condition, seconds: float = 30.0) -> None:
    """Poll until ``condition()`` holds: a loaded machine may start the heartbeat's thread late."""
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)


def test_heartbeat_prints_elapsed_time_and_activity_in_a_log(capsys) -> None:
    log.configure(0)
    sink = TensorRTLog()
    with Heartbeat(sink, every=0.05, tty=False) as beat:
        sink.note("timing Conv_1 (CaskConvolution)")
        _wait_for(lambda: any("timing Conv_1" in line for line in beat.lines))
    bound = time.perf_counter() - beat._started
    assert beat.lines, "no heartbeat line in 30 s at a 0.05 s interval"
    printed = re.fullmatch(r"build running (\d+)s: timing Conv_1 \(CaskConvolution\)", beat.lines[-1].strip())
    assert printed, beat.lines[-1]
    assert int(printed[1]) <= bound  # the elapsed time when printed, whenever the thread got to print it
    assert beat.lines[-1].strip() in capsys.readouterr().err
    # Offsets half a second past a whole one: start + offset - start is off by rounding (at times just under
    # the whole second when start + offset crosses a power of two), never by half a second.
    shown = {offset: beat.line(now=beat._started + offset).strip() for offset in (0.5, 59.5, 125.5, 3600.5)}
    assert shown == {
        0.5: "build running 0s: timing Conv_1 (CaskConvolution)",
        59.5: "build running 59s: timing Conv_1 (CaskConvolution)",
        125.5: "build running 2m05s: timing Conv_1 (CaskConvolution)",
        3600.5: "build running 60m00s: timing Conv_1 (CaskConvolution)",
    }


def test_heartbeat_is_silent_when_quiet(capsys) -> None:
    log.configure(-1)
    with Heartbeat(TensorRTLog(), every=0.01, tty=False) as beat:
        time.sleep(0.1)
    assert beat.lines == [] and "running" not in capsys.readouterr().err
    log.configure(0)


def test_heartbeat_rewrites_one_terminal_line_and_clears_it(monkeypatch) -> None:
    log.configure(0)
    screen = io.StringIO()
    monkeypatch.setattr("sys.stderr", screen)
    with Heartbeat(TensorRTLog(), tty=True) as beat:
        _wait_for(lambda: "running" in screen.getvalue())
    bound = time.perf_counter() - beat._started
    text = screen.getvalue()
    shown = re.search(r"build running (\d+)s: starting", text)
    assert text.startswith("\r") and shown, text
    assert 1 <= int(shown[1]) <= bound  # a terminal's line comes every second
    assert text.endswith("\r") and "\n" not in text


class _Monitor:
    """Stands in for tensorrt.IProgressMonitor (TensorRT 10+): a base class with an __init__."""

    def __init__(self) -> None:
        pass


def test_progress_monitor_reports_open_phases_to_the_sink() -> None:
    sink = TensorRTLog()
    monitor = make_progress_monitor(SimpleNamespace(IProgressMonitor=_Monitor), sink)
    monitor.phase_start("Building engine", None, 4)
    monitor.phase_start("Tactic timing", "Building engine", 40)
    assert monitor.step_complete("Tactic timing", 6) is True
    assert sink.activity == "Building engine 0/4 > Tactic timing 7/40"
    monitor.phase_finish("Tactic timing")
    monitor.step_complete("Building engine", 0)
    assert sink.activity == "Building engine 1/4"
    monitor.step_complete("never opened", 3)  # TensorRT may report phases it did not open: ignored
    assert phase_text([("Optimizing", 0, 0)]) == "Optimizing"


def test_engine_settings_attach_a_monitor_only_where_tensorrt_has_one() -> None:
    sink = TensorRTLog()
    config = SimpleNamespace()
    EngineSettings(progress=sink).apply(SimpleNamespace(__version__="8.5.3.1"), config)
    assert not hasattr(config, "progress_monitor")  # TensorRT 8.5: the heartbeat reads its log instead
    EngineSettings(progress=sink).apply(
        SimpleNamespace(__version__="10.8", IProgressMonitor=_Monitor), config
    )
    assert isinstance(config.progress_monitor, _Monitor)
