"""Names of dynamic dims: which are placeholders, which tie axes together, and the dims profiles fix.

TensorRT treats the axes of network inputs that share a dim name as one dimension: a profile must give them one
value. Exporters write names that mean nothing (`?`, `-1`, `None`, `unk__12`, an empty name) and reuse them on
axes they never meant to tie, so those placeholders are made unique per axis in the prepared model. Genuine
shared names (`batch` on two inputs) stay tied, and a profile that gives tied axes different values is refused
before anything slow runs, with a corrected profile to paste.

Where every profile fixes a dynamic dim to one value, the prepared model gets that value as a static dim, so
that folding can compute what depends on it (exporters branch on `batch == 1` with If nodes, which TensorRT
cannot build when the branches give different shapes).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # annotations only: importing onnx costs most of a second, and --help needs this module
    import onnx

_PLACEHOLDER_RE = re.compile(r"^(|\?|\*|-?\d+|none|null|nil|unknown|unk_*\d*|dynamic|dyn|-)$", re.IGNORECASE)


class Tensor(Protocol):
    name: str
    dims: tuple


def is_placeholder(name: str) -> bool:
    """A dim name that says only "unknown": exporters reuse these without meaning to tie axes."""
    return bool(_PLACEHOLDER_RE.match(name.strip()))


Axis = tuple[str, int]  # (input name, axis)


def tied_axes(inputs: Sequence[Tensor]) -> dict[str, list[Axis]]:
    """Dim names that appear on more than one axis of the inputs, with those axes (placeholders excluded)."""
    seen: dict[str, list[Axis]] = {}
    for tensor in inputs:
        for axis, dim in enumerate(tensor.dims):
            if isinstance(dim, str) and not is_placeholder(dim):
                seen.setdefault(dim, []).append((tensor.name, axis))
    return {name: axes for name, axes in seen.items() if len(axes) > 1}


def _unique_name(tensor: str, axis: int, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_]+", "_", tensor).strip("_") or "input"
    name, suffix = f"{base}_dim{axis}", 1
    while name in taken:
        suffix += 1
        name = f"{base}_dim{axis}_{suffix}"
    taken.add(name)
    return name


def make_placeholders_unique(model: onnx.ModelProto) -> list[str]:
    """Give every placeholder dim name of the graph's inputs and outputs a name of its own, in place.

    Returns one note per renamed axis ("x[2] '?' -> x_dim2").
    """
    values = [*model.graph.input, *model.graph.output]
    taken = {d.dim_param for v in values for d in v.type.tensor_type.shape.dim if d.HasField("dim_param")}
    notes = []
    initializers = {t.name for t in model.graph.initializer}
    for value in values:
        if value.name in initializers:
            continue
        for axis, dim in enumerate(value.type.tensor_type.shape.dim):
            if dim.HasField("dim_param") and is_placeholder(dim.dim_param):
                old = dim.dim_param
                dim.dim_param = _unique_name(value.name, axis, taken)
                notes.append(f"{value.name}[{axis}] '{old}' -> {dim.dim_param}")
    return notes


def fixed_dims(profiles: Sequence[Mapping], inputs: Sequence[Tensor]) -> dict[Axis, int]:
    """Dynamic axes that every profile fixes to one and the same value (min = opt = max everywhere)."""
    fixed: dict[Axis, int] = {}
    if not profiles:
        return fixed
    for tensor in inputs:
        for axis, dim in enumerate(tensor.dims):
            if isinstance(dim, int):
                continue
            values = set()
            for profile in profiles:
                shape_range = profile.get(tensor.name)
                if shape_range is None or axis >= len(shape_range.opt):
                    values = set()
                    break
                values.update((shape_range.min[axis], shape_range.opt[axis], shape_range.max[axis]))
            if len(values) == 1:
                fixed[(tensor.name, axis)] = values.pop()
    return fixed


def pin_dims(model: onnx.ModelProto, fixed: Mapping[Axis, int]) -> list[str]:
    """Write the fixed values into the graph inputs' dims, in place; one note per pinned axis."""
    notes = []
    for value in model.graph.input:
        for axis, dim in enumerate(value.type.tensor_type.shape.dim):
            pinned = fixed.get((value.name, axis))
            if pinned is not None and not (dim.HasField("dim_value") and dim.dim_value == pinned):
                notes.append(f"{value.name}[{axis}]={pinned}")
                dim.dim_value = pinned
    return notes


def _inference_error(model: onnx.ModelProto) -> str | None:
    """onnx's strict shape inference over every graph, subgraphs included: the first contradiction, or None."""
    import onnx

    try:
        onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    except (onnx.shape_inference.InferenceError, onnx.checker.ValidationError) as err:
        return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    except Exception:  # noqa: BLE001 - an op inference cannot handle says nothing about the pinned dims
        return None
    return None


def pin_dims_where_consistent(
    model: onnx.ModelProto, fixed: Mapping[Axis, int]
) -> tuple[list[str], list[str]]:
    """pin_dims, but never where a static value contradicts what a subgraph declares (an If branch exported
    with another batch size): such an axis stays dynamic. Returns the pinned notes and the axes left dynamic,
    each with the contradiction."""
    import onnx

    if not fixed:
        return [], []
    before = _inference_error(model)
    trial = onnx.ModelProto()
    trial.CopyFrom(model)
    if pin_dims(trial, fixed) == [] or _inference_error(trial) in (None, before):
        return pin_dims(model, fixed), []
    kept: dict[Axis, int] = {}
    left = []
    for axis, value in fixed.items():
        trial.CopyFrom(model)
        pin_dims(trial, {**kept, axis: value})
        problem = _inference_error(trial)
        if problem in (None, before):
            kept[axis] = value
        else:
            left.append(f"{axis[0]}[{axis[1]}]={value} ({problem[:200]})")
    return pin_dims(model, kept), left
