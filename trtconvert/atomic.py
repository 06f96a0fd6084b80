"""Outputs written whole or not at all: a temporary sibling, then a rename.

An existing output survives any failure byte-identical, because it is only ever replaced by os.replace.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import onnx
from google.protobuf.message import EncodeError
from onnx import external_data_helper

from trtconvert.errors import BadInput
from trtconvert.model_info import weight_bytes

# Protobuf cannot serialize a message over 2 GiB; stay clear of it.
EXTERNAL_DATA_THRESHOLD = 1_800_000_000


def check_output_path(output: Path, inputs: list[Path]) -> None:
    """Refuse an output that would overwrite an input; create a missing output folder."""
    for source in inputs:
        if output.resolve() == source.resolve():
            raise BadInput(f"-o {output} is the input file itself; write the output to a new path")
    if output.exists() and output.is_dir():
        raise BadInput(f"-o {output} is a directory; give a file path, e.g. {output / 'model.onnx'}")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise BadInput(f"cannot create the output folder {output.parent}: {err.strerror}") from None


@contextmanager
def staged_files(output: Path) -> Iterator[Path]:
    """Yield a private folder beside ``output``; files written there move into output's folder on success."""
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", suffix=".partial", dir=output.parent))
    try:
        yield staging
        # Move companions (external data) first and the main file last, so the main file never names
        # data that is not there yet.
        for item in sorted(staging.iterdir(), key=lambda p: p.name == output.name):
            os.replace(item, output.parent / item.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _initializers(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    """Initializers, those of If/Loop/Scan bodies included, in the order onnx writes external data."""
    yield from graph.initializer
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.GRAPH:
                yield from _initializers(attribute.g)
            elif attribute.type == onnx.AttributeProto.GRAPHS:
                for subgraph in attribute.graphs:
                    yield from _initializers(subgraph)


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
    for tensor in _initializers(model.graph):
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
