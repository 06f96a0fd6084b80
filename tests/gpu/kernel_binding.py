"""ctypes binding of the CUDA kernel library's C ABI (csrc/kernels/cubic_resize.h), for the GPU tests.

The library is found through ``TRTCONVERT_KERNELS_LIB`` (a path to ``libtrtconvert_kernels.so``), then in
``build/kernels/`` of the repository; failing both, it is built with CMake for the GPU at hand.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
from pathlib import Path

from trtconvert.kernel_abi import load_kernel_library

REPO = Path(__file__).resolve().parents[2]
LIB_NAME = "libtrtconvert_kernels.so"

# Relative errors of the checks run so far, by dtype name: the session summary prints the worst of each.
ERRORS: dict[str, list[float]] = {}


def build_library(build_dir: Path, architectures: str) -> Path:
    """Configure and build the kernel library with CMake; returns the path of the shared library."""
    cmake = shutil.which("cmake")
    if cmake is None:
        raise FileNotFoundError("cmake is not on PATH")
    subprocess.run(
        [
            cmake,
            "-S",
            str(REPO / "csrc"),
            "-B",
            str(build_dir),
            "-DTRTCONVERT_KERNELS_ONLY=ON",
            f"-DCMAKE_CUDA_ARCHITECTURES={architectures}",
            "-DCMAKE_BUILD_TYPE=Release",
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [cmake, "--build", str(build_dir), "-j", str(os.cpu_count() or 2)], check=True, capture_output=True
    )
    return build_dir / "kernels" / LIB_NAME


def find_library(build_dir: Path, architectures: str) -> Path:
    """The kernel library to test: from the environment, the repository's build folder, or a fresh build."""
    env = os.environ.get("TRTCONVERT_KERNELS_LIB")
    if env:
        return Path(env)
    built = REPO / "build" / "kernels" / LIB_NAME
    if built.is_file():
        return built
    return build_library(build_dir, architectures)


def load(path: Path) -> ctypes.CDLL:
    """Load the library and declare trtc_cubic_resize's signature."""
    return load_kernel_library(path)
