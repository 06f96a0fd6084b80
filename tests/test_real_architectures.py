"""Models shaped as real exporters write them (tests/real_architectures.py) through the round trip a user makes:
`inspect` for a profile, then `prepare` with that profile as printed (fp32 verified, fp16 for TensorRT 11
verified, TensorRT 8.5 verified, TensorRT 10's parser checks) and `build`, which on a machine without TensorRT
exits 3 after every CPU stage. Each run keeps the whole contract (tests/contract.py): an exit code of the
contract, one `error:` line on failure, no traceback, the model byte-identical, nothing partial left; an exit 0
writes a model onnxruntime loads, and a verified one matches the original. Runs in this process (`run_cli`)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
from contract import digests, partial_files
from onnx import TensorProto, helper, numpy_helper
from real_architectures import ARCHITECTURES, STEPS

CASES = [
    pytest.param(name, marks=[pytest.mark.slow] if arch.slow else [], id=name)
    for name, arch in ARCHITECTURES.items()
]


def _keeps_the_contract(result, model: Path, before: dict, out: Path) -> None:
    where = result.stderr[-2000:]
    assert result.code in {0, 2, 3, 4, 5}, where
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, where
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == (0 if result.code == 0 else 1), where
    assert digests([model]) == before, where
    assert partial_files(out) == [], where


def _suggested_profile(run_cli, model: Path) -> list[str]:
    result = run_cli("inspect", "--json", model)
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    # The suggestion runs as printed, or inspect says what it could not determine: these models all run.
    assert report["profile_check"] is None, report["profile_check"]
    return shlex.split(report["profile_example"]) if report["profile_example"] else []


@pytest.mark.parametrize("name", CASES)
def test_the_round_trip_of_a_real_architecture(run_cli, tmp_path: Path, name: str) -> None:
    architecture = ARCHITECTURES[name]
    model = tmp_path / "model.onnx"
    onnx.save(architecture.factory(), model)
    assert model.stat().st_size < 1 << 20
    before = digests([model])
    out = tmp_path / "out"
    profile = _suggested_profile(run_cli, model)
    for step, flags in STEPS.items():
        written = out / f"{step}.onnx"
        result = run_cli("prepare", model, *profile, *flags, "-o", written)
        _keeps_the_contract(result, model, before, out)
        code, said = architecture.expected.get(step, (0, ""))
        assert result.code == code, f"{step}: {result.stderr[-2000:]}"
        assert said in result.stderr, result.stderr
        if code == 0:
            onnxruntime.InferenceSession(str(written), providers=["CPUExecutionProvider"])
            if "--verify" in flags:
                assert "verify" in result.stderr and " ok" in result.stderr, result.stderr
        else:
            assert not written.exists()
    result = run_cli("build", model, *profile, "-o", out / "model.plan")
    _keeps_the_contract(result, model, before, out)
    code, said = architecture.expected.get("build", (3, "TensorRT"))
    assert result.code == code and said in result.stderr, result.stderr
    assert not (out / "model.plan").exists()


def test_inspect_bounds_the_sequence_by_the_table_of_positions(run_cli, tmp_path: Path) -> None:
    """A transformer takes no longer sequence than its position embeddings (64 rows here, 512 in BERT): the
    suggestion's max is the largest usual size that runs, for every input of that sequence dim, and says so."""
    model = tmp_path / "encoder.onnx"
    onnx.save(ARCHITECTURES["transformer_opset14_unk_dims"].factory(), model)
    result = run_cli("inspect", "--json", model)
    report = json.loads(result.stdout)
    assert report["profile_bounded_by_model"] == {"input_ids[1]": 64, "attention_mask[1]": 64}
    assert "input_ids=1x64:1x64:8x64" in report["profile_example"]
    human = run_cli("inspect", model)
    assert "input_ids[1] at most 64" in human.stdout


