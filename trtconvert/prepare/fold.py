"""Stage `fold`: constant folding with onnx-graphsurgeon and onnxruntime, as polygraphy does it, made safe.

onnx can write an IR version newer than the installed onnxruntime reads. Folding evaluates subgraphs with
onnxruntime, so such a model folds nothing, silently. We fold at the newest IR version onnxruntime reads
when the model's opsets and data types allow it, and keep that version in the prepared model.

Large weights may stay in their external data file while folding: only those that folding computes with
are read, so a model of many gigabytes is never copied whole by graph-surgeon's export.
"""

from __future__ import annotations

import functools
import gc
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import helper

from trtconvert import log
from trtconvert.errors import raised_in_trtconvert
from trtconvert.model.info import (
    all_initializers,
    all_nodes,
    all_tensors,
    default_opset,
    if_branches,
    node_subgraphs,
)
from trtconvert.model.light import without_large_data
from trtconvert.model.load import large_initializers_on_disk, read_weights
from trtconvert.model.save import EXTERNAL_DATA_THRESHOLD

# The first IR version that allows each newer data type; older IR versions cannot carry them.
_TYPE_MIN_IR = {
    onnx.TensorProto.FLOAT8E4M3FN: 9,
    onnx.TensorProto.FLOAT8E4M3FNUZ: 9,
    onnx.TensorProto.FLOAT8E5M2: 9,
    onnx.TensorProto.FLOAT8E5M2FNUZ: 9,
    onnx.TensorProto.UINT4: 10,
    onnx.TensorProto.INT4: 10,
    getattr(onnx.TensorProto, "FLOAT4E2M1", 23): 11,
}


@functools.lru_cache(maxsize=1)
def onnxruntime_max_ir_version() -> int:
    """The newest IR version the installed onnxruntime accepts, found by trying a one-node model."""
    import onnxruntime

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "probe",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])],
    )
    for ir_version in range(onnx.IR_VERSION, 3, -1):
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        model.ir_version = ir_version
        try:
            onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        except Exception:  # onnxruntime raises its own Fail type for an unsupported IR version
            continue
        return ir_version
    return 3


def _min_ir_for_opset(opset: int) -> int:
    candidates = [row[1] for row in helper.VERSION_TABLE if row[2] >= opset]
    return min(candidates) if candidates else onnx.IR_VERSION


def _min_ir_for_types(model: onnx.ModelProto) -> int:
    types = {t.data_type for t in model.graph.initializer}
    for value in (*model.graph.input, *model.graph.output, *model.graph.value_info):
        types.add(value.type.tensor_type.elem_type)
    for node in all_nodes(model.graph):
        types.update(a.i for a in node.attribute if a.name == "to" and a.type == onnx.AttributeProto.INT)
    return max((_TYPE_MIN_IR.get(t, 3) for t in types), default=3)


def foldable_ir_version(model: onnx.ModelProto) -> tuple[int | None, str]:
    """The IR version to fold at (None: folding cannot run) and a note for the report."""
    limit = onnxruntime_max_ir_version()
    if model.ir_version <= limit:
        return model.ir_version, ""
    needed = max(_min_ir_for_opset(default_opset(model)), _min_ir_for_types(model))
    if needed > limit:
        return None, (
            f"IR {model.ir_version} needs at least IR {needed}, but onnxruntime reads IR <= {limit}: "
            f"folding skipped; upgrade onnxruntime to fold this model"
        )
    return limit, f"IR {model.ir_version} lowered to {limit} (onnxruntime reads IR <= {limit})"


def _fold_passes(
    model: onnx.ModelProto, flatten_subgraphs: bool, max_bytes: int | None = None
) -> onnx.ModelProto:
    """Fold until a pass removes nothing, the way polygraphy's FoldConstants does, with two fixes.

    onnx-graphsurgeon exports If/Loop bodies at onnx's newest IR version, which onnxruntime may refuse, so
    the bodies get the model's IR version first; and the caller may turn off the inlining of If nodes with
    constant conditions, which can produce an invalid graph.
    """
    import onnx_graphsurgeon as gs

    previous = -1
    while previous != len(model.graph.node):
        previous = len(model.graph.node)
        graph = gs.import_onnx(model)
        for subgraph in graph.subgraphs(recursive=True):
            subgraph.ir_version = graph.ir_version
        # max_bytes: a tensor past it is neither computed nor stored (a few bytes of model can fold into GBs).
        graph.fold_constants(
            flatten_subgraphs=flatten_subgraphs,
            error_ok=False,
            size_threshold=max_bytes,
            should_exclude_node=None
            if max_bytes is None
            else functools.partial(_may_outgrow, max_bytes=max_bytes),
        )
        model = gs.export_onnx(graph.cleanup().toposort(), do_type_check=False)
        # A graph-surgeon graph is a web of reference cycles: without a collection it lives on with numpy
        # copies of the folded values and, through its lazy constants, the previous pass's whole model.
        del graph
        gc.collect()
        model = infer_shapes(model)
    return model


