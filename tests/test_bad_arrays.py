"""Damaged .npy and .npz files given as --input values or calibration data: exit 2 naming the file, never an
internal error."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import onnx
import pytest
from model_factories import conv_model

PROFILE = "x=1x3x8x8:1x3x16x16:2x3x32x32"


@pytest.fixture
def model(tmp_path: Path) -> Path:
    path = tmp_path / "conv.onnx"
    onnx.save(conv_model(), path)
    return path


def _npy_with_header(header: str) -> bytes:
    text = header.encode("latin1")
    text += b" " * (63 - (10 + len(text)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text + b"\0" * 64


DAMAGED_HEADERS = {
    "unterminated string": "{'descr': '<f4, 'fortran_order': False, 'shape': (1, 3, 8, 8), }",
    "unclosed bracket": "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 8, 8, }",
}


def _assert_refused(result, *said: str) -> None:
    assert result.code == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and all(s in errors[0] for s in said), result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("damage", sorted(DAMAGED_HEADERS))
def test_a_damaged_npy_header_for_an_input_is_refused(run_cli, model, tmp_path, damage) -> None:
    value = tmp_path / "x.npy"
    value.write_bytes(_npy_with_header(DAMAGED_HEADERS[damage]))
    result = run_cli("prepare", model, "-o", tmp_path / "p.onnx", "--input", f"x={value}", "--verify")
    _assert_refused(result, str(value), "cannot be read as .npy")


@pytest.mark.parametrize("damage", sorted(DAMAGED_HEADERS))
def test_a_damaged_npy_member_of_calibration_data_is_refused(run_cli, model, tmp_path, damage) -> None:
    calib = tmp_path / "calib.npz"
    with zipfile.ZipFile(calib, "w") as archive:
        archive.writestr("x.npy", _npy_with_header(DAMAGED_HEADERS[damage]))
    result = run_cli(*_int8_build(model, tmp_path), "--calib-data", calib)
    _assert_refused(result, str(calib), "cannot be read as .npz")


@pytest.mark.parametrize("damage", sorted(DAMAGED_HEADERS))
def test_a_damaged_npy_in_a_calibration_folder_is_refused(run_cli, model, tmp_path, damage) -> None:
    folder = tmp_path / "calib"
    folder.mkdir()
    (folder / "x.npy").write_bytes(_npy_with_header(DAMAGED_HEADERS[damage]))
    result = run_cli(*_int8_build(model, tmp_path), "--calib-data", folder)
    _assert_refused(result, "x.npy", "cannot be read as .npy")


def test_an_npz_member_that_is_not_an_npy_is_refused(run_cli, model, tmp_path) -> None:
    calib = tmp_path / "calib.npz"
    with zipfile.ZipFile(calib, "w") as archive:
        archive.writestr("x", np.random.default_rng(0).random(16).tobytes())
    result = run_cli(*_int8_build(model, tmp_path), "--calib-data", calib)
    _assert_refused(result, "member 'x' is not a .npy array")


def _int8_build(model: Path, tmp_path: Path) -> list:
    return ["build", model, "-o", tmp_path / "m.plan", "--profile", PROFILE, "--precision", "int8"]
