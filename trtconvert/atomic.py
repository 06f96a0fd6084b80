"""Outputs written whole or not at all: a temporary sibling, then a rename.

An existing output survives any failure byte-identical, because it is only ever replaced by os.replace.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
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


def check_writable_file(path: Path, what: str) -> None:
    """Refuse a path that exists and is not a regular file (a folder, device, FIFO or socket): replacing it
    would destroy it, or the write would hang or fail late. Also refuse one whose folder cannot be created."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        mode = None
    except OSError as err:
        raise BadInput(f"{what} {path}: {err.strerror}; check the path and its permissions") from None
    if mode is not None and stat.S_ISDIR(mode):
        raise BadInput(
            f"{what} {path} is a directory; give a file path, or end the path with '/' to write into the folder"
        )
    if mode is not None and not stat.S_ISREG(mode):
        raise BadInput(f"{what} {path} exists and is not a regular file ({_kind(mode)}); give another path")
    folder = path.parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise BadInput(f"{what} {path}: {folder} is not a folder, so the output folder cannot be created")


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket")):  # fmt: skip
        if test(mode):
            return name
    return "not a regular file"


def check_output_path(output: Path, inputs: list[Path]) -> None:
    """Refuse an output that would overwrite an input, or that is not a plain file path; creates nothing."""
    for source in inputs:
        if output.resolve() == source.resolve():
            raise BadInput(f"-o {output} is the input file itself; write the output to a new path")
    check_writable_file(output, "-o")


@contextmanager
def created_folders(folder: Path) -> Iterator[None]:
    """Create ``folder`` (and missing parents) for the block; if the block fails, remove what was created,
    so that a failed run leaves no new folders behind."""
    missing = []
    current = folder
    while not current.exists():
        missing.append(current)
        current = current.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise BadInput(f"cannot create the folder {folder}: {err.strerror}") from None
    try:
        yield
    except BaseException:
        for created in missing:  # deepest first
            try:
                created.rmdir()
            except OSError:
                break
        raise


# Staging folders are named .<output>.<pid>.<random>.partial beside the output: the pid tells a later run
# whether the run that made one is gone (killed), so that it can be cleaned up.
_STAGING_RE = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[^.]+\.partial$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_staging(output: Path) -> list[Path]:
    """Remove staging folders of ``output`` left by runs that were killed; returns what was removed."""
    removed = []
    if not output.parent.is_dir():
        return removed
    for entry in output.parent.iterdir():
        match = _STAGING_RE.match(entry.name)
        if match and match.group("name") == output.name and not _alive(int(match.group("pid"))):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


@contextmanager
def staged_files(output: Path) -> Iterator[Path]:
    """Yield a private folder beside ``output``; files written there move into output's folder on success.

    A missing output folder is created, and removed again if the run fails; stale staging folders of the same
    output (from killed runs) are removed first.
    """
    with created_folders(output.parent):
        remove_stale_staging(output)
        staging = Path(
            tempfile.mkdtemp(prefix=f".{output.name}.{os.getpid()}.", suffix=".partial", dir=output.parent)
        )
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
