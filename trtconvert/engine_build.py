"""`build`: the CPU stages, then plugins, the TensorRT build with profiles, and the atomic save with a sidecar.

Where TensorRT (or a GPU) is absent, every CPU stage still runs, then the build stops with exit code 3 and
writes nothing. With --cache-dir, a plan whose key matches is copied instead of built (the key needs
TensorRT's version and the GPU, so the cache is consulted only where a build could run).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from trtconvert import log
from trtconvert.atomic import check_writable_file, created_folders, needs_external_data, save_onnx
from trtconvert.build_chain import check_build_settings, engine_loader_chain
from trtconvert.errors import BadInput, BuildFailed, MissingDependency
from trtconvert.freeze import describe_frozen
from trtconvert.machine import INSTALL_TENSORRT, Gpu, cuda_gpu, import_tensorrt
from trtconvert.model_info import ModelInput, custom_nodes, graph_inputs, graph_outputs
from trtconvert.pipeline import Preflight, preflight, prepare_model, verify_prepared
from trtconvert.plan_io import (
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
from trtconvert.precision import PrecisionResult, precision_plan
from trtconvert.profiles import example_flag
from trtconvert.spec import Spec
from trtconvert.tensorrt_log import Heartbeat, TensorRTLog, condense, tensorrt_messages
from trtconvert.tensorrt_target import SUPPORTED_RANGE


def check_plugins(plugins: Sequence[Path]) -> list[Path]:
    """Every --plugin must be an existing file; returns absolute paths (dlopen needs a path with a slash)."""
    checked = []
    for plugin in plugins:
        if not plugin.is_file():
            raise BadInput(
                f"--plugin {plugin}: no such file; build the library with `trtconvert plugins build` or fix the path"
            )
        checked.append(plugin.resolve())
    return checked


def plugin_hint(model: Any, plugins: Sequence[Path]) -> str:
    """What to add to a build failure when the graph holds custom ops and no library was given."""
    ops = sorted({f"{n.domain}::{n.op_type}" for n in custom_nodes(model)})
    if not ops or plugins:
        return ""
    try:
        from trtconvert.native_build import default_library_path

        library = str(default_library_path())
    except ImportError:
        library = "LIB.so"
    return (
        f" (the graph holds {', '.join(ops)} and no --plugin was given: build the library with "
        f"`trtconvert plugins build` and add --plugin {library})"
    )


def _require_profiles(inputs: Sequence[ModelInput], spec: Spec) -> None:
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
    if spec.timing_cache is not None:
        check_writable_file(spec.timing_cache, "--timing-cache")
    if spec.cache_dir is not None and spec.cache_dir.exists() and not spec.cache_dir.is_dir():
        raise BadInput(f"--cache-dir {spec.cache_dir} is not a folder; give a folder")


def _installed_target(trt: ModuleType, spec: Spec) -> Any:
    from trtconvert.tensorrt_target import parse_target

    installed = parse_target(trt.__version__)
    if not installed.supported:
        raise MissingDependency(
            f"TensorRT {trt.__version__} is installed; trtconvert builds with TensorRT {SUPPORTED_RANGE}: "
            f"{INSTALL_TENSORRT}"
        )
    if spec.target_tensorrt is not None:
        wanted = parse_target(spec.target_tensorrt)
        if wanted.major != installed.major:
            raise BadInput(
                f"--target-tensorrt {spec.target_tensorrt} but TensorRT {trt.__version__} is installed and would "
                "build the engine; drop --target-tensorrt (or use `prepare` to make an ONNX for another version)"
            )
    return installed


def run_chain(chain: Any, hint: str = "", progress: TensorRTLog | None = None) -> bytes:
    """Call the loader chain, turning TensorRT's failures into BuildFailed with its own words.

    With ``progress`` (the sink the chain's progress monitor writes to, if any) a heartbeat shows the elapsed
    time and what TensorRT is doing while it builds.
    """
    from polygraphy.exception import PolygraphyException

    with tensorrt_messages(progress) as messages:
        errors = messages.errors
        try:
            if progress is not None:
                with Heartbeat(messages):
                    engine = chain()
            else:
                engine = chain()
        except PolygraphyException as err:
            raise BuildFailed(
                f"TensorRT could not build the engine: {condense(errors, str(err))}{hint}; rerun with -v for "
                "TensorRT's log"
            ) from None
        except OSError as err:
            raise BadInput(
                f"cannot load a plugin library ({err}); rebuild it against the installed TensorRT with "
                "`trtconvert plugins build`"
            ) from None
        except (RuntimeError, TypeError, ValueError) as err:
            if not errors:
                raise
            raise BuildFailed(
                f"TensorRT could not build the engine: {condense(errors, str(err))}; rerun with -v for TensorRT's log"
            ) from None
    if not engine:
        raise BuildFailed(
            f"TensorRT returned no engine: {condense(messages.errors, 'no error was reported')}"
        )
    return bytes(engine)


def _check_creators(model: Any, plugins: Sequence[Path]) -> None:
    try:
        from trtconvert.plugin_loading import check_creators  # type: ignore[import-not-found]
    except ImportError:
        # Without the checker the parser still refuses a node with no creator; the message is just less direct.
        log.LOGGER.debug("          plugin creator check unavailable; the parser will report missing plugins")
        return
    check_creators(model, list(plugins))


def _missing_engine_dependency(reason: str, cpu_detail: str) -> MissingDependency:
    return MissingDependency(f"{reason}, so no engine was built ({cpu_detail}); {INSTALL_TENSORRT}")


def _engine_check(spec: Spec, plugins: Sequence[Path]) -> Callable[[Path], None]:
    """build --verify: run the staged plan against onnxruntime before it replaces anything."""

    def check(staged_plan: Path) -> None:
        from trtconvert.engine_verify import run_verify

        run_verify(
            staged_plan,
            spec.model,
            plugins,
            atol=[] if spec.atol is None else [repr(spec.atol)],
            rtol=[] if spec.rtol is None else [repr(spec.rtol)],
            input_values={**spec.inputs, **spec.freeze},
            seed=spec.seed,
        )

    return check


def run_build(spec: Spec, show_progress: bool = True) -> dict:
    """build: preflight, cache lookup, CPU stages, TensorRT build, atomic save of plan and sidecar."""
    started = time.perf_counter()
    spec = spec.with_output_file(".plan")
    if spec.output is None:
        raise BadInput("no output given; pass -o OUT.plan or set 'output:' in the config")
    check_build_settings(spec)
    plugins = check_plugins(spec.plugins)
    checked = preflight(spec)
    _require_profiles(checked.free_inputs, spec)
    _check_paths(spec, checked)

    trt, trt_reason = import_tensorrt()
    gpu: Gpu | None = None
    gpu_reason = ""
    target = None
    identity: BuildIdentity | None = None
    if trt is not None:
        target = _installed_target(trt, spec)
        check_build_settings(spec, target)
        gpu, gpu_reason = cuda_gpu()
    if trt is not None and gpu is not None:
        start = time.perf_counter()
        identity = build_identity(
            spec, checked.model_path, checked.data_files, plugins, trt.__version__, gpu.compute_capability
        )
        if spec.cache_dir is not None:
            if lookup_cache(spec.cache_dir, identity.key) is not None:
                source = cached_plan(spec.cache_dir, identity.key)
                if spec.verify:
                    # The cached plan may come from a build without --verify: check it before it is used.
                    _engine_check(spec, plugins)(source)
                copy_plan(source, spec.output)
                log.stage(
                    "cache", time.perf_counter() - start, f"reused {source} (same key), no build needed"
                )
                return _report(spec, identity, "hit", trt.__version__, gpu, None, {}, started)
            log.stage("cache", time.perf_counter() - start, f"no plan with key {identity.key[:16]}... yet")

    timings: dict[str, float] = {}
    start = time.perf_counter()
    prepared = prepare_model(spec, checked)
    timings["cpu_stages"] = time.perf_counter() - start
    precision: PrecisionResult | None = getattr(prepared, "precision", None)
    cpu_verified = False

    with tempfile.TemporaryDirectory(prefix="trtconvert-build-") as folder:
        start = time.perf_counter()
        onnx_path = Path(folder) / "prepared.onnx"
        external = needs_external_data(prepared.model)
        save_onnx(prepared.model, onnx_path, external)
        timings["onnx_save"] = time.perf_counter() - start
        if spec.verify and prepared.cpu_verifiable:
            verify_prepared(spec, checked, onnx_path)
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
        assert identity is not None and target is not None

        start = time.perf_counter()
        _check_creators(prepared.model, plugins)
        detail = ", ".join(p.name for p in plugins) or "none needed"
        log.stage("plugins", time.perf_counter() - start, detail)

        plan = precision_plan(spec.precision, target)
        progress = TensorRTLog() if show_progress else None
        with tensorrt_messages():  # polygraphy prints to stdout otherwise, which --json owns
            chain = engine_loader_chain(spec, onnx_path, plan, plugins, progress=progress, target=target)
        start = time.perf_counter()
        # The timing cache's folder exists only once a build succeeds with it.
        cache_folder = spec.timing_cache.parent if spec.timing_cache is not None else Path(folder)
        with created_folders(cache_folder):
            engine_bytes = run_chain(chain, plugin_hint(prepared.model, plugins), progress)
        total = time.perf_counter() - start
        parse_seconds = getattr(chain._network, "seconds", None) or 0.0
        timings["parse"] = parse_seconds
        timings["build"] = total - parse_seconds
        log.stage("build", total - parse_seconds, f"engine of {len(engine_bytes) / 1e6:.1f} MB on {gpu.name}")

    start = time.perf_counter()
    sidecar = make_sidecar(
        identity,
        engine_bytes,
        model=str(spec.model),
        inputs=[i.to_json() for i in graph_inputs(prepared.model)],
        outputs=[o.to_json() for o in graph_outputs(prepared.model)],
        precision=(precision or PrecisionResult(plan)).to_json(),
        gpu=gpu.to_json(),
        strongly_typed=plan.strongly_typed,
        timings=timings,
        frozen=describe_frozen(checked.frozen),
    )
    write_plan(spec.output, engine_bytes, sidecar, _engine_check(spec, plugins) if spec.verify else None)
    timings["save"] = time.perf_counter() - start
    log.stage("save", timings["save"], f"{spec.output} and {sidecar_path(spec.output).name}")
    cache_state = "off"
    if spec.cache_dir is not None:
        stored = store_in_cache(spec.cache_dir, identity.key, spec.output)
        log.LOGGER.info("          stored in the cache as %s", stored)
        cache_state = "stored"
    return _report(spec, identity, cache_state, trt.__version__, gpu, precision, timings, started, prepared)


def _report(
    spec: Spec,
    identity: BuildIdentity,
    cache: str,
    tensorrt_version: str,
    gpu: Gpu,
    precision: PrecisionResult | None,
    timings: dict[str, float],
    started: float,
    prepared: Any = None,
) -> dict:
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
        "tensorrt": tensorrt_version,
        "gpu": gpu.to_json(),
        "precision": precision.to_json() if precision else {"precision": spec.precision},
        "rewrites": [d.to_json() for d in prepared.rewrites] if prepared is not None else [],
        "timings": {k: round(v, 3) for k, v in timings.items()},
        "seconds": round(time.perf_counter() - started, 3),
    }
