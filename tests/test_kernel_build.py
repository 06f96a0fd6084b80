"""The CUDA kernel library compiles with nvcc through CMake (no GPU, no TensorRT needed).

Skipped where nvcc or cmake is missing. Uses the test run's one kernel build (conftest.kernel_build: sm_80,
warnings as errors), then loads the shared library and checks the argument validation of the C ABI, which
runs before any CUDA call and so needs no GPU.
"""

from __future__ import annotations

import ctypes
import subprocess
import sys
from pathlib import Path

import pytest

from trtconvert.native.kernel_abi import DTYPE_CODES, CubicResizeParams, load_kernel_library

REPO = Path(__file__).resolve().parents[1]
CUDA_ERROR_INVALID_VALUE = 1


@pytest.fixture(scope="module")
def build_dir(kernel_build) -> Path:
    assert kernel_build.code == 0, kernel_build.stderr[-4000:]
    # The static archive the plugin links: archived from the objects the shared build compiled.
    archive = subprocess.run(
        ["cmake", "--build", str(kernel_build.build_dir), "--target", "trtconvert_kernels"],
        capture_output=True,
        text=True,
    )
    assert archive.returncode == 0, archive.stdout[-4000:] + archive.stderr[-4000:]
    return kernel_build.build_dir


def test_builds_static_and_shared_libraries(build_dir: Path):
    assert (build_dir / "kernels" / "libtrtconvert_kernels.a").is_file()
    assert (build_dir / "kernels" / "libtrtconvert_kernels.so").is_file()


def test_shared_library_validates_arguments_without_a_gpu(build_dir: Path):
    fn = load_kernel_library(build_dir / "kernels" / "libtrtconvert_kernels.so").trtc_cubic_resize
    good = CubicResizeParams(0, -0.75, 0, 0, 0.0, 0.0)
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
    assert call(params=CubicResizeParams(6, -0.75, 0, 0, 0.0, 0.0)) == CUDA_ERROR_INVALID_VALUE
    assert call(params=CubicResizeParams(0, float("nan"), 0, 0, 0.0, 0.0)) == CUDA_ERROR_INVALID_VALUE
    assert call(params=CubicResizeParams(0, -0.75, 2, 0, 0.0, 0.0)) == CUDA_ERROR_INVALID_VALUE


def test_candidate_variants_compile_for_sm90_without_warnings(kernel_variant_build):
    # Every candidate switch on at once (the default build has them all off), warnings as errors: all the
    # candidates' code compiles. CMake turned the variant letters into the four switches, and the lean
    # ring's own kernel exists.
    from background_builds import KERNEL_VARIANT

    log = kernel_variant_build.stdout + kernel_variant_build.stderr
    assert kernel_variant_build.code == 0, log[-4000:]
    assert (kernel_variant_build.lib_dir / "libtrtconvert_kernels.so").is_file()
    flags = (
        kernel_variant_build.build_dir
        / "kernels"
        / "CMakeFiles"
        / "trtconvert_kernels_objects.dir"
        / "flags.make"
    ).read_text()
    switches = ("SHARED_COLUMNS", "FULLER_BLOCKS", "LEAN_RING", "DEEP_QUADS", "WIDE_QUADS")
    assert KERNEL_VARIANT == "CFRDW"
    assert all(f"-DTRTC_CUBIC_{switch}=" in flags for switch in switches), flags
    assert "-DTRTC_CUBIC_FULLER_BLOCKS=2" in flags, flags  # F: half the resident blocks
    # The register table the GPU script prints (benchmarks/ptxas_registers.py) reads this log: the lean
    # ring's kernels stand for the staged instances, wide quads have their own, and each reports its registers.
    sys.path.insert(0, str(REPO / "benchmarks"))
    from ptxas_registers import read_log

    table = read_log(log)
    staged = [name for name in table if name.startswith(("half", "bf16")) and name.endswith("staged")]
    # Per 16-bit type: quads of span 6 and 7, pairs of span 6 to 8 and word runs, wide quads of span 6 and 7.
    assert len(staged) == 16, table
    assert all(int(table[name].split()[0]) <= 255 for name in table), table


def test_abi_mirror_matches_the_header():
    header = (REPO / "csrc" / "kernels" / "cubic_resize.h").read_text()
    import re

    dtypes = {name.lower(): int(value) for name, value in re.findall(r"TRTC_DTYPE_(\w+) = (\d+)", header)}
    assert dtypes == DTYPE_CODES
    struct = re.search(r"typedef struct \{(.*?)\} TrtcCubicResizeParams;", header, re.S).group(1)
    fields = re.findall(r"^\s*(int32_t|float) (\w+);", struct, re.M)
    kinds = {"int32_t": ctypes.c_int32, "float": ctypes.c_float}
    assert [(name, kinds[kind]) for kind, name in fields] == list(CubicResizeParams._fields_)
