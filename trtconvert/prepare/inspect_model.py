"""`inspect` for ONNX models: inputs with symbolic dims, outputs, versions, ops, custom ops, weights, and
what the rewrite stage would do for the target TensorRT. Reads no weights, so it is fast on any size."""

from __future__ import annotations

from pathlib import Path

import onnx

from trtconvert.model.dims import tied_axes
from trtconvert.model.info import custom_nodes, graph_inputs, graph_outputs, op_counts, opsets, weight_bytes
from trtconvert.model.load import external_data_files, read_graph
from trtconvert.model.profiles import example_flag, format_shape, parse_profile
from trtconvert.settings.target import TensorRTTarget


def shape_problem(light: onnx.ModelProto, shapes: dict[str, tuple[int, ...]]) -> str | None:
    """What onnx's strict shape inference finds wrong at these input shapes (a Reshape to a fixed size, a
    Concat or Add of lengths that cannot meet), or None. Needs no weights; finds much, not everything.

    ``light`` is a copy of the model without its large weights, which this sets the inputs' dims of: one copy
    serves every call."""
    for value in light.graph.input:
        if value.name in shapes:
            dims = value.type.tensor_type.shape.dim
            for dim, size in zip(dims, shapes[value.name], strict=False):
                dim.Clear()
                dim.dim_value = size
    try:
        onnx.shape_inference.infer_shapes(light, strict_mode=True, data_prop=True)
    except Exception as err:  # onnx raises InferenceError and others
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        return lines[0][:300] if lines else type(err).__name__
    return None


def describe_onnx(path: Path, target: TensorRTTarget) -> dict:
    model = read_graph(path)
    external_data_files(model, path)  # a missing or escaping data file is reported here too
    inputs = graph_inputs(model)
    report = {
        "ok": True,
        "command": "inspect",
        "kind": "onnx",
        "model": str(path),
        "ir_version": model.ir_version,
        "opsets": opsets(model),
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
        "inputs": [i.to_json() for i in inputs],
        "outputs": [o.to_json() for o in graph_outputs(model)],
        "nodes": len(model.graph.node),
        "ops": op_counts(model),
        "custom_ops": sorted({f"{n.domain}::{n.op_type}" for n in custom_nodes(model)}),
        "weight_bytes": weight_bytes(model),
        "tied_dims": {name: [f"{i}[{a}]" for i, a in axes] for name, axes in tied_axes(inputs).items()},
        "parser_problems": [],
        "profile_check": None,
    }
    # The parser check finds problems only at If nodes of the main graph; its shape inference is slow.
    problems = []
    if any(node.op_type == "If" for node in model.graph.node):
        from trtconvert.prepare.parser_checks import find_problems

        problems = find_problems(read_graph(path))
    report["parser_problems"] = [p.line() for p in problems]
    decided_by_shapes = {name for p in problems for name in p.shape_inputs}
    dynamic = any(not i.is_static for i in inputs)
    report["profile_example"] = example_flag(inputs, decided_by_shapes) if dynamic else None
    report["profile_fixes"] = sorted(decided_by_shapes)
    report["freeze_example"] = (
        " ".join(f"--freeze {name}=VALUE" for name in sorted({n for p in problems for n in p.value_inputs}))
        or None
    )
    if report["profile_example"]:
        from trtconvert.prepare.fold import _without_large_data

        profile = parse_profile(report["profile_example"].split("'")[1])
        light, _ = _without_large_data(model, empty=False)
        for which in ("min", "opt", "max"):
            problem = shape_problem(light, {name: getattr(r, which) for name, r in profile.items()})
            if problem:
                shown = ",".join(f"{n}={format_shape(getattr(r, which))}" for n, r in profile.items())
                report["profile_check"] = (
                    f"shape inference fails at the {which} shapes ({shown}): {problem}; the model fixes or constrains "
                    "a dim there, so adjust the suggested profile"
                )
                break
    from trtconvert.prepare.rewrite import plan_rewrites

    report["target_tensorrt"] = str(target)
    report["rewrites"] = [d.to_json() for d in plan_rewrites(model, target, base_dir=path.parent)]
    return report


def _dims(dims: list | None) -> str:
    return "[unknown]" if dims is None else "[" + ", ".join("?" if d is None else str(d) for d in dims) + "]"


def format_onnx(report: dict) -> list[str]:
    lines = [
        f"model     {report['model']}",
        f"format    IR {report['ir_version']}, opsets "
        + ", ".join(f"{k} {v}" for k, v in report["opsets"].items())
        + (f", producer {report['producer']}" if report["producer"] else ""),
        f"size      {report['nodes']} nodes, {report['weight_bytes'] / 1e6:.1f} MB of weights",
        "inputs",
    ]
    width = max([len(t["name"]) for t in report["inputs"] + report["outputs"]] + [4])
    lines += [f"  {t['name']:<{width}}  {t['dtype']:<8} {_dims(t['dims'])}" for t in report["inputs"]]
    lines.append("outputs")
    lines += [f"  {t['name']:<{width}}  {t['dtype']:<8} {_dims(t['dims'])}" for t in report["outputs"]]
    lines.append("ops       " + ", ".join(f"{op} {n}" for op, n in report["ops"].items()))
    lines.append("custom    " + (", ".join(report["custom_ops"]) or "none"))
    rewrites = report.get("rewrites", [])
    lines.append(
        f"rewrites  for TensorRT {report.get('target_tensorrt')}: " + ("none needed" if not rewrites else "")
    )
    lines += [f"  {r['node']}: {r['decision']} ({r['reason']})" for r in rewrites]
    for name, axes in report.get("tied_dims", {}).items():
        lines.append(
            f"tied      '{name}': {', '.join(axes)} (one dimension for TensorRT: same values in a profile)"
        )
    if report["profile_example"]:
        lines.append(f"profile   e.g. {report['profile_example']}")
        if report.get("profile_fixes"):
            lines.append(
                f"          {', '.join(report['profile_fixes'])} fixed to one shape: If nodes choose their branches "
                "by those dims, and TensorRT builds such an If only when folding has removed it"
            )
    if report.get("freeze_example"):
        lines.append(
            f"freeze    e.g. {report['freeze_example']} (If nodes choose their branches by those values)"
        )
        if report.get("profile_check"):
            lines.append(f"          warning: {report['profile_check']}")
    return lines
