"""`inspect PLAN`: what a built plan is, from its sidecar, as a report and as text; with --layers, what TensorRT
made of each layer, from its engine inspector."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trtconvert import log
from trtconvert.engine.layers import LayerReport, layer_report, of_profile
from trtconvert.engine.machine import require_gpu, require_tensorrt
from trtconvert.engine.plan_files import load_engine, read_sidecar, sha256_file
from trtconvert.engine.tensorrt_log import tensorrt_messages
from trtconvert.errors import BadInput, shown
from trtconvert.settings.request import check_plugin_paths


def describe_plan(plan: Path) -> dict[str, Any]:
    """`inspect PLAN`: the sidecar, with whether the plan's bytes still match it."""
    document = read_sidecar(plan, check_plan=False)
    recorded = document.get("plan", {})
    matches = recorded.get("bytes") == plan.stat().st_size and recorded.get("sha256") == sha256_file(plan)
    return {
        "ok": True,
        "command": "inspect",
        "kind": "plan",
        "path": str(plan),
        "plan_matches_sidecar": matches,
        **document,
    }


def _shape_text(shape: list[int]) -> str:
    return "x".join(str(d) for d in shape) or "scalar"


def format_plan(report: dict[str, Any]) -> list[str]:
    def dims(values: list | None) -> str:
        return (
            "[unknown]"
            if values is None
            else "[" + ", ".join("?" if d is None else str(d) for d in values) + "]"
        )

    tensorrt, gpu, precision = report.get("tensorrt", {}), report.get("gpu", {}), report.get("precision", {})
    lines = [
        f"plan      {report['path']} ({report.get('plan', {}).get('bytes', 0) / 1e6:.1f} MB)"
        + (
            ""
            if report.get("plan_matches_sidecar")
            else "  WARNING: the plan's bytes differ from its sidecar"
        ),
        f"built     {report.get('created')} by trtconvert {report.get('trtconvert_version')} from {report.get('model')}",
        f"tensorrt  {tensorrt.get('version')}"
        + (", strongly typed" if tensorrt.get("strongly_typed") else "")
        + f" on {gpu.get('name')} (compute capability {gpu.get('compute_capability')})",
        f"precision {precision.get('precision')} ({precision.get('mode')}"
        + (f", {precision.get('converter')}" if precision.get("converter") else "")
        + ")",
    ]
    for pattern, nodes in (precision.get("keep_fp32") or {}).items():
        lines.append(f"keep fp32 {pattern}: {', '.join(nodes)}")
    lines.append("inputs")
    tensors = report.get("inputs", []) + report.get("outputs", [])
    width = max([len(t["name"]) for t in tensors] + [4])
    lines += [
        f"  {t['name']:<{width}}  {t['dtype']:<8} {dims(t.get('dims'))}" for t in report.get("inputs", [])
    ]
    lines.append("outputs")
    lines += [
        f"  {t['name']:<{width}}  {t['dtype']:<8} {dims(t.get('dims'))}" for t in report.get("outputs", [])
    ]
    for name, entry in report.get("frozen", {}).items():
        value = shown(entry["value"]) if "value" in entry else f"<values with sha256 {entry['sha256'][:12]}>"
        lines.append(f"frozen    {name}={value} ({entry['dtype']} {_shape_text(entry['shape'])})")
    for index, profile in enumerate(report.get("profiles", [])):
        lines.append(f"profile {index}")
        lines += [
            f"  {name:<{width}}  min {_shape_text(r['min'])}  opt {_shape_text(r['opt'])}  max {_shape_text(r['max'])}"
            for name, r in profile.items()
        ]
    plugins = report.get("plugins", [])
    lines.append("plugins   " + (", ".join(f"{p['file']} ({p['sha256'][:12]})" for p in plugins) or "none"))
    lines.append(f"key       {report.get('cache_key')}")
    return lines


def engine_layers(plan: Path, plugins: Sequence[Path] = ()) -> list[LayerReport]:
    """`inspect PLAN --layers`: each layer as TensorRT's engine inspector describes it (needs TensorRT, a GPU
    and the plan's plugin libraries), one report per optimization profile of a dynamic plan. Plans built without
    detailed profiling verbosity give names only."""
    from polygraphy import cuda

    trt = require_tensorrt("the plan's layers cannot be read")
    require_gpu("the plan cannot be deserialized to read its layers")
    engine = load_engine(plan, check_plugin_paths(plugins), trt)
    with tensorrt_messages(), cuda.Stream() as stream:
        return inspect_layers(engine, trt, stream.ptr)


def _dynamic_inputs(engine: Any, trt: Any) -> list[str]:
    """The engine's inputs with a dim that only an execution context fixes (shape tensors left out: their
    values, not their shapes, would be needed)."""
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    return [
        name
        for name in names
        if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
        and not engine.is_shape_inference_io(name)
        and -1 in tuple(engine.get_tensor_shape(name))
    ]


def inspect_layers(engine: Any, trt: Any, stream_handle: int) -> list[LayerReport]:
    """The inspector's report of a deserialized engine; for a dynamic one, one report per profile read through an
    execution context set to that profile with its opt shapes (without input shapes the inspector writes no
    formats for dynamic dims, so no layer would have a precision)."""
    inspector = engine.create_engine_inspector()
    dynamic = _dynamic_inputs(engine, trt)
    if not dynamic:
        return [layer_report(inspector.get_engine_information(trt.LayerInformationFormat.JSON))]
    reports = []
    for profile in range(engine.num_optimization_profiles):
        opt_shapes = {name: tuple(engine.get_tensor_profile_shape(name, profile)[1]) for name in dynamic}
        with engine.create_execution_context() as context:
            if engine.num_optimization_profiles > 1:
                context.set_optimization_profile_async(profile, stream_handle)
            for name, shape in opt_shapes.items():
                if not context.set_input_shape(name, shape):
                    raise BadInput(
                        f"TensorRT refused profile {profile}'s opt shape {shape} for input '{name}'; the plan "
                        "may be damaged: rebuild it"
                    )
            inspector.execution_context = context
            try:
                text = inspector.get_engine_information(trt.LayerInformationFormat.JSON)
            finally:
                inspector.execution_context = None
        try:
            reports.append(of_profile(layer_report(text), profile, opt_shapes))
        except BadInput:
            # An inspector that describes nothing through a context still describes the plan as built.
            log.LOGGER.warning(
                "warning: TensorRT's engine inspector described nothing at profile %d's opt shapes; its layers "
                "are listed without the formats those shapes resolve (rerun with -v for TensorRT's log)",
                profile,
            )
            unresolved = layer_report(inspector.get_engine_information(trt.LayerInformationFormat.JSON))
            reports.append(of_profile(unresolved, profile, {}))
    return reports
