"""Fixtures of the GPU kernel tests: skipped, with the reason, where PyTorch or a CUDA GPU is missing.

TRTCONVERT_KERNEL_VARIANTS="NAME=PATH,NAME=PATH" runs every test that takes ``kernel_lib`` once per listed
build of the kernel library (candidate variants, csrc/kernels/NOTES.md), with ``default_kernel_lib`` still the
library the other tests use (TRTCONVERT_KERNELS_LIB or the default build).
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

import pytest
from kernel_binding import ERRORS, find_library, load

VARIANTS_ENVIRONMENT = "TRTCONVERT_KERNEL_VARIANTS"


def kernel_variants() -> list[tuple[str, Path]]:
    """The builds named in TRTCONVERT_KERNEL_VARIANTS, in order; empty when it is unset."""
    variants = []
    for item in filter(None, os.environ.get(VARIANTS_ENVIRONMENT, "").split(",")):
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise pytest.UsageError(f"{VARIANTS_ENVIRONMENT}: {item!r} is not NAME=PATH")
        variants.append((name, Path(path)))
    return variants


def pytest_generate_tests(metafunc) -> None:
    variants = kernel_variants()
    if variants and "kernel_lib" in metafunc.fixturenames:
        metafunc.parametrize(
            "kernel_lib", variants, ids=[name for name, _ in variants], indirect=True, scope="session"
        )


@pytest.fixture(scope="session")
def torch_cuda():
    """The torch module, on a machine with a CUDA GPU."""
    torch = pytest.importorskip(
        "torch", reason="PyTorch absent (pip install torch with CUDA to run the GPU tests)"
    )
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    return torch


@pytest.fixture(scope="session")
def default_kernel_lib(torch_cuda) -> ctypes.CDLL:
    """The kernel library, built for this GPU when no built copy is found."""
    major, minor = torch_cuda.cuda.get_device_capability()
    return load(find_library(f"{major}{minor}"))


@pytest.fixture(scope="session")
def kernel_lib(request, default_kernel_lib) -> ctypes.CDLL:
    """The library under test: one of TRTCONVERT_KERNEL_VARIANTS' builds where set, else the default one."""
    variant = getattr(request, "param", None)
    if variant is None:
        return default_kernel_lib
    name, path = variant
    if not path.is_file():
        pytest.fail(f"{VARIANTS_ENVIRONMENT}: build {name} not found at {path}")
    return load(path)


def pytest_terminal_summary(terminalreporter) -> None:
    """Worst relative error per dtype over the kernel checks that ran."""
    for dtype_name, errors in sorted(ERRORS.items()):
        terminalreporter.write_line(
            f"cubic kernel {dtype_name}: worst relative error {max(errors):.3g} over {len(errors)} checks"
        )
