"""onnxruntime sessions for the CPU verification of original and prepared models, plugin nodes included.

A prepared model may hold ``DynamicTRTResize`` nodes, which onnxruntime does not know. ``create_session`` runs
them with the numpy reference: it hands onnxruntime a copy of the graph in which each plugin node becomes one
node of a Python operator (registered through onnxruntime-extensions) with a fixed signature: the data as
float32 and an int64 vector that carries the output size (the carrier's shape, the shape input's values, or
the data's shape when the size is in the attributes). Casts around it keep float16/bfloat16 graphs typed.
Everything else runs in onnxruntime as usual. Models over 2 GB are read through their path: the graph is
loaded without its weights, and onnxruntime reads the external data from the model's folder.

Sessions may run at once in several threads (builds and verifications of a worker pool). An exception must not
escape the Python operator (it would abort the process inside onnxruntime-extensions), so the operator parks
it for the session's ``run`` to raise. The operator is registered once per process, in onnxruntime-extensions'
global table, and cannot be told which session calls it; so each session's graph carries its own key as an
attribute of its plugin nodes, and a registry guarded by a lock maps the key to that session's parked errors.
The registry holds them weakly: an entry goes with its session.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
import uuid
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from trtconvert.errors import BadInput, MissingDependency
from trtconvert.model.info import all_graphs, all_nodes, is_default_domain
from trtconvert.ops.dynamic_resize import PLUGIN_OP, DynamicResizeNode
from trtconvert.ops.resize_reference import CubicResizeAttributes

CPU_DOMAIN = "trtconvert.reference"
_TWO_GIB = 2**31


class PluginNodeError(RuntimeError):
    """A plugin node's CPU reference refused the values it was given (the model's or the user's)."""


class _ParkedErrors:
    """What the Python operator raised during the current run of one session."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.stops: list[BaseException] = []  # KeyboardInterrupt or the CLI's Terminated

    def take(self) -> tuple[list[str], list[BaseException]]:
        with _registry_lock:
            taken = (self.errors, self.stops)
            self.errors, self.stops = [], []
        return taken


# Process-wide by nature (see the module docstring): the operator's registration and the key -> errors map.
_registry_lock = threading.Lock()
_registered = False
_parked: weakref.WeakValueDictionary[str, _ParkedErrors] = weakref.WeakValueDictionary()


def _park(session_key: str, error: str | None = None, stop: BaseException | None = None) -> None:
    with _registry_lock:
        parked = _parked.get(session_key)
        if parked is None:  # the graph was run outside create_session's session: nobody to tell
            return
        if error is not None:
            parked.errors.append(error)
        if stop is not None:
            parked.stops.append(stop)


def _register_python_op() -> None:
    """Register the Python operator once per process (onnxruntime-extensions keeps a global table)."""
    global _registered
    with _registry_lock:
        if not _registered:
            _define_python_op()
            _registered = True


def _define_python_op() -> None:
    try:
        from onnxruntime_extensions import PyOp, onnx_op
    except ImportError as error:  # pragma: no cover - a declared dependency
        raise MissingDependency(
            f"running {PLUGIN_OP} nodes on the CPU needs onnxruntime-extensions ({error}); "
            "pip install onnxruntime-extensions"
        ) from error

    @onnx_op(
        op_type=f"{CPU_DOMAIN}::{PLUGIN_OP}",
        inputs=[PyOp.dt_float, PyOp.dt_int64],
        outputs=[PyOp.dt_float],
        attrs={
            "coordinate_transformation_mode": PyOp.dt_string,
            "cubic_coeff_a": PyOp.dt_float,
            "exclude_outside": PyOp.dt_int64,
            "antialias": PyOp.dt_int64,
            "scale_h": PyOp.dt_float,
            "scale_w": PyOp.dt_float,
            "out_h": PyOp.dt_int64,
            "out_w": PyOp.dt_int64,
            "size_source": PyOp.dt_string,
            "session_key": PyOp.dt_string,
        },
    )
    def _dynamic_trt_resize(x: np.ndarray, size_info: np.ndarray, **attrs: object) -> np.ndarray:
        # An exception escaping a Python operator aborts the process inside onnxruntime-extensions, so errors
        # are parked for the calling session, whose run() raises them once onnxruntime returns.
        session_key = str(attrs.get("session_key", ""))
        try:
            return _run_cpu_node(x, size_info, attrs)
        except Exception as error:  # noqa: BLE001 - every error must be carried out, none may escape
            _park(session_key, error=f"{PLUGIN_OP}: {error}")
            return np.full(x.shape, np.nan, dtype=np.float32)
        except BaseException as stop:  # a signal's exception: re-raised once onnxruntime returns
            _park(session_key, stop=stop)
            return np.full(x.shape, np.nan, dtype=np.float32)


def _run_cpu_node(x: np.ndarray, size_info: np.ndarray, attrs: dict) -> np.ndarray:
    """The Python operator's body: decode the flattened attributes and run the reference."""
    scales = (float(attrs["scale_h"]), float(attrs["scale_w"])) if float(attrs["scale_h"]) > 0 else None
    sizes = (int(attrs["out_h"]), int(attrs["out_w"])) if int(attrs["out_h"]) >= 0 else None
    node = DynamicResizeNode(
        attrs=CubicResizeAttributes(
            coordinate_transformation_mode=str(attrs["coordinate_transformation_mode"]),
            cubic_coeff_a=float(attrs["cubic_coeff_a"]),
            exclude_outside=int(attrs["exclude_outside"]),
            antialias=int(attrs["antialias"]),
        ),
        scales=scales,
        sizes=sizes,
    )
    source = str(attrs["size_source"])
    size_input = None if source == "attributes" else size_info
    return node.compute(np.asarray(x), size_input, carrier=source == "carrier").astype(np.float32)


