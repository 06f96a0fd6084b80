"""Values the user gives for model inputs (``--input``, ``--freeze``, calibration data): .npy files read without
unpickling, numbers parsed exactly, and both cast to the input's type only where the cast keeps their meaning.

A cast may widen (int32 to int64, float64 to float32 within range, int to float) but never changes kind downwards
(float to int, int to bool), never wraps an integer, and never lets a value become infinite: a silently wrapped
token id or a truncated scale gives a wrong verification that looks like the converter's fault.
"""

from __future__ import annotations

import re
import tokenize
from pathlib import Path
from typing import BinaryIO

import numpy as np

from trtconvert.errors import BadInput, clipped
from trtconvert.model.load import require_regular_file

NPY_MAGIC = b"\x93NUMPY"
# numpy parses a .npy header as Python literal text: a damaged one fails in the tokenizer or the parser.
UNREADABLE_ARRAY_ERRORS = (OSError, ValueError, EOFError, SyntaxError, tokenize.TokenError)
_CASTABLE_KINDS = "biuf"


def _unopenable(path: Path, what: str, err: OSError) -> BadInput:
    return BadInput(f"{what} {path}: {err.strerror}; check the file and its permissions")


def read_header(path: Path, what: str, size: int = 6) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(size)
    except OSError as err:
        raise _unopenable(path, what, err) from None


def npy_header(stream: BinaryIO) -> tuple[tuple[int, ...], np.dtype] | None:
    """Shape and dtype from the .npy header at the start of ``stream``, leaving it at the data; None if the
    stream does not start with the NUMPY magic. A damaged header raises one of UNREADABLE_ARRAY_ERRORS."""
    start = stream.read(8)
    if not start.startswith(NPY_MAGIC):
        return None
    version = (start[6], start[7]) if len(start) == 8 else None
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(stream)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(stream)
    else:
        # numpy.save writes 3.0 only for structured types with non-latin-1 field names, which are never castable.
        raise ValueError(f"unsupported .npy format version {version}")
    return shape, dtype


def read_npy_header(path: Path, what: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of a .npy file from its header alone, refused with the errors of ``read_npy``."""
    require_regular_file(path, what)
    try:
        with open(path, "rb") as stream:
            header = npy_header(stream)
    except OSError as err:
        raise _unopenable(path, what, err) from None
    except UNREADABLE_ARRAY_ERRORS as err:
        raise BadInput(f"{what} {path} cannot be read as .npy ({load_error(err)}); {load_fix(err)}") from None
    if header is None:
        # numpy would try to unpickle such a file and report pickled data: name the real problem instead.
        raise BadInput(f"{what} {path} is not a .npy file (no NUMPY header); write it with numpy.save")
    return header


def read_npy(path: Path, what: str) -> np.ndarray:
    """One array from a .npy file; ``what`` names the file's role in errors ("calibration data", "--input x")."""
    read_npy_header(path, what)
    try:
        array = np.load(path, allow_pickle=False)
    except UNREADABLE_ARRAY_ERRORS as err:
        raise BadInput(f"{what} {path} cannot be read as .npy ({load_error(err)}); {load_fix(err)}") from None
    except MemoryError:
        raise BadInput(
            f"{what} {path} declares an array larger than this machine's memory; fix the file"
        ) from None
    if not isinstance(array, np.ndarray):
        raise BadInput(f"{what} {path} is not a .npy array; write one array with numpy.save")
    return array


def load_error(err: BaseException) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def load_fix(err: BaseException) -> str:
    if "pickle" in str(err).lower():
        return "object arrays are not read (they would run code); save plain numeric arrays with numpy.save/savez"
    return "check that the file is complete, or write it again with numpy.save/savez"


def cast_to_input(array: np.ndarray, where: str, input_name: str, target: np.dtype) -> np.ndarray:
    """``array`` as ``target`` (a bool, integer or float type), or BadInput saying what the cast would lose."""
    source = array.dtype
    # Any integer type may feed any other: the values themselves are checked against the target's range below.
    integers = source.kind in "iu" and target.kind in "iu"
    if source.kind not in _CASTABLE_KINDS or not (
        integers or np.can_cast(source, target, casting="same_kind")
    ):
        raise BadInput(
            f"{where}: {source} data cannot be cast safely to the input's type {target}; "
            f"save the data for '{input_name}' as {target}"
        )
    if source.kind == "f":
        bad = int(np.count_nonzero(~np.isfinite(array)))
        if bad:
            raise BadInput(f"{where}: {bad} value(s) are NaN or infinite; give finite values")
    if target.kind in "iu" and source.kind in "iu" and array.size and not np.can_cast(source, target, "safe"):
        info = np.iinfo(target)
        low, high = int(array.min()), int(array.max())
        if low < info.min or high > info.max:
            raise BadInput(
                f"{where}: values {low}..{high} do not fit the input's type {target} ({info.min}..{info.max}); "
                "fix the data"
            )
    with np.errstate(over="ignore", invalid="ignore"):
        cast = array.astype(target, copy=False)
    if target.kind == "f" and source != target and cast.size and not np.all(np.isfinite(cast)):
        raise BadInput(
            f"{where}: values exceed the range of the input's type {target} (max {np.finfo(target).max:g}); "
            "fix the data"
        )
    return cast


_WHOLE_NUMBER = re.compile(r"[+-]?[0-9_]+")
_MAX_DIGITS = 400


def parse_number(text: str, where: str, input_name: str, target: np.dtype) -> np.ndarray:
    """A 0-d array of ``target`` from a number written as text: integers stay exact (Python ints do not
    overflow), so a value that does not fit the input's type is named instead of wrapped."""
    stripped = text.strip()
    if _WHOLE_NUMBER.fullmatch(stripped) and len(stripped) > _MAX_DIGITS:
        # Python refuses to read ints this long; no input type holds such a number anyway.
        raise BadInput(
            f"{where}: a {len(stripped.lstrip('+-'))}-digit number does not fit the input's type {target}; "
            "give a value in its range"
        )
    try:
        value: int | float = int(stripped)
    except ValueError:
        try:
            value = float(stripped)
        except ValueError:
            raise BadInput(f"{where}: give a number or a path ending in .npy") from None
    if isinstance(value, int):
        if target.kind == "b" and value not in (0, 1):
            raise BadInput(f"{where}: input '{input_name}' is bool; give 0 or 1")
        if target.kind in "iu":
            info = np.iinfo(target)
            if not info.min <= value <= info.max:
                raise BadInput(
                    f"{where}: {value} does not fit the input's type {target} ({info.min}..{info.max}); "
                    "give a value in that range"
                )
            return np.array(value, dtype=target)
        if target.kind == "b":
            return np.array(bool(value))
        # An int larger than float64 can hold fails float(): the same overflow check as for a float then applies.
        try:
            value = float(value)
        except OverflowError:
            value = float("inf")
    if target.kind not in "f":
        kind = "bool" if target.kind == "b" else f"integer ({target})"
        raise BadInput(f"{where}: input '{input_name}' is {kind}; give a whole number, not {clipped(text)}")
    return cast_to_input(np.array(value, dtype=np.float64), where, input_name, target)
