"""What rules and the rewrite stage exchange: the decision per node, the context a rule sees, its plan."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import onnx_graphsurgeon as gs

from trtconvert.prepare.rewrite.shapes import ShapeTracer
from trtconvert.settings.target import TensorRTTarget

POLICIES = ("auto", "all", "none")


@dataclass(frozen=True)
class RewriteDecision:
    """What the stage does with one node, and why."""

    node: str
    op: str
    decision: str  # "rewrite" or "keep"
    reason: str
    rule: str = ""
    # For a node kept although the target TensorRT rejects it or computes it otherwise (--rewrite none): why.
    target_refuses: str = ""
    # For such a node kept whatever the policy (the rule cannot rewrite it): what the user can do.
    fix: str = ""

    def line(self) -> str:
        return f"{self.node} ({self.op}): {self.decision}: {self.reason}"

    def to_json(self) -> dict[str, str]:
        return {
            "node": self.node,
            "op": self.op,
            "decision": self.decision,
            "reason": self.reason,
            "rule": self.rule,
            "target_refuses": self.target_refuses,
        }


@dataclass
class RuleContext:
    """What a rule may read while planning: the graph, traced shapes, the target and the policy."""

    graph: gs.Graph
    tracer: ShapeTracer
    target: TensorRTTarget
    policy: str


@dataclass
class Plan:
    """A rule's decision for one node; ``apply`` edits the graph in place and is set only for rewrites."""

    decision: RewriteDecision
    apply: Callable[[gs.Graph], None] | None = None
    owner: gs.Graph | None = None  # the (sub)graph holding the node; the stage fills it in


class RewriteRule(Protocol):
    name: str

    def matches(self, node: gs.Node) -> bool: ...

    def plan(self, node: gs.Node, ctx: RuleContext) -> Plan:
        """Decide for one matched node; raise BadInput when the node can be computed by nothing."""
        ...
