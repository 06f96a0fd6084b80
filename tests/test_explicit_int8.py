"""Explicit quantization on TensorRT 8.5-10 (an ONNX that already holds Q/DQ nodes builds with the INT8 flag and no
calibrator) and --strongly-typed on 9.x-10.x, checked at the argument level: what preflight asks for, what the
precision stage does and what the loader chain is handed. The real builds are in test_precision_tensorrt.py."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from model_factories import conv_model, qdq_conv_model

from trtconvert.engine.chain import engine_loader_chain, int8_calibrator
from trtconvert.errors import BadInput
from trtconvert.int8.qdq import qdq_counts
from trtconvert.prepare.pipeline import preflight, prepare_model
from trtconvert.settings.request import resolve
from trtconvert.settings.spec import Spec


def _saved(model: onnx.ModelProto, folder: Path, name: str = "m.onnx") -> Path:
    path = folder / name
    onnx.save(model, path)
    return path


@pytest.mark.parametrize("precision", ["int8", "int8,fp16"])
def test_a_qdq_model_builds_with_the_int8_flag_and_no_calibrator(tmp_path: Path, precision: str) -> None:
    source = _saved(qdq_conv_model(), tmp_path)
    request = resolve(Spec(model=source, output=tmp_path / "m.plan", precision=precision), "8.5.3")
    checked = preflight(request)  # no --calib-data needed
    assert checked.qdq_nodes == 3 and checked.calibration is None and checked.calibration_cache is None
    prepared = prepare_model(request, checked)
    assert prepared.precision.converter == "explicit-qdq" and prepared.before_precision is None
    assert qdq_counts(prepared.model) == {"QuantizeLinear": 1, "DequantizeLinear": 2}
    calibrator = int8_calibrator(checked.calibration, checked.calibration_cache)
    assert calibrator is None
    chain = engine_loader_chain(request, source, calibrator=calibrator)
    config = chain.config
    assert config.int8 is True and config.calibrator is None
    assert config.fp16 is (precision == "int8,fp16")


def test_a_qdq_model_without_int8_is_refused_on_builder_flags(tmp_path: Path) -> None:
    source = _saved(qdq_conv_model(), tmp_path)
    with pytest.raises(BadInput, match=r"3 QuantizeLinear/DequantizeLinear node\(s\).*add --precision int8"):
        preflight(resolve(Spec(model=source, precision="fp16"), "10.8.0"))


def test_calibration_flags_with_a_qdq_model_are_named_unused(run_cli, tmp_path: Path) -> None:
    source = _saved(qdq_conv_model(), tmp_path)
    cache = tmp_path / "calib.cache"
    cache.write_bytes(b"TRT-8503-EntropyCalibration2\n")
    result = run_cli(
        "prepare", source, "-o", tmp_path / "o.onnx", "--target-tensorrt", "10", "--precision", "int8",
        "--calib-cache", cache, "--verify",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    assert "--calib-cache not used: the model's 3 Q/DQ node(s) already carry the INT8 scales" in result.stderr
    assert "explicit quantization" in result.stderr


def test_tensorrt_11_does_not_quantize_a_qdq_model_again(run_cli, tmp_path: Path) -> None:
    source = _saved(qdq_conv_model(), tmp_path)
    out = tmp_path / "o.onnx"
    result = run_cli(
        "prepare", source, "-o", out, "--target-tensorrt", "11", "--precision", "int8", "--verify"
    )
    assert result.code == 0, result.stderr
    assert qdq_counts(onnx.load(out)) == {"QuantizeLinear": 1, "DequantizeLinear": 2}


def test_strongly_typed_is_refused_before_9_naming_the_version(run_cli, tmp_path: Path) -> None:
    with pytest.raises(BadInput, match=r"a strongly typed network needs TensorRT 9\.0 or newer.*8\.5"):
        resolve(Spec(model=tmp_path / "m.onnx", strongly_typed=True), "8.5.3")
    source = _saved(conv_model(dynamic=False), tmp_path)
    result = run_cli(
        "prepare", source, "-o", tmp_path / "o.onnx", "--target-tensorrt", "8.6", "--strongly-typed"
    )
    assert result.code == 2 and "9.0" in result.stderr and "drop --strongly-typed" in result.stderr


@pytest.mark.parametrize("installed", ["9.3.0", "10.8.0"])
def test_strongly_typed_on_9_and_10_converts_the_onnx_and_sets_no_precision_flag(
    tmp_path: Path, installed: str
) -> None:
    source = _saved(conv_model(dynamic=False), tmp_path)
    request = resolve(Spec(model=source, precision="fp16", strongly_typed=True), installed)
    plan = request.precision
    assert plan.strongly_typed and plan.convert_onnx_to == "fp16" and plan.builder_flags == ()
    chain = engine_loader_chain(request, source)
    assert chain.network.strongly_typed is True
    config = chain.config
    assert config.fp16 is False and config.int8 is False
    with pytest.raises(BadInput, match="A strongly typed network takes INT8 only from Q/DQ nodes"):
        resolve(Spec(model=source, precision="int8,fp16", strongly_typed=True), installed)


def test_strongly_typed_changes_the_cache_key(tmp_path: Path) -> None:
    from trtconvert.engine.plan_files import engine_config

    plain = resolve(Spec(model=tmp_path / "m.onnx", precision="fp16"), "10.8.0")
    typed = resolve(Spec(model=tmp_path / "m.onnx", precision="fp16", strongly_typed=True), "10.8.0")
    assert engine_config(plain) != engine_config(typed)
