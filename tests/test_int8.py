"""--precision int8 through the CLI, on the CPU: calibration data is required and checked before any slow stage;
TensorRT 11 gets Q/DQ nodes verified against the float model; TensorRT 8.5-10 keep a float ONNX and take the
INT8 builder flag with a calibrator (what TensorRT does with it runs in the tensorrt-marked tests)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from seeds import fresh_rng, tuned_rng

from trtconvert.engine.chain import engine_loader_chain, int8_calibrator
from trtconvert.errors import BadInput
from trtconvert.settings.request import resolve
from trtconvert.settings.spec import Spec

PROFILE = "input=1x3x16x16:1x3x24x20:1x3x32x32,factor=1x1x32x32:1x1x48x40:1x1x64x64"


def _images(samples: int, height: int, width: int) -> np.ndarray:
    """Smooth gradients with dark strokes: image-like, not uniform noise."""
    rng = tuned_rng("int8-images")
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    images = np.empty((samples, 1, 3, height, width), np.float32)
    for index in range(samples):
        base = (
            rng.uniform(0.2, 0.8, 3)[:, None, None] + 0.3 * np.sin(6 * x + rng.uniform(0, 6))[None] * y[None]
        )
        row = rng.integers(2, height - 2)
        base[:, row - 1 : row + 1, 2:-2] = 0.05
        images[index, 0] = base
    return images


def _calib_file(tmp_path: Path, height: int = 24, width: int = 20, samples: int = 12) -> Path:
    path = tmp_path / "calib.npz"
    factor = np.zeros((samples, 1, 1, 2 * height, 2 * width), np.float32)
    np.savez(path, input=_images(samples, height, width), factor=factor)
    return path


def _run_int8(run_cli, command: str, model: Path, out: Path, *args, precision: str = "int8"):
    """``trtconvert COMMAND MODEL -o OUT --profile PROFILE --precision PRECISION ARGS...``"""
    return run_cli(command, model, "-o", out, "--profile", PROFILE, "--precision", precision, *args)


def test_int8_without_calibration_data_says_what_to_give(run_cli, example_model, tmp_path) -> None:
    out = tmp_path / "m.onnx"
    result = _run_int8(run_cli, "prepare", example_model, out)
    assert result.code == 2
    assert "needs calibration data" in result.stderr and "--calib-data FILE.npz" in result.stderr
    assert "--calib-random-for-timing-only" in result.stderr
    assert "\nfold " not in "\n" + result.stderr and not out.exists()  # refused before the slow stages


def test_bad_calibration_data_is_refused_up_front(run_cli, example_model, tmp_path) -> None:
    path = tmp_path / "calib.npz"
    np.savez(path, input=_images(4, 24, 20))  # no 'factor'
    result = _run_int8(run_cli, "prepare", example_model, tmp_path / "m.onnx", "--calib-data", path)
    assert result.code == 2 and "factor" in result.stderr and "Traceback" not in result.stderr


def test_tensorrt_11_int8_writes_qdq_and_verifies_it_against_float(run_cli, example_model, tmp_path) -> None:
    out = tmp_path / "m.int8.onnx"
    result = _run_int8(
        run_cli,
        "prepare",
        example_model,
        out,
        "--target-tensorrt",
        "11",
        "--calib-data",
        _calib_file(tmp_path),
        "--verify",
        "--json",
        "--rewrite",
        "all",
    )
    assert result.code == 0, result.stderr
    model = onnx.load(out)
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("QuantizeLinear") >= 2 and "DynamicTRTResize" in ops  # the plugin stays, in float
    assert {i.name: i.type.tensor_type.elem_type for i in model.graph.input}[
        "input"
    ] == onnx.TensorProto.FLOAT
    report = json.loads(result.stdout)
    assert report["precision"]["precision"] == "int8" and report["precision"]["mode"] == "onnx_conversion"
    check = report["int8_verification"]
    assert check["samples"] == 12 and check["outputs"][0]["within"] >= 0.99
    # The float model's check against the original ran first and is reported like any prepare --verify.
    assert report["verification"] and all(o["ok"] for r in report["verification"] for o in r["outputs"])
    assert "int8 vs float on 12 calibration samples" in result.stderr


def test_an_impossible_int8_tolerance_fails_verification(run_cli, example_model, tmp_path) -> None:
    out = tmp_path / "m.int8.onnx"
    result = _run_int8(
        run_cli,
        "prepare",
        example_model,
        out,
        "--target-tensorrt",
        "11",
        "--calib-data",
        _calib_file(tmp_path),
        "--verify",
        "--atol",
        "1e-7",
        "--rtol",
        "0",
    )
    assert (
        result.code == 4
        and "within the int8 tolerance of the float model on less than 99.00%" in result.stderr
    )
    assert not out.exists()
    # With --json both checks' measurements come with the error: the float model passed, the Q/DQ one did not.
    result = _run_int8(
        run_cli, "prepare", example_model, out, "--target-tensorrt", "11", "--calib-data", _calib_file(tmp_path),
        "--verify", "--atol", "1e-7", "--rtol", "0", "--json",
    )  # fmt: skip
    failed = json.loads(result.stdout)
    assert failed["exit_code"] == 4 and all(o["ok"] for r in failed["verification"] for o in r["outputs"])
    assert min(o["within"] for o in failed["int8_verification"]["outputs"]) < 0.99


def test_tensorrt_10_int8_keeps_the_onnx_float(run_cli, example_model, tmp_path) -> None:
    out = tmp_path / "m.onnx"
    result = _run_int8(
        run_cli,
        "prepare",
        example_model,
        out,
        "--target-tensorrt",
        "10.8",
        "--calib-data",
        _calib_file(tmp_path),
        "--verify",
        "--json",
        precision="int8,fp16",
    )
    assert result.code == 0, result.stderr
    assert "QuantizeLinear" not in [n.op_type for n in onnx.load(out).graph.node]
    report = json.loads(result.stdout)
    assert report["precision"]["builder_flags"] == ["int8", "fp16"]
    # The float ONNX is held to fp32's tolerance, not int8's.
    assert "OUT OF TOLERANCE" not in result.stderr and "(atol 0.0001" not in result.stderr


def test_builder_int8_samples_must_have_the_calibration_profile_opt_shape(
    run_cli, example_model, tmp_path
) -> None:
    result = _run_int8(
        run_cli,
        "prepare",
        example_model,
        tmp_path / "m.onnx",
        "--target-tensorrt",
        "10.8",
        "--calib-data",
        _calib_file(tmp_path, 16, 16),
    )
    assert result.code == 2
    assert "TensorRT calibrates at the last --profile's opt shape [1, 3, 24, 20]" in result.stderr


def test_random_calibration_warns_that_it_is_for_timing_only(run_cli, example_model, tmp_path) -> None:
    result = _run_int8(
        run_cli,
        "prepare",
        example_model,
        tmp_path / "m.onnx",
        "--target-tensorrt",
        "11",
        "--calib-random-for-timing-only",
    )
    assert result.code == 0, result.stderr
    assert "for timing only" in result.stderr


def test_build_without_tensorrt_checks_calibration_then_exits_3(run_cli, example_model, tmp_path) -> None:
    result = _run_int8(
        run_cli,
        "build",
        example_model,
        tmp_path / "m.plan",
        "--calib-data",
        _calib_file(tmp_path),
        "--calib-cache",
        tmp_path / "calib.cache",
    )
    assert result.code == 3 and "12 samples from" in result.stderr
    assert not (tmp_path / "m.plan").exists() and not (tmp_path / "calib.cache").exists()


def test_builder_int8_chain_has_the_flag_and_the_calibrator(tmp_path) -> None:
    from trtconvert.int8.calibration import load_calibration_data
    from trtconvert.model.info import graph_inputs

    model = tmp_path / "m.onnx"
    onnx.save(__import__("model_factories").conv_model(), model)
    inputs = graph_inputs(onnx.load(model))
    samples = {
        i.name: fresh_rng(i.name).standard_normal((3, *[d if isinstance(d, int) else 1 for d in i.dims]))
        for i in inputs
    }
    np.savez(tmp_path / "c.npz", **{k: v.astype(np.float32) for k, v in samples.items()})
    data = load_calibration_data(tmp_path / "c.npz", inputs)
    request = resolve(Spec(model=model, output=tmp_path / "m.plan", precision="int8,fp16"), "10.8")
    # polygraphy's calibrator subclasses TensorRT's, so without TensorRT a stand-in takes its place here.
    calibrator = object()
    chain = engine_loader_chain(request, tmp_path / "p.onnx", calibrator=calibrator)
    config = chain.config
    assert config.int8 is True and config.fp16 is True and config.calibrator is calibrator
    assert [set(b) for b in data.batches(1)] == [{i.name for i in inputs}] * 3


def test_fp16_chain_has_no_int8(tmp_path) -> None:
    request = resolve(Spec(model=tmp_path / "m.onnx", output=tmp_path / "m.plan", precision="fp16"), "10.8")
    config = engine_loader_chain(request, tmp_path / "p.onnx").config
    assert config.int8 is False and config.calibrator is None


@pytest.fixture
def calibrator_base_classes(monkeypatch):
    """TensorRT's calibrator classes, which polygraphy's calibrator derives from. Without TensorRT, empty
    stand-ins of the three that polygraphy names: enough to exercise the Python side of the calibrator (which
    cache TensorRT would be handed, whether samples were asked for), not anything TensorRT does with it."""
    import importlib.util
    import sys
    import types

    if importlib.util.find_spec("tensorrt") is not None:
        return
    stand_in = types.ModuleType("tensorrt")

    class IInt8Calibrator:
        def __init__(self) -> None:
            pass

    stand_in.IInt8Calibrator = IInt8Calibrator
    stand_in.IInt8EntropyCalibrator2 = type("IInt8EntropyCalibrator2", (IInt8Calibrator,), {})
    stand_in.IInt8LegacyCalibrator = type("IInt8LegacyCalibrator", (IInt8Calibrator,), {})
    monkeypatch.setitem(sys.modules, "tensorrt", stand_in)


CACHE_8503 = b"TRT-8503-EntropyCalibration2\ninput: 3c010204\n"


@pytest.mark.parametrize("cache", [None, CACHE_8503])
def test_the_calibrator_hands_tensorrt_the_given_cache(calibrator_base_classes, cache) -> None:
    # What TensorRT's read_calibration_cache callback gets: the given bytes, or None to calibrate. (polygraphy
    # fails on an in-memory file-like cache inside that callback, and TensorRT then calibrates again.)
    from trtconvert.int8.calibration import CalibrationData

    data = CalibrationData({"x": np.zeros((2, 1, 3), np.float32)}, 2, "test") if cache is None else None
    calibrator = int8_calibrator(data, cache)
    assert calibrator.read_calibration_cache() == cache
    assert calibrator.num_batches == 0


def test_no_calibrator_without_samples_or_cache() -> None:
    """A model with Q/DQ nodes (explicit quantization): preflight asks for neither, TensorRT gets no calibrator."""
    assert int8_calibrator(None, None) is None


def test_a_cache_is_called_reused_only_when_no_sample_was_asked_for(
    calibrator_base_classes, tmp_path, capsys
) -> None:
    from trtconvert import log
    from trtconvert.engine.build import _report_calibration

    log.configure(0)

    cache_file = tmp_path / "calib.cache"
    cache_file.write_bytes(CACHE_8503)
    calibrator = int8_calibrator(None, CACHE_8503)
    _report_calibration(cache_file, CACHE_8503, calibrator)
    assert "no calibration run" in capsys.readouterr().err

    # TensorRT refused the cache (another version's, say) and calibrated: it asked for samples and handed back
    # new scales, which replace the file.
    calibrator.num_batches = 4
    calibrator.cache_contents = b"TRT-8503-EntropyCalibration2\ninput: 3c020304\n"
    _report_calibration(cache_file, CACHE_8503, calibrator)
    said = capsys.readouterr().err
    assert "no calibration run" not in said
    assert "did not use the scales" in said and "calibrated; " in said
    assert cache_file.read_bytes() == calibrator.cache_contents


def test_int8_min_within_is_a_fraction(run_cli, example_model, tmp_path) -> None:
    for bad in ("1.5", "-0.1", "nan"):
        result = run_cli("prepare", example_model, "-o", tmp_path / "m.onnx", "--int8-min-within", bad)
        assert result.code == 2 and "give the share of elements as a fraction, 0 to 1" in result.stderr


def test_ppocr_det_qdq_on_text_like_images(run_cli, shared_models, tmp_path) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from text_images import MEAN, STD, text_image

    rng = tuned_rng("det-text")
    images = np.stack([((text_image(rng, 64, 64) - MEAN) / STD)[None] for _ in range(6)]).astype(np.float32)
    np.savez(tmp_path / "text.npz", x=images)
    out = tmp_path / "det.int8.onnx"
    args = ["--profile", "x=1x3x64x64", "--precision", "int8", "--target-tensorrt", "11"]
    # A text detector's probability map is sharp: INT8 flips a few pixels at glyph edges from 0 to 1, so the
    # share within tolerance is what is judged (measured 97.5-99.6 % at 64x64, 98.7 % at 320x320).
    result = run_cli(
        "prepare",
        shared_models / "ppocr_v4_det.onnx",
        "-o",
        out,
        *args,
        "--calib-data",
        tmp_path / "text.npz",
        "--verify",
        "--int8-min-within",
        "0.95",
        "--json",
    )
    assert result.code == 0, result.stderr
    (output,) = json.loads(result.stdout)["int8_verification"]["outputs"]
    assert output["within"] >= 0.95 and output["mean_abs"] < 0.05


def test_calibration_options_a_target_does_not_use_are_named(run_cli, example_model, tmp_path) -> None:
    calib = _calib_file(tmp_path)
    base = ["prepare", example_model, "-o", tmp_path / "m.onnx", "--profile", PROFILE, "--precision", "int8"]
    on_11 = run_cli(*base, "--target-tensorrt", "11", "--calib-data", calib, "--calib-cache", tmp_path / "c")
    assert on_11.code == 0 and "--calib-cache is not used for TensorRT 11.0" in on_11.stderr
    on_10 = run_cli(*base, "--target-tensorrt", "10.8", "--calib-data", calib, "--calib-method", "entropy")
    assert on_10.code == 0 and "--calib-method is not used for TensorRT 10.8" in on_10.stderr


def test_calibration_data_and_random_calibration_are_refused_together(
    run_cli, example_model, tmp_path
) -> None:
    out = tmp_path / "m.onnx"
    base = ["prepare", example_model, "-o", out, "--profile", PROFILE, "--precision", "int8"]
    result = run_cli(*base, "--calib-data", _calib_file(tmp_path), "--calib-random-for-timing-only")
    assert result.code == 2 and "contradict each other" in result.stderr
    assert "Traceback" not in result.stderr and not out.exists()
    # An engine calibrated on noise is for timing: verifying it could only fail, or pass by chance.
    for command, output in (("prepare", out), ("build", tmp_path / "m.plan")):
        result = _run_int8(
            run_cli, command, example_model, output, "--calib-random-for-timing-only", "--verify"
        )
        assert result.code == 2, result.stderr
        assert "--verify and --calib-random-for-timing-only contradict each other" in result.stderr
        assert (
            "drop --verify" in result.stderr and "\nfold " not in "\n" + result.stderr and not output.exists()
        )


def test_a_build_failure_from_a_cache_alone_says_to_add_calibration_data(tmp_path) -> None:
    from trtconvert.engine.build import _cache_only_hint
    from trtconvert.prepare.pipeline import Preflight

    def checked(calibration, cache) -> Preflight:
        return Preflight(tmp_path / "m.onnx", [], {}, set(), calibration=calibration, calibration_cache=cache)

    cache_file = tmp_path / "calib.cache"
    hint = _cache_only_hint(cache_file, checked(None, CACHE_8503))
    assert str(cache_file) in hint and "add --calib-data" in hint
    assert (
        _cache_only_hint(cache_file, checked(object(), CACHE_8503)) == ""
    )  # samples were there to calibrate
    assert _cache_only_hint(None, checked(None, None)) == ""  # not an INT8 build from a cache


@pytest.mark.parametrize(
    ("tensorrt", "bound"), [("8.5.3.1", np.int32), ("8.6.1.6", np.int32), ("10.8.0.43", np.int64)]
)
def test_calibration_samples_of_an_int64_input_come_as_the_parser_binds_it(
    calibrator_base_classes, tensorrt: str, bound: type
) -> None:
    """polygraphy 0.53.6's calibrator checks every batch against the network's input types (backend/trt/
    calibrator.py _get_batch_impl -> check_inputs) and, at the first that differs, hands TensorRT no batch; the
    parser of TensorRT before 9.0 binds an int64 input as int32 (onnx-tensorrt convertDtype at release/8.5-GA
    and release/8.6-GA). Argument level: the batches the calibrator is given."""
    from trtconvert.int8.calibration import CalibrationData

    rng = np.random.default_rng(9)
    ids = rng.integers(0, 16, size=(3, 1, 4)).astype(np.int64)
    x = rng.uniform(-1, 1, size=(3, 1, 4)).astype(np.float32)
    calibrator = int8_calibrator(CalibrationData({"ids": ids, "x": x}, 3, "test"), None, tensorrt)
    batches = list(calibrator.data_loader)
    assert len(batches) == 3
    for index, batch in enumerate(batches):
        assert batch["ids"].dtype == bound and np.array_equal(batch["ids"], ids[index])
        assert batch["x"].dtype == np.float32 and np.array_equal(batch["x"], x[index])
    too_large = CalibrationData({"ids": np.full((1, 1, 4), 2**40, np.int64)}, 1, "test")
    with pytest.raises(
        BadInput, match=r"input 'ids' \(TensorRT 8\.5\.3\.1 binds the model's int64 as int32\)"
    ):
        int8_calibrator(too_large, None, "8.5.3.1")
