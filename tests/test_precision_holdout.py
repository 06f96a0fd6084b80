"""Precision control on models where fp16 goes wrong in different ways: the TensorRT 11 check fails (exit 4)
where the GPU would overflow, the builder-flag path (8.5-10) warns with the same set, and the printed
--keep-fp32 flags, pasted back, pass. Each model is a few nodes with tiny shapes."""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from tensorrt_machine import NEEDS_TENSORRT_AND_GPU

needs_converter = pytest.mark.skipif(
    importlib.util.find_spec("onnxconverter_common") is None, reason="onnxconverter-common is not installed"
)
FLAGS_AFTER = "keep them and their readers in fp32:"


def _value(name: str, shape: list[int], element: int = TensorProto.FLOAT) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, element, shape)


def _weight(name: str, value) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(value, np.float32), name)


def _model(nodes, inputs, outputs, weights) -> onnx.ModelProto:
    model = helper.make_model(
        helper.make_graph(nodes, "holdout", inputs, outputs, weights),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def _large_weight(name: str, shape: tuple[int, ...], seed: int) -> onnx.TensorProto:
    """Weights of about 5000: a product of 16 inputs in [1, 3] by them passes fp16's 65504."""
    return _weight(name, 5000 * np.random.default_rng(seed).uniform(0.9, 1.1, size=shape))


def shared_factor_model() -> onnx.ModelProto:
    """x -> +2 -> *300 -> *300 (up to 2.7e5) -> *1e-5: both Muls by 300 read one weight, so keeping the second
    and not the first shares a weight between a kept node and a converted one."""
    nodes = [
        helper.make_node("Add", ["x", "two"], ["a"], name="shift"),
        helper.make_node("Mul", ["a", "k300"], ["b"], name="mul_1"),
        helper.make_node("Mul", ["b", "k300"], ["d"], name="mul_2"),
        helper.make_node("Mul", ["d", "small"], ["y"], name="mul_3"),
    ]
    weights = [_weight("two", 2.0), _weight("k300", 300.0), _weight("small", 1e-5)]
    return _model(nodes, [_value("x", [4, 16])], [_value("y", [4, 16])], weights)


def exp_softmax_model() -> onnx.ModelProto:
    """A softmax written out: Exp of logits in [0, 16] (up to 8.9e6), ReduceSum, Div; the Exp's output has two
    readers, both to keep with it."""
    nodes = [
        helper.make_node("Mul", ["x", "eight"], ["m"], name="times_eight"),
        helper.make_node("Add", ["m", "eight"], ["logits"], name="plus_eight"),
        helper.make_node("Exp", ["logits"], ["e"], name="exp"),
        helper.make_node("ReduceSum", ["e", "axis"], ["z"], name="sum", keepdims=1),
        helper.make_node("Div", ["e", "z"], ["y"], name="normalize"),
    ]
    weights = [_weight("eight", 8.0), numpy_helper.from_array(np.array([-1], np.int64), "axis")]
    return _model(nodes, [_value("x", [4, 16])], [_value("y", [4, 16])], weights)


def overflowing_output_model() -> onnx.ModelProto:
    """The tensor past fp16's range is the graph output itself."""
    nodes = [
        helper.make_node("Add", ["x", "two"], ["s"], name="shift"),
        helper.make_node("MatMul", ["s", "w"], ["y"], name="out_mm"),
    ]
    weights = [_large_weight("w", (16, 8), 1), _weight("two", 2.0)]
    return _model(nodes, [_value("x", [4, 16])], [_value("y", [4, 8])], weights)


def loop_in_if_model() -> onnx.ModelProto:
    """A Loop inside an If branch, its body overflowing (two iterations of MatMul then *1e-4)."""
    body = helper.make_graph(
        [
            helper.make_node("MatMul", ["acc_in", "w"], ["big"], name="body_mm"),
            helper.make_node("Mul", ["big", "k"], ["acc_out"], name="body_scale"),
            helper.make_node("Identity", ["cond_in"], ["cond_out"], name="body_cond"),
        ],
        "body",
        [
            _value("i", [], TensorProto.INT64),
            _value("cond_in", [], TensorProto.BOOL),
            _value("acc_in", [4, 16]),
        ],
        [_value("cond_out", [], TensorProto.BOOL), _value("acc_out", [4, 16])],
    )
    then_branch = helper.make_graph(
        [helper.make_node("Loop", ["trips", "true", "s"], ["looped"], name="inner_loop", body=body)],
        "then",
        [],
        [_value("looped", [4, 16])],
    )
    else_branch = helper.make_graph(
        [helper.make_node("Identity", ["s"], ["same"], name="else_id")], "else", [], [_value("same", [4, 16])]
    )
    nodes = [
        helper.make_node("Add", ["x", "two"], ["s"], name="shift"),
        helper.make_node("ReduceSum", ["x"], ["total"], name="total", keepdims=0),
        helper.make_node(
            "Less", ["total", "hundred"], ["cond"], name="cond"
        ),  # a sum of 64 values in [-1, 1]
        helper.make_node(
            "If", ["cond"], ["y"], name="outer_if", then_branch=then_branch, else_branch=else_branch
        ),
    ]
    weights = [
        _large_weight("w", (16, 16), 2),
        _weight("two", 2.0),
        _weight("k", 1e-4),
        _weight("hundred", 100.0),
        numpy_helper.from_array(np.array(2, np.int64), "trips"),
        numpy_helper.from_array(np.array(True), "true"),
    ]
    return _model(nodes, [_value("x", [4, 16])], [_value("y", [4, 16])], weights)


def outer_scope_reader_model() -> onnx.ModelProto:
    """The MatMul's output (past fp16's range) is read only inside the branches of an If, by name: the If does
    not list it as an input."""
    branches = [
        helper.make_graph(
            [helper.make_node("Mul", ["large", factor], [out], name=f"{branch}_scale")],
            branch,
            [],
            [_value(out, [4, 8])],
        )
        for branch, factor, out in (("then", "k", "t"), ("else", "k2", "e"))
    ]
    nodes = [
        helper.make_node("Add", ["x", "two"], ["s"], name="shift"),
        helper.make_node("MatMul", ["s", "w"], ["large"], name="big_mm"),
        helper.make_node("ReduceSum", ["x"], ["total"], name="total", keepdims=0),
        helper.make_node("Less", ["total", "hundred"], ["cond"], name="cond"),
        helper.make_node(
            "If", ["cond"], ["y"], name="branch", then_branch=branches[0], else_branch=branches[1]
        ),
    ]
    weights = [
        _large_weight("w", (16, 8), 4),
        _weight("two", 2.0),
        _weight("k", 1e-4),
        _weight("k2", 2e-4),
        _weight("hundred", 100.0),
    ]
    return _model(nodes, [_value("x", [4, 16])], [_value("y", [4, 8])], weights)


def _printed_flags(stderr: str) -> list[str]:
    line = next(line for line in stderr.splitlines() if FLAGS_AFTER in line)
    return shlex.split(line.split(FLAGS_AFTER, 1)[1])


def _prepare(run_cli, source: Path, target: str, *extra: str):
    out = source.with_name(f"{source.stem}-{target.replace('.', '_')}.onnx")
    return run_cli(
        "prepare", source, "-o", out, "--precision", "fp16", "--target-tensorrt", target, "--verify", *extra
    )


def _fails_then_pasted_passes(run_cli, source: Path, expected: list[str]) -> None:
    """TensorRT 11: exit 4 naming ``expected``, and those flags pasted pass; TensorRT 10: the same set as a
    warning, and no warning once pasted."""
    failed = _prepare(run_cli, source, "11")
    assert failed.code == 4, failed.stderr
    flags = _printed_flags(failed.stderr)
    assert flags == [item for name in expected for item in ("--keep-fp32", name)]
    passed = _prepare(run_cli, source, "11", *flags)
    assert passed.code == 0, passed.stderr
    warned = _prepare(run_cli, source, "10")
    assert warned.code == 0, warned.stderr
    assert "warning: TensorRT fp16 would compute out of range here" in warned.stderr
    assert _printed_flags(warned.stderr) == flags
    quiet = _prepare(run_cli, source, "10", *flags)
    assert quiet.code == 0 and "out of range" not in quiet.stderr, quiet.stderr


# --- the TensorRT 11 conversion keeps what the flags name in fp32 ----------------------------------------------


@needs_converter
@pytest.mark.parametrize(
    ("factory", "expected"),
    [
        (shared_factor_model, ["mul_2", "mul_3"]),
        (exp_softmax_model, ["exp", "sum", "normalize"]),
        (overflowing_output_model, ["out_mm"]),
        (loop_in_if_model, ["body_mm", "body_scale"]),
        (outer_scope_reader_model, ["big_mm", "else_scale", "then_scale"]),
    ],
    ids=[
        "weight-shared-with-a-converted-node",
        "tensor-with-two-kept-readers",
        "graph-output",
        "loop-in-if",
        "read-inside-if-branches",
    ],
)
def test_the_printed_flags_pass_where_the_conversion_used_to_keep_fp16(
    run_cli, tmp_path: Path, factory, expected: list[str]
) -> None:
    source = tmp_path / "model.onnx"
    onnx.save(factory(), source)
    _fails_then_pasted_passes(run_cli, source, expected)


@needs_converter
def test_kept_nodes_read_and_write_fp32_and_outputs_keep_their_type() -> None:
    """The converted graph itself: no fp16 round trip between kept nodes, the kept node's weight is fp32 while
    the converted node's copy is fp16, and a graph output written by a kept node stays fp32."""
    from trtconvert.prepare.precision import convert_model

    converted, _, _ = convert_model(exp_softmax_model(), "fp16", (), ("exp", "sum", "normalize"))
    typed = onnx.shape_inference.infer_shapes(converted)
    types = {v.name: v.type.tensor_type.elem_type for v in [*typed.graph.value_info, *typed.graph.output]}
    nodes = {n.name: n for n in converted.graph.node}
    for name in ("sum", "normalize"):
        assert all(types.get(i) != TensorProto.FLOAT16 for i in nodes[name].input)
    narrowing = [
        n for n in converted.graph.node if n.op_type == "Cast" and n.attribute[0].i == TensorProto.FLOAT16
    ]
    assert [n.input[0] for n in narrowing] == ["x"]  # only the graph input's cast for the converted nodes
    assert converted.graph.output[0].type.tensor_type.elem_type == TensorProto.FLOAT

    shared, _, _ = convert_model(shared_factor_model(), "fp16", (), ("mul_2", "mul_3"))
    weights = {t.name: t.data_type for t in shared.graph.initializer}
    mul_1, mul_2 = (next(n for n in shared.graph.node if n.name == name) for name in ("mul_1", "mul_2"))
    assert weights[mul_1.input[1]] == TensorProto.FLOAT16 and weights[mul_2.input[1]] == TensorProto.FLOAT


# --- node names: unnamed, glob characters, the op: prefix, spaces ----------------------------------------------


def _named_overflow_model(shift: str, matmul: str, scale: str) -> onnx.ModelProto:
    """x -> +2 -> MatMul (to about 1.7e5) -> *1e-4, with the node names given ('' for none)."""
    nodes = [
        helper.make_node("Add", ["x", "two"], ["s"], name=shift),
        helper.make_node("MatMul", ["s", "w"], ["large"], name=matmul),
        helper.make_node("Mul", ["large", "k"], ["y"], name=scale),
    ]
    weights = [_large_weight("w", (16, 8), 3), _weight("two", 2.0), _weight("k", 1e-4)]
    return _model(nodes, [_value("x", [4, 16])], [_value("y", [4, 8])], weights)


@needs_converter
@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (("", "", ""), ["MatMul_1", "Mul_2"]),
        (("blk0 shift", "blk[0]*?", "blk[0]*?/scale"), ["blk[0]*?", "blk[0]*?/scale"]),
        (("shift", "op:Mul", "op:MatMul"), ["op:Mul", "op:MatMul"]),
        (("shift ", " mm ", "scale 'back' \"now\""), [" mm ", "scale 'back' \"now\""]),
        (("shift:0", "模型/матмул:0", "/scale:0 ü"), ["模型/матмул:0", "/scale:0 ü"]),
    ],
    ids=["unnamed", "glob-characters", "op-prefix", "spaces-and-quotes", "unicode-and-colons"],
)
def test_printed_names_keep_exactly_those_nodes(run_cli, tmp_path: Path, names, expected: list[str]) -> None:
    """The flags name nodes the prepared model has (unnamed ones get the same OPTYPE_INDEX names in the finder
    and in prepare), and a name pasted back keeps that node alone: not the nodes its glob characters would also
    match ('blk0 shift'), not the Mul nodes 'op:Mul' would mean, not a name with its spaces stripped."""
    source = tmp_path / "model.onnx"
    onnx.save(_named_overflow_model(*names), source)
    _fails_then_pasted_passes(run_cli, source, expected)
    pasted = _prepare(run_cli, source, "11", *[item for name in expected for item in ("--keep-fp32", name)])
    kept = [line.split(": ", 1)[1] for line in pasted.stderr.splitlines() if "keep fp32 " in line]
    assert kept == expected


