"""The CPU half of the pipeline: preflight -> freeze -> fold -> rewrite -> precision -> dims -> parser checks
(`prepare_model`), then save and verify (`save_and_verify`).

`prepare` runs all of it into its output; `build` runs the same stages into a temporary file and hands the
prepared model to the engine stages.
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx

from trtconvert import log
from trtconvert.atomic import check_output_path, staged_files
from trtconvert.checks.compare import (
    CompareRequest,
    OutputComparison,
    ShapeSetResult,
    compare_models,
    given_values,
)
from trtconvert.checks.ort_session import is_plugin_node
from trtconvert.errors import MAX_MESSAGE_CHARS, BadInput, VerificationFailed
from trtconvert.int8.calibration import CalibrationData
from trtconvert.int8.qdq import qdq_counts
from trtconvert.model.dims import fixed_dims, make_placeholders_unique, pin_dims_where_consistent
from trtconvert.model.info import GraphTensor, all_nodes, graph_inputs, largest_weight_bytes
from trtconvert.model.load import (
    external_data_files,
    large_initializers_on_disk,
    load_model,
    read_graph,
    read_weights,
)
from trtconvert.model.profiles import (
    example_flag,
    format_shape,
    largest_shapes,
    opt_shapes,
    validate_profiles,
)
from trtconvert.model.save import needs_external_data, save_onnx
from trtconvert.paths import refuse_shared_paths
from trtconvert.prepare.fp16_check import (
    NARROW_FLOAT,
    emulated_candidate,
    find_out_of_range,
    fp16_outputs_hold,
    suggestion,
)
from trtconvert.prepare.freeze import freeze_inputs, frozen_values
from trtconvert.prepare.keep_fp32 import name_unnamed_nodes
from trtconvert.prepare.parser_checks import check_parser_limits
from trtconvert.prepare.precision import PrecisionResult, precision_stage
from trtconvert.prepare.rewrite import rewrite_model
from trtconvert.settings.request import Request, parse_size, resolve
from trtconvert.settings.spec import Spec


@dataclass
class Preflight:
    """What is known about a run before anything slow happens."""

    model_path: Path
    inputs: list[GraphTensor]  # the original model's, frozen ones included
    given: dict[str, np.ndarray]  # --input values, and the --freeze values (fed to the original)
    data_files: set[Path]
    frozen: dict[str, np.ndarray] = field(default_factory=dict)
    calibration: CalibrationData | None = None  # int8 only
    calibration_cache: bytes | None = (
        None  # int8 through TensorRT's calibrator: the --calib-cache read, if any
    )
    qdq_nodes: int = 0  # QuantizeLinear and DequantizeLinear nodes the model holds: explicit quantization

    @property
    def free_inputs(self) -> list[GraphTensor]:
        """The inputs the prepared model keeps: all but the frozen ones."""
        return [i for i in self.inputs if i.name not in self.frozen]


@dataclass
class Prepared:
    model: onnx.ModelProto
    preflight: Preflight
    precision: PrecisionResult
    rewrites: list = field(default_factory=list)
    before_precision: onnx.ModelProto | None = None  # kept where the precision stage quantized (int8 Q/DQ)

    @property
    def cpu_verifiable(self) -> bool:
        return self.precision.cpu_verifiable


def preflight(request: Request) -> Preflight:
    """Check the model file, profiles, input values and output path; reads no weights."""
    spec = request.spec
    if spec.model is None:
        raise BadInput("no model given; pass MODEL.onnx or set 'model:' in the config")
    graph = read_graph(spec.model)
    data_files = external_data_files(graph, spec.model)
    fold_limit(spec)  # a bad --fold-max-size is refused before anything slow
    inputs = graph_inputs(graph)
    frozen = frozen_values(spec.freeze, inputs)
    for name in frozen:
        if name in spec.inputs:
            raise BadInput(f"input '{name}' is given both --freeze and --input; keep one of them")
        for profile in spec.profiles:
            if name in profile:
                raise BadInput(
                    f"input '{name}' is frozen (--freeze), so it takes no --profile; drop it there"
                )
    free = [i for i in inputs if i.name not in frozen]
    validate_profiles(spec.profiles, free)
    given = {**given_values(spec.inputs, inputs), **frozen}
    for shapes in opt_shapes(spec.profiles, free) if spec.verify else []:
        for name, value in given.items():
            if value.ndim and name in shapes and tuple(value.shape) != tuple(shapes[name]):
                raise BadInput(
                    f"--input {name}: the value has shape {list(value.shape)} but verification runs the profile's "
                    f"shape {list(shapes[name])}; give a .npy of that shape, or a number"
                )
    if spec.verify and not spec.profiles:
        uncovered = [i.name for i in inputs if not i.is_static and i.name not in given]
        if uncovered:
            raise BadInput(
                f"--verify needs shapes for dynamic input(s) {', '.join(uncovered)}; add {example_flag(inputs)}"
            )
    if spec.output is not None:
        check_output_path(spec.output, [spec.model, *data_files])
        refuse_shared_paths([("-o", spec.output)], run_inputs(spec, data_files=data_files))
    qdq_nodes = sum(qdq_counts(graph).values())
    _check_explicit_quantization(request, qdq_nodes)
    calibration, cache = (None, None)
    if request.precision.int8 and not qdq_nodes:
        calibration, cache = _calibration(request, free)
    return Preflight(spec.model, inputs, given, data_files, frozen, calibration, cache, qdq_nodes)


def _check_explicit_quantization(request: Request, qdq_nodes: int) -> None:
    """A model that holds Q/DQ nodes carries its own INT8 scales: TensorRT 8.5-10 build it with the INT8 flag and
    no calibrator (a weakly typed network with Q/DQ and no INT8 flag is refused by the builder), and nothing
    calibrates it again."""
    if not qdq_nodes:
        return
    spec, plan = request.spec, request.precision
    if not plan.int8 and not plan.strongly_typed:
        raise BadInput(
            f"the model holds {qdq_nodes} QuantizeLinear/DequantizeLinear node(s) (explicit quantization), which "
            f"TensorRT {plan.tensorrt} builds only with its INT8 flag; add --precision int8 (or int8,fp16 to let "
            "the layers without Q/DQ run in fp16)"
        )
    unused = [
        flag
        for flag, given in (
            ("--calib-data", spec.calib_data is not None),
            ("--calib-cache", spec.calib_cache is not None),
            ("--calib-random-for-timing-only", spec.calib_random_for_timing_only),
        )
        if given
    ]
    if plan.int8 and unused:
        log.LOGGER.warning(
            "          %s not used: the model's %d Q/DQ node(s) already carry the INT8 scales",
            " and ".join(unused),
            qdq_nodes,
        )


def run_inputs(
    spec: Spec, checked: Preflight | None = None, data_files: set[Path] | None = None
) -> list[tuple[str, Path | None]]:
    """Every file the run reads and must leave byte-identical, with the flag that names it."""
    files = checked.data_files if checked is not None else data_files or set()
    values = {**spec.inputs, **spec.freeze}
    return [
        ("the model", spec.model),
        ("--config", spec.config),
        *(("the model's external data", path) for path in sorted(files)),
        *(("--plugin", plugin) for plugin in spec.plugins),
        ("--calib-data", spec.calib_data),
        *((f"the value file of {name}", Path(v)) for name, v in values.items() if str(v).endswith(".npy")),
    ]


RANDOM_CALIBRATION_SAMPLES = 8


def _check_calibration_shapes(data: CalibrationData, profile: dict, source: Path) -> None:
    """TensorRT 8.5-10 calibrate at the calibration profile (polygraphy takes the last --profile) and its opt shapes."""
    for name, shape_range in profile.items():
        sample = tuple(data.arrays[name].shape[1:]) if name in data.arrays else None
        if sample is not None and sample != tuple(shape_range.opt):
            raise BadInput(
                f"--calib-data {source}: input '{name}' samples have shape {list(sample)}, but TensorRT calibrates at "
                f"the last --profile's opt shape {list(shape_range.opt)}; give samples of that shape or make it the opt"
            )


def _calibration(request: Request, inputs: list[GraphTensor]) -> tuple[CalibrationData | None, bytes | None]:
    """INT8's calibration data, checked before anything slow, and the calibration cache TensorRT 8.5-10 will
    read (the data may be absent when the cache is there: TensorRT then calibrates nothing)."""
    from trtconvert.int8.calib_cache import read_cache
    from trtconvert.int8.calibration import load_calibration_data, random_calibration_data

    spec = request.spec
    profile = spec.profiles[0] if spec.profiles else None
    builder_int8 = request.precision.convert_onnx_to is None
    version = request.precision.tensorrt
    cache = read_cache(spec.calib_cache) if builder_int8 and spec.calib_cache is not None else None
    if not builder_int8 and spec.calib_cache is not None:
        log.LOGGER.warning(
            "          --calib-cache is not used for TensorRT %s: it has no calibrator, the scales are Q/DQ nodes",
            version,
        )
    if builder_int8 and spec.calib_method != "minmax":
        log.LOGGER.warning(
            "          --calib-method is not used for TensorRT %s: its own entropy calibrator chooses the scales",
            version,
        )
    if spec.calib_data is not None and spec.calib_random_for_timing_only:
        raise BadInput(
            "--calib-data and --calib-random-for-timing-only contradict each other: keep --calib-data for an engine "
            "whose outputs mean something, or drop it to calibrate on noise for timing alone"
        )
    if spec.verify and spec.calib_random_for_timing_only:
        raise BadInput(
            "--verify and --calib-random-for-timing-only contradict each other: an engine calibrated on noise is "
            "for timing, its outputs are not meant to match; drop --verify, or calibrate with --calib-data"
        )
    if spec.calib_data is not None:
        data = load_calibration_data(spec.calib_data, inputs, profile)
        if builder_int8 and spec.profiles:
            _check_calibration_shapes(data, spec.profiles[-1], spec.calib_data)
        return data, cache
    if spec.calib_random_for_timing_only:
        log.LOGGER.warning(
            "          calibrating on random values: the INT8 engine is for timing only, its outputs may be garbage"
        )
        shapes = opt_shapes(spec.profiles, inputs)[0]
        return random_calibration_data(inputs, shapes, RANDOM_CALIBRATION_SAMPLES, spec.seed), cache
    if cache is not None:
        return None, cache
    raise BadInput(
        f"--precision {spec.precision} needs calibration data to choose INT8 scales: add --calib-data FILE.npz "
        "(one array per input, first axis = samples; or a folder of .npz, or NAME.npy per input) with a few hundred "
        "samples from the model's real inputs"
        + (", or an existing --calib-cache" if builder_int8 else "")
        + "; --calib-random-for-timing-only builds from noise, for timing alone"
    )


def prepare_model(request: Request, checked: Preflight) -> Prepared:
    """Run the CPU stages and return the TensorRT-ready model, every weight in memory.

    Large weights in external data stay on disk through fold and rewrite, which read only what they
    compute with; they are read once, after the rewrite. So a model of several GB is held in memory once,
    not copied by each graph-surgeon export and shape inference.
    """
    spec = request.spec
    weights_dir = checked.model_path.resolve().parent
    model = load_model(checked.model_path, load_weights=False)
    read_weights(model, weights_dir, leave=large_initializers_on_disk(model))
    if spec.precision in NARROW_FLOAT:
        # The overflow finder names nodes of the original model, named the same way (find_out_of_range): a node
        # without a name gets one here, before fold and rewrite, so that the --keep-fp32 flags it prints match.
        named = name_unnamed_nodes(model)
        if named:
            log.LOGGER.info("          %d unnamed node(s) named OPTYPE_INDEX for --keep-fp32", len(named))
    _specialize(request, checked, model)
    if spec.fold:
        from trtconvert.prepare.fold import fold

        model = fold(model, weights_dir, fold_limit(spec, model))
    else:
        log.stage("fold", 0.0, "skipped (--no-fold)")
    # Runs under 'none' too: it keeps every node but still refuses one that nothing can compute.
    start = time.perf_counter()
    result = rewrite_model(
        model,
        spec.rewrite,
        request.target,
        base_dir=weights_dir,
        largest_shapes=largest_shapes(spec.profiles),
    )
    model, rewrites = result.model, list(result.decisions)
    changed = sum(1 for d in rewrites if d.decision == "rewrite")
    log.stage(
        "rewrite",
        time.perf_counter() - start,
        f"{changed} of {len(rewrites)} candidate node(s) rewritten (policy {spec.rewrite})",
    )
    for decision in rewrites:
        log.LOGGER.info("          %s", decision.line())
    # The rewrite's graph-surgeon graph is a web of reference cycles holding the previous model: free it
    # before the weights come in, so that they are the only large thing in memory.
    gc.collect()
    read_weights(model, weights_dir)
    quantizes = request.precision.convert_onnx_to == "int8" and not checked.qdq_nodes
    before_precision = model if quantizes else None
    model, precision = precision_stage(
        model, request.precision, request.plugins, checked.calibration, spec.calib_method, spec.keep_fp32
    )
    renamed = make_placeholders_unique(model)
    if renamed:
        log.stage(
            "dims", 0.0, f"placeholder dim names made unique, so TensorRT ties nothing: {', '.join(renamed)}"
        )
    check_parser_limits(model, enforce=spec.check_parser, decisions=rewrites, target=request.target)
    return Prepared(model, checked, precision, rewrites, before_precision)


# Folding may make constants up to this size, or up to the model's largest weight (a weight's Transpose folds):
# past that, a few bytes of ConstantOfShape or Expand would be stored as gigabytes.
DEFAULT_FOLD_MAX_BYTES = 64 << 20


def fold_limit(spec: Spec, model: onnx.ModelProto | None = None) -> int:
    """--fold-max-size in bytes; without it, DEFAULT_FOLD_MAX_BYTES or the model's largest weight."""
    if spec.fold_max_size is not None:
        return parse_size(spec.fold_max_size, "--fold-max-size")
    return max(DEFAULT_FOLD_MAX_BYTES, largest_weight_bytes(model) if model is not None else 0)


