"""Stage `parser checks`: what the target TensorRT's ONNX parser rejects and the CPU stages can already see, said
before any GPU time is spent, each with the fix.

- An If node whose branches give outputs of different shapes: TensorRT's conditional needs both branches to
  agree (every version; seen as "IIfConditionalOutputLayer inputs must have the same shape"). Exporters write
  these for `x.squeeze(0)` under a dynamic batch and for branches on a mode input. When the condition depends on
  input values, --freeze on those inputs folds the If away; when it depends on input shapes, fixing those dims
  in every profile (min = opt = max) lets folding choose the branch.
- A linear or nearest Resize with antialias=1 that may shrink its input (torch's `interpolate(antialias=True)`):
  TensorRT's parser reads no antialias attribute up to 10.1 (onnx-tensorrt's Resize importer), so the engine
  computes a plain resize, and later versions reject it (cubic ones are the rewrite stage's, below).
- An op the target's parser has no importer for yet (LayerNormalization before 8.6, Gelu before 10.0, ...), read
  from onnx-tensorrt's importer lists of each release: the parser fails on the first such node. Likewise an input
  opset 18 added that the parser reads only from 10.0: a reduction's `axes` (ignored before: every axis is
  reduced) and Pad's `axes` (refused before).
- A node the rewrite stage kept (--rewrite none) although the target TensorRT rejects it or computes it otherwise,
  as its decision says (a cubic Resize with antialias=1 on TensorRT 10, say); --rewrite auto replaces it.

Problems exit 2 by default; with --no-check-parser they are warnings and the build is tried anyway.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import onnx

from trtconvert import log
from trtconvert.errors import BadInput
from trtconvert.model.info import all_graphs, all_nodes, if_branches, is_default_domain, node_subgraphs
from trtconvert.prepare.rewrite.types import RewriteDecision
from trtconvert.settings.target import TensorRTTarget


@dataclass(frozen=True)
class ParserProblem:
    node: str
    what: str
    fix: str
    value_inputs: tuple[str, ...] = ()  # graph inputs whose values decide it (--freeze them)
    shape_inputs: tuple[str, ...] = ()  # graph inputs whose dynamic dims decide it (fix them in profiles)
    kept_by_rewrite_none: bool = False
    verdict: str = "will reject"  # what the parser does with the node

    def line(self) -> str:
        if self.kept_by_rewrite_none:
            return f"node {self.node!r} was kept by --rewrite none, but {self.what}; {self.fix}"
        return f"TensorRT's ONNX parser {self.verdict} node {self.node!r}: {self.what}; {self.fix}"


def kept_node_problems(decisions: Sequence[RewriteDecision]) -> list[ParserProblem]:
    """The nodes a rule kept (--rewrite none, or one it cannot rewrite) although the target rejects them or
    computes them otherwise."""
    return [
        ParserProblem(
            d.node,
            d.target_refuses,
            d.fix
            or "drop --rewrite none, and the rewrite stage replaces it with a plugin that computes what ONNX computes",
            kept_by_rewrite_none=not d.fix,
        )
        for d in decisions
        if d.decision == "keep" and d.target_refuses
    ]


def _shape(value: onnx.ValueInfoProto) -> list[int | str | None] | None:
    tensor_type = value.type.tensor_type
    if not tensor_type.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tensor_type.shape.dim]


def _differ(first: list | None, second: list | None) -> bool:
    """Whether two inferred shapes provably differ: another rank, or another value on a static axis."""
    if first is None or second is None:
        return False
    if len(first) != len(second):
        return True
    return any(
        isinstance(a, int) and isinstance(b, int) and a != b for a, b in zip(first, second, strict=True)
    )


def _sources(scopes: Sequence[onnx.GraphProto], tensor: str) -> tuple[set[str], set[str]]:
    """The model inputs whose values, and those whose shapes, a tensor is computed from. ``scopes`` runs from
    the main graph to the subgraph that holds the tensor: a subgraph reads the tensors of every graph around it."""
    producers = {output: node for graph in scopes for node in graph.node for output in node.output}
    inputs = {value.name for value in scopes[0].input}
    values: set[str] = set()
    shapes: set[str] = set()
    stack = [(tensor, False)]
    seen: set[tuple[str, bool]] = set()
    while stack:
        name, through_shape = stack.pop()
        if (name, through_shape) in seen:
            continue
        seen.add((name, through_shape))
        if name in inputs:
            (shapes if through_shape else values).add(name)
            continue
        node = producers.get(name)
        if node is None:
            continue
        shape_only = through_shape or node.op_type in ("Shape", "Size")
        stack.extend((source, shape_only) for source in node.input if source)
    return values, shapes


def _is_data(graph: onnx.GraphProto, name: str) -> bool:
    """Whether a graph input is data a model computes on (a float tensor with a dynamic dim), not a switch or a
    setting that --freeze could fix (a bool, an int, a float scalar such as a sample rate or a threshold)."""
    for value in graph.input:
        if value.name == name:
            tensor_type = value.type.tensor_type
            floating = tensor_type.elem_type in (
                onnx.TensorProto.FLOAT,
                onnx.TensorProto.FLOAT16,
                onnx.TensorProto.BFLOAT16,
                onnx.TensorProto.DOUBLE,
            )
            dims = tensor_type.shape.dim if tensor_type.HasField("shape") else []
            return floating and any(not d.HasField("dim_value") for d in dims)
    return False


def _if_nodes(
    graph: onnx.GraphProto, enclosing: tuple[onnx.GraphProto, ...] = (), path: str = ""
) -> Iterator[tuple[onnx.NodeProto, tuple[onnx.GraphProto, ...], str]]:
    """Every If node of the graph and of all its subgraphs, at any depth (the parser builds each one), with the
    graphs around it and a name that says where it sits."""
    scopes = (*enclosing, graph)
    for node in graph.node:
        label = f"{path}{node.name or node.output[0] if node.output else node.op_type}"
        if node.op_type == "If":
            yield node, scopes, label
        for subgraph in node_subgraphs(node):
            yield from _if_nodes(subgraph, scopes, f"{label}/{subgraph.name or 'branch'}/")


# The first TensorRT whose ONNX parser imports each op, from onnx-tensorrt's importer lists (release/8.5-GA to
# release/10.1-GA); trtconvert targets 8.5 and newer, so ops every one of those imports are not listed.
PARSER_OP_SINCE: dict[str, tuple[int, int]] = {
    "GroupNormalization": (8, 6),
    "IsInf": (8, 6),
    "LayerNormalization": (8, 6),
    "CastLike": (10, 0),
    "Gelu": (10, 0),
    "Hardmax": (10, 0),
    "Mish": (10, 0),
    "DeformConv": (10, 1),
}


# Inputs that opset 18 added to ops TensorRT parsed before, by (op, input index): the first TensorRT whose parser
# reads them, and what the older ones do. The reductions' importers before 10.0 read only their data input, so an
# `axes` input is dropped and every axis is reduced; Pad's importer refuses an `axes` input before 10.0.
_REDUCE_IGNORES_AXES = "reads no axes input (it reduces every axis: another output)"
_AXES_AS_ATTRIBUTE = "re-export at opset 17 or lower (the axes then an attribute)"
PARSER_INPUT_SINCE: dict[tuple[str, int], tuple[tuple[int, int], str, str, str]] = {
    **{
        (op, 1): ((10, 0), "misreads", _REDUCE_IGNORES_AXES, _AXES_AS_ATTRIBUTE)
        for op in (
            "ReduceL1",
            "ReduceL2",
            "ReduceLogSum",
            "ReduceLogSumExp",
            "ReduceMax",
            "ReduceMean",
            "ReduceMin",
            "ReduceProd",
            "ReduceSumSquare",
        )
    },
    ("Pad", 3): (
        (10, 0),
        "will reject",
        "refuses an axes input",
        "re-export at opset 17 or lower (pads then cover every axis)",
    ),
}


def unread_input_problems(model: onnx.ModelProto, target: TensorRTTarget) -> list[ParserProblem]:
    """One problem per op whose opset-18 input the target's parser does not read, in any subgraph."""
    found: dict[tuple[str, int], list[str]] = {}
    for node in all_nodes(model.graph):
        if not is_default_domain(node.domain):
            continue
        for index, name in enumerate(node.input):
            entry = PARSER_INPUT_SINCE.get((node.op_type, index))
            if name and entry is not None and (target.major, target.minor) < entry[0]:
                found.setdefault((node.op_type, index), []).append(node.name or node.output[0])
    problems = []
    for (op, _), nodes in found.items():
        (major, minor), verdict, what, fix = PARSER_INPUT_SINCE[(op, _)]
        others = f" (and {len(nodes) - 1} more {op} node(s))" if len(nodes) > 1 else ""
        problems.append(
            ParserProblem(
                f"{nodes[0]}{others}",
                f"TensorRT {target}'s {op} {what}; {major}.{minor} reads it",
                f"{fix}, or target TensorRT {major}.{minor} or newer (--target-tensorrt)",
                verdict=verdict,
            )
        )
    return problems


