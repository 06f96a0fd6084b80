"""What the `tensorrt` tests need, probed once: TensorRT's module and a GPU, the marks that skip without them,
what the installed version lacks, and the plugin library and timing cache the tests share."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from trtconvert.engine.machine import cuda_gpu, import_tensorrt
from trtconvert.settings.target import parse_target

TRT, _TRT_REASON = import_tensorrt()
GPU, _GPU_REASON = cuda_gpu() if TRT is not None else (None, "")
# The installed TensorRT as a target (None without one): what the tests may ask of it.
TARGET = parse_target(TRT.__version__) if TRT is not None else None

NEEDS_TENSORRT_AND_GPU = [
    pytest.mark.tensorrt,
    pytest.mark.gpu,
    pytest.mark.skipif(
        TRT is None, reason=f"{_TRT_REASON}: pip install 'trtconvert[tensorrt]' on a GPU machine"
    ),
    pytest.mark.skipif(TRT is not None and GPU is None, reason=f"no usable NVIDIA GPU: {_GPU_REASON}"),
]


def require_feature(feature: str) -> None:
    """Skip the calling test, naming the feature, where the installed TensorRT lacks it."""
    if TARGET is not None and not TARGET.has(feature):
        pytest.skip(TARGET.lacks_message(feature).replace("builds this engine", "is installed"))


def find_plugin_library(folder: Path) -> Path:
    """TRTCONVERT_PLUGIN_LIBRARY, else the library `trtconvert plugins build` left in build/lib, else one built
    into ``folder`` for this GPU (needs cmake, nvcc and TensorRT headers; the test skips without them)."""
    from trtconvert.errors import MissingDependency
    from trtconvert.native import build as native_build

    found = native_build.library_path()
    if found.is_file():
        return found.resolve()
    if os.environ.get("TRTCONVERT_PLUGIN_LIBRARY"):
        pytest.skip(f"TRTCONVERT_PLUGIN_LIBRARY={found} does not exist")
    try:
        result = native_build.build_native(
            build_dir=folder / "build", output_dir=folder / "lib", cuda_architectures="native"
        )
    except MissingDependency as missing:
        pytest.skip(f"no plugin library and none can be built here: {missing}")
    return result.library
