"""Calibration data for INT8: samples of every model input, read from numpy files and checked against the model.

Three layouts are read, each array holding samples along its first axis (so an array has one more axis than
the input it feeds: 32 samples of a ``1x3x64x64`` input are a ``32x1x3x64x64`` array):

- one ``.npz`` file with one array per input name;
- a folder of such ``.npz`` files, whose samples are concatenated in sorted file-name order;
- a folder holding ``NAME.npy`` for each input (names that cannot be file names need the ``.npz`` form).

Everything is checked before any calibration runs, so that a long build does not fail late: input names (missing
and unknown ones), element types (the data must cast to the input's type without losing its kind: float64 data
for a float32 input is fine, float data for an int64 input is not), ranks, static dims, dynamic dims against an
optimization profile, sample counts, finite values. Files are read with ``allow_pickle=False``.
"""

from __future__ import annotations

import stat
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from trtconvert import log
from trtconvert.checks.input_values import (
    NPY_MAGIC,
    UNREADABLE_ARRAY_ERRORS,
    cast_to_input,
    load_error,
    load_fix,
    npy_header,
    read_header,
    read_npy,
    read_npy_header,
)
from trtconvert.errors import BadInput, shown
from trtconvert.model.info import GraphTensor
from trtconvert.model.load import require_regular_file
from trtconvert.model.profiles import Profile, Shape, ShapeRange, format_shape

_LAYOUTS = (
    "a .npz with one array per input name, a folder of such .npz files, or a folder with NAME.npy per input"
)


@dataclass(frozen=True)
class CalibrationData:
    """Samples for every model input: ``arrays[name]`` has the samples on its first axis and the rest of its
    shape is the input's shape; arrays already have the input's numpy dtype."""

    arrays: Mapping[str, np.ndarray]
    samples: int
    source: str
    inputs: tuple[GraphTensor, ...] = field(default=())
    timing_only: bool = False

    def batches(self, batch_size: int = 1) -> Iterator[dict[str, np.ndarray]]:
        """Feed dicts for onnxruntime or a TensorRT calibrator, in sample order.

        With ``batch_size`` 1 each feed is one sample, shaped like the input. Larger batches join consecutive
        samples along the input's first axis, which must then be dynamic; the last batch holds what is left.
        """
        if batch_size < 1:
            raise BadInput(f"calibration batch size {batch_size}: give 1 or more")
        if batch_size > 1:
            for name, array in self.arrays.items():
                if array.ndim < 2:
                    raise BadInput(
                        f"calibration batch size {batch_size}: input '{name}' is a scalar; use batch size 1"
                    )
            for model_input in self.inputs:
                if not model_input.dims or isinstance(model_input.dims[0], int):
                    raise BadInput(
                        f"calibration batch size {batch_size}: input '{model_input.name}' has a static first "
                        f"axis {model_input.dims_text()}, so samples cannot be joined along it; use batch size 1"
                    )
        for start in range(0, self.samples, batch_size):
            stop = min(start + batch_size, self.samples)
            if batch_size == 1:
                yield {name: array[start] for name, array in self.arrays.items()}
            else:
                # Samples are consecutive along axis 0, so joining them along the input's first axis is a
                # reshape of the slice.
                yield {
                    name: array[start:stop].reshape((-1, *array.shape[2:]))
                    for name, array in self.arrays.items()
                }

    def describe(self) -> str:
        """One line for the report: sample count, source and each input's dtype and sample shape."""
        shapes = ", ".join(
            f"{name} {array.dtype} {format_shape(array.shape[1:]) or 'scalar'}"
            for name, array in self.arrays.items()
        )
        note = " (random: for timing only, not for accuracy)" if self.timing_only else ""
        return f"{self.samples} samples from {self.source}: {shapes}{note}"


def load_calibration_data(
    path: Path | str, inputs: Sequence[GraphTensor], profile: Profile | None = None
) -> CalibrationData:
    """Read and check calibration data for ``inputs`` (see the module docstring for the layouts).

    With ``profile``, the samples' dynamic dims must lie within its min..max for each input it names.
    Raises BadInput naming the file, the input and the fix for anything that does not fit.
    """
    start = time.perf_counter()
    path = Path(path)
    raw, source = _read(path)
    data = _checked(raw, source, inputs, profile)
    log.stage("calib", time.perf_counter() - start, data.describe())
    return data


