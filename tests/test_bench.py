"""`bench`: shape choice, statistics and the table on the CPU; the timing itself runs in the tests marked
tensorrt (test_engine_tensorrt.py), on a real engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trtconvert.engine.bench import bench_shape_sets, format_bench, latency_stats, parse_shapes_flag
from trtconvert.engine.machine import import_tensorrt
from trtconvert.errors import BadInput

PROFILES = [
    {
        "input": {"min": [1, 3, 16, 16], "opt": [1, 3, 32, 32], "max": [2, 3, 48, 48]},
        "factor": {"min": [1, 1, 32, 32], "opt": [1, 1, 64, 64], "max": [1, 1, 96, 96]},
    },
    {
        "input": {"min": [4, 3, 64, 64], "opt": [4, 3, 64, 64], "max": [4, 3, 64, 64]},
        "factor": {"min": [1, 1, 128, 128], "opt": [1, 1, 128, 128], "max": [1, 1, 128, 128]},
    },
]


def test_opt_shapes_of_every_profile_with_static_inputs() -> None:
    sets = bench_shape_sets(PROFILES, {"scale": (1,)})
    assert [(s.profile, s.source) for s in sets] == [(0, "opt"), (1, "opt")]
    assert sets[0].shapes == {"scale": (1,), "input": (1, 3, 32, 32), "factor": (1, 1, 64, 64)}
    assert sets[1].label() == "scale=1,input=4x3x64x64,factor=1x1x128x128"
    assert [s.shapes for s in bench_shape_sets([], {"x": (1, 8)})] == [{"x": (1, 8)}]


def test_given_shapes_pick_the_profile_that_holds_them() -> None:
    given = parse_shapes_flag("input=4x3x64x64, factor=1x1x128x128")
    (chosen,) = bench_shape_sets(PROFILES, {}, given)
    assert chosen.profile == 1 and chosen.source == "given"
    (chosen,) = bench_shape_sets(PROFILES, {}, parse_shapes_flag("input=2x3x20x40,factor=1x1x90x33"))
    assert chosen.profile == 0 and chosen.shapes["input"] == (2, 3, 20, 40)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "input=1x3x99x99,factor=1x1x64x64",
            "outside every optimization profile.*input 1x3x16x16..2x3x48x48",
        ),
        ("input=1x3x32x32", "must give every dynamic input; add factor"),
        ("input=1x3x32x32,factor=1x1x64x64,other=1", "names other, which the engine has no input of"),
        ("input=1x3x32x32,factor=1x1x64x64,input=1x3x16x16", "'input' is given twice"),
        ("1x3x32x32", "write NAME=SHAPE"),
        ("input=1x3xax32", "not of the form"),
    ],
)
def test_bad_shapes_are_bad_input(text: str, message: str) -> None:
    with pytest.raises(BadInput, match=message) as refused:
        bench_shape_sets(PROFILES, {}, parse_shapes_flag(text))
    assert refused.value.exit_code == 2


def test_latency_statistics() -> None:
    samples = [float(v) for v in range(1, 101)]  # 1..100 ms
    stats = latency_stats(list(reversed(samples)))
    assert stats == {
        "median_ms": 50.5,
        "p90_ms": 90.0,
        "p99_ms": 99.0,
        "mean_ms": 50.5,
        "min_ms": 1.0,
        "max_ms": 100.0,
    }
    assert latency_stats([3.0])["p99_ms"] == 3.0
    assert latency_stats([1.0, 2.0, 10.0])["median_ms"] == 2.0
    with pytest.raises(ValueError):
        latency_stats([])


def test_table() -> None:
    report = {
        "plan": "sr.plan",
        "tensorrt": "8.5.3.1",
        "gpu": {"name": "NVIDIA H200"},
        "results": [
            {
                "profile": 0,
                "shapes_from": "opt",
                "shapes": {"input": [1, 3, 32, 32]},
                "median_ms": 0.1234,
                "p90_ms": 0.2,
                "p99_ms": 0.25,
                "mean_ms": 0.13,
                "min_ms": 0.1,
                "max_ms": 0.4,
                "throughput_qps": 9000.0,
            }
        ],
    }
    lines = format_bench(report)
    assert lines[0] == "sr.plan on NVIDIA H200, TensorRT 8.5.3.1 (times in ms)"
    assert lines[1].split() == ["profile", "shapes", "median", "p90", "p99", "mean", "min", "max", "qps"]
    assert lines[2].split() == ["0", "opt", "input=1x3x32x32", "0.1234", "0.2000", "0.2500", "0.1300", "0.1000",
                                "0.4000", "9000.0"]  # fmt: skip


@pytest.mark.skipif(import_tensorrt()[0] is not None, reason="TensorRT is installed here")
def test_bench_without_tensorrt_exits_3(run_cli, tmp_path: Path) -> None:
    plan = tmp_path / "m.plan"
    plan.write_bytes(b"not really a plan")
    result = run_cli("bench", plan, "--json")
    assert result.code == 3
    report = json.loads(result.stdout)
    assert report["ok"] is False and "TensorRT" in report["error"]
    assert "Traceback" not in result.stderr


def test_bench_bad_input_before_tensorrt(run_cli, tmp_path: Path) -> None:
    result = run_cli("bench", tmp_path / "missing.plan")
    assert result.code == 2 and "plan file not found" in result.stderr
    plan = tmp_path / "m.plan"
    plan.write_bytes(b"x")
    result = run_cli("bench", plan, "--shapes", "nonsense")
    assert result.code == 2 and "write NAME=SHAPE" in result.stderr
    result = run_cli("bench", plan, "--iterations", "0")
    assert result.code == 2
