"""A Conv or ConvTranspose whose weights are computed (a DequantizeLinear of int8 weights, as in every explicitly
quantized model) and that has no ``kernel_shape`` gets one, from the weights' static shape.

ONNX defines a missing ``kernel_shape`` as the weights' spatial dims, and TensorRT's ONNX parser reads them from the
weights when they are an initializer; when they are a tensor, the parser's path for computed weights (8.5 to at
least 10.1) reads the kernel size from the attribute alone, and without it refuses the node ("The input tensor
shape misaligns with the input kernel shape"). The attribute changes nothing that the node computes.
"""

from __future__ import annotations

import onnx_graphsurgeon as gs

from trtconvert.model.info import is_default_domain
from trtconvert.prepare.rewrite.types import Plan, RewriteDecision, RuleContext

RULE = "conv_kernel_shape"
OPS = ("Conv", "ConvTranspose")
PARSER_NEEDS = "TensorRT's ONNX parser needs kernel_shape on a Conv whose weights are computed"


def needs_kernel_shape(op: str, domain: str, attribute_names: set[str], weights_computed: bool) -> bool:
    """Whether a node is one this rule may concern (its weights' shape decides whether it can act)."""
    return (
        op in OPS and is_default_domain(domain) and "kernel_shape" not in attribute_names and weights_computed
    )


class ConvKernelShapeRule:
    name = RULE

    def matches(self, node: gs.Node) -> bool:
        weights = node.inputs[1] if len(node.inputs) > 1 else None
        computed = weights is not None and not isinstance(weights, gs.Constant) and bool(weights.inputs)
        return needs_kernel_shape(node.op, node.domain, set(node.attrs), computed)

    def plan(self, node: gs.Node, ctx: RuleContext) -> Plan:
        name = node.name or node.outputs[0].name
        dims = ctx.tracer.dims(node.inputs[1])
        spatial = dims[2:] if dims is not None and len(dims) > 2 else None
        if spatial is None or not all(isinstance(d, int) and d > 0 for d in spatial):
            unknown = (
                "it reads the kernel size of a Conv with computed weights from kernel_shape alone, which this node "
                "lacks, and the weights' shape is not static here to give it"
            )
            fix = "give the node a kernel_shape attribute (its weights' spatial dims), or re-export it with static weights"
            return Plan(
                RewriteDecision(name, node.op, "keep", f"{PARSER_NEEDS}: {unknown}", RULE, unknown, fix)
            )
        kernel = [int(d) for d in spatial]
        if ctx.policy == "none":
            return Plan(
                RewriteDecision(
                    name,
                    node.op,
                    "keep",
                    f"--rewrite none; {PARSER_NEEDS}: the build will fail",
                    RULE,
                    PARSER_NEEDS,
                )
            )
        return Plan(
            RewriteDecision(
                name, node.op, "rewrite", f"{PARSER_NEEDS}; -> kernel_shape={kernel} (its weights')", RULE
            ),
            apply=lambda graph: node.attrs.__setitem__("kernel_shape", kernel),
        )