def _specialize(request: Request, checked: Preflight, model: onnx.ModelProto) -> None:
    """Frozen inputs become constants, and dims every profile fixes become static, before folding."""
    start = time.perf_counter()
    notes = []
    if checked.frozen:
        freeze_inputs(model, checked.frozen)
        notes.append("frozen " + ", ".join(f"{k}={_short(v)}" for k, v in checked.frozen.items()))
    pinned, left = pin_dims_where_consistent(model, fixed_dims(request.spec.profiles, checked.free_inputs))
    if pinned:
        notes.append("dims every profile fixes made static: " + ", ".join(pinned))
    for axis in left:
        log.LOGGER.warning("          kept dynamic, a subgraph contradicts the static value: %s", axis)
    detail = "; ".join(notes) or "no input frozen (--freeze), no dim that every profile fixes"
    log.stage("freeze", time.perf_counter() - start, detail)


def _short(value: np.ndarray) -> str:
    flat = np.asarray(value).reshape(-1)
    if flat.size and bool(np.all(flat == flat[0])):
        return str(flat[0].item()) + (f" (shape {list(np.shape(value))})" if np.ndim(value) else "")
    return f"<{np.asarray(value).dtype} {list(np.shape(value))}>"


def original_for_onnxruntime(path: Path) -> onnx.ModelProto | Path:
    """The original model as onnxruntime can run it: its path, or a copy at a readable IR version."""
    from trtconvert.prepare.fold import onnxruntime_max_ir_version

    graph = read_graph(path)
    if graph.ir_version <= onnxruntime_max_ir_version():
        return path
    model = load_model(path)
    model.ir_version = onnxruntime_max_ir_version()
    return model


