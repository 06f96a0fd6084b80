"""`doctor`: what this machine has for trtconvert, one line per component, meant for CI logs.

Every probe is isolated: a probe that fails reports why and the others still run, so `doctor` always exits 0.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import platform
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from trtconvert import __version__
from trtconvert.settings.target import SUPPORTED_RANGE


@dataclass(frozen=True)
class Check:
    """One component: found or not, its version or state, and a hint where it is missing."""

    name: str
    ok: bool
    detail: str
    hint: str = ""

    def to_json(self) -> dict:
        return {"name": self.name, "ok": self.ok, "detail": self.detail, "hint": self.hint or None}


def _package(name: str, import_name: str | None = None, hint: str = "") -> Check:
    try:
        version = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return Check(name, False, "not installed", hint or f"pip install {name}")
    if import_name is not None:
        # Found, not imported: importing onnx, onnxruntime and polygraphy would take doctor a second or more.
        try:
            found = importlib.util.find_spec(import_name) is not None
        except (ImportError, ValueError) as err:
            return Check(name, False, f"{version} installed but its module cannot be found ({err})", hint)
        if not found:
            return Check(name, False, f"{version} installed but module {import_name!r} is missing", hint)
    return Check(name, True, version)


def check_python() -> Check:
    return Check("python", True, f"{platform.python_version()} ({sys.executable})")


def check_trtconvert() -> Check:
    return Check("trtconvert", True, f"{__version__} ({Path(__file__).resolve().parents[1]})")


def check_tensorrt() -> Check:
    from trtconvert.engine.machine import import_tensorrt
    from trtconvert.errors import INSTALL_TENSORRT

    module, reason = import_tensorrt()
    if module is None:
        return Check(
            "tensorrt", False, f"{reason} (trtconvert supports TensorRT {SUPPORTED_RANGE})", INSTALL_TENSORRT
        )
    return describe_tensorrt(str(module.__version__), Path(str(module.__file__)).parent)


def describe_tensorrt(version: str, where: Path) -> Check:
    """The installed TensorRT against the supported range, with the plugin interface and what it lacks."""
    from trtconvert.errors import INSTALL_TENSORRT
    from trtconvert.settings.target import BUILDER_FEATURES, parse_target

    target = parse_target(version)
    if not target.supported:
        return Check(
            "tensorrt",
            False,
            f"{version} ({where}) is older than trtconvert supports ({SUPPORTED_RANGE})",
            INSTALL_TENSORRT,
        )
    lacking = [BUILDER_FEATURES[f][1] for f in BUILDER_FEATURES if not target.has(f)]
    detail = (
        f"{version} ({where}); supported range {SUPPORTED_RANGE}, plugin interface {target.plugin_interface}"
    )
    if lacking:
        detail += "; this version lacks " + ", ".join(lacking)
    return Check("tensorrt", True, detail)


def check_evidence() -> Check:
    """How trtconvert was verified on the installed TensorRT's versions (else on the default target's): what was
    measured with real engines, what only at argument level, compiled, or read from sources."""
    from trtconvert.settings.target import evidence_for, parse_target

    target = parse_target(None)  # the installed version, read without importing TensorRT
    which = "installed" if target.source == "installed" else "default target, none installed"
    row = evidence_for(target)
    if row is None:
        return Check("how verified", True, f"TensorRT {target.version} ({which}): outside {SUPPORTED_RANGE}")
    return Check(
        "how verified", True, f"TensorRT {row.versions} ({which}: {target.version}): {row.summary()}"
    )


def check_converters() -> Check:
    from trtconvert.settings.precision_plan import available_converters

    found = [name for name, present in available_converters().items() if present]
    if found:
        return Check("fp16/bf16 converters", True, ", ".join(found))
    return Check(
        "fp16/bf16 converters",
        False,
        "none (needed only for --precision fp16/bf16 on TensorRT 11)",
        "pip install onnxconverter-common (fp16) or nvidia-modelopt[onnx] (fp16, bf16)",
    )


def check_gpu() -> Check:
    from trtconvert.engine.machine import cuda_gpu, run_tool

    gpu, reason = cuda_gpu()
    smi, smi_reason = run_tool(
        ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"]
    )
    driver = ""
    if smi:
        first = smi.strip().splitlines()[0]
        fields = [f.strip() for f in first.split(",")]
        if len(fields) >= 2:
            driver = f", driver {fields[1]}" + (f", {fields[2]}" if len(fields) > 2 else "")
    if gpu is None:
        detail = reason + ("" if smi else f"; {smi_reason}")
        return Check("gpu", False, detail, "engines are built and run on an NVIDIA GPU with its driver")
    count = len(smi.strip().splitlines()) if smi else 1
    more = f" (+{count - 1} more)" if count > 1 else ""
    return Check("gpu", True, f"{gpu.name}, compute capability {gpu.compute_capability}{driver}{more}")


def check_nvcc() -> Check:
    from trtconvert.engine.machine import run_tool

    out, reason = run_tool(["nvcc", "--version"])
    if out is None:
        return Check("nvcc", False, reason, "install the CUDA toolkit to build the plugin library")
    match = re.search(r"release (\d+\.\d+)", out)
    return Check("nvcc", True, f"CUDA {match.group(1)}" if match else out.strip().splitlines()[-1])


def check_plugin_library() -> Check:
    name = "plugin library"
    try:
        from trtconvert.native.build import library_path
    except ImportError:
        return Check(name, False, "this trtconvert has no plugin builder", "")
    path = library_path()
    if path is not None and Path(path).is_file():
        return Check(name, True, str(path))
    where = f" at {path}" if path is not None else ""
    return Check(name, False, f"not built{where}", "trtconvert plugins build")


CHECKS: list[Callable[[], Check]] = [
    check_python,
    check_trtconvert,
    lambda: _package("onnx", "onnx"),
    lambda: _package("onnxruntime", "onnxruntime"),
    lambda: _package("onnxruntime-extensions", "onnxruntime_extensions"),
    lambda: _package("onnx-graphsurgeon", "onnx_graphsurgeon"),
    lambda: _package("polygraphy", "polygraphy"),
    lambda: _package("numpy", "numpy"),
    check_tensorrt,
    check_evidence,
    check_converters,
    check_gpu,
    check_nvcc,
    check_plugin_library,
]


def _name_of(probe: Callable[[], Check], index: int) -> str:
    name = getattr(probe, "__name__", "")
    return name.removeprefix("check_") if name and name != "<lambda>" else f"check {index}"


def run_checks(probes: list[Callable[[], Check]] | None = None) -> list[Check]:
    checks = []
    for index, probe in enumerate(CHECKS if probes is None else probes):
        try:
            checks.append(probe())
        except Exception as err:  # doctor reports; it never fails
            checks.append(Check(_name_of(probe, index), False, f"probe failed: {type(err).__name__}: {err}"))
    return checks


def doctor_report(probes: list[Callable[[], Check]] | None = None) -> dict:
    checks = run_checks(probes)
    by_name = {c.name: c for c in checks}
    can_build = all(by_name.get(n, Check(n, False, "")).ok for n in ("tensorrt", "gpu"))
    return {
        "ok": True,
        "command": "doctor",
        "can_prepare": all(c.ok for c in checks if c.name in ("onnx", "onnxruntime", "polygraphy")),
        "can_build": can_build,
        "checks": [c.to_json() for c in checks],
    }


def format_report(report: dict) -> list[str]:
    width = max(len(c["name"]) for c in report["checks"])
    lines = []
    for check in report["checks"]:
        mark = "ok " if check["ok"] else "-- "
        lines.append(f"{mark} {check['name']:<{width}}  {check['detail']}")
        if not check["ok"] and check["hint"]:
            lines.append(f"    {'':<{width}}  -> {check['hint']}")
    lines.append(
        "prepare: "
        + ("ready" if report["can_prepare"] else "missing packages above")
        + "; build/verify: "
        + ("ready" if report["can_build"] else "need TensorRT and an NVIDIA GPU (see above)")
    )
    return lines
