"""The plugin-loading stage, trtconvert.engine.plugins, without TensorRT.

The graph walk (which creators a prepared model needs) and the refusal message run on the real code. The
loading flow (register while loading, late registration, IPluginRegistry.load_library, refusals) runs against
a stand-in registry and stand-in libraries: it checks this module's decisions, not TensorRT; the tests marked
tensorrt in test_plugin_tensorrt.py load the real library into real TensorRT.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import onnx
import pytest
from onnx import TensorProto, helper

from trtconvert.engine import plugins as plugin_loading
from trtconvert.engine.plugins import PluginRequirement, check_creators, load_plugins, plugin_requirements
from trtconvert.errors import BadInput, MissingDependency


def _node(op: str, domain: str, name: str, **attrs) -> onnx.NodeProto:
    return helper.make_node(op, ["x"], [f"{name}_out"], name=name, domain=domain, **attrs)


def _model(nodes: list[onnx.NodeProto], functions: list[onnx.FunctionProto] = ()) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
        [helper.make_tensor_value_info(f"{nodes[-1].name}_out", TensorProto.FLOAT, None)],
    )
    return helper.make_model(graph, functions=list(functions), opset_imports=[helper.make_opsetid("", 17)])


def _prepared_like_model() -> onnx.ModelProto:
    then_branch = helper.make_graph(
        [_node("DynamicTRTResize", "Test", "in_subgraph", plugin_version="1", plugin_namespace="")],
        "then",
        [],
        [helper.make_tensor_value_info("in_subgraph_out", TensorProto.FLOAT, None)],
    )
    else_branch = helper.make_graph(
        [_node("Identity", "", "in_else")],
        "else",
        [],
        [helper.make_tensor_value_info("in_else_out", TensorProto.FLOAT, None)],
    )
    local = helper.make_function(
        "local",
        "Double",
        ["a"],
        ["b"],
        [helper.make_node("Add", ["a", "a"], ["b"])],
        [helper.make_opsetid("", 17)],
    )
    nodes = [
        _node("DynamicTRTResize", "Test", "resize_a", plugin_version="1", plugin_namespace=""),
        _node("DynamicTRTResize", "Test", "resize_b"),  # the parser's defaults: version "1", namespace ""
        _node("DynamicTRTResize", "Test", "resize_v2", plugin_version="2"),
        _node("Foo", "com.example", "foo", plugin_namespace="acme"),
        _node("Relu", "", "relu"),
        _node("LinearRegressor", "ai.onnx.ml", "ml"),
        _node("TRT_FP8QuantizeLinear", "trt", "quantize"),
        _node("Double", "local", "call_local"),
        helper.make_node(
            "If", ["cond"], ["if_out"], name="branch", then_branch=then_branch, else_branch=else_branch
        ),
    ]
    return _model(nodes, [local])


def test_requirements_group_nodes_by_creator_key():
    requirements = plugin_requirements(_prepared_like_model())
    by_key = {r.key: r for r in requirements}
    assert list(by_key) == [
        ("DynamicTRTResize", "1", ""),
        ("DynamicTRTResize", "2", ""),
        ("Foo", "1", "acme"),
        ("TRT_FP8QuantizeLinear", "1", ""),
    ]
    resize = by_key[("DynamicTRTResize", "1", "")]
    # Nodes of If bodies count: the parser imports them too.
    assert set(resize.nodes) == {"resize_a", "resize_b", "in_subgraph"}
    assert resize.domains == ("Test",)
    assert by_key[("Foo", "1", "acme")].nodes == ("foo",)


def test_builtin_ops_and_local_functions_need_no_creator():
    requirements = plugin_requirements(_prepared_like_model(), is_builtin=lambda op: op.startswith("TRT_"))
    assert ("TRT_FP8QuantizeLinear", "1", "") not in {r.key for r in requirements}
    assert all(r.op_type != "Double" for r in requirements)


def test_plugin_version_written_as_an_int_is_its_decimal_text():
    model = _model([_node("Bar", "x", "bar", plugin_version=3)])
    assert plugin_requirements(model)[0].key == ("Bar", "3", "")


def test_missing_message_names_everything_and_the_fix():
    requirement = PluginRequirement("DynamicTRTResize", "1", "", ("Test",), tuple(f"n{i}" for i in range(5)))
    other = PluginRequirement("Foo", "2", "acme", ("com.example",), ("foo",))
    message = plugin_loading.missing_message([requirement, other], [Path("/opt/a.so"), Path("b.so")])
    assert "DynamicTRTResize (version '1', namespace ''; 5 nodes: n0, n1, n2 and 2 more)" in message
    assert "Foo (version '2', namespace 'acme'; 1 node: foo)" in message
    assert "libraries tried: /opt/a.so, b.so" in message
    assert "trtconvert plugins build" in message and "--plugin" in message
    assert "\n" not in message
    message = plugin_loading.missing_message([other], [])
    assert "libraries tried: none (no --plugin given)" in message
    assert "trtconvert plugins build" not in message


@pytest.fixture
def no_tensorrt_allowed(monkeypatch):
    def refuse():
        raise AssertionError("TensorRT must not be imported here")

    monkeypatch.setattr(plugin_loading, "_tensorrt", refuse)


def test_a_graph_without_plugin_nodes_needs_no_tensorrt(no_tensorrt_allowed):
    model = _model([_node("Relu", "", "relu")])
    assert check_creators(model, []) == []


def test_a_missing_library_file_is_bad_input_before_tensorrt(no_tensorrt_allowed, tmp_path: Path):
    with pytest.raises(BadInput) as refused:
        load_plugins([tmp_path / "libnope.so"])
    assert refused.value.exit_code == 2
    assert "libnope.so: no such file" in str(refused.value) and "trtconvert plugins build" in str(
        refused.value
    )


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="TensorRT is installed here")
def test_without_tensorrt_loading_exits_3(tmp_path: Path):
    library = tmp_path / "libplugin.so"
    library.write_bytes(b"\x7fELF")
    with pytest.raises(MissingDependency) as missing:
        load_plugins([library])
    assert missing.value.exit_code == 3
    assert "TensorRT" in str(missing.value) and "pip install" in str(missing.value)


# ---- the loading flow against a stand-in registry


class _Creator(SimpleNamespace):
    pass


class _Registry:
    def __init__(self):
        self.creators: dict[tuple[str, str, str], _Creator] = {}
        self.libraries: dict[str, list[tuple[str, str, str]]] = {}

    def add(self, key: tuple[str, str, str]) -> None:
        self.creators[key] = _Creator(name=key[0], plugin_version=key[1], plugin_namespace=key[2])

    @property
    def all_creators(self):
        return list(self.creators.values())

    def get_creator(self, name: str, version: str, namespace: str = ""):
        return self.creators.get((name, version, namespace))

    def load_library(self, path: str):
        keys = self.libraries.get(path)
        if keys is None or any(key in self.creators for key in keys):
            return None
        for key in keys:
            self.add(key)
        return object()


class _Symbol:
    """A ctypes function stand-in: callable, with a settable restype."""

    def __init__(self, function):
        self.function = function
        self.restype = None

    def __call__(self):
        return self.function()


RESIZE = ("DynamicTRTResize", "1", "")


@pytest.fixture
def stand_in(monkeypatch, tmp_path: Path):
    registry = _Registry()
    trt = SimpleNamespace(__version__="10.9.0", get_plugin_registry=lambda: registry)
    monkeypatch.setattr(plugin_loading, "_tensorrt", lambda: trt)
    monkeypatch.setattr(plugin_loading, "_STATE", plugin_loading._LoadState())
    monkeypatch.setattr(plugin_loading, "_parser_supports", lambda trt: None)
    behaviours: dict[Path, object] = {}

    def open_library(path: Path):
        behaviour = behaviours[path]
        if isinstance(behaviour, Exception):
            raise behaviour
        return behaviour(registry)

    monkeypatch.setattr(plugin_loading, "_open_library", open_library)

    def library(name: str, behaviour) -> Path:
        path = tmp_path / name
        path.write_bytes(b"\x7fELF")
        behaviours[path.resolve()] = behaviour
        return path

    return SimpleNamespace(registry=registry, trt=trt, library=library)


def _trtconvert_library(register_on_load: bool, compiled: int = 100900):
    """Behaves as libtrtconvert_plugins.so: registers while loading when TensorRT is there, else on request."""

    def load(registry: _Registry):
        if register_on_load:
            registry.add(RESIZE)
        return SimpleNamespace(
            trtconvert_register_plugins=_Symbol(lambda: registry.add(RESIZE) or 1),
            trtconvert_plugins_tensorrt_version=_Symbol(lambda: compiled),
            getCreators=_Symbol(lambda: 1),
        )

    return load


def test_a_library_that_registers_while_loading(stand_in):
    path = stand_in.library("libtrtconvert_plugins.so", _trtconvert_library(register_on_load=True))
    (loaded,) = load_plugins([path])
    assert loaded.path == path.resolve()
    assert loaded.creators == (RESIZE,) and loaded.how == "registered while loading"
    # A second load in the same process reuses the first.
    (again,) = load_plugins([path])
    assert again.how == "already loaded" and again.creators == (RESIZE,)
    model = _model([_node("DynamicTRTResize", "Test", "r", plugin_version="1", plugin_namespace="")])
    assert [p.path for p in check_creators(model, [path])] == [path.resolve()]


def test_a_library_loaded_before_tensorrt_is_registered_on_request(stand_in):
    path = stand_in.library("libtrtconvert_plugins.so", _trtconvert_library(register_on_load=False))
    (loaded,) = load_plugins([path])
    assert loaded.creators == (RESIZE,)


def test_a_getcreators_only_library_goes_through_load_library(stand_in):
    path = stand_in.library(
        "libvc_plugins.so", lambda registry: SimpleNamespace(getCreators=_Symbol(lambda: 1))
    )
    stand_in.registry.libraries[str(path.resolve())] = [("RoiAlign_TRT", "2", "")]
    (loaded,) = load_plugins([path])
    assert loaded.how == "IPluginRegistry.load_library"
    assert loaded.creators == (("RoiAlign_TRT", "2", ""),)


def test_load_library_refusal_is_bad_input(stand_in):
    stand_in.registry.add(("RoiAlign_TRT", "2", ""))
    path = stand_in.library(
        "libvc_plugins.so", lambda registry: SimpleNamespace(getCreators=_Symbol(lambda: 1))
    )
    stand_in.registry.libraries[str(path.resolve())] = [("RoiAlign_TRT", "2", "")]
    with pytest.raises(BadInput, match="TensorRT refused plugin library .*libvc_plugins.so"):
        load_plugins([path])


def test_a_library_for_another_tensorrt_major_is_refused(stand_in):
    path = stand_in.library("libtrtconvert_plugins.so", _trtconvert_library(True, compiled=110100))
    with pytest.raises(BadInput) as refused:
        load_plugins([path])
    message = str(refused.value)
    assert "compiled against TensorRT 11.1.0 headers but TensorRT 10.9.0 is installed" in message
    assert "trtconvert plugins build --tensorrt-root" in message


def test_a_library_the_loader_refuses_is_bad_input(stand_in):
    path = stand_in.library("libbroken.so", OSError("libbroken.so: undefined symbol: _ZN8nvinfer1"))
    with pytest.raises(BadInput) as refused:
        load_plugins([path])
    assert refused.value.exit_code == 2
    assert "cannot load plugin library" in str(refused.value) and "undefined symbol" in str(refused.value)
    assert "TensorRT 10.9.0" in str(refused.value)


def test_missing_creators_exit_2_listing_each_and_the_libraries_tried(stand_in):
    path = stand_in.library(
        "libother.so", lambda registry: registry.add(("Other", "1", "")) or SimpleNamespace()
    )
    model = _prepared_like_model()
    with pytest.raises(BadInput) as refused:
        check_creators(model, [path])
    message = str(refused.value)
    assert refused.value.exit_code == 2
    for expected in (
        "DynamicTRTResize (version '1', namespace ''; 3 nodes",
        "DynamicTRTResize (version '2', namespace ''; 1 node: resize_v2)",
        "Foo (version '1', namespace 'acme'; 1 node: foo)",
        f"libraries tried: {path}",
    ):
        assert expected in message


def test_ops_the_parser_imports_itself_are_not_reported(stand_in, monkeypatch):
    stand_in.registry.add(RESIZE)
    stand_in.registry.add(("DynamicTRTResize", "2", ""))
    stand_in.registry.add(("Foo", "1", "acme"))
    model = _prepared_like_model()
    with pytest.raises(BadInput, match="TRT_FP8QuantizeLinear"):
        check_creators(model, [])
    monkeypatch.setattr(
        plugin_loading, "_parser_supports", lambda trt: lambda op: op == "TRT_FP8QuantizeLinear"
    )
    assert check_creators(model, []) == []


class _Registry85:
    """TensorRT 8.5's registry as its Python bindings show it: V2 creators only, no load_library."""

    def __init__(self):
        self.creators: dict[tuple[str, str, str], _Creator] = {}

    def add(self, key: tuple[str, str, str]) -> None:
        self.creators[key] = _Creator(name=key[0], plugin_version=key[1], plugin_namespace=key[2])

    @property
    def plugin_creator_list(self):
        return list(self.creators.values())

    def get_plugin_creator(self, name: str, version: str, namespace: str = ""):
        return self.creators.get((name, version, namespace))


