"""CPU verification: run the original and the prepared model through onnxruntime on the same inputs.

Plugin nodes in the prepared model run through the reference implementation (trtconvert.ops). Inputs are
seeded random numbers at each profile's opt shape unless the user gives values (``--input NAME=VALUE``,
``NAME=FILE.npy``) for inputs where random numbers are meaningless (a sample rate, token ids).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from trtconvert import log
from trtconvert.checks.input_values import cast_to_input, parse_number, read_npy
from trtconvert.errors import BadInput, clipped
from trtconvert.model.info import GraphTensor
from trtconvert.model.light import shape_inference_copy
from trtconvert.model.profiles import Shape, format_shape


@dataclass(frozen=True)
class OutputComparison:
    name: str
    shape: tuple[int, ...]
    max_abs: float
    max_rel: float
    ok: bool
    within: float = 0.0  # share of elements within atol + rtol * |reference|
    reference_shape: tuple[int, ...] | None = None  # set only when it differs from ``shape``
    # Largest |reference| element; at or below atol every element passes whatever the engine computes.
    reference_max_abs: float = float("inf")
    missing: bool = False  # the candidate has no such output

    @classmethod
    def absent(cls, name: str, reference_shape: tuple[int, ...]) -> OutputComparison:
        return cls(name, reference_shape, float("inf"), float("inf"), False, missing=True)

    def near_zero(self, atol: float) -> bool:
        """Whether the reference is within ``atol`` of zero everywhere, so that the comparison checks little."""
        return self.reference_shape is None and self.reference_max_abs <= atol

    def errors_text(self, atol: float) -> str:
        """'max abs A, max rel R' for a report line; the relative error is n/a where no element is above atol."""
        rel = "n/a" if self.near_zero(atol) else f"{self.max_rel:.3g}"
        return f"max abs {self.max_abs:.3g}, max rel {rel}"

    def report_text(self, atol: float, rtol: float, min_within: float = 1.0) -> str:
        """What a verify line says of this output: its errors and verdict. The share of elements within tolerance
        is shown where it decides (int8) and where the output failed, to tell a few stray elements from a
        wholesale difference."""
        if self.missing:
            return "not among the engine's outputs  MISSING"
        if self.reference_shape is not None:
            return (
                f"shape {format_shape(self.shape)} where the original's is "
                f"{format_shape(self.reference_shape)}  SHAPE DIFFERS"
            )
        share = f", {self.within:.2%} within" if min_within < 1.0 or not self.ok else ""
        needed = f", at least {100 * min_within:g}% within" if min_within < 1.0 else ""
        verdict = "ok" if self.ok else f"OUT OF TOLERANCE (atol {atol:g}, rtol {rtol:g}{needed})"
        return f"{self.errors_text(atol)}{share}  {verdict}"

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "shape": list(self.shape),
            "max_abs": self.max_abs,
            "max_rel": self.max_rel,
            "reference_max_abs": self.reference_max_abs,
            "within": self.within,
            "ok": self.ok,
            **({"reference_shape": list(self.reference_shape)} if self.reference_shape is not None else {}),
            **({"missing": True} if self.missing else {}),
        }


def warn_near_zero(
    comparisons: Sequence[OutputComparison], atols: Mapping[str, float], random_inputs: Sequence[str]
) -> None:
    """One warning per output whose reference never left [-atol, atol] in any shape set verified."""
    if random_inputs:
        fix = f"verify on inputs like the real ones with --input {random_inputs[0]}=FILE.npy"
    else:
        fix = "check that the inputs given are like the real ones"
    by_name: dict[str, list[OutputComparison]] = {}
    for comparison in comparisons:
        by_name.setdefault(comparison.name, []).append(comparison)
    for name, seen in by_name.items():
        if all(c.near_zero(atols[name]) for c in seen):
            log.LOGGER.warning(
                "warning: the original model's '%s' stayed within atol %g of zero on every input verified "
                "(largest |value| %.3g), so any engine output near zero passes; %s",
                name,
                atols[name],
                max(c.reference_max_abs for c in seen),
                fix,
            )


@dataclass(frozen=True)
class ShapeSetResult:
    shapes: dict[str, Shape]
    outputs: list[OutputComparison]

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outputs)

    def to_json(self) -> dict:
        return {
            "shapes": {k: list(v) for k, v in self.shapes.items()},
            "outputs": [o.to_json() for o in self.outputs],
        }


def given_values(
    values: Mapping[str, str], inputs: Sequence[GraphTensor], flag: str = "--input"
) -> dict[str, np.ndarray]:
    """Parse NAME=VALUE|FILE.npy (``flag`` names the option in errors) into arrays of the inputs' dtypes; a
    number is a 0-d array that fills the input's shape where it is fed."""
    by_name = {i.name: i for i in inputs}
    arrays: dict[str, np.ndarray] = {}
    for name, text in values.items():
        model_input = by_name.get(name)
        if model_input is None:
            raise BadInput(f"{flag} {name}: the model has no input '{name}' (inputs: {', '.join(by_name)})")
        where = f"{flag} {name}={text if len(text) <= 80 else text[:77] + '...'}"
        target = np.dtype(model_input.dtype)
        if target.kind not in "biuf":
            arrays[name] = _other_type_value(text, where, target, flag, name)
        elif text.endswith(".npy"):
            arrays[name] = cast_to_input(read_npy(Path(text), f"{flag} {name}: file"), where, name, target)
        else:
            arrays[name] = parse_number(text, where, name, target)
    return arrays