def is_plugin_node(node: onnx.NodeProto) -> bool:
    return node.op_type == PLUGIN_OP and not is_default_domain(node.domain)


def _has_plugin_nodes(graph: onnx.GraphProto) -> bool:
    return any(is_plugin_node(node) for node in all_nodes(graph))


def _element_types(model: onnx.ModelProto) -> dict[str, int]:
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False)
    except Exception:  # types are a convenience here; unknown ones are taken as float32
        inferred = model
    types: dict[str, int] = {}

    for graph in all_graphs(inferred.graph):
        for info in list(graph.input) + list(graph.value_info) + list(graph.output):
            if info.type.HasField("tensor_type"):
                types[info.name] = info.type.tensor_type.elem_type
        for init in graph.initializer:
            types[init.name] = init.data_type
    return types


def cpu_graph(model: onnx.ModelProto, session_key: str = "") -> onnx.ModelProto:
    """A copy of ``model`` whose plugin nodes run as the Python reference operator (see module docstring);
    ``session_key`` names the session whose run() raises what the operator could not."""
    types = _element_types(model)
    cpu = onnx.ModelProto()
    cpu.CopyFrom(model)
    counter = [0]

    def fresh(base: str) -> str:
        counter[0] += 1
        return f"{base}__cpu{counter[0]}"

    # Innermost bodies first: rebuilding an outer node list copies the nodes, bodies included.
    for graph in reversed(list(all_graphs(cpu.graph))):
        new_nodes: list[onnx.NodeProto] = []
        for node in graph.node:
            new_nodes += _cpu_nodes(node, types, fresh, session_key) if is_plugin_node(node) else [node]
        del graph.node[:]
        graph.node.extend(new_nodes)
    if not any(op.domain == CPU_DOMAIN for op in cpu.opset_import):
        cpu.opset_import.append(helper.make_opsetid(CPU_DOMAIN, 1))
    return cpu


