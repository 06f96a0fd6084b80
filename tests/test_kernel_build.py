"""The CUDA kernel library compiles with nvcc through CMake (no GPU, no TensorRT needed).

Skipped where nvcc or cmake is missing. Builds for one architecture (sm_80) to stay cheap, with warnings as
errors, then loads the shared library and checks the argument validation of the C ABI, which runs before
any CUDA call and so needs no GPU.
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CUDA_ERROR_INVALID_VALUE = 1


class _Params(ctypes.Structure):
    _fields_ = [
        ("coordinate_mode", ctypes.c_int32),
        ("cubic_coeff_a", ctypes.c_float),
        ("exclude_outside", ctypes.c_int32),
        ("antialias", ctypes.c_int32),
        ("scale_h", ctypes.c_float),
        ("scale_w", ctypes.c_float),
    ]


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory) -> Path:
    if shutil.which("nvcc") is None:
        pytest.skip("nvcc is not on PATH")
    if shutil.which("cmake") is None:
        pytest.skip("cmake is not on PATH")
    build = tmp_path_factory.mktemp("kernels")
    configure = [
        "cmake",
        "-S",
        str(REPO / "csrc"),
        "-B",
        str(build),
        "-DTRTCONVERT_KERNELS_ONLY=ON",
        "-DTRTCONVERT_WERROR=ON",
        "-DCMAKE_CUDA_ARCHITECTURES=80",
        "-DCMAKE_BUILD_TYPE=Release",
    ]
    for cmd in (configure, ["cmake", "--build", str(build), "-j", "2"]):
        result = subprocess.run(cmd, capture_output=True, text=True)
        assert result.returncode == 0, (
            f"{' '.join(cmd)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
    return build


def test_builds_static_and_shared_libraries(build_dir: Path):
    assert (build_dir / "kernels" / "libtrtconvert_kernels.a").is_file()
    assert (build_dir / "kernels" / "libtrtconvert_kernels.so").is_file()


def test_shared_library_validates_arguments_without_a_gpu(build_dir: Path):
    lib = ctypes.CDLL(str(build_dir / "kernels" / "libtrtconvert_kernels.so"))
    fn = lib.trtc_cubic_resize
    fn.restype = ctypes.c_int
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int32] + [ctypes.c_int64] * 5
    fn.argtypes += [ctypes.POINTER(_Params), ctypes.c_void_p]
    good = _Params(0, -0.75, 0, 0, 0.0, 0.0)
    dummy = 0x1000  # never dereferenced: every call below returns before touching the device

    def call(dtype=0, planes=1, in_hw=(4, 4), out_hw=(8, 8), params=good):
        return fn(
            dummy, dummy, dtype, planes, *in_hw, *out_hw, ctypes.byref(params) if params else None, None
        )

    assert call(planes=0) == 0
    assert call(out_hw=(0, 8)) == 0
    assert call(dtype=3) == CUDA_ERROR_INVALID_VALUE
    assert call(in_hw=(0, 4)) == CUDA_ERROR_INVALID_VALUE
    assert call(out_hw=(8, -1)) == CUDA_ERROR_INVALID_VALUE
    assert call(in_hw=(1 << 20, 1 << 20)) == CUDA_ERROR_INVALID_VALUE
    assert call(params=None) == CUDA_ERROR_INVALID_VALUE
    assert call(params=_Params(6, -0.75, 0, 0, 0.0, 0.0)) == CUDA_ERROR_INVALID_VALUE
    assert call(params=_Params(0, float("nan"), 0, 0, 0.0, 0.0)) == CUDA_ERROR_INVALID_VALUE
    assert call(params=_Params(0, -0.75, 2, 0, 0.0, 0.0)) == CUDA_ERROR_INVALID_VALUE
