"""Stage `precision`: how --precision reaches TensorRT, which depends on its major version.

TensorRT 10 keeps the ONNX in fp32 and takes builder flags (FP16, BF16) that let it pick lower-precision
kernels. TensorRT 11 builds every network strongly typed and has no such flags, so the ONNX itself is converted
to mixed precision before parsing: graph inputs and outputs keep their types, and plugin nodes stay fp32 behind
Cast nodes so that their creators see the types they were written for.

Converters, first that is installed wins:

- fp16: onnxconverter-common's float16 converter (the one ``polygraphy convert --fp-to-fp16`` uses), with its
  default block list of ops that onnxruntime cannot run in fp16 (they stay fp32, so the converted model can be
  checked on the CPU); else ModelOpt AutoCast.
- bf16: ModelOpt AutoCast only. onnxruntime has no CPU kernels for bf16 Conv, MatMul or even Add, so a bf16
  model cannot be verified on the CPU; `trtconvert verify` checks the engine on the GPU instead.
"""

from __future__ import annotations

import heapq
import re
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import onnx

from trtconvert import log
from trtconvert.errors import BadInput, MissingDependency
from trtconvert.int8.calibration import CalibrationData
from trtconvert.model.info import (
    all_graphs,
    all_nodes,
    custom_nodes,
    is_default_domain,
    node_subgraphs,
    type_plugin_outputs,
)
from trtconvert.prepare.keep_fp32 import KeptFp32, resolve_keep_fp32
from trtconvert.settings.precision_plan import PrecisionPlan, available_converters

FP16_MAX = 65504.0


@dataclass(frozen=True)
class PrecisionResult:
    """What the stage did, for the report and for deciding whether CPU verification can run."""

    plan: PrecisionPlan
    converter: str | None = None
    casts_added: int = 0
    kept_fp32: tuple[str, ...] = ()  # every node left in fp32: plugin nodes and those --keep-fp32 matched
    keep_fp32: KeptFp32 = KeptFp32({})  # what each --keep-fp32 pattern matched

    @property
    def cpu_verifiable(self) -> bool:
        return self.plan.convert_onnx_to != "bf16"

    def to_json(self) -> dict:
        return {
            "precision": self.plan.precision,
            "mode": self.plan.mode,
            "builder_flags": list(self.plan.builder_flags),
            "converted_to": self.plan.convert_onnx_to,
            "converter": self.converter,
            "casts_added": self.casts_added,
            "kept_fp32": list(self.kept_fp32),
            "keep_fp32": self.keep_fp32.to_json(),
        }


def _count_casts(model: onnx.ModelProto) -> int:
    return sum(1 for n in all_nodes(model.graph) if n.op_type == "Cast" and is_default_domain(n.domain))


def _with_shapes(model: onnx.ModelProto) -> onnx.ModelProto:
    """Shape-infer the model so that the converter knows every tensor's type; path-based above 2 GB."""
    from trtconvert.model.save import needs_external_data, save_onnx

    if not needs_external_data(model):
        return onnx.shape_inference.infer_shapes(model)
    with tempfile.TemporaryDirectory(prefix="trtconvert-shapes-") as folder:
        source, inferred = Path(folder) / "model.onnx", Path(folder) / "inferred.onnx"
        save_onnx(model, source, external_data=True)
        onnx.shape_inference.infer_shapes_path(str(source), str(inferred))
        return onnx.load(str(inferred))


def _convert_onnxconverter_common(
    model: onnx.ModelProto, keep_fp32_ops: Sequence[str], keep_fp32_nodes: Sequence[str] = ()
) -> onnx.ModelProto:
    from onnxconverter_common import float16

    block = sorted(set(float16.DEFAULT_OP_BLOCK_LIST) | set(keep_fp32_ops))
    # Shape inference first: without value types the converter leaves blocked nodes' outputs untyped and
    # emits graphs that onnxruntime rejects (fp32 and fp16 mixed in one op).
    typed = _with_shapes(model)
    type_plugin_outputs(typed)
    _split_shared_weights(typed, set(keep_fp32_nodes))
    # The converter warns once per clamped value; a large model would flood the terminal, so count them.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        converted = float16.convert_float_to_float16(
            typed,
            min_positive_val=1e-7,
            max_finite_val=FP16_MAX,
            keep_io_types=True,
            disable_shape_infer=True,
            op_block_list=block,
            node_block_list=list(keep_fp32_nodes) or None,
            # A model that already holds fp16 (a Cast to fp16, fp16 weights) converts the rest; the converter's
            # guard against converting twice would refuse it.
            check_fp16_ready=False,
        )
    clamped = sum(1 for w in caught if "truncated" in str(w.message))
    if clamped:
        log.LOGGER.info(
            "          %d weight value(s) outside fp16's range clamped to it (|x| < 1e-7 or > %g)",
            clamped,
            FP16_MAX,
        )
    return converted


