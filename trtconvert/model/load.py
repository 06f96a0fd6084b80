"""Stage `load`: read an ONNX model, its external data checked and kept inside the model's folder.

The input file is only ever read. Problems with the file are BadInput errors that say what to fix.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Collection
from pathlib import Path

import onnx
from onnx import external_data_helper

from trtconvert import log
from trtconvert.errors import BadInput
from trtconvert.model.info import all_tensors

# Initializers at least this large may stay in their external data file while the graph is worked on;
# smaller ones are read at once, because shape inference and the rewrite rules read small constants
# (shapes, scales, axes) and onnx cannot read external data for a model held in memory.
LARGE_TENSOR_BYTES = 1 << 20


def external_data_files(model: onnx.ModelProto, model_path: Path) -> set[Path]:
    """Check every external data reference and return the files they name.

    A reference must stay inside the model's folder (a model from elsewhere must not make us read
    /etc/shadow), and its file must exist and be long enough for the offset and length it claims.
    """
    base = model_path.resolve().parent
    files: set[Path] = set()
    for tensor in all_tensors(model):
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        info = {entry.key: entry.value for entry in tensor.external_data}
        location = info.get("location", "")
        target = (base / location).resolve()
        if not location or os.path.isabs(location) or not target.is_relative_to(base):
            raise BadInput(
                f"tensor '{tensor.name}' points its external data at '{location}', outside the model's folder "
                f"{base}; keep external data files beside the model and re-save it with relative locations"
            )
        if target.exists() and not target.is_file():
            raise BadInput(
                f"external data file '{location}' of tensor '{tensor.name}' is not a regular file; put the data "
                f"file itself next to {model_path.name} in {base}"
            )
        if not target.is_file():
            raise BadInput(
                f"external data file '{location}' of tensor '{tensor.name}' is missing; copy it next to "
                f"{model_path.name} in {base}"
            )
        end = int(info.get("offset", 0)) + int(info.get("length", 0))
        if end > target.stat().st_size:
            raise BadInput(
                f"external data file '{location}' is shorter than tensor '{tensor.name}' needs "
                f"({target.stat().st_size} < {end} bytes); the file is truncated, copy it again"
            )
        files.add(target)
    return files


def require_regular_file(path: Path, what: str) -> None:
    """Refuse a path that is missing, a folder, or not a regular file (a FIFO would block reading forever)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise BadInput(f"{what} not found: {path}; check the path") from None
    except OSError as err:
        raise BadInput(f"{what} {path}: {err.strerror}; check the path and its permissions") from None
    if stat.S_ISDIR(mode):
        raise BadInput(f"{path} is a directory; give the path of the file")
    if not stat.S_ISREG(mode):
        raise BadInput(
            f"{what} {path} is not a regular file (a FIFO, socket or device); give the file itself"
        )


def read_graph(path: Path) -> onnx.ModelProto:
    """Parse the model file without its external data; cheap even for very large models."""
    require_regular_file(path, "model file")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as err:  # protobuf and onnx raise several types for damaged files
        raise BadInput(
            f"{path} is not a readable ONNX model ({err}); check the file is complete, or re-export it"
        ) from None
    if model.ir_version < 1 or not model.opset_import or not model.HasField("graph"):
        raise BadInput(
            f"{path} does not look like an ONNX model (no IR version, opset or graph); check the file is complete"
        )
    return model


def load_model(path: Path, load_weights: bool = True) -> onnx.ModelProto:
    """Load and check a model; with ``load_weights`` its external data is read into memory."""
    start = time.perf_counter()
    model = read_graph(path)
    files = external_data_files(model, path)
    try:
        # The path form of the checker handles models over 2 GB and reads no weights.
        onnx.checker.check_model(str(path))
    except onnx.checker.ValidationError as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise BadInput(f"{path} fails the ONNX checker: {first_line}; fix or re-export the model") from None
    if load_weights and files:
        external_data_helper.load_external_data_for_model(model, str(path.resolve().parent))
    detail = f"{path.name}: {len(model.graph.node)} nodes, IR {model.ir_version}"
    if files:
        detail += f", external data in {len(files)} file(s)"
    log.stage("load", time.perf_counter() - start, detail)
    return model


def large_initializers_on_disk(model: onnx.ModelProto, min_bytes: int = LARGE_TENSOR_BYTES) -> set[str]:
    """Names of the main graph's initializers whose data is in an external file, ``min_bytes`` or more."""
    names = set()
    for tensor in model.graph.initializer:
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            info = {entry.key: entry.value for entry in tensor.external_data}
            if int(info.get("length", min_bytes)) >= min_bytes:
                names.add(tensor.name)
    return names


def read_weights(model: onnx.ModelProto, base_dir: Path, leave: Collection[str] = ()) -> None:
    """Read the external data of every tensor except those named in ``leave`` into the model.

    ``base_dir`` is the folder of the model file, which external_data_files has already checked. A tensor
    read no longer refers to its file, as after onnx.load.
    """
    for tensor in all_tensors(model):
        if tensor.data_location == onnx.TensorProto.EXTERNAL and tensor.name not in leave:
            external_data_helper.load_external_data_for_tensor(tensor, str(base_dir))
