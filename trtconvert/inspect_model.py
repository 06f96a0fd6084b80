"""`inspect` for ONNX models: inputs with symbolic dims, outputs, versions, ops, custom ops, weights, and
what the rewrite stage would do for the target TensorRT. Reads no weights, so it is fast on any size."""

from __future__ import annotations

from pathlib import Path

from trtconvert.load import external_data_files, read_graph
from trtconvert.model_info import custom_nodes, graph_inputs, graph_outputs, op_counts, opsets, weight_bytes
from trtconvert.profiles import example_flag


def describe_onnx(path: Path, target_tensorrt: str | None) -> dict:
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
        "profile_example": example_flag(inputs) if any(not i.is_static for i in inputs) else None,
    }
    from trtconvert.rewrite import plan_rewrites
    from trtconvert.tensorrt_target import parse_target

    target = parse_target(target_tensorrt)
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
    if report["profile_example"]:
        lines.append(f"profile   e.g. {report['profile_example']}")
    return lines
