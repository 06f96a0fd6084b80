"""Intermediate tensors of the parsed network marked as extra network outputs, for the diagnostic engine of
`--auto-keep-fp32` (engine.layer_errors), where TensorRT allows it.

TensorRT's ONNX parser names a node's output tensors after the ONNX tensors, so a tensor is found by its ONNX
name among the layers' outputs. Marked: float tensors (fp32, fp16, bf16) that are not shape tensors and that no
loop or conditional boundary layer writes (a tensor inside a loop body or a branch cannot be an output of the
network). Left unmarked, each with the reason: names the network lacks (the parser folded or fused the node, or
the tensor lives inside a plugin), tensors of another type, shape tensors, control-flow tensors. Tensors that
are already network outputs are read as they are.

A marked tensor gets the reduced type as its output type (fp16, or bf16), unless its layer's output type is set
(a --keep-fp32 layer): a network output is fp32 by default, and TensorRT would then be free to compute the
layer in fp32 and show none of the error fp16 brings. Marking still changes what TensorRT fuses (a fused
tensor is never rounded to fp16 in the real engine): the diagnostic ranks the nodes, it does not reproduce the
engine.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from trtconvert import log

# Layer types at the boundary of, or inside, TensorRT's loops and conditionals (absent names are skipped).
_CONTROL_FLOW_LAYERS = (
    "RECURRENCE",
    "ITERATOR",
    "LOOP_OUTPUT",
    "TRIP_LIMIT",
    "CONDITION",
    "CONDITIONAL_INPUT",
    "CONDITIONAL_OUTPUT",
)


@dataclass
class MarkTensorsAsOutputs:
    """A PostprocessNetwork step: ``tensors`` marked as network outputs where TensorRT allows it."""

    tensors: tuple[str, ...]
    reduced_type: str | None = (
        "fp16"  # the output type of marked tensors: "fp16", "bf16", or None to leave it
    )
    marked: list[str] = field(default_factory=list)  # marked, or already a network output
    unmarked: dict[str, str] = field(default_factory=dict)  # tensor -> why it was left unmarked

    def __call__(self, network: Any) -> None:
        import tensorrt as trt  # type: ignore[import-not-found]

        self.apply(trt, network)

    def apply(self, trt: Any, network: Any) -> None:
        floats = {trt.float32, trt.float16} | ({trt.bfloat16} if hasattr(trt, "bfloat16") else set())
        control_flow = {
            getattr(trt.LayerType, name) for name in _CONTROL_FLOW_LAYERS if hasattr(trt.LayerType, name)
        }
        reduced = {"fp16": trt.float16, "bf16": getattr(trt, "bfloat16", None)}.get(self.reduced_type or "")
        wanted = set(self.tensors)
        found: dict[str, tuple[Any, Any, int]] = {}
        for index in range(network.num_layers):
            layer = network.get_layer(index)
            for output in range(layer.num_outputs):
                tensor = layer.get_output(output)
                if tensor.name in wanted and tensor.name not in found:
                    found[tensor.name] = (layer, tensor, output)
        self.marked.clear()
        self.unmarked.clear()
        for name in self.tensors:
            why = self._why_not(name, found, floats, control_flow)
            if why is not None:
                self.unmarked[name] = why
                continue
            layer, tensor, output = found[name]
            if not tensor.is_network_output:
                network.mark_output(tensor)
                if reduced is not None and not _output_type_is_set(layer, output):
                    tensor.dtype = reduced
            self.marked.append(name)
        self.report()

    @staticmethod
    def _why_not(name: str, found: dict, floats: set, control_flow: set) -> str | None:
        if name not in found:
            return "not in TensorRT's network (folded, fused by the parser, or inside a plugin)"
        layer, tensor, _ = found[name]
        if layer.type in control_flow:
            return "written by a loop or conditional layer"
        if getattr(tensor, "is_shape_tensor", False):
            return "a shape tensor"
        if tensor.dtype not in floats:
            return f"not a float tensor ({tensor.dtype})"
        return None

    def report(self) -> None:
        log.LOGGER.info(
            "          diagnostic: %d of %d tensor(s) marked as outputs", len(self.marked), len(self.tensors)
        )
        for reason, names in _by_reason(self.unmarked.items()).items():
            log.LOGGER.info(
                "          diagnostic: %d tensor(s) left unmarked, %s: %s",
                len(names),
                reason,
                ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else ""),
            )


def _output_type_is_set(layer: Any, index: int) -> bool:
    is_set = getattr(layer, "output_type_is_set", None)
    return bool(is_set(index)) if is_set is not None else False


def _by_reason(items: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for name, reason in items:
        grouped.setdefault(reason, []).append(name)
    return grouped