def random_calibration_data(
    inputs: Sequence[GraphTensor], shapes: Mapping[str, Shape], samples: int, seed: int
) -> CalibrationData:
    """Seeded random samples of the given shapes (floats uniform in [-1, 1], small integers, random booleans).

    For timing only: INT8 scales calibrated on noise have nothing to do with the model's real activations, so
    an engine calibrated on them may compute garbage. Use it to measure INT8 speed, never to judge accuracy.
    """
    from trtconvert.checks.compare import random_feed

    if samples < 1:
        raise BadInput(f"random calibration data: {samples} samples; give 1 or more")
    missing = [i.name for i in inputs if i.name not in shapes]
    if missing:
        raise BadInput(
            f"random calibration data: no shape for input(s) {', '.join(missing)}; give every input a shape"
        )
    feeds = [random_feed(inputs, shapes, {}, seed + index) for index in range(samples)]
    arrays = {i.name: np.stack([feed[i.name] for feed in feeds]) for i in inputs}
    return CalibrationData(arrays, samples, f"random values (seed {seed})", tuple(inputs), timing_only=True)


# --- reading ---------------------------------------------------------------------------------------------------


_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
# A damaged deflate stream fails in zlib; a truncated one with EOFError.
_UNREADABLE_NPZ_ERRORS = (*UNREADABLE_ARRAY_ERRORS, zipfile.BadZipFile, KeyError, zlib.error)


@dataclass(frozen=True)
class _Stored:
    """An array in a calibration file, known by its .npy header until ``load()`` reads the data: a shape or type
    that does not fit the model is refused before a huge or compressed array is read."""

    file: str
    shape: tuple[int, ...]
    dtype: np.dtype
    load: Callable[[], np.ndarray]


def _npz_error(path: Path, err: BaseException) -> BadInput:
    return BadInput(f"calibration data {path} cannot be read as .npz ({load_error(err)}); {load_fix(err)}")


def _load_npz(path: Path) -> dict[str, _Stored]:
    require_regular_file(path, "calibration data")
    magic = read_header(path, "calibration data")
    if magic.startswith(NPY_MAGIC):
        raise BadInput(f"calibration data {path} is a single .npy array, not a .npz; give {_LAYOUTS}")
    if not magic.startswith(_ZIP_MAGICS):
        # numpy would try to unpickle such a file and report pickled data: name the real problem instead.
        raise BadInput(
            f"calibration data {path} is not a .npz file (no zip header); write it with numpy.savez"
        )
    members: dict[str, _Stored] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                name = info.filename.removesuffix(".npy")  # as numpy.load names the members
                with archive.open(info) as stream:
                    header = npy_header(stream)
                if header is None:
                    raise BadInput(
                        f"calibration data {path}: member {shown(name)} is not a .npy array; write the file "
                        "with numpy.savez"
                    )
                members[name] = _Stored(path.name, *header, partial(_load_member, path, info.filename))
    except _UNREADABLE_NPZ_ERRORS as err:
        raise _npz_error(path, err) from None
    return members


def _load_member(path: Path, member: str) -> np.ndarray:
    try:
        with zipfile.ZipFile(path) as archive, archive.open(member) as stream:
            return np.lib.format.read_array(stream, allow_pickle=False)
    except _UNREADABLE_NPZ_ERRORS as err:
        raise _npz_error(path, err) from None
    except MemoryError:
        raise BadInput(
            f"calibration data {path}: member {shown(member)} declares an array larger than this machine's "
            "memory; fix the file"
        ) from None


def _npy_file(path: Path) -> _Stored:
    return _Stored(
        path.name, *read_npy_header(path, "calibration data"), partial(read_npy, path, "calibration data")
    )


