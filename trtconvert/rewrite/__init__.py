"""Rewrite stage: graph-surgeon rules that replace nodes the target TensorRT cannot compute.

``rewrite_model(model, policy, target)`` applies a policy (``auto``, ``all``, ``none``) and reports one decision
per matched node; ``plan_rewrites(model, target)`` says what ``auto`` would do without changing anything. Rules
live one per module under :mod:`trtconvert.rewrite.rules` and are listed in :mod:`trtconvert.rewrite.registry`.
"""

from trtconvert.rewrite.registry import registered_rules
from trtconvert.rewrite.stage import RewriteResult, plan_rewrites, rewrite_model
from trtconvert.rewrite.types import POLICIES, RewriteDecision

__all__ = [
    "POLICIES",
    "RewriteDecision",
    "RewriteResult",
    "plan_rewrites",
    "registered_rules",
    "rewrite_model",
]
