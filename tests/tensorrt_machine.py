"""What the `tensorrt` tests need, probed once: TensorRT's module and a GPU, and the marks that skip without them."""

from __future__ import annotations

import pytest

from trtconvert.machine import cuda_gpu, import_tensorrt

TRT, _TRT_REASON = import_tensorrt()
GPU, _GPU_REASON = cuda_gpu() if TRT is not None else (None, "")

NEEDS_TENSORRT_AND_GPU = [
    pytest.mark.tensorrt,
    pytest.mark.gpu,
    pytest.mark.skipif(
        TRT is None, reason=f"{_TRT_REASON}: pip install 'trtconvert[tensorrt]' on a GPU machine"
    ),
    pytest.mark.skipif(TRT is not None and GPU is None, reason=f"no usable NVIDIA GPU: {_GPU_REASON}"),
]
