"""Whole numbers written by the user (profile dims, versions, external-data offsets, config values), parsed
with a bound on their length first: a number of thousands of digits names no shape, version or offset, and
Python refuses to convert one past 4300 digits."""

from __future__ import annotations

import re

from trtconvert.errors import BadInput, clipped

# 2^63 has 19 digits: no count, offset or size that any run can use is longer.
MAX_DIGITS = 19
_WHOLE = re.compile(r"[-+]?[0-9]+")


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
