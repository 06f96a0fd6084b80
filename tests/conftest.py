"""Shared fixtures: small generated models, the bundled example, the shared real models, a CLI runner."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import onnx
import pytest
from model_factories import conv_model

REPO = Path(__file__).resolve().parents[1]
SHARED_MODELS = REPO.parent / "shared" / "models"


def _load_example_module():
    spec = importlib.util.spec_from_file_location(
        "super_resolution_example", REPO / "examples" / "super_resolution.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pytest_report_header(config) -> str:
    from seeds import SEED

    return f"random inputs: seed {SEED} (TRTCONVERT_TEST_SEED={SEED} to replay)"


@pytest.fixture(scope="session")
def example_module():
    return _load_example_module()


@pytest.fixture
def example_model(tmp_path: Path, example_module) -> Path:
    path = tmp_path / "super_resolution.onnx"
    onnx.save(example_module.build_model(seed=0), path)
    return path


@pytest.fixture
def conv_model_path(tmp_path: Path) -> Path:
    path = tmp_path / "conv.onnx"
    onnx.save(conv_model(), path)
    return path


@pytest.fixture(scope="session")
def plugin_library(tmp_path_factory) -> Path:
    """libtrtconvert_plugins.so for the installed TensorRT (see tensorrt_machine.find_plugin_library)."""
    from tensorrt_machine import find_plugin_library

    return find_plugin_library(tmp_path_factory.mktemp("plugin_build"))


@dataclass
class KernelBuild:
    code: int
    stdout: str
    stderr: str
    build_dir: Path
    lib_dir: Path


@pytest.fixture(scope="session")
def kernel_build(tmp_path_factory) -> KernelBuild:
    """The CUDA kernels built once per test run, as users build them: `trtconvert plugins build --kernels-only`
    for sm_80 with warnings as errors (needs cmake and nvcc, no GPU; skipped without them)."""
    import shutil
    import subprocess
    import sys

    from trtconvert import native_build
    from trtconvert.errors import MissingDependency

    if shutil.which("cmake") is None:
        pytest.skip("cmake is not on PATH")
    try:
        native_build.find_nvcc()
    except MissingDependency as missing:
        pytest.skip(str(missing))
    folder = tmp_path_factory.mktemp("kernels")
    command = [sys.executable, "-m", "trtconvert", "plugins", "build", "--kernels-only", "--cuda-archs", "80",
               "--build-dir", str(folder / "b"), "-o", str(folder / "lib"), "--werror", "-q"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    return KernelBuild(done.returncode, done.stdout, done.stderr, folder / "b", folder / "lib")


@pytest.fixture(scope="session")
def timing_cache(tmp_path_factory) -> Path:
    """One TensorRT timing cache for every build of a test run (TRTCONVERT_TEST_TIMING_CACHE to keep it):
    builds of the same layers after the first skip their tactic timing."""
    import os

    configured = os.environ.get("TRTCONVERT_TEST_TIMING_CACHE")
    return Path(configured) if configured else tmp_path_factory.mktemp("timing") / "tests.cache"


@pytest.fixture
def shared_models() -> Path:
    if not SHARED_MODELS.is_dir():
        pytest.skip(f"shared real models not found at {SHARED_MODELS}")
    return SHARED_MODELS


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


@pytest.fixture
def run_cli(capsys):
    """Run the CLI in-process the way the console script does; returns exit code and both streams."""
    from trtconvert.cli import main

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else 1
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run
