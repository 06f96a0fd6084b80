"""Stage `freeze`: inputs given a fixed value (--freeze NAME=VALUE) become constants before folding.

Real callers fix some inputs (a sample rate, a mode flag), and control flow that depends on them then folds
away, leaving TensorRT a graph it can build. The value has the input's type; a number fills the input's shape,
which must then be static; a .npy file must have a shape the input accepts. `verify` feeds the same values to the
original model, and the plan's sidecar records them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import onnx
from onnx import numpy_helper

from trtconvert.errors import BadInput
from trtconvert.model_info import GraphTensor
from trtconvert.verify_cpu import given_values


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


def describe_frozen(values: Mapping[str, np.ndarray]) -> dict[str, object]:
    """The frozen values for reports and the sidecar: a number where the value is one repeated number."""
    described: dict[str, object] = {}
    for name, array in values.items():
        flat = np.asarray(array).reshape(-1)
        single = flat.size > 0 and bool(np.all(flat == flat[0]))
        described[name] = {
            "shape": list(np.shape(array)),
            "dtype": str(np.asarray(array).dtype),
            "value": flat[0].item() if single else flat.tolist(),
        }
    return described


def values_from_description(described: Mapping[str, Mapping]) -> dict[str, np.ndarray]:
    """Arrays back from describe_frozen's form (a sidecar's `frozen` entry)."""
    arrays = {}
    for name, entry in described.items():
        shape = tuple(entry.get("shape", []))
        value = np.asarray(entry["value"], dtype=entry.get("dtype", "float32"))
        arrays[name] = np.broadcast_to(value, shape).copy() if value.ndim == 0 else value.reshape(shape)
    return arrays
