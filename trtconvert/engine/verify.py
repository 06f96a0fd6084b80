"""`verify PLAN --onnx MODEL`: the engine (polygraphy's TrtRunner) against the original model (onnxruntime).

Both run on the same seeded random inputs at the min, opt and max shapes of every optimization profile (read
from the plan's sidecar, or from the engine where there is none). Each output has its tolerance: defaults by
the plan's precision, ``--atol 1e-3`` for all outputs, ``--atol NAME=1e-2`` for one. Where TensorRT is absent
the onnxruntime side still runs (it checks the model, the inputs and the shapes), then verify exits 3.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trtconvert import log
from trtconvert.checks.compare import (
    OutputComparison,
    check_feed_fits,
    check_model_fits,
    compare_outputs,
    given_values,
    random_feed,
    warn_near_zero,
)
from trtconvert.checks.input_values import cast_to_input
from trtconvert.engine.machine import import_tensorrt, require_gpu
from trtconvert.engine.plan_files import load_engine, profiles_from_json, read_sidecar, sidecar_path
from trtconvert.engine.tensorrt_log import tensorrt_messages
from trtconvert.errors import INSTALL_TENSORRT, BadInput, MissingDependency, VerificationFailed
from trtconvert.model.info import GraphTensor, graph_inputs
from trtconvert.model.load import read_graph, require_regular_file
from trtconvert.model.profiles import Profile, Shape, ShapeRange, format_shape, validate_profiles
from trtconvert.prepare.freeze import frozen_feed
from trtconvert.settings.request import check_plugin_paths
from trtconvert.settings.target import engine_dtype
from trtconvert.settings.tolerances import (
    INT8_MIN_WITHIN,
    Tolerances,
    parse_tolerances,
    sidecar_tolerance_key,
)


@dataclass(frozen=True)
class ShapeSet:
    profile: int
    which: str  # "min", "opt" or "max"
    shapes: dict[str, Shape]

    def label(self) -> str:
        text = ", ".join(f"{k}={format_shape(v) or 'scalar'}" for k, v in self.shapes.items())
        return f"profile {self.profile} {self.which}: {text}"


def _static_shapes(inputs: Sequence[GraphTensor]) -> dict[str, Shape]:
    return {i.name: tuple(d for d in i.dims if isinstance(d, int)) for i in inputs if i.is_static}


def shape_sets_from_profiles(profiles: Sequence[Profile], inputs: Sequence[GraphTensor]) -> list[ShapeSet]:
    """min, opt and max of every profile (a fixed profile once), static inputs filled in."""
    static = _static_shapes(inputs)
    sets: list[ShapeSet] = []
    for index, profile in enumerate(profiles):
        seen: list[dict[str, Shape]] = []
        for which in ("min", "opt", "max"):
            shapes = {**static, **{name: tuple(getattr(r, which)) for name, r in profile.items()}}
            if shapes not in seen:
                seen.append(shapes)
                sets.append(ShapeSet(index, which, shapes))
    if not sets:
        sets.append(ShapeSet(0, "static", static))
    return sets


def engine_profiles(engine: Any, trt: Any) -> list[Profile]:
    """The engine's optimization profiles (for plans without a sidecar)."""
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    inputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
    profiles = []
    for index in range(engine.num_optimization_profiles):
        profile = {}
        for name in inputs:
            if engine.is_shape_inference_io(name):
                continue
            low, mid, high = engine.get_tensor_profile_shape(name, index)
            profile[name] = ShapeRange(tuple(low), tuple(mid), tuple(high))
        profiles.append(profile)
    return profiles


def _compare_output(
    name: str, got: Mapping[str, Any], want: Mapping[str, np.ndarray], tolerances: Tolerances
) -> OutputComparison:
    """One output of the engine against the reference's (an output the engine lacks is named as such)."""
    if name not in got:
        return OutputComparison.absent(name, tuple(want[name].shape))
    out_atol, out_rtol = tolerances.for_output(name)
    return compare_outputs(name, np.asarray(got[name]), want[name], out_atol, out_rtol, tolerances.min_within)


def feed_as_engine_binds(
    feed: Mapping[str, np.ndarray], engine_types: Mapping[str, np.dtype | None], tensorrt_version: str
) -> dict[str, np.ndarray]:
    """The reference's inputs as the engine binds them; inputs the engine lacks (frozen ones) are left out, and
    those of a type numpy lacks (None) are handed on as they are.

    TensorRT's ONNX parser binds an int64 input as int32 before 9.0 and a float64 one as float32
    (settings/target.py), and polygraphy's runner refuses an array of any other type than the engine's: those
    inputs are cast, and values the narrower type cannot hold are refused, naming the input.
    """
    fed = {}
    for name, value in feed.items():
        if name not in engine_types:
            continue
        array, target = np.asarray(value), engine_types[name]
        if (
            target is not None
            and array.dtype != target
            and engine_dtype(array.dtype.name, tensorrt_version) == target.name
        ):
            where = (
                f"input '{name}' (TensorRT {tensorrt_version} binds the model's {array.dtype} as {target})"
            )
            array = cast_to_input(array, where, name, target)
        fed[name] = array
    return fed


