"""What this machine has for building and running engines: TensorRT and a CUDA GPU.

Every probe answers without raising: a missing or broken TensorRT, driver or GPU is a fact to report, not an
error, because `build` and `verify` still run their CPU stages and `doctor` must always finish.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import shutil
import subprocess
from dataclasses import dataclass
from types import ModuleType

from trtconvert.errors import INSTALL_TENSORRT, MissingDependency


@dataclass(frozen=True)
class Gpu:
    """The CUDA device engines are built for (device 0 after CUDA_VISIBLE_DEVICES)."""

    name: str
    compute_capability: str

    def to_json(self) -> dict:
        return {"name": self.name, "compute_capability": self.compute_capability}


def import_tensorrt() -> tuple[ModuleType | None, str]:
    """The ``tensorrt`` module, or None and why not (not installed, or its import failed)."""
    try:
        import tensorrt  # type: ignore[import-not-found]
    except ImportError as err:
        if getattr(err, "name", None) == "tensorrt":
            return None, "TensorRT is not installed"
        return None, f"TensorRT is installed but does not import ({err})"
    except Exception as err:  # the bindings can fail on a missing libnvinfer or a wrong CUDA
        return None, f"TensorRT is installed but does not import ({type(err).__name__}: {err})"
    if not hasattr(tensorrt, "Builder"):
        return None, "the installed 'tensorrt' package is a stub without the TensorRT bindings"
    return tensorrt, f"TensorRT {tensorrt.__version__}"


def require_tensorrt(what: str) -> ModuleType:
    """Import TensorRT for ``what`` or raise MissingDependency (exit 3) with the way to get it."""
    module, reason = import_tensorrt()
    if module is None:
        raise MissingDependency(f"{reason}, so {what}; {INSTALL_TENSORRT}")
    return module


def _libcuda() -> ctypes.CDLL | None:
    for name in ("libcuda.so.1", "libcuda.so", ctypes.util.find_library("cuda")):
        if not name:
            continue
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    return None


def cuda_gpu() -> tuple[Gpu | None, str]:
    """Name and compute capability of CUDA device 0 through the driver API, or None and why not.

    The driver API (libcuda) is what every CUDA program ends in, so this works wherever an engine could be
    built, with no Python CUDA package installed.
    """
    lib = _libcuda()
    if lib is None:
        return None, "no NVIDIA driver (libcuda) found"
    status = lib.cuInit(0)
    if status != 0:
        return None, f"the NVIDIA driver found no usable GPU (cuInit error {status})"
    count = ctypes.c_int(0)
    if lib.cuDeviceGetCount(ctypes.byref(count)) != 0 or count.value < 1:
        return None, "the NVIDIA driver reports no GPU"
    device = ctypes.c_int(0)
    if lib.cuDeviceGet(ctypes.byref(device), 0) != 0:
        return None, "the NVIDIA driver could not open GPU 0"
    name = ctypes.create_string_buffer(256)
    lib.cuDeviceGetName(name, 256, device)
    major, minor = ctypes.c_int(0), ctypes.c_int(0)
    # CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75, _MINOR = 76 (stable since CUDA 5).
    lib.cuDeviceGetAttribute(ctypes.byref(major), 75, device)
    lib.cuDeviceGetAttribute(ctypes.byref(minor), 76, device)
    gpu = Gpu(name.value.decode(errors="replace"), f"{major.value}.{minor.value}")
    return gpu, f"{gpu.name} (compute capability {gpu.compute_capability})"


def cuda_gpus() -> list[Gpu]:
    """Every CUDA device the driver shows (after CUDA_VISIBLE_DEVICES), in device order; empty where none."""
    lib = _libcuda()
    if lib is None or lib.cuInit(0) != 0:
        return []
    count = ctypes.c_int(0)
    if lib.cuDeviceGetCount(ctypes.byref(count)) != 0:
        return []
    gpus = []
    for index in range(count.value):
        device = ctypes.c_int(0)
        if lib.cuDeviceGet(ctypes.byref(device), index) != 0:
            continue
        name = ctypes.create_string_buffer(256)
        lib.cuDeviceGetName(name, 256, device)
        major, minor = ctypes.c_int(0), ctypes.c_int(0)
        lib.cuDeviceGetAttribute(ctypes.byref(major), 75, device)
        lib.cuDeviceGetAttribute(ctypes.byref(minor), 76, device)
        gpus.append(Gpu(name.value.decode(errors="replace"), f"{major.value}.{minor.value}"))
    return gpus


def require_gpu(what: str) -> Gpu:
    gpu, reason = cuda_gpu()
    if gpu is None:
        raise MissingDependency(f"{reason}, so {what}; run on a machine with an NVIDIA GPU and its driver")
    return gpu


def run_tool(argv: list[str], timeout: float = 20.0) -> tuple[str | None, str]:
    """Run a diagnostic tool; its stdout, or None and why it gave none."""
    if shutil.which(argv[0]) is None:
        return None, f"{argv[0]} not found on PATH"
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError) as err:
        return None, f"{argv[0]} failed to run ({err})"
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        return None, f"{argv[0]} exited {done.returncode}" + (f": {detail[0]}" if detail else "")
    return done.stdout, "ok"
