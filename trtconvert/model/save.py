"""Saving a prepared ONNX model: inline, or with its weights in an external data file when protobuf's 2 GiB
limit requires it. Atomicity is the caller's (trtconvert.atomic stages the file)."""

from __future__ import annotations

import sys
from pathlib import Path

import onnx
from google.protobuf.message import EncodeError
from onnx import external_data_helper

from trtconvert.model.info import all_initializers, weight_bytes

# Protobuf cannot serialize a message over 2 GiB; stay clear of it.
EXTERNAL_DATA_THRESHOLD = 1_800_000_000


def save_onnx(model: onnx.ModelProto, path: Path, external_data: bool) -> None:
    """Save a model; with ``external_data`` the weights of 1 KiB or more go to ``<name>.data`` beside it.

    With external data, the model's tensors are left pointing at that file, as onnx.save_model leaves them.
    """
    if not external_data:
        onnx.save_model(model, str(path))
        return
    # onnx.save_model(save_as_external_data=True) refuses to run when a file of the data file's name exists
    # in the working directory (it tests the bare name), e.g. the input's own data file when prepare runs
    # in the input's folder. So the tensors are marked here, as it would mark them, and save_model writes
    # them, appending to the data file beside ``path``.
    location = f"{path.name}.data"
    (path.parent / location).unlink(missing_ok=True)
    for tensor in all_initializers(model.graph):
        if tensor.HasField("raw_data") and sys.getsizeof(tensor.raw_data) >= 1024:
            external_data_helper.set_external_data(tensor, location)
    onnx.save_model(model, str(path))


def needs_external_data(model: onnx.ModelProto) -> bool:
    # ByteSize() serializes the whole model to count it, a second copy of every weight, and raises past
    # 2 GiB: the weights, counted from their shapes, settle the question for large models.
    if weight_bytes(model) > EXTERNAL_DATA_THRESHOLD:
        return True
    try:
        return model.ByteSize() > EXTERNAL_DATA_THRESHOLD
    except EncodeError:
        return True