def _engine_input_types(engine: Any, trt: Any) -> dict[str, np.dtype | None]:
    types: dict[str, np.dtype | None] = {}
    for index in range(engine.num_io_tensors):
        name = engine.get_tensor_name(index)
        if engine.get_tensor_mode(name) != trt.TensorIOMode.INPUT:
            continue
        try:
            types[name] = np.dtype(trt.nptype(engine.get_tensor_dtype(name)))
        except TypeError:  # a type numpy lacks (bfloat16, fp8)
            types[name] = None
    return types


@dataclass(frozen=True)
class EngineCheck:
    """Everything a plan is checked against, except the plan: the original model run by onnxruntime on the same
    inputs, and how close each output must be."""

    onnx: Path
    inputs: Sequence[GraphTensor]
    plugins: Sequence[Path]  # checked paths, loaded before the engine is deserialized
    tolerances: Tolerances
    tolerance_of: str  # the precision whose defaults the tolerances came from, for the report
    given: Mapping[str, np.ndarray]
    seed: int
    sets: Sequence[ShapeSet] | None  # None: the engine's own profiles


def _reference_outputs(
    onnx_path: Path,
    inputs: Sequence[GraphTensor],
    sets: Sequence[ShapeSet],
    given: Mapping[str, np.ndarray],
    seed: int,
) -> tuple[list[dict[str, np.ndarray]], list[dict[str, np.ndarray]], list[str]]:
    from trtconvert.checks.ort_session import create_session, user_model_errors
    from trtconvert.prepare.pipeline import original_for_onnxruntime

    start = time.perf_counter()
    for shape_set in sets:  # every shape set fits in memory before the model is even loaded
        check_feed_fits(inputs, shape_set.shapes)
        check_model_fits(onnx_path, shape_set.shapes)
    with user_model_errors("load the original model", "the reference runs it in onnxruntime: fix the model"):
        session = create_session(original_for_onnxruntime(onnx_path))
    names = [o.name for o in session.get_outputs()]
    feeds, wants = [], []
    for index, shape_set in enumerate(sets):
        with user_model_errors(
            f"run the original model at {shape_set.label()}", "check the shapes and --input values"
        ):
            feed = random_feed(inputs, shape_set.shapes, given, seed + index)
            feeds.append(feed)
            wants.append(dict(zip(names, session.run(names, feed), strict=True)))
    log.stage(
        "reference",
        time.perf_counter() - start,
        f"onnxruntime ran {onnx_path.name} on {len(sets)} shape set(s)",
    )
    return feeds, wants, names


def run_verify(
    plan: Path,
    onnx_path: Path | None,
    *,
    plugins: Sequence[Path] = (),
    atol: Sequence[str] = (),
    rtol: Sequence[str] = (),
    input_values: Mapping[str, str] | None = None,
    seed: int = 0,
    int8_min_within: float = INT8_MIN_WITHIN,
) -> dict:
    """`trtconvert verify`: the user's words made typed (sidecar, tolerances, values), then verify_engine."""
    if onnx_path is None:
        raise BadInput("verify needs the original model: add --onnx MODEL.onnx")
    require_regular_file(plan, "plan file")
    plugin_paths = check_plugin_paths(plugins)
    graph = read_graph(onnx_path)
    inputs = graph_inputs(graph)
    output_names = [o.name for o in graph.graph.output]
    given = given_values(input_values or {}, inputs)
    sidecar: dict | None = None
    if sidecar_path(plan).is_file():
        sidecar = read_sidecar(plan)  # a sidecar that no longer matches the plan is an error, not a hint
    else:
        log.LOGGER.info("          %s has no sidecar; profiles come from the engine", plan.name)
    key = sidecar_tolerance_key(sidecar)
    tolerances = parse_tolerances(atol, rtol, key, output_names, int8_min_within)
    if sidecar is not None:
        given.update(frozen_feed(sidecar.get("frozen", {}), given))
    sets: list[ShapeSet] | None = None
    # A sidecar without profiles (edited by hand) says nothing about them: they come from the engine, as
    # for a plan without sidecar.
    if sidecar is not None and "profiles" in sidecar:
        profiles = profiles_from_json(sidecar["profiles"])
        check_sidecar_describes(plan, onnx_path, profiles, sidecar.get("frozen", {}), inputs)
        sets = shape_sets_from_profiles(profiles, inputs)
    elif all(i.is_static for i in inputs):
        sets = shape_sets_from_profiles([], inputs)
    return verify_engine(
        plan, EngineCheck(onnx_path, inputs, plugin_paths, tolerances, key, given, seed, sets)
    )