def test_tensorrt_8_5_registry_and_the_v2_library(stand_in, monkeypatch):
    registry = _Registry85()
    trt = SimpleNamespace(__version__="8.5.3.1", get_plugin_registry=lambda: registry)
    monkeypatch.setattr(plugin_loading, "_tensorrt", lambda: trt)

    def v2_library(registry_seen):
        registry.add(RESIZE)  # the constructor registers with the process's registry
        return SimpleNamespace(
            trtconvert_register_plugins=_Symbol(lambda: 1),
            trtconvert_plugins_tensorrt_version=_Symbol(lambda: 80503),
            getPluginCreators=_Symbol(lambda: 1),
        )

    path = stand_in.library("libtrtconvert_plugins.so", v2_library)
    (loaded,) = load_plugins([path])
    assert loaded.creators == (RESIZE,) and loaded.how == "registered while loading"
    model = _model([_node("DynamicTRTResize", "Test", "r", plugin_version="1", plugin_namespace="")])
    assert [p.path for p in check_creators(model, [path])] == [path.resolve()]


def test_tensorrt_8_5_refuses_a_library_built_for_10(stand_in, monkeypatch):
    registry = _Registry85()
    monkeypatch.setattr(
        plugin_loading,
        "_tensorrt",
        lambda: SimpleNamespace(__version__="8.5.3.1", get_plugin_registry=lambda: registry),
    )
    path = stand_in.library("libtrtconvert_plugins.so", _trtconvert_library(False, compiled=101600))
    with pytest.raises(BadInput, match="compiled against TensorRT 10.16.0 headers but TensorRT 8.5.3.1"):
        load_plugins([path])


def test_a_creators_only_library_without_load_library_registers_nothing(stand_in, monkeypatch):
    registry = _Registry85()
    monkeypatch.setattr(
        plugin_loading,
        "_tensorrt",
        lambda: SimpleNamespace(__version__="8.5.3.1", get_plugin_registry=lambda: registry),
    )
    path = stand_in.library("libvc.so", lambda r: SimpleNamespace(getPluginCreators=_Symbol(lambda: 1)))
    (loaded,) = load_plugins([path])
    assert loaded.creators == () and loaded.how == "registered while loading"
    model = _model([_node("RoiAlign_TRT", "Test", "roi")])
    with pytest.raises(BadInput, match="no TensorRT plugin creator registered for RoiAlign_TRT"):
        check_creators(model, [path])
