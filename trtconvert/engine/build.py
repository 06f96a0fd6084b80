"""`build`: the CPU stages, then plugins, the TensorRT build with profiles, and the atomic save with a sidecar.

Where TensorRT (or a GPU) is absent, every CPU stage still runs, then the build stops with exit code 3 and
writes nothing. With --cache-dir, a plan whose key matches is copied instead of built (the key needs
TensorRT's version and the GPU, so the cache is consulted only where a build could run).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from trtconvert import log
from trtconvert.atomic import check_writable_file, created_folders
from trtconvert.engine.chain import engine_loader_chain, int8_calibrator, run_chain
from trtconvert.engine.machine import Gpu, cuda_gpu, import_tensorrt
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
from trtconvert.engine.verify import shape_sets_from_profiles, verify_engine
from trtconvert.errors import INSTALL_TENSORRT, BadInput, MissingDependency, VerificationFailed
from trtconvert.int8.calib_cache import cache_summary, write_cache
from trtconvert.model.info import GraphTensor, graph_inputs, graph_outputs
from trtconvert.model.profiles import example_flag
from trtconvert.model.save import needs_external_data, save_onnx
from trtconvert.paths import refuse_shared_paths
from trtconvert.prepare.freeze import describe_frozen
from trtconvert.prepare.pipeline import (
    Preflight,
    preflight,
    prepare_model,
    run_inputs,
    verify_prepared,
    verify_quantized,
)
from trtconvert.settings.request import Request, resolve
from trtconvert.settings.spec import Spec
from trtconvert.settings.tolerances import tolerance_key


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
        if sidecar.resolve() == source.resolve():
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


def _missing_engine_dependency(reason: str, cpu_detail: str) -> MissingDependency:
    return MissingDependency(f"{reason}, so no engine was built ({cpu_detail}); {INSTALL_TENSORRT}")


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


def _engine_check(
    request: Request, checked: Preflight, verification: dict[str, Any]
) -> Callable[[Path], None]:
    """build --verify: run the staged plan against onnxruntime before it replaces anything. Its measurements go
    into ``verification`` (the report's engine_verification), or with the failure beside the CPU checks'."""
    spec = request.spec

    def check(staged_plan: Path) -> None:
        try:
            report = verify_engine(
                staged_plan,
                checked.model_path,
                checked.inputs,
                request.plugins,
                request.engine_tolerances,
                tolerance_key(spec.precision, spec.tf32),
                checked.given,
                spec.seed,
                shape_sets_from_profiles(spec.profiles, checked.inputs),
            )
        except VerificationFailed as failed:
            measured = {**verification, "engine_verification": _engine_measurements(failed.measured)}
            raise VerificationFailed(str(failed), measured) from None
        verification["engine_verification"] = _engine_measurements(report)

    return check


def run_build(spec: Spec, show_progress: bool = True) -> dict:
    """build: resolve, preflight, cache lookup, CPU stages, plugins, TensorRT build, atomic save of plan and sidecar."""
    started = time.perf_counter()
    spec = spec.with_output_file(".plan")
    if spec.output is None:
        raise BadInput("no output given; pass -o OUT.plan or set 'output:' in the config")
    trt, trt_reason = import_tensorrt()
    request = resolve(spec, trt.__version__ if trt is not None else None)
    checked = preflight(request)
    _require_profiles(checked.free_inputs, spec)
    _check_paths(spec, checked)
    gpu, gpu_reason = cuda_gpu() if trt is not None else (None, "")

    identity: BuildIdentity | None = None
    if trt is not None and gpu is not None:
        start = time.perf_counter()
        identity = build_identity(
            request,
            checked.model_path,
            checked.data_files,
            request.plugins,
            trt.__version__,
            gpu.compute_capability,
        )
        if spec.cache_dir is not None:
            cached = lookup_cache(spec.cache_dir, identity.key)
            if cached is not None:
                source = cached_plan(spec.cache_dir, identity.key)
                verification: dict[str, Any] = {}
                if spec.verify:
                    # The cached plan may come from a build without --verify: check it before it is used.
                    _engine_check(request, checked, verification)(source)
                copy_plan(source, spec.output)
                log.stage(
                    "cache", time.perf_counter() - start, f"reused {source} (same key), no build needed"
                )
                return _report(
                    request, identity, "hit", gpu, cached["precision"], [], {}, started, verification
                )
            log.stage("cache", time.perf_counter() - start, f"no plan with key {identity.key[:16]}... yet")

    timings: dict[str, float] = {}
    start = time.perf_counter()
    prepared = prepare_model(request, checked)
    timings["cpu_stages"] = time.perf_counter() - start
    cpu_verified = False

    with tempfile.TemporaryDirectory(prefix="trtconvert-build-") as folder:
        start = time.perf_counter()
        onnx_path = Path(folder) / "prepared.onnx"
        save_onnx(prepared.model, onnx_path, needs_external_data(prepared.model))
        timings["onnx_save"] = time.perf_counter() - start
        verification = {}
        if spec.verify and prepared.before_precision is not None:
            results, int8_check = verify_quantized(request, checked, prepared)
            verification = {"verification": [r.to_json() for r in results], "int8_verification": int8_check}
            cpu_verified = True
        elif spec.verify and prepared.cpu_verifiable:
            results = verify_prepared(request, checked, onnx_path)
            verification = {"verification": [r.to_json() for r in results]}
            cpu_verified = True
        cpu_detail = "the CPU stages passed" + (
            " and the prepared model matches on the CPU" if cpu_verified else ""
        )
        if trt is None:
            raise _missing_engine_dependency(trt_reason, cpu_detail)
        if gpu is None:
            raise MissingDependency(
                f"{gpu_reason}, so no engine was built ({cpu_detail}); run on a machine with an NVIDIA GPU"
            )
        assert identity is not None

        start = time.perf_counter()
        check_creators(prepared.model, request.plugins)
        log.stage(
            "plugins",
            time.perf_counter() - start,
            ", ".join(p.name for p in request.plugins) or "none needed",
        )

        progress = TensorRTLog() if show_progress else None
        calibrator = None
        if "int8" in request.precision.builder_flags:
            calibrator = int8_calibrator(checked.calibration, checked.calibration_cache)
        with tensorrt_messages():  # polygraphy prints to stdout otherwise, which --json owns
            chain = engine_loader_chain(request, onnx_path, progress=progress, calibrator=calibrator)
        start = time.perf_counter()
        # The timing cache's folder exists only once a build succeeds with it.
        cache_folder = spec.timing_cache.parent if spec.timing_cache is not None else Path(folder)
        with created_folders(cache_folder):
            hint = plugin_hint(prepared.model, request.plugins) + _cache_only_hint(spec.calib_cache, checked)
            engine_bytes = run_chain(chain, hint, progress)
        total = time.perf_counter() - start
        parse_seconds = getattr(chain._network, "seconds", None) or 0.0
        timings["parse"] = parse_seconds
        timings["build"] = total - parse_seconds
        log.stage("build", total - parse_seconds, f"engine of {len(engine_bytes) / 1e6:.1f} MB on {gpu.name}")
        if calibrator is not None:
            _report_calibration(spec.calib_cache, checked.calibration_cache, calibrator)

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
        timings=timings,
        frozen=describe_frozen(checked.frozen),
    )
    check = _engine_check(request, checked, verification) if spec.verify else None
    write_plan(spec.output, engine_bytes, sidecar, check)
    timings["save"] = time.perf_counter() - start
    log.stage("save", timings["save"], f"{spec.output} and {sidecar_path(spec.output).name}")
    cache_state = "off"
    if spec.cache_dir is not None:
        stored = store_in_cache(spec.cache_dir, identity.key, spec.output)
        log.LOGGER.info("          stored in the cache as %s", stored)
        cache_state = "stored"
    rewrites = [d.to_json() for d in prepared.rewrites]
    return _report(
        request, identity, cache_state, gpu, sidecar["precision"], rewrites, timings, started, verification
    )


def _report(
    request: Request,
    identity: BuildIdentity,
    cache: str,
    gpu: Gpu,
    precision: dict,
    rewrites: list[dict],
    timings: dict[str, float],
    started: float,
    verification: dict[str, Any],
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
        "rewrites": rewrites,
        "timings": {k: round(v, 3) for k, v in timings.items()},
        "seconds": round(time.perf_counter() - started, 3),
        **{
            key: verification.get(key) for key in ("verification", "int8_verification", "engine_verification")
        },
    }