def test_a_glob_still_matches_where_no_node_has_that_name() -> None:
    from trtconvert.prepare.keep_fp32 import resolve_keep_fp32

    model = _named_overflow_model("blk0 shift", "blk[0]*?", "blk1/scale")
    assert resolve_keep_fp32(model, ["blk[0]*?"]).matches == {"blk[0]*?": ("blk[0]*?",)}
    assert resolve_keep_fp32(model, ["blk*"]).matches == {"blk*": ("blk0 shift", "blk[0]*?", "blk1/scale")}
    assert resolve_keep_fp32(model, ["op:Mat*"]).matches == {"op:Mat*": ("blk[0]*?",)}


def test_an_unknown_name_exits_2_with_the_closest_quoted_as_a_shell_takes_it(run_cli, tmp_path: Path) -> None:
    source = tmp_path / "model.onnx"
    onnx.save(_named_overflow_model("shift", " big mm", "scale"), source)
    result = _prepare(run_cli, source, "10", "--keep-fp32", "big mm")
    assert result.code == 2
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert (
        line
        == "error: --keep-fp32 'big mm': no node of the prepared model is named so; closest node names: ' big mm'"
    )


# --- the finder: no false alarms ---------------------------------------------------------------------------


def layernorm_model(scale: float, eps: float) -> onnx.ModelProto:
    """LayerNorm written out (ReduceMean, Sub, Pow, ReduceMean, Add eps, Sqrt, Div) on x * scale."""
    nodes = [
        helper.make_node("Mul", ["x", "scale"], ["h"], name="ln/pre"),
        helper.make_node("ReduceMean", ["h"], ["mean"], name="ln/mean", axes=[-1], keepdims=1),
        helper.make_node("Sub", ["h", "mean"], ["d"], name="ln/sub"),
        helper.make_node("Pow", ["d", "two"], ["sq"], name="ln/pow"),
        helper.make_node("ReduceMean", ["sq"], ["var"], name="ln/var", axes=[-1], keepdims=1),
        helper.make_node("Add", ["var", "eps"], ["ve"], name="ln/add_eps"),
        helper.make_node("Sqrt", ["ve"], ["std"], name="ln/sqrt"),
        helper.make_node("Div", ["d", "std"], ["y"], name="ln/div"),
    ]
    weights = [_weight("scale", scale), _weight("two", 2.0), _weight("eps", eps)]
    return _model(nodes, [_value("x", [4, 64])], [_value("y", [4, 64])], weights)