def _other_type_value(text: str, where: str, target: np.dtype, flag: str, name: str) -> np.ndarray:
    """A value for an input whose type numpy casts only loosely (bfloat16, float8, string): a .npy already of
    that type, nothing else."""
    if not text.endswith(".npy"):
        raise BadInput(f"{where}: input '{name}' is {target}; give its values as a .npy of that type")
    array = read_npy(Path(text), f"{flag} {name}: file")
    if array.dtype != target:
        raise BadInput(
            f"{where}: the file holds {array.dtype} but input '{name}' is {target}; save it as {target}"
        )
    return array


def available_memory_bytes() -> int | None:
    """Memory the system can still give this process (Linux's MemAvailable, or free pages where /proc is not
    readable), less where a cgroup limit (a container's `--memory`) leaves less; None where nothing can say."""
    system = _system_available()
    room = _cgroup_room()
    known = [value for value in (system, room) if value is not None]
    return min(known) if known else None


def _system_available() -> int | None:
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


# Where cgroups are mounted, and this process's own cgroup (cgroup v2's "0::/path" line).
CGROUP_ROOT = Path("/sys/fs/cgroup")
SELF_CGROUP = Path("/proc/self/cgroup")
# cgroup v1 writes "no limit" as a huge number (the largest page-aligned int64) instead of "max".
_NO_LIMIT = 1 << 60


def _cgroup_room() -> int | None:
    """Limit minus usage of this process's memory cgroup (v2, then v1 as seen from inside a container), or None
    where no limit applies or none can be read. MemAvailable counts the whole machine's memory, so inside a
    container it can promise far more than the limit at which the kernel kills the process."""
    candidates = []
    try:
        for line in SELF_CGROUP.read_text().splitlines():
            if line.startswith("0::"):
                folder = CGROUP_ROOT / line[3:].strip().lstrip("/")
                candidates.append((folder / "memory.max", folder / "memory.current"))
    except OSError:
        pass
    candidates += [
        (CGROUP_ROOT / "memory.max", CGROUP_ROOT / "memory.current"),
        (CGROUP_ROOT / "memory" / "memory.limit_in_bytes", CGROUP_ROOT / "memory" / "memory.usage_in_bytes"),
    ]
    for limit_file, usage_file in candidates:
        try:
            limit_text, usage = limit_file.read_text().strip(), int(usage_file.read_text())
        except (OSError, ValueError):
            continue
        if not limit_text.isdigit() or int(limit_text) >= _NO_LIMIT:
            return None
        return max(int(limit_text) - usage, 0)
    return None


