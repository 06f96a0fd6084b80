"""`bench`: shape choice, statistics and the table on the CPU; the timing itself runs in the tests marked
tensorrt (test_engine_tensorrt.py), on a real engine."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from trtconvert.engine.bench import (
    bench_shape_sets,
    check_comparable,
    format_bench,
    latency_stats,
    layer_table,
    parse_shapes_flag,
    profile_holding,
)
from trtconvert.engine.machine import import_tensorrt
from trtconvert.errors import BadInput
from trtconvert.model.info import GraphTensor

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


# --layers, --compare and --cuda-graph: what is computed from TensorRT's reports and what is refused, on the CPU.
# The timing and the profiler themselves run on a real engine in test_engine_tensorrt.py.


def test_layer_table_sorts_by_time_with_shares_and_marks_plugins() -> None:
    summed = {"conv1": 3.0, "resize_plugin": 9.0, "Reformatting CopyNode": 0.5, "relu": 3.0}
    types = {"conv1": "CaskConvolution", "resize_plugin": "PluginV2", "relu": "PointWiseV2"}
    table = layer_table(summed, 10, types)
    assert [row["name"] for row in table["layers"]] == [
        "resize_plugin",
        "conv1",
        "relu",
        "Reformatting CopyNode",
    ]
    plugin, conv = table["layers"][0], table["layers"][1]
    assert plugin["mean_ms"] == pytest.approx(0.9) and plugin["share"] == pytest.approx(9.0 / 15.5)
    assert plugin["plugin"] is True and conv["plugin"] is False
    assert table["layers"][3]["type"] is None  # a layer the inspector did not list keeps no type
    assert table["total_ms"] == pytest.approx(1.55)
    assert sum(row["share"] for row in table["layers"]) == pytest.approx(1.0, abs=1e-5)
    assert table["types_known"] is True


def test_layer_table_without_types_marks_nothing() -> None:
    table = layer_table({"a": 1.0, "b": 2.0}, 4, None)
    assert table["types_known"] is False
    assert [(row["name"], row["plugin"]) for row in table["layers"]] == [("b", False), ("a", False)]
    assert table["layers"][0]["mean_ms"] == pytest.approx(0.5)
    with pytest.raises(ValueError):
        layer_table({"a": 1.0}, 0)


def _inputs(*specs: tuple[str, str, tuple]) -> list[GraphTensor]:
    return [GraphTensor(name, dtype, dims) for name, dtype, dims in specs]


def test_compare_accepts_plans_with_the_same_inputs_in_any_order() -> None:
    first = _inputs(("input", "float32", (-1, 3, -1, -1)), ("factor", "float32", (1, 1, -1, -1)))
    second = _inputs(("factor", "float32", (1, 1, -1, -1)), ("input", "float32", (-1, 3, 64, 64)))
    check_comparable(first, second, "a.plan", "b.plan")  # a static dim where the other is dynamic is fine


@pytest.mark.parametrize(
    ("second", "words"),
    [
        (_inputs(("input", "float32", (1, 3, 8, 8)), ("scale", "float32", (1,))), ["only a.plan has factor",
                                                                                   "only b.plan has scale"]),
        (_inputs(("input", "float16", (1, 3, 8, 8)), ("factor", "float32", (1, 1, 8, 8))), ["'input' is float32",
                                                                                            "float16"]),
        (_inputs(("input", "float32", (3, 8, 8)), ("factor", "float32", (1, 1, 8, 8))), ["rank 4", "rank 3"]),
    ],
)  # fmt: skip
def test_compare_refuses_plans_with_other_inputs(second, words) -> None:
    first = _inputs(("input", "float32", (1, 3, 8, 8)), ("factor", "float32", (1, 1, 8, 8)))
    with pytest.raises(BadInput) as refused:
        check_comparable(first, second, "a.plan", "b.plan")
    assert refused.value.exit_code == 2
    for word in words:
        assert word in str(refused.value)


def test_compare_finds_the_second_plans_profile_for_the_shapes() -> None:
    shapes = {"input": (4, 3, 64, 64), "factor": (1, 1, 128, 128)}
    assert profile_holding(PROFILES, {}, shapes, "b.plan") == 1
    assert profile_holding(PROFILES, {}, {"input": (1, 3, 20, 20), "factor": (1, 1, 40, 40)}, "b.plan") == 0
    # A plan of static shapes has no profiles to choose; its shapes must equal the ones timed.
    assert profile_holding([], shapes, shapes, "b.plan") == 0


def test_compare_refuses_shapes_the_second_plan_cannot_run() -> None:
    with pytest.raises(BadInput, match="no optimization profile of b.plan holds input=8x3x64x64"):
        profile_holding(PROFILES, {}, {"input": (8, 3, 64, 64), "factor": (1, 1, 128, 128)}, "b.plan")
    with pytest.raises(BadInput, match="b.plan fixes input 'input' to 1x3x32x32"):
        profile_holding([], {"input": (1, 3, 32, 32)}, {"input": (1, 3, 48, 48)}, "b.plan")


def _result(median: float, layers: dict | None = None) -> dict:
    row = {"profile": 0, "shapes_from": "opt", "shapes": {"input": [1, 3, 32, 32]}, "median_ms": median,
           "p90_ms": median, "p99_ms": median, "mean_ms": median, "min_ms": median, "max_ms": median,
           "throughput_qps": 1000.0 / median, "cuda_graph": True}  # fmt: skip
    if layers is not None:
        row["layers"] = layers
    return row


def test_table_with_compare_layers_and_cuda_graph() -> None:
    layers = layer_table({"conv": 0.25, "DynamicTRTResize_0": 0.75}, 1, {"conv": "CaskConvolution",
                                                                         "DynamicTRTResize_0": "PluginV2"})  # fmt: skip
    report = {
        "plan": "plugin.plan",
        "tensorrt": "8.5.3.1",
        "gpu": {"name": "NVIDIA H100"},
        "cuda_graph": True,
        "results": [_result(0.2, layers)],
        "compare": {"plan": "native.plan", "results": [_result(0.3)], "median_ratios": [1.5]},
    }
    lines = format_bench(report)
    assert lines[0].endswith("(times in ms, each inference a CUDA graph launch)")
    assert "native.plan on the same inputs" in lines
    assert "median native.plan / plugin.plan at input=1x3x32x32: 1.500x" in lines
    layer_lines = [line for line in lines if line.strip().startswith(("0.7500", "0.2500"))]
    assert layer_lines[0].split() == ["0.7500", "75.0%", "PluginV2", "DynamicTRTResize_0", "<-", "plugin"]
    assert layer_lines[1].split() == ["0.2500", "25.0%", "CaskConvolution", "conv"]


def test_bench_compare_is_checked_before_tensorrt(run_cli, tmp_path: Path) -> None:
    plan = tmp_path / "m.plan"
    plan.write_bytes(b"x")
    result = run_cli("bench", plan, "--compare", plan)
    assert result.code == 2 and "is the plan being timed" in result.stderr
    result = run_cli("bench", plan, "--compare", tmp_path / "other.plan")
    assert result.code == 2 and "not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_bench_flags_reach_the_timing(run_cli, tmp_path: Path, monkeypatch) -> None:
    # Argument level: what the command hands to the engine layer (the timing itself needs TensorRT).
    seen = {}

    def fake_run_bench(request):
        options = request.options
        seen.update(cuda_graph=options.cuda_graph, layers=options.layers, compare=request.compare,
                    plan=request.plan, iterations=options.iterations)  # fmt: skip
        return {"ok": True, "command": "bench", "results": []}

    monkeypatch.setattr("trtconvert.engine.bench.run_bench", fake_run_bench)
    result = run_cli("bench", tmp_path / "a.plan", "--cuda-graph", "--layers", "--compare", tmp_path / "b.plan",
                     "--iterations", "7", "--json")  # fmt: skip
    assert result.code == 0, result.stderr
    assert seen == {"cuda_graph": True, "layers": True, "compare": tmp_path / "b.plan", "plan": tmp_path / "a.plan",
                    "iterations": 7}  # fmt: skip


def test_a_tensor_type_numpy_lacks_is_refused_naming_the_input() -> None:
    """TensorRT 9 to 11 bind bfloat16, fp8, int4 and fp4 tensors, for which ``trt.nptype`` raises TypeError (the
    bindings' __init__.py at NVIDIA/TensorRT v10.0.1, v10.16 and v11.1: "Could not resolve TensorRT datatype");
    bench names the input instead of failing with a traceback. Argument level: a stand-in for that one function,
    no TensorRT here."""
    from types import SimpleNamespace

    from trtconvert.engine.bench import numpy_type

    def nptype(tensor_type: str) -> type:
        if tensor_type == "BF16":
            raise TypeError("Could not resolve TensorRT datatype to an equivalent numpy datatype.")
        return {"FLOAT": np.float32, "INT32": np.int32}[tensor_type]

    trt = SimpleNamespace(nptype=nptype)
    assert numpy_type(trt, "INT32", "input 'ids' of the engine") == np.dtype(np.int32)
    with pytest.raises(
        BadInput, match=r"input 'x' of the engine is of TensorRT type BF16, which numpy has no type"
    ):
        numpy_type(trt, "BF16", "input 'x' of the engine")


# --- the same checks from the sidecars, before TensorRT ------------------------------------------------------


def _plan_with_sidecar(folder: Path, io: list[dict], profiles: list[str], frozen: dict | None = None) -> Path:
    from plan_factories import plan_with_sidecar

    outputs = [{"name": "y", "dtype": "float32", "dims": [1]}]
    return plan_with_sidecar(
        folder, "m.plan", {"inputs": io, "outputs": outputs}, profiles, tensorrt="8.5.3.1", frozen=frozen
    )


def test_bench_refuses_from_the_sidecars_before_tensorrt(run_cli, tmp_path: Path) -> None:
    """Shapes outside the plan's profiles and a --compare plan of other inputs or narrower profiles are bad input
    on any machine (exit 2), not a missing TensorRT; what the sidecars allow goes on to TensorRT (exit 3 here)."""
    if import_tensorrt()[0] is not None:
        pytest.skip("TensorRT is installed here: the allowed runs would really run")
    cls = [{"name": "x", "dtype": "float32", "dims": ["n", 3, 48, 192]}]
    wide = _plan_with_sidecar(tmp_path / "wide", cls, ["x=1x3x48x192:4x3x48x192:8x3x48x192"])
    narrow = _plan_with_sidecar(tmp_path / "narrow", cls, ["x=1x3x48x192:2x3x48x192:2x3x48x192"])
    half = [{"name": "x", "dtype": "float16", "dims": ["n", 3, 48, 192]}]
    other_type = _plan_with_sidecar(tmp_path / "fp16in", half, ["x=1x3x48x192:4x3x48x192:8x3x48x192"])
    vad = [
        {"name": "input", "dtype": "float32", "dims": ["batch", "samples"]},
        {"name": "state", "dtype": "float32", "dims": [2, "batch", 128]},
        {"name": "sr", "dtype": "int64", "dims": []},
    ]
    frozen = {"sr": {"shape": [], "dtype": "int64", "value": 16000}}
    vad_plan = _plan_with_sidecar(
        tmp_path / "vad", vad, ["input=1x512:1x512:1x512,state=2x1x128:2x4x128:2x8x128"], frozen
    )
    cases = [
        ((wide, "--shapes", "x=9x3x48x192", "--cuda-graph"), 2, "outside every optimization profile"),
        ((wide, "--compare", narrow), 2, "no optimization profile of"),
        ((wide, "--compare", other_type, "--layers"), 2, "'x' is float32"),
        ((vad_plan, "--shapes", "state=2x9x128"), 2, "outside every optimization profile"),
        ((wide, "--compare", narrow, "--shapes", "x=2x3x48x192"), 3, "TensorRT"),
        # input is fixed by its profile (static in the engine) and sr frozen: state alone is a complete --shapes.
        ((vad_plan, "--shapes", "state=2x3x128"), 3, "TensorRT"),
    ]
    for args, code, words in cases:
        result = run_cli("bench", *args, "--json")
        assert result.code == code, (args, result.stderr)
        assert words in json.loads(result.stdout)["error"], (args, result.stdout)
