"""The plugin's C++ without TensorRT: its TensorRT-free logic on the host compiler, and the whole library against
TensorRT's headers with a stand-in registry.

1. csrc/plugins/dynamic_resize/tests/test_resize_config.cpp (attribute parsing and validation, output sizes,
   launch geometry, field serialization) compiled with warnings as errors and, where the toolchain has them,
   address and undefined-behaviour sanitizers. Needs only a C++17 compiler: runs in CI.
2. The plugin library built by `trtconvert plugins build` machinery against TensorRT headers, with the CTest
   suite: the unit tests again, and csrc/plugins/tests/plugin_contract_test.cpp, which loads the library beside
   a stand-in libnvinfer registry and drives registration, getCreators and every plugin capability. Needs
   cmake, nvcc and TensorRT headers (TRTCONVERT_TEST_TENSORRT_ROOTS=dir[:dir...], else TENSORRT_ROOT or the
   standard install paths); skipped without them. No GPU and no TensorRT library is needed.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from trtconvert import native_build
from trtconvert.errors import MissingDependency

REPO = Path(__file__).resolve().parents[1]
LOGIC_DIR = REPO / "csrc" / "plugins" / "dynamic_resize"
WARNINGS = ["-Wall", "-Wextra", "-Wpedantic", "-Wshadow", "-Wconversion", "-Wold-style-cast", "-Werror"]


def _compiler() -> str | None:
    for candidate in (os.environ.get("CXX"), "c++", "g++", "clang++"):
        if candidate and shutil.which(candidate):
            return shutil.which(candidate)
    return None


def _compile(compiler: str, output: Path, extra: list[str]) -> subprocess.CompletedProcess:
    command = [
        compiler,
        "-std=c++17",
        "-O1",
        "-g",
        *WARNINGS,
        *extra,
        "-I",
        str(LOGIC_DIR),
        str(LOGIC_DIR / "resize_config.cpp"),
        str(LOGIC_DIR / "tests" / "test_resize_config.cpp"),
        "-o",
        str(output),
    ]
    return subprocess.run(command, capture_output=True, text=True)


def test_resize_logic_unit_tests(tmp_path: Path):
    compiler = _compiler()
    if compiler is None:
        pytest.skip("no C++ compiler (c++, g++ or clang++) on PATH")
    binary = tmp_path / "test_resize_config"
    built = _compile(compiler, binary, ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"])
    sanitized = built.returncode == 0
    if not sanitized:  # a toolchain without sanitizer runtimes still compiles the plain tests
        built = _compile(compiler, binary, [])
    assert built.returncode == 0, f"compile failed:\n{built.stderr[-4000:]}"
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1", UBSAN_OPTIONS="print_stacktrace=1")
    run = subprocess.run([str(binary)], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, f"unit tests failed (sanitizers: {sanitized}):\n{run.stdout}\n{run.stderr}"
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

    # Loading it without TensorRT in the process registers nothing and does not fail; the entry points of
    # both conventions are exported, and it says which TensorRT it was compiled against.
    library = ctypes.CDLL(str(result.library))
    for name in ("getCreators", "setLoggerFinder", "trtconvert_register_plugins"):
        assert hasattr(library, name), name
    library.trtconvert_register_plugins.restype = ctypes.c_int32
    assert library.trtconvert_register_plugins() == 0
    library.trtconvert_plugins_tensorrt_version.restype = ctypes.c_int32
    major, minor, patch = (int(part) for part in headers.version.split("."))
    assert library.trtconvert_plugins_tensorrt_version() == major * 10000 + minor * 100 + patch
    # Internal symbols stay hidden (the version script exports the entry points only).
    assert not hasattr(library, "_ZN10trtconvert7plugins22dynamic_resize_creatorEv")
