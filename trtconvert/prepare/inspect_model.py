"""`inspect` for ONNX models: inputs with symbolic dims, outputs, versions, ops, custom ops, weights, and
what the rewrite stage would do for the target TensorRT. Reads no weights, so it is fast on any size."""

from __future__ import annotations

from pathlib import Path

from trtconvert.model.dims import tied_axes
from trtconvert.model.info import (
    all_nodes,
    custom_nodes,
    graph_inputs,
    graph_outputs,
    op_counts,
    opsets,
    weight_bytes,
)
from trtconvert.model.load import external_data_files, read_graph
from trtconvert.model.profiles import profile_flag, suggested_profile
from trtconvert.prepare.suggest_profile import check_suggestion
from trtconvert.settings.target import TensorRTTarget


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
    # The parser check finds problems only at If and Resize nodes and at ops the target's parser cannot import
    # (in any subgraph); its shape inference is slow.
    from trtconvert.prepare.parser_checks import PARSER_INPUT_SINCE, PARSER_OP_SINCE, find_problems

    checked_ops = {"If", "Resize", *PARSER_OP_SINCE, *(op for op, _ in PARSER_INPUT_SINCE)}
    problems = []
    if any(node.op_type in checked_ops for node in all_nodes(model.graph)):
        problems = find_problems(read_graph(path), target)
    report["parser_problems"] = [p.line() for p in problems]
    decided_by_shapes = {name for p in problems for name in p.shape_inputs}
    dynamic = any(not i.is_static for i in inputs)
    report["profile_fixes"] = sorted(decided_by_shapes)
    report["freeze_example"] = (
        " ".join(f"--freeze {name}=VALUE" for name in sorted({n for p in problems for n in p.value_inputs}))
        or None
    )
    report["profile_example"] = None
    report["profile_fixed_by_model"] = {}
    report["profile_bounded_by_model"] = {}
    report["profile_checked_by"] = None
    if dynamic:
        # Checked as data, never re-parsed from its own text: input names may hold ',', '=' or quotes.
        checked = check_suggestion(path, model, suggested_profile(inputs, decided_by_shapes), inputs)
        report["profile_example"] = profile_flag(checked.profile)
        report["profile_fixed_by_model"] = checked.fixed_by_model
        report["profile_bounded_by_model"] = checked.bounded_by_model
        report["profile_checked_by"] = checked.ran or None
        if checked.problem:
            report["profile_check"] = f"{checked.problem}; adjust the suggested profile"
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
        for axis, size in report.get("profile_fixed_by_model", {}).items():
            lines.append(f"          {axis} is {size}: the model needs it (found by trying the usual sizes)")
        for axis, size in report.get("profile_bounded_by_model", {}).items():
            lines.append(
                f"          {axis} at most {size}: the model fails above it (the largest usual size that runs)"
            )
        if report.get("profile_check"):
            lines.append(f"          warning: {report['profile_check']}")
        elif report.get("profile_checked_by"):
            lines.append(f"          checked with {report['profile_checked_by']}")
        if report.get("profile_fixes"):
            lines.append(
                f"          {', '.join(report['profile_fixes'])} fixed to one shape: If nodes choose their branches "
                "by those dims, and TensorRT builds such an If only when folding has removed it"
            )
    for problem in report.get("parser_problems", []):
        lines.append(f"parser    {problem}")
    if report.get("freeze_example"):
        lines.append(
            f"freeze    e.g. {report['freeze_example']} (If nodes choose their branches by those values)"
        )
    return lines
