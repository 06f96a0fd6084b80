"""The DynamicTRTResize plugin's identity and interface, read from ``dynamic_resize_contract.json``.

That file is the one statement of the contract on the Python side: the rewrite rule emits nodes by it, the CPU
reference reads nodes by it, and tests/test_plugin_contract.py checks it against the C++ plugin's constants
(csrc/plugins/dynamic_resize/resize_config.{h,cpp}), so the two cannot drift apart unnoticed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONTRACT_FILE = Path(__file__).with_name("dynamic_resize_contract.json")


@dataclass(frozen=True)
class PluginContract:
    name: str
    version: str
    namespace: str
    onnx_domain: str
    coordinate_modes: tuple[str, ...]  # in the order of the kernel's and the plugin's mode codes
    attributes: tuple[dict[str, Any], ...]

    def attribute_names(self) -> tuple[str, ...]:
        return tuple(a["name"] for a in self.attributes)

    def default(self, attribute: str) -> Any:
        """The value the plugin takes for an attribute a node leaves out (None: it has no default)."""
        (entry,) = [a for a in self.attributes if a["name"] == attribute]
        return entry["default"]


def load_contract(path: Path = CONTRACT_FILE) -> PluginContract:
    document = json.loads(path.read_text())
    return PluginContract(
        name=document["name"],
        version=document["version"],
        namespace=document["namespace"],
        onnx_domain=document["onnx_domain"],
        coordinate_modes=tuple(document["coordinate_modes"]),
        attributes=tuple(document["attributes"]),
    )


DYNAMIC_RESIZE = load_contract()