def check_feed_fits(inputs: Sequence[GraphTensor], shapes: Mapping[str, Shape]) -> None:
    """Refuse, before anything is allocated, inputs that alone take more than the memory left: a profile or a
    sidecar past TensorRT's limits would otherwise make numpy or onnxruntime try, and be killed."""
    needed = 0
    for model_input in inputs:
        shape = shapes.get(model_input.name)
        if shape is None:
            continue
        try:
            itemsize = np.dtype(model_input.dtype).itemsize
        except TypeError:
            itemsize = 8
        needed += math.prod(int(d) for d in shape) * itemsize
    available = available_memory_bytes()
    if available is not None and needed > available // 2:
        described = ", ".join(f"{name}={'x'.join(str(d) for d in shape)}" for name, shape in shapes.items())
        raise BadInput(
            f"the inputs at {clipped(described, 200)} take {needed / 2**30:.1f} GiB, more than half of the "
            f"{available / 2**30:.1f} GiB of memory left; verify at smaller shapes (the profiles' or the sidecar's)"
        )


def largest_tensor_at(
    model: onnx.ModelProto | Path, shapes: Mapping[str, Shape], unknown_dim: int | None = None
) -> tuple[str, int] | None:
    """The largest tensor (name, bytes) that running ``model`` at these input shapes makes, as onnx's shape
    inference sees it; None where inference cannot say. Weights are left out: they are loaded already.

    A tensor whose size inference cannot tell is left out too, or, with ``unknown_dim``, counts each unknown dim as
    that length: a Resize to sizes computed at run time leaves the dims of every tensor after it unknown, and at
    large shapes those are the large ones. Tensors of unknown rank are left out either way: nothing says how
    large they are."""
    if isinstance(model, Path):
        model = onnx.load(str(model), load_external_data=False)
    light = shape_inference_copy(model)
    del light.graph.value_info[:]  # what the file says of its tensors may contradict these shapes
    for value in light.graph.input:
        shape = shapes.get(value.name)
        if shape is not None and value.type.HasField("tensor_type"):
            value.CopyFrom(
                onnx.helper.make_tensor_value_info(value.name, value.type.tensor_type.elem_type, list(shape))
            )
    try:
        inferred = onnx.shape_inference.infer_shapes(light, data_prop=True)
    except Exception:  # inference is a best effort here: the run itself reports what the model does wrong
        return None
    typed = {value.name: value for value in [*inferred.graph.value_info, *inferred.graph.output]}
    sizes: list[tuple[str, int]] = []
    for value in typed.values():
        tensor_type = value.type.tensor_type
        if not tensor_type.HasField("shape"):
            continue
        dims = [d.dim_value if d.HasField("dim_value") else -1 for d in tensor_type.shape.dim]
        if any(d < 0 for d in dims):
            if unknown_dim is None:
                continue
            dims = [unknown_dim if d < 0 else d for d in dims]
        try:
            itemsize = onnx.helper.tensor_dtype_to_np_dtype(tensor_type.elem_type).itemsize
        except (KeyError, TypeError, ValueError):
            itemsize = 8
        sizes.append((value.name, math.prod(dims) * itemsize))
    return max(sizes, key=lambda item: item[1]) if sizes else None


def check_model_fits(model: onnx.ModelProto | Path, shapes: Mapping[str, Shape]) -> None:
    """Refuse, before onnxruntime runs, a model whose own tensors at these shapes take more than half the memory
    left (a Range of billions of values in a 400-byte model): onnxruntime would allocate until killed."""
    available = available_memory_bytes()
    if available is None:
        return
    largest = largest_tensor_at(model, shapes)
    if largest is not None and largest[1] > available // 2:
        described = ", ".join(f"{name}={'x'.join(str(d) for d in shape)}" for name, shape in shapes.items())
        raise BadInput(
            f"running the model at {clipped(described, 200) or 'its static shapes'} makes tensor "
            f"'{clipped(largest[0])}' of {largest[1] / 2**30:.1f} GiB, more than half of the "
            f"{available / 2**30:.1f} GiB of memory left; verify at smaller shapes, or drop --verify"
        )