def check_sidecar_describes(
    plan: Path,
    onnx_path: Path,
    profiles: Sequence[Profile],
    frozen: Mapping[str, Any],
    inputs: Sequence[GraphTensor],
) -> None:
    """The sidecar's profiles must fit the model's inputs, or the plan was built from another model."""
    free = [i for i in inputs if i.name not in frozen]
    try:
        validate_profiles(profiles, free)
        dynamic = [i.name for i in free if not i.is_static]
        if dynamic and not profiles:
            # An engine of a model with dynamic inputs has at least one profile; none means another model.
            raise BadInput(f"no profile gives shapes for the dynamic input(s) {', '.join(dynamic)}")
    except BadInput as err:
        raise BadInput(
            f"the sidecar of {plan.name} does not fit {onnx_path.name} ({err}); give the --onnx the plan was "
            "built from, or rebuild the plan"
        ) from None


def verify_engine(plan: Path, against: EngineCheck) -> dict:
    """Run ``plan`` and the original model on the same inputs at each shape set and compare every output.

    Raises VerificationFailed (exit 4) out of tolerance, MissingDependency (exit 3) without TensorRT or a GPU
    (after the onnxruntime side ran, where the shape sets are known without the engine).
    """
    trt, trt_reason = import_tensorrt()
    sets = against.sets
    if sets:
        feeds, wants, names = _reference_outputs(
            against.onnx, against.inputs, sets, against.given, against.seed
        )
    if trt is None:
        done = f"the onnxruntime reference ran on {len(sets)} shape set(s)" if sets else "nothing could run"
        raise MissingDependency(f"{trt_reason}, so the plan was not run ({done}); {INSTALL_TENSORRT}")
    require_gpu("the plan cannot run")

    from polygraphy.backend.trt import TrtRunner

    engine = load_engine(plan, against.plugins, trt)
    start = time.perf_counter()
    results = []
    with tensorrt_messages():
        if not sets:
            sets = shape_sets_from_profiles(engine_profiles(engine, trt), against.inputs)
            feeds, wants, names = _reference_outputs(
                against.onnx, against.inputs, sets, against.given, against.seed
            )
        engine_inputs = _engine_input_types(engine, trt)
        with TrtRunner(engine) as runner:
            for shape_set, feed, want in zip(sets, feeds, wants, strict=True):
                if engine.num_optimization_profiles > 1:
                    runner.set_profile(shape_set.profile)
                # Frozen inputs are constants inside the engine: only the original model takes them.
                got = runner.infer(feed_as_engine_binds(feed, engine_inputs, trt.__version__))
                comparisons = [_compare_output(name, got, want, against.tolerances) for name in names]
                for comparison in comparisons:
                    out_atol, out_rtol = against.tolerances.for_output(comparison.name)
                    least = against.tolerances.min_within
                    log.stage(
                        "verify",
                        time.perf_counter() - start,
                        f"[{shape_set.label()}] {comparison.name}: "
                        f"{comparison.report_text(out_atol, out_rtol, least)}",
                    )
                results.append((shape_set, comparisons))
    atols = {name: against.tolerances.for_output(name)[0] for name in names}
    random_inputs = [i.name for i in against.inputs if i.name not in against.given]
    warn_near_zero([c for _, cs in results for c in cs], atols, random_inputs)
    report = {
        "ok": all(c.ok for _, cs in results for c in cs),
        "command": "verify",
        "plan": str(plan),
        "onnx": str(against.onnx),
        "tensorrt": trt.__version__,
        "default_tolerance_of": against.tolerance_of,
        "tolerances": against.tolerances.to_json(),
        "results": [
            {
                "profile": s.profile,
                "shapes_from": s.which,
                "shapes": {k: list(v) for k, v in s.shapes.items()},
                "outputs": [c.to_json() for c in cs],
            }
            for s, cs in results
        ],
    }
    if not report["ok"]:
        bad = sorted({c.name for _, cs in results for c in cs if not c.ok})
        raise VerificationFailed(
            f"the engine differs from onnxruntime beyond tolerance on output(s) {', '.join(bad)}; rerun with -v, "
            "or loosen one output with --atol NAME=VALUE if the difference is expected for this precision",
            {k: v for k, v in report.items() if k != "ok"},
        )
    return report
