"""Stage `load`: read an ONNX model, its external data checked and kept inside the model's folder.

The input file is only ever read. Problems with the file are BadInput errors that say what to fix.
"""

from __future__ import annotations

import math
import os
import stat
import time
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import onnx
from onnx import external_data_helper

from trtconvert import log
from trtconvert.errors import BadInput, clipped, shown
from trtconvert.model.info import all_tensors
from trtconvert.numbers import whole_number
from trtconvert.paths import resolved_path

# Initializers at least this large may stay in their external data file while the graph is worked on;
# smaller ones are read at once, because shape inference and the rewrite rules read small constants
# (shapes, scales, axes) and onnx cannot read external data for a model held in memory.
LARGE_TENSOR_BYTES = 1 << 20


@dataclass(frozen=True)
class ExternalEntry:
    """One tensor's external-data reference, checked: a file inside the model's folder, and where its bytes are."""

    file: Path
    offset: int
    length: int


def _expected_bytes(tensor: onnx.TensorProto) -> int | None:
    """The bytes a tensor of fixed-size elements holds: its element count times the element size."""
    if tensor.data_type in (onnx.TensorProto.STRING, onnx.TensorProto.UNDEFINED):
        return None
    try:
        itemsize = onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize
    except (KeyError, ValueError, TypeError):
        return None
    if tensor.data_type in _SUB_BYTE_TYPES:
        return (math.prod(tensor.dims) * _SUB_BYTE_TYPES[tensor.data_type] + 7) // 8
    return math.prod(tensor.dims) * itemsize


_SUB_BYTE_TYPES = {
    getattr(onnx.TensorProto, name): bits
    for name, bits in (("INT4", 4), ("UINT4", 4), ("FLOAT4E2M1", 4))
    if hasattr(onnx.TensorProto, name)
}


# The keys of an external-data entry that ONNX defines (onnx.external_data_helper.ExternalDataInfo).
EXTERNAL_DATA_KEYS = frozenset({"location", "offset", "length", "checksum", "basepath"})


def external_entry(tensor: onnx.TensorProto, model_path: Path) -> ExternalEntry:
    """The one reader of an external-data reference: location, offset and length checked against the file.

    A reference must stay inside the model's folder (a model from elsewhere must not make us read /etc/shadow),
    offset and length must be whole numbers of at least 0, and the file must hold every byte the tensor's shape
    and type need, whether or not a length is written.
    """
    base = resolved_path(model_path, "model file").parent
    name = clipped(tensor.name)
    info = {entry.key: entry.value for entry in tensor.external_data}
    if len(info) != len(tensor.external_data):
        keys = [entry.key for entry in tensor.external_data]
        twice = next(key for index, key in enumerate(keys) if key in keys[:index])
        # onnx would take the last of the two silently: which bytes are meant is not ours to guess.
        raise BadInput(
            f"tensor '{name}' gives its external data {shown(twice)} twice; the model is damaged, re-save it"
        )
    unknown = sorted(set(info) - EXTERNAL_DATA_KEYS)
    if unknown:
        # onnx skips keys it does not know with a warning: data written with a meaning it ignores (compressed,
        # encrypted) would be read as raw bytes.
        raise BadInput(
            f"tensor '{name}' gives its external data the key {shown(unknown[0])}, which ONNX does not define "
            f"(it defines {', '.join(sorted(EXTERNAL_DATA_KEYS))}); re-save the model with onnx"
        )
    location = info.get("location", "")
    if "\x00" in location:
        raise BadInput(
            f"tensor '{name}' names its external data file {shown(location)}, a path with a NUL byte; re-save the "
            "model with plain file names"
        )
    target = resolved_path(base / location, f"external data file of tensor '{name}'")
    if not location or os.path.isabs(location) or not target.is_relative_to(base):
        raise BadInput(
            f"tensor '{name}' points its external data at {shown(location)}, outside the model's folder "
            f"{base}; keep external data files beside the model and re-save it with relative locations"
        )
    numbers = {}
    for key in ("offset", "length"):
        if key in info:
            numbers[key] = whole_number(info[key], f"tensor '{name}' external data {key}")
            if numbers[key] < 0:
                raise BadInput(
                    f"tensor '{name}' external data {key} is {numbers[key]}; it must be at least 0, re-save the model"
                )
    expected = _expected_bytes(tensor)
    length = numbers.get("length", expected)
    if expected is not None and length != expected:
        raise BadInput(
            f"tensor '{name}' declares {length} bytes of external data, but its shape {list(tensor.dims)} needs "
            f"{expected}; the model is damaged, re-save it"
        )
    if target.exists() and not target.is_file():
        raise BadInput(
            f"external data file {shown(location)} of tensor '{name}' is not a regular file; put the data "
            f"file itself next to {model_path.name} in {base}"
        )
    if not target.is_file():
        raise BadInput(
            f"external data file {shown(location)} of tensor '{name}' is missing; copy it next to "
            f"{model_path.name} in {base}"
        )
    offset = numbers.get("offset", 0)
    end = offset + (length or 0)
    size = target.stat().st_size
    if end > size:
        raise BadInput(
            f"external data file {shown(location)} is shorter than tensor '{name}' needs "
            f"({size} < {end} bytes); the file is truncated, copy it again"
        )
    return ExternalEntry(target, offset, length if length is not None else size - offset)


