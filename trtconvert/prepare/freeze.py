"""Stage `freeze`: inputs given a fixed value (--freeze NAME=VALUE) become constants before folding.

Real callers fix some inputs (a sample rate, a mode flag), and control flow that depends on them then folds
away, leaving TensorRT a graph it can build. The value has the input's type; a number fills the input's shape,
which must then be static; a .npy file must have a shape the input accepts. `verify` feeds the same values to the
original model, and the plan's sidecar records them.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence

import numpy as np
import onnx
from onnx import numpy_helper

from trtconvert.checks.compare import given_values
from trtconvert.errors import BadInput, shown
from trtconvert.model.info import GraphTensor


def frozen_values(freeze: Mapping[str, str], inputs: Sequence[GraphTensor]) -> dict[str, np.ndarray]:
    """The --freeze values as arrays of the inputs' types and final shapes; BadInput for what cannot be."""
    arrays = given_values(freeze, inputs, flag="--freeze")
    by_name = {i.name: i for i in inputs}
    frozen = {}
    for name, array in arrays.items():
        model_input = by_name[name]
        if array.ndim == 0 and model_input.dims:
            if not model_input.is_static:
                raise BadInput(
                    f"--freeze {name}: a number fills the input's shape, but {model_input.dims_text()} is not "
                    "static; give the value as a .npy file of the shape to freeze"
                )
            array = np.full(tuple(int(d) for d in model_input.dims), array, dtype=array.dtype)
        elif model_input.shape_known and (
            array.ndim != len(model_input.dims)
            or any(isinstance(d, int) and d != n for d, n in zip(model_input.dims, array.shape, strict=True))
        ):
            raise BadInput(
                f"--freeze {name}: the value has shape {list(array.shape)} but the input is {model_input.dims_text()}"
            )
        frozen[name] = array
    return frozen


def freeze_inputs(model: onnx.ModelProto, values: Mapping[str, np.ndarray]) -> None:
    """Turn the named graph inputs into initializers holding ``values``, in place."""
    kept = [value for value in model.graph.input if value.name not in values]
    del model.graph.input[:]
    model.graph.input.extend(kept)
    for name, array in values.items():
        model.graph.initializer.append(numpy_helper.from_array(np.asarray(array), name))


# Beyond this many elements (not all one number) the sidecar keeps the values' sha256 instead of the values:
# a frozen .npy can be megabytes, and the sidecar is read whole by every inspect.
FROZEN_VALUES_KEPT = 1024
_MAX_ELEMENTS = 2**31 - 1  # TensorRT's limit on a tensor's element count


def frozen_sha256(array: np.ndarray) -> str:
    """sha256 of the values' little-endian bytes in C order."""
    array = np.asarray(array)
    return hashlib.sha256(
        np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
    ).hexdigest()


def describe_frozen(values: Mapping[str, np.ndarray]) -> dict[str, object]:
    """The frozen values for reports and the sidecar: a number where the value is one repeated number, the flat
    list up to FROZEN_VALUES_KEPT elements, else only the values' sha256."""
    described: dict[str, object] = {}
    for name, array in values.items():
        array = np.asarray(array)
        flat = array.reshape(-1)
        entry: dict[str, object] = {"shape": list(array.shape), "dtype": str(array.dtype)}
        if flat.size > 0 and bool(np.all(flat == flat[0])):
            entry["value"] = flat[0].item()
        elif flat.size <= FROZEN_VALUES_KEPT:
            entry["value"] = flat.tolist()
        else:
            entry["sha256"] = frozen_sha256(array)
        described[name] = entry
    return described


def frozen_entry_problem(entry: Mapping) -> str | None:
    """What makes a sidecar's `frozen` entry unusable, or None. ``entry`` has a list of ints `shape` and a string
    `dtype`, already checked."""
    try:
        dtype = np.dtype(entry["dtype"])
    except TypeError:
        return f"dtype {shown(entry['dtype'], 40)} is not a numpy type"
    if dtype.kind not in "biuf":
        return f"dtype {shown(entry['dtype'], 40)} is not a number type"
    size = math.prod(entry["shape"])
    if size > _MAX_ELEMENTS:
        return f"shape {shown(entry['shape'], 40)} has more than 2^31 - 1 elements"
    if "value" not in entry:
        digest = entry.get("sha256")
        if not (isinstance(digest, str) and len(digest) == 64):
            return "neither 'value' nor a 64-digit 'sha256'"
        return None
    value = entry["value"]
    numbers = value if isinstance(value, list) else [value]
    if not all(isinstance(n, (bool, int, float)) for n in numbers):
        return f"value {shown(value, 40)} is not a number or a list of numbers"
    try:
        array = np.asarray(value, dtype=dtype)
    except (OverflowError, ValueError):
        return f"value {shown(value, 40)} does not fit {dtype}"
    if array.ndim != 0 and array.size != size:
        return f"{array.size} values for shape {shown(entry['shape'], 40)}"
    return None


def values_from_description(described: Mapping[str, Mapping]) -> dict[str, np.ndarray]:
    """Arrays back from describe_frozen's form (a sidecar's `frozen` entry); entries kept as a sha256 are left
    out."""
    arrays = {}
    for name, entry in described.items():
        if "value" not in entry:
            continue
        shape = tuple(entry.get("shape", []))
        value = np.asarray(entry["value"], dtype=entry.get("dtype", "float32"))
        arrays[name] = np.broadcast_to(value, shape).copy() if value.ndim == 0 else value.reshape(shape)
    return arrays


def frozen_feed(described: Mapping[str, Mapping], given: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The frozen values verify feeds the original model. A value kept in the sidecar wins and --input may only
    repeat it; one kept as a sha256 must come from --input, and must match it."""
    arrays = values_from_description(described)
    for name, value in arrays.items():
        if name in given and not np.array_equal(np.broadcast_to(given[name], value.shape), value):
            raise BadInput(
                f"--input {name}: the plan was built with {name} frozen to another value; drop --input {name}"
            )
    for name, entry in described.items():
        if name in arrays:
            continue
        shape, count = tuple(entry["shape"]), math.prod(entry["shape"])
        if name not in given:
            raise BadInput(
                f"the plan was built with {name} frozen to {count} values, too many for its sidecar to hold; "
                f"give the same values with --input {name}=FILE.npy"
            )
        try:
            value = np.broadcast_to(given[name], shape).astype(entry["dtype"])
        except ValueError:
            value = None
        if value is None or frozen_sha256(value) != entry["sha256"]:
            raise BadInput(
                f"--input {name}: the plan was built with {name} frozen to other values (their sha256 differs); "
                "give the values it was built with"
            )
        arrays[name] = value
    return arrays
