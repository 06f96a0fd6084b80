"""What fp16 does to intermediate tensors, on the CPU: the per-node fp16 emulation of the TensorRT 11 check, and
the overflow finder's fp32 ranges with its pasteable --keep-fp32 set (for converted models a failing check, for
builder flags a warning before the build and a line after a failing engine check)."""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
from model_factories import if_overflow_model, loop_overflow_model, overflow_model, weight_overflow_model
from onnx import TensorProto, helper, numpy_helper

from trtconvert.checks.fp16_emulation import CannotEmulate, emulate_fp16
from trtconvert.checks.ranges import TensorRange, constant_ranges, intermediate_ranges, out_of_range
from trtconvert.model.info import graph_inputs
from trtconvert.prepare.precision import precision_stage
from trtconvert.settings.precision_plan import precision_plan
from trtconvert.settings.target import TensorRTTarget

needs_converter = pytest.mark.skipif(
    importlib.util.find_spec("onnxconverter_common") is None, reason="onnxconverter-common is not installed"
)
FP16_FOR_11 = precision_plan("fp16", TensorRTTarget(11, 0))


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def _x(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, size=(4, 16)).astype(np.float32)


@needs_converter
def test_onnxruntime_hides_the_fp16_overflow_and_the_emulation_shows_it() -> None:
    converted, _ = precision_stage(overflow_model(), FP16_FOR_11)
    # onnxruntime runs the fp16 MatMul and Mul in fp32 and drops the fp16 tensor between them.
    assert np.all(np.isfinite(_run(converted, _x())))
    assert np.all(np.isinf(_run(emulate_fp16(converted), _x())))


@needs_converter
def test_the_emulation_matches_fp32_within_fp16_where_nothing_overflows() -> None:
    model = overflow_model()
    model.graph.initializer[0].CopyFrom(
        numpy_helper.from_array(numpy_helper.to_array(model.graph.initializer[0]) / 100, "weight")
    )
    converted, _ = precision_stage(model, FP16_FOR_11)
    want, got = _run(model, _x(1)), _run(emulate_fp16(converted), _x(1))
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, want, rtol=2e-3, atol=1e-3)
    assert not np.array_equal(got, want)  # the fp16 rounding is really there


def test_the_emulation_rounds_cast_and_constant_outputs_to_fp16() -> None:
    nodes = [
        helper.make_node("Cast", ["x"], ["h"], to=TensorProto.FLOAT16),
        helper.make_node(
            "Constant", [], ["c"], value=numpy_helper.from_array(np.array(1e-4, np.float16), "c")
        ),
        helper.make_node("Mul", ["h", "c"], ["small"]),
        helper.make_node("Cast", ["small"], ["y"], to=TensorProto.FLOAT),
    ]
    graph = helper.make_graph(
        nodes,
        "casts",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 16])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    x = _x(2) * 1e-3  # times 1e-4: about 1e-7, at fp16's subnormal spacing (6e-8)
    got = _run(emulate_fp16(model), x)
    expected = (x.astype(np.float16).astype(np.float32) * np.float32(np.float16(1e-4))).astype(np.float16)
    np.testing.assert_array_equal(got, expected.astype(np.float32))


def test_fp16_graph_inputs_are_not_emulated() -> None:
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "io16",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT16, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT16, [2])],
    )
    with pytest.raises(CannotEmulate, match="graph input or output"):
        emulate_fp16(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))


def test_ranges_name_producers_and_readers_and_skip_constants() -> None:
    model = overflow_model()
    # A constant product past fp16's range: fold turns it into a weight, it is no runtime tensor.
    big = numpy_helper.from_array(np.array(400.0, np.float32), "big")
    model.graph.initializer.append(big)
    model.graph.node.insert(0, helper.make_node("Mul", ["big", "big"], ["big_sq"], name="const_square"))
    inputs = graph_inputs(model)
    ranges = intermediate_ranges(model, inputs, [{"x": (4, 16)}, {"x": (4, 16)}], {}, seed=7)
    assert "big_sq" not in ranges
    assert set(ranges) == {"shifted", "large", "scaled", "y"}
    assert ranges["large"].producer == "big_matmul" and ranges["large"].consumers == ("scale_back",)
    assert ranges["large"].max_abs > 65504 and ranges["y"].max_abs < 50
    found = out_of_range(ranges, "fp16")
    assert [t.name for t, _ in found.tensors] == ["large"]
    assert found.nodes == ("big_matmul", "scale_back")
    assert not out_of_range(ranges, "bf16")
    assert not out_of_range(ranges, "fp16", kept=["big_matmul", "scale_back"])
    # A producer kept but a reader not: the reader would still read it in fp16.
    assert out_of_range(ranges, "fp16", kept=["big_matmul"]).nodes == ("big_matmul", "scale_back")