def _batch_bounded_model() -> onnx.ModelProto:
    """y = x + table[arange(batch)]: a per-slot bias table of 4 rows bounds the batch to 4."""
    table = numpy_helper.from_array(np.arange(4 * 6, dtype=np.float32).reshape(4, 6), "table")
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Gather", ["shape", "zero"], ["batch"], axis=0),
        helper.make_node("Range", ["zero", "batch", "one"], ["slots"]),
        helper.make_node("Gather", ["table", "slots"], ["bias"], axis=0),
        helper.make_node("Add", ["x", "bias"], ["y"]),
    ]
    constants = [
        numpy_helper.from_array(np.array(0, np.int64), "zero"),
        numpy_helper.from_array(np.array(1, np.int64), "one"),
    ]
    graph = helper.make_graph(
        nodes,
        "slots",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 6])],
        [table, *constants],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


def test_inspect_bounds_a_batch_the_model_limits_and_its_profile_verifies(run_cli, tmp_path: Path) -> None:
    model = tmp_path / "slots.onnx"
    onnx.save(_batch_bounded_model(), model)
    report = json.loads(run_cli("inspect", "--json", model).stdout)
    assert report["profile_bounded_by_model"] == {"x[0]": 4}
    result = run_cli(
        "prepare", model, *shlex.split(report["profile_example"]), "--verify", "-o", tmp_path / "p.onnx"
    )
    assert result.code == 0, result.stderr


def test_random_token_types_stay_within_their_table() -> None:
    """An integer input that indexes a table of fewer rows than the random range (BERT's 2 token types) gets
    values within it, through the Cast or Unsqueeze an exporter puts between; other integers keep 0..7."""
    from trtconvert.checks.compare import random_feed
    from trtconvert.model.info import graph_inputs

    model = ARCHITECTURES["transformer_opset13_bool_mask"].factory()
    inputs = {i.name: i for i in graph_inputs(model)}
    assert inputs["token_type_ids"].index_rows == 2
    assert inputs["input_ids"].index_rows == 32
    assert inputs["attention_mask"].index_rows is None
    feed = random_feed(list(inputs.values()), {n: (4, 64) for n in inputs}, {}, seed=3)
    assert set(np.unique(feed["token_type_ids"])) == {0, 1}
    assert feed["input_ids"].max() == 7


def test_a_conversion_onnxruntime_cannot_load_is_refused_not_written(
    run_cli, tmp_path: Path, monkeypatch
) -> None:
    """Without the Cast repair (the converter types a Cast's output fp16 and leaves it casting to fp32) the fp16
    model does not load: the check says so (exit 2) instead of verifying a rewritten copy and writing it."""
    from trtconvert.prepare import precision

    monkeypatch.setattr(precision, "_narrow_casts_typed_fp16", lambda model: None)
    model = tmp_path / "range.onnx"
    onnx.save(ARCHITECTURES["range_expand_constant_of_shape"].factory(), model)
    flags = ["--profile", "x=1x8:1x16:2x32", *STEPS["fp16"]]
    result = run_cli("prepare", model, *flags, "-o", tmp_path / "out" / "p.onnx")
    assert result.code == 2, result.stderr
    assert (
        "cannot load the fp16 model the conversion gave" in result.stderr and "--keep-fp32" in result.stderr
    )
    assert not (tmp_path / "out" / "p.onnx").exists()


@pytest.mark.parametrize(
    "name", ["fp16_classifier", "mixed_precision_casts", "transformer_opset13_bool_mask"]
)
def test_the_fp16_conversion_loads_and_keeps_io_types(name: str) -> None:
    """Models that already hold fp16 (weights, a final Cast, autocast's Casts) and a graph output that another
    node reads (BERT's pooler on last_hidden_state) convert to a model onnxruntime loads, with the I/O types kept."""
    from trtconvert.prepare.precision import convert_model

    model = ARCHITECTURES[name].factory()
    converted, _, _ = convert_model(model, "fp16")
    session = onnxruntime.InferenceSession(converted.SerializeToString(), providers=["CPUExecutionProvider"])
    types = {o.name: o.type for o in session.get_outputs()}
    for output in model.graph.output:
        wanted = (
            "tensor(float16)" if output.type.tensor_type.elem_type == TensorProto.FLOAT16 else "tensor(float)"
        )
        assert types[output.name] == wanted