def _read(path: Path) -> tuple[dict[str, list[_Stored]], str]:
    """{input name: [array, ...]} in sample order, and a description of the source."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise BadInput(f"calibration data not found: {path}; give {_LAYOUTS}") from None
    except OSError as err:
        raise BadInput(
            f"calibration data {path}: {err.strerror}; check the path and its permissions"
        ) from None
    if not stat.S_ISDIR(mode):
        if path.suffix.lower() != ".npz":
            raise BadInput(f"calibration data {path}: give {_LAYOUTS}")
        return {name: [stored] for name, stored in _load_npz(path).items()}, str(path)
    entries = sorted(p for p in path.iterdir() if not p.name.startswith("."))
    npz = [p for p in entries if p.suffix.lower() == ".npz"]
    npy = [p for p in entries if p.suffix.lower() == ".npy"]
    if npz and npy:
        raise BadInput(
            f"calibration data folder {path} holds both .npz and .npy files; keep one layout: {_LAYOUTS}"
        )
    if npz:
        grouped: dict[str, list[_Stored]] = {}
        for file in npz:
            for name, stored in _load_npz(file).items():
                grouped.setdefault(name, []).append(stored)
        names = set(grouped)
        for file in npz:
            # Every file must hold every input: samples are whole feeds, not one input's values.
            held = {name for name, parts in grouped.items() if any(p.file == file.name for p in parts)}
            if held != names:
                lacking = ", ".join(sorted(names - held))
                raise BadInput(
                    f"calibration data {path / file.name} lacks array(s) {lacking} that other files hold; "
                    "every .npz must hold one array per input"
                )
        return grouped, f"{path} ({len(npz)} .npz files)"
    if npy:
        return {file.stem: [_npy_file(file)] for file in npy}, f"{path} ({len(npy)} .npy files)"
    raise BadInput(f"calibration data folder {path} holds no .npz or .npy files; give {_LAYOUTS}")


# --- checking --------------------------------------------------------------------------------------------------


def _target_dtype(model_input: GraphTensor) -> np.dtype:
    try:
        target = np.dtype(model_input.dtype)
    except TypeError:
        target = None
    # Extension types (bfloat16, float8 from ml_dtypes) have kind 'V': onnxruntime cannot calibrate with them.
    if target is None or target.kind not in "biuf":
        raise BadInput(
            f"calibration data for input '{model_input.name}' of type {model_input.dtype} is not supported; "
            "calibrate a model whose inputs are float, integer or bool"
        )
    return target


def _check_shape(
    shape: tuple[int, ...], where: str, model_input: GraphTensor, shape_range: ShapeRange | None
) -> None:
    if not model_input.shape_known:
        return
    rank = len(model_input.dims)
    if len(shape) != rank + 1:
        raise BadInput(
            f"{where}: array of shape {list(shape)} has rank {len(shape)}, but input "
            f"'{model_input.name}' {model_input.dims_text()} needs rank {rank + 1} (samples first, then the "
            "input's axes)"
        )
    sample = shape[1:]
    for axis, (size, dim) in enumerate(zip(sample, model_input.dims, strict=True)):
        if isinstance(dim, int) and size != dim:
            raise BadInput(
                f"{where}: sample shape {list(sample)} has {size} on axis {axis}, but input "
                f"'{model_input.name}' {model_input.dims_text()} fixes it at {dim}"
            )
        if not isinstance(dim, int) and shape_range is not None and len(shape_range.min) == rank:
            low, high = shape_range.min[axis], shape_range.max[axis]
            if not low <= size <= high:
                raise BadInput(
                    f"{where}: sample shape {list(sample)} has {size} on axis {axis}, outside the profile's "
                    f"{low}..{high} for '{model_input.name}' ({shape_range}); give samples the profile covers"
                )


def _checked(
    raw: Mapping[str, list[_Stored]],
    source: str,
    inputs: Sequence[GraphTensor],
    profile: Profile | None,
) -> CalibrationData:
    expected = [i.name for i in inputs]
    missing = [name for name in expected if name not in raw]
    unknown = sorted(name for name in raw if name not in expected)
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"no data for input(s) {', '.join(missing)}")
        if unknown:
            parts.append(f"array(s) {', '.join(unknown)} name no model input")
        raise BadInput(
            f"calibration data {source}: {'; '.join(parts)}; give one array per model input, named as the input "
            f"(inputs: {', '.join(expected)})"
        )
    arrays: dict[str, np.ndarray] = {}
    for model_input in inputs:
        target = _target_dtype(model_input)
        shape_range = profile.get(model_input.name) if profile else None
        parts = []
        for stored in raw[model_input.name]:
            where = f"calibration data {stored.file}, input '{model_input.name}'"
            if stored.dtype.hasobject:
                stored.load()  # refuses object arrays, naming pickling, before reading any data
            _check_shape(stored.shape, where, model_input, shape_range)
            # The type check on an empty array of the stored type, before the data is read.
            cast_to_input(np.empty(0, stored.dtype), where, model_input.name, target)
            parts.append(cast_to_input(stored.load(), where, model_input.name, target))
        if len(parts) > 1:
            shapes = {p.shape[1:] for p in parts}
            if len(shapes) > 1:
                listed = ", ".join(
                    f"{s.file}: {list(p.shape[1:])}"
                    for s, p in zip(raw[model_input.name], parts, strict=True)
                )
                raise BadInput(
                    f"calibration data {source}: samples of input '{model_input.name}' differ in shape between "
                    f"files ({listed}); give samples of one shape"
                )
            arrays[model_input.name] = np.concatenate(parts, axis=0)
        else:
            arrays[model_input.name] = parts[0]
    counts = {name: int(array.shape[0]) if array.ndim else 0 for name, array in arrays.items()}
    if len(set(counts.values())) > 1:
        listed = ", ".join(f"{name} {count}" for name, count in counts.items())
        raise BadInput(
            f"calibration data {source}: inputs have different sample counts ({listed}); give every input the "
            "same number of samples"
        )
    samples = next(iter(counts.values())) if counts else 0
    if samples == 0:
        raise BadInput(
            f"calibration data {source} holds no samples; give at least one (a few hundred is usual)"
        )
    return CalibrationData(arrays, samples, source, tuple(inputs))
