"""Stage `parser checks`: what the target TensorRT's ONNX parser rejects and the CPU stages can already see, said
before any GPU time is spent, each with the fix.

- An If node whose branches give outputs of different shapes: TensorRT's conditional needs both branches to
  agree (every version; seen as "IIfConditionalOutputLayer inputs must have the same shape"). Exporters write
  these for `x.squeeze(0)` under a dynamic batch and for branches on a mode input. When the condition depends on
  input values, --freeze on those inputs folds the If away; when it depends on input shapes, fixing those dims
  in every profile (min = opt = max) lets folding choose the branch.
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
from trtconvert.model.info import if_branches, node_subgraphs
from trtconvert.prepare.rewrite.types import RewriteDecision


@dataclass(frozen=True)
class ParserProblem:
    node: str
    what: str
    fix: str
    value_inputs: tuple[str, ...] = ()  # graph inputs whose values decide it (--freeze them)
    shape_inputs: tuple[str, ...] = ()  # graph inputs whose dynamic dims decide it (fix them in profiles)
    kept_by_rewrite_none: bool = False

    def line(self) -> str:
        if self.kept_by_rewrite_none:
            return f"node {self.node!r} was kept by --rewrite none, but {self.what}; {self.fix}"
        return f"TensorRT's ONNX parser will reject node {self.node!r}: {self.what}; {self.fix}"


def kept_node_problems(decisions: Sequence[RewriteDecision]) -> list[ParserProblem]:
    """The nodes --rewrite none kept although the target rejects them or computes them otherwise."""
    return [
        ParserProblem(
            d.node,
            d.target_refuses,
            "drop --rewrite none, and the rewrite stage replaces it with a plugin that computes what ONNX computes",
            kept_by_rewrite_none=True,
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


def find_problems(model: onnx.ModelProto) -> list[ParserProblem]:
    """The parser problems visible in ``model`` (shape-inferred where onnx can), in every subgraph."""
    from trtconvert.prepare.fold import infer_shapes

    inferred = infer_shapes(model)  # in place, without copying large weights; unchanged where it fails
    problems = []
    for node, scopes, label in _if_nodes(inferred.graph):
        then_branch, else_branch = if_branches(node)
        then_outputs, else_outputs = then_branch.output, else_branch.output
        for index, (then_value, else_value) in enumerate(zip(then_outputs, else_outputs, strict=False)):
            then_shape, else_shape = _shape(then_value), _shape(else_value)
            if not _differ(then_shape, else_shape):
                continue
            values, shapes = _sources(scopes, node.input[0])
            fixes = []
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
    model: onnx.ModelProto, enforce: bool, decisions: Sequence[RewriteDecision] = ()
) -> list[ParserProblem]:
    """Report the problems, with those of the rewrite stage's ``decisions``; BadInput (exit 2) naming the first
    with its fix unless ``enforce`` is off."""
    start = time.perf_counter()
    problems = kept_node_problems(decisions) + find_problems(model)
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