def _cpu_nodes(node: onnx.NodeProto, types: dict[str, int], fresh, session_key: str) -> list[onnx.NodeProto]:
    values = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    name = node.name or node.output[0]
    try:
        meaning = DynamicResizeNode.from_attributes(values)
    except ValueError as error:
        raise BadInput(f"{PLUGIN_OP} node {name!r}: {error}") from error
    if (len(node.input) < 2 or not node.input[1]) and meaning.sizes is None and meaning.scales is None:
        raise BadInput(
            f"{PLUGIN_OP} node {name!r} has no output size: give it a second input, or a sizes or scales attribute"
        )
    nodes: list[onnx.NodeProto] = []
    data = node.input[0]
    elem = types.get(data, TensorProto.FLOAT)
    if elem != TensorProto.FLOAT:
        data = fresh(f"{name}/as_float")
        nodes.append(
            helper.make_node("Cast", [node.input[0]], [data], name=fresh(name), to=TensorProto.FLOAT)
        )
    has_size_input = len(node.input) > 1 and node.input[1] != ""
    size_info = fresh(f"{name}/size_info")
    if has_size_input and meaning.shape_input:
        source = "values"
        nodes.append(
            helper.make_node("Cast", [node.input[1]], [size_info], name=fresh(name), to=TensorProto.INT64)
        )
    elif has_size_input:
        source = "carrier"
        nodes.append(helper.make_node("Shape", [node.input[1]], [size_info], name=fresh(name)))
    else:
        source = "attributes"
        nodes.append(helper.make_node("Shape", [node.input[0]], [size_info], name=fresh(name)))
    result = node.output[0] if elem == TensorProto.FLOAT else fresh(f"{name}/float_out")
    attrs = meaning.attrs
    nodes.append(
        helper.make_node(
            PLUGIN_OP,
            [data, size_info],
            [result],
            name=name,
            domain=CPU_DOMAIN,
            coordinate_transformation_mode=attrs.coordinate_transformation_mode,
            cubic_coeff_a=float(attrs.cubic_coeff_a),
            exclude_outside=int(attrs.exclude_outside),
            antialias=int(attrs.antialias),
            scale_h=float(meaning.scales[0]) if meaning.scales else 0.0,
            scale_w=float(meaning.scales[1]) if meaning.scales else 0.0,
            out_h=int(meaning.sizes[0]) if meaning.sizes else -1,
            out_w=int(meaning.sizes[1]) if meaning.sizes else -1,
            size_source=source,
            session_key=session_key,
        )
    )
    if elem != TensorProto.FLOAT:
        nodes.append(helper.make_node("Cast", [result], [node.output[0]], name=fresh(name), to=elem))
    return nodes


def create_session(
    model: onnx.ModelProto | str | os.PathLike,
    providers: list[str] | None = None,
    *,
    optimize: bool = True,
    threads: int | None = None,
    graph_only: onnx.ModelProto | None = None,
    quiet: bool = False,
):
    """An onnxruntime session (CPU by default) for a model proto or path, running plugin nodes on the CPU.

    Returns an ``onnxruntime.InferenceSession``. Paths are the way in for models over 2 GB. Without
    ``optimize`` onnxruntime runs the graph as written, and ``threads=1`` spares it its thread pool: for a session
    run once on small shapes (a check that the model runs at all), both cost more than they save (half the time
    of `inspect`'s check of the detector). ``graph_only`` is the model at the path, already read without its
    weights, so that it is not parsed twice. ``quiet``: the session logs nothing, for runs expected to fail (a
    search for the sizes a model takes), whose errors arrive as exceptions anyway.
    """
    import onnxruntime

    providers = providers or ["CPUExecutionProvider"]
    options = onnxruntime.SessionOptions()
    if not optimize:
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = threads
    if quiet:
        options.log_severity_level = 4
    keep_alive: tempfile.TemporaryDirectory | None = None
    if isinstance(model, onnx.ModelProto):
        if _byte_size(model) < _TWO_GIB:
            if not _has_plugin_nodes(model.graph):
                return onnxruntime.InferenceSession(model.SerializeToString(), options, providers=providers)
            return _plugin_session(model, None, providers, options)
        # Too large for one protobuf: write it with external data and read it back through its path.
        keep_alive = tempfile.TemporaryDirectory(prefix="trtconvert-ort-")
        path = Path(keep_alive.name) / "model.onnx"
        onnx.save_model(model, path, save_as_external_data=True, location="model.onnx.data")
    else:
        path = Path(os.fspath(model))
    if graph_only is None or keep_alive is not None:
        graph_only = onnx.load(path, load_external_data=False)
    if not _has_plugin_nodes(graph_only.graph):
        session = onnxruntime.InferenceSession(os.fspath(path), options, providers=providers)
    else:
        session = _plugin_session(graph_only, path.parent, providers, options)
    if keep_alive is not None:
        # The session may map the external data lazily: the folder goes when the session does.
        weakref.finalize(session, keep_alive.cleanup)
    return session


