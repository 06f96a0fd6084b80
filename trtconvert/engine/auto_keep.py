"""`build --auto-keep-fp32`: when the engine check fails, search for a small set of nodes to keep in fp32 that
makes it pass, with rebuilds bounded by --max-builds.

Candidates, best first: the overflow finder's set (producers and readers of the tensors fp16 cannot hold in an
fp32 run on the verify inputs), then every other node that computes a float tensor from the inputs, by the
largest magnitude it reaches (nearest to fp16's limit first). The search keeps a prefix of that list: it doubles
the prefix from the finder's set (or one node) until a build passes, then bisects between the longest prefix
that failed and the shortest that passed. Every try is a whole `build` with --keep-fp32 set to the prefix,
which writes the plan only when its engine check passes, so the output ends as the smallest passing set's
engine; the rebuilds share one timing cache (--timing-cache, else a temporary one), so only the layers that
changed are timed again. Not done yet: ranking by each layer's own error (the engine's intermediate tensors
against onnxruntime's).
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
from trtconvert.checks.ranges import intermediate_ranges, out_of_range
from trtconvert.errors import BadInput, VerificationFailed
from trtconvert.prepare.fp16_check import NARROW_FLOAT
from trtconvert.prepare.keep_fp32 import keep_fp32_config, keep_fp32_flags
from trtconvert.prepare.pipeline import original_for_onnxruntime, preflight
from trtconvert.settings.request import resolve
from trtconvert.settings.spec import Spec

MAX_CANDIDATES = 64


@dataclass
class Trial:
    nodes: tuple[str, ...]
    passed: bool
    error: float  # the engine check's largest max abs error; 0 for a pass


@dataclass
class SearchResult:
    trials: list[Trial] = field(default_factory=list)

    @property
    def best(self) -> Trial | None:
        passing = [t for t in self.trials if t.passed]
        if passing:
            return min(passing, key=lambda t: len(t.nodes))
        return min(self.trials, key=lambda t: t.error) if self.trials else None

    def to_json(self) -> dict:
        best = self.best
        return {
            "builds": len(self.trials),
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


def rank_candidates(spec: Spec) -> tuple[list[str], int]:
    """The candidates, best first, and how many of them the overflow finder named."""
    request = resolve(spec)
    checked = preflight(request)
    original = original_for_onnxruntime(checked.model_path)
    model = onnx.load(str(original)) if isinstance(original, Path) else original
    from trtconvert.model.profiles import opt_shapes

    shapes = opt_shapes(spec.profiles, checked.inputs)
    ranges = intermediate_ranges(model, checked.inputs, shapes, checked.given, spec.seed)
    found = out_of_range(ranges, NARROW_FLOAT.get(spec.precision, "fp16"))
    by_magnitude = sorted(ranges.values(), key=lambda r: r.max_abs, reverse=True)
    ordered = list(dict.fromkeys([*found.nodes, *(r.producer for r in by_magnitude)]))
    ordered = [name for name in ordered if name not in spec.keep_fp32]
    return ordered[:MAX_CANDIDATES], len(found.nodes)


def _largest_error(measured: dict[str, Any]) -> float:
    results = (measured.get("engine_verification") or {}).get("results") or []
    errors = [float(o.get("max_abs", float("inf"))) for r in results for o in r.get("outputs", [])]
    return max(errors, default=float("inf"))


def run_build_keeping_fp32(spec: Spec, build: Callable[[Spec], dict]) -> dict:
    """``build`` (engine.build.run_build) as --auto-keep-fp32 runs it (module docstring)."""
    with tempfile.TemporaryDirectory(prefix="trtconvert-auto-keep-") as folder:
        shared = dataclasses.replace(
            spec, timing_cache=spec.timing_cache or Path(folder) / "timing.cache", auto_keep_fp32=False
        )
        try:
            return {**build(shared), "auto_keep_fp32": {"builds": 1, "passed": True, "kept": []}}
        except VerificationFailed as failed:
            if "engine_verification" not in failed.measured:
                raise  # the CPU check failed: no engine was built, keeping layers in fp32 cannot help
            first_error = _largest_error(failed.measured)
        candidates, named = rank_candidates(spec)
        budget = spec.max_builds - 1
        log.LOGGER.warning(
            "auto-keep  the engine check failed (max abs %.3g); searching %d candidate node(s) to keep in fp32 "
            "with at most %d more build(s)",
            first_error,
            len(candidates),
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
            return Trial(nodes, True, 0.0)

        result = search_prefix(candidates, max(named, 1), evaluate, budget)
    result.trials.insert(0, Trial((), False, first_error))
    summary = result.to_json()
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
        len(result.trials),
        keep_fp32_flags(nodes),
        keep_fp32_config(nodes).rstrip("\n"),
    )
    return {**reports[best.nodes], "auto_keep_fp32": summary}
