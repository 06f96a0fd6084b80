"""Optimization profiles: the `--profile` grammar and its checks against the model's inputs.

Grammar: ``NAME=MIN:OPT:MAX[,NAME=...]`` with shapes written ``1x3x256x256``; one shape alone means a fixed
shape. Names split at the last ``=`` because ONNX names may hold ``:`` (``input:0=1x3x224x224``).
"""

from __future__ import annotations

import ast
import difflib
import json
import math
import operator
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from trtconvert.errors import BadInput, clipped
from trtconvert.model.dims import Tensor, tied_axes
from trtconvert.numbers import whole_number

if TYPE_CHECKING:  # annotations only: model.info imports numpy and onnx, which parsing a flag does not need
    from trtconvert.model.info import GraphTensor

Shape = tuple[int, ...]
MAX_DIM = 2**31 - 1  # TensorRT's dims and element counts are 32-bit


@dataclass(frozen=True)
class ShapeRange:
    """Min, opt and max shape of one input in one optimization profile."""

    min: Shape
    opt: Shape
    max: Shape

    def __str__(self) -> str:
        shapes = [format_shape(s) for s in (self.min, self.opt, self.max)]
        return shapes[0] if len(set(shapes)) == 1 else ":".join(shapes)


Profile = dict[str, ShapeRange]


def format_shape(shape: Shape) -> str:
    return "x".join(str(d) for d in shape)


def parse_shape(text: str, where: str) -> Shape:
    text = text.strip()
    if text in ("", "scalar"):
        return ()
    if not re.fullmatch(r"-?\d+(x-?\d+)*", text):
        raise BadInput(
            f"{where}: shape '{clipped(text)}' is not of the form 1x3x256x256 (integers joined by 'x')"
        )
    dims = []
    for axis, written in enumerate(text.split("x")):
        if len(written.lstrip("-").lstrip("0")) > len(str(MAX_DIM)):
            raise BadInput(f"{where}: dim {axis} is {clipped(written)}; TensorRT takes dims below 2^31")
        dims.append(whole_number(written, where))
    return tuple(dims)


def parse_range(text: str, where: str) -> ShapeRange:
    parts = text.split(":")
    if len(parts) not in (1, 3):
        raise BadInput(f"{where}: give one shape (fixed) or three, MIN:OPT:MAX; got '{clipped(text)}'")
    shapes = [parse_shape(p, where) for p in parts]
    if len(shapes) == 1:
        shapes *= 3
    return ShapeRange(*shapes)


def parse_profile(text: str) -> Profile:
    """Parse one ``--profile`` value into {input name: ShapeRange}."""
    profile: Profile = {}
    for item in (p for p in text.split(",") if p.strip()):
        name, sep, shapes = item.rpartition("=")
        name = name.strip()
        if not sep or not name:
            raise BadInput(
                f"--profile '{clipped(item)}': write NAME=MIN:OPT:MAX, e.g. input=1x3x64x64:1x3x256x256:1x3x512x512"
            )
        if name in profile:
            raise BadInput(
                f"--profile: input '{clipped(name)}' appears twice in one profile; give it once per profile"
            )
        profile[name] = parse_range(shapes, f"--profile {clipped(name)}")
    if not profile:
        raise BadInput(
            "--profile is empty: write NAME=MIN:OPT:MAX, e.g. input=1x3x64x64:1x3x256x256:1x3x512x512"
        )
    return profile


def profile_from_mapping(mapping: Mapping[str, object], where: str) -> Profile:
    """Build a profile from a config mapping {name: 'MIN:OPT:MAX'}."""
    return {
        str(name): parse_range(str(shapes), f"{where} {clipped(str(name))}")
        for name, shapes in mapping.items()
    }


def _closest(name: str, candidates: Sequence[str]) -> str:
    match = difflib.get_close_matches(name, candidates, n=1, cutoff=0.4)
    return f" (did you mean '{match[0]}'?)" if match else f" (inputs: {', '.join(candidates)})"