def unimported_op_problems(model: onnx.ModelProto, target: TensorRTTarget) -> list[ParserProblem]:
    """One problem per op of the default domain that the target's parser has no importer for, in any subgraph."""
    found: dict[str, list[str]] = {}
    for node in all_nodes(model.graph):
        since = PARSER_OP_SINCE.get(node.op_type) if is_default_domain(node.domain) else None
        if since is not None and (target.major, target.minor) < since:
            found.setdefault(node.op_type, []).append(node.name or (node.output[0] if node.output else ""))
    problems = []
    for op, nodes in found.items():
        major, minor = PARSER_OP_SINCE[op]
        others = f" (and {len(nodes) - 1} more {op} node(s))" if len(nodes) > 1 else ""
        problems.append(
            ParserProblem(
                f"{nodes[0]}{others}" if nodes[0] else op,
                f"TensorRT {target} has no importer for {op} (its parser imports it from {major}.{minor})",
                f"re-export at an opset below the one that introduced {op} (torch then writes it in primitive "
                f"ops), or target TensorRT {major}.{minor} or newer (--target-tensorrt)",
                verdict="cannot import",
            )
        )
    return problems


def _attribute(node: onnx.NodeProto, name: str, default):
    for attribute in node.attribute:
        if attribute.name == name:
            return onnx.helper.get_attribute_value(attribute)
    return default


