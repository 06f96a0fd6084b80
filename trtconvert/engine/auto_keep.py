"""`build --auto-keep-fp32`: when the engine check fails, search for a small set of nodes to keep in fp32 that
makes it pass, with rebuilds bounded by --max-builds.

Candidates: every node that computes a float tensor from the inputs. Before the search, one diagnostic build
(counted in --max-builds, skipped when the bound leaves no build for the search after it) marks every such
tensor as an output of the reduced-precision engine where TensorRT allows it, and runs it beside onnxruntime's
fp32 run of the original (engine.layer_errors); each node's gain is the error its outputs carry beyond its
inputs', relative to the tensors' fp32 magnitude (checks.node_error states the metric). Order, best first: the
overflow finder's set (producers and readers of the tensors fp16 cannot hold in an fp32 run on the verify
inputs), then the other nodes by gain; a node the diagnostic could not measure (its tensor was not marked, or
an input of it was not) keeps its place in the order by the largest magnitude it reaches (nearest to fp16's
limit first), and the report counts those as unranked. Without the diagnostic (it failed, or the bound is too
small), the order is the finder's set, then magnitude.

The search keeps a prefix of that list: it doubles the prefix from the finder's set (or one node) until a build
passes, then bisects between the longest prefix that failed and the shortest that passed. Every try is a whole
`build` with --keep-fp32 set to the prefix, which writes the plan only when its engine check passes, so the
output ends as the smallest passing set's engine; the rebuilds and the diagnostic build share one timing cache
(--timing-cache, else a temporary one), so only the layers that changed are timed again.

Error that a node's inputs bring is not its gain: a node that cancels two rounded values (a - b for close a and
b) shows the gain, while the rounding it amplifies happened in its producers, so such a node passes only with
them kept too; the doubling reaches them when they rank next.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnx

from trtconvert import log
from trtconvert.checks.node_error import RankedNode, node_gains, rank_by_gain
from trtconvert.checks.ranges import TensorRange, intermediate_ranges, out_of_range
from trtconvert.engine.layer_errors import LayerErrors, measure_layer_errors
from trtconvert.errors import BadInput, BuildFailed, VerificationFailed
from trtconvert.prepare.fp16_check import NARROW_FLOAT
from trtconvert.prepare.keep_fp32 import keep_fp32_config, keep_fp32_flags
from trtconvert.prepare.pipeline import original_for_onnxruntime, preflight
from trtconvert.settings.request import resolve
from trtconvert.settings.spec import Spec

MAX_CANDIDATES = 64
SHOWN_IN_THE_LOG = 5


@dataclass
class Trial:
    nodes: tuple[str, ...]
    passed: bool
    error: float  # the engine check's largest max abs error; 0 for a pass


@dataclass
class SearchResult:
    trials: list[Trial] = field(default_factory=list)
    other_builds: int = 0  # builds that tried no set: the diagnostic build

    @property
    def best(self) -> Trial | None:
        passing = [t for t in self.trials if t.passed]
        if passing:
            return min(passing, key=lambda t: len(t.nodes))
        return min(self.trials, key=lambda t: t.error) if self.trials else None

    def to_json(self) -> dict:
        best = self.best
        return {
            "builds": len(self.trials) + self.other_builds,
            "passed": bool(best and best.passed),
            "kept": list(best.nodes) if best else [],
            "error": best.error if best else None,
            "tried": [{"nodes": len(t.nodes), "passed": t.passed, "error": t.error} for t in self.trials],
        }


def search_prefix(
    candidates: Sequence[str], first: int, evaluate: Callable[[tuple[str, ...]], Trial], max_builds: int
) -> SearchResult:
    """Keep the shortest prefix of ``candidates`` that passes, in at most ``max_builds`` evaluations: double from
    ``first`` until one passes, then bisect. Evaluations are counted by the caller's budget only."""
    result = SearchResult()
    if not candidates or max_builds < 1:
        return result
    failed_at, passed_at = 0, None
    size = max(1, min(first, len(candidates)))
    while len(result.trials) < max_builds:
        trial = evaluate(tuple(candidates[:size]))
        result.trials.append(trial)
        if trial.passed:
            passed_at = size
            break
        failed_at = size
        if size == len(candidates):
            return result
        size = min(2 * size, len(candidates))
    while passed_at is not None and passed_at - failed_at > 1 and len(result.trials) < max_builds:
        middle = (failed_at + passed_at) // 2
        trial = evaluate(tuple(candidates[:middle]))
        result.trials.append(trial)
        if trial.passed:
            passed_at = middle
        else:
            failed_at = middle
    return result


