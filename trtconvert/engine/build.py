"""`build`: the CPU stages of `prepare`, then plugins, the TensorRT build with profiles, and the atomic save
of the plan with its sidecar, as the named steps of `run_build`.

Where TensorRT (or a GPU) is absent, every CPU stage still runs, then the build stops with exit code 3 and
writes nothing. With --cache-dir, a plan whose key matches is copied instead of built (the key needs
TensorRT's version and the GPU, so the cache is consulted only where a build could run).
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from trtconvert import log
from trtconvert.atomic import check_writable_file, created_folders
from trtconvert.engine.chain import (
    EngineChain,
    engine_loader_chain,
    int8_calibrator,
    run_chain_without_unusable_cache,
)
from trtconvert.engine.layer_precision import KeepLayersFp32
from trtconvert.engine.machine import Gpu, cuda_gpu, import_tensorrt
from trtconvert.engine.mark_outputs import MarkTensorsAsOutputs
from trtconvert.engine.plan_files import (
    BuildIdentity,
    build_identity,
    cached_plan,
    copy_plan,
    lookup_cache,
    make_sidecar,
    sidecar_path,
    store_in_cache,
    write_plan,
)
from trtconvert.engine.plugins import check_creators, plugin_hint
from trtconvert.engine.tensorrt_log import TensorRTLog, tensorrt_messages
from trtconvert.engine.verify import EngineCheck, shape_sets_from_profiles, verify_engine
from trtconvert.errors import (
    INSTALL_TENSORRT,
    MAX_MESSAGE_CHARS,
    BadInput,
    MissingDependency,
    VerificationFailed,
)
from trtconvert.int8.calib_cache import cache_summary, write_cache
from trtconvert.model.info import GraphTensor, graph_inputs, graph_outputs
from trtconvert.model.profiles import example_flag
from trtconvert.paths import refuse_shared_paths, same_file
from trtconvert.prepare.fp16_check import NARROW_FLOAT, find_out_of_range, suggestion
from trtconvert.prepare.freeze import describe_frozen
from trtconvert.prepare.pipeline import (
    Preflight,
    Prepared,
    original_for_onnxruntime,
    preflight,
    prepare_model,
    run_inputs,
    save_and_verify,
)
from trtconvert.settings.request import Request, resolve
from trtconvert.settings.spec import Spec
from trtconvert.settings.tolerances import tolerance_key


@dataclass(frozen=True)
class BuildMachine:
    """What this machine offers a build: TensorRT and a GPU, or why not (the CPU stages run either way)."""

    tensorrt: ModuleType | None
    tensorrt_missing: str
    gpu: Gpu | None = None
    gpu_missing: str = ""

    @property
    def tensorrt_version(self) -> str | None:
        return self.tensorrt.__version__ if self.tensorrt is not None else None

    @property
    def can_build(self) -> bool:
        return self.tensorrt is not None and self.gpu is not None

    def require(self, cpu_detail: str) -> Gpu:
        """The GPU to build on, or MissingDependency (exit 3) saying what did run and how to get the rest."""
        if self.tensorrt is None:
            raise MissingDependency(
                f"{self.tensorrt_missing}, so no engine was built ({cpu_detail}); {INSTALL_TENSORRT}"
            )
        if self.gpu is None:
            raise MissingDependency(
                f"{self.gpu_missing}, so no engine was built ({cpu_detail}); run on a machine with an NVIDIA GPU"
            )
        return self.gpu


def this_machine() -> BuildMachine:
    trt, trt_missing = import_tensorrt()
    if trt is None:
        return BuildMachine(None, trt_missing)
    gpu, gpu_missing = cuda_gpu()
    return BuildMachine(trt, trt_missing, gpu, gpu_missing)


@dataclass
class BuildRecord:
    """What the steps of a build add to its report, step by step."""

    timings: dict[str, float] = field(default_factory=dict)
    verification: dict[str, Any] = field(default_factory=dict)  # CPU checks; the engine's once it ran


def run_build(spec: Spec, show_progress: bool = True) -> dict:
    """build: resolve and check, reuse a cached plan, the CPU stages, plugins, TensorRT, the atomic save."""
    started = time.perf_counter()
    spec = _with_plan_output(spec)
    machine = this_machine()
    request = resolve(spec, machine.tensorrt_version)
    checked = preflight(request)
    _check_build_inputs(spec, checked)
    identity = _identity(request, checked, machine)
    record = BuildRecord()
    if identity is not None and spec.cache_dir is not None:
        reused = _reuse_cached_plan(request, checked, identity, record)
        if reused is not None:
            return _report(
                request, identity, machine.require(""), record, cache="hit", precision=reused, started=started
            )

    start = time.perf_counter()
    prepared = prepare_model(request, checked)
    record.timings["cpu_stages"] = time.perf_counter() - start
    with tempfile.TemporaryDirectory(prefix="trtconvert-build-") as folder:
        onnx_path = Path(folder) / "prepared.onnx"
        cpu_check = save_and_verify(request, checked, prepared, onnx_path, announce=False)
        record.timings["onnx_save"] = cpu_check.save_seconds
        if cpu_check.ran:
            record.verification = cpu_check.to_json()
        gpu = machine.require(
            "the CPU stages passed" + (" and the prepared model matches on the CPU" if cpu_check.ran else "")
        )
        assert identity is not None  # a machine that can build has one
        engine_bytes = _build_engine(
            request, checked, prepared, onnx_path, gpu=gpu, record=record, show_progress=show_progress
        )
    sidecar = _save_plan(request, checked, prepared, engine_bytes, identity=identity, gpu=gpu, record=record)
    cache_state = _store_in_cache(spec, identity)
    return _report(
        request,
        identity,
        gpu,
        record,
        cache=cache_state,
        precision=sidecar["precision"],
        started=started,
        prepared=prepared,
    )


@dataclass(frozen=True)
class DiagnosticEngine:
    """An engine built in memory with intermediate tensors marked as outputs, and what ran and checked it."""

    engine_bytes: bytes
    request: Request
    checked: Preflight
    marked: MarkTensorsAsOutputs  # which tensors were marked, and why the others were not


def build_with_marked_outputs(
    spec: Spec, tensors: Sequence[str], show_progress: bool = True
) -> DiagnosticEngine:
    """The engine ``spec`` builds, with ``tensors`` marked as extra outputs where TensorRT allows it
    (engine.mark_outputs), kept in memory: no plan, sidecar, plan cache entry or calibration cache is written,
    and no CPU check runs; the timing cache (--timing-cache) is read and added to as by any build."""
    spec = dataclasses.replace(_with_plan_output(spec), verify=False)
    machine = this_machine()
    request = resolve(spec, machine.tensorrt_version)
    checked = preflight(request)
    gpu = machine.require("the diagnostic build of --auto-keep-fp32 needs both")
    prepared = prepare_model(request, checked)
    weakly_typed = request.precision.mode == "builder_flags"
    mark = MarkTensorsAsOutputs(tuple(tensors), NARROW_FLOAT.get(spec.precision) if weakly_typed else None)
    with tempfile.TemporaryDirectory(prefix="trtconvert-diagnostic-") as folder:
        onnx_path = Path(folder) / "prepared.onnx"
        save_and_verify(request, checked, prepared, onnx_path, announce=False)
        engine_bytes = _build_engine(
            request,
            checked,
            prepared,
            onnx_path,
            gpu=gpu,
            record=BuildRecord(),
            show_progress=show_progress,
            mark_outputs=mark,
        )
    return DiagnosticEngine(engine_bytes, request, checked, mark)


def _with_plan_output(spec: Spec) -> Spec:
    spec = spec.with_output_file(".plan")
    if spec.output is None:
        raise BadInput("no output given; pass -o OUT.plan or set 'output:' in the config")
    return spec


def _check_build_inputs(spec: Spec, checked: Preflight) -> None:
    """What an engine needs beyond prepare's checks: shapes for every dynamic input, and output paths that
    collide with nothing."""
    _require_profiles(checked.free_inputs, spec)
    _check_paths(spec, checked)


def _identity(request: Request, checked: Preflight, machine: BuildMachine) -> BuildIdentity | None:
    """The plan's content key, where this machine can build (it needs TensorRT's version and the GPU)."""
    if not machine.can_build:
        return None
    assert machine.gpu is not None and machine.tensorrt_version is not None
    return build_identity(
        request,
        checked.model_path,
        checked.data_files,
        request.plugins,
        machine.tensorrt_version,
        machine.gpu.compute_capability,
    )


def _reuse_cached_plan(
    request: Request, checked: Preflight, identity: BuildIdentity, record: BuildRecord
) -> dict | None:
    """--cache-dir: copy the plan built with the same key (verified first with --verify); its precision, or
    None where there is none yet."""
    spec = request.spec
    assert spec.cache_dir is not None and spec.output is not None
    start = time.perf_counter()
    cached = lookup_cache(spec.cache_dir, identity.key)
    if cached is None:
        log.stage("cache", time.perf_counter() - start, f"no plan with key {identity.key[:16]}... yet")
        return None
    source = cached_plan(spec.cache_dir, identity.key)
    if spec.verify:
        # The cached plan may come from a build without --verify: check it before it is used.
        _engine_check(request, checked, record.verification)(source)
    copy_plan(source, spec.output)
    log.stage("cache", time.perf_counter() - start, f"reused {source} (same key), no build needed")
    return cached["precision"]


def _build_engine(
    request: Request,
    checked: Preflight,
    prepared: Prepared,
    onnx_path: Path,
    *,
    gpu: Gpu,
    record: BuildRecord,
    show_progress: bool,
    mark_outputs: MarkTensorsAsOutputs | None = None,
) -> bytes:
    """Plugins, then the polygraphy chain: parse, build (with INT8 calibration where asked), the timing cache.
    A diagnostic build (``mark_outputs``) writes no calibration cache: its network is not the one deployed."""
    spec = request.spec
    start = time.perf_counter()
    check_creators(prepared.model, request.plugins)
    log.stage(
        "plugins", time.perf_counter() - start, ", ".join(p.name for p in request.plugins) or "none needed"
    )
    progress = TensorRTLog() if show_progress else None
    version = ""
    if "int8" in request.precision.builder_flags:
        trt, _ = import_tensorrt()
        version = str(getattr(trt, "__version__", ""))
    with tensorrt_messages():  # polygraphy prints to stdout otherwise, which --json owns
        keep = KeepLayersFp32.from_model(prepared.model, prepared.precision.keep_fp32.nodes)
    calibrator = None

    def make_chain(this_request: Request) -> EngineChain:
        nonlocal calibrator
        # A fresh calibrator for each chain: a failed build may have read part of the calibration data.
        if version:
            calibrator = int8_calibrator(checked.calibration, checked.calibration_cache, version)
        with tensorrt_messages():
            return engine_loader_chain(this_request, onnx_path, progress, calibrator, keep, mark_outputs)

    start = time.perf_counter()
    # The timing cache's folder exists only once a build succeeds with it.
    cache_folder = spec.timing_cache.parent if spec.timing_cache is not None else onnx_path.parent
    with created_folders(cache_folder):
        hint = plugin_hint(prepared.model, request.plugins) + _cache_only_hint(spec.calib_cache, checked)
        chain, engine_bytes = run_chain_without_unusable_cache(make_chain, request, hint, progress)
    total = time.perf_counter() - start
    parse_seconds = chain.parse.seconds or 0.0
    record.timings["parse"] = parse_seconds
    record.timings["build"] = total - parse_seconds
    log.stage("build", total - parse_seconds, f"engine of {len(engine_bytes) / 1e6:.1f} MB on {gpu.name}")
    if calibrator is not None and mark_outputs is None:
        _report_calibration(spec.calib_cache, checked.calibration_cache, calibrator)
    return engine_bytes


def _save_plan(
    request: Request,
    checked: Preflight,
    prepared: Prepared,
    engine_bytes: bytes,
    *,
    identity: BuildIdentity,
    gpu: Gpu,
    record: BuildRecord,
) -> dict:
    """The plan and its sidecar, written together; with --verify the staged plan is checked first."""
    spec = request.spec
    assert spec.output is not None
    start = time.perf_counter()
    sidecar = make_sidecar(
        identity,
        engine_bytes,
        model=str(spec.model),
        inputs=[i.to_json() for i in graph_inputs(prepared.model)],
        outputs=[o.to_json() for o in graph_outputs(prepared.model)],
        precision=prepared.precision.to_json(),
        gpu=gpu.to_json(),
        strongly_typed=request.precision.strongly_typed,
        timings=record.timings,
        frozen=describe_frozen(checked.frozen),
    )
    check = _engine_check(request, checked, record.verification) if spec.verify else None
    write_plan(spec.output, engine_bytes, sidecar, check)
    record.timings["save"] = time.perf_counter() - start
    log.stage("save", record.timings["save"], f"{spec.output} and {sidecar_path(spec.output).name}")
    return sidecar


def _store_in_cache(spec: Spec, identity: BuildIdentity) -> str:
    if spec.cache_dir is None:
        return "off"
    assert spec.output is not None
    stored = store_in_cache(spec.cache_dir, identity.key, spec.output)
    log.LOGGER.info("          stored in the cache as %s", stored)
    return "stored"


def _require_profiles(inputs: list[GraphTensor], spec: Spec) -> None:
    dynamic = [i for i in inputs if not i.is_static]
    if dynamic and not spec.profiles:
        names = ", ".join(f"'{i.name}' {i.dims_text()}" for i in dynamic)
        raise BadInput(
            f"the model has dynamic input(s) {names}; an engine needs their shape ranges: add {example_flag(inputs)}"
        )


def _check_paths(spec: Spec, checked: Preflight) -> None:
    assert spec.output is not None
    sidecar = sidecar_path(spec.output)
    for source in [checked.model_path, *checked.data_files]:
        if same_file(sidecar, source, "the plan's sidecar"):
            raise BadInput(f"the plan's sidecar {sidecar} would overwrite an input; choose another -o")
    check_writable_file(sidecar, "the plan's sidecar")
    _refuse_one_file_for_two_jobs(spec, checked)
    if spec.timing_cache is not None:
        check_writable_file(spec.timing_cache, "--timing-cache")
    if spec.calib_cache is not None:
        check_writable_file(spec.calib_cache, "--calib-cache")
    if spec.cache_dir is not None and spec.cache_dir.exists() and not spec.cache_dir.is_dir():
        raise BadInput(f"--cache-dir {spec.cache_dir} is not a folder; give a folder")


def _refuse_one_file_for_two_jobs(spec: Spec, checked: Preflight) -> None:
    """Two outputs on one path would leave one of them overwritten by the other, and an input named as an output
    (the model as --timing-cache, a plugin library as -o) would be replaced: refused before anything is built."""
    assert spec.output is not None
    written = [
        ("-o", spec.output),
        ("the plan's sidecar", sidecar_path(spec.output)),
        ("--timing-cache", spec.timing_cache),
        ("--calib-cache", spec.calib_cache),
    ]
    refuse_shared_paths(written, run_inputs(spec, checked))


def _cache_only_hint(cache_path: Path | None, checked: Preflight) -> str:
    """What to add to a build failure when INT8 scales were to come from a cache alone: TensorRT refuses a cache
    of another version or calibrator and then has no samples to calibrate with."""
    if checked.calibration is not None or checked.calibration_cache is None:
        return ""
    return (
        f" (the INT8 scales were to come from {cache_path} alone; if this TensorRT refused it, add --calib-data "
        "to calibrate again)"
    )


def _report_calibration(cache_path: Path | None, cached: bytes | None, calibrator: object) -> None:
    """One line on where the INT8 scales came from; a fresh calibration is written to --calib-cache.

    Whether calibration ran is what the calibrator saw (TensorRT asked it for samples), not whether a cache
    was given: TensorRT ignores a cache it cannot use and calibrates again.
    """
    calibrated = getattr(calibrator, "num_batches", 0) > 0
    if cached and not calibrated:
        log.stage("calib", 0.0, f"scales from {cache_path} ({cache_summary(cached)}): no calibration run")
        return
    if cached:
        log.LOGGER.warning(
            "          TensorRT did not use the scales in %s (%s) and calibrated again; the cache is replaced",
            cache_path,
            cache_summary(cached),
        )
    produced = getattr(calibrator, "cache_contents", None)
    if not produced:
        log.stage("calib", 0.0, "TensorRT calibrated but wrote no cache")
        return
    if cache_path is None:
        log.stage("calib", 0.0, f"calibrated ({cache_summary(produced)}); add --calib-cache FILE to reuse it")
        return
    write_cache(cache_path, bytes(produced))
    log.stage("calib", 0.0, f"calibrated; {cache_path} written ({cache_summary(produced)})")


def _engine_measurements(verify_report: Mapping[str, Any]) -> dict[str, Any]:
    """What a build report keeps of verify's report: the plan it names is only the staged copy."""
    return {
        k: verify_report[k] for k in ("default_tolerance_of", "tolerances", "results") if k in verify_report
    }


