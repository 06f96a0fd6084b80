"""The plugin-loading stage, trtconvert.engine.plugins, without TensorRT.

The graph walk (which creators a prepared model needs) and the refusal message run on the real code. The
loading flow (register while loading, late registration, IPluginRegistry.load_library, refusals) runs against
stand-in registries and stand-in libraries: it checks this module's decisions, not TensorRT; the tests marked
tensorrt in test_plugin_tensorrt.py load the real library into real TensorRT and check that the registry
members picked for the installed version exist.

Each stand-in registry offers exactly the members that version's Python bindings define, read in NVIDIA/TensorRT
python/src/infer/pyPlugin.cpp (the IPluginRegistry and creator classes) and python/docstrings/infer/
pyPluginDoc.h (load_library) at the tags named on each class; a member the code used where the bindings lack
it fails these tests with AttributeError.
"""

from __future__ import annotations

import importlib.util
import threading
import time
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
    """A listed creator: IPluginCreator (V1/V2), IPluginCreatorV3One (10.0+) and IPluginCreatorV3Quick (10.7+)
    each bind name, plugin_version and plugin_namespace (pyPlugin.cpp, 8.5.3 to v11.1)."""


class _Registry:
    """TensorRT 10's registry (pyPlugin.cpp at v10.0.1 and v10.16): all_creators lists V1 and V3 creators,
    plugin_creator_list the V1 ones only; get_creator and get_plugin_creator; load_library returns None when any
    of the library's creators is already registered (pyPluginDoc.h at v10.0.1)."""

    def __init__(self):
        self.creators: dict[tuple[str, str, str], _Creator] = {}
        self.libraries: dict[str, list[tuple[str, str, str]]] = {}
        self.unlistable = False  # a creator of a kind the bindings cannot show is registered

    def add(self, key: tuple[str, str, str], kind: str = "v1") -> None:
        self.creators[key] = _Creator(name=key[0], plugin_version=key[1], plugin_namespace=key[2], kind=kind)

    @property
    def all_creators(self):
        # The binding catches its own "Unknown plugin creator type" and returns null: None in Python.
        return None if self.unlistable else list(self.creators.values())

    @property
    def plugin_creator_list(self):
        return [c for c in self.creators.values() if c.kind == "v1"]

    def get_creator(self, name: str, version: str, namespace: str = ""):
        return self.creators.get((name, version, namespace))

    def get_plugin_creator(self, name: str, version: str, namespace: str = ""):
        creator = self.creators.get((name, version, namespace))
        return creator if creator is not None and creator.kind == "v1" else None

    def load_library(self, path: str):
        keys = self.libraries.get(path)
        if keys is None or any(key in self.creators for key in keys):
            return None
        for key in keys:
            self.add(key)
        return object()


class _Registry11(_Registry):
    """TensorRT 11's registry (pyPlugin.cpp at v11.0 and v11.1): no plugin_creator_list, no get_plugin_creator."""

    @property
    def plugin_creator_list(self):
        raise AttributeError("TensorRT 11's IPluginRegistry has no plugin_creator_list")

    def get_plugin_creator(self, *args):
        raise AttributeError("TensorRT 11's IPluginRegistry has no get_plugin_creator")


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
    """TensorRT 8.5's registry (pyPlugin.cpp at 8.5.3): plugin_creator_list and get_plugin_creator (V2 creators
    only); no all_creators, get_creator or load_library."""

    def __init__(self):
        self.creators: dict[tuple[str, str, str], _Creator] = {}

    def add(self, key: tuple[str, str, str]) -> None:
        self.creators[key] = _Creator(name=key[0], plugin_version=key[1], plugin_namespace=key[2])

    @property
    def plugin_creator_list(self):
        return list(self.creators.values())

    def get_plugin_creator(self, name: str, version: str, namespace: str = ""):
        return self.creators.get((name, version, namespace))


class _Registry86(_Registry85):
    """TensorRT 8.6 adds load_library (pyPlugin.cpp and pyPluginDoc.h at v8.6.1)."""

    def __init__(self):
        super().__init__()
        self.libraries: dict[str, list[tuple[str, str, str]]] = {}

    load_library = _Registry.load_library


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


def _use_registry(monkeypatch, registry, version: str) -> None:
    trt = SimpleNamespace(__version__=version, get_plugin_registry=lambda: registry)
    monkeypatch.setattr(plugin_loading, "_tensorrt", lambda: trt)