def suggested_profile(inputs: Sequence[GraphTensor], fixed: Collection[str] = ()) -> Profile:
    """A profile for the model's dynamic inputs, with guessed ranges.

    Axes that share a dim name get the same values (TensorRT ties them). The inputs named in ``fixed`` get one
    shape (their dims decide control flow that TensorRT cannot build dynamic), and so do axes tied to theirs.
    """
    by_name: dict[str, tuple[int, int, int]] = {}

    def guess(axis: int, dim: object) -> tuple[int, int, int]:
        if axis == 0 or "batch" in str(dim).lower():
            return (1, 1, 8)
        return (64, 256, 1024)

    for model_input in inputs:  # fixed inputs first, so that what is tied to them is fixed too
        if model_input.name in fixed:
            for axis, dim in enumerate(model_input.dims):
                if isinstance(dim, str) and not _is_expression(dim):
                    by_name.setdefault(dim, (guess(axis, dim)[1],) * 3)  # type: ignore[arg-type]
    for (
        model_input
    ) in inputs:  # the plain names, so that a dim written as an expression of them can be computed
        for axis, dim in enumerate(model_input.dims):
            if isinstance(dim, str) and not _is_expression(dim):
                choice = guess(axis, dim)
                by_name.setdefault(dim, (choice[1],) * 3 if model_input.name in fixed else choice)
    profile: Profile = {}
    for model_input in inputs:
        if model_input.is_static:
            continue
        ranges: list[list[int]] = [[], [], []]
        for axis, dim in enumerate(model_input.dims):
            computed = _expression_range(dim, by_name) if isinstance(dim, str) else None
            if isinstance(dim, int):
                choice = (dim, dim, dim)
            elif computed is not None:
                choice = computed
            elif isinstance(dim, str) and dim in by_name:
                choice = by_name[dim]
            else:
                choice = guess(axis, dim)
                if model_input.name in fixed:
                    choice = (choice[1],) * 3
            if isinstance(dim, str):
                by_name.setdefault(dim, choice)
            for target, value in zip(ranges, choice, strict=True):
                target.append(value)
        profile[model_input.name] = ShapeRange(*(tuple(r) for r in ranges))
    return profile


_EXPRESSION_OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul}


def _is_expression(dim: str) -> bool:
    """A dim name that is arithmetic on other dim names, as exporters write a length that is a sum of two:
    optimum's `past_sequence_length + sequence_length`, torch.export's `s0 + 1` or `2*s1`."""
    return any(op in dim for op in "+-*") and _parse_expression(dim) is not None


def _parse_expression(dim: str) -> ast.expr | None:
    if len(dim) > 200:
        return None
    try:
        tree = ast.parse(dim.strip(), mode="eval").body
    except (SyntaxError, ValueError):
        return None
    if not isinstance(tree, ast.BinOp):
        return None
    for node in ast.walk(tree):
        allowed = isinstance(node, ast.BinOp | ast.Name | ast.Load) or type(node) in _EXPRESSION_OPERATORS
        constant = isinstance(node, ast.Constant) and type(node.value) is int and 0 <= node.value < 1 << 31
        if not (allowed or constant):
            return None
    return tree


def _expression_range(dim: str, by_name: dict[str, tuple[int, int, int]]) -> tuple[int, int, int] | None:
    """The min, opt and max of a dim written as an expression of other dims' names (each computed from theirs),
    or None where it is not one or names a dim no input has."""
    tree = _parse_expression(dim) if any(op in dim for op in "+-*") else None
    if tree is None:
        return None

    def value(node: ast.expr, which: int) -> int:
        if isinstance(node, ast.Name):
            return by_name[node.id][which]
        if isinstance(node, ast.Constant):
            return int(node.value)
        assert isinstance(node, ast.BinOp)
        return _EXPRESSION_OPERATORS[type(node.op)](value(node.left, which), value(node.right, which))

    try:
        values = sorted(max(1, value(tree, which)) for which in range(3))
    except KeyError:
        return None
    if values[2] > MAX_DIM:
        return None  # no engine takes such a dim: leave it to the usual guess
    return values[0], values[1], values[2]


def writable_in_flag(name: str) -> bool:
    """Whether parse_profile reads ``name`` back from NAME=...: it splits items at ',' and strips the space
    around a name, so a name holding ',' or beginning or ending in a space is lost (and a control character
    would not survive a paste)."""
    return bool(name) and name == name.strip() and "," not in name and not any(ord(c) < 32 for c in name)


def profile_flag(profile: Profile) -> str:
    """A profile as a ready-to-paste flag, quoted for a POSIX shell whatever the names hold. Names the flag's
    grammar cannot hold (writable_in_flag) are given as a config's 'profiles:' entry instead."""
    if not all(writable_in_flag(name) for name in profile):
        entry = json.dumps({name: str(shape_range) for name, shape_range in profile.items()})
        return (
            f"a config with profiles: [{entry}] (input names holding ',', control characters or a leading or "
            "trailing space cannot be written in --profile)"
        )
    text = ",".join(f"{name}={shape_range}" for name, shape_range in profile.items())
    return "--profile '" + text.replace("'", "'\"'\"'") + "'"


def example_flag(inputs: Sequence[GraphTensor], fixed: Collection[str] = ()) -> str:
    """A ready-to-paste --profile flag for the model's dynamic inputs (suggested_profile)."""
    return profile_flag(suggested_profile(inputs, fixed))