def conv_relu_model() -> onnx.ModelProto:
    rng = np.random.default_rng(8)
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["y"], name="relu2"),
    ]
    weights = [
        _weight("w1", rng.normal(0, 0.2, (8, 3, 3, 3))),
        _weight("b1", rng.normal(0, 0.1, 8)),
        _weight("w2", rng.normal(0, 0.15, (8, 8, 3, 3))),
        _weight("b2", rng.normal(0, 0.1, 8)),
    ]
    return _model(nodes, [_value("x", [1, 3, 16, 16])], [_value("y", [1, 8, 16, 16])], weights)


@needs_converter
@pytest.mark.parametrize(
    "factory",
    [conv_relu_model, lambda: layernorm_model(1.0, 1e-12)],
    ids=["conv-relu", "layernorm-eps-1e-12"],
)
def test_a_model_fine_in_fp16_passes_on_both_paths_without_a_warning(
    run_cli, tmp_path: Path, factory
) -> None:
    """BERT's LayerNorm eps of 1e-12 is below fp16's smallest value, but an added epsilon clamped to it moves
    the variance by less than fp16 resolves: no reason to keep anything."""
    source = tmp_path / "model.onnx"
    onnx.save(factory(), source)
    for target in ("11", "10"):
        result = _prepare(run_cli, source, target)
        assert result.code == 0, result.stderr
        assert "warning" not in result.stderr and "out of fp16's range" not in result.stderr


