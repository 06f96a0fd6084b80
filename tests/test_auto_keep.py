"""build --auto-keep-fp32: the search over prefixes of the ranked candidates, the ranking, and the loop around
build, with build and the diagnostic build replaced by stand-ins: build passes once the kept set covers what
the test says, the diagnostic returns the tensor errors the test gives (the real builds and the real
diagnostic need TensorRT: test_precision_tensorrt.py). The arithmetic of the ranking: test_node_error.py."""

from __future__ import annotations

import json
import math
from pathlib import Path

import onnx
import pytest
from model_factories import cancellation_model, overflow_model

from trtconvert.cli.options import json_text
from trtconvert.engine.auto_keep import Trial, find_candidates, run_build_keeping_fp32, search_prefix
from trtconvert.engine.layer_errors import LayerErrors
from trtconvert.errors import BadInput, VerificationFailed
from trtconvert.settings.spec import Spec, make_spec

NAMES = [f"n{i}" for i in range(20)]


def _passes_from(needed: int):
    calls: list[int] = []

    def evaluate(nodes: tuple[str, ...]) -> Trial:
        calls.append(len(nodes))
        return Trial(nodes, len(nodes) >= needed, 0.0 if len(nodes) >= needed else 1.0 / len(nodes))

    return evaluate, calls


def test_search_doubles_then_bisects_to_the_shortest_passing_prefix() -> None:
    evaluate, calls = _passes_from(5)
    result = search_prefix(NAMES, 1, evaluate, max_builds=10)
    assert calls == [1, 2, 4, 8, 6, 5]
    assert result.best.passed and result.best.nodes == tuple(NAMES[:5])


def test_search_starts_from_the_finders_set() -> None:
    evaluate, calls = _passes_from(2)
    result = search_prefix(NAMES, 2, evaluate, max_builds=10)
    assert calls == [2, 1] and result.best.nodes == ("n0", "n1")


def test_search_stops_at_the_bound_with_the_best_it_found() -> None:
    evaluate, calls = _passes_from(19)
    result = search_prefix(NAMES, 1, evaluate, max_builds=3)
    assert calls == [1, 2, 4]
    assert not result.best.passed and result.best.nodes == tuple(NAMES[:4])  # the lowest error
    assert result.to_json()["builds"] == 3


def test_search_ends_when_every_candidate_failed() -> None:
    evaluate, calls = _passes_from(99)
    search_prefix(NAMES[:3], 1, evaluate, max_builds=10)
    assert calls == [1, 2, 3]


