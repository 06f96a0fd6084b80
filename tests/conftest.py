"""Shared fixtures: small generated models, the bundled example, the shared real models, a CLI runner."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import onnx
import pytest
from background_builds import (
    BackgroundBuilds,
    cxx_compiler,
    kernel_variant_command,
    kernels_command,
    resize_logic_command,
)
from model_factories import conv_model

REPO = Path(__file__).resolve().parents[1]
SHARED_MODELS = REPO.parent / "shared" / "models"
BUILDS = pytest.StashKey[BackgroundBuilds]()


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


@dataclass(frozen=True)
class ResizeLogicBuild:
    code: int
    stderr: str
    binary: Path
    sanitized: bool


@dataclass
class KernelBuild:
    code: int
    stdout: str
    stderr: str
    build_dir: Path
    lib_dir: Path


KERNELS = "kernels"
KERNEL_VARIANT = "kernel_variant"
RESIZE_LOGIC = "resize_logic"


def _kernel_tools_missing() -> str | None:
    import shutil

    from trtconvert.errors import MissingDependency
    from trtconvert.native import build as native_build

    if shutil.which("cmake") is None:
        return "cmake is not on PATH"
    try:
        native_build.find_nvcc()
    except MissingDependency as missing:
        return str(missing)
    return None


def _builds(config) -> BackgroundBuilds:
    if BUILDS not in config.stash:
        config.stash[BUILDS] = BackgroundBuilds()
    return config.stash[BUILDS]


def _start_kernels(config) -> None:
    builds = _builds(config)
    folder = builds.folder(KERNELS)
    builds.start(KERNELS, kernels_command(folder / "b", folder / "lib"), cwd=REPO)


def _start_kernel_variant(config) -> None:
    from trtconvert.native import build as native_build

    builds = _builds(config)
    folder = builds.folder(KERNEL_VARIANT)
    builds.start(KERNEL_VARIANT, kernel_variant_command(native_build.find_nvcc(), folder / "b"), cwd=REPO)


def _start_resize_logic(config, compiler: str) -> None:
    builds = _builds(config)
    builds.start(
        RESIZE_LOGIC, resize_logic_command(compiler, builds.folder(RESIZE_LOGIC) / "sanitized", True)
    )


@pytest.hookimpl(trylast=True)  # after -m and -k have deselected what will not run
def pytest_collection_modifyitems(session, config, items) -> None:
    """Start the native builds that selected tests need, so that they compile while the Python tests run."""
    requested = {name for item in items for name in getattr(item, "fixturenames", ())}
    if "kernel_build" in requested and _kernel_tools_missing() is None:
        _start_kernels(config)
    if "kernel_variant_build" in requested and _kernel_tools_missing() is None:
        _start_kernel_variant(config)
    compiler = cxx_compiler()
    if "resize_logic_build" in requested and compiler is not None:
        _start_resize_logic(config, compiler)


def pytest_unconfigure(config) -> None:
    builds = config.stash.get(BUILDS, None)
    if builds is not None:
        builds.close()


@pytest.fixture(scope="session")
def kernel_build(request) -> KernelBuild:
    """The CUDA kernels built once per test run, as users build them: `trtconvert plugins build --kernels-only`
    for sm_80 with warnings as errors (needs cmake and nvcc, no GPU; skipped without them). Started in the
    background at collection."""
    missing = _kernel_tools_missing()
    if missing is not None:
        pytest.skip(missing)
    _start_kernels(request.config)  # no-op when collection started it
    builds = _builds(request.config)
    done = builds.get(KERNELS).wait()
    folder = builds.folder(KERNELS)
    return KernelBuild(done.code, done.stdout, done.stderr, folder / "b", folder / "lib")


@pytest.fixture(scope="session")
def kernel_variant_build(request) -> KernelBuild:
    """The kernel library with every candidate switch of the four-tap kernel on (background_builds.KERNEL_VARIANT),
    through CMake for sm_90 with warnings as errors; skipped without cmake and nvcc. Started at collection."""
    missing = _kernel_tools_missing()
    if missing is not None:
        pytest.skip(missing)
    _start_kernel_variant(request.config)  # no-op when collection started it
    builds = _builds(request.config)
    done = builds.get(KERNEL_VARIANT).wait()
    folder = builds.folder(KERNEL_VARIANT)
    return KernelBuild(done.code, done.stdout, done.stderr, folder / "b", folder / "b" / "kernels")


@pytest.fixture(scope="session")
def resize_logic_build(request) -> ResizeLogicBuild:
    """The plugin's TensorRT-free logic with its unit tests, compiled once per run with address and
    undefined-behaviour sanitizers, or without them on a toolchain that lacks their runtimes. Started in the
    background at collection."""
    import subprocess

    compiler = cxx_compiler()
    if compiler is None:
        pytest.skip("no C++ compiler (c++, g++ or clang++) on PATH")
    _start_resize_logic(request.config, compiler)  # no-op when collection started it
    builds = _builds(request.config)
    done = builds.get(RESIZE_LOGIC).wait()
    if done.code == 0:
        return ResizeLogicBuild(0, done.stderr, builds.folder(RESIZE_LOGIC) / "sanitized", sanitized=True)
    binary = builds.folder(RESIZE_LOGIC) / "plain"
    plain = subprocess.run(resize_logic_command(compiler, binary, False), capture_output=True, text=True)
    return ResizeLogicBuild(plain.returncode, plain.stderr, binary, sanitized=False)


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
    from trtconvert.cli.main import main

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
