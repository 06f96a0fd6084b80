"""Fixtures of the GPU kernel tests: skipped, with the reason, where PyTorch or a CUDA GPU is missing."""

from __future__ import annotations

import ctypes

import pytest
from kernel_binding import ERRORS, find_library, load


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
def kernel_lib(torch_cuda) -> ctypes.CDLL:
    """The kernel library, built for this GPU when no built copy is found."""
    major, minor = torch_cuda.cuda.get_device_capability()
    return load(find_library(f"{major}{minor}"))


def pytest_terminal_summary(terminalreporter) -> None:
    """Worst relative error per dtype over the kernel checks that ran."""
    for dtype_name, errors in sorted(ERRORS.items()):
        terminalreporter.write_line(
            f"cubic kernel {dtype_name}: worst relative error {max(errors):.3g} over {len(errors)} checks"
        )