def test_tensorrt_10_reports_v3_creators_which_only_all_creators_lists(stand_in):
    v3 = ("RoiAlignV3_TRT", "1", "")
    path = stand_in.library(
        "libv3.so",
        lambda registry: registry.add(v3, kind="v3") or SimpleNamespace(getCreators=_Symbol(lambda: 1)),
    )
    (loaded,) = load_plugins([path])
    assert loaded.creators == (v3,) and loaded.how == "registered while loading"
    model = _model([_node("RoiAlignV3_TRT", "Test", "roi")])
    assert [p.path for p in check_creators(model, [path])] == [path.resolve()]  # found through get_creator


@pytest.mark.parametrize("version", ["10.9.0", "11.1.0"])
def test_the_loading_flow_on_the_registries_of_10_and_11(stand_in, monkeypatch, version):
    registry = _Registry() if version.startswith("10") else _Registry11()
    _use_registry(monkeypatch, registry, version)
    compiled = 100900 if version.startswith("10") else 110100
    ours = stand_in.library(
        "libtrtconvert_plugins.so", lambda r: _trtconvert_library(True, compiled)(registry)
    )
    creators_only = stand_in.library("libvc.so", lambda r: SimpleNamespace(getCreators=_Symbol(lambda: 1)))
    registry.libraries[str(creators_only.resolve())] = [("RoiAlign_TRT", "2", "")]
    first, second = load_plugins([ours, creators_only])
    assert first.creators == (RESIZE,) and first.how == "registered while loading"
    assert second.creators == (("RoiAlign_TRT", "2", ""),) and second.how == "IPluginRegistry.load_library"
    model = _model(
        [_node("DynamicTRTResize", "Test", "r"), _node("RoiAlign_TRT", "Test", "roi", plugin_version="2")]
    )
    assert len(check_creators(model, [ours, creators_only])) == 2


def test_an_unlistable_creator_on_10_falls_back_to_the_v2_list(stand_in):
    stand_in.registry.unlistable = True
    path = stand_in.library("libtrtconvert_plugins.so", _trtconvert_library(register_on_load=True))
    (loaded,) = load_plugins([path])
    assert loaded.creators == (RESIZE,)


def test_an_unlistable_creator_on_11_lists_nothing_but_lookups_still_work(stand_in, monkeypatch):
    registry = _Registry11()
    registry.unlistable = True
    _use_registry(monkeypatch, registry, "11.1.0")
    path = stand_in.library("libtrtconvert_plugins.so", lambda r: _trtconvert_library(True, 110100)(registry))
    (loaded,) = load_plugins([path])
    assert loaded.creators == ()
    model = _model([_node("DynamicTRTResize", "Test", "r")])
    assert [p.path for p in check_creators(model, [path])] == [path.resolve()]


def test_tensorrt_8_6_hands_a_creators_only_library_to_load_library(stand_in, monkeypatch):
    registry = _Registry86()
    _use_registry(monkeypatch, registry, "8.6.1.6")
    path = stand_in.library("libvc.so", lambda r: SimpleNamespace(getPluginCreators=_Symbol(lambda: 1)))
    registry.libraries[str(path.resolve())] = [("RoiAlign_TRT", "1", "")]
    (loaded,) = load_plugins([path])
    assert loaded.how == "IPluginRegistry.load_library" and loaded.creators == (("RoiAlign_TRT", "1", ""),)


def test_libraries_loaded_in_two_threads_each_report_their_own_creators(stand_in):
    """The creators a library added are the registry's difference across its loading: a library loading in
    another thread meanwhile must not show up in it."""
    loading = threading.Barrier(2)

    def slow_library(key):
        def load(registry):
            registry.add(key)
            time.sleep(0.05)  # still loading while the other thread's library registers
            return SimpleNamespace()

        return load

    keys = {"a": ("PluginA", "1", ""), "b": ("PluginB", "1", "")}
    paths = {name: stand_in.library(f"lib{name}.so", slow_library(key)) for name, key in keys.items()}
    loaded: dict[str, tuple] = {}

    def load(name: str) -> None:
        loading.wait()
        (result,) = load_plugins([paths[name]])
        loaded[name] = result.creators

    threads = [threading.Thread(target=load, args=(name,)) for name in keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert loaded == {name: (key,) for name, key in keys.items()}