def external_data_files(model: onnx.ModelProto, model_path: Path) -> set[Path]:
    """Check every external data reference (external_entry) and return the files they name."""
    return {
        external_entry(tensor, model_path).file
        for tensor in all_tensors(model)
        if tensor.data_location == onnx.TensorProto.EXTERNAL
    }


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
    check_interface(model, path)
    return model


# What a TensorRT engine's bindings can be: tensors of fixed-size numbers.
_BINDABLE = {
    onnx.TensorProto.FLOAT,
    onnx.TensorProto.FLOAT16,
    onnx.TensorProto.BFLOAT16,
    onnx.TensorProto.DOUBLE,
    onnx.TensorProto.INT8,
    onnx.TensorProto.UINT8,
    onnx.TensorProto.INT16,
    onnx.TensorProto.UINT16,
    onnx.TensorProto.INT32,
    onnx.TensorProto.UINT32,
    onnx.TensorProto.INT64,
    onnx.TensorProto.UINT64,
    onnx.TensorProto.BOOL,
}


def check_interface(model: onnx.ModelProto, path: Path) -> None:
    """The one check of what the graph exposes, before any stage reads it: names that are text, opsets that this
    onnx knows, at least one output, each input and output listed once, and inputs and outputs that are tensors
    of numbers (an engine binds nothing else: no sequences, optionals, maps, sparse tensors or strings)."""
    _check_text_names(model, path)
    if model.ir_version > onnx.IR_VERSION:
        raise BadInput(
            f"{path} has IR version {model.ir_version}, newer than any known here (up to {onnx.IR_VERSION}); "
            "re-export it with an older exporter, or upgrade onnx"
        )
    known = {"": onnx.defs.onnx_opset_version()}
    for domain, version in onnx.helper.OP_SET_ID_VERSION_MAP:
        known[domain] = max(known.get(domain, 0), version)
    for opset in model.opset_import:
        newest = known.get(opset.domain)
        if newest is not None and opset.version > newest:
            raise BadInput(
                f"{path} uses opset {opset.version} of {opset.domain or 'ai.onnx'}, newer than any known here "
                f"(up to {newest}); re-export the model at opset {newest} or lower"
            )
        if opset.version < 1 and opset.domain in ("", "ai.onnx"):
            raise BadInput(f"{path} declares opset {opset.version}; re-export the model with a real opset")
    if not model.graph.output:
        raise BadInput(
            f"{path} has no graph outputs, so an engine would compute nothing; re-export it with outputs"
        )
    initializers = {i.name for i in model.graph.initializer}
    for kind, values in (("input", model.graph.input), ("output", model.graph.output)):
        seen: set[str] = set()
        twice = next((v.name for v in values if v.name in seen or seen.add(v.name)), None)
        if twice is not None:
            # An engine binds tensors by name: two graph outputs (or inputs) of one name are one binding.
            raise BadInput(
                f"{path.name} lists the graph {kind} '{clipped(twice)}' twice; an engine binds each name once, so "
                f"re-export the model with each {kind} listed once"
            )
        for value in values:
            if kind == "input" and value.name in initializers:
                continue
            _check_bindable(value, kind, path)


def _check_bindable(value: onnx.ValueInfoProto, kind: str, path: Path) -> None:
    which = value.type.WhichOneof("value")
    name = clipped(value.name)
    if which != "tensor_type":
        what = {
            "sequence_type": "a sequence",
            "optional_type": "an optional",
            "map_type": "a map",
            "sparse_tensor_type": "a sparse tensor",
        }.get(which or "", "of no type")
        raise BadInput(
            f"{kind} '{name}' of {path.name} is {what}; TensorRT binds only tensors of numbers, so re-export the model "
            f"with a tensor {kind} there"
        )
    elem_type = value.type.tensor_type.elem_type
    if elem_type not in _BINDABLE:
        type_name = (
            onnx.TensorProto.DataType.Name(elem_type)
            if elem_type in onnx.TensorProto.DataType.values()
            else elem_type
        )
        raise BadInput(
            f"{kind} '{name}' of {path.name} is a tensor of {type_name}; TensorRT binds only tensors of numbers "
            f"and bools, so re-export the model with a numeric {kind} there"
        )


def _check_text_names(model: onnx.ModelProto, path: Path) -> None:
    """protobuf hands back a text field that is not UTF-8 as bytes, and later stages decode string attributes:
    either trips every message and lookup after it. Every text field of the model (tensor data aside) and every
    string attribute must be UTF-8."""
    for value in _text_values(model):
        if isinstance(value, bytes):
            try:
                value.decode("utf-8")
                continue
            except UnicodeDecodeError:
                pass
            raise BadInput(
                f"{path} holds a name or text that is not UTF-8 ({shown(value)}); ONNX text is UTF-8, re-export "
                "the model"
            )


def _text_values(message) -> Iterator[object]:  # noqa: ANN001 - any protobuf message of the model
    from google.protobuf.descriptor import FieldDescriptor

    if isinstance(message, onnx.TensorProto):
        yield message.name  # its data is not text
        return
    for descriptor, value in message.ListFields():
        repeated = value if isinstance(value, Iterable) and not isinstance(value, (str, bytes)) else [value]
        if descriptor.type == FieldDescriptor.TYPE_MESSAGE:
            for item in repeated:
                yield from _text_values(item)
        elif descriptor.type == FieldDescriptor.TYPE_STRING or (
            isinstance(message, onnx.AttributeProto) and descriptor.name in ("s", "strings")
        ):
            yield from repeated


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
            expected = _expected_bytes(tensor)
            if expected is None or expected >= min_bytes:
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