def _shape_differs_message(comparison: OutputComparison, candidate: onnx.ModelProto | Path) -> str:
    message = (
        f"the prepared model's output {comparison.name} has shape {format_shape(comparison.shape)} where the "
        f"original's is {format_shape(comparison.reference_shape or ())}"
    )
    model = candidate if isinstance(candidate, onnx.ModelProto) else read_graph(candidate)
    if any(is_plugin_node(node) for node in all_nodes(model.graph)):
        # ONNX defines floor(in * scale) exactly; onnxruntime multiplies in float32 and can round up across a
        # whole number (10 * 1.3f: 13 there, 12 exactly), and the plugin follows ONNX.
        return (
            f"{message}: a Resize by a scale whose in * scale lies within float32 rounding of a whole number has "
            "no agreed output length (the plugin takes ONNX's exact floor, onnxruntime rounds in float32); give "
            "that Resize output sizes instead of scales, or use --rewrite auto"
        )
    return f"{message}; rerun with -v, or try --no-fold / --rewrite none to find the stage"


def verify_prepared(
    request: Request, checked: Preflight, candidate: onnx.ModelProto | Path
) -> list[ShapeSetResult]:
    """The prepared model against the original in onnxruntime, at each profile's opt shape.

    An fp16 conversion runs with every fp16 tensor rounded as on a GPU. With a reduced float precision the
    overflow finder names the tensors out of its range: with a failure of a converted model, or as a warning
    where TensorRT's builder flags will lower the precision (the CPU runs fp32 there)."""
    spec, tolerances = request.spec, request.cpu_tolerances
    atol, rtol = tolerances.atol, tolerances.rtol
    original = original_for_onnxruntime(checked.model_path)
    results = compare_models(
        original,
        emulated_candidate(request, candidate),
        CompareRequest(
            checked.inputs, opt_shapes(spec.profiles, checked.inputs), checked.given, atol, rtol, spec.seed
        ),
    )
    converted = request.precision.convert_onnx_to in NARROW_FLOAT
    found = None
    if not all(r.ok for r in results):
        bad = sorted({o.name for r in results for o in r.outputs if not o.ok})
        reshaped = [o for r in results for o in r.outputs if o.reference_shape is not None]
        measured: dict = {"verification": [r.to_json() for r in results]}
        if reshaped:
            raise VerificationFailed(_shape_differs_message(reshaped[0], candidate), measured)
        differs = f"prepared model differs from the original beyond atol {atol:g}, rtol {rtol:g} on output(s) {', '.join(bad)}"
        if converted:
            found = find_out_of_range(request, original, checked.inputs, checked.given)
            if found:
                measured["out_of_range"] = found.to_json()
                room = MAX_MESSAGE_CHARS - len(differs) - 2
                raise VerificationFailed(f"{differs}; {suggestion(request, found, room)}", measured)
        integers = _integer_outputs(checked.model_path, bad) if converted else []
        if converted and found is not None and integers:
            share = min(o.within for r in results for o in r.outputs if o.name in integers)
            raise VerificationFailed(
                f"{differs}; integer output(s) {', '.join(integers)} ({share:.2%} of elements equal) are indices, "
                f"such as ArgMax's, TopK's or NonMaxSuppression's, that pick another element where "
                f"{request.precision.convert_onnx_to} rounding reorders nearly equal scores; keep the nodes computing "
                "those scores in fp32 with --keep-fp32 NAME|op:TYPE, or check the scores rather than the indices",
                measured,
            )
        if converted and found is not None:
            raise VerificationFailed(
                f"{differs}; no intermediate tensor leaves {request.precision.convert_onnx_to}'s range in fp32, so "
                "the difference is its precision: keep the sensitive nodes in fp32 with --keep-fp32 NAME|op:TYPE, "
                "or accept more with --atol/--rtol",
                measured,
            )
        raise VerificationFailed(
            f"{differs}; rerun with -v, or try --no-fold / --rewrite none to find the stage",
            measured,
        )
    if request.precision.mode == "builder_flags":
        found = find_out_of_range(request, original, checked.inputs, checked.given)
        if found and fp16_outputs_hold(request, original, candidate, checked.inputs, checked.given):
            log.LOGGER.info(
                "          the values out of %s's range do not reach the outputs beyond its tolerance: "
                "nothing needs keeping in fp32",
                NARROW_FLOAT[request.spec.precision],
            )
        elif found:
            log.LOGGER.warning(
                "warning: TensorRT %s would compute out of range here: %s",
                request.spec.precision,
                suggestion(request, found),
            )
    return results


