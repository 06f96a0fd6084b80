"""--keep-fp32 on TensorRT 8.5 to 10: the parsed network's layers that came from the kept ONNX nodes get fp32
as their precision and output types, and the builder is told to obey them (OBEY_PRECISION_CONSTRAINTS, through
polygraphy's ``CreateConfig(precision_constraints="obey")``); without that flag TensorRT takes them as hints.

Which layers came from a node: TensorRT's ONNX parser names the layers it creates for a node after the node
(the first one exactly, later ones with a ``_N`` suffix when the name is taken) and names each node output's
tensor after the ONNX tensor. A layer belongs to a kept node when its name is the node's name, or the node's
name with such a suffix (and not itself another node's name), or when it writes one of the node's outputs.
Constant and shape layers and layers without a float output are left alone: their precision is not arithmetic.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import onnx

from trtconvert import log
from trtconvert.model.info import all_nodes

_UNIQUE_SUFFIX = re.compile(r"^(?P<base>.+)_\d+$")


@dataclass
class KeepLayersFp32:
    """A PostprocessNetwork step: fp32 precision and output types for the layers of the kept nodes."""

    nodes: Mapping[str, tuple[str, ...]]  # kept node name -> its output tensor names
    other_nodes: frozenset[str] = frozenset()  # every other node name, so that 'conv_1' is not read as 'conv'
    applied: dict[str, list[str]] = field(default_factory=dict)  # kept node -> the layers set to fp32

    @classmethod
    def from_model(cls, model: onnx.ModelProto, kept: Iterable[str]) -> KeepLayersFp32:
        wanted = set(kept)
        every = list(all_nodes(model.graph))  # nodes of If and Loop bodies become layers too
        nodes = {n.name: tuple(o for o in n.output if o) for n in every if n.name in wanted}
        others = frozenset(n.name for n in every if n.name and n.name not in wanted)
        return cls(nodes, others)

    def owner(self, layer_name: str, output_names: Iterable[str]) -> str | None:
        """The kept node a layer came from, or None."""
        if layer_name in self.nodes:
            return layer_name
        if layer_name not in self.other_nodes:
            match = _UNIQUE_SUFFIX.match(layer_name)
            if match and match.group("base") in self.nodes:
                return match.group("base")
        for output in output_names:
            for node, outputs in self.nodes.items():
                if output in outputs:
                    return node
        return None

    def __call__(self, network: Any) -> None:
        import tensorrt as trt  # type: ignore[import-not-found]

        self.apply(trt, network)

    def apply(self, trt: Any, network: Any) -> None:
        floats = {trt.float32, trt.float16} | ({trt.bfloat16} if hasattr(trt, "bfloat16") else set())
        skipped_types = {trt.LayerType.CONSTANT, trt.LayerType.SHAPE}
        self.applied.clear()
        for index in range(network.num_layers):
            layer = network.get_layer(index)
            outputs = [layer.get_output(i) for i in range(layer.num_outputs)]
            node = self.owner(layer.name, [t.name for t in outputs])
            if node is None or layer.type in skipped_types:
                continue
            float_outputs = [i for i, tensor in enumerate(outputs) if tensor.dtype in floats]
            if not float_outputs:
                continue
            layer.precision = trt.float32
            for i in float_outputs:
                layer.set_output_type(i, trt.float32)
            self.applied.setdefault(node, []).append(layer.name)
        self.report()

    def report(self) -> None:
        layers = sum(len(names) for names in self.applied.values())
        log.LOGGER.info(
            "          keep fp32: %d layer(s) of %d node(s) set to fp32, precision constraints obeyed",
            layers,
            len(self.applied),
        )
        missing = [node for node in self.nodes if node not in self.applied]
        if missing:
            log.LOGGER.warning(
                "          keep fp32: no float layer of TensorRT's network came from %s (the parser folded or "
                "fused it away, or it computes no floats); nothing to keep there",
                ", ".join(missing[:8]) + (f" and {len(missing) - 8} more" if len(missing) > 8 else ""),
            )