_ORT_PREFIX = re.compile(r"^\[ONNXRuntimeError\]\s*:\s*\d+\s*:\s*[A-Z_]+\s*:\s*")
MAX_CAUSE_CHARS = 600


def _first_line(error: BaseException) -> str:
    """onnxruntime's message on one line. Its cause comes last ("Status Message: ... requested shape {..}"), after
    the node's name, so a long message loses its middle, never its end."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error)).strip()
    text = _ORT_PREFIX.sub("", " ".join(line.strip() for line in text.splitlines() if line.strip()))
    if not text:
        return type(error).__name__
    if len(text) <= MAX_CAUSE_CHARS:
        return text
    return f"{text[:200]} [...] {text[-(MAX_CAUSE_CHARS - 207) :]}"


def is_onnxruntime_error(error: BaseException) -> bool:
    """onnxruntime's own exception types (Fail, InvalidArgument, InvalidGraph, NotImplemented, ...), and what
    a plugin node's CPU reference raised while onnxruntime ran it."""
    return type(error).__module__.startswith("onnxruntime") or isinstance(error, PluginNodeError)


@contextmanager
def user_model_errors(what: str, fix: str) -> Iterator[None]:
    """onnxruntime failing on the user's model or inputs, and shapes too large for memory, as BadInput (exit 2):
    ``what`` says what was being done ("run the original model at x=1x3x8x8"), ``fix`` what to change."""
    try:
        yield
    except MemoryError:
        raise BadInput(f"not enough memory to {what}; {fix}") from None
    except Exception as error:
        if not is_onnxruntime_error(error) and not (
            isinstance(error, ValueError) and "too big" in str(error)
        ):
            raise
        raise BadInput(f"onnxruntime cannot {what}: {_first_line(error)}; {fix}") from None


def _session_class():
    import onnxruntime

    class PluginSession(onnxruntime.InferenceSession):
        """An InferenceSession whose run() raises the errors the Python operator parked for it.

        Runs of one session take turns, so that each run raises its own errors; sessions run at once.
        """

        def __init__(self, model_bytes: bytes, options, providers: list[str], parked: _ParkedErrors) -> None:
            super().__init__(model_bytes, options, providers=providers)
            self.plugin_errors = parked
            self.plugin_run_lock = threading.Lock()

        def run(self, output_names, input_feed, run_options=None):
            with self.plugin_run_lock:
                self.plugin_errors.take()
                outputs = super().run(output_names, input_feed, run_options)
                errors, stops = self.plugin_errors.take()
            if stops:
                raise stops[0]
            if errors:
                raise PluginNodeError("; ".join(dict.fromkeys(errors)))
            return outputs

    return PluginSession


def _plugin_session(model: onnx.ModelProto, data_folder: Path | None, providers: list[str], options):
    _register_python_op()
    from onnxruntime_extensions import get_library_path

    session_key = uuid.uuid4().hex
    graph = cpu_graph(model, session_key)
    options.register_custom_ops_library(get_library_path())
    if data_folder is not None:
        options.add_session_config_entry(
            "session.model_external_initializers_file_folder_path", str(data_folder)
        )
    parked = _ParkedErrors()
    with _registry_lock:
        _parked[session_key] = parked
    return _session_class()(graph.SerializeToString(), options, providers, parked)


def _byte_size(model: onnx.ModelProto) -> int:
    try:
        return model.ByteSize()
    except Exception:  # protobuf refuses to size messages past its limit
        return _TWO_GIB
