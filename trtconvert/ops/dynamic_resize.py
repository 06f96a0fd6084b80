"""The DynamicTRTResize node as the CPU sees it: its attributes, its output size rule, and its computation.

The node contract itself (inputs, attributes, types) is written down in
:mod:`trtconvert.prepare.rewrite.rules.cubic_resize`, the rule that emits these nodes; this module reads such nodes,
including ones exported before this project with only the ``align_corners`` attribute.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from trtconvert.ops.plugin_contract import DYNAMIC_RESIZE
from trtconvert.ops.resize_reference import CubicResizeAttributes, cubic_resize_reference

PLUGIN_OP = DYNAMIC_RESIZE.name
PLUGIN_DOMAIN = DYNAMIC_RESIZE.onnx_domain
PLUGIN_VERSION = DYNAMIC_RESIZE.version
PLUGIN_NAMESPACE = DYNAMIC_RESIZE.namespace
SHAPE_INPUT_ATTRIBUTE = "tensorrt_plugin_shape_input_indices"


def output_length_from_scale(n_in: int, scale: float) -> int:
    """``floor(n_in * scale)`` in exact arithmetic on the float32 value of ``scale``, as ONNX defines it.

    onnxruntime multiplies in float32 instead and can round up across an integer (10 * 0.7f gives 7 there,
    6 here and in ONNX's shape inference and reference evaluator).
    """
    exact = Fraction(float(np.float32(scale))) * n_in
    return math.floor(exact)


@dataclass(frozen=True)
class DynamicResizeNode:
    """The numeric meaning of one DynamicTRTResize node's attributes."""

    attrs: CubicResizeAttributes
    scales: tuple[float, float] | None = None
    sizes: tuple[int, int] | None = None
    shape_input: bool = False

    @classmethod
    def from_attributes(cls, values: Mapping[str, object]) -> DynamicResizeNode:
        """Read decoded attribute values (str, int, float, lists), filling in the contract's defaults."""

        def text(v: object) -> str:
            return v.decode() if isinstance(v, bytes) else str(v)

        if "coordinate_transformation_mode" in values:
            mode = text(values["coordinate_transformation_mode"])
        elif "align_corners" in values:
            # The node as first exported from PyTorch: bicubic with or without align_corners.
            mode = "align_corners" if int(values["align_corners"]) else "pytorch_half_pixel"
        else:
            mode = DYNAMIC_RESIZE.default("coordinate_transformation_mode")
        given = {
            name: values.get(name, DYNAMIC_RESIZE.default(name))
            for name in ("cubic_coeff_a", "exclude_outside", "antialias")
        }
        attrs = CubicResizeAttributes(
            coordinate_transformation_mode=mode,
            cubic_coeff_a=float(given["cubic_coeff_a"]),
            exclude_outside=int(given["exclude_outside"]),
            antialias=int(given["antialias"]),
        )
        scales = _pair(values.get("scales"), float, "scales")
        sizes = _pair(values.get("sizes"), int, "sizes")
        shape_indices = [int(i) for i in values.get(SHAPE_INPUT_ATTRIBUTE, []) or []]  # type: ignore[union-attr]
        if shape_indices not in ([], [1]):
            raise ValueError(f"{SHAPE_INPUT_ATTRIBUTE} must be [1] when present, got {shape_indices}")
        return cls(attrs=attrs, scales=scales, sizes=sizes, shape_input=shape_indices == [1])

    def output_hw(
        self, in_hw: tuple[int, int], size_input: np.ndarray | None, carrier: bool
    ) -> tuple[int, int]:
        """Output height and width: from input 1 when the node has one, else ``sizes``, else ``scales``.

        ``size_input`` holds input 1's values for a shape input, or its shape for a size carrier.
        """
        if size_input is not None:
            values = np.asarray(size_input).reshape(-1)
            if carrier:
                if values.size < 2:
                    raise ValueError(f"the size carrier must have rank >= 2, got shape {values.tolist()}")
                return int(values[-2]), int(values[-1])
            if values.size != 2:
                raise ValueError(f"the shape input must hold 2 values [height, width], got {values.tolist()}")
            return int(values[0]), int(values[1])
        if self.sizes is not None:
            return self.sizes
        if self.scales is not None:
            return (
                output_length_from_scale(in_hw[0], self.scales[0]),
                output_length_from_scale(in_hw[1], self.scales[1]),
            )
        raise ValueError(
            "DynamicTRTResize needs an output size: a second input, or a sizes or scales attribute"
        )

    def compute(self, x: np.ndarray, size_input: np.ndarray | None, carrier: bool) -> np.ndarray:
        """The node's output in float64 (see :func:`cubic_resize_reference`)."""
        out_hw = self.output_hw((int(x.shape[-2]), int(x.shape[-1])), size_input, carrier)
        if min(out_hw) < 0:
            raise ValueError(f"output size must be non-negative, got {list(out_hw)}")
        return cubic_resize_reference(x, out_hw, self.attrs, self.scales)


def _pair(value: object, kind: type, name: str) -> tuple | None:
    if value is None:
        return None
    items = list(value) if isinstance(value, Sequence | np.ndarray) else [value]
    if len(items) != 2:
        raise ValueError(f"attribute {name} must hold 2 values [height, width], got {items}")
    return tuple(kind(v) for v in items)