def test_a_dim_written_as_a_sum_of_dims_gets_their_sum(run_cli, tmp_path: Path) -> None:
    """optimum's decoder with a KV cache: attention_mask's length is `past_sequence_length + sequence_length`;
    the suggestion gives it the sum of the two (a guessed or a fixed 1 would build an engine that refuses real
    masks), and the suggestion verifies."""
    model = tmp_path / "decoder.onnx"
    onnx.save(ARCHITECTURES["decoder_with_kv_cache"].factory(), model)
    report = json.loads(run_cli("inspect", "--json", model).stdout)
    assert report["profile_fixed_by_model"] == {}
    flag = report["profile_example"]
    assert (
        "input_ids=1x64:1x256:8x1024" in flag
        and "past_key_values.0.key=1x2x64x8:1x2x256x8:8x2x1024x8" in flag
    )
    assert "attention_mask=1x128:1x512:8x2048" in flag


@pytest.mark.parametrize(
    ("dim", "expected"),
    [
        ("past_sequence_length + sequence_length", (2, 3, 4)),
        ("s0 + 1", (3, 4, 5)),
        ("2*s0", (4, 6, 8)),
        ("s0 - 3", (1, 1, 1)),
        ("unknown_dim + 1", None),
        ("batch-size", None),
        ("2**s0", None),
        ("big*big", None),
    ],
)
def test_a_dim_expression_takes_its_values_from_the_dims_it_names(dim: str, expected) -> None:
    from trtconvert.model.profiles import _expression_range

    by_name = {
        "past_sequence_length": (1, 1, 1),
        "sequence_length": (1, 2, 3),
        "s0": (2, 3, 4),
        "big": (1, 1, 1 << 20),
    }
    assert _expression_range(dim, by_name) == expected


def test_inspect_fixes_height_and_width_together(run_cli, tmp_path: Path) -> None:
    """A ViT exported with dynamic height and width whose position embeddings fix both: no one axis alone
    removes the problem, both set to 32 do."""
    model = tmp_path / "vit.onnx"
    onnx.save(ARCHITECTURES["vit_with_dynamic_image_size"].factory(), model)
    report = json.loads(run_cli("inspect", "--json", model).stdout)
    assert report["profile_fixed_by_model"] == {"pixel_values[2]": 32, "pixel_values[3]": 32}
    assert report["profile_check"] is None


def test_random_masks_are_zero_or_one() -> None:
    from trtconvert.checks.compare import random_feed
    from trtconvert.model.info import GraphTensor

    inputs = [
        GraphTensor("attention_mask", "int64", (2, 64)),
        GraphTensor("encoder_mask", "float32", (2, 64)),
    ]
    feed = random_feed(inputs, {"attention_mask": (2, 64), "encoder_mask": (2, 64)}, {}, seed=0)
    for value in feed.values():
        assert set(np.unique(value)) == {0, 1}


