"""Outputs written whole or not at all: a temporary sibling, then a rename.

An existing output survives any failure byte-identical, because it is only ever replaced by os.replace.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import onnx
from google.protobuf.message import EncodeError

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


def save_onnx(model: onnx.ModelProto, path: Path, external_data: bool) -> None:
    """Save a model; with ``external_data`` the weights go to ``<name>.data`` beside it."""
    if external_data:
        onnx.save_model(
            model,
            str(path),
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location=f"{path.name}.data",
            size_threshold=1024,
        )
    else:
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
