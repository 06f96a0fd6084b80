"""ctypes binding of the CUDA kernel library's C ABI (csrc/kernels/cubic_resize.h), for the GPU tests.

The library is the one trtconvert.native.build.library_path names (``TRTCONVERT_KERNELS_LIB``, else where
`trtconvert plugins build --kernels-only` puts it); failing both, that build runs for the GPU at hand.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

from trtconvert.native import build as native_build
from trtconvert.native.kernel_abi import load_kernel_library

REPO = Path(__file__).resolve().parents[2]
LIB_NAME = "libtrtconvert_kernels.so"

# Relative errors of the checks run so far, by dtype name: the session summary prints the worst of each.
ERRORS: dict[str, list[float]] = {}


def find_library(architectures: str) -> Path:
    """The kernel library to test: TRTCONVERT_KERNELS_LIB, or what `trtconvert plugins build --kernels-only` left
    in its default location; failing both, that command's build for the GPU at hand."""
    path = native_build.library_path(kernels_only=True)
    if path.is_file():
        return path
    return native_build.build_native(kernels_only=True, cuda_architectures=architectures).library


def load(path: Path) -> ctypes.CDLL:
    """Load the library and declare trtc_cubic_resize's signature."""
    return load_kernel_library(path)
