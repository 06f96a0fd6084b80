"""Stage `plugins`: load plugin libraries before parsing, and check that every plugin node has a creator.

TensorRT's ONNX parser imports a node it has no importer for as a plugin: it looks up a creator by the node's
op_type, its ``plugin_version`` attribute (default "1") and its ``plugin_namespace`` attribute (default ""),
whatever the node's domain. A missing creator only surfaces as a parser error deep in the build, so this stage
asks the plugin registry first and refuses with the full list: each missing op type, version and namespace,
the nodes that need it, and the libraries that were tried.

Libraries are loaded the way polygraphy's LoadPlugins and ``ctypes.CDLL`` load them (they register their
creators while loading), after TensorRT itself so that they find its registry. A library that registers
nothing that way but exports ``getCreators`` or ``getPluginCreators`` is handed to TensorRT's
``IPluginRegistry.load_library`` (TensorRT 8.6 and newer).

The registry is asked through what each TensorRT's Python bindings provide (NVIDIA/TensorRT
``python/src/infer/pyPlugin.cpp`` and ``python/docstrings/infer/pyPluginDoc.h`` at tags 8.5.3, v8.6.1, v10.0.1,
v10.16, v11.0, v11.1):

- listing: before 10, ``plugin_creator_list`` (IPluginCreator, V2 only); from 10.0, ``all_creators`` (V1 and
  V3One creators; V3Quick from 10.7), which is None when a creator of a kind those bindings do not know is
  registered (the binding catches its own error and returns null); 11 drops ``plugin_creator_list``. Every
  creator class listed binds ``name``, ``plugin_version`` and ``plugin_namespace``;
- lookup: ``get_plugin_creator`` before 10, ``get_creator`` from 10.0 (11 drops ``get_plugin_creator``);
- ``load_library`` from 8.6: it returns None "if any of the plugins are already registered".

A dlopen'ed library and TensorRT's registry belong to the whole process, so what was loaded is one registry
here too, and loading holds its lock: the creators a library added are read as the registry's difference
across its loading, which another thread loading at the same time would spoil.

The graph walk (:func:`plugin_requirements`) needs no TensorRT; TensorRT is imported inside the functions that
talk to it.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnx

from trtconvert import log
from trtconvert.errors import BadInput
from trtconvert.model.info import custom_nodes
from trtconvert.native.build import default_library_path
from trtconvert.ops.plugin_contract import DYNAMIC_RESIZE
from trtconvert.settings.target import BUILDER_FEATURES

DEFAULT_PLUGIN_VERSION = "1"
DEFAULT_PLUGIN_NAMESPACE = ""


@dataclass(frozen=True)
class PluginRequirement:
    """One creator the prepared graph needs, with the nodes that need it."""

    op_type: str
    version: str
    namespace: str
    domains: tuple[str, ...]
    nodes: tuple[str, ...]

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.op_type, self.version, self.namespace)

    def describe(self) -> str:
        shown = ", ".join(self.nodes[:3]) + (
            f" and {len(self.nodes) - 3} more" if len(self.nodes) > 3 else ""
        )
        return (
            f"{self.op_type} (version {self.version!r}, namespace {self.namespace!r}; "
            f"{len(self.nodes)} node{'s' if len(self.nodes) != 1 else ''}: {shown})"
        )


@dataclass(frozen=True)
class LoadedPlugin:
    """A plugin library loaded into this process and the creators it brought."""

    path: Path
    creators: tuple[tuple[str, str, str], ...]  # (name, version, namespace)
    how: str  # "registered while loading", "IPluginRegistry.load_library", or "already loaded"


@dataclass
class _LoadState:
    loaded: dict[Path, LoadedPlugin] = field(default_factory=dict)
    handles: list[Any] = field(default_factory=list)  # libraries stay loaded for the life of the process
    lock: threading.Lock = field(default_factory=threading.Lock)


_STATE = _LoadState()


def _attribute_text(node: onnx.NodeProto, name: str, default: str) -> str:
    for attribute in node.attribute:
        if attribute.name == name:
            if attribute.type == onnx.AttributeProto.STRING:
                return attribute.s.decode("utf-8", errors="replace")
            # The parser reads these as strings; a number written as INT still means its decimal text.
            if attribute.type == onnx.AttributeProto.INT:
                return str(attribute.i)
    return default


def plugin_requirements(
    model: onnx.ModelProto, is_builtin: Callable[[str], bool] | None = None
) -> list[PluginRequirement]:
    """The creators the graph needs: one per (op_type, plugin_version, plugin_namespace), in graph order.

    A node counts when it is outside the standard ONNX domains, is not a call of one of the model's local
    functions, and (when ``is_builtin`` is given, from the parser's supports_operator) names no op the parser
    imports itself, such as the ``trt`` domain's TRT_FP8QuantizeLinear.
    """
    local_functions = {(f.domain, f.name) for f in model.functions}
    grouped: dict[tuple[str, str, str], tuple[list[str], list[str]]] = {}
    for index, node in enumerate(custom_nodes(model)):
        if (node.domain, node.op_type) in local_functions:
            continue
        if is_builtin is not None and is_builtin(node.op_type):
            continue
        key = (
            node.op_type,
            _attribute_text(node, "plugin_version", DEFAULT_PLUGIN_VERSION),
            _attribute_text(node, "plugin_namespace", DEFAULT_PLUGIN_NAMESPACE),
        )
        domains, names = grouped.setdefault(key, ([], []))
        if node.domain not in domains:
            domains.append(node.domain)
        names.append(node.name or f"{node.op_type}#{index}")
    return [
        PluginRequirement(op, version, namespace, tuple(domains), tuple(names))
        for (op, version, namespace), (domains, names) in grouped.items()
    ]


def missing_message(missing: Sequence[PluginRequirement], libraries: Sequence[Path]) -> str:
    """The one-line refusal: what is missing, what was tried, and how to fix it."""
    what = "; ".join(requirement.describe() for requirement in missing)
    tried = ", ".join(str(path) for path in libraries) if libraries else "none (no --plugin given)"
    fix = (
        "build the bundled library with `trtconvert plugins build` and pass it with --plugin (or `plugins:` in the "
        "config)"
        if any(requirement.op_type == DYNAMIC_RESIZE.name for requirement in missing)
        else "pass the library that provides them with --plugin (or `plugins:` in the config)"
    )
    noun = "creator" if len(missing) == 1 else "creators"
    return f"no TensorRT plugin {noun} registered for {what}; libraries tried: {tried}; {fix}"


def _version(trt: Any) -> tuple[int, int]:
    major, minor = str(trt.__version__).split(".")[:2]
    return int(major), int(minor)


def _registry_creators(registry: Any, version: tuple[int, int]) -> set[tuple[str, str, str]]:
    """(name, version, namespace) of every creator the registry lists (see the module docstring)."""
    if version >= (10, 0):
        listed = registry.all_creators
        if listed is None and version < (11, 0):
            listed = registry.plugin_creator_list  # a creator kind these bindings cannot show: the V2 ones
        elif listed is None:
            log.LOGGER.debug("          the plugin registry lists a creator kind these bindings cannot show")
    else:
        listed = registry.plugin_creator_list
    return {
        (str(creator.name), str(creator.plugin_version), str(creator.plugin_namespace))
        for creator in listed or []
    }


def _has_load_library(version: tuple[int, int]) -> bool:
    return version >= BUILDER_FEATURES["plugin_load_library"][0]


def _open_library(path: Path) -> Any:
    """dlopen through ctypes, as polygraphy's LoadPlugins does (RTLD_LOCAL: the library's symbols stay private)."""
    return ctypes.CDLL(str(path))


def _tensorrt() -> Any:
    from trtconvert.engine.machine import require_tensorrt

    return require_tensorrt("plugin libraries cannot be loaded")


def _check_compiled_version(library: Any, path: Path, trt_version: str) -> None:
    """Refuse a trtconvert library compiled for another TensorRT major: the interfaces differ across majors."""
    compiled = getattr(library, "trtconvert_plugins_tensorrt_version", None)
    if compiled is None:
        return
    compiled.restype = ctypes.c_int32
    value = int(compiled())
    built = f"{value // 10000}.{value // 100 % 100}.{value % 100}"
    if value // 10000 != int(trt_version.split(".")[0]):
        raise BadInput(
            f"plugin library {path} was compiled against TensorRT {built} headers but TensorRT {trt_version} is "
            f"installed; rebuild it with `trtconvert plugins build --tensorrt-root <TensorRT {trt_version.split('.')[0]}.x>`"
        )


def load_plugins(paths: Iterable[Path]) -> list[LoadedPlugin]:
    """Load each library once per process, after TensorRT, and return what each one registered.

    Raises BadInput (exit 2) for a path that is not a file, a library the dynamic loader refuses, one compiled
    for another TensorRT major, or one TensorRT's load_library refuses; MissingDependency (exit 3) without
    TensorRT.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        return []
    for given in paths:
        if not given.is_file():
            raise BadInput(
                f"plugin library {given}: no such file; build it with `trtconvert plugins build` or fix the path"
            )
    trt = _tensorrt()
    with _STATE.lock:
        return [_load_one(trt, given.resolve()) for given in paths]


