"""The ranges of a model's intermediate tensors in an fp32 run, and those a narrower float type cannot hold.

Every float tensor that a node computes from the graph inputs becomes an output of a copy of the model, and
one onnxruntime run per input set records its largest magnitude and its smallest non-zero magnitude. A tensor
is out of fp16's range when some value passes 65504 (fp16 makes it inf), or when it has non-zero values and
every one of them is below fp16's smallest subnormal, 2^-24 (fp16 makes the whole tensor zero). Tensors that
depend on no graph input are constants (fold turns them into weights) and are left out.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto

from trtconvert.checks.compare import random_feed
from trtconvert.model.info import GraphTensor, type_plugin_outputs
from trtconvert.model.profiles import Shape

# Largest finite value and smallest positive subnormal of each narrower float type.
FLOAT_LIMITS = {
    "fp16": (65504.0, 2.0**-24),
    "bf16": (float(np.finfo(np.float32).max), 2.0**-133),
}
_FLOATS = (TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.BFLOAT16)


@dataclass
class TensorRange:
    """One intermediate tensor over every input set run: its producer, its readers and its magnitudes."""

    name: str
    producer: str
    consumers: tuple[str, ...]
    max_abs: float = 0.0
    min_nonzero_abs: float = float("inf")

    def add(self, values: np.ndarray) -> None:
        magnitude = np.abs(values.astype(np.float64, copy=False))
        finite = magnitude[np.isfinite(magnitude)]
        if finite.size:
            self.max_abs = max(self.max_abs, float(finite.max()))
            nonzero = finite[finite > 0]
            if nonzero.size:
                self.min_nonzero_abs = min(self.min_nonzero_abs, float(nonzero.min()))

    def problem(self, target: str) -> str | None:
        """Why ``target`` cannot hold this tensor, or None."""
        largest, smallest = FLOAT_LIMITS[target]
        if self.max_abs > largest:
            return f"reaches {self.max_abs:.3g}, past {target}'s {largest:g}"
        if 0 < self.max_abs < smallest:
            return f"all its values are below {smallest:.3g} (at most {self.max_abs:.3g}), so {target} makes it zero"
        return None

    def to_json(self) -> dict:
        return {
            "tensor": self.name,
            "producer": self.producer,
            "consumers": list(self.consumers),
            "max_abs": self.max_abs,
            "min_nonzero_abs": self.min_nonzero_abs if np.isfinite(self.min_nonzero_abs) else None,
        }


@dataclass
class OutOfRange:
    """The tensors ``target`` cannot hold and the nodes to keep in fp32 for them: their producers, and the
    consumers that would read them."""

    target: str
    tensors: list[tuple[TensorRange, str]] = field(default_factory=list)

    @property
    def producers(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t.producer for t, _ in self.tensors))

    @property
    def nodes(self) -> tuple[str, ...]:
        names = [t.producer for t, _ in self.tensors] + [c for t, _ in self.tensors for c in t.consumers]
        return tuple(dict.fromkeys(names))

    def __bool__(self) -> bool:
        return bool(self.tensors)

    def to_json(self) -> dict:
        return {
            "target": self.target,
            "tensors": [{**t.to_json(), "problem": why} for t, why in self.tensors],
            "keep_fp32": list(self.nodes),
        }


def _input_dependent(graph: onnx.GraphProto) -> set[str]:
    """Tensors that depend on a graph input (graph order is topological in a valid model)."""
    reached = {i.name for i in graph.input} - {t.name for t in graph.initializer}
    for node in graph.node:
        if any(name in reached for name in node.input if name):
            reached.update(o for o in node.output if o)
    return reached


def with_intermediate_outputs(model: onnx.ModelProto) -> tuple[onnx.ModelProto, dict[str, TensorRange]]:
    """A copy of ``model`` with every float tensor computed from the graph inputs as an output, and those
    tensors (their ranges still empty)."""
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False)
    type_plugin_outputs(inferred)
    infos = {v.name: v for v in inferred.graph.value_info}
    graph = model.graph
    outputs = {o.name for o in graph.output}
    dependent = _input_dependent(graph)
    consumers: dict[str, list[str]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node.name or node.op_type)
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    ranges: dict[str, TensorRange] = {}
    for node in graph.node:
        for name in node.output:
            if not name or name not in dependent:
                continue
            info = infos.get(name)
            graph_output = name in outputs
            if info is None and not graph_output:
                continue
            if info is not None and info.type.tensor_type.elem_type not in _FLOATS:
                continue
            if not graph_output:
                copy.graph.output.append(info)
            producer = node.name or node.op_type
            ranges[name] = TensorRange(name, producer, tuple(dict.fromkeys(consumers.get(name, []))))
    return copy, ranges


def intermediate_values(
    with_outputs: onnx.ModelProto, names: Collection[str], feeds: Iterable[Mapping[str, np.ndarray]]
) -> Iterator[dict[str, np.ndarray]]:
    """For each feed, the float values of the tensors ``names`` (outputs of ``with_outputs``, as
    with_intermediate_outputs makes it) in one onnxruntime run; one feed's values at a time are held."""
    from trtconvert.checks.ort_session import create_session

    session = create_session(with_outputs)
    wanted = [o.name for o in session.get_outputs() if o.name in names]
    session_inputs = {i.name for i in session.get_inputs()}
    for feed in feeds:
        values = session.run(wanted, {k: v for k, v in feed.items() if k in session_inputs})
        yield {
            name: np.asarray(value)
            for name, value in zip(wanted, values, strict=True)
            if np.issubdtype(np.asarray(value).dtype, np.floating)
        }


def intermediate_ranges(
    model: onnx.ModelProto | Path,
    inputs: Sequence[GraphTensor],
    shape_sets: Sequence[Mapping[str, Shape]],
    given: Mapping[str, np.ndarray],
    seed: int = 0,
) -> dict[str, TensorRange]:
    """Run ``model`` in fp32 on the inputs compare_models feeds (same seeds) and record every intermediate
    float tensor's range."""
    loaded = onnx.load(str(model)) if isinstance(model, Path) else model
    copy, ranges = with_intermediate_outputs(loaded)
    feeds = (random_feed(inputs, shapes, given, seed + index) for index, shapes in enumerate(shape_sets))
    for values in intermediate_values(copy, ranges, feeds):
        for name, value in values.items():
            ranges[name].add(value)
    return ranges


def out_of_range(ranges: Mapping[str, TensorRange], target: str, kept: Sequence[str] = ()) -> OutOfRange:
    """The tensors ``target`` cannot hold, except those whose producer and readers are all in ``kept``."""
    found = OutOfRange(target)
    already = set(kept)
    for tensor in ranges.values():
        why = tensor.problem(target)
        if why is not None and not ({tensor.producer, *tensor.consumers} <= already):
            found.tensors.append((tensor, why))
    return found
