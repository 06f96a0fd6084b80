"""Rewrite stage: graph-surgeon rules that replace nodes the target TensorRT cannot compute.

``rewrite_model(model, policy, target)`` applies a policy (``auto``, ``all``, ``none``) and reports one decision
per matched node; ``plan_rewrites(model, target)`` says what ``auto`` would do without changing anything. Rules
live one per module under :mod:`trtconvert.prepare.rewrite.rules` and are listed in :mod:`trtconvert.prepare.rewrite.registry`.
"""

from trtconvert.prepare.rewrite.registry import registered_rules
from trtconvert.prepare.rewrite.stage import RewriteResult, plan_rewrites, rewrite_model
from trtconvert.prepare.rewrite.types import POLICIES, RewriteDecision

__all__ = [
    "POLICIES",
    "RewriteDecision",
    "RewriteResult",
    "plan_rewrites",
    "registered_rules",
    "rewrite_model",
]
