"""The engine build as a chain of polygraphy loaders, composed from a Request without importing TensorRT.

polygraphy's loaders are lazy: constructing them records their arguments, and TensorRT is imported only when
the chain is called. So this module builds the whole chain on any machine, and only `engine.build` calls it
where TensorRT is installed. The chain keeps each loader under its own name (EngineChain), so that the build
reads the parse time and tests read what is handed to polygraphy without unwrapping polygraphy's objects:

    EngineBytesFromNetwork(
        network=Timed("parse", NetworkFromOnnxPath(prepared.onnx, strongly_typed)),
        config=PostprocessConfig(CreateConfig(profiles, tf32, fp16/bf16, timing cache, opt level, ...),
                                 EngineSettings(workspace, hardware compatibility, progress, ...)),
        save_timing_cache=FILE)

The plugins stage loads the plugin libraries before the chain is called (the 10.x parser looks plugin creators
up while it reads the model). Settings whose TensorRT enums exist only after import (memory pool, hardware
compatibility level, progress monitor) are applied at call time by EngineSettings.

Timing cache: CreateConfig loads FILE under polygraphy's lock (``fcntl.lockf`` on ``FILE.lock``), and
EngineBytesFromNetwork, after the build, takes the same lock, re-reads FILE, merges it into this build's cache
and rewrites it, so CI jobs that share one cache file add to it rather than overwrite each other.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from trtconvert import log
from trtconvert.checks.input_values import cast_to_input
from trtconvert.engine.interruptible import call_interruptibly
from trtconvert.engine.layer_precision import KeepLayersFp32
from trtconvert.engine.mark_outputs import MarkTensorsAsOutputs
from trtconvert.engine.tensorrt_log import Heartbeat, TensorRTLog, condense, tensorrt_messages
from trtconvert.errors import BadInput, BuildFailed
from trtconvert.int8.calibration import CalibrationData
from trtconvert.model.profiles import Profile
from trtconvert.settings.request import Request
from trtconvert.settings.spec import HARDWARE_COMPATIBILITY_LEVELS
from trtconvert.settings.target import engine_dtype

# Spec's --hardware-compatibility names and the HardwareCompatibilityLevel members they select.
HARDWARE_COMPATIBILITY = {name: name.upper() for name in HARDWARE_COMPATIBILITY_LEVELS}


def polygraphy_profiles(profiles: Sequence[Profile]) -> list[Any]:
    """Our profiles as polygraphy Profiles: one per --profile, every input with its exact min/opt/max."""
    from polygraphy.backend.trt import Profile as PolygraphyProfile

    result = []
    for profile in profiles:
        converted = PolygraphyProfile()
        for name, shapes in profile.items():
            converted.add(name, min=list(shapes.min), opt=list(shapes.opt), max=list(shapes.max))
        result.append(converted)
    return result


@dataclass
class Timed:
    """A passthrough loader that prints a stage line with the time its inner loader took."""

    stage: str
    loader: Callable[..., Any]
    detail: str = ""
    seconds: float | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        result = self.loader(*args, **kwargs)
        self.seconds = time.perf_counter() - start
        log.stage(self.stage, self.seconds, self.detail)
        return result


class ActivitySink(Protocol):
    """Where the progress monitor says what TensorRT is doing (trtconvert.engine.tensorrt_log.TensorRTLog)."""

    def note(self, activity: str) -> None: ...


@dataclass
class EngineSettings:
    """Builder-config settings that need TensorRT's enums; applied by PostprocessConfig at build time."""

    workspace_bytes: int | None = None
    hardware_compatibility: str = "none"
    plugins_to_serialize: tuple[str, ...] = ()
    progress: ActivitySink | None = None
    _alive: list = field(default_factory=list, repr=False, compare=False)

    def __call__(self, builder: Any, network: Any, config: Any) -> None:
        import tensorrt as trt  # type: ignore[import-not-found]

        self.apply(trt, config)

    def apply(self, trt: Any, config: Any) -> None:
        if self.workspace_bytes is not None:
            config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, self.workspace_bytes)
        if self.hardware_compatibility != "none":
            member = HARDWARE_COMPATIBILITY[self.hardware_compatibility]
            level = getattr(trt.HardwareCompatibilityLevel, member, None)
            if level is None:
                raise BadInput(
                    f"--hardware-compatibility {self.hardware_compatibility} is not offered by TensorRT "
                    f"{trt.__version__}; use one of "
                    + ", ".join(
                        k
                        for k, v in HARDWARE_COMPATIBILITY.items()
                        if hasattr(trt.HardwareCompatibilityLevel, v)
                    )
                )
            config.hardware_compatibility_level = level
        if self.plugins_to_serialize:
            # A version-compatible engine runs on a lean runtime that cannot dlopen our libraries by itself.
            config.plugins_to_serialize = list(self.plugins_to_serialize)
        if self.progress is not None and hasattr(trt, "IProgressMonitor"):  # TensorRT 10 and newer
            monitor = make_progress_monitor(trt, self.progress)
            self._alive.append(monitor)  # TensorRT holds only a raw pointer to it
            config.progress_monitor = monitor