def validate_profiles(profiles: Sequence[Profile], inputs: Sequence[GraphTensor]) -> None:
    """Check each profile against the model before anything slow runs; raise BadInput on the first problem."""
    by_name = {i.name: i for i in inputs}
    for index, profile in enumerate(profiles):
        where = f"--profile #{index + 1}" if len(profiles) > 1 else "--profile"
        for name, shape_range in profile.items():
            model_input = by_name.get(name)
            if model_input is None:
                raise BadInput(
                    f"{where}: the model has no input '{clipped(name)}'{_closest(name, list(by_name))}"
                )
            _check_range(f"{where} {clipped(name)}", shape_range, model_input)
        missing = [i for i in inputs if not i.is_static and i.name not in profile]
        if missing:
            names = ", ".join(f"'{i.name}' {i.dims_text()}" for i in missing)
            raise BadInput(
                f"{where} leaves dynamic input {names} uncovered; cover every dynamic input, e.g. "
                f"{example_flag(inputs)}"
            )
    check_ties(profiles, inputs)


def _check_range(where: str, shape_range: ShapeRange, model_input: GraphTensor) -> None:
    rank = len(model_input.dims) if model_input.shape_known else len(shape_range.opt)
    declared_dims = model_input.dims if model_input.shape_known else (None,) * rank
    for label, shape in (("min", shape_range.min), ("opt", shape_range.opt), ("max", shape_range.max)):
        if len(shape) != rank:
            raise BadInput(
                f"{where}: {label} shape {clipped(format_shape(shape)) or 'scalar'} has rank {len(shape)} but the input "
                f"is {model_input.dims_text()} (rank {rank})"
            )
        for axis, (given, declared) in enumerate(zip(shape, declared_dims, strict=True)):
            if given < 1:
                raise BadInput(f"{where}: {label} dim {axis} is {given}; every dim must be at least 1")
            if given > MAX_DIM:
                raise BadInput(f"{where}: {label} dim {axis} is {given}; TensorRT takes dims below 2^31")
            if isinstance(declared, int) and given != declared:
                raise BadInput(
                    f"{where}: {label} dim {axis} is {given} but the model fixes it to {declared} "
                    f"({model_input.dims_text()})"
                )
        volume = math.prod(shape)
        if volume > MAX_DIM:
            raise BadInput(
                f"{where}: {label} shape {clipped(format_shape(shape))} has {clipped(str(volume))} elements; a TensorRT tensor holds "
                "fewer than 2^31"
            )
    for axis in range(rank):
        low, mid, high = shape_range.min[axis], shape_range.opt[axis], shape_range.max[axis]
        if not low <= mid <= high:
            raise BadInput(
                f"{where}: dim {axis} must satisfy min <= opt <= max, got {low}:{mid}:{high}; "
                f"reorder the shapes as MIN:OPT:MAX"
            )


def opt_shapes(profiles: Sequence[Profile], inputs: Sequence[GraphTensor]) -> list[dict[str, Shape]]:
    """Shapes to run verification at: each profile's opt shape, or the static shapes when there is none."""
    static = {i.name: tuple(d for d in i.dims if isinstance(d, int)) for i in inputs if i.is_static}
    if not profiles:
        return [dict(static)]
    return [{**static, **{name: r.opt for name, r in profile.items()}} for profile in profiles]


def largest_shapes(profiles: Sequence[Profile]) -> dict[str, Shape]:
    """Per input, the largest length of each axis over every profile's max shape."""
    largest: dict[str, Shape] = {}
    for profile in profiles:
        for name, shape_range in profile.items():
            seen = largest.get(name)
            if seen is None or len(seen) != len(shape_range.max):
                largest[name] = tuple(shape_range.max)
            else:
                largest[name] = tuple(max(a, b) for a, b in zip(seen, shape_range.max, strict=True))
    return largest


def _profile_text(profile: Mapping[str, object]) -> str:
    return ",".join(f"{name}={shape_range}" for name, shape_range in profile.items())


def check_ties(profiles: Sequence[Mapping], inputs: Sequence[Tensor]) -> None:
    """Refuse a profile that gives axes tied by one dim name different values, with a corrected profile."""
    ties = tied_axes(inputs)
    for index, profile in enumerate(profiles):
        where = f"--profile #{index + 1}" if len(profiles) > 1 else "--profile"
        for dim_name, axes in ties.items():
            present = [(name, axis) for name, axis in axes if name in profile]
            for which in ("min", "opt", "max"):
                values = [getattr(profile[name], which)[axis] for name, axis in present]
                if len(set(values)) <= 1:
                    continue
                shown = ", ".join(
                    f"{name}[{axis}]={value}" for (name, axis), value in zip(present, values, strict=True)
                )
                fixed = dict(profile)
                first_name, first_axis = present[0]
                for name, axis in present[1:]:
                    shapes = {}
                    for part in ("min", "opt", "max"):
                        shape = list(getattr(fixed[name], part))
                        shape[axis] = getattr(profile[first_name], part)[first_axis]
                        shapes[part] = tuple(shape)
                    fixed[name] = ShapeRange(**shapes)
                raise BadInput(
                    f"{where}: axes tied by the dim name '{dim_name}' get different {which} values ({shown}); "
                    f"TensorRT treats them as one dimension: use --profile '{_profile_text(fixed)}'"
                )
