"""ctypes mirror of the kernel library's C ABI (csrc/kernels/cubic_resize.h), for its tests and benchmark.

The values and the struct layout must match the header; one mirror keeps every caller in step with it.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

# TrtcDataType (coordinate modes are numbered by trtconvert.ops.resize_reference.coordinate_mode_code)
DTYPE_CODES = {"float32": 0, "float16": 1, "bfloat16": 2}


class CubicResizeParams(ctypes.Structure):
    """TrtcCubicResizeParams."""

    _fields_ = [
        ("coordinate_mode", ctypes.c_int32),
        ("cubic_coeff_a", ctypes.c_float),
        ("exclude_outside", ctypes.c_int32),
        ("antialias", ctypes.c_int32),
        ("scale_h", ctypes.c_float),
        ("scale_w", ctypes.c_float),
    ]


def load_kernel_library(path: str | Path) -> ctypes.CDLL:
    """Load libtrtconvert_kernels.so and declare trtc_cubic_resize's signature."""
    library = ctypes.CDLL(str(path))
    function = library.trtc_cubic_resize
    function.restype = ctypes.c_int
    function.argtypes = [
        ctypes.c_void_p,  # input
        ctypes.c_void_p,  # output
        ctypes.c_int32,  # dtype
        ctypes.c_int64,  # planes
        ctypes.c_int64,  # in_h
        ctypes.c_int64,  # in_w
        ctypes.c_int64,  # out_h
        ctypes.c_int64,  # out_w
        ctypes.POINTER(CubicResizeParams),
        ctypes.c_void_p,  # stream
    ]
    return library
