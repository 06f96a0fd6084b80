"""The rewrite stage: run every registered rule over a model and apply the rewrites the policy asks for."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import onnx
import onnx_graphsurgeon as gs

from trtconvert.errors import BadInput
from trtconvert.model.info import all_nodes, is_default_domain, node_subgraphs
from trtconvert.prepare.rewrite.onnx_limits import forbidden_parameters
from trtconvert.prepare.rewrite.registry import registered_rules
from trtconvert.prepare.rewrite.rules.conv_kernel_shape import OPS as CONV_OPS
from trtconvert.prepare.rewrite.rules.conv_kernel_shape import needs_kernel_shape
from trtconvert.prepare.rewrite.shapes import Dims, ShapeTracer, infer_static_shapes, largest_input_shapes
from trtconvert.prepare.rewrite.types import POLICIES, Plan, RewriteDecision, RuleContext
from trtconvert.settings.target import TensorRTTarget


@dataclass
class RewriteResult:
    """The rewritten model (a new ModelProto) and one decision per node a rule matched."""

    model: onnx.ModelProto
    decisions: list[RewriteDecision] = field(default_factory=list)

    @property
    def rewritten(self) -> int:
        return sum(d.decision == "rewrite" for d in self.decisions)

    def lines(self) -> list[str]:
        return [d.line() for d in self.decisions]


def _plans(
    model: onnx.ModelProto,
    policy: str,
    target: TensorRTTarget,
    base_dir: str | os.PathLike | None,
    largest_shapes: Mapping[str, Sequence[int]] | None = None,
    shapes: dict[str, Dims] | None = None,
) -> tuple[gs.Graph, list[Plan]]:
    if policy not in POLICIES:
        raise BadInput(f"--rewrite {policy!r} is not a policy; use one of {', '.join(POLICIES)}")
    graph = gs.import_onnx(model)
    # graph-surgeon keeps a reference to the model's opset list and appends to it on export: detach it.
    graph.import_domains = [onnx.helper.make_opsetid(o.domain, o.version) for o in model.opset_import]
    tracer = ShapeTracer(
        infer_static_shapes(model) if shapes is None else shapes,
        None if base_dir is None else os.fspath(base_dir),
        largest=(lambda: largest_input_shapes(model, largest_shapes)) if largest_shapes else None,
    )
    rules = registered_rules()
    plans: list[Plan] = []
    for owner in [graph, *graph.subgraphs(recursive=True)]:
        ctx = RuleContext(graph=owner, tracer=tracer, target=target, policy=policy)
        for node in list(owner.nodes):
            forbidden = forbidden_parameters(node, tracer)
            if forbidden:
                name = node.name or node.outputs[0].name
                decision = RewriteDecision(name, node.op, "error", f"node {name!r}: {forbidden}", "onnx")
                plans.append(Plan(decision, owner=owner))
                continue
            for rule in rules:
                if rule.matches(node):
                    plan = rule.plan(node, ctx)
                    plan.owner = owner
                    plans.append(plan)
                    break
    return graph, plans


def plan_rewrites(
    model: onnx.ModelProto,
    target: TensorRTTarget,
    policy: str = "auto",
    base_dir: str | os.PathLike | None = None,
) -> list[RewriteDecision]:
    """What ``policy`` would do to each matched node, without changing anything; nodes that nothing can
    compute appear with decision ``"error"`` instead of raising (for ``inspect``).

    ``base_dir`` is the model's folder, for a model loaded without its external data: the few small constants
    the rules read (scales, sizes, slice bounds) are then read from there.
    """
    constants = _constant_names(model)
    if policy in POLICIES and not any(
        _may_concern_a_rule(node, constants) for node in all_nodes(model.graph)
    ):
        return []  # importing the graph into graph-surgeon would cost more than the rest of `inspect`
    view = _limits_check_view(model, constants) if policy in POLICIES else None
    if view is not None:
        _, plans = _plans(view, policy, target, base_dir, shapes=infer_static_shapes(model))
    else:
        _, plans = _plans(model, policy, target, base_dir)
    return [plan.decision for plan in plans]


def _constant_names(model: onnx.ModelProto) -> set[str]:
    graphs = [model.graph, *(graph for node in all_nodes(model.graph) for graph in node_subgraphs(node))]
    names = {init.name for graph in graphs for init in graph.initializer}
    return names | {
        out for node in all_nodes(model.graph) if node.op_type == "Constant" for out in node.output
    }


def _may_concern_a_rule(node: onnx.NodeProto, constants: set[str]) -> bool:
    # What the registered rules match (cubic Resize, our plugin's nodes, a Conv with computed weights and no
    # kernel_shape) and the ONNX limits check (Resize).
    if node.op_type in CONV_OPS:
        computed = len(node.input) > 1 and bool(node.input[1]) and node.input[1] not in constants
        return needs_kernel_shape(node.op_type, node.domain, {a.name for a in node.attribute}, computed)
    return node.op_type == "Resize" or not is_default_domain(node.domain)


def _limits_check_view(model: onnx.ModelProto, constants: set[str]) -> onnx.ModelProto | None:
    """The top graph's Resize nodes with the constants they read, or None where a rule may match a node or a
    subgraph holds a Resize.

    When only the ONNX limits check concerns a model (a detector's nearest Resize nodes), that check reads no more
    than these nodes, the initializers and Constant nodes feeding their parameters, and dims that shape inference
    of the whole model gives: importing this view instead of the whole graph spares `inspect` most of its cost.
    """
    resizes = [node for node in model.graph.node if _may_concern_a_rule(node, constants)]
    if len(resizes) != sum(_may_concern_a_rule(node, constants) for node in all_nodes(model.graph)):
        return None
    for node in resizes:
        mode = next((a.s for a in node.attribute if a.name == "mode"), b"nearest")
        if node.op_type != "Resize" or not is_default_domain(node.domain) or mode == b"cubic":
            return None
    parameters = {name for node in resizes for name in node.input[1:] if name}
    view = onnx.ModelProto()
    view.ir_version = model.ir_version
    view.opset_import.extend(model.opset_import)
    graph = view.graph
    graph.node.extend(
        node
        for node in model.graph.node
        if node.op_type == "Constant" and is_default_domain(node.domain) and set(node.output) & parameters
    )
    graph.node.extend(resizes)
    graph.initializer.extend(init for init in model.graph.initializer if init.name in parameters)
    produced = {name for node in graph.node for name in node.output} | {i.name for i in graph.initializer}
    needed = {name for node in resizes for name in node.input if name and name not in produced}
    graph.input.extend(value for value in model.graph.input if value.name in needed)
    known = {value.name for value in graph.input}
    graph.input.extend(onnx.helper.make_empty_tensor_value_info(name) for name in sorted(needed - known))
    graph.output.extend(
        onnx.helper.make_empty_tensor_value_info(o) for node in resizes for o in node.output[:1]
    )
    return view


def rewrite_model(
    model: onnx.ModelProto,
    policy: str,
    target: TensorRTTarget,
    base_dir: str | os.PathLike | None = None,
    largest_shapes: Mapping[str, Sequence[int]] | None = None,
) -> RewriteResult:
    """Apply ``policy`` (auto, all, none) for ``target``; the input model is never modified.

    Raises BadInput naming the node and attribute when a node can be computed neither by the target's
    parser nor by the plugin. ``base_dir`` as for :func:`plan_rewrites`; external data stays external.
    ``largest_shapes`` (input name to the largest shape the profiles allow) bounds dynamic lengths, so that a
    Resize whose output would overflow at those shapes is refused here rather than by the engine build.
    """
    graph, plans = _plans(model, policy, target, base_dir, largest_shapes)
    decisions = [plan.decision for plan in plans]
    for decision in decisions:
        if decision.decision == "error":
            raise BadInput(decision.reason)
    applied = [plan for plan in plans if plan.apply is not None]
    if not applied:
        copy = onnx.ModelProto()
        copy.CopyFrom(model)
        return RewriteResult(copy, decisions)
    for plan in applied:
        plan.apply(plan.owner)
    graph.cleanup(remove_unused_graph_inputs=False).toposort()
    rewritten = gs.export_onnx(graph, do_type_check=False)
    _keep_model_fields(model, rewritten)
    return RewriteResult(rewritten, decisions)


def _keep_model_fields(original: onnx.ModelProto, rewritten: onnx.ModelProto) -> None:
    """Carry over what graph-surgeon's export drops or resets."""
    rewritten.ir_version = original.ir_version
    rewritten.producer_name = original.producer_name
    rewritten.producer_version = original.producer_version
    rewritten.domain = original.domain
    rewritten.model_version = original.model_version
    rewritten.doc_string = original.doc_string
    del rewritten.metadata_props[:]
    rewritten.metadata_props.extend(original.metadata_props)
    known = {opset.domain for opset in rewritten.opset_import}
    for opset in original.opset_import:
        if opset.domain not in known:
            rewritten.opset_import.append(opset)