def test_candidates_start_with_the_finders_set(tmp_path: Path) -> None:
    source = tmp_path / "m.onnx"
    onnx.save(overflow_model(), source)
    candidates = find_candidates(Spec(model=source, precision="fp16", verify=True))
    assert candidates.finder == ["big_matmul", "scale_back"]
    assert set(candidates.by_magnitude) == {"shift", "relu"}
    assert set(candidates.ranges) == {"shifted", "large", "scaled", "y"}
    order = candidates.ranked()
    assert [n.node for n in order[:2]] == ["big_matmul", "scale_back"]
    assert {n.ranked_by for n in order[2:]} == {"magnitude"}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"auto_keep_fp32": True, "precision": "fp16"}, "needs --verify"),
        ({"auto_keep_fp32": True, "verify": True}, "applies only to a reduced float precision"),
        ({"auto_keep_fp32": True, "verify": True, "precision": "fp16", "max_builds": 1}, "at least 2"),
        ({"max_builds": 4}, "applies only to --auto-keep-fp32"),
    ],
)
def test_auto_keep_settings_are_checked(overrides: dict, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        make_spec(None, overrides)


def _engine_failure(error: float) -> VerificationFailed:
    results = [{"outputs": [{"name": "y", "max_abs": error, "ok": False}]}]
    return VerificationFailed(f"engine differs by {error}", {"engine_verification": {"results": results}})


# What the diagnostic of the overflow model's fp16 engine measures: the MatMul overflows (inf from finite inputs),
# the Mul and the Relu pass the inf on, the Add rounds its output.
OVERFLOW_ERRORS = {"shifted": 2e-4, "large": math.inf, "scaled": math.inf, "y": math.inf}


class _Diagnostic:
    """A stand-in for engine.layer_errors.measure_layer_errors that records what it was handed."""

    def __init__(self, errors: dict[str, float], failed: str = "") -> None:
        self.errors, self.failed = errors, failed
        self.calls: list[tuple[Spec, list[str]]] = []

    def __call__(self, spec: Spec, tensors) -> LayerErrors:
        self.calls.append((spec, list(tensors)))
        if self.failed:
            return LayerErrors(failed=self.failed)
        return LayerErrors(errors=dict(self.errors), marked=len(self.errors))


def _builds_passing_with(needed: set[str], built: list[list[str]], caches: list):
    def build(trial: Spec) -> dict:
        built.append(list(trial.keep_fp32))
        caches.append(trial.timing_cache)
        assert not trial.auto_keep_fp32
        if needed <= set(trial.keep_fp32):
            return {"ok": True, "precision": {"keep_fp32": {n: [n] for n in trial.keep_fp32}}}
        raise _engine_failure(float("inf"))

    return build


def test_the_loop_keeps_the_smallest_passing_set_and_reports_it(tmp_path: Path, caplog) -> None:
    source = tmp_path / "m.onnx"
    onnx.save(overflow_model(), source)
    spec = make_spec(None, {"model": source, "precision": "fp16", "verify": True, "auto_keep_fp32": True})
    built: list[list[str]] = []
    caches: list = []
    diagnostic = _Diagnostic(OVERFLOW_ERRORS)
    report = run_build_keeping_fp32(
        spec, _builds_passing_with({"big_matmul", "scale_back"}, built, caches), diagnostic
    )
    assert built == [[], ["big_matmul", "scale_back"], ["big_matmul"]]
    searched = report["auto_keep_fp32"]
    assert searched["passed"] and searched["kept"] == ["big_matmul", "scale_back"]
    assert searched["builds"] == 4  # the first, the diagnostic, two searching
    assert report["precision"]["keep_fp32"] == {"big_matmul": ["big_matmul"], "scale_back": ["scale_back"]}
    assert searched["ranking"] == [
        {"node": "big_matmul", "gain": math.inf, "ranked_by": "finder"},
        {"node": "scale_back", "gain": 0.0, "ranked_by": "finder"},
        {"node": "shift", "gain": 2e-4, "ranked_by": "error gain"},
        {"node": "relu", "gain": 0.0, "ranked_by": "error gain"},
    ]
    assert (
        searched["unranked"] == 0
        and searched["diagnostic"]["ran"]
        and searched["diagnostic"]["compared"] == 4
    )
    json.dumps(json.loads(json_text(report)))
    err = caplog.text
    assert "ranked: big_matmul +inf (finder), scale_back +0 (finder), shift +0.0002 (error gain)" in err
    assert "0 of 4 unranked" in err
    assert "--keep-fp32 big_matmul --keep-fp32 scale_back" in err and "keep_fp32:\n  - 'big_matmul'" in err


def test_the_diagnostic_marks_every_tracked_tensor_and_shares_the_builds_timing_cache(tmp_path: Path) -> None:
    """Argument level: what the diagnostic build is handed (what it hands TensorRT: test_mark_outputs.py)."""
    source, cache = tmp_path / "m.onnx", tmp_path / "ci" / "timing.cache"
    onnx.save(overflow_model(), source)
    spec = make_spec(
        None,
        {"model": source, "precision": "fp16", "verify": True, "auto_keep_fp32": True, "timing_cache": cache},
    )
    caches: list = []
    diagnostic = _Diagnostic(OVERFLOW_ERRORS)
    run_build_keeping_fp32(spec, _builds_passing_with({"big_matmul", "scale_back"}, [], caches), diagnostic)
    [(handed, tensors)] = diagnostic.calls
    assert sorted(tensors) == ["large", "scaled", "shifted", "y"]
    assert handed.timing_cache == cache and set(caches) == {cache}
    assert not handed.auto_keep_fp32 and handed.keep_fp32 == []
    # Without --timing-cache the builds and the diagnostic share a temporary one.
    spec = make_spec(None, {"model": source, "precision": "fp16", "verify": True, "auto_keep_fp32": True})
    caches = []
    diagnostic = _Diagnostic(OVERFLOW_ERRORS)
    run_build_keeping_fp32(spec, _builds_passing_with({"big_matmul", "scale_back"}, [], caches), diagnostic)
    assert len(set(caches)) == 1 and diagnostic.calls[0][0].timing_cache == caches[0] is not None


def test_the_ranking_by_gain_puts_the_cancelling_node_before_larger_ones(tmp_path: Path) -> None:
    """The finder names nothing in the cancellation model; by magnitude the MatMuls come first, by gain the Sub."""
    source = tmp_path / "m.onnx"
    onnx.save(cancellation_model(rows=4, width=16), source)
    spec = make_spec(None, {"model": source, "precision": "fp16", "verify": True, "auto_keep_fp32": True})
    candidates = find_candidates(spec)
    assert candidates.finder == [] and candidates.by_magnitude.index("cancel") == 2
    errors = {"a": 3e-4, "b": 2e-4, "difference": 0.02, "y": 0.02}
    built: list[list[str]] = []
    report = run_build_keeping_fp32(
        spec, _builds_passing_with({"cancel", "matmul_a", "matmul_b"}, built, []), _Diagnostic(errors)
    )
    searched = report["auto_keep_fp32"]
    assert [r["node"] for r in searched["ranking"]] == ["cancel", "matmul_a", "matmul_b", "halve"]
    assert searched["ranking"][0]["gain"] == pytest.approx(0.02 - 3e-4)
    assert built[1:] == [
        ["cancel"],
        ["cancel", "matmul_a"],
        ["cancel", "matmul_a", "matmul_b", "halve"],
        ["cancel", "matmul_a", "matmul_b"],
    ]
    assert searched["kept"] == ["cancel", "matmul_a", "matmul_b"] and searched["builds"] == 6


def test_unmeasured_tensors_leave_their_nodes_unranked_in_their_magnitude_place(
    tmp_path: Path, caplog
) -> None:
    source = tmp_path / "m.onnx"
    onnx.save(cancellation_model(rows=4, width=16), source)
    spec = make_spec(None, {"model": source, "precision": "fp16", "verify": True, "auto_keep_fp32": True})
    by_magnitude = find_candidates(spec).by_magnitude
    errors = {
        "b": 2e-4,
        "difference": 0.02,
        "y": 0.02,
    }  # TensorRT could not mark a: matmul_a and cancel unranked
    report = run_build_keeping_fp32(spec, _builds_passing_with({"cancel"}, [], []), _Diagnostic(errors))
    searched = report["auto_keep_fp32"]
    ranking = [(r["node"], r["ranked_by"]) for r in searched["ranking"]]
    assert {node for node, how in ranking if how == "magnitude"} == {"matmul_a", "cancel"}
    assert [node for node, _ in ranking].index("cancel") == by_magnitude.index("cancel")
    assert searched["unranked"] == 2 and "2 of 4 unranked" in caplog.text


@pytest.mark.parametrize("max_builds", [2, 8])
def test_without_a_diagnostic_the_order_is_by_magnitude(tmp_path: Path, max_builds: int) -> None:
    """--max-builds 2 leaves no room for the diagnostic; a diagnostic that fails counts as a build and leaves the
    magnitude order."""
    source = tmp_path / "m.onnx"
    onnx.save(cancellation_model(rows=4, width=16), source)
    spec = make_spec(
        None,
        {
            "model": source,
            "precision": "fp16",
            "verify": True,
            "auto_keep_fp32": True,
            "max_builds": max_builds,
        },
    )
    diagnostic = _Diagnostic({}, failed="the diagnostic build failed: out of memory")
    built: list[list[str]] = []
    with pytest.raises(VerificationFailed) as failed:
        run_build_keeping_fp32(spec, _builds_passing_with({"never"}, built, []), diagnostic)
    searched = failed.value.measured["auto_keep_fp32"]
    assert [r["ranked_by"] for r in searched["ranking"]] == ["magnitude"] * 4
    assert [r["node"] for r in searched["ranking"]] == find_candidates(spec).by_magnitude
    # 8: the first, the diagnostic, then 1, 2 and all 4 candidates kept, all failing: nothing more to try.
    assert len(built) == {2: 2, 8: 4}[max_builds] and searched["builds"] == {2: 2, 8: 5}[max_builds]
    if max_builds == 2:
        assert diagnostic.calls == [] and searched["diagnostic"] == {
            "ran": False,
            "why": "--max-builds 2 leaves no build for the diagnostic",
        }
    else:
        assert len(diagnostic.calls) == 1 and "out of memory" in searched["diagnostic"]["failed"]


def test_the_loop_exits_4_with_the_best_set_when_none_passes(tmp_path: Path) -> None:
    source = tmp_path / "m.onnx"
    onnx.save(overflow_model(), source)
    spec = make_spec(
        None, {"model": source, "precision": "fp16", "verify": True, "auto_keep_fp32": True, "max_builds": 4}
    )

    def build(trial: Spec) -> dict:
        raise _engine_failure(1.0 / (1 + len(trial.keep_fp32)))

    with pytest.raises(
        VerificationFailed, match=r"within --max-builds 4; the best tried kept 4 node\(s\)"
    ) as failed:
        run_build_keeping_fp32(spec, build, _Diagnostic(OVERFLOW_ERRORS))
    summary = failed.value.measured["auto_keep_fp32"]
    assert summary["builds"] == 4 and not summary["passed"] and len(summary["tried"]) == 3
    json.dumps(json.loads(json_text(summary)))


def test_a_set_that_does_not_build_is_a_failed_trial_and_the_search_goes_on(tmp_path: Path, caplog) -> None:
    from trtconvert.errors import BuildFailed

    source = tmp_path / "m.onnx"
    onnx.save(overflow_model(), source)
    spec = make_spec(None, {"model": source, "precision": "fp16", "verify": True, "auto_keep_fp32": True})
    built: list[list[str]] = []
    passing = _builds_passing_with({"big_matmul", "scale_back"}, built, [])

    def build(trial: Spec) -> dict:
        if trial.keep_fp32 == ["big_matmul"]:
            built.append(list(trial.keep_fp32))
            raise BuildFailed("no implementation obeys all the precision constraints")
        return passing(trial)

    report = run_build_keeping_fp32(spec, build, _Diagnostic(OVERFLOW_ERRORS))
    searched = report["auto_keep_fp32"]
    assert searched["passed"] and searched["kept"] == ["big_matmul", "scale_back"]
    assert ["big_matmul"] in built
    assert "this set did not build: no implementation obeys" in caplog.text


def test_a_failing_cpu_check_is_not_searched(tmp_path: Path) -> None:
    spec = Spec(model=tmp_path / "m.onnx", precision="fp16", verify=True, auto_keep_fp32=True)

    def build(trial: Spec) -> dict:
        raise VerificationFailed("prepared model differs", {"verification": []})

    with pytest.raises(VerificationFailed, match="prepared model differs"):
        run_build_keeping_fp32(spec, build)


def test_cli_refuses_auto_keep_where_it_cannot_search(run_cli, tmp_path: Path) -> None:
    source = tmp_path / "m.onnx"
    onnx.save(overflow_model(), source)
    no_verify = run_cli("build", source, "-o", tmp_path / "m.plan", "--precision", "fp16", "--auto-keep-fp32")
    assert no_verify.code == 2 and "needs --verify" in no_verify.stderr
    config = tmp_path / "c.yaml"
    config.write_text("precision: fp16\nverify: true\nauto_keep_fp32: true\n")
    prepared = run_cli("prepare", source, "-o", tmp_path / "o.onnx", "--config", config)
    assert prepared.code == 2 and "applies to `build`" in prepared.stderr
