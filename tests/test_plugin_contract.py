"""The plugin contract Python reads (trtconvert/ops/dynamic_resize_contract.json) against the C++ plugin's own
constants, read from its sources: name, version, namespace, coordinate-mode codes and the advertised fields."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import onnx

from trtconvert.ops.plugin_contract import DYNAMIC_RESIZE, load_contract
from trtconvert.prepare.rewrite import rewrite_model
from trtconvert.settings.target import parse_target

PLUGIN_DIR = Path(__file__).resolve().parents[1] / "csrc" / "plugins" / "dynamic_resize"
HEADER = (PLUGIN_DIR / "resize_config.h").read_text()
SOURCE = (PLUGIN_DIR / "resize_config.cpp").read_text()


def _string_constant(text: str, name: str) -> str:
    match = re.search(rf'constexpr char const\* {name} = "([^"]*)";', text)
    assert match, f"{name} not found"
    return match.group(1)


def test_identity_matches_the_header() -> None:
    assert DYNAMIC_RESIZE.name == _string_constant(HEADER, "kPluginName")
    assert DYNAMIC_RESIZE.version == _string_constant(HEADER, "kPluginVersion")
    assert DYNAMIC_RESIZE.namespace == _string_constant(HEADER, "kPluginNamespace")


def test_coordinate_mode_codes_match_the_header_enum_and_names() -> None:
    body = re.search(r"enum class CoordinateMode : int32_t \{(.*?)\};", HEADER, re.S).group(1)
    codes = {name: int(value) for name, value in re.findall(r"k([A-Z_]+) = (\d+)", body)}
    names = dict(re.findall(r'\{CoordinateMode::k([A-Z_]+), "([a-z_]+)"\}', SOURCE))
    by_code = [names[member] for member, _ in sorted(codes.items(), key=lambda kv: kv[1])]
    assert tuple(by_code) == DYNAMIC_RESIZE.coordinate_modes
    assert sorted(codes.values()) == list(range(len(codes)))


def test_attributes_match_the_advertised_fields() -> None:
    fields = dict(re.findall(r'constexpr char const\* (k\w+Field) = "([^"]+)";', SOURCE))
    table = re.search(r"constexpr FieldView kAdvertised\[\] = \{(.*?)\};", SOURCE, re.S).group(1)
    advertised = [(fields[f], t) for f, t in re.findall(r"\{(k\w+Field), nullptr, FieldType::k(\w+),", table)]
    assert advertised == [(a["name"], a["field_type"]) for a in DYNAMIC_RESIZE.attributes]


def test_defaults_match_the_config_struct() -> None:
    body = re.search(r"struct ResizeConfig \{(.*?)\n\};", HEADER, re.S).group(1)
    members = dict(re.findall(r"^\s*(?:float|int32_t|CoordinateMode) (\w+) = ([^;]+);", body, re.M))
    mode = re.fullmatch(r"CoordinateMode::k(\w+)", members.pop("mode")).group(1)
    assert DYNAMIC_RESIZE.default("coordinate_transformation_mode") == mode.lower()
    assert set(members) == {"cubic_coeff_a", "exclude_outside", "antialias"}
    for name, text in members.items():
        assert DYNAMIC_RESIZE.default(name) == float(text.rstrip("f")), name


def test_a_changed_contract_is_noticed(tmp_path: Path) -> None:
    # The comparison above reads the file each time: a contract edited alone no longer matches the C++.
    edited = (Path(__file__).resolve().parents[1] / "trtconvert/ops/dynamic_resize_contract.json").read_text()
    path = tmp_path / "contract.json"
    path.write_text(
        edited.replace('"align_corners",\n    "asymmetric"', '"asymmetric",\n    "align_corners"')
    )
    assert load_contract(path).coordinate_modes != DYNAMIC_RESIZE.coordinate_modes


def test_the_rewrite_emits_nodes_by_the_contract(tmp_path: Path) -> None:
    x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 1, 4, 4])
    y = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)
    scales = onnx.numpy_helper.from_array(np.array([1, 1, 2, 2], dtype=np.float32), "scales")
    node = onnx.helper.make_node("Resize", ["x", "", "scales"], ["y"], mode="cubic")
    graph = onnx.helper.make_graph([node], "g", [x], [y], [scales])
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 13)])
    rewritten = rewrite_model(model, "all", parse_target("10.8")).model
    (plugin,) = [n for n in rewritten.graph.node if n.op_type == DYNAMIC_RESIZE.name]
    assert plugin.domain == DYNAMIC_RESIZE.onnx_domain
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in plugin.attribute}
    assert attrs["plugin_version"].decode() == DYNAMIC_RESIZE.version
    assert attrs["plugin_namespace"].decode() == DYNAMIC_RESIZE.namespace
    assert set(attrs) - {"plugin_version", "plugin_namespace"} <= set(DYNAMIC_RESIZE.attribute_names())
