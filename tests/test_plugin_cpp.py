"""The plugin's C++ without TensorRT: its TensorRT-free logic on the host compiler, and the whole library against
TensorRT's headers with a stand-in registry.

1. csrc/plugins/dynamic_resize/tests/test_resize_config.cpp (attribute parsing and validation, output sizes,
   launch geometry, field serialization) compiled with warnings as errors and, where the toolchain has them,
   address and undefined-behaviour sanitizers. Needs only a C++17 compiler: runs in CI.
2. The plugin library built by `trtconvert plugins build` machinery against TensorRT headers, with the CTest
   suite: the unit tests again, and csrc/plugins/tests/plugin_contract_test.cpp (IPluginV3, headers 10+) or
   plugin_contract_test_v2.cpp (IPluginV2DynamicExt, headers 8.5-9.x), which load the library beside a
   stand-in libnvinfer registry and drive registration, getCreators and every plugin method. Needs
   cmake, nvcc and TensorRT headers (TRTCONVERT_TEST_TENSORRT_ROOTS=dir[:dir...], else TENSORRT_ROOT or the
   standard install paths); skipped without them. No GPU and no TensorRT library is needed.
3. On a GPU (marked gpu): the plugin's enqueue, reached through its creator with fields as the ONNX parser
   passes them, against the float64 reference of trtconvert.ops, in float32, float16 and bfloat16
   (csrc/plugins/tests/plugin_enqueue_probe.cpp). Builds as in 2, or uses the build folder named by
   TRTCONVERT_TEST_PLUGIN_BUILD_DIR.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from trtconvert.engine.machine import cuda_gpu
from trtconvert.errors import MissingDependency
from trtconvert.native import build as native_build

REPO = Path(__file__).resolve().parents[1]


def test_resize_logic_unit_tests(resize_logic_build):
    built = resize_logic_build
    assert built.code == 0, f"compile failed:\n{built.stderr[-4000:]}"
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1", UBSAN_OPTIONS="print_stacktrace=1")
    run = subprocess.run([str(built.binary)], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, (
        f"unit tests failed (sanitizers: {built.sanitized}):\n{run.stdout}\n{run.stderr}"
    )
    summary = re.search(r"(\d+) checks, (\d+) failed", run.stdout)
    assert summary is not None, run.stdout
    assert int(summary.group(2)) == 0
    # The suite is a few hundred checks; far fewer means part of it stopped running.
    assert int(summary.group(1)) >= 200


def _header_roots() -> list[str | None]:
    listed = os.environ.get("TRTCONVERT_TEST_TENSORRT_ROOTS")
    if listed:
        return [root for root in listed.split(os.pathsep) if root]
    return [None]  # TENSORRT_ROOT, then the standard install paths


@pytest.mark.slow
@pytest.mark.parametrize("root", _header_roots(), ids=lambda root: Path(root).name if root else "default")
def test_plugin_library_against_tensorrt_headers(root: str | None, tmp_path: Path):
    try:
        headers = native_build.find_tensorrt_headers(Path(root) if root else None)
        native_build.find_cmake()
        native_build.find_nvcc()
    except MissingDependency as missing:
        pytest.skip(f"cannot build the plugin library here: {missing}")
    result = native_build.build_native(
        build_dir=tmp_path / "build",
        output_dir=tmp_path / "lib",
        tensorrt_root=Path(root) if root else None,
        cuda_architectures="80",
        werror=True,
        build_tests=True,
        jobs=max(2, os.cpu_count() or 2),
    )
    assert result.library == (tmp_path / "lib" / native_build.PLUGIN_LIBRARY).resolve()
    assert result.tensorrt is not None and result.tensorrt.version == headers.version

    ctest = shutil.which("ctest")
    assert ctest is not None, "cmake is installed without ctest"
    run = subprocess.run(
        [ctest, "--test-dir", str(result.build_dir / "plugins"), "--output-on-failure"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "100% tests passed" in run.stdout and "out of 3" in run.stdout, run.stdout

    # Loading it where no TensorRT can be found registers nothing and does not fail; the entry points of both
    # conventions are exported, and it says which TensorRT it was compiled against.
    library = ctypes.CDLL(str(result.library))
    version = (headers.major, headers.minor)
    exported = ["trtconvert_register_plugins", "getCreators" if headers.major >= 10 else "getPluginCreators"]
    if version >= (8, 6):  # ILoggerFinder, and with it setLoggerFinder, exists from 8.6
        exported.append("setLoggerFinder")
    for name in exported:
        assert hasattr(library, name), name
    absent = "getPluginCreators" if headers.major >= 10 else "getCreators"
    assert not hasattr(library, absent), f"{absent} belongs to the other plugin interface"
    assert result.to_json()["plugin_interface"] == (
        "IPluginV3" if headers.major >= 10 else "IPluginV2DynamicExt"
    )
    library.trtconvert_register_plugins.restype = ctypes.c_int32
    if ctypes.util.find_library("nvinfer") is None:  # with TensorRT installed, the library would load it
        assert library.trtconvert_register_plugins() == 0
    library.trtconvert_plugins_tensorrt_version.restype = ctypes.c_int32
    major, minor, patch = (int(part) for part in headers.version.split("."))
    assert library.trtconvert_plugins_tensorrt_version() == major * 10000 + minor * 100 + patch
    # Internal symbols stay hidden (the version script exports the entry points only).
    assert not hasattr(library, "_ZN10trtconvert7plugins22dynamic_resize_creatorEv")


# ---- enqueue on a GPU against the reference

# (dtype, input shape, fields as the parser passes them, size input): one case per mode, size source and
# option worth telling apart, at ranks 2 to 5, with output lengths of 1 and a large plane.
ENQUEUE_CASES = [
    ("f32", (2, 3, 17, 10), {}, ("carrier", (34, 23))),
    (
        "f32",
        (1, 2, 9, 13),
        {"coordinate_transformation_mode": "asymmetric", "exclude_outside": 1, "scales": [2.5, 0.7]},
        None,
    ),
    (
        "f32",
        (3, 40, 36),
        {"coordinate_transformation_mode": "pytorch_half_pixel", "antialias": 1, "sizes": [13, 9]},
        None,
    ),
    ("f32", (1, 1, 8, 8), {"coordinate_transformation_mode": "pytorch_half_pixel", "sizes": [1, 5]}, None),
    ("f32", (2, 2, 7, 5), {"align_corners": 1, "scales": [2.0, 3.0]}, None),
    (
        "f32",
        (2, 11, 6),
        {"coordinate_transformation_mode": "half_pixel_symmetric", "cubic_coeff_a": -0.5, "sizes": [5, 17]},
        None,
    ),
    ("f32", (1, 3, 5, 6), {"coordinate_transformation_mode": "tf_half_pixel_for_nn", "sizes": [12, 3]}, None),
    ("f32", (13, 7), {"coordinate_transformation_mode": "align_corners", "scales": [0.5, 3.0]}, None),
    ("f32", (2, 1, 3, 6, 7), {"antialias": 1, "exclude_outside": 1, "sizes": [4, 9]}, None),
    (
        "f32",
        (1, 3, 256, 256),
        {"coordinate_transformation_mode": "pytorch_half_pixel"},
        ("carrier", (512, 384)),
    ),
    ("f16", (2, 3, 17, 10), {"antialias": 1}, ("carrier", (31, 7))),
    ("f16", (1, 4, 64, 48), {"coordinate_transformation_mode": "align_corners", "scales": [1.5, 2.0]}, None),
    (
        "bf16",
        (1, 2, 33, 20),
        {"coordinate_transformation_mode": "pytorch_half_pixel", "sizes": [16, 45]},
        None,
    ),
]
# Relative tolerances: the kernel accumulates in float32 (about 1e-6 of the result), then rounds once to the
# output type: half an ulp is 2^-11 in float16 and 2^-8 in bfloat16.
ENQUEUE_RTOL = {"f32": 2e-5, "f16": 1e-3, "bf16": 8e-3}


def _probe_build() -> Path:
    configured = os.environ.get("TRTCONVERT_TEST_PLUGIN_BUILD_DIR")
    if configured:
        return Path(configured)
    try:
        native_build.find_tensorrt_headers(None)
        native_build.find_cmake()
        native_build.find_nvcc()
    except MissingDependency as missing:
        pytest.skip(f"cannot build the plugin library here: {missing}")
    folder = Path(os.environ.get("TMPDIR", "/tmp")) / f"trtconvert-probe-{os.getpid()}"
    result = native_build.build_native(
        build_dir=folder / "build", output_dir=folder / "lib", cuda_architectures="native", build_tests=True
    )
    return result.build_dir


def _round_to(values: np.ndarray, dtype: str) -> np.ndarray:
    """float32 values representable in ``dtype`` (round to nearest even), so the probe converts them exactly."""
    if dtype == "f16":
        return values.astype(np.float16).astype(np.float32)
    if dtype == "bf16":
        bits = values.astype(np.float32).view(np.uint32)
        rounded = (bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))) & np.uint32(
            0xFFFF0000
        )
        return rounded.astype(np.uint32).view(np.float32)
    return values.astype(np.float32)


@pytest.mark.gpu
@pytest.mark.slow
def test_plugin_enqueue_matches_the_reference(tmp_path: Path):
    from trtconvert.ops.dynamic_resize import DynamicResizeNode

    gpu, reason = cuda_gpu()
    if gpu is None:
        pytest.skip(f"no usable NVIDIA GPU: {reason}")
    build = _probe_build() / "plugins"
    probe = build / "trtconvert_plugin_enqueue_probe"
    stand_ins = sorted((build / "stand_in").glob("libnvinfer.so.*"))
    library = build / native_build.PLUGIN_LIBRARY
    assert probe.is_file() and stand_ins and library.is_file(), f"incomplete test build in {build}"

    rng = np.random.default_rng(2024)
    for index, (dtype, shape, fields, size_input) in enumerate(ENQUEUE_CASES):
        if dtype == "bf16" and float(gpu.compute_capability) < 8.0:
            continue
        x = _round_to(rng.standard_normal(shape), dtype)
        node = DynamicResizeNode.from_attributes(fields)
        carrier = size_input is not None
        size_values = np.array([1, 1, *size_input[1]]) if carrier else None
        want = node.compute(x, size_values, carrier)
        out_h, out_w = want.shape[-2:]
        (tmp_path / "in.bin").write_bytes(x.tobytes())
        arguments = [
            str(probe),
            str(stand_ins[0]),
            str(library),
            dtype,
            str(tmp_path / "in.bin"),
            str(tmp_path / "out.bin"),
            ",".join(str(d) for d in shape),
            str(out_h),
            str(out_w),
        ]
        if carrier:
            arguments.append("carrier")
        for name, value in fields.items():
            text = ",".join(str(v) for v in value) if isinstance(value, list) else str(value)
            arguments.append(f"{name}={text}")
        run = subprocess.run(arguments, capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, f"case {index}: {run.stderr}"
        got = np.fromfile(tmp_path / "out.bin", dtype=np.float32).reshape(want.shape)
        assert np.isfinite(got).all(), f"case {index}: the plugin left output elements unwritten"
        rtol = ENQUEUE_RTOL[dtype]
        np.testing.assert_allclose(
            got, want, rtol=rtol, atol=1e-5, err_msg=f"case {index}: {dtype} {shape} {fields}"
        )