def _integer_outputs(model_path: Path, names: list[str]) -> list[str]:
    """Those of ``names`` that are integer outputs of the model (indices, counts, class ids)."""
    from trtconvert.model.info import graph_outputs
    from trtconvert.model.load import read_graph

    types = {o.name: o.dtype for o in graph_outputs(read_graph(model_path))}
    return [n for n in names if types.get(n, "").startswith(("int", "uint"))]


MAX_QDQ_CHECK_SAMPLES = 64


def verify_quantized(
    request: Request, checked: Preflight, prepared: Prepared
) -> tuple[list[ShapeSetResult], dict]:
    """int8 Q/DQ: the float model (fold and rewrite checked against the original first) against its Q/DQ form,
    on the calibration samples; it fails where less than --int8-min-within of an output's elements are within
    the int8 tolerance. Returns both checks' results, for the report."""
    from trtconvert.int8.qdq import compare_qdq, format_comparison

    assert prepared.before_precision is not None and checked.calibration is not None
    float_results = verify_prepared(request, checked, prepared.before_precision)
    start = time.perf_counter()
    tolerances = request.int8_tolerances
    comparison = compare_qdq(
        prepared.before_precision,
        prepared.model,
        checked.calibration,
        tolerances.atol,
        tolerances.rtol,
        max_samples=MAX_QDQ_CHECK_SAMPLES,
    )
    least = request.spec.int8_min_within
    log.stage("verify", time.perf_counter() - start, format_comparison(comparison, least))
    if not comparison.ok(least):
        raise VerificationFailed(
            f"the int8 Q/DQ model is within the int8 tolerance of the float model on less than {least:.2%} of an "
            "output's elements; give calibration data closer to the real inputs, try --calib-method entropy or "
            "percentile, or accept more with --atol/--rtol or --int8-min-within",
            {"verification": [r.to_json() for r in float_results], "int8_verification": comparison.to_json()},
        )
    return float_results, comparison.to_json()