def phase_text(phases: Sequence[tuple[str, int, int]]) -> str:
    """Open build phases, outermost first, as (name, step, steps): 'Building engine 3/10 > Tactic timing 7/40'."""
    return " > ".join(f"{name} {step}/{steps}" if steps > 0 else name for name, step, steps in phases)


def make_progress_monitor(trt: Any, sink: ActivitySink) -> Any:
    """An IProgressMonitor (TensorRT 10+) that tells ``sink`` which phases are open and how far each has got."""

    class BuildProgress(trt.IProgressMonitor):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)
            self._open: dict[str, list[int]] = {}  # phase -> [step, steps], in the order they opened

        def _tell(self) -> None:
            shown = list(self._open.items())[:3]
            sink.note(phase_text([(name, step, steps) for name, (step, steps) in shown]))

        # TensorRT calls these from C++: an exception escaping them would abort the build, so none may.
        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            try:
                self._open[phase_name] = [0, num_steps]
                self._tell()
            except Exception:
                pass

        def step_complete(self, phase_name: str, step: int) -> bool:
            try:
                if phase_name in self._open:
                    self._open[phase_name][0] = step + 1
                    self._tell()
            except Exception:
                pass
            return True

        def phase_finish(self, phase_name: str) -> None:
            try:
                self._open.pop(phase_name, None)
                self._tell()
            except Exception:
                pass

    return BuildProgress()


def int8_calibrator(data: CalibrationData | None, cache: bytes | None, tensorrt_version: str = "") -> Any:
    """None for a model with Q/DQ nodes (neither samples nor a cache: preflight asks for them otherwise); else
    polygraphy's entropy calibrator (TensorRT's IInt8EntropyCalibrator2) fed one sample at a time.

    The cache lives in memory (``calibrator.cache_contents`` after the build) so that the caller writes the
    file atomically; given bytes, TensorRT takes its scales from them and asks for no data
    (``calibrator.num_batches`` stays 0). Samples of an input that the parser of ``tensorrt_version`` binds as a
    narrower type (int64 as int32 before 9.0) are cast to it: polygraphy's calibrator checks each batch against
    the network's input types and ends calibration, with no batch, at the first that differs.
    """
    from polygraphy.backend.trt import Calibrator

    if data is None and cache is None:
        return None  # explicit quantization: the network's Q/DQ nodes carry the scales
    batches = [as_the_parser_binds(b, tensorrt_version) for b in data.batches(1)] if data is not None else []
    calibrator = Calibrator(data_loader=batches)
    # polygraphy sizes a file-like cache through fileno(), which an in-memory buffer lacks, and then fails
    # inside TensorRT's read_calibration_cache; the contents it answers with are set directly instead.
    calibrator.cache_contents = cache or None
    return calibrator


def as_the_parser_binds(feed: Mapping[str, np.ndarray], tensorrt_version: str) -> dict[str, np.ndarray]:
    """``feed`` with each array in the type the ONNX parser of ``tensorrt_version`` binds its input as
    (settings/target.py: int64 as int32 before 9.0, float64 as float32); values that type cannot hold are refused,
    naming the input."""
    bound = {}
    for name, array in feed.items():
        target = engine_dtype(array.dtype.name, tensorrt_version)
        if target != array.dtype.name:
            where = (
                f"input '{name}' (TensorRT {tensorrt_version} binds the model's {array.dtype} as {target})"
            )
            array = cast_to_input(array, where, name, np.dtype(target))
        bound[name] = array
    return bound


@dataclass(frozen=True)
class EngineChain:
    """One engine build as polygraphy loaders, each part under its name; calling it builds the engine."""

    network: Any  # polygraphy NetworkFromOnnxPath: what parses the prepared ONNX
    parse: (
        Timed  # the same loader (then --keep-fp32's layer precisions), timed: ``parse.seconds`` after a build
    )
    config: Any  # polygraphy CreateConfig: profiles, precision flags, calibrator, timing cache, ...
    settings: EngineSettings  # what needs TensorRT's enums, applied when the config is created
    engine: Any  # polygraphy EngineBytesFromNetwork over the three above; merges the timing cache after

    def __call__(self) -> bytes:
        return self.engine()


