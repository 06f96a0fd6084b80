"""Reference implementation of ONNX cubic Resize over the two innermost axes (the semantics of DynamicTRTResize).

This module is the oracle: the CUDA kernel tests compare against it, and the CPU verification runs plugin nodes
with it. Math is float64 and separable: one dense weight matrix per axis, then two matrix products.

Semantics, per axis, for output index ``y`` (0-based), input length ``n_in``, output length ``n_out`` and
``scale`` (the given scale, or ``n_out / n_in`` when none is given):

Source coordinate ``x`` by ``coordinate_transformation_mode``:

- ``half_pixel``: ``(y + 0.5) / scale - 0.5``
- ``pytorch_half_pixel``: as ``half_pixel``, but ``0`` when ``n_out == 1``
- ``align_corners``: ``y * (n_in - 1) / (L - 1)`` with ``L = scale * n_in`` (a fractional length when the
  scale is given and ``scale * n_in`` is not whole), ``0`` when ``L == 1``
- ``asymmetric``: ``y / scale``
- ``half_pixel_symmetric``: ``n_in / 2 * (1 - n_out / L) + (y + 0.5) / scale - 0.5`` with ``L = scale * n_in``
- ``tf_half_pixel_for_nn``: ``(y + 0.5) / scale`` (opset 11 only; kept for old exports)

Taps and weights: with ``s = min(scale, 1)`` when ``antialias`` is 1 and ``s = 1`` otherwise, the taps are the
input indices ``floor(x) + i`` for ``i`` in ``[floor(-2 / s) + 1, -floor(-2 / s)]`` (4 taps without
antialias), each weighted ``W(s * (index - x))`` with the Keys kernel of coefficient ``A = cubic_coeff_a``::

    W(d) = (A + 2)|d|^3 - (A + 3)|d|^2 + 1           for |d| <= 1
    W(d) = A|d|^3 - 5A|d|^2 + 8A|d| - 4A             for 1 < |d| < 2
    W(d) = 0                                         otherwise

With ``antialias`` the weights are divided by their sum. Then, with ``exclude_outside`` 1, taps outside
``[0, n_in)`` get weight 0 and the rest are divided by their sum; with ``exclude_outside`` 0 the taps are
clamped to the nearest edge index (edge padding). An axis whose length and scale are unchanged (``n_out == n_in``
and scale 1) is copied as it is: every mode but ``tf_half_pixel_for_nn`` maps it to itself anyway, and
onnxruntime and ONNX's reference evaluator skip such axes for that mode too.

Where sources disagree, this module follows the expected outputs of ONNX's backend test cases, and the ONNX
specification text where those have no case:

- ``align_corners`` with a given scale uses the fractional length ``scale * n_in`` (ONNX's test
  ``resize_downsample_scales_cubic_align_corners``); onnxruntime uses the integer output length there.
- ``pytorch_half_pixel`` at ``n_out == 1`` samples coordinate 0, as the specification and onnxruntime do;
  ONNX's reference evaluator samples -0.5 (no backend test covers it), and PyTorch samples the centre,
  ``n_in / 2 - 0.5``. PyTorch's ``F.interpolate(mode="bicubic")`` otherwise equals ``pytorch_half_pixel``
  (``align_corners=False``) or ``align_corners`` (``align_corners=True``) with ``A = -0.75`` and clamped taps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from trtconvert.ops.plugin_contract import DYNAMIC_RESIZE

# The order gives the integer codes of TrtcCoordinateMode (csrc/kernels/cubic_resize.h) and of the plugin.
COORDINATE_MODES: tuple[str, ...] = DYNAMIC_RESIZE.coordinate_modes


def coordinate_mode_code(mode: str) -> int:
    """Integer code of a coordinate transformation mode, as the CUDA kernel's C ABI numbers it."""
    try:
        return COORDINATE_MODES.index(mode)
    except ValueError:
        raise ValueError(
            f"unsupported coordinate_transformation_mode {mode!r}; expected one of {', '.join(COORDINATE_MODES)}"
        ) from None


@dataclass(frozen=True)
class CubicResizeAttributes:
    """The attributes of ONNX Resize(mode="cubic") that change the numbers."""

    coordinate_transformation_mode: str = "half_pixel"
    cubic_coeff_a: float = -0.75
    exclude_outside: int = 0
    antialias: int = 0

    def __post_init__(self) -> None:
        coordinate_mode_code(self.coordinate_transformation_mode)
        if self.exclude_outside not in (0, 1):
            raise ValueError(f"exclude_outside must be 0 or 1, got {self.exclude_outside!r}")
        if self.antialias not in (0, 1):
            raise ValueError(f"antialias must be 0 or 1, got {self.antialias!r}")
        if not math.isfinite(self.cubic_coeff_a):
            raise ValueError(f"cubic_coeff_a must be finite, got {self.cubic_coeff_a!r}")