@dataclass
class CpuCheck:
    """What save_and_verify did: how long the save took, and the CPU check's results (empty where it did not
    run)."""

    save_seconds: float
    results: list[ShapeSetResult] = field(default_factory=list)
    int8_check: dict | None = None

    @property
    def ran(self) -> bool:
        return bool(self.results)

    def to_json(self) -> dict:
        return {"verification": [r.to_json() for r in self.results], "int8_verification": self.int8_check}


def save_and_verify(
    request: Request, checked: Preflight, prepared: Prepared, path: Path, announce: bool = True
) -> CpuCheck:
    """Save the prepared model to ``path`` and, with --verify, check it against the original on the CPU: the
    float model then its Q/DQ form for int8, else the saved model itself. `prepare` saves into its staging
    folder and announces the output; `build` saves into a temporary folder: both then run the same check."""
    spec = request.spec
    start = time.perf_counter()
    external = needs_external_data(prepared.model)
    save_onnx(prepared.model, path, external)
    save_seconds = time.perf_counter() - start
    if announce:
        size = sum(f.stat().st_size for f in path.parent.iterdir())
        log.stage(
            "save",
            save_seconds,
            f"{spec.output} ({size / 1e6:.1f} MB{', external data' if external else ''})",
        )
    if not spec.verify:
        return CpuCheck(save_seconds)
    if not prepared.cpu_verifiable:
        log.LOGGER.warning(
            "verify    skipped: a %s model cannot run in onnxruntime on the CPU; verify the engine instead",
            spec.precision,
        )
        return CpuCheck(save_seconds)
    if prepared.before_precision is not None:
        results, int8_check = verify_quantized(request, checked, prepared)
        return CpuCheck(save_seconds, results, int8_check)
    return CpuCheck(save_seconds, verify_prepared(request, checked, path))


def run_prepare(spec: Spec) -> dict:
    """prepare: CPU stages, then an atomic save (verified before it replaces anything)."""
    spec = spec.with_output_file(".onnx")
    if spec.output is None:
        raise BadInput("no output given; pass -o OUT.onnx or set 'output:' in the config")
    request = resolve(spec)
    checked = preflight(request)
    prepared = prepare_model(request, checked)
    with staged_files(spec.output) as staging:
        check = save_and_verify(request, checked, prepared, staging / spec.output.name)
    return {
        "ok": True,
        "command": "prepare",
        "model": str(spec.model),
        "output": str(spec.output),
        "nodes": len(prepared.model.graph.node),
        "rewrites": [d.to_json() for d in prepared.rewrites],
        "precision": prepared.precision.to_json(),
        **check.to_json(),
        "verification_skipped": None
        if prepared.cpu_verifiable
        else f"{spec.precision} cannot run in onnxruntime on the CPU",
    }
