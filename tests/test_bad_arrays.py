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


def _npy_with_header(header: str, data: bytes = b"\0" * 64) -> bytes:
    text = header.encode("latin1")
    text += b" " * (63 - (10 + len(text)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text + data


def _declared(shape: tuple[int, ...], descr: str = "<f4") -> bytes:
    """A .npy whose header declares ``shape`` but holds only 64 bytes of data."""
    return _npy_with_header(f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}")


# Larger than any machine's address space: allocating it fails at once with MemoryError.
BEYOND_MEMORY = (10**12, 1, 3, 8, 8)


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


def test_an_npz_member_with_a_text_name_is_refused(run_cli, model, tmp_path) -> None:
    calib = tmp_path / "calib.npz"
    with zipfile.ZipFile(calib, "w") as archive:
        archive.writestr("x.txt", "1 2 3\n")
    result = run_cli(*_int8_build(model, tmp_path), "--calib-data", calib)
    _assert_refused(result, str(calib), "member 'x.txt' is not a .npy array")


@pytest.fixture
def no_array_data_read(monkeypatch) -> None:
    """Reading any array's data fails the test: checks must refuse from the .npy header alone."""

    def refuse(*args, **kwargs):
        raise AssertionError("array data was read")

    monkeypatch.setattr(np.lib.format, "read_array", refuse)
    monkeypatch.setattr(np, "load", refuse)


WRONG_HEADERS = {
    "declared huge, rank 4": (_declared((100000, 3, 512, 512)), "has rank 4"),
    "height outside the profile": (
        _declared((2, 1, 3, 7, 8)),
        "has 7 on axis 2, outside the profile's 8..32",
    ),
    "channels not 3": (_declared((2, 1, 4, 8, 8)), "has 4 on axis 1, but input 'x'"),
    "complex type": (_declared((2, 1, 3, 8, 8), "<c8"), "complex64 data cannot be cast safely"),
}


@pytest.mark.parametrize("layout", ["compressed npz member", "npy in a folder"])
@pytest.mark.parametrize("wrong", sorted(WRONG_HEADERS))
def test_calibration_data_that_does_not_fit_is_refused_before_its_data_is_read(
    run_cli, model, tmp_path, wrong, layout, no_array_data_read
) -> None:
    content, said = WRONG_HEADERS[wrong]
    if layout == "compressed npz member":
        calib, named = tmp_path / "calib.npz", "calib.npz, input 'x'"
        with zipfile.ZipFile(calib, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("x.npy", content)
    else:
        calib, named = tmp_path / "calib", "x.npy, input 'x'"
        calib.mkdir()
        (calib / "x.npy").write_bytes(content)
    result = run_cli(*_int8_build(model, tmp_path), "--calib-data", calib)
    _assert_refused(result, named, said)


def test_a_damaged_deflate_stream_in_calibration_data_is_refused(run_cli, model, tmp_path) -> None:
    calib = tmp_path / "calib.npz"
    np.savez_compressed(calib, x=np.random.default_rng(0).random((2, 1, 3, 8, 8), dtype=np.float32))
    data = bytearray(calib.read_bytes())
    start = data.index(b"x.npy") + len("x.npy") + 8  # inside the compressed data, past the .npy header
    data[start : start + 40] = bytes(40)
    calib.write_bytes(bytes(data))
    result = run_cli(*_int8_build(model, tmp_path), "--calib-data", calib)
    _assert_refused(result, str(calib), "cannot be read as .npz")


def test_an_input_npy_declaring_more_than_memory_is_refused_naming_the_file(run_cli, model, tmp_path) -> None:
    value = tmp_path / "x.npy"
    value.write_bytes(_declared((10**12, 3, 8, 8)))
    result = run_cli("prepare", model, "-o", tmp_path / "p.onnx", "--input", f"x={value}", "--verify")
    _assert_refused(result, str(value), "larger than this machine's memory")


def test_calibration_data_declaring_more_than_memory_is_refused_naming_the_file(
    run_cli, model, tmp_path
) -> None:
    calib = tmp_path / "calib.npz"
    with zipfile.ZipFile(calib, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("x.npy", _declared(BEYOND_MEMORY))
    result = run_cli(*_int8_build(model, tmp_path), "--calib-data", calib)
    _assert_refused(result, str(calib), "member 'x.npy' declares an array larger than this machine's memory")
    folder = tmp_path / "calib"
    folder.mkdir()
    (folder / "x.npy").write_bytes(_declared(BEYOND_MEMORY))
    result = run_cli(*_int8_build(model, tmp_path), "--calib-data", folder)
    _assert_refused(result, str(folder / "x.npy"), "larger than this machine's memory")


def _int8_build(model: Path, tmp_path: Path) -> list:
    return ["build", model, "-o", tmp_path / "m.plan", "--profile", PROFILE, "--precision", "int8"]