def _shrinks(node: onnx.NodeProto, constants: dict[str, onnx.TensorProto]) -> bool:
    """Whether a Resize may make an axis smaller: unless its scales are constants of at least 1."""
    scales = constants.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    if scales is None or (len(node.input) > 3 and node.input[3]):
        return True
    from onnx import numpy_helper

    try:
        values = numpy_helper.to_array(scales)
        return values.size == 0 or bool((values < 1).any())
    except Exception:  # noqa: BLE001 - data not loaded (inspect reads the graph alone), or not numbers
        return True


def antialias_problems(model: onnx.ModelProto) -> list[ParserProblem]:
    """Linear and nearest Resize nodes with antialias=1 that may downscale, in every subgraph."""
    constants = {t.name: t for t in model.graph.initializer}
    problems = []
    for graph in all_graphs(model.graph):
        for node in graph.node:
            if node.op_type != "Constant" or not node.output:
                continue
            value = _attribute(node, "value", None)
            if isinstance(value, onnx.TensorProto):
                constants[node.output[0]] = value
    for node in all_nodes(model.graph):
        mode = _attribute(node, "mode", b"nearest")
        mode = mode.decode(errors="replace") if isinstance(mode, bytes) else str(mode)
        if node.op_type != "Resize" or not _attribute(node, "antialias", 0) or mode == "cubic":
            continue
        if _shrinks(node, constants):
            problems.append(
                ParserProblem(
                    node.name or node.output[0],
                    f"a {mode} Resize with antialias=1 that may downscale (up to 10.1 the parser reads no "
                    "antialias and builds a plain resize, another output; later versions reject it)",
                    "re-export with antialias off (torch: interpolate(..., antialias=False))",
                    verdict="ignores or rejects",
                )
            )
    return problems


