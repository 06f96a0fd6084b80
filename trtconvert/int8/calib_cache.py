"""TensorRT's INT8 calibration cache on disk: read it back for a rebuild, write it whole or not at all.

The cache is what a TensorRT calibrator (TensorRT 8.5-10; 11 has none) hands to ``write_calibration_cache`` and
reads back through ``read_calibration_cache`` to skip calibration. It is text: a header line
``TRT-<version>-<calibrator>`` (``TRT-8503-EntropyCalibration2`` for TensorRT 8.5.3's entropy calibrator), then
one line ``<tensor name>: <scale>`` per tensor, the scale being the hex digits of a float32's IEEE-754 bits.
A file of another shape is refused rather than handed to TensorRT, which would fail on it late or silently
calibrate again.
"""

from __future__ import annotations

import re
import stat
import struct
from dataclasses import dataclass
from pathlib import Path

from trtconvert.atomic import check_writable_file, staged_files, write_synced
from trtconvert.errors import BadInput

_HEADER = re.compile(r"^TRT-(?P<version>\d+)-(?P<calibrator>[A-Za-z][A-Za-z0-9_]*)$")
_ENTRY = re.compile(r"^(?P<name>.+): (?P<value>[0-9a-fA-F]{1,8})$")
_WHAT = "calibration cache"


@dataclass(frozen=True)
class CacheInfo:
    """What a calibration cache says about itself."""

    tensorrt_version: int
    calibrator: str
    scales: dict[str, float]

    @property
    def tensorrt_release(self) -> str:
        """The version number as a release: 8503 is 8.5.3 (major*1000 + minor*100 + patch up to 9.x),
        100300 is 10.3.0 (major*10000 + minor*100 + patch from 10.0)."""
        number = self.tensorrt_version
        if number >= 100000:
            return f"{number // 10000}.{number // 100 % 100}.{number % 100}"
        return f"{number // 1000}.{number // 100 % 10}.{number % 100}"


def parse_cache(data: bytes, where: str = _WHAT) -> CacheInfo:
    """Check the shape of a cache and decode it; raises BadInput naming the first line that does not fit."""
    fix = "delete it to calibrate again"
    if not data.strip():
        raise BadInput(f"{where} is empty; {fix}")
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise BadInput(f"{where} is not a TensorRT calibration cache (not text); {fix}") from None
    lines = text.replace("\r\n", "\n").split("\n")
    header = _HEADER.match(lines[0].strip())
    if header is None:
        shown = lines[0][:60]
        raise BadInput(
            f"{where} is not a TensorRT calibration cache: its first line {shown!r} is not "
            f"TRT-<version>-<calibrator>; {fix}"
        )
    scales: dict[str, float] = {}
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        entry = _ENTRY.match(line.rstrip())
        if entry is None:
            raise BadInput(f"{where}, line {number}: {line[:60]!r} is not '<tensor>: <hex scale>'; {fix}")
        (scale,) = struct.unpack(">f", bytes.fromhex(entry.group("value").rjust(8, "0")))
        if not (scale >= 0.0 and scale != float("inf")):
            raise BadInput(
                f"{where}, line {number}: scale {scale} of {entry.group('name')!r} is not a scale; {fix}"
            )
        scales[entry.group("name")] = scale
    return CacheInfo(int(header.group("version")), header.group("calibrator"), scales)


def read_cache(path: Path | str) -> bytes | None:
    """The cache's bytes, or None when there is no file yet; BadInput for a path that is not a regular file
    and for a file that is empty or not a calibration cache."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    except OSError as err:
        raise BadInput(f"{_WHAT} {path}: {err.strerror}; check the path and its permissions") from None
    if stat.S_ISDIR(mode):
        raise BadInput(f"{_WHAT} {path} is a directory; give the path of the cache file")
    if not stat.S_ISREG(mode):
        raise BadInput(f"{_WHAT} {path} is not a regular file (a FIFO, socket or device); give another path")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise BadInput(f"{_WHAT} {path} cannot be read: {err.strerror}; check its permissions") from None
    parse_cache(data, f"{_WHAT} {path}")
    return data


def write_cache(path: Path | str, data: bytes) -> None:
    """Write the cache atomically: staged beside ``path``, then renamed over it, so that a reader sees the old
    cache or the new one, never part of one. An existing path that is not a regular file is refused."""
    path = Path(path)
    check_writable_file(path, _WHAT)
    try:
        parse_cache(bytes(data), "the calibration cache to write")
    except BadInput as error:
        # The bytes come from TensorRT, not from the user: a shape we do not know is our bug.
        raise ValueError(str(error)) from None
    with staged_files(path) as staging:
        write_synced(staging / path.name, data)


def cache_summary(data: bytes) -> str:
    """One line for the report: calibrator, TensorRT version and how many tensors have a scale."""
    info = parse_cache(data)
    return (
        f"{info.calibrator} cache of TensorRT {info.tensorrt_release} ({info.tensorrt_version}), "
        f"{len(info.scales)} tensor scales"
    )