@needs_converter
def test_a_variance_that_underflows_names_the_layernorm_nodes_and_the_flags_pass(
    run_cli, tmp_path: Path
) -> None:
    """Inputs of about 1e-4: the squared deviations and the variance (about 3e-9) are below 2^-24, so fp16 makes
    them zero and the Div blows up."""
    source = tmp_path / "model.onnx"
    onnx.save(layernorm_model(1e-4, 1e-12), source)
    _fails_then_pasted_passes(run_cli, source, ["ln/pow", "ln/var", "ln/add_eps", "ln/sqrt"])


def test_a_weight_whose_readers_are_kept_is_no_longer_reported() -> None:
    from trtconvert.checks.ranges import constant_ranges, out_of_range

    model = _named_overflow_model("shift", "mm", "scale")
    model.graph.initializer.append(_weight("tiny", 1e-9))
    model.graph.node.append(helper.make_node("Mul", ["y", "tiny"], ["y_tiny"], name="times_tiny"))
    model.graph.node.append(helper.make_node("Add", ["y", "tiny"], ["y_eps"], name="plus_tiny"))
    weights = constant_ranges(model)
    assert weights["tiny"].consumers == ("times_tiny", "plus_tiny") and not weights["tiny"].only_added
    found = out_of_range(weights, "fp16")
    assert [t.name for t, _ in found.tensors] == ["tiny"] and found.nodes == ("times_tiny", "plus_tiny")
    assert "smallest" in found.tensors[0][1] and "makes it zero" not in found.tensors[0][1]
    assert not out_of_range(weights, "fp16", kept=["times_tiny", "plus_tiny"])


