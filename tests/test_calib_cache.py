"""The TensorRT calibration cache file: shape checks, atomic writes, non-regular paths refused."""

from __future__ import annotations

import os
import struct

import pytest

from trtconvert.errors import BadInput
from trtconvert.int8.calib_cache import cache_summary, parse_cache, read_cache, write_cache


def _hex(value: float) -> str:
    return struct.pack(">f", value).hex()


# As TensorRT 8.5.3's entropy calibrator writes it: names may hold spaces, brackets, colons and slashes.
CACHE = (
    "TRT-8503-EntropyCalibration2\n"
    f"x: {_hex(0.0078125)}\n"
    f"/conv1/Conv_output_0: {_hex(0.04)}\n"
    f"(Unnamed Layer* 4) [Shuffle]_output: {_hex(0.5)}\n"
    f"input:0: {_hex(1.25)}\n"
).encode()


def test_parse_decodes_header_and_scales():
    info = parse_cache(CACHE)
    assert info.tensorrt_version == 8503 and info.tensorrt_release == "8.5.3"
    assert info.calibrator == "EntropyCalibration2"
    assert info.scales["x"] == pytest.approx(0.0078125)
    assert info.scales["input:0"] == pytest.approx(1.25)
    assert "(Unnamed Layer* 4) [Shuffle]_output" in info.scales


def test_release_numbers_of_both_version_schemes():
    assert parse_cache(b"TRT-100300-MinMaxCalibration\n").tensorrt_release == "10.3.0"
    assert parse_cache(b"TRT-7202-LegacyCalibration\n").tensorrt_release == "7.2.2"


def test_summary_line():
    assert cache_summary(CACHE) == "EntropyCalibration2 cache of TensorRT 8.5.3 (8503), 4 tensor scales"


def test_write_then_read_round_trip(tmp_path):
    path = tmp_path / "sub" / "model.cache"
    write_cache(path, CACHE)
    assert read_cache(path) == CACHE
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.cache"]  # no staging left behind


def test_absent_cache_reads_as_none(tmp_path):
    assert read_cache(tmp_path / "none.cache") is None


def test_write_replaces_atomically_and_a_failed_write_leaves_the_old_cache(tmp_path, monkeypatch):
    path = tmp_path / "model.cache"
    write_cache(path, CACHE)
    newer = CACHE.replace(b"TRT-8503", b"TRT-8601")

    def fail(_fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(OSError, match="No space left"):
        write_cache(path, newer)
    assert path.read_bytes() == CACHE
    assert [p.name for p in tmp_path.iterdir()] == ["model.cache"]
    monkeypatch.undo()
    write_cache(path, newer)
    assert read_cache(path) == newer


def test_fifo_is_refused_for_reading_and_writing(tmp_path):
    fifo = tmp_path / "model.cache"
    os.mkfifo(fifo)
    with pytest.raises(BadInput, match="is not a regular file"):
        read_cache(fifo)
    with pytest.raises(BadInput, match=r"exists and is not a regular file \(a FIFO\)"):
        write_cache(fifo, CACHE)
    assert fifo.exists() and not fifo.is_file()


def test_directory_is_refused(tmp_path):
    with pytest.raises(BadInput, match="is a directory"):
        read_cache(tmp_path)
    with pytest.raises(BadInput, match="is a directory"):
        write_cache(tmp_path, CACHE)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "is empty"),
        (b"\n  \n", "is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "not text"),
        (b"calibration\nx: 3c010a14\n", "first line 'calibration' is not TRT-<version>-<calibrator>"),
        (b"TRT-8XXX-EntropyCalibration2\n", "is not TRT-<version>-<calibrator>"),
        (
            b"TRT-8503-EntropyCalibration2\nx 3c010a14\n",
            "line 2: 'x 3c010a14' is not '<tensor>: <hex scale>'",
        ),
        (b"TRT-8503-EntropyCalibration2\nx: 3c010a14\ny: nothex\n", "line 3"),
        (b"TRT-8503-EntropyCalibration2\nx: 123456789\n", "line 2"),
        (b"TRT-8503-EntropyCalibration2\nx: bf800000\n", "scale -1.0 of 'x' is not a scale"),
        (b"TRT-8503-EntropyCalibration2\nx: 7fc00000\n", "is not a scale"),
    ],
)
def test_garbled_caches_are_refused(tmp_path, data, message):
    path = tmp_path / "model.cache"
    path.write_bytes(data)
    with pytest.raises(BadInput, match="delete it to calibrate again") as error:
        read_cache(path)
    assert message in str(error.value) and str(path) in str(error.value)
    assert "\n" not in str(error.value)


def test_windows_line_endings_and_a_missing_final_newline_are_read(tmp_path):
    path = tmp_path / "model.cache"
    path.write_bytes(CACHE.replace(b"\n", b"\r\n").rstrip())
    assert len(parse_cache(read_cache(path)).scales) == 4


def test_writing_bytes_of_an_unknown_shape_is_a_bug_not_bad_input(tmp_path):
    with pytest.raises(ValueError, match="not TRT-<version>-<calibrator>") as error:
        write_cache(tmp_path / "model.cache", b"garbage")
    assert not isinstance(error.value, BadInput)
    assert not (tmp_path / "model.cache").exists()