def test_a_tensor_that_fp16_flushes_to_zero_is_out_of_range() -> None:
    tiny = TensorRange("t", "p", ("c",))
    tiny.add(np.array([0.0, 3e-8, -1e-8], np.float32))
    assert "makes it zero" in tiny.problem("fp16")
    fine = TensorRange("f", "p", ())
    fine.add(np.array([0.0, 1e-8, 1e-3], np.float32))  # some values survive: precision, not range
    assert fine.problem("fp16") is None
    zero = TensorRange("z", "p", ())
    zero.add(np.zeros(3, np.float32))
    assert zero.problem("fp16") is None


def _flags(stderr: str) -> list[str]:
    line = next(line for line in stderr.splitlines() if "keep them and their readers in fp32:" in line)
    return shlex.split(line.split("keep them and their readers in fp32:", 1)[1])


@needs_converter
def test_tensorrt_11_fp16_check_fails_on_the_overflow_and_the_printed_flags_pass(
    run_cli, tmp_path: Path
) -> None:
    source = tmp_path / "overflow.onnx"
    onnx.save(overflow_model(), source)
    out = tmp_path / "fp16.onnx"
    args = ["prepare", source, "-o", out, "--precision", "fp16", "--target-tensorrt", "11", "--verify"]
    failed = run_cli(*args, "--json")
    assert failed.code == 4, failed.stderr
    assert not out.exists()
    assert "tensor 'large' from big_matmul reaches" in failed.stderr and "past fp16's 65504" in failed.stderr
    flags = _flags(failed.stderr)
    assert flags == ["--keep-fp32", "big_matmul", "--keep-fp32", "scale_back"]
    report = json.loads(failed.stdout)
    assert report["exit_code"] == 4 and report["out_of_range"]["keep_fp32"] == ["big_matmul", "scale_back"]
    passed = run_cli(*args, *flags)
    assert passed.code == 0, passed.stderr
    assert re.search(r"y: max abs [0-9.e-]+, max rel [0-9.e-]+  ok", passed.stderr)


@needs_converter
def test_a_failure_without_overflow_says_it_is_precision(run_cli, tmp_path: Path) -> None:
    source = tmp_path / "m.onnx"
    onnx.save(overflow_model(), source)
    result = run_cli(
        "prepare", source, "-o", tmp_path / "o.onnx", "--precision", "fp16", "--target-tensorrt", "11",
        "--keep-fp32", "big_matmul", "--keep-fp32", "scale_back", "--verify", "--atol", "1e-6", "--rtol", "1e-6",
    )  # fmt: skip
    assert result.code == 4
    assert (
        "no intermediate tensor leaves fp16's range in fp32, so the difference is its precision"
        in result.stderr
    )


def test_builder_flags_warn_with_the_same_set_before_the_build(run_cli, tmp_path: Path) -> None:
    source = tmp_path / "overflow.onnx"
    onnx.save(overflow_model(), source)
    result = run_cli(
        "prepare",
        source,
        "-o",
        tmp_path / "o.onnx",
        "--precision",
        "fp16",
        "--target-tensorrt",
        "10",
        "--verify",
    )
    assert result.code == 0, result.stderr
    assert "warning: TensorRT fp16 would compute out of range here" in result.stderr
    assert _flags(result.stderr) == ["--keep-fp32", "big_matmul", "--keep-fp32", "scale_back"]
    kept = run_cli(
        "prepare", source, "-o", tmp_path / "o.onnx", "--precision", "fp16", "--target-tensorrt", "10",
        "--verify", "--keep-fp32", "big_matmul", "--keep-fp32", "scale_back",
    )  # fmt: skip
    assert kept.code == 0 and "out of range" not in kept.stderr


def test_a_failing_engine_check_prints_the_set_again(tmp_path: Path, monkeypatch) -> None:
    """The plumbing after verify_engine (which needs TensorRT): its failure gains the finder's flags."""
    from trtconvert.engine import build as engine_build
    from trtconvert.errors import VerificationFailed
    from trtconvert.prepare.pipeline import preflight
    from trtconvert.settings.request import resolve
    from trtconvert.settings.spec import Spec

    source = tmp_path / "overflow.onnx"
    onnx.save(overflow_model(), source)
    request = resolve(Spec(model=source, precision="fp16", verify=True), "8.5.3")
    checked = preflight(request)

    def fails(*args):
        raise VerificationFailed("engine output y differs", {"results": []})

    monkeypatch.setattr(engine_build, "verify_engine", fails)
    with pytest.raises(VerificationFailed) as failed:
        engine_build._engine_check(request, checked, {})(tmp_path / "staged.plan")
    assert "engine output y differs; in fp32 on the verify inputs" in str(failed.value)
    assert str(failed.value).endswith("--keep-fp32 big_matmul --keep-fp32 scale_back")
    assert failed.value.measured["out_of_range"]["keep_fp32"] == ["big_matmul", "scale_back"]


