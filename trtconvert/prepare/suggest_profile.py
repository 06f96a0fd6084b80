"""`inspect`'s suggested --profile, checked before it is shown: onnx's strict shape inference at its min, opt and
max shapes, then one onnxruntime run at its min shapes (small, fast) and one at its max shapes where that run is
small too. Where the model fixes a dim that the suggestion guessed (a text recognizer's height of 48), the dim is
found by trying the sizes exporters use, first with shape inference, then with onnxruntime; where the model
bounds a dim (a transformer's sequence by its table of position embeddings), the max is lowered to the largest
usual size that runs; where no size works the report names the problem instead."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx

from trtconvert.errors import BadInput
from trtconvert.model.info import GraphTensor, weight_bytes
from trtconvert.model.light import shape_inference_copy
from trtconvert.model.profiles import Profile, ShapeRange, format_shape

# Sizes exporters trace with and models are built for, smallest first.
USUAL_SIZES = (
    1,
    2,
    3,
    4,
    8,
    16,
    24,
    32,
    48,
    64,
    80,
    96,
    112,
    128,
    160,
    192,
    224,
    256,
    320,
    384,
    448,
    512,
    640,
)
# A model this heavy is not run by `inspect`, which should stay quick on any size.
MAX_RUN_WEIGHT_BYTES = 1 << 30
# Nor is a run whose inputs or largest tensor take more than this (a model whose static dims are huge).
MAX_RUN_BYTES = 256 << 20
MAX_TRIAL_RUNS = 48
# The run at the max shapes, which finds a bound such as a table of 512 positions, is made only this small.
MAX_UPPER_RUN_BYTES = 128 << 20


@dataclass
class CheckedSuggestion:
    profile: Profile
    fixed_by_model: dict[str, int] = field(default_factory=dict)  # "x[2]" -> 48
    bounded_by_model: dict[str, int] = field(default_factory=dict)  # "input_ids[1]" -> 512: the max that runs
    problem: str | None = None  # what fails at the suggestion, when no size could be found
    ran: str = ""  # what ran to check it


def shape_problem(light: onnx.ModelProto, shapes: dict[str, tuple[int, ...]]) -> str | None:
    """What onnx's strict shape inference finds wrong at these input shapes (a Reshape to a fixed size, a
    Concat or Add of lengths that cannot meet), or None. ``light`` is a :func:`shape_inference_copy`; it is left as it is.
    Finds much, not everything."""
    trial = onnx.ModelProto()
    trial.CopyFrom(light)
    for value in trial.graph.input:
        if value.name in shapes:
            dims = value.type.tensor_type.shape.dim
            for dim, size in zip(dims, shapes[value.name], strict=False):
                dim.Clear()
                dim.dim_value = size
    try:
        onnx.shape_inference.infer_shapes(trial, strict_mode=True, data_prop=True)
    except Exception as err:  # noqa: BLE001 - onnx raises InferenceError and others
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        return lines[0][:300] if lines else type(err).__name__
    return None


def _with_axis(profile: Profile, name: str, axis: int, size: int) -> Profile:
    def fixed(shape: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(size if index == axis else dim for index, dim in enumerate(shape))

    changed = dict(profile)
    shape_range = profile[name]
    changed[name] = ShapeRange(fixed(shape_range.min), fixed(shape_range.opt), fixed(shape_range.max))
    return changed


def _inference_problem(light: onnx.ModelProto, profile: Profile) -> str | None:
    for which in ("min", "opt", "max"):
        problem = shape_problem(light, {name: getattr(r, which) for name, r in profile.items()})
        if problem:
            shown = ",".join(f"{n}={format_shape(getattr(r, which))}" for n, r in profile.items())
            return f"shape inference fails at the {which} shapes ({shown}): {problem}"
    return None


def _guessed_axes(profile: Profile, inputs: Sequence[GraphTensor]) -> list[tuple[str, int]]:
    """The axes the suggestion guessed, batch axes last (a model fixes a height far more often than a batch)."""
    axes = [
        (i.name, axis)
        for i in inputs
        if i.name in profile
        for axis, dim in enumerate(i.dims)
        if not isinstance(dim, int)
    ]
    return sorted(axes, key=lambda item: item[1] == 0)


class _Runner:
    """One onnxruntime session, run at the shapes asked: the model is loaded once however many are tried, and
    only when a run is small enough for `inspect` to stay quick."""

    def __init__(
        self, path: Path, model: onnx.ModelProto, inputs: Sequence[GraphTensor], light: onnx.ModelProto
    ) -> None:
        self.path, self.model, self.inputs, self.light = path, model, inputs, light
        self.session = None
        self.runs = 0
        self.too_large: str | None = None  # why the last shapes asked were not run

    def problem(self, profile: Profile, which: str = "min", limit: int = MAX_RUN_BYTES) -> str | None:
        from trtconvert.checks.compare import random_feed
        from trtconvert.checks.ort_session import create_session, user_model_errors

        shapes = {name: getattr(r, which) for name, r in profile.items()}
        shown = ",".join(f"{n}={format_shape(s)}" for n, s in shapes.items())
        shapes.update({i.name: tuple(i.dims) for i in self.inputs if i.is_static})
        self.too_large = self._too_large(shapes, shown, limit, estimate_unknown=which != "min")
        if self.too_large:
            return self.too_large
        if self.session is None:
            with user_model_errors("load the model", "fix or re-export the model"):
                self.session = create_session(
                    self.path, optimize=False, threads=1, graph_only=self.model, quiet=True
                )
        self.runs += 1
        try:
            with user_model_errors(
                f"run the model at the suggested {which} shapes ({shown})", "adjust the profile"
            ):
                self.session.run(None, random_feed(self.inputs, shapes, {}, 0))
        except BadInput as err:
            return str(err).split("; adjust the profile")[0]
        return None

    def _too_large(
        self, shapes: dict[str, tuple[int, ...]], shown: str, limit: int, estimate_unknown: bool
    ) -> str | None:
        from trtconvert.checks.compare import largest_tensor_at

        feed = 0
        for model_input in self.inputs:
            try:
                itemsize = np.dtype(model_input.dtype).itemsize
            except TypeError:
                itemsize = 8
            feed += math.prod(int(d) for d in shapes.get(model_input.name, ())) * itemsize
        # Past the min shapes (small by construction) a tensor inference cannot size may be the large one: each
        # unknown dim counts as long as the longest input dim.
        longest = max((int(d) for shape in shapes.values() for d in shape), default=1)
        unknown_dim = longest if estimate_unknown else None
        largest = largest_tensor_at(self.light, shapes, unknown_dim) if feed <= limit else None
        biggest = max(feed, largest[1] if largest else 0)
        if biggest <= limit:
            return None
        return f"at {shown} a run takes {biggest / 2**20:.0f} MiB, more than inspect runs ({limit >> 20} MiB)"


def check_suggestion(
    path: Path, model: onnx.ModelProto, profile: Profile, inputs: Sequence[GraphTensor]
) -> CheckedSuggestion:
    """The suggestion, with each dim the model fixes found and set, or the problem that remains."""
    light = shape_inference_copy(model)
    # Where strict inference fails on the model's own symbolic dims, it cannot follow some op (a
    # GroupNormalization-21 leaves its output untyped): what it says at the suggestion is about onnx, not it.
    if shape_problem(light, {}) is None:
        return _checked(path, model, light, profile, inputs, inference=True)
    result = _checked(path, model, light, profile, inputs, inference=False)
    cannot = "onnx's shape inference cannot follow this model"
    if result.ran.startswith("onnx shape inference and "):
        result.ran = f"{result.ran.replace('onnx shape inference and ', '', 1)} ({cannot})"
    elif result.ran.startswith("onnx shape inference ("):
        result.ran = f"nothing ({cannot}; {result.ran.removeprefix('onnx shape inference (')}"
    return result


def _checked(path: Path, model: onnx.ModelProto, light, profile: Profile, inputs, inference: bool):
    result = CheckedSuggestion(profile)
    problem = _inference_problem(light, profile) if inference else None
    if problem:
        result.profile, problem = _search(result, inputs, lambda p: _inference_problem(light, p), problem)
    heavy = weight_bytes(model) > MAX_RUN_WEIGHT_BYTES
    if problem is None and heavy:
        result.ran = "onnx shape inference (not run on onnxruntime: over 1 GB of weights)"
    elif problem is None:
        runner = _Runner(path, model, inputs, light)
        try:
            problem = runner.problem(result.profile)
        except BadInput as err:  # the model does not load in onnxruntime
            result.problem = str(err)
            return result
        if runner.too_large:
            result.ran = f"onnx shape inference (not run on onnxruntime: {runner.too_large})"
            result.problem = None
            return result
        if problem:
            result.profile, problem = _search(result, inputs, runner.problem, problem, MAX_TRIAL_RUNS)
        result.ran = "onnx shape inference and onnxruntime at the min shapes"
        if problem is None:
            problem = _check_max(result, inputs, runner)
    result.problem = problem
    return result


def _check_max(result: CheckedSuggestion, inputs: Sequence[GraphTensor], runner: _Runner) -> str | None:
    """Run at the max shapes where that is small; where it fails, lower the max of one guessed dim (and every
    axis tied to it) to the largest usual size that runs, or say which dims could not be bounded."""

    def at_max(profile: Profile) -> str | None:
        return runner.problem(profile, "max", MAX_UPPER_RUN_BYTES)

    problem = at_max(result.profile)
    if runner.too_large:
        return None
    if problem is None:
        result.ran = "onnx shape inference and onnxruntime at the min and max shapes"
        return None
    groups = _guessed_dims(result.profile, inputs)
    for axes in groups:
        name, axis = axes[0]
        low, high = result.profile[name].min[axis], result.profile[name].max[axis]
        sizes = sorted(s for s in USUAL_SIZES if low <= s < high)

        def runs(index: int, axes=axes, sizes=sizes) -> bool:
            return at_max(_with_max(result.profile, axes, sizes[index])) is None and not runner.too_large

        if not sizes or not runs(0):
            continue  # not even the smallest max runs: this dim is not what bounds the model
        # A bound (a table of positions) holds for every size below it: bisect for the largest size that runs.
        good, bad = 0, len(sizes)
        while bad - good > 1:
            middle = (good + bad) // 2
            good, bad = (middle, bad) if runs(middle) else (good, middle)
        result.profile = _with_max(result.profile, axes, sizes[good])
        for bounded in axes:
            result.bounded_by_model[f"{bounded[0]}[{bounded[1]}]"] = sizes[good]
        result.ran = "onnx shape inference and onnxruntime at the min and max shapes"
        return None
    shown = ", ".join(sorted({f"{n}[{a}]" for axes in groups for n, a in axes}))
    return (
        f"{problem}; the suggestion runs at its min shapes but not at its max, and no smaller max of {shown} "
        "among the usual sizes runs, so the largest size the model takes could not be determined: lower the max "
        "dims by hand"
    )


def _bounded_range(profile: Profile, axes, smallest: int, problem_at) -> tuple[int, Profile] | None:
    """Where the next usual size above ``smallest`` (the first that runs) runs too, the dim is bounded, not fixed
    (a table of 32 positions takes any sequence up to 32): the largest usual size up to the guessed max that runs
    (bisected: a bound holds for every size below it), and the profile from ``smallest`` to it; else None."""
    name, axis = axes[0]
    sizes = [s for s in USUAL_SIZES if smallest < s <= profile[name].max[axis]]

    def runs(size: int) -> bool:
        candidate = profile
        for input_name, input_axis in axes:
            candidate = _with_axis(candidate, input_name, input_axis, size)
        return problem_at(candidate) is None

    if not sizes or not runs(sizes[0]):
        return None
    good, bad = 0, len(sizes)
    while bad - good > 1:
        middle = (good + bad) // 2
        good, bad = (middle, bad) if runs(sizes[middle]) else (good, middle)
    largest = sizes[good]
    changed = dict(profile)
    for input_name, input_axis in axes:
        shape_range = changed[input_name]
        low, opt, high = (list(shape) for shape in (shape_range.min, shape_range.opt, shape_range.max))
        low[input_axis], opt[input_axis], high[input_axis] = smallest, min(opt[input_axis], largest), largest
        changed[input_name] = ShapeRange(tuple(low), tuple(opt), tuple(high))
    return largest, changed


def _guessed_dims(profile: Profile, inputs: Sequence[GraphTensor]) -> list[list[tuple[str, int]]]:
    """The guessed axes grouped by dim name (axes of one name take the same values), batch axes last, then every
    guessed axis but the batch ones together: exporters name a sequence length `unk__124` or leave it unnamed on
    inputs that must still agree (ids and their attention mask)."""
    groups: dict[object, list[tuple[str, int]]] = {}
    guessed = _guessed_axes(profile, inputs)
    for name, axis in guessed:
        dim = next(i.dims[axis] for i in inputs if i.name == name)
        key = dim if isinstance(dim, str) else (name, axis)
        groups.setdefault(key, []).append((name, axis))
    together = [(name, axis) for name, axis in guessed if axis != 0]
    named = [axes for key, axes in groups.items() if isinstance(key, str)]
    single = [axes for key, axes in groups.items() if not isinstance(key, str)]
    if len(together) > 1 and together not in named:
        named.append(together)
    return named + single


def _with_max(profile: Profile, axes: Sequence[tuple[str, int]], size: int) -> Profile:
    """``profile`` with the max of ``axes`` lowered to ``size`` (and their opt where it was above)."""
    changed = dict(profile)
    for name, axis in axes:
        shape_range = changed[name]
        lowered = [list(shape_range.opt), list(shape_range.max)]
        lowered[0][axis] = min(lowered[0][axis], size)
        lowered[1][axis] = size
        changed[name] = ShapeRange(shape_range.min, tuple(lowered[0]), tuple(lowered[1]))
    return changed


def _search(result: CheckedSuggestion, inputs, problem_at, problem: str, budget: int | None = None):
    """Try the usual sizes on each guessed dim in turn (every axis of one name together, then the guessed axes but
    the batch ones together: a ViT's height and width, both fixed by its position embeddings); keep the first
    size that removes the problem."""
    profile = result.profile
    tried = 0
    for axes in _guessed_dims(profile, inputs):
        for size in USUAL_SIZES:
            if budget is not None and tried >= budget:
                return profile, problem
            tried += 1
            candidate = profile
            for name, axis in axes:
                candidate = _with_axis(candidate, name, axis, size)
            if problem_at(candidate) is None:
                bounded = _bounded_range(profile, axes, size, problem_at)
                if bounded is not None:
                    largest, found = bounded
                    for name, axis in axes:
                        result.bounded_by_model[f"{name}[{axis}]"] = largest
                    return found, None
                for name, axis in axes:
                    result.fixed_by_model[f"{name}[{axis}]"] = size
                return candidate, None
    return profile, (
        f"{problem}; no size of {', '.join(f'{n}[{a}]' for n, a in _guessed_axes(profile, inputs))} among "
        f"{USUAL_SIZES[0]}..{USUAL_SIZES[-1]} removes it, so the dim the model fixes could not be determined: "
        "give its profile by hand"
    )