# Random integer inputs are drawn from 0..7: valid ids, classes and small counts for most models.
RANDOM_INT_HIGH = 8


def random_feed(
    inputs: Sequence[GraphTensor], shapes: Mapping[str, Shape], given: Mapping[str, np.ndarray], seed: int
) -> dict[str, np.ndarray]:
    check_feed_fits(inputs, shapes)
    rng = np.random.default_rng(seed)
    feed: dict[str, np.ndarray] = {}
    for model_input in inputs:
        if model_input.name in given:
            value = given[model_input.name]
            shape = shapes.get(model_input.name, value.shape)
            if value.ndim and tuple(value.shape) != tuple(shape):
                raise BadInput(
                    f"--input {model_input.name}: the value has shape {list(value.shape)} but the run needs "
                    f"{list(shape)} (the profile's shape for it); give a .npy of that shape, or a number"
                )
            feed[model_input.name] = np.broadcast_to(value, shape).copy() if value.ndim == 0 else value
            continue
        shape = shapes[model_input.name]
        dtype = np.dtype(model_input.dtype)
        # np.asarray: for a rank-0 input numpy's generators return scalars, which onnxruntime does not take.
        if dtype.kind in "iuf" and "mask" in model_input.name.lower():
            # An attention mask is 0 or 1: a transformer scales (1 - mask) by -1e4 or float32's lowest, which
            # any other value turns into huge positive scores (or inf) in both models alike.
            feed[model_input.name] = np.asarray(rng.integers(0, 2, size=shape), dtype=dtype)
        elif dtype.kind == "f":
            feed[model_input.name] = np.asarray(rng.uniform(-1.0, 1.0, size=shape), dtype=dtype)
        elif dtype.kind in "iu":
            # Indices into a table of fewer than 8 rows (token types) stay within it.
            high = min(RANDOM_INT_HIGH, model_input.index_rows or RANDOM_INT_HIGH)
            feed[model_input.name] = np.asarray(rng.integers(0, high, size=shape), dtype=dtype)
        elif dtype.kind == "b":
            feed[model_input.name] = np.asarray(rng.random(size=shape) < 0.5)
        else:
            raise BadInput(
                f"cannot make random values for input '{model_input.name}' of type {model_input.dtype}; "
                f"give them with --input {model_input.name}=FILE.npy"
            )
    return feed