def _split_shared_weights(model: onnx.ModelProto, kept: set[str]) -> None:
    """Give the kept nodes their own copy of each float weight they share with nodes that are converted, in
    place.

    onnxconverter-common converts a weight once: shared between a kept node and a converted one, it stays fp32
    and the converted node reads fp32 where it computes in fp16, a model onnxruntime refuses to load (a scalar
    such as a Mul's factor is often shared)."""
    if not kept:
        return
    readers: dict[str, set[bool]] = {}
    for node in all_nodes(model.graph):
        for name in node.input:
            readers.setdefault(name, set()).add(node.name in kept)
    shared = set()
    for graph in all_graphs(model.graph):
        for tensor in list(graph.initializer):
            if readers.get(tensor.name) == {True, False} and tensor.data_type == onnx.TensorProto.FLOAT:
                copy = graph.initializer.add()
                copy.CopyFrom(tensor)
                copy.name = f"{tensor.name}__fp32_kept"
                shared.add(tensor.name)
    for node in all_nodes(model.graph):
        if node.name in kept:
            for index, name in enumerate(node.input):
                if name in shared:
                    node.input[index] = f"{name}__fp32_kept"


def _keep_nodes_fp32(model: onnx.ModelProto, kept: set[str], output_types: dict[str, int]) -> None:
    """Make the kept nodes compute in fp32 where onnxconverter-common leaves them short of it, in place.

    The converter blocks such a node, but inside If/Loop bodies it leaves the node's fp16 inputs as they are (so
    it computes in fp16); between two kept nodes whose tensor has several readers, or a kept body node reading
    a kept outer node's tensor, it rounds that tensor through fp16 (Cast to fp16, then back), so an overflow
    there stays; and a graph output a kept node writes becomes fp16. Here a kept node reads the fp32 tensor of
    the kept node that writes its input, bypassing such a round trip (in the same graph or across a body's
    scope); its other fp16 inputs are cast to fp32; and each graph output gets back the type it had before
    conversion (``output_types``), read from the kept node's fp32 tensor where there is one."""
    if not kept:
        return
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False)
    pairs = list(zip(all_graphs(model.graph), all_graphs(inferred.graph), strict=True))
    types: dict[str, int] = {}
    for _graph, typed in pairs:  # outer graphs first: a body may read their tensors
        for info in [*typed.input, *typed.value_info, *typed.output]:
            types.setdefault(info.name, info.type.tensor_type.elem_type)
        types.update({t.name: t.data_type for t in [*typed.initializer]})
    # Every graph's producers: a body reads the outer graphs' tensors by name.
    producers = {o: n for n in all_nodes(model.graph) for o in n.output}
    # Innermost first: rewriting a graph's node list copies the bodies its nodes hold, so a body must be done
    # before the graph that holds it.
    for graph, _ in reversed(pairs):
        nodes: list[onnx.NodeProto] = []
        for node in graph.node:
            if node.name in kept:
                for index, name in enumerate(node.input):
                    source = _kept_fp32_source(name, producers, kept, types) if name else None
                    if source is not None:
                        node.input[index] = source
                    elif name and types.get(name) == onnx.TensorProto.FLOAT16:
                        widened = f"{name}__fp32_for_{node.name}"
                        nodes.append(
                            onnx.helper.make_node(
                                "Cast", [name], [widened], name=widened, to=onnx.TensorProto.FLOAT
                            )
                        )
                        node.input[index] = widened
            elif _is_cast(node, onnx.TensorProto.FLOAT):
                source = _kept_fp32_source(node.input[0], producers, kept, types)
                if source is not None:
                    node.input[0] = source
            nodes.append(node)
        del graph.node[:]
        graph.node.extend(nodes)
    _restore_output_types(model.graph, kept, output_types, types, producers)
    for graph in reversed(list(all_graphs(model.graph))):  # the graphs as they are now, not the copies above
        _drop_unread_narrowing(graph)
    _sort_topologically(model.graph)