# Ops whose output size comes from input values (or from a body run many times), not from input sizes: with a
# shape that inference could not resolve, their output may be any size.
_SIZE_FROM_VALUES = frozenset(
    {"ConstantOfShape", "Expand", "Loop", "OneHot", "Pad", "Range", "Resize", "Scan", "Tile", "Upsample"}
)


def _may_outgrow(node, max_bytes: int) -> bool:
    """Whether folding ``node`` could make a tensor past ``max_bytes``: graph-surgeon's size threshold looks only
    at the tensors it keeps, while onnxruntime computes every tensor on the way to them (a Range of billions of
    values reduced to one number would be made whole)."""
    from onnx_graphsurgeon.importers.onnx_importer import get_itemsize

    for index, tensor in enumerate(node.outputs):
        itemsize = get_itemsize(tensor.dtype) if tensor.dtype is not None else 8
        shape = tensor.shape
        if shape is not None and all(isinstance(d, int) and d >= 0 for d in shape):
            count = int(np.prod(shape, dtype=object))
        elif node.op in _SIZE_FROM_VALUES:
            # Shape inference did not resolve it: count it from the constant inputs, or, where they are not
            # constants yet, leave the node for the next pass, when they will be.
            count = _count_from_values(node) if index == 0 else None
            if count is None:
                return True
        else:
            continue
        if count * itemsize > max_bytes:
            return True
    return False