@needs_converter
def test_a_finder_that_cannot_run_leaves_the_checks_verdict(run_cli, tmp_path: Path, monkeypatch) -> None:
    def cannot(*args, **kwargs):
        raise ValueError("Message onnx.ModelProto exceeds maximum protobuf size of 2GB")

    monkeypatch.setattr("trtconvert.prepare.fp16_check.intermediate_ranges", cannot)
    source = tmp_path / "overflow.onnx"
    onnx.save(overflow_model(), source)
    result = run_cli(
        "prepare",
        source,
        "-o",
        tmp_path / "o.onnx",
        "--precision",
        "fp16",
        "--target-tensorrt",
        "11",
        "--verify",
    )
    assert result.code == 4
    assert "the overflow finder could not run: Message onnx.ModelProto exceeds" in result.stderr
    assert "try --no-fold / --rewrite none" in result.stderr and "is its precision" not in result.stderr


def test_build_warns_before_the_build(run_cli, tmp_path: Path) -> None:
    """On a machine without TensorRT the CPU stages and checks run, then build stops with exit 3: the warning
    came before anything was built."""
    from tensorrt_machine import TRT

    if TRT is not None:
        pytest.skip("TensorRT is installed here: the build would run (test_precision_tensorrt.py covers it)")
    source = tmp_path / "overflow.onnx"
    onnx.save(overflow_model(), source)
    result = run_cli(
        "build",
        source,
        "-o",
        tmp_path / "m.plan",
        "--precision",
        "fp16",
        "--target-tensorrt",
        "10",
        "--verify",
    )
    assert result.code == 3, result.stderr
    warned = result.stderr.index("warning: TensorRT fp16 would compute out of range here")
    assert warned < result.stderr.index("error:")
    assert _flags(result.stderr) == ["--keep-fp32", "big_matmul", "--keep-fp32", "scale_back"]


# --- If and Loop bodies -------------------------------------------------------------------------------------


@needs_converter
@pytest.mark.parametrize(
    ("factory", "producer", "flags"),
    [
        (if_overflow_model, "t_big' from then_matmul", ["then_matmul", "then_scale"]),
        (loop_overflow_model, "big' from loop_matmul", ["loop_matmul", "loop_scale"]),
    ],
)
def test_an_overflow_inside_a_body_fails_the_check_and_the_printed_flags_pass(
    run_cli, tmp_path: Path, factory, producer: str, flags: list[str]
) -> None:
    """The emulation rounds body tensors too, the finder sees them (summarised by the body itself), the flags
    name body nodes, and the conversion really keeps them fp32 (inputs widened, no fp16 round trip between)."""
    source = tmp_path / "body.onnx"
    onnx.save(factory(), source)
    out = tmp_path / "fp16.onnx"
    args = ["prepare", source, "-o", out, "--precision", "fp16", "--target-tensorrt", "11", "--verify"]
    failed = run_cli(*args)
    assert failed.code == 4, failed.stderr
    assert f"tensor '{producer} reaches" in failed.stderr and "past fp16's 65504" in failed.stderr
    printed = _flags(failed.stderr)
    assert printed == [item for name in flags for item in ("--keep-fp32", name)]
    passed = run_cli(*args, *printed)
    assert passed.code == 0, passed.stderr
    assert "fp16 emulated node by node" in passed.stderr
    # Builder flags (TensorRT 10): the same set, as a warning before the build.
    warned = run_cli(
        "prepare",
        source,
        "-o",
        tmp_path / "b.onnx",
        "--precision",
        "fp16",
        "--target-tensorrt",
        "10",
        "--verify",
    )
    assert warned.code == 0 and _flags(warned.stderr) == printed


def test_body_ranges_are_recorded_per_tensor_with_their_producers() -> None:
    model = loop_overflow_model()
    ranges = intermediate_ranges(model, graph_inputs(model), [{"x": (4, 64)}], {}, seed=3)
    big = next(r for r in ranges.values() if r.name == "big")
    assert big.producer == "loop_matmul" and big.consumers == ("loop_scale",)
    x = np.random.default_rng(
        3
    )  # the checks' own inputs are not reproduced here: a bound that any [-1, 1] input meets
    del x
    assert big.max_abs > 65504
    # The body computes in fp32 what numpy computes: the first iteration's product at least.
    scan = next(r for r in ranges.values() if r.name == "scan")
    assert 0 < scan.max_abs < 1e4 and scan.min_nonzero_abs > 0


def test_the_emulation_rounds_inside_bodies() -> None:
    converted, _ = precision_stage(if_overflow_model(), FP16_FOR_11)
    x = np.random.default_rng(2).uniform(-1, 1, size=(4, 64)).astype(np.float32)
    assert np.all(np.isfinite(_run(converted, x)))  # onnxruntime hides it
    assert np.any(np.isinf(_run(emulate_fp16(converted), x)))


