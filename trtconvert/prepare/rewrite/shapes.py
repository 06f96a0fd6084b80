"""Trace a small integer vector (Resize sizes) back through shape arithmetic to where its values come from.

Each entry of the vector resolves to a constant, to one dimension of some tensor (``Dim``), or to a value only
known at runtime (``Runtime``). The tracer follows the node kinds that exporters and constant folding leave in
size computations (Shape, Slice, Gather, Concat, Cast, Unsqueeze, Squeeze, Reshape, Identity, Constant) and
gives up, entry by entry, at anything else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import onnx
import onnx_graphsurgeon as gs

from trtconvert.model.info import is_default_domain
from trtconvert.model.light import shape_inference_copy

Dims = list[int | str | None]


@dataclass(frozen=True)
class Const:
    value: int


@dataclass(frozen=True)
class Dim:
    """Dimension ``axis`` of tensor ``tensor``; ``symbol`` is its symbolic name where shape inference has one."""

    tensor: str
    axis: int
    symbol: str | None = None


@dataclass(frozen=True)
class Runtime:
    """A value computed at runtime from something the tracer does not follow."""


Entry = Const | Dim | Runtime


def infer_static_shapes(model: onnx.ModelProto) -> dict[str, Dims]:
    """Shapes of every tensor that ONNX shape inference can type: ints for static dims, strings for symbols."""
    try:
        inferred = onnx.shape_inference.infer_shapes(
            shape_inference_copy(model), strict_mode=False, data_prop=True
        )
    except Exception:  # inference is an aid; a model it cannot handle still gets traced from its value_info
        inferred = model
    graph = inferred.graph
    shapes: dict[str, Dims] = {}
    for info in list(graph.input) + list(graph.value_info) + list(graph.output):
        tensor_type = info.type.tensor_type
        if not tensor_type.HasField("shape"):
            continue
        dims: Dims = []
        for d in tensor_type.shape.dim:
            if d.HasField("dim_value"):
                dims.append(int(d.dim_value))
            elif d.HasField("dim_param"):
                dims.append(d.dim_param)
            else:
                dims.append(None)
        shapes[info.name] = dims
    for init in graph.initializer:
        shapes[init.name] = [int(d) for d in init.dims]
    return shapes


def largest_input_shapes(model: onnx.ModelProto, shapes: Mapping[str, Sequence[int]]) -> dict[str, Dims]:
    """:func:`infer_static_shapes` as if the graph inputs had the given static shapes (an optimization profile's
    largest), for checks that need an upper bound on a dynamic length. The model is left as it was."""
    saved = {}
    for graph_input in model.graph.input:
        shape = shapes.get(graph_input.name)
        tensor_type = graph_input.type.tensor_type
        if shape is None or not tensor_type.HasField("shape") or len(tensor_type.shape.dim) != len(shape):
            continue
        saved[graph_input.name] = onnx.TypeProto()
        saved[graph_input.name].CopyFrom(graph_input.type)
        for dim, length in zip(tensor_type.shape.dim, shape, strict=True):
            dim.Clear()
            dim.dim_value = int(length)
    try:
        return infer_static_shapes(model) if saved else {}
    finally:
        for graph_input in model.graph.input:
            if graph_input.name in saved:
                graph_input.type.CopyFrom(saved[graph_input.name])


def constant_value(tensor: gs.Tensor, base_dir: str | None = None) -> np.ndarray | None:
    """The value of an initializer or of a Constant node's output; None for anything computed.

    Initializers kept in external data that was not loaded are read from ``base_dir`` (the model's folder);
    without it they count as unknown.
    """
    if isinstance(tensor, gs.Constant):
        lazy = getattr(tensor, "_values", None)
        proto = getattr(lazy, "tensor", None)
        if isinstance(proto, onnx.TensorProto) and onnx.external_data_helper.uses_external_data(proto):
            if base_dir is None:
                return None
            try:
                return np.asarray(onnx.numpy_helper.to_array(proto, base_dir))
            except Exception:  # a missing or unreadable data file leaves the value unknown
                return None
        return np.asarray(tensor.values)
    if (
        len(tensor.inputs) == 1
        and tensor.inputs[0].op == "Constant"
        and is_default_domain(tensor.inputs[0].domain)
    ):
        attrs = tensor.inputs[0].attrs
        if "value" in attrs:
            value = attrs["value"]
            return np.asarray(value.values if isinstance(value, gs.Constant) else value)
        for key in ("value_int", "value_float"):
            if key in attrs:
                return np.asarray(attrs[key])
        for key in ("value_ints", "value_floats"):
            if key in attrs:
                return np.asarray(list(attrs[key]))
    return None


class ShapeTracer:
    """Resolves integer vectors of one graph; ``shapes`` come from :func:`infer_static_shapes`."""

    def __init__(
        self,
        shapes: dict[str, Dims],
        base_dir: str | None = None,
        largest: Callable[[], dict[str, Dims]] | None = None,
    ) -> None:
        self.shapes = shapes
        self.base_dir = base_dir
        self._largest = largest
        self._largest_shapes: dict[str, Dims] | None = None

    def largest_length(self, tensor: gs.Tensor, axis: int) -> int | None:
        """The length of a dynamic axis at the largest shapes the profiles allow, if known; computed on first use,
        since it runs shape inference once more."""
        if self._largest is None:
            return None
        if self._largest_shapes is None:
            self._largest_shapes = self._largest()
        dims = self._largest_shapes.get(tensor.name)
        if dims is None or not -len(dims) <= axis < len(dims):
            return None
        length = dims[axis]
        return length if isinstance(length, int) and length >= 0 else None

    def constant(self, tensor: gs.Tensor) -> np.ndarray | None:
        return constant_value(tensor, self.base_dir)

    def rank(self, tensor: gs.Tensor) -> int | None:
        dims = self.dims(tensor)
        return None if dims is None else len(dims)

    def dims(self, tensor: gs.Tensor) -> Dims | None:
        if tensor.name in self.shapes:
            return self.shapes[tensor.name]
        if tensor.shape is not None:
            return [d if isinstance(d, (int, str)) or d is None else None for d in tensor.shape]
        return None

    def dim_entry(self, tensor: gs.Tensor, axis: int) -> Entry:
        dims = self.dims(tensor)
        if dims is not None and 0 <= axis < len(dims):
            d = dims[axis]
            if isinstance(d, int) and d >= 0:
                return Const(d)
            if isinstance(d, str) and d:
                return Dim(tensor.name, axis, d)
        return Dim(tensor.name, axis, None)

    def resolve(self, tensor: gs.Tensor, depth: int = 0) -> list[Entry] | None:
        """Entries of a 0-D or 1-D integer tensor, or None where even its length is unknown."""
        value = self.constant(tensor)
        if value is not None:
            if value.ndim > 1 or value.dtype.kind not in "iuf":
                return None
            return [Const(int(v)) for v in value.reshape(-1)]
        if depth > 64 or len(tensor.inputs) != 1:
            return self._runtime(tensor)
        node = tensor.inputs[0]
        if not is_default_domain(node.domain):
            return self._runtime(tensor)
        handler = getattr(self, f"_op_{node.op}", None)
        result = handler(node, depth + 1) if handler is not None else None
        return result if result is not None else self._runtime(tensor)

    def _runtime(self, tensor: gs.Tensor) -> list[Entry] | None:
        dims = self.dims(tensor)
        if dims is None or len(dims) > 1:
            return None
        if len(dims) == 0:
            return [Runtime()]
        return [Runtime()] * dims[0] if isinstance(dims[0], int) else None

    def _op_Shape(self, node: gs.Node, depth: int) -> list[Entry] | None:
        rank = self.rank(node.inputs[0])
        if rank is None:
            return None
        entries = [self.dim_entry(node.inputs[0], axis) for axis in range(rank)]
        start = int(node.attrs.get("start", 0))
        end = node.attrs.get("end")
        return entries[slice(start, None if end is None else int(end))]

    def _op_Slice(self, node: gs.Node, depth: int) -> list[Entry] | None:
        data = self.resolve(node.inputs[0], depth)
        if data is None:
            return None
        if len(node.inputs) >= 3:
            parts = [self.constant(t) if t.name else None for t in node.inputs[1:5]]
            if any(p is None for p in parts[:2]) or any(
                p is None for p, t in zip(parts[2:], node.inputs[3:5], strict=False) if t.name
            ):
                return None
            starts, ends = parts[0], parts[1]
            axes = parts[2] if len(parts) > 2 and parts[2] is not None else None
            steps = parts[3] if len(parts) > 3 and parts[3] is not None else None
        else:  # opset < 10 keeps them as attributes
            starts = np.asarray(node.attrs.get("starts", []))
            ends = np.asarray(node.attrs.get("ends", []))
            axes = np.asarray(node.attrs["axes"]) if "axes" in node.attrs else None
            steps = None
        if starts.size != 1 or ends.size != 1:
            return None
        if axes is not None and int(np.asarray(axes).reshape(-1)[0]) not in (0, -1):
            return None
        step = 1 if steps is None else int(np.asarray(steps).reshape(-1)[0])
        if step < 1:
            return None
        n = len(data)
        start, end = int(starts.reshape(-1)[0]), int(ends.reshape(-1)[0])
        # ONNX clamps like Python slicing does for positive steps, including INT64_MAX ends.
        return data[slice(max(-n - 1, min(start, n)), max(-n - 1, min(end, n)), step)]

    def _op_Gather(self, node: gs.Node, depth: int) -> list[Entry] | None:
        if int(node.attrs.get("axis", 0)) != 0:
            return None
        data = self.resolve(node.inputs[0], depth)
        indices = self.constant(node.inputs[1])
        if data is None or indices is None or indices.ndim > 1:
            return None
        n = len(data)
        picked = []
        for i in indices.reshape(-1):
            i = int(i)
            if not -n <= i < n:
                return None
            picked.append(data[i % n])
        return picked

    def _op_Concat(self, node: gs.Node, depth: int) -> list[Entry] | None:
        entries: list[Entry] = []
        for tensor in node.inputs:
            part = self.resolve(tensor, depth)
            if part is None:
                return None
            entries += part
        return entries

    def _passthrough(self, node: gs.Node, depth: int) -> list[Entry] | None:
        return self.resolve(node.inputs[0], depth)

    _op_Cast = _passthrough
    _op_Identity = _passthrough
    _op_Unsqueeze = _passthrough
    _op_Squeeze = _passthrough
    _op_Reshape = _passthrough
    _op_Flatten = _passthrough

    def _arithmetic(self, node: gs.Node, depth: int, fn) -> list[Entry] | None:
        left = self.resolve(node.inputs[0], depth)
        right = self.resolve(node.inputs[1], depth)
        if left is None or right is None:
            return None
        if len(left) != len(right) and 1 not in (len(left), len(right)):
            return None
        n = max(len(left), len(right))
        left, right = (left * n if len(left) == 1 else left), (right * n if len(right) == 1 else right)
        out: list[Entry] = []
        for a, b in zip(left, right, strict=True):
            if isinstance(a, Const) and isinstance(b, Const):
                value = fn(a.value, b.value)
                out.append(Const(int(value)) if value is not None else Runtime())
            else:
                out.append(Runtime())
        return out

    def _op_Mul(self, node: gs.Node, depth: int) -> list[Entry] | None:
        return self._arithmetic(node, depth, lambda a, b: a * b)

    def _op_Add(self, node: gs.Node, depth: int) -> list[Entry] | None:
        return self._arithmetic(node, depth, lambda a, b: a + b)

    def _op_Sub(self, node: gs.Node, depth: int) -> list[Entry] | None:
        return self._arithmetic(node, depth, lambda a, b: a - b)

    def _op_Div(self, node: gs.Node, depth: int) -> list[Entry] | None:
        # Integer Div truncates toward zero; sizes are non-negative, so floor division agrees.
        return self._arithmetic(node, depth, lambda a, b: a // b if b else None)


def same_dimension(
    entry: Entry, tensor_dims: Sequence[int | str | None] | None, tensor: str, axis: int
) -> bool:
    """True when ``entry`` provably equals dimension ``axis`` of ``tensor`` (whose inferred dims are given)."""
    if isinstance(entry, Dim) and entry.tensor == tensor and entry.axis == axis:
        return True
    if tensor_dims is None or not 0 <= axis < len(tensor_dims):
        return False
    d = tensor_dims[axis]
    if isinstance(entry, Const):
        return isinstance(d, int) and d == entry.value
    if isinstance(entry, Dim):
        return isinstance(d, str) and bool(d) and entry.symbol == d and not d.startswith("unk__")
    return False