def _out_of_range_hint(request: Request, checked: Preflight, measured: dict[str, Any], room: int) -> str:
    """After a failing engine check of builder-flag precision: the overflow finder's flag set, as warned before
    the build (the CPU ran fp32 there, so only the finder saw what fp16 does)."""
    if request.precision.mode != "builder_flags":
        return ""
    original = original_for_onnxruntime(checked.model_path)
    found = find_out_of_range(request, original, checked.inputs, checked.given)
    if not found:
        return ""
    measured["out_of_range"] = found.to_json()
    return f"; {suggestion(request, found, room - 2)}"


def _engine_check(
    request: Request, checked: Preflight, verification: dict[str, Any]
) -> Callable[[Path], None]:
    """build --verify: run the staged plan against onnxruntime before it replaces anything. Its measurements go
    into ``verification`` (the report's engine_verification), or with the failure beside the CPU checks'."""
    spec = request.spec
    against = EngineCheck(
        onnx=checked.model_path,
        inputs=checked.inputs,
        plugins=request.plugins,
        tolerances=request.engine_tolerances,
        tolerance_of=tolerance_key(spec.precision, spec.tf32),
        given=checked.given,
        seed=spec.seed,
        sets=shape_sets_from_profiles(spec.profiles, checked.inputs),
    )

    def check(staged_plan: Path) -> None:
        try:
            report = verify_engine(staged_plan, against)
        except VerificationFailed as failed:
            measured = {**verification, "engine_verification": _engine_measurements(failed.measured)}
            raise VerificationFailed(
                str(failed)
                + _out_of_range_hint(request, checked, measured, MAX_MESSAGE_CHARS - len(str(failed))),
                measured,
            ) from None
        verification["engine_verification"] = _engine_measurements(report)

    return check


def _report(
    request: Request,
    identity: BuildIdentity,
    gpu: Gpu,
    record: BuildRecord,
    *,
    cache: str,
    precision: dict,
    started: float,
    prepared: Prepared | None = None,
) -> dict:
    """The --json report; the verification keys are null where that check did not run."""
    spec = request.spec
    assert spec.output is not None
    return {
        "ok": True,
        "command": "build",
        "model": str(spec.model),
        "output": str(spec.output),
        "sidecar": str(sidecar_path(spec.output)),
        "plan_bytes": spec.output.stat().st_size,
        "cache": cache,
        "cache_key": identity.key,
        "tensorrt": identity.tensorrt_version,
        "gpu": gpu.to_json(),
        "precision": precision,
        "rewrites": [d.to_json() for d in prepared.rewrites] if prepared is not None else [],
        "timings": {k: round(v, 3) for k, v in record.timings.items()},
        "seconds": round(time.perf_counter() - started, 3),
        **{
            key: record.verification.get(key)
            for key in ("verification", "int8_verification", "engine_verification")
        },
    }