# --- models that hold fp16 or infinities themselves --------------------------------------------------------


@needs_converter
def test_a_model_that_already_casts_to_fp16_converts_for_tensorrt_11(run_cli, tmp_path: Path) -> None:
    """A model that rounds its input through fp16 itself (a half-precision export): the converter's guard
    against converting twice used to refuse it, exit 1."""
    rng = np.random.default_rng(9)
    nodes = [
        helper.make_node("Cast", ["x"], ["x16"], name="narrow_x", to=TensorProto.FLOAT16),
        helper.make_node("Cast", ["x16"], ["x32"], name="widen_x", to=TensorProto.FLOAT),
        helper.make_node("MatMul", ["x32", "w"], ["m"], name="mm"),
        helper.make_node("Relu", ["m"], ["y"], name="relu"),
    ]
    source = tmp_path / "model.onnx"
    weights = [_weight("w", rng.normal(0, 0.3, (16, 8)))]
    onnx.save(_model(nodes, [_value("x", [4, 16])], [_value("y", [4, 8])], weights), source)
    result = _prepare(run_cli, source, "11")
    assert result.code == 0, result.stderr
    assert "converted to fp16" in result.stderr


def test_an_output_that_is_minus_infinity_in_both_models_matches() -> None:
    """A mask that writes -inf (attention scores) is the same in the prepared model: no error there."""
    from trtconvert.checks.compare import compare_outputs

    want = np.array([[-np.inf, 0.5, np.inf, np.nan]], np.float32)
    assert compare_outputs("y", want.copy(), want, 1e-4, 1e-3).ok
    for wrong in (
        [[np.inf, 0.5, np.inf, np.nan]],
        [[-np.inf, 0.5, 1e30, np.nan]],
        [[0.0, 0.5, np.inf, np.nan]],
    ):
        compared = compare_outputs("y", np.array(wrong, np.float32), want, 1e-4, 1e-3)
        assert not compared.ok and compared.max_abs == np.inf


