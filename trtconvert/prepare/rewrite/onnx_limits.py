"""Parameters ONNX forbids, refused before any rule runs: neither TensorRT nor a plugin can compute such a node,
whatever the policy, and a model that holds one is broken at its source.

Resize (any mode): scales must be finite and positive; sizes and the output lengths that scales give must fit in
int32, at the static input lengths or, for dynamic ones, at the largest lengths the profiles allow.
"""

from __future__ import annotations

import numpy as np
import onnx_graphsurgeon as gs

from trtconvert.model.info import is_default_domain
from trtconvert.prepare.rewrite.shapes import ShapeTracer


def forbidden_parameters(node: gs.Node, tracer: ShapeTracer) -> str | None:
    """Why ONNX forbids this node's parameters, or None."""
    if node.op == "Resize" and is_default_domain(node.domain):
        return forbidden_resize_parameters(node, tracer)
    return None


MAX_LENGTH = 2**31 - 1


def forbidden_resize_parameters(node: gs.Node, tracer: ShapeTracer) -> str | None:
    """What ONNX forbids in a Resize's constant scales or sizes, or None."""
    scales_t = node.inputs[2] if len(node.inputs) > 2 and node.inputs[2].name else None
    sizes_t = node.inputs[3] if len(node.inputs) > 3 and node.inputs[3].name else None
    scales = tracer.constant(scales_t) if scales_t is not None else None
    if scales is not None and scales.size:
        values = np.asarray(scales, dtype=np.float64).reshape(-1)
        if not np.all(np.isfinite(values)) or np.any(values <= 0):
            return (
                f"scales {values.tolist()} are not all finite and positive, which ONNX requires; fix the exporter "
                "or the model"
            )
        dims = tracer.dims(node.inputs[0])
        axes = node.attrs.get("axes")
        listed = [int(a) for a in axes] if axes is not None else list(range(len(values)))
        for axis, scale in zip(listed, values, strict=False):
            length = dims[axis] if dims is not None and -len(dims) <= axis < len(dims) else None
            if isinstance(length, int):
                if length * scale > MAX_LENGTH:
                    return f"scale {scale} makes axis {axis} of length {length} longer than 2^31 - 1"
                continue
            largest = tracer.largest_length(node.inputs[0], axis)
            if largest is not None and largest * scale > MAX_LENGTH:
                return (
                    f"scale {scale} makes axis {axis} longer than 2^31 - 1 at the profile's largest length "
                    f"{largest}; lower the profile's max or fix the scale"
                )
            if scale > MAX_LENGTH:
                return f"scale {scale} makes axis {axis} longer than 2^31 - 1 at any input length"
    sizes = tracer.constant(sizes_t) if sizes_t is not None and scales is None else None
    if sizes is not None and sizes.size:
        values = np.asarray(sizes).reshape(-1)
        if np.any(values <= 0) or np.any(values > MAX_LENGTH):
            return f"sizes {values.tolist()} must lie between 1 and 2^31 - 1; fix the exporter or the model"
    return None
