"""The engine build as a chain of polygraphy loaders, composed from a Spec without importing TensorRT.

polygraphy's loaders are lazy: constructing them records their arguments, and TensorRT is imported only when
the chain is called. So this module builds the whole chain on any machine, tests read its attributes, and only
`engine_build` calls it where TensorRT is installed:

    EngineBytesFromNetwork(
        network=Timed("parse", LoadPlugins(plugins, NetworkFromOnnxPath(prepared.onnx, strongly_typed))),
        config=PostprocessConfig(CreateConfig(profiles, tf32, fp16/bf16, timing cache, opt level, ...),
                                 EngineSettings(workspace, hardware compatibility, progress, ...)),
        save_timing_cache=FILE)

LoadPlugins wraps the parser so the libraries are loaded before parsing (the 10.x parser looks plugin creators
up while it reads the model). Settings whose TensorRT enums exist only after import (memory pool, hardware
compatibility level, progress monitor) are applied at call time by EngineSettings.

Timing cache: CreateConfig loads FILE under polygraphy's lock (``fcntl.lockf`` on ``FILE.lock``), and
EngineBytesFromNetwork, after the build, takes the same lock, re-reads FILE, merges it into this build's cache
and rewrites it, so CI jobs that share one cache file add to it rather than overwrite each other.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from trtconvert import log
from trtconvert.errors import BadInput
from trtconvert.precision import PrecisionPlan
from trtconvert.profiles import Profile
from trtconvert.spec import Spec, shown

HARDWARE_COMPATIBILITY = {
    "none": "NONE",
    "ampere_plus": "AMPERE_PLUS",
    "same_compute_capability": "SAME_COMPUTE_CAPABILITY",
}
OPT_LEVELS = range(0, 6)
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
MAX_POOL_BYTES = 1 << 50


def parse_size(text: str, where: str = "--workspace") -> int:
    """``4G``, ``512M``, ``1.5GiB``, ``1048576`` as bytes (binary units, as trtexec's pool sizes)."""
    match = _SIZE_RE.match(str(text))
    if not match:
        raise BadInput(f"{where} {shown(text)} is not a size; write e.g. 4G, 512M or a number of bytes")
    value = float(match.group(1)) * _UNITS[match.group(2).lower()]
    if value < 1 or value != int(value):
        raise BadInput(f"{where} {shown(text)} must be a whole number of bytes of at least 1; e.g. 4G")
    if value > MAX_POOL_BYTES:
        raise BadInput(f"{where} {shown(text)} is larger than any GPU's memory (at most 1P); e.g. 4G")
    return int(value)


def check_build_settings(spec: Spec, target: Any = None) -> None:
    """Reject build settings that TensorRT would only refuse after the slow stages.

    With ``target`` (the TensorRTTarget that will build), settings that version lacks are refused too, naming
    the version each needs.
    """
    if spec.workspace is not None:
        parse_size(spec.workspace)
    if spec.opt_level is not None and spec.opt_level not in OPT_LEVELS:
        raise BadInput(f"--opt-level {spec.opt_level} is out of range; TensorRT takes 0 to 5 (default 3)")
    if spec.hardware_compatibility not in HARDWARE_COMPATIBILITY:
        raise BadInput(
            f"--hardware-compatibility {spec.hardware_compatibility!r} is not one of "
            f"{', '.join(HARDWARE_COMPATIBILITY)}"
        )
    if target is None:
        return
    asked = {
        "opt_level": (spec.opt_level is not None, "drop --opt-level"),
        "version_compatible": (spec.version_compatible, "drop --version-compatible"),
        "hardware_compatibility": (spec.hardware_compatibility != "none", "drop --hardware-compatibility"),
        "bf16": (spec.precision == "bf16", "use --precision fp16"),
    }
    for feature, (wanted, fix) in asked.items():
        if wanted and not target.has(feature):
            raise BadInput(f"{target.lacks_message(feature)}; {fix}, or build with a newer TensorRT")


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
    """Where the progress monitor says what TensorRT is doing (trtconvert.tensorrt_log.TensorRTLog)."""

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


def engine_loader_chain(
    spec: Spec,
    prepared_onnx: Path,
    plan: PrecisionPlan,
    plugins: Sequence[Path] = (),
    progress: ActivitySink | None = None,
    target: Any = None,
) -> Any:
    """The polygraphy loader that, called, parses ``prepared_onnx`` and returns the serialized engine.

    ``plan`` is the precision plan for the TensorRT that will build (builder flags on 10, a strongly typed
    network of an already converted ONNX on 11). Constructing the chain imports no TensorRT.
    """
    from polygraphy.backend.trt import (
        CreateConfig,
        EngineBytesFromNetwork,
        LoadPlugins,
        NetworkFromOnnxPath,
        PostprocessConfig,
    )

    check_build_settings(spec, target)
    plugin_paths = [str(p) for p in plugins]
    network = NetworkFromOnnxPath(str(prepared_onnx), strongly_typed=plan.strongly_typed)
    parse = Timed("parse", LoadPlugins(plugins=plugin_paths, obj=network), f"{prepared_onnx.name} parsed")
    timing_cache = str(spec.timing_cache) if spec.timing_cache else None
    config = CreateConfig(
        profiles=polygraphy_profiles(spec.profiles) or None,
        tf32=spec.tf32,
        fp16="fp16" in plan.builder_flags,
        bf16="bf16" in plan.builder_flags,
        load_timing_cache=timing_cache,
        builder_optimization_level=spec.opt_level,
        version_compatible=spec.version_compatible or None,
    )
    settings = EngineSettings(
        workspace_bytes=parse_size(spec.workspace) if spec.workspace is not None else None,
        hardware_compatibility=spec.hardware_compatibility,
        plugins_to_serialize=tuple(plugin_paths) if spec.version_compatible else (),
        progress=progress,
    )
    return EngineBytesFromNetwork(
        parse, config=PostprocessConfig(config, settings), save_timing_cache=timing_cache
    )