def test_the_emulation_leaves_integer_outputs_and_rounds_to_bf16() -> None:
    """TopK's indices are int64 and stay so; a bf16 model (which onnxruntime's CPU cannot run) runs emulated."""
    nodes = [
        helper.make_node("Cast", ["x"], ["x_narrow"], to=TensorProto.BFLOAT16),
        helper.make_node("Mul", ["x_narrow", "k"], ["scaled"]),
        helper.make_node("TopK", ["scaled", "two"], ["top", "indices"], axis=1),
        helper.make_node("Cast", ["top"], ["y"], to=TensorProto.FLOAT),
    ]
    bf16_k = helper.make_tensor("k", TensorProto.BFLOAT16, [], [1.0 + 2.0**-10])  # exactly 1 in bf16
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 5])],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 2]),
            helper.make_tensor_value_info("indices", TensorProto.INT64, [3, 2]),
        ],
        [bf16_k, numpy_helper.from_array(np.array([2], np.int64), "two")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    x = np.random.default_rng(4).uniform(-3, 3, size=(3, 5)).astype(np.float32)
    session = onnxruntime.InferenceSession(
        emulate_fp16(model, "bf16").SerializeToString(), providers=["CPUExecutionProvider"]
    )
    y, indices = session.run(None, {"x": x})
    assert indices.dtype == np.int64
    np.testing.assert_array_equal(indices, np.argsort(-x, axis=1)[:, :2])
    # bf16 keeps 8 significant bits: the values are x rounded to bf16, times k rounded to bf16 (exactly 1).
    x_bf16 = (x.view(np.uint32) + 0x7FFF + ((x.view(np.uint32) >> 16) & 1)) & 0xFFFF0000
    want = np.sort(x_bf16.view(np.float32), axis=1)[:, ::-1][:, :2]
    np.testing.assert_array_equal(y, want)


# --- weights past the range ----------------------------------------------------------------------------------


def test_weights_read_at_run_time_have_ranges_without_a_producer() -> None:
    model = weight_overflow_model()
    weights = constant_ranges(model)
    assert set(weights) == {"w", "k"}  # the initializer and the Constant node's value
    assert weights["w"].producer == "" and weights["w"].consumers == ("divide",)
    assert weights["w"].max_abs == pytest.approx(2e5) and weights["k"].max_abs == pytest.approx(5e4)
    found = out_of_range(weights, "fp16")
    assert [t.name for t, _ in found.tensors] == ["w"]
    assert (
        found.nodes == ("divide",) and found.producers == ()
    )  # fold makes it a weight: only readers to keep


@needs_converter
def test_a_weight_past_fp16_fails_the_check_naming_its_readers_and_the_flags_pass(
    run_cli, tmp_path: Path
) -> None:
    """The converter clamps the weight to 65504, which onnxruntime's own fp16 shows too; the finder names the
    weight and the node reading it, and keeping that node keeps the weight fp32."""
    source = tmp_path / "w.onnx"
    onnx.save(weight_overflow_model(), source)
    args = [
        "prepare",
        source,
        "-o",
        tmp_path / "o.onnx",
        "--precision",
        "fp16",
        "--target-tensorrt",
        "11",
        "--verify",
    ]
    failed = run_cli(*args)
    assert failed.code == 4, failed.stderr
    assert "weight 'w' reaches 2e+05, past fp16's 65504" in failed.stderr
    assert _flags(failed.stderr) == ["--keep-fp32", "divide"]
    passed = run_cli(*args, *_flags(failed.stderr))
    assert passed.code == 0, passed.stderr


@needs_converter
def test_ppocr_det_fp16_check_names_the_batchnorm_whose_variance_fp16_clamps(
    run_cli, tmp_path: Path, shared_models: Path
) -> None:
    """A real model: PP-OCRv4 det holds a BatchNormalization variance of 9.8e7. Its TensorRT 11 fp16 check fails
    (the conversion clamps the variance), the finder names that node, and keeping it passes the check."""
    args = [
        "prepare", shared_models / "ppocr_v4_det.onnx", "-o", tmp_path / "det.onnx", "--precision", "fp16",
        "--target-tensorrt", "11", "--profile", "x=1x3x64x64:1x3x128x128:1x3x256x256", "--verify",
    ]  # fmt: skip
    failed = run_cli(*args)
    assert failed.code == 4, failed.stderr
    assert "weight 'batch_norm_0.w_2' reaches 9.79e+07, past fp16's 65504" in failed.stderr
    flags = _flags(failed.stderr)
    assert flags == ["--keep-fp32", "p2o.BatchNormalization.1"]
    passed = run_cli(*args, *flags)
    assert passed.code == 0, passed.stderr
