"""onnxruntime sessions for the CPU verification of original and prepared models."""

from __future__ import annotations

import os

import onnx


def create_session(model: onnx.ModelProto | str | os.PathLike, providers: list[str] | None = None):
    """An onnxruntime CPU session for a model proto or a model path (paths handle models over 2 GB)."""
    import onnxruntime

    source = model.SerializeToString() if isinstance(model, onnx.ModelProto) else os.fspath(model)
    return onnxruntime.InferenceSession(source, providers=providers or ["CPUExecutionProvider"])
