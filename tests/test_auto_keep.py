"""build --auto-keep-fp32: the search over prefixes of the ranked candidates, the ranking, and the loop around
build, with build replaced by a stand-in that passes once the kept set covers what the test says (the real
rebuilds need TensorRT: test_precision_tensorrt.py)."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest
from model_factories import overflow_model

from trtconvert.engine.auto_keep import Trial, rank_candidates, run_build_keeping_fp32, search_prefix
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
    candidates, named = rank_candidates(Spec(model=source, precision="fp16", verify=True))
    assert named == 2 and candidates[:2] == ["big_matmul", "scale_back"]
    assert set(candidates) == {"shift", "big_matmul", "scale_back", "relu"}


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


def test_the_loop_keeps_the_smallest_passing_set_and_reports_it(tmp_path: Path, caplog) -> None:
    source = tmp_path / "m.onnx"
    onnx.save(overflow_model(), source)
    spec = make_spec(None, {"model": source, "precision": "fp16", "verify": True, "auto_keep_fp32": True})
    built: list[list[str]] = []

    def build(trial: Spec) -> dict:
        built.append(list(trial.keep_fp32))
        assert trial.timing_cache is not None and not trial.auto_keep_fp32
        if {"big_matmul", "scale_back"} <= set(trial.keep_fp32):
            return {"ok": True, "precision": {"keep_fp32": {n: [n] for n in trial.keep_fp32}}}
        raise _engine_failure(float("inf"))

    report = run_build_keeping_fp32(spec, build)
    assert built == [[], ["big_matmul", "scale_back"], ["big_matmul"]]
    assert report["auto_keep_fp32"]["passed"] and report["auto_keep_fp32"]["kept"] == [
        "big_matmul",
        "scale_back",
    ]
    assert report["auto_keep_fp32"]["builds"] == 3
    assert report["precision"]["keep_fp32"] == {"big_matmul": ["big_matmul"], "scale_back": ["scale_back"]}
    err = caplog.text
    assert "--keep-fp32 big_matmul --keep-fp32 scale_back" in err and "keep_fp32:\n  - 'big_matmul'" in err


def test_the_loop_exits_4_with_the_best_set_when_none_passes(tmp_path: Path) -> None:
    source = tmp_path / "m.onnx"
    onnx.save(overflow_model(), source)
    spec = make_spec(
        None, {"model": source, "precision": "fp16", "verify": True, "auto_keep_fp32": True, "max_builds": 3}
    )

    def build(trial: Spec) -> dict:
        raise _engine_failure(1.0 / (1 + len(trial.keep_fp32)))

    with pytest.raises(
        VerificationFailed, match=r"within --max-builds 3; the best tried kept 4 node\(s\)"
    ) as failed:
        run_build_keeping_fp32(spec, build)
    summary = failed.value.measured["auto_keep_fp32"]
    assert summary["builds"] == 3 and not summary["passed"]
    json.dumps(summary)


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