# --- a flag set longer than an error line --------------------------------------------------------------------


def many_layers_model(layers: int = 12) -> onnx.ModelProto:
    """Twelve MatMul -> Mul branches with exporter-length names, each MatMul past fp16's range."""
    nodes = [helper.make_node("Add", ["x", "two"], ["s"], name="/encoder/embeddings/Add")]
    weights = [_weight("two", 2.0), _weight("k", 1e-4)]
    outputs = []
    for index in range(layers):
        weights.append(_large_weight(f"w{index}", (16, 8), 10 + index))
        prefix = f"/encoder/layers.{index}/self_attn"
        nodes.append(
            helper.make_node("MatMul", ["s", f"w{index}"], [f"m{index}"], name=f"{prefix}/q_proj/MatMul")
        )
        nodes.append(helper.make_node("Mul", [f"m{index}", "k"], [f"y{index}"], name=f"{prefix}/Mul_scale"))
        outputs.append(_value(f"y{index}", [4, 8]))
    return _model(nodes, [_value("x", [4, 16])], outputs, weights)


@needs_converter
def test_a_flag_set_too_long_for_the_error_line_is_printed_whole_and_passes(run_cli, tmp_path: Path) -> None:
    """An error line is cut in the middle past 1000 characters, which used to cut the flag set itself."""
    from trtconvert.errors import MAX_MESSAGE_CHARS

    source = tmp_path / "model.onnx"
    onnx.save(many_layers_model(), source)
    failed = _prepare(run_cli, source, "11", "--json")
    assert failed.code == 4, failed.stderr
    (error,) = [line for line in failed.stderr.splitlines() if line.startswith("error:")]
    assert len(error) <= MAX_MESSAGE_CHARS + len("error: ") and "[..." not in error
    assert "keep them and their readers in fp32 with the 24 --keep-fp32 flags printed above" in error
    (printed,) = [line for line in failed.stderr.splitlines() if line.startswith("keep fp32 flags: ")]
    assert failed.stderr.index(printed) < failed.stderr.index(error)
    flags = shlex.split(printed.removeprefix("keep fp32 flags: "))
    names = flags[1::2]
    assert flags[::2] == ["--keep-fp32"] * 24 and len(set(names)) == 24
    assert names == json.loads(failed.stdout)["out_of_range"]["keep_fp32"]
    passed = _prepare(run_cli, source, "11", *flags)
    assert passed.code == 0, passed.stderr


# --- underflow that leaves a few bits, and Scan bodies -------------------------------------------------------


def tiny_ratio_model(tiny: float) -> onnx.ModelProto:
    """(x + 2) * tiny divided by (x + 2) * 2 tiny: 0.5 in fp32; in fp16 both products keep a few bits at most."""
    nodes = [
        helper.make_node("Add", ["x", "two"], ["s"], name="shift"),
        helper.make_node("Mul", ["s", "tiny"], ["a"], name="tiny_a"),
        helper.make_node("Mul", ["s", "tiny2"], ["b"], name="tiny_b"),
        helper.make_node("Div", ["a", "b"], ["y"], name="ratio"),
    ]
    weights = [_weight("two", 2.0), _weight("tiny", tiny), _weight("tiny2", 2 * tiny)]
    return _model(nodes, [_value("x", [4, 16])], [_value("y", [4, 16])], weights)