def keys_kernel(d: np.ndarray, a: float) -> np.ndarray:
    """The Keys cubic convolution kernel W(d) with coefficient ``a``, elementwise, float64."""
    d = np.abs(np.asarray(d, dtype=np.float64))
    d2 = d * d
    d3 = d2 * d
    inner = (a + 2.0) * d3 - (a + 3.0) * d2 + 1.0
    outer = a * d3 - 5.0 * a * d2 + 8.0 * a * d - 4.0 * a
    return np.where(d <= 1.0, inner, np.where(d < 2.0, outer, 0.0))


def source_coordinates(mode: str, n_in: int, n_out: int, scale: float) -> np.ndarray:
    """Source coordinate of every output index along one axis (float64, length ``n_out``)."""
    y = np.arange(n_out, dtype=np.float64)
    length = scale * n_in  # fractional output length when the scale was given
    if mode == "half_pixel":
        return (y + 0.5) / scale - 0.5
    if mode == "pytorch_half_pixel":
        if n_out == 1:
            return np.zeros(1, dtype=np.float64)
        return (y + 0.5) / scale - 0.5
    if mode == "align_corners":
        if length == 1.0:
            return np.zeros(n_out, dtype=np.float64)
        return y * (n_in - 1) / (length - 1.0)
    if mode == "asymmetric":
        return y / scale
    if mode == "half_pixel_symmetric":
        offset = n_in / 2.0 * (1.0 - n_out / length)
        return offset + (y + 0.5) / scale - 0.5
    if mode == "tf_half_pixel_for_nn":
        return (y + 0.5) / scale
    coordinate_mode_code(mode)  # raises with the list of modes
    raise AssertionError(mode)


def axis_weights(
    n_in: int, n_out: int, attrs: CubicResizeAttributes, scale: float | None = None
) -> np.ndarray:
    """Dense ``(n_out, n_in)`` float64 matrix whose row ``y`` holds the weights of output index ``y``."""
    if n_in < 1:
        raise ValueError(f"input length must be at least 1, got {n_in}")
    if n_out < 0:
        raise ValueError(f"output length must be non-negative, got {n_out}")
    if scale is None:
        scale = n_out / n_in
    scale = float(scale)
    if not (scale > 0.0 and math.isfinite(scale)):
        raise ValueError(f"scale must be positive and finite, got {scale}")
    if n_out == n_in and math.isclose(scale, 1.0):
        # An axis that keeps its length and scale is copied, as onnxruntime and ONNX's reference do; only
        # tf_half_pixel_for_nn would otherwise shift it by half a pixel.
        return np.eye(n_in, dtype=np.float64)
    matrix = np.zeros((n_out, n_in), dtype=np.float64)
    if n_out == 0:
        return matrix
    x = source_coordinates(attrs.coordinate_transformation_mode, n_in, n_out, scale)
    support = min(scale, 1.0) if attrs.antialias else 1.0
    first = math.floor(-2.0 / support) + 1
    offsets = np.arange(first, 1 - first + 1, dtype=np.int64)
    taps = np.floor(x).astype(np.int64)[:, None] + offsets[None, :]
    weights = keys_kernel(support * (taps - x[:, None]), attrs.cubic_coeff_a)
    if attrs.antialias:
        weights = weights / weights.sum(axis=1, keepdims=True)
    if attrs.exclude_outside:
        weights = np.where((taps < 0) | (taps >= n_in), 0.0, weights)
        total = weights.sum(axis=1, keepdims=True)
        # A row whose taps all fall outside stays zero rather than dividing by zero.
        weights = weights / np.where(total == 0.0, 1.0, total)
    rows = np.broadcast_to(np.arange(n_out)[:, None], taps.shape)
    np.add.at(matrix, (rows, np.clip(taps, 0, n_in - 1)), weights)
    return matrix


def cubic_resize_reference(
    x: np.ndarray,
    out_hw: tuple[int, int],
    attrs: CubicResizeAttributes,
    scales_hw: tuple[float, float] | None = None,
) -> np.ndarray:
    """Resize the two innermost axes of ``x`` (rank >= 2) to ``out_hw`` with ONNX cubic semantics.

    ``scales_hw`` are the scales the coordinate transform divides by (output over input); None means
    ``out / in`` per axis, as ONNX does when the node was given sizes. Returns float64 whatever the input type.
    """
    x = np.asarray(x)
    if x.ndim < 2:
        raise ValueError(f"input must have rank >= 2, got shape {x.shape}")
    out_h, out_w = (int(v) for v in out_hw)
    in_h, in_w = x.shape[-2:]
    scale_h, scale_w = (None, None) if scales_hw is None else (float(scales_hw[0]), float(scales_hw[1]))
    w_h = axis_weights(in_h, out_h, attrs, scale_h)
    w_w = axis_weights(in_w, out_w, attrs, scale_w)
    data = x.astype(np.float64, copy=False)
    tmp = np.matmul(data, w_w.T)
    return np.matmul(w_h, tmp)
