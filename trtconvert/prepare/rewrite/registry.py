"""The rewrite rules, registered in one place: the stage tries them in this order on each node."""

from __future__ import annotations

from trtconvert.prepare.rewrite.rules.conv_kernel_shape import ConvKernelShapeRule
from trtconvert.prepare.rewrite.rules.cubic_resize import CubicResizeRule
from trtconvert.prepare.rewrite.types import RewriteRule


def registered_rules() -> list[RewriteRule]:
    """Every rule, in the order the stage tries them on each node."""
    return [CubicResizeRule(), ConvKernelShapeRule()]