def test_the_parser_check_names_ops_the_target_cannot_import(run_cli, tmp_path: Path) -> None:
    """LayerNormalization (opset 17 transformers), GroupNormalization and Gelu have no importer in TensorRT 8.5's
    parser: refused for 8.5 before any GPU time, with the version that has one; taken for 8.6 and 10."""
    from trtconvert.prepare.parser_checks import find_problems
    from trtconvert.settings.target import parse_target

    encoder = ARCHITECTURES["transformer_opset17"].factory()
    (problem,) = find_problems(encoder, parse_target("8.5"))
    assert "LayerNormalization" in problem.what and "8.6" in problem.what and "and 2 more" in problem.node
    assert find_problems(encoder, parse_target("8.6")) == []
    gelu = ARCHITECTURES["opset20_gelu"].factory()
    gelu_problems, pad_problems = find_problems(gelu, parse_target("8.6"))
    assert "no importer for Gelu" in gelu_problems.what and gelu_problems.node == "/Gelu"
    assert (
        "Pad refuses an axes input" in pad_problems.what and "pads then cover every axis" in pad_problems.fix
    )
    assert find_problems(gelu, parse_target("10.0")) == []
    model = tmp_path / "encoder.onnx"
    onnx.save(encoder, model)
    flags = ["--profile", "input_ids=1x8:1x16:2x32,attention_mask=1x8:1x16:2x32", "--target-tensorrt", "8.5"]
    refused = run_cli("prepare", model, *flags, "-o", tmp_path / "p.onnx")
    assert refused.code == 2 and "cannot import" in refused.stderr and "--target-tensorrt" in refused.stderr
    tried = run_cli("prepare", model, *flags, "--no-check-parser", "-o", tmp_path / "p.onnx")
    assert tried.code == 0 and "warning: TensorRT's ONNX parser cannot import" in tried.stderr


@pytest.mark.parametrize(("scales", "refused"), [((1, 1, 0.5, 0.5), True), ((1, 1, 2, 2), False)])
def test_an_antialiased_resize_is_refused_only_where_it_may_downscale(scales, refused: bool) -> None:
    from trtconvert.prepare.parser_checks import antialias_problems

    model = ARCHITECTURES["opset18_antialias_resize"].factory()
    (tensor,) = [t for t in model.graph.initializer if t.name == "scales"]
    tensor.CopyFrom(numpy_helper.from_array(np.array(scales, np.float32), "scales"))
    problems = antialias_problems(model)
    assert bool(problems) == refused
    if refused:
        assert problems[0].node == "/Resize" and "antialias=False" in problems[0].fix


def test_a_sequence_bounded_below_the_guessed_min_gets_a_range_not_one_size(run_cli, tmp_path: Path) -> None:
    """A table of 32 positions fails the guessed min of 64; length 1 runs, and so does every length up to 32: the
    suggestion is the range up to 32, said as a bound, not "the model needs 1"."""
    model = ARCHITECTURES["transformer_opset14_unk_dims"].factory()
    (table,) = [t for t in model.graph.initializer if t.name == "embeddings.position_embeddings.weight"]
    table.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(table)[:32], table.name))
    path = tmp_path / "short.onnx"
    onnx.save(model, path)
    report = json.loads(run_cli("inspect", "--json", path).stdout)
    assert report["profile_fixed_by_model"] == {}
    assert report["profile_bounded_by_model"] == {"input_ids[1]": 32, "attention_mask[1]": 32}
    flags = shlex.split(report["profile_example"])
    assert flags[1] == "input_ids=1x1:1x32:8x32,attention_mask=1x1:1x32:8x32"
    result = run_cli("prepare", path, *flags, "--verify", "-o", tmp_path / "p.onnx")
    assert result.code == 0, result.stderr


def test_an_opset_18_reduction_axes_input_is_refused_where_the_parser_drops_it() -> None:
    """TensorRT 8.5 and 8.6 import ReduceMean and the other reductions but ReduceSum from their data input alone:
    an opset-18 `axes` input is dropped and every axis reduced. Refused for them, taken for 10."""
    from trtconvert.prepare.parser_checks import find_problems
    from trtconvert.settings.target import parse_target

    model = ARCHITECTURES["opset18_reductions"].factory()
    (problem,) = find_problems(model, parse_target("8.6"))
    assert (
        problem.node == "/ReduceMean" and "reduces every axis" in problem.what and "opset 17" in problem.fix
    )
    assert find_problems(model, parse_target("10.0")) == []
    attribute_form = ARCHITECTURES["silero_like_vad"].factory()  # opset 15: ReduceMean's axes an attribute
    assert find_problems(attribute_form, parse_target("8.5")) == []