def engine_loader_chain(
    request: Request,
    prepared_onnx: Path,
    progress: ActivitySink | None = None,
    calibrator: Any = None,
    keep_fp32: KeepLayersFp32 | None = None,
    mark_outputs: MarkTensorsAsOutputs | None = None,
) -> EngineChain:
    """The loaders that, called, parse ``prepared_onnx`` and return the serialized engine.

    The request's precision plan says how precision reaches this TensorRT (builder flags before 11, a strongly
    typed network of an already converted ONNX from 11). The plugin libraries must be loaded before the chain
    is called (the plugins stage does it). Constructing the chain imports no TensorRT. ``keep_fp32`` (--keep-fp32
    with builder flags) sets the kept nodes' layers to fp32 after parsing, and the builder obeys it.
    """
    from polygraphy.backend.trt import (
        CreateConfig,
        EngineBytesFromNetwork,
        NetworkFromOnnxPath,
        PostprocessConfig,
        PostprocessNetwork,
    )

    spec, plan = request.spec, request.precision
    network = NetworkFromOnnxPath(str(prepared_onnx), strongly_typed=plan.strongly_typed)
    keeps = keep_fp32 is not None and bool(keep_fp32.nodes) and not plan.strongly_typed
    parsed = PostprocessNetwork(network, keep_fp32, name="keep fp32") if keeps else network
    if mark_outputs is not None:
        parsed = PostprocessNetwork(parsed, mark_outputs, name="mark outputs")
    parse = Timed("parse", parsed, f"{prepared_onnx.name} parsed")
    timing_cache = str(spec.timing_cache) if spec.timing_cache else None
    config = CreateConfig(
        profiles=polygraphy_profiles(spec.profiles) or None,
        tf32=spec.tf32,
        fp16="fp16" in plan.builder_flags,
        bf16="bf16" in plan.builder_flags,
        int8="int8" in plan.builder_flags,
        calibrator=calibrator,
        load_timing_cache=timing_cache,
        builder_optimization_level=spec.opt_level,
        version_compatible=spec.version_compatible or None,
        precision_constraints="obey" if keeps else None,
    )
    settings = EngineSettings(
        workspace_bytes=request.workspace_bytes,
        hardware_compatibility=spec.hardware_compatibility,
        plugins_to_serialize=tuple(str(p) for p in request.plugins) if spec.version_compatible else (),
        progress=progress,
    )
    engine = EngineBytesFromNetwork(
        parse, config=PostprocessConfig(config, settings), save_timing_cache=timing_cache
    )
    return EngineChain(network=network, parse=parse, config=config, settings=settings, engine=engine)


# What TensorRT logs when a timing cache it was given cannot serve this network (TensorRT 8.5's Myelin entries).
_UNUSABLE_CACHE = ("The timing cache will not be used", "myelinCache")


def timing_cache_unusable(message: str) -> bool:
    """Whether a build's failure message says that TensorRT could not use its timing cache."""
    return any(sign in message for sign in _UNUSABLE_CACHE)


def run_chain_without_unusable_cache(
    make_chain: Callable[[Request], EngineChain],
    request: Request,
    hint: str = "",
    progress: TensorRTLog | None = None,
) -> tuple[EngineChain, bytes]:
    """Build the chain ``make_chain(request)``; where TensorRT fails because it cannot use the timing cache it
    was given, build once more without it (the cache file left as it was) and say so.

    TensorRT 8.5 fails the whole build when a shared cache's Myelin entries do not deserialize for the network
    (seen with an embedding Gather and with If bodies, each beside other networks in one cache)."""
    chain = make_chain(request)
    try:
        return chain, run_chain(chain, hint, progress)
    except BuildFailed as failed:
        if request.spec.timing_cache is None or not timing_cache_unusable(str(failed)):
            raise
    log.LOGGER.warning(
        "warning: TensorRT could not use the timing cache %s for this network; building again without it (the "
        "cache is left as it was)",
        request.spec.timing_cache,
    )
    without_cache = dataclasses.replace(request, spec=dataclasses.replace(request.spec, timing_cache=None))
    chain = make_chain(without_cache)
    return chain, run_chain(chain, hint, progress)


def run_chain(chain: Callable[[], Any], hint: str = "", progress: TensorRTLog | None = None) -> bytes:
    """Call the loader chain, turning TensorRT's failures into BuildFailed with its own words.

    With ``progress`` (the sink the chain's progress monitor writes to, if any) a heartbeat shows the elapsed
    time and what TensorRT is doing while it builds.
    """
    from polygraphy.exception import PolygraphyException

    with tensorrt_messages(progress) as messages:
        errors = messages.errors
        try:
            with Heartbeat(messages) if progress is not None else contextlib.nullcontext():
                engine = call_interruptibly(chain, "TensorRT build")
        except PolygraphyException as err:
            raise BuildFailed(
                f"TensorRT could not build the engine: {condense(errors, str(err))}{hint}; rerun with -v for "
                "TensorRT's log"
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