@dataclass
class Candidates:
    """The nodes the search may keep, before the diagnostic: the overflow finder's set, every other node by the
    largest magnitude it reaches, and the tensors behind both (the ones the diagnostic marks)."""

    finder: list[str]
    by_magnitude: list[str]
    ranges: dict[str, TensorRange]

    def ranked(self, gains: dict[str, float] | None = None) -> list[RankedNode]:
        """Best first (module docstring), at most MAX_CANDIDATES."""
        return rank_by_gain(self.finder, self.by_magnitude, gains or {})[:MAX_CANDIDATES]


def find_candidates(spec: Spec) -> Candidates:
    """The finder's set and the magnitude order, from an fp32 run of the original on the verify inputs."""
    request = resolve(spec)
    checked = preflight(request)
    original = original_for_onnxruntime(checked.model_path)
    model = onnx.load(str(original)) if isinstance(original, Path) else original
    from trtconvert.model.profiles import opt_shapes

    shapes = opt_shapes(spec.profiles, checked.inputs)
    ranges = intermediate_ranges(model, checked.inputs, shapes, checked.given, spec.seed)
    found = out_of_range(ranges, NARROW_FLOAT.get(spec.precision, "fp16"))
    by_magnitude = sorted(ranges.values(), key=lambda r: r.max_abs, reverse=True)
    kept = set(spec.keep_fp32)
    finder = [name for name in found.nodes if name not in kept]
    rest = [name for name in dict.fromkeys(r.producer for r in by_magnitude) if name not in kept]
    return Candidates(finder, [name for name in rest if name not in set(finder)], ranges)


@dataclass
class Ranking:
    """The candidates in the order the search takes them, and how the order came about."""

    nodes: list[RankedNode]
    diagnostic: dict  # what the diagnostic build measured, or why it did not run

    @property
    def unranked(self) -> int:
        return sum(1 for node in self.nodes if node.ranked_by == "magnitude")

    def to_json(self) -> dict:
        return {
            "ranking": [node.to_json() for node in self.nodes],
            "unranked": self.unranked,
            "diagnostic": self.diagnostic,
        }

    def summary(self) -> str:
        """One line: the top few with their gains, and how many were left unranked."""
        shown = ", ".join(
            node.node + (f" {node.gain:+.2g}" if node.gain is not None else "") + f" ({node.ranked_by})"
            for node in self.nodes[:SHOWN_IN_THE_LOG]
        )
        more = f" and {len(self.nodes) - SHOWN_IN_THE_LOG} more" if len(self.nodes) > SHOWN_IN_THE_LOG else ""
        return f"{shown}{more}; {self.unranked} of {len(self.nodes)} unranked (by magnitude)"


Diagnose = Callable[[Spec, Sequence[str]], LayerErrors]


def rank_with_diagnostic(shared: Spec, candidates: Candidates, diagnose: Diagnose) -> tuple[Ranking, int]:
    """The candidates ranked by the diagnostic build's gains where the bound leaves room for it; the ranking
    and the number of builds it took (0 or 1)."""
    if shared.max_builds < 3:
        why = f"--max-builds {shared.max_builds} leaves no build for the diagnostic"
        return Ranking(candidates.ranked(), {"ran": False, "why": why}), 0
    if not candidates.ranges:
        return Ranking(
            candidates.ranked(), {"ran": False, "why": "no intermediate float tensor to measure"}
        ), 0
    log.LOGGER.warning(
        "auto-keep  diagnostic build: the engine with %d intermediate tensor(s) marked as outputs, to rank the "
        "nodes by the error each adds",
        len(candidates.ranges),
    )
    measured = diagnose(shared, list(candidates.ranges))
    if measured.failed:
        log.LOGGER.warning("auto-keep  %s; ranking by fp32 magnitude instead", measured.failed)
        return Ranking(candidates.ranked(), {"ran": True, **measured.to_json()}), 1
    gains = node_gains(candidates.ranges.values(), measured.errors)
    return Ranking(candidates.ranked(gains), {"ran": True, **measured.to_json()}), 1