def scan_overflow_model() -> onnx.ModelProto:
    """A Scan over the 4 rows whose body's MatMul passes fp16's range before a Mul scales it back."""
    body = helper.make_graph(
        [
            helper.make_node("MatMul", ["row", "w"], ["big"], name="scan_mm"),
            helper.make_node("Mul", ["big", "k"], ["out"], name="scan_scale"),
            helper.make_node("Identity", ["state_in"], ["state_out"], name="scan_state"),
        ],
        "scan_body",
        [_value("state_in", [1]), _value("row", [1, 16])],
        [_value("state_out", [1]), _value("out", [1, 8])],
    )
    nodes = [
        helper.make_node("Add", ["x", "two"], ["s"], name="shift"),
        helper.make_node("Reshape", ["s", "rows_shape"], ["rows"], name="rows"),
        helper.make_node(
            "Scan", ["state", "rows"], ["final", "ys"], name="scan", body=body, num_scan_inputs=1
        ),
        helper.make_node("Reshape", ["ys", "y_shape"], ["y"], name="y_shape"),
    ]
    weights = [
        _large_weight("w", (16, 8), 5),
        _weight("two", 2.0),
        _weight("k", 1e-4),
        _weight("state", [0.0]),
        numpy_helper.from_array(np.array([4, 1, 16], np.int64), "rows_shape"),
        numpy_helper.from_array(np.array([4, 8], np.int64), "y_shape"),
    ]
    return _model(nodes, [_value("x", [4, 16])], [_value("y", [4, 8])], weights)


@needs_converter
@pytest.mark.parametrize(
    ("factory", "expected", "why"),
    [
        (lambda: tiny_ratio_model(1e-8), ["tiny_a", "tiny_b", "ratio"], "below fp16's smallest, 5.96e-08"),
        (
            lambda: tiny_ratio_model(1e-7),
            ["tiny_a", "tiny_b", "ratio"],
            "where fp16 keeps 4 significant bits",
        ),
        (scan_overflow_model, ["scan_mm", "scan_scale"], "tensor 'big' from scan_mm reaches"),
    ],
    ids=["all-below-the-smallest-subnormal", "a-few-bits-left", "scan-body"],
)
def test_the_finder_names_what_the_check_fails_on(
    run_cli, tmp_path: Path, factory, expected, why: str
) -> None:
    """Where the TensorRT 11 check fails the finder used to say 'precision' for these: products of about 1e-7
    (some above 2^-24, so not all made zero, but with 1 to 3 bits left) and a tensor inside a Scan body."""
    source = tmp_path / "model.onnx"
    onnx.save(factory(), source)
    failed = _prepare(run_cli, source, "11")
    assert why in failed.stderr and "is its precision" not in failed.stderr
    _fails_then_pasted_passes(run_cli, source, expected)


def test_values_of_a_few_bits_are_out_of_range_and_normal_small_values_are_not() -> None:
    from trtconvert.checks.ranges import TensorRange

    def problem(*values: float) -> str | None:
        tensor = TensorRange("t", "p", ())
        tensor.add(np.array(values, np.float32))
        return tensor.problem("fp16")

    assert "makes it zero" in problem(1e-8, -5e-8)
    assert "4 significant bits or fewer" in problem(1e-7, 9e-7)
    assert problem(1e-7, 1e-5) is None  # a value with 8 bits or more: fp16 holds the tensor
    assert problem(0.0, 0.0) is None


@needs_converter
@pytest.mark.parametrize("keep", [("big_mm",), ("big_mm", "then_scale", "else_scale")])
def test_the_conversion_with_kept_nodes_stays_topologically_sorted(keep: tuple[str, ...]) -> None:
    """onnxconverter-common moves a blocked node after an If whose branches read its output by name; onnx's
    checker (and parsers) refuse that order."""
    from trtconvert.prepare.precision import convert_model

    converted, _, _ = convert_model(outer_scope_reader_model(), "fp16", (), keep)
    onnx.checker.check_model(converted, full_check=True)
    order = [n.name for n in converted.graph.node]
    assert order.index("big_mm") < order.index("branch")


