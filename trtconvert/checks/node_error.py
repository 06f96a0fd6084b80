"""The error each node adds in a reduced-precision run, measured on its intermediate tensors, and the ranking of
nodes to keep in fp32 that follows from it (numpy only: the tensors come from whoever ran the two models).

- **A tensor's error**: the largest absolute difference between the reduced-precision run's values and the fp32
  run's, divided by the tensor's largest fp32 magnitude, over every input set: ``max|got - want| / max|want|``.
  Relative to the tensor's own scale, so that tensors of any magnitude compare, and a node that multiplies by
  a constant passes its input's error on unchanged. Magnitudes below ``MAGNITUDE_FLOOR`` (2^-24, the smallest
  magnitude fp16 holds) count as that floor, so that a tensor that is zero in fp32 measures its values against
  what fp16 can tell apart rather than dividing by zero. Only elements finite in fp32 count; a value that
  came out inf or NaN where fp32 has a number makes the error infinite.
- **A node's gain**: the largest error of its outputs minus the largest error of its inputs, where graph
  inputs, weights and tensors that are not tracked (not float, not computed from the inputs) count as exact.
  A node that passes its input's error on gains about nothing; one that overflows, cancels close values or
  rounds away what matters gains much. An infinite output error gains infinitely over finite inputs and
  nothing over an infinite input (the overflow happened upstream). A node whose outputs were not measured, or
  one of whose tracked inputs was not, has no gain: it is unranked.
- **The ranking**: the overflow finder's nodes first, in the finder's order; every other node keeps its place
  in the magnitude order when unranked, and the places of the ranked ones are refilled by the ranked nodes in
  order of their gain, largest first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from trtconvert.checks.ranges import TensorRange

MAGNITUDE_FLOOR = 2.0**-24


def tensor_error(got: np.ndarray, want: np.ndarray) -> float:
    """``max|got - want| / max(max|want|, MAGNITUDE_FLOOR)`` over the elements finite in ``want``; infinite where
    ``got`` is not finite there."""
    reference = np.asarray(want, dtype=np.float64)
    measured = np.asarray(got, dtype=np.float64)
    finite = np.isfinite(reference)
    if not finite.any():
        return 0.0
    reference, measured = reference[finite], measured[finite]
    if not np.isfinite(measured).all():
        return float("inf")
    magnitude = max(float(np.abs(reference).max()), MAGNITUDE_FLOOR)
    return float(np.abs(measured - reference).max()) / magnitude


@dataclass
class TensorErrors:
    """Each tensor's error over every input set (the largest), and the tensors that could not be compared."""

    errors: dict[str, float] = field(default_factory=dict)
    mismatched: dict[str, str] = field(default_factory=dict)  # tensor -> why it could not be compared

    def add(self, name: str, got: np.ndarray, want: np.ndarray) -> None:
        if tuple(np.shape(got)) != tuple(np.shape(want)):
            self.mismatched[name] = f"shape {list(np.shape(got))} where fp32 has {list(np.shape(want))}"
            self.errors.pop(name, None)
            return
        if name in self.mismatched:
            return
        self.errors[name] = max(self.errors.get(name, 0.0), tensor_error(got, want))


def _gain(output_error: float, input_error: float) -> float:
    if np.isinf(output_error):
        return 0.0 if np.isinf(input_error) else float("inf")
    return output_error - input_error


def node_gains(tensors: Iterable[TensorRange], errors: Mapping[str, float]) -> dict[str, float]:
    """Each node's gain (module docstring) from the tracked tensors' producers and readers and their errors."""
    outputs: dict[str, list[str]] = {}
    inputs: dict[str, list[str]] = {}
    for tensor in tensors:
        outputs.setdefault(tensor.producer, []).append(tensor.name)
        for reader in tensor.consumers:
            inputs.setdefault(reader, []).append(tensor.name)
    gains: dict[str, float] = {}
    for node, produced in outputs.items():
        measured = [errors[name] for name in produced if name in errors]
        read = inputs.get(node, [])
        if not measured or any(name not in errors for name in read):
            continue
        gains[node] = _gain(max(measured), max((errors[name] for name in read), default=0.0))
    return gains


@dataclass(frozen=True)
class RankedNode:
    node: str
    gain: float | None  # None: not measured
    ranked_by: str  # "finder", "error gain" or "magnitude"

    def to_json(self) -> dict:
        return {"node": self.node, "gain": self.gain, "ranked_by": self.ranked_by}


def rank_by_gain(
    finder: Sequence[str], by_magnitude: Sequence[str], gains: Mapping[str, float]
) -> list[RankedNode]:
    """The finder's nodes, then the others: the ranked ones by gain in the places the magnitude order gave the
    ranked ones, the unranked ones where the magnitude order put them (module docstring)."""
    first = list(dict.fromkeys(finder))
    rest = [name for name in dict.fromkeys(by_magnitude) if name not in set(first)]
    places = [index for index, name in enumerate(rest) if name in gains]
    by_gain = sorted((rest[index] for index in places), key=lambda name: -gains[name])  # stable on ties
    ordered = list(rest)
    for index, name in zip(places, by_gain, strict=True):
        ordered[index] = name
    ranked = [RankedNode(name, gains.get(name), "finder") for name in first]
    ranked += [
        RankedNode(name, gains[name], "error gain") if name in gains else RankedNode(name, None, "magnitude")
        for name in ordered
    ]
    return ranked