def find_problems(model: onnx.ModelProto, target: TensorRTTarget | None = None) -> list[ParserProblem]:
    """The parser problems visible in ``model`` (shape-inferred where onnx can), in every subgraph; ops the
    ``target``'s parser cannot import where one is given."""
    from trtconvert.prepare.fold import infer_shapes

    problems = unimported_op_problems(model, target) + unread_input_problems(model, target) if target else []
    problems += antialias_problems(model)
    inferred = infer_shapes(model)  # in place, without copying large weights; unchanged where it fails
    for node, scopes, label in _if_nodes(inferred.graph):
        then_branch, else_branch = if_branches(node)
        then_outputs, else_outputs = then_branch.output, else_branch.output
        for index, (then_value, else_value) in enumerate(zip(then_outputs, else_outputs, strict=False)):
            then_shape, else_shape = _shape(then_value), _shape(else_value)
            if not _differ(then_shape, else_shape):
                continue
            values, shapes = _sources(scopes, node.input[0])
            fixes = []
            data = sorted(v for v in values if _is_data(scopes[0], v))
            if data:
                # Freezing the very tensor the model computes on would leave nothing to run: only a re-export helps.
                fixes.append(
                    f"its condition is computed from the data of input(s) {', '.join(data)} (as "
                    "`x[:, :2] if x.sum() > 0 else x`), which no profile or --freeze can fix: re-export the model "
                    "so that both branches give the same shape"
                )
                values = set()
            if values:
                fixes.append(
                    "freeze the input(s) it depends on: "
                    + " ".join(f"--freeze {v}=VALUE" for v in sorted(values))
                )
            if shapes:
                fixes.append(
                    f"fix the dynamic dims of input(s) {', '.join(sorted(shapes))} in every --profile "
                    "(min = opt = max) so that folding can choose the branch"
                )
            if not fixes:
                fixes.append("re-export the model so that both branches give the same shape")
            problems.append(
                ParserProblem(
                    label,
                    f"an If whose branches give output {index} different shapes ({then_shape} and {else_shape})",
                    ", or ".join(fixes),
                    tuple(sorted(values)),
                    tuple(sorted(shapes)),
                )
            )
            break
    return problems


def check_parser_limits(
    model: onnx.ModelProto,
    enforce: bool,
    decisions: Sequence[RewriteDecision] = (),
    target: TensorRTTarget | None = None,
) -> list[ParserProblem]:
    """Report the problems, with those of the rewrite stage's ``decisions``; BadInput (exit 2) naming the first
    with its fix unless ``enforce`` is off."""
    start = time.perf_counter()
    problems = kept_node_problems(decisions) + find_problems(model, target)
    if not problems:
        log.stage("parser", time.perf_counter() - start, "nothing the ONNX parser is known to reject")
        return problems
    # Refused, the first problem is the error line: the others are warnings above it, each said once.
    for problem in problems[1:] if enforce else problems:
        log.LOGGER.warning("warning: %s", problem.line())
    if enforce:
        more = f" (and {len(problems) - 1} more above)" if len(problems) > 1 else ""
        raise BadInput(f"{problems[0].line()}{more}; or pass --no-check-parser to try anyway")
    log.stage(
        "parser",
        time.perf_counter() - start,
        f"{len(problems)} problem(s), trying anyway (--no-check-parser)",
    )
    return problems
