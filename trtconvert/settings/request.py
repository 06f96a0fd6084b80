"""The resolved request: the user's words (a Spec) decided once into the typed values every stage takes.

`resolve` parses the target TensorRT, decides the precision plan, checks the build settings against that
target, checks the plugin paths and sizes the workspace, all before any slow step. `prepare`, `build` and
build's engine check then read these values and decide none of them again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from trtconvert.errors import INSTALL_TENSORRT, BadInput, MissingDependency
from trtconvert.numbers import parse_size
from trtconvert.settings.precision_plan import PrecisionPlan, precision_plan
from trtconvert.settings.spec import Spec
from trtconvert.settings.target import SUPPORTED_RANGE, TensorRTTarget, parse_target, wanted_target
from trtconvert.settings.tolerances import Tolerances, tolerance_key, with_defaults

OPT_LEVELS = range(0, 6)


@dataclass(frozen=True)
class Request:
    """A Spec with every choice made: what each stage reads instead of re-parsing the Spec's text."""

    spec: Spec
    target: TensorRTTarget
    precision: PrecisionPlan
    plugins: tuple[Path, ...]  # absolute: dlopen needs a path with a slash
    workspace_bytes: int | None

    @property
    def cpu_tolerances(self) -> Tolerances:
        """For the prepared model against the original, both in onnxruntime (no TF32 there). An int8 model is
        checked in float first (the ONNX stays float, or its float form before Q/DQ), so at fp32's defaults."""
        key = "fp32" if self.precision.int8 else self.spec.precision
        return with_defaults(key, self.spec.atol, self.spec.rtol)

    @property
    def int8_tolerances(self) -> Tolerances:
        """For a Q/DQ model against its float form."""
        return with_defaults("int8", self.spec.atol, self.spec.rtol)

    @property
    def engine_tolerances(self) -> Tolerances:
        """For the engine against the original: an fp32 engine with TF32 is held to fp16's defaults."""
        key = tolerance_key(self.spec.precision, self.spec.tf32)
        return with_defaults(key, self.spec.atol, self.spec.rtol, self.spec.int8_min_within)


def resolve(spec: Spec, installed_tensorrt: str | None = None) -> Request:
    """Decide everything a run needs from ``spec``; ``installed_tensorrt`` is the version that will build, if any."""
    target = _target(spec.target_tensorrt, installed_tensorrt)
    check_build_settings(spec, target)
    return Request(
        spec=spec,
        target=target,
        precision=precision_plan(spec.precision, target, spec.strongly_typed),
        plugins=tuple(check_plugin_paths(spec.plugins)),
        workspace_bytes=parse_size(spec.workspace) if spec.workspace is not None else None,
    )


def _target(wanted: str | None, installed: str | None) -> TensorRTTarget:
    if installed is None:
        return wanted_target(wanted)
    target = parse_target(installed)
    if not target.supported:
        raise MissingDependency(
            f"TensorRT {installed} is installed; trtconvert builds with TensorRT {SUPPORTED_RANGE}: {INSTALL_TENSORRT}"
        )
    if wanted is not None and wanted_target(wanted).major != target.major:
        raise BadInput(
            f"--target-tensorrt {wanted} but TensorRT {installed} is installed and would build the engine; drop "
            "--target-tensorrt (or use `prepare` to make an ONNX for another version)"
        )
    return target


def check_plugin_paths(plugins: Sequence[Path]) -> list[Path]:
    """Every --plugin must be an existing file; returns absolute paths."""
    checked = []
    for plugin in plugins:
        if plugin.exists() and not plugin.is_file():
            raise BadInput(
                f"--plugin {plugin} is not a regular file; give the path of the plugin library (.so)"
            )
        if not plugin.is_file():
            raise BadInput(
                f"--plugin {plugin}: no such file; build the library with `trtconvert plugins build` or fix the path"
            )
        checked.append(plugin.resolve())
    return checked


def check_build_settings(spec: Spec, target: TensorRTTarget) -> None:
    """Refuse build settings that TensorRT would only refuse after the slow stages, or that ``target`` lacks."""
    if spec.opt_level is not None and spec.opt_level not in OPT_LEVELS:
        raise BadInput(f"--opt-level {spec.opt_level} is out of range; TensorRT takes 0 to 5 (default 3)")
    asked = {
        "opt_level": (spec.opt_level is not None, "drop --opt-level"),
        "version_compatible": (spec.version_compatible, "drop --version-compatible"),
        "hardware_compatibility": (spec.hardware_compatibility != "none", "drop --hardware-compatibility"),
        "bf16": (spec.precision == "bf16", "use --precision fp16"),
        "strongly_typed": (spec.strongly_typed, "drop --strongly-typed"),
    }
    for feature, (wanted, fix) in asked.items():
        if wanted and not target.has(feature):
            raise BadInput(f"{target.lacks_message(feature)}; {fix}, or build with a newer TensorRT")