def element_errors(
    got: np.ndarray, want: np.ndarray, atol: float, rtol: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per element of two same-shape arrays: absolute error (NaN against NaN and an infinity against the same
    infinity are 0, any other NaN is inf), relative error, and whether it is within atol + rtol * |want|."""
    got64, want64 = got.astype(np.float64), want.astype(np.float64)
    same = (np.isnan(got64) & np.isnan(want64)) | (np.isinf(want64) & (got64 == want64))
    with np.errstate(invalid="ignore"):  # inf - inf, replaced just below
        diff = np.where(same, 0.0, np.abs(got64 - want64))
    diff = np.where(np.isnan(diff), np.inf, diff)
    # Relative error only where the reference is above atol: near zero it says nothing (atol covers it).
    magnitude = np.abs(np.nan_to_num(want64))
    rel = np.where(magnitude > atol, diff / np.maximum(magnitude, np.finfo(np.float64).tiny), 0.0)
    return diff, rel, diff <= atol + rtol * magnitude


def compare_outputs(
    name: str, got: np.ndarray, want: np.ndarray, atol: float, rtol: float, min_within: float = 1.0
) -> OutputComparison:
    """Errors of ``got`` against the reference ``want``; ok when every element is within atol + rtol * |want|, or,
    with ``min_within`` below 1 (int8), at least that share of them."""
    if got.shape != want.shape:
        return OutputComparison(
            name, tuple(got.shape), float("inf"), float("inf"), False, reference_shape=tuple(want.shape)
        )
    diff, rel, inside = element_errors(got, want, atol, rtol)
    within = float(inside.mean()) if inside.size else 1.0
    ok = bool(np.all(inside)) if min_within >= 1.0 else within >= min_within
    max_abs = float(diff.max()) if diff.size else 0.0
    max_rel = float(rel.max()) if rel.size else 0.0
    magnitude = np.abs(np.nan_to_num(want.astype(np.float64), nan=0.0))
    reference_max_abs = float(magnitude.max()) if magnitude.size else 0.0
    return OutputComparison(name, tuple(want.shape), max_abs, max_rel, ok, within, None, reference_max_abs)


@dataclass(frozen=True)
class CompareRequest:
    """What two models are compared on: the inputs, one feed per shape set (the ``given`` values, seeded random
    numbers for the other inputs, seed ``seed + index``), and how close every output must come."""

    inputs: Sequence[GraphTensor]
    shape_sets: Sequence[Mapping[str, Shape]]
    given: Mapping[str, np.ndarray]
    atol: float
    rtol: float
    seed: int = 0


def compare_models(
    original: onnx.ModelProto | Path,
    prepared: onnx.ModelProto | Path,
    request: CompareRequest,
    *,
    report: bool = True,
) -> list[ShapeSetResult]:
    """Run both models on each shape set and compare every output of the original; ``report``: a verify line
    per output and the near-zero warnings (a caller that sums up the comparison itself passes False)."""
    start = time.perf_counter()
    inputs, shape_sets, given = request.inputs, request.shape_sets, request.given
    atol, rtol, seed = request.atol, request.rtol, request.seed
    from trtconvert.checks.ort_session import create_session, user_model_errors

    for shapes in shape_sets:  # every shape set fits in memory before either model is loaded
        check_feed_fits(inputs, shapes)
        check_model_fits(original, shapes)
    drop_verify = "or drop --verify"
    with user_model_errors(
        "load the original model", f"verification runs it in onnxruntime: fix the model, {drop_verify}"
    ):
        reference = create_session(original)
    candidate = create_session(prepared)
    names = [o.name for o in reference.get_outputs()]
    candidate_names = {o.name for o in candidate.get_outputs()}
    missing = [n for n in names if n not in candidate_names]
    if missing:
        raise RuntimeError(f"the prepared model lost outputs {missing}")
    results = []
    reference_inputs = {i.name for i in reference.get_inputs()}
    candidate_inputs = {i.name for i in candidate.get_inputs()}
    for index, shapes in enumerate(shape_sets):
        shown = ", ".join(f"{k}={format_shape(v) or 'scalar'}" for k, v in shapes.items())
        fix = "check the --profile shapes and the --input values, or drop --verify"
        with user_model_errors(f"run the original model at {shown}", fix):
            feed = random_feed(inputs, shapes, given, seed + index)
            # Frozen inputs are constants of the prepared model: only the original takes them.
            want = reference.run(names, {k: v for k, v in feed.items() if k in reference_inputs})
        got = candidate.run(names, {k: v for k, v in feed.items() if k in candidate_inputs})
        comparisons = [compare_outputs(n, g, w, atol, rtol) for n, g, w in zip(names, got, want, strict=True)]
        result = ShapeSetResult({k: tuple(v.shape) for k, v in feed.items()}, comparisons)
        results.append(result)
        if not report:
            continue
        shape_text = ", ".join(f"{k}={format_shape(v) or 'scalar'}" for k, v in result.shapes.items())
        for comparison in comparisons:
            errors = comparison.report_text(atol, rtol)
            log.stage("verify", time.perf_counter() - start, f"[{shape_text}] {comparison.name}: {errors}")
    if not report:
        return results
    random_inputs = [i.name for i in inputs if i.name not in given]
    warn_near_zero([c for r in results for c in r.outputs], dict.fromkeys(names, atol), random_inputs)
    return results