def _count_from_values(node) -> int | None:
    """Elements of the first output of a _SIZE_FROM_VALUES node, from its inputs' values; None where unknown."""
    from onnx_graphsurgeon import Constant

    def value(index: int):
        if index >= len(node.inputs) or not isinstance(node.inputs[index], Constant):
            return None
        return [int(v) for v in np.asarray(node.inputs[index].values).reshape(-1)]

    def shape(index: int):
        found = node.inputs[index].shape if index < len(node.inputs) else None
        return list(found) if found is not None and all(isinstance(d, int) for d in found) else None

    def volume(dims) -> int | None:
        return None if dims is None or any(d < 0 for d in dims) else int(np.prod(dims, dtype=object))

    try:
        if node.op == "ConstantOfShape":
            return volume(value(0))
        if node.op == "Range":
            start, limit, delta = (value(i) for i in range(3))
            if None in (start, limit, delta) or not delta[0]:
                return None
            return max(-(-(limit[0] - start[0]) // delta[0]), 0)
        if node.op == "Expand" and shape(0) is not None and value(1) is not None:
            return volume(np.broadcast_shapes(tuple(shape(0)), tuple(value(1))))
        if node.op == "Tile" and shape(0) is not None and value(1) is not None:
            return volume([d * r for d, r in zip(shape(0), value(1), strict=True)])
        if node.op == "Pad" and shape(0) is not None and value(1) is not None and len(node.inputs) < 4:
            dims, pads = shape(0), value(1)
            return volume([d + pads[i] + pads[i + len(dims)] for i, d in enumerate(dims)])
        if node.op == "OneHot" and shape(0) is not None and value(1) is not None:
            return volume([*shape(0), value(1)[0]])
    except (ValueError, IndexError, TypeError, OverflowError):
        return None
    return None


def infer_shapes(model: onnx.ModelProto) -> onnx.ModelProto:
    """onnx's shape inference, as polygraphy's infer_shapes runs it without onnxruntime: a model that
    inference fails on is kept as it is.

    Inference runs on a copy without the large weights and its results (nodes with typed subgraphs, graph
    inputs, outputs, value_info) go back into the model: serializing a model for inference and parsing the
    result would otherwise copy every weight in memory four times per folding pass. Only a model whose
    small tensors alone pass the protobuf limit goes through polygraphy, which infers from a file.
    """
    light, held = without_large_data(model, empty=False)
    if held > EXTERNAL_DATA_THRESHOLD:
        from polygraphy.backend.onnx import infer_shapes

        return infer_shapes(model, allow_onnxruntime=False)
    try:
        inferred = onnx.shape_inference.infer_shapes(light)
    except Exception as err:  # onnx raises several types; folding goes on without the shapes, as before
        log.LOGGER.debug("shape inference failed while folding: %s", err)
        return model
    for name in ("node", "input", "output", "value_info"):
        field = getattr(model.graph, name)
        del field[:]
        field.extend(getattr(inferred.graph, name))
    return model


_SHAPE_OPS = ("Shape", "Size")


def _folding_inputs(model: onnx.ModelProto) -> set[str]:
    """Names of the initializers whose values folding may compute with; a superset, never less.

    Those are the inputs of nodes whose inputs are all constant (onnxruntime computes even the Shape of a
    constant from its data), where the outputs of any Shape and Size count as constant (graph-surgeon folds
    them from static shapes), and everything an If/Loop/Scan body uses.
    """
    constant = {t.name for t in model.graph.initializer}
    needed: set[str] = set()
    for node in model.graph.node:
        for body in node_subgraphs(node):
            needed.update(name for inner in all_nodes(body) for name in inner.input)
        inputs = [name for name in node.input if name]
        if all(name in constant for name in inputs):
            needed.update(inputs)
            constant.update(node.output)
        elif node.op_type in _SHAPE_OPS:
            constant.update(node.output)
    return needed


def _check_structure(model: onnx.ModelProto) -> None:
    """onnx's checker on the graph alone: large weights and tensors still in external files become empty
    stand-ins.

    The checker of a model in memory serializes it whole and looks for external data files relative to the
    working directory, and the weights play no part in whether inlining an If broke the graph.
    """
    light, _ = without_large_data(model, empty=True)
    for tensor in all_tensors(light):
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            del tensor.external_data[:]
            tensor.data_location = onnx.TensorProto.DEFAULT
            del tensor.dims[:]
            tensor.dims.append(0)
    onnx.checker.check_model(light)


def _constant_values(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    values = {t.name: t for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.output:
            for attribute in node.attribute:
                if attribute.name == "value":
                    values[node.output[0]] = attribute.t
    return values  # type: ignore[return-value]


def _rename_in(graph: onnx.GraphProto, renames: dict[str, str]) -> None:
    """Apply ``renames`` to every reference to an outer name in ``graph``'s nodes and the subgraphs below."""
    for node in all_nodes(graph):
        node.input[:] = [renames.get(name, name) for name in node.input]


def _names_outside(model: onnx.ModelProto, skip: onnx.NodeProto) -> set[str]:
    """Every tensor name of the model except those inside ``skip``'s subgraphs."""
    graph = model.graph
    names = {t.name for t in graph.initializer} | {v.name for v in (*graph.input, *graph.output)}
    for node in graph.node:
        names.update(node.input)
        names.update(node.output)
        if node is skip:
            continue
        for body in node_subgraphs(node):
            names.update(name for inner in all_nodes(body) for name in (*inner.input, *inner.output))
            names.update(t.name for t in all_initializers(body))
    return names


def inline_constant_ifs(model: onnx.ModelProto) -> int:
    """Replace each top-level If whose condition is a constant with the nodes of the branch it takes.

    graph-surgeon's own inlining (flatten_subgraphs) loses outputs of nested multi-output Ifs; this keeps
    every output: branch nodes move into the graph (names that would collide are renamed) and an Identity
    gives each If output its value. Ifs that a branch brings in are handled by later calls. Returns how many
    If nodes were replaced.
    """
    from onnx import numpy_helper

    graph = model.graph
    constants = _constant_values(graph)
    taken: set[str] | None = None
    replaced = 0
    new_nodes: list[onnx.NodeProto] = []
    for node in graph.node:
        cond = constants.get(node.input[0]) if node.op_type == "If" and node.input else None
        if cond is None:
            new_nodes.append(node)
            continue
        then_branch, else_branch = if_branches(node)
        branch = then_branch if bool(numpy_helper.to_array(cond).reshape(-1)[0]) else else_branch
        if taken is None:
            taken = _names_outside(model, node)
        produced = [t.name for t in branch.initializer] + [
            o for inner in branch.node for o in inner.output if o
        ]
        renames = {}
        for name in produced:
            if name in taken:
                fresh, suffix = f"{name}__{node.name or 'if'}", 1
                while fresh in taken:
                    fresh, suffix = f"{name}__{node.name or 'if'}_{suffix}", suffix + 1
                renames[name] = fresh
            taken.add(renames.get(name, name))
        moved = onnx.GraphProto()
        moved.CopyFrom(branch)
        _rename_in(moved, renames)
        for inner in moved.node:
            inner.output[:] = [renames.get(name, name) for name in inner.output]
            new_nodes.append(inner)
        for tensor in moved.initializer:
            tensor.name = renames.get(tensor.name, tensor.name)
            graph.initializer.append(tensor)
        for result, output in zip(moved.output, node.output, strict=True):
            source = renames.get(result.name, result.name)
            new_nodes.append(helper.make_node("Identity", [source], [output], name=f"{output}__inlined"))
        replaced += 1
    if replaced:
        del graph.node[:]
        graph.node.extend(new_nodes)
    return replaced


def _fold_checked(model: onnx.ModelProto, notes: list[str], max_bytes: int | None = None) -> onnx.ModelProto:
    folded = _fold_passes(model, flatten_subgraphs=True, max_bytes=max_bytes)
    try:
        _check_structure(folded)
    except (onnx.checker.ValidationError, ValueError):
        # graph-surgeon's inlining of constant-condition Ifs broke the graph (seen with nested multi-output
        # Ifs): fold without it, inlining them ourselves between passes.
        folded = _fold_passes(model, flatten_subgraphs=False, max_bytes=max_bytes)
        inlined = 0
        while True:
            count = inline_constant_ifs(folded)
            if not count:
                break
            inlined += count
            # Shapes first: the inlined branch's tensors have none yet, and folding a Shape needs them.
            folded = _fold_passes(infer_shapes(folded), flatten_subgraphs=False, max_bytes=max_bytes)
        _check_structure(folded)
        kept = sum(1 for node in folded.graph.node if node.op_type == "If")
        notes.append(
            f"{inlined} If node(s) with constant conditions inlined" + (f", {kept} kept" if kept else "")
        )
    return folded


def fold(
    model: onnx.ModelProto, weights_dir: Path | None = None, max_bytes: int | None = None
) -> onnx.ModelProto:
    """Fold constants; returns a new model, or the given one where folding cannot run.

    With ``weights_dir`` (the model's folder), the model may still hold references to external data: the
    initializers folding needs are read into it, the others stay references in the result as well.
    """
    start = time.perf_counter()
    before = len(model.graph.node)
    ir_version, note = foldable_ir_version(model)
    notes = [note] if note else []
    if ir_version is None:
        log.LOGGER.warning("warning: %s", note)
        log.stage("fold", time.perf_counter() - start, f"skipped: {note}")
        return model
    model.ir_version = ir_version
    if weights_dir is not None:
        read_weights(model, weights_dir, leave=large_initializers_on_disk(model, 0) - _folding_inputs(model))
    try:
        try:
            folded = _fold_checked(model, notes, max_bytes)
        except Exception as err:
            if raised_in_trtconvert(err) or weights_dir is None or not large_initializers_on_disk(model, 0):
                raise
            # onnxruntime met a weight still on disk, which it cannot read from a model held in memory:
            # fold again with every weight read.
            read_weights(model, weights_dir)
            folded = _fold_checked(model, notes, max_bytes)
    except Exception as err:
        # Folding is an optimisation: a library's failure on this model must not stop the conversion, but an
        # error of ours (a bug, or a deliberate one) is not a folding failure and must not become one.
        if raised_in_trtconvert(err):
            raise
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        log.LOGGER.warning(
            "warning: constant folding failed (%s); continuing with the unfolded model", reason
        )
        folded = model
        notes.append("folding failed, model left unfolded")
    detail = "; ".join([f"{before} -> {len(folded.graph.node)} nodes", *notes])
    log.stage("fold", time.perf_counter() - start, detail)
    return folded