# --- builder flags: out of range, but not where it matters ---------------------------------------------------


def attention_mask_model() -> onnx.ModelProto:
    """Scores masked with -1e9 where a bool mask is false, then Softmax: -1e9 is past fp16's range, but clamped
    to -65504 its exponential is 0 all the same."""
    nodes = [
        helper.make_node("Where", ["mask", "x", "minus_1e9"], ["masked"], name="apply_mask"),
        helper.make_node("Softmax", ["masked"], ["y"], name="softmax", axis=-1),
    ]
    inputs = [_value("mask", [4, 16], TensorProto.BOOL), _value("x", [4, 16])]
    return _model(nodes, inputs, [_value("y", [4, 16])], [_weight("minus_1e9", -1e9)])


@needs_converter
def test_builder_flags_do_not_warn_where_the_out_of_range_values_do_not_reach_the_outputs(
    run_cli, tmp_path: Path
) -> None:
    """The finder sees -1e9 (a weight and the masked scores); the model converted to fp16 and rounded node by
    node stays within fp16's tolerance, as the TensorRT 11 check (which passes) shows: no warning. A model
    whose outputs do break still warns (test_the_printed_flags_pass_...)."""
    source = tmp_path / "model.onnx"
    onnx.save(attention_mask_model(), source)
    assert _prepare(run_cli, source, "11").code == 0
    result = _prepare(run_cli, source, "10")
    assert result.code == 0, result.stderr
    assert "masked (from apply_mask): reaches 1e+09, past fp16's 65504" in result.stderr
    assert re.search(r"emulate .* within fp16's tolerance", result.stderr)
    assert "warning" not in result.stderr and "nothing needs keeping in fp32" in result.stderr


# --- on a real TensorRT (builder flags): the printed set builds and verifies ---------------------------------


def _on_tensorrt(test):
    for mark in NEEDS_TENSORRT_AND_GPU:
        test = mark(test)
    return test


@_on_tensorrt
@pytest.mark.parametrize(
    ("factory", "expected"),
    [
        (shared_factor_model, ["mul_2", "mul_3"]),
        (exp_softmax_model, ["exp", "sum", "normalize"]),
        (lambda: layernorm_model(400.0, 1e-5), ["ln/pow", "ln/var"]),
        (lambda: _named_overflow_model("", "", ""), ["MatMul_1", "Mul_2"]),
        (lambda: _named_overflow_model("shift", "op:Mul", "op:MatMul"), ["op:Mul", "op:MatMul"]),
        (outer_scope_reader_model, ["big_mm", "else_scale", "then_scale"]),
    ],
    ids=[
        "shared-weight",
        "exp-two-readers",
        "layernorm-variance",
        "unnamed",
        "op-prefix-names",
        "outer-scope",
    ],
)
def test_the_warned_flags_build_an_engine_that_verifies(
    run_cli, tmp_path: Path, timing_cache: Path, factory, expected: list[str]
) -> None:
    """build --verify on TensorRT 8.5-10: the set warned before the build names the layers to keep, and the
    engine built with it matches fp32 within fp16's tolerance. Without it TensorRT may still pass (a fused
    kernel can keep the large value in fp32 registers); where it fails, the same set is printed again."""
    source = tmp_path / "model.onnx"
    onnx.save(factory(), source)
    common = ["--precision", "fp16", "--timing-cache", timing_cache, "--verify"]
    plain = run_cli("build", source, "-o", tmp_path / "fp16.plan", *common)
    assert plain.code in (0, 4), plain.stderr
    warned = _printed_flags(plain.stderr)  # the warning before the build
    assert warned == [item for name in expected for item in ("--keep-fp32", name)]
    if plain.code == 4:
        assert _printed_flags(plain.stderr.split("error:", 1)[1]) == warned
    kept = run_cli("build", source, "-o", tmp_path / "kept.plan", *common, *warned, "--json")
    assert kept.code == 0, kept.stderr
    report = json.loads(kept.stdout)
    assert all(o["ok"] for r in report["engine_verification"]["results"] for o in r["outputs"])
