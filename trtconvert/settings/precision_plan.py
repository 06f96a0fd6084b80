"""What --precision means for one TensorRT: builder flags (8.5 to 10), or an ONNX conversion before parsing
(11 and newer, which build strongly typed networks only). Decided once, in the Request; the precision stage
carries it out.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Protocol

from trtconvert.errors import BadInput
from trtconvert.settings.spec import PRECISIONS


class Target(Protocol):
    major: int
    minor: int


@dataclass(frozen=True)
class PrecisionPlan:
    """What --precision means for one TensorRT: builder flags, or an ONNX conversion before parsing."""

    precision: str
    builder_flags: tuple[str, ...]
    convert_onnx_to: str | None
    strongly_typed: bool
    tensorrt: str = ""  # the target's MAJOR.MINOR, for the report line

    @property
    def mode(self) -> str:
        if self.precision == "fp32":
            return "fp32"
        return "onnx_conversion" if self.convert_onnx_to else "builder_flags"

    @property
    def int8(self) -> bool:
        return self.precision.startswith("int8")


def precision_plan(precision: str, target: Target, strongly_typed: bool = False) -> PrecisionPlan:
    """The version switch: TensorRT 11 and newer are strongly typed only; older majors take builder flags, or,
    asked for a strongly typed network (--strongly-typed, 9.0 and newer), convert the ONNX as 11 does."""
    if precision not in PRECISIONS:
        raise BadInput(f"--precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    version = f"{target.major}.{target.minor}"
    if target.major >= 11 or strongly_typed:
        if precision == "int8,fp16":
            who = "TensorRT 11" if target.major >= 11 else "A strongly typed network"
            raise BadInput(
                f"--precision int8,fp16 for TensorRT {version}: {who} takes INT8 only from Q/DQ nodes and "
                "trtconvert writes those for int8 alone; use --precision int8 (the layers without Q/DQ stay fp32)"
            )
        convert = None if precision == "fp32" else precision
        return PrecisionPlan(precision, (), convert, strongly_typed=True, tensorrt=version)
    flags = tuple(precision.split(",")) if precision != "fp32" else ()
    return PrecisionPlan(precision, flags, None, strongly_typed=False, tensorrt=version)


def available_converters() -> dict[str, bool]:
    """Which ONNX mixed-precision converters this machine has (for doctor and for error messages);
    found without importing them, so that doctor stays instant."""
    return {
        "onnxconverter-common": importlib.util.find_spec("onnxconverter_common") is not None,
        "modelopt": _has_modelopt(),
    }


def _has_modelopt() -> bool:
    try:
        return importlib.util.find_spec("modelopt.onnx.autocast") is not None
    except (ImportError, ValueError):
        return False
