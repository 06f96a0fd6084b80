"""How close is close enough: default tolerances by precision, and the per-output overrides users give.

Defaults: fp32 1e-4 absolute / 1e-3 relative; fp16 2e-2 / 2e-2; bf16 1e-1 / 5e-2; int8 5e-2 / 5e-2. TF32 keeps fp16's 10-bit
mantissa, so an fp32 engine built with TF32 (TensorRT's default, as trtexec's) is held to fp16's tolerance;
--no-tf32 engines are held to fp32's. The CPU check of a prepared model runs in onnxruntime, where there is no
TF32, so it uses the precision's own default.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from trtconvert.errors import BadInput, clipped, shown

# INT8's scale steps are 1/127 of each tensor's range, so a few elements near a threshold move much further:
# INT8 checks also report the share of elements within tolerance (int8.qdq.INT8_MIN_WITHIN).
INT8_TOLERANCES = (5e-2, 5e-2)
DEFAULT_TOLERANCES = {
    "fp32": (1e-4, 1e-3),
    "fp16": (2e-2, 2e-2),
    "bf16": (1e-1, 5e-2),
    "int8": INT8_TOLERANCES,
    "int8,fp16": INT8_TOLERANCES,
}
TF32_TOLERANCES = DEFAULT_TOLERANCES["fp16"]


@dataclass(frozen=True)
class Tolerances:
    """Default atol/rtol and per-output overrides."""

    atol: float
    rtol: float
    atol_by_output: Mapping[str, float] = field(default_factory=dict)
    rtol_by_output: Mapping[str, float] = field(default_factory=dict)
    min_within: float = 1.0  # share of each output's elements that must be within; below 1 for int8 only

    def for_output(self, name: str) -> tuple[float, float]:
        return self.atol_by_output.get(name, self.atol), self.rtol_by_output.get(name, self.rtol)

    def to_json(self) -> dict[str, Any]:
        overridden = sorted({*self.atol_by_output, *self.rtol_by_output})
        return {
            "atol": self.atol,
            "rtol": self.rtol,
            "min_within": self.min_within,
            "per_output": {
                name: dict(zip(("atol", "rtol"), self.for_output(name), strict=True)) for name in overridden
            },
        }


def tolerance_key(precision: str, tf32: bool) -> str:
    """Which default an engine is held to: its precision, or 'tf32' for an fp32 engine built with TF32."""
    return "tf32" if precision == "fp32" and tf32 else precision


def sidecar_tolerance_key(sidecar: Mapping[str, Any] | None) -> str:
    """tolerance_key of a plan from its sidecar; a plan without one is assumed built with TensorRT's TF32 default."""
    if sidecar is None:
        return "tf32"
    precision = str(sidecar.get("precision", {}).get("precision", "fp32"))
    return tolerance_key(precision, bool(sidecar.get("config", {}).get("tf32", True)))


INT8_MIN_WITHIN = 0.99


def default_tolerances(key: str, int8_min_within: float = INT8_MIN_WITHIN) -> Tolerances:
    atol, rtol = TF32_TOLERANCES if key == "tf32" else DEFAULT_TOLERANCES.get(key, DEFAULT_TOLERANCES["fp32"])
    return Tolerances(atol, rtol, min_within=int8_min_within if key.startswith("int8") else 1.0)


def with_defaults(
    key: str, atol: float | None, rtol: float | None, int8_min_within: float = INT8_MIN_WITHIN
) -> Tolerances:
    """The defaults of ``key`` with the one atol/rtol a config or build flag may give."""
    defaults = default_tolerances(key, int8_min_within)
    return Tolerances(
        defaults.atol if atol is None else atol,
        defaults.rtol if rtol is None else rtol,
        min_within=defaults.min_within,
    )


def parse_tolerances(
    atol_items: Sequence[str],
    rtol_items: Sequence[str],
    key: str,
    output_names: Sequence[str],
    int8_min_within: float = INT8_MIN_WITHIN,
) -> Tolerances:
    """``--atol 1e-3`` sets the default, ``--atol NAME=1e-2`` one output's; the name splits at the last '='."""
    defaults = default_tolerances(key, int8_min_within)
    chosen = {"--atol": defaults.atol, "--rtol": defaults.rtol}
    per: dict[str, dict[str, float]] = {"--atol": {}, "--rtol": {}}
    for flag, items in (("--atol", atol_items), ("--rtol", rtol_items)):
        given: set[str | None] = set()
        for item in items:
            name, sep, value = str(item).rpartition("=")
            target = name if sep else None
            if target in given:
                what = f"for output '{clipped(name)}'" if sep else "for every output"
                raise BadInput(
                    f"{flag} {what} is given twice; give it once (the later one would silently win)"
                )
            given.add(target)
            try:
                number = float(value)
            except ValueError:
                raise BadInput(
                    f"{flag} {shown(item)}: write a number, or OUTPUT=NUMBER for one output"
                ) from None
            if not (math.isfinite(number) and number >= 0):
                raise BadInput(f"{flag} {shown(item)}: a tolerance must be a finite number of at least 0")
            if not sep:
                chosen[flag] = number
            elif name not in output_names:
                raise BadInput(
                    f"{flag} {shown(item)}: the model has no output '{name}' (outputs: {', '.join(output_names)})"
                )
            else:
                per[flag][name] = number
    return Tolerances(chosen["--atol"], chosen["--rtol"], per["--atol"], per["--rtol"], defaults.min_within)
