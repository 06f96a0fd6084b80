"""Whole numbers written by the user (profile dims, versions, external-data offsets, config values), parsed
with a bound on their length first: a number of thousands of digits names no shape, version or offset, and
Python refuses to convert one past 4300 digits. Sizes (`4G`, `512M`) are parsed here too, one reader for
flags, configs and fleet manifests."""

from __future__ import annotations

import re

from trtconvert.errors import BadInput, clipped, shown

# 2^63 has 19 digits: no count, offset or size that any run can use is longer.
MAX_DIGITS = 19
_WHOLE = re.compile(r"[-+]?[0-9]+")

# Sizes (--workspace, --fold-max-size): binary units, as trtexec's pool sizes; 1P is past any GPU's memory.
MAX_POOL_BYTES = 1 << 50
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def whole_number(text: str, where: str, max_digits: int = MAX_DIGITS) -> int:
    """A decimal integer, refused by name when it is not one or has more than ``max_digits`` digits."""
    stripped = str(text).strip()
    if not _WHOLE.fullmatch(stripped):
        raise BadInput(f"{where}: {clipped(repr(stripped))} is not a whole number")
    if len(stripped.lstrip("+-").lstrip("0")) > max_digits:
        raise BadInput(
            f"{where}: {clipped(stripped)} has {len(stripped.lstrip('+-'))} digits, more than any value this takes "
            f"(at most {max_digits}); give a smaller number"
        )
    return int(stripped)


def parse_size(text: str, where: str = "--workspace") -> int:
    """``4G``, ``512M``, ``1.5GiB``, ``65536B`` as bytes (binary units, as trtexec's pool sizes). A bare number
    is MiB, as trtexec reads ``--memPoolSize=workspace:4096``: read as bytes it would starve every tactic."""
    match = _SIZE_RE.match(str(text))
    if not match:
        raise BadInput(f"{where} {shown(text)} is not a size; write e.g. 4G, 512M (a bare number is MiB)")
    unit = match.group(2).lower()
    bare = not unit and not match.group(3)
    value = float(match.group(1)) * (_UNITS["m"] if bare else _UNITS[unit])
    if value > MAX_POOL_BYTES:  # checked first: a number too large for a float is infinite here
        raise BadInput(f"{where} {shown(text)} is larger than any GPU's memory (at most 1P); e.g. 4G")
    if value < 1 or value != int(value):
        raise BadInput(f"{where} {shown(text)} must be a whole number of bytes of at least 1; e.g. 4G")
    return int(value)