def _load_one(trt: Any, path: Path) -> LoadedPlugin:
    """Load one library (the caller holds _STATE.lock) and return what it registered."""
    if path in _STATE.loaded:
        return LoadedPlugin(path, _STATE.loaded[path].creators, "already loaded")
    registry = trt.get_plugin_registry()
    version = _version(trt)
    before = _registry_creators(registry, version)
    try:
        # dlopen needs a path with a slash to skip the library search path; resolve() gives an absolute one.
        library = _open_library(path)
    except OSError as err:
        raise BadInput(
            f"cannot load plugin library {path}: {err}; rebuild it for this machine and TensorRT "
            f"{trt.__version__} with `trtconvert plugins build`"
        ) from None
    _STATE.handles.append(library)
    _check_compiled_version(library, path, str(trt.__version__))
    how = "registered while loading"
    added = _registry_creators(registry, version) - before
    register = getattr(library, "trtconvert_register_plugins", None)
    if not added and register is not None:
        # Loaded before TensorRT in this process (e.g. by another module): register now.
        register.restype = ctypes.c_int32
        register()
        added = _registry_creators(registry, version) - before
    exports_creators = hasattr(library, "getCreators") or hasattr(library, "getPluginCreators")
    if not added and register is None and exports_creators and _has_load_library(version):
        handle = registry.load_library(str(path))
        if handle is None:
            raise BadInput(
                f"TensorRT refused plugin library {path} (IPluginRegistry.load_library returns nothing when any "
                "of its creators is already registered, e.g. by another library); load only one of them"
            )
        _STATE.handles.append(handle)
        how = "IPluginRegistry.load_library"
        added = _registry_creators(registry, version) - before
    loaded = LoadedPlugin(path, tuple(sorted(added)), how)
    _STATE.loaded[path] = loaded
    names = ", ".join(f"{name} v{v}" for name, v, _ in loaded.creators) or "no new creators"
    log.LOGGER.debug("          loaded %s (%s): %s", path, how, names)
    return loaded