def _largest_error(measured: dict[str, Any]) -> float:
    results = (measured.get("engine_verification") or {}).get("results") or []
    errors = [float(o.get("max_abs", float("inf"))) for r in results for o in r.get("outputs", [])]
    return max(errors, default=float("inf"))


def run_build_keeping_fp32(
    spec: Spec, build: Callable[[Spec], dict], diagnose: Diagnose = measure_layer_errors
) -> dict:
    """``build`` (engine.build.run_build) as --auto-keep-fp32 runs it, with ``diagnose``
    (engine.layer_errors.measure_layer_errors) as its diagnostic build (module docstring)."""
    with tempfile.TemporaryDirectory(prefix="trtconvert-auto-keep-") as folder:
        shared = dataclasses.replace(
            spec, timing_cache=spec.timing_cache or Path(folder) / "timing.cache", auto_keep_fp32=False
        )
        try:
            report = build(shared)
        except VerificationFailed as failed:
            if "engine_verification" not in failed.measured:
                raise  # the CPU check failed: no engine was built, keeping layers in fp32 cannot help
            first_error = _largest_error(failed.measured)
        else:
            return {**report, "auto_keep_fp32": {"builds": 1, "passed": True, "kept": [], "ranking": []}}
        log.LOGGER.warning("auto-keep  the engine check failed (max abs %.3g)", first_error)
        candidates = find_candidates(spec)
        ranking, diagnostic_builds = rank_with_diagnostic(shared, candidates, diagnose)
        budget = spec.max_builds - 1 - diagnostic_builds
        log.LOGGER.warning("auto-keep  ranked: %s", ranking.summary())
        log.LOGGER.warning(
            "auto-keep  searching %d candidate node(s) to keep in fp32 with at most %d more build(s)",
            len(ranking.nodes),
            budget,
        )
        reports: dict[tuple[str, ...], dict] = {}

        def evaluate(nodes: tuple[str, ...]) -> Trial:
            log.LOGGER.warning(
                "auto-keep  build with %d node(s) kept fp32: %s", len(nodes), keep_fp32_flags(nodes)
            )
            try:
                reports[nodes] = build(dataclasses.replace(shared, keep_fp32=[*spec.keep_fp32, *nodes]))
            except VerificationFailed as failed:
                return Trial(nodes, False, _largest_error(failed.measured))
            except BadInput as bad:  # a candidate that the prepared graph lacks
                log.LOGGER.warning("auto-keep  skipped: %s", bad)
                return Trial(nodes, False, float("inf"))
            except (
                BuildFailed
            ) as failed:  # TensorRT found no tactic for these layers in fp32: try the next set
                log.LOGGER.warning("auto-keep  this set did not build: %s", failed)
                return Trial(nodes, False, float("inf"))
            return Trial(nodes, True, 0.0)

        order = [node.node for node in ranking.nodes]
        result = search_prefix(order, max(len(candidates.finder), 1), evaluate, budget)
    result.trials.insert(0, Trial((), False, first_error))
    result.other_builds = diagnostic_builds
    summary = {**result.to_json(), **ranking.to_json()}
    best = result.best
    assert best is not None
    if not best.passed:
        raise VerificationFailed(
            f"no set of nodes kept in fp32 passed the engine check within --max-builds {spec.max_builds}; the best "
            f"tried kept {len(best.nodes)} node(s), max abs {best.error:.3g}: "
            f"{keep_fp32_flags([*spec.keep_fp32, *best.nodes]) or 'none'}; raise --max-builds, or accept more with "
            "--atol/--rtol",
            {"auto_keep_fp32": summary},
        )
    nodes = [*spec.keep_fp32, *best.nodes]
    log.LOGGER.warning(
        "auto-keep  passed with %d node(s) kept fp32 after %d build(s); to make it permanent, add to the command: "
        "%s\n          or to the config:\n%s",
        len(nodes),
        summary["builds"],
        keep_fp32_flags(nodes),
        keep_fp32_config(nodes).rstrip("\n"),
    )
    return {**reports[best.nodes], "auto_keep_fp32": summary}