def _sort_topologically(graph: onnx.GraphProto) -> None:
    """Order ``graph``'s nodes (and its bodies') so that each comes after the nodes writing what it reads, the
    tensors its bodies read from this graph included, keeping the given order where it already holds.

    With blocked nodes onnxconverter-common moves them and their Casts after an If whose branch reads their
    output by name (an input the If does not list): onnx's checker, and parsers, refuse such a graph."""
    nodes = list(graph.node)
    produced = {o: index for index, node in enumerate(nodes) for o in node.output if o}
    needs: list[set[int]] = []
    for index, node in enumerate(nodes):
        read = set(node.input)
        for body in node_subgraphs(node):
            read.update(name for inner in all_nodes(body) for name in inner.input)
        needs.append({produced[name] for name in read if name in produced and produced[name] != index})
    readers: dict[int, list[int]] = {}
    for index, needed in enumerate(needs):
        for source in needed:
            readers.setdefault(source, []).append(index)
    waiting = [len(needed) for needed in needs]
    ready = [index for index, count in enumerate(waiting) if count == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        index = heapq.heappop(ready)
        order.append(index)
        for reader in readers.get(index, []):
            waiting[reader] -= 1
            if waiting[reader] == 0:
                heapq.heappush(ready, reader)
    if len(order) == len(nodes) and order != sorted(order):
        del graph.node[:]
        graph.node.extend(nodes[index] for index in order)
    for node in graph.node:
        for body in node_subgraphs(node):
            _sort_topologically(body)


def _drop_unread_narrowing(graph: onnx.GraphProto) -> None:
    """Remove the Casts to fp16 that the bypasses above left without readers."""
    read = {name for node in all_nodes(graph) for name in node.input} | {o.name for o in graph.output}
    unread = [
        node
        for node in graph.node
        if _is_cast(node, onnx.TensorProto.FLOAT16) and not any(o in read for o in node.output)
    ]
    for node in unread:
        graph.node.remove(node)


def _kept_fp32_source(
    name: str, producers: dict[str, onnx.NodeProto], kept: set[str], types: dict[str, int]
) -> str | None:
    """The fp32 tensor of a kept node that ``name`` rounds to fp16 (Cast to fp16 of it), or None."""
    narrowing = producers.get(name)
    if narrowing is None or not _is_cast(narrowing, onnx.TensorProto.FLOAT16):
        return None
    source = producers.get(narrowing.input[0])
    if source is None or source.name not in kept or types.get(narrowing.input[0]) != onnx.TensorProto.FLOAT:
        return None
    return narrowing.input[0]


def _restore_output_types(
    graph: onnx.GraphProto,
    kept: set[str],
    output_types: dict[str, int],
    types: dict[str, int],
    producers: dict[str, onnx.NodeProto],
) -> None:
    producers = {**producers, **{o: n for n in graph.node for o in n.output}}
    for output in graph.output:
        wanted = output_types.get(output.name)
        producer = producers.get(output.name)
        if (
            wanted != onnx.TensorProto.FLOAT
            or output.type.tensor_type.elem_type != onnx.TensorProto.FLOAT16
            or producer is None
        ):
            continue
        narrow = f"{output.name}__narrow"
        for node in all_nodes(graph):
            node.input[:] = [narrow if name == output.name else name for name in node.input]
        producer.output[:] = [narrow if name == output.name else name for name in producer.output]
        source = _kept_fp32_source(narrow, {**producers, narrow: producer}, kept, types) or narrow
        graph.node.append(
            onnx.helper.make_node("Cast", [source], [output.name], name=f"{output.name}__restore", to=wanted)
        )
        output.type.tensor_type.elem_type = wanted


def _narrow_casts_typed_fp16(model: onnx.ModelProto) -> None:
    """Make the model's own Casts to fp32 cast to fp16 where the converter typed their output fp16, in place.

    onnxconverter-common retypes every fp32 tensor of a converted node to fp16, a Cast's output included, but
    leaves the Cast's `to` at fp32: onnxruntime then refuses the model (a Cast from an int64 position index, the
    last Cast of a model exported in fp16, autocast's Casts around LayerNorm). The Casts it adds itself, before
    blocked nodes and at graph outputs, keep fp32 outputs and are left alone."""
    for graph in all_graphs(model.graph):
        types = {
            info.name: info.type.tensor_type.elem_type
            for info in [*graph.input, *graph.value_info, *graph.output]
        }
        for node in graph.node:
            if (
                _is_cast(node, onnx.TensorProto.FLOAT)
                and types.get(node.output[0]) == onnx.TensorProto.FLOAT16
            ):
                for attribute in node.attribute:
                    if attribute.name == "to":
                        attribute.i = onnx.TensorProto.FLOAT16


def _read_graph_outputs_in_fp16(model: onnx.ModelProto) -> None:
    """Make the converted nodes that read a graph output read its fp16 tensor, in place.

    With keep_io_types the converter renames the writer of an fp32 graph output to an fp16 tensor and adds a Cast
    to fp32 under the output's name; a node that also reads the output (BERT's pooler reading
    last_hidden_state) keeps reading the fp32 name while its own outputs are typed fp16, which onnxruntime
    refuses. Blocked nodes (their outputs stay fp32) and Casts take either type and keep reading fp32."""
    types: dict[str, int] = {}
    for graph in all_graphs(model.graph):
        for info in [*graph.input, *graph.value_info, *graph.output]:
            types.setdefault(info.name, info.type.tensor_type.elem_type)
    producers = {o: n for n in model.graph.node for o in n.output}
    for output in model.graph.output:
        widening = producers.get(output.name)
        if widening is None or not _is_cast(widening, onnx.TensorProto.FLOAT):
            continue
        narrow = widening.input[0]
        if types.get(narrow) != onnx.TensorProto.FLOAT16:
            continue
        for node in all_nodes(model.graph):
            if node is widening or node.op_type == "Cast" or output.name not in node.input:
                continue
            if any(types.get(name) == onnx.TensorProto.FLOAT16 for name in node.output):
                node.input[:] = [narrow if name == output.name else name for name in node.input]


def _is_cast(node: onnx.NodeProto, to: int) -> bool:
    return node.op_type == "Cast" and any(a.name == "to" and a.i == to for a in node.attribute)


def _convert_modelopt(
    model: onnx.ModelProto, to: str, keep_fp32_nodes: Sequence[str], plugins: Sequence[Path]
) -> onnx.ModelProto:
    from modelopt.onnx.autocast import convert_to_mixed_precision

    from trtconvert.model.save import needs_external_data, save_onnx

    with tempfile.TemporaryDirectory(prefix="trtconvert-autocast-") as folder:
        path = Path(folder) / "model.onnx"
        save_onnx(model, path, needs_external_data(model))
        return convert_to_mixed_precision(
            onnx_path=str(path),
            low_precision_type=to,
            nodes_to_exclude=[f"^{re.escape(name)}$" for name in keep_fp32_nodes],
            keep_io_types=True,
            trt_plugins=[str(p) for p in plugins],
        )


def convert_model(
    model: onnx.ModelProto, to: str, plugins: Sequence[Path] = (), keep_fp32_nodes: Sequence[str] = ()
) -> tuple[onnx.ModelProto, str, tuple[str, ...]]:
    """Convert to mixed ``to`` precision, leaving plugin nodes and ``keep_fp32_nodes`` in fp32; returns the
    model, the converter's name and the nodes kept fp32."""
    plugin_nodes = custom_nodes(model)
    kept = tuple(sorted({n.name or n.op_type for n in plugin_nodes})) + tuple(keep_fp32_nodes)
    converters = available_converters()
    if to == "fp16" and converters["onnxconverter-common"]:
        ops = sorted({n.op_type for n in plugin_nodes})
        converted = _convert_onnxconverter_common(model, ops, keep_fp32_nodes)
        _narrow_casts_typed_fp16(converted)
        _read_graph_outputs_in_fp16(converted)
        output_types = {o.name: o.type.tensor_type.elem_type for o in model.graph.output}
        _keep_nodes_fp32(converted, set(keep_fp32_nodes), output_types)
        return converted, "onnxconverter-common", kept
    if converters["modelopt"]:
        unnamed = [n for n in plugin_nodes if not n.name]
        if unnamed:
            raise BadInput(
                f"{len(unnamed)} plugin node(s) of type {unnamed[0].op_type} have no name, so AutoCast cannot "
                "keep them fp32; give every node a name (re-export, or run prepare with --rewrite all)"
            )
        return (
            _convert_modelopt(model, to, [n.name for n in plugin_nodes] + list(keep_fp32_nodes), plugins),
            "modelopt-autocast",
            kept,
        )
    package = "onnxconverter-common" if to == "fp16" else "nvidia-modelopt[onnx]"
    raise MissingDependency(
        f"--precision {to} for TensorRT 11 converts the ONNX to {to} before parsing, which needs a converter; "
        f"pip install {package} (or build for TensorRT 10, which takes builder flags: --target-tensorrt 10)"
    )


def _qdq_nodes(model: onnx.ModelProto) -> int:
    from trtconvert.int8.qdq import qdq_counts

    return sum(qdq_counts(model).values())


def _log_kept(kept: KeptFp32) -> None:
    for pattern, names in kept.matches.items():
        shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
        log.LOGGER.info("          keep fp32 %s: %s", pattern, shown)


def precision_stage(
    model: onnx.ModelProto,
    plan: PrecisionPlan,
    plugins: Sequence[Path] = (),
    calibration: CalibrationData | None = None,
    calib_method: str = "minmax",
    keep_fp32: Sequence[str] = (),
) -> tuple[onnx.ModelProto, PrecisionResult]:
    """Run the precision stage on a prepared model and print its report line.

    ``calibration`` is needed for int8 on TensorRT 11, where the stage writes Q/DQ nodes. ``keep_fp32`` holds
    the --keep-fp32 patterns: resolved here, on the graph TensorRT will parse; unnamed nodes an op: pattern
    reaches are named in place.
    """
    start = time.perf_counter()
    precision, version = plan.precision, plan.tensorrt
    kept = resolve_keep_fp32(model, keep_fp32)
    if plan.precision == "fp32":
        log.stage("precision", 0.0, f"fp32 on TensorRT {version}: nothing to convert")
        return model, PrecisionResult(plan)
    explicit = _qdq_nodes(model) if plan.int8 else 0
    if explicit:
        how = "builder flags" if plan.builder_flags else "a strongly typed network"
        log.stage(
            "precision",
            0.0,
            f"{precision} through {how} on TensorRT {version}: the model's {explicit} Q/DQ node(s) set the INT8 "
            "scales (explicit quantization), no calibration",
        )
        return model, PrecisionResult(plan, "explicit-qdq", kept_fp32=kept.nodes, keep_fp32=kept)
    if plan.convert_onnx_to == "int8":
        from trtconvert.int8.qdq import qdq_counts, quantize_qdq

        assert calibration is not None, "preflight loads the calibration data for int8"
        quantized = quantize_qdq(model, calibration, calib_method)
        pairs = qdq_counts(quantized).get("QuantizeLinear", 0)
        log.stage(
            "precision",
            time.perf_counter() - start,
            f"int8 for TensorRT {version} (strongly typed): {pairs} Q/DQ pair(s) from {calibration.describe()}, "
            f"{calib_method} calibration with onnxruntime; inputs, outputs and plugin nodes stay float",
        )
        return quantized, PrecisionResult(plan, "onnxruntime-quantize-static")
    if plan.convert_onnx_to is None:
        detail = f"{precision} through builder flags on TensorRT {version}; the ONNX stays fp32"
        if kept:
            detail += f"; {len(kept.nodes)} node(s) to be built in fp32 (--keep-fp32)"
        log.stage("precision", 0.0, detail)
        _log_kept(kept)
        return model, PrecisionResult(plan, kept_fp32=kept.nodes, keep_fp32=kept)
    before = _count_casts(model)
    converted, converter, kept_nodes = convert_model(model, plan.convert_onnx_to, plugins, kept.nodes)
    result = PrecisionResult(
        plan, converter, max(_count_casts(converted) - before, 0), kept_nodes, keep_fp32=kept
    )
    detail = (
        f"converted to {plan.convert_onnx_to} for TensorRT {version} (strongly typed) with {converter}: "
        f"{result.casts_added} Cast node(s) added, inputs and outputs keep their types"
    )
    plugin_kept = [n for n in kept_nodes if n not in kept.nodes]
    if plugin_kept:
        detail += f", plugin node(s) kept fp32: {', '.join(plugin_kept)}"
    if kept:
        detail += f", {len(kept.nodes)} node(s) kept fp32 (--keep-fp32)"
    log.stage("precision", time.perf_counter() - start, detail)
    _log_kept(kept)
    if not result.cpu_verifiable:
        log.LOGGER.warning(
            "          %s cannot be verified on the CPU: onnxruntime has no CPU kernels for %s Conv, MatMul or "
            "Add; check the engine on a GPU with `trtconvert verify PLAN --onnx MODEL`",
            plan.convert_onnx_to,
            plan.convert_onnx_to,
        )
    return converted, result