def _parser_supports(trt: Any) -> Callable[[str], bool] | None:
    """The ONNX parser's supports_operator, or None where a parser cannot be made here."""
    try:
        logger = trt.Logger(trt.Logger.ERROR)
        builder = trt.Builder(logger)
        network = builder.create_network(0)
        parser = trt.OnnxParser(network, logger)
    except Exception as err:  # no GPU, or bindings without the parser: fall back to the domain rule alone
        log.LOGGER.debug("          no ONNX parser to ask about built-in ops (%s)", err)
        return None

    # The default argument keeps the builder and network alive as long as the parser is asked.
    def supports(op_type: str, _owners: tuple = (logger, builder, network)) -> bool:
        return bool(parser.supports_operator(op_type))

    return supports


def _has_creator(registry: Any, requirement: PluginRequirement, version: tuple[int, int]) -> bool:
    lookup = registry.get_creator if version >= (10, 0) else registry.get_plugin_creator
    return lookup(requirement.op_type, requirement.version, requirement.namespace) is not None


def check_creators(model: onnx.ModelProto, plugin_paths: Sequence[Path]) -> list[LoadedPlugin]:
    """Load ``plugin_paths`` and make sure every plugin node of ``model`` has a registered creator.

    Raises BadInput (exit 2) listing each missing op type, version and namespace with its nodes and the
    libraries tried. Returns the loaded libraries.
    """
    loaded = load_plugins(plugin_paths)
    requirements = plugin_requirements(model)
    if not requirements:
        return loaded
    trt = _tensorrt()
    registry = trt.get_plugin_registry()
    unresolved = [r for r in requirements if not _has_creator(registry, r, _version(trt))]
    if unresolved:
        # Only now pay for a parser: some custom-domain op types are the parser's own (e.g. trt::TRT_*).
        supports = _parser_supports(trt)
        if supports is not None:
            unresolved = [r for r in unresolved if not supports(r.op_type)]
    if unresolved:
        raise BadInput(missing_message(unresolved, [Path(p) for p in plugin_paths]))
    return loaded


def plugin_hint(model: onnx.ModelProto, plugins: Sequence[Path]) -> str:
    """What to add to a build failure when the graph holds custom ops and no library was given."""
    ops = sorted({f"{n.domain}::{n.op_type}" for n in custom_nodes(model)})
    if not ops or plugins:
        return ""
    return (
        f" (the graph holds {', '.join(ops)} and no --plugin was given: build the library with "
        f"`trtconvert plugins build` and add --plugin {default_library_path()})"
    )
