"""The categories of bad input that each have one place in the code that refuses them: paths (paths.py),
external data (model/load.py's external_entry), long numbers (numbers.py), repeated options (cli/options.py),
and what --debug and a full disk report (cli/main.py). Each test builds its own case from a small valid model."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import onnx
import pytest
from model_factories import conv_model

PROFILE = "x=1x3x8x8:1x3x16x16:2x3x32x32"


def _clean(result, code: int, message: str) -> None:
    assert result.code == code, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr


def _external_model(folder: Path) -> Path:
    path = folder / "ext.onnx"
    onnx.save(conv_model(), path, save_as_external_data=True, location="ext.data", size_threshold=0)
    return path


def _set_entry(path: Path, key: str, value: str | None) -> None:
    """Rewrite one external-data key of the weight 'w' (None drops the key)."""
    model = onnx.load(str(path), load_external_data=False)
    (tensor,) = [t for t in model.graph.initializer if t.name == "w"]
    entries = {e.key: e.value for e in tensor.external_data}
    if value is None:
        entries.pop(key, None)
    else:
        entries[key] = value
    del tensor.external_data[:]
    for k, v in entries.items():
        tensor.external_data.add(key=k, value=v)
    onnx.save(model, str(path))


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and not p.is_symlink()}


# ---- paths


def test_symlink_loops_are_named_for_every_role(run_cli, conv_model_path: Path, tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    before = _snapshot(tmp_path)
    _clean(run_cli("prepare", conv_model_path, "-o", tmp_path / "a"), 2, "-o")
    _clean(run_cli("prepare", tmp_path / "a", "-o", tmp_path / "o.onnx"), 2, "symlinks form a loop")
    _clean(run_cli("build", conv_model_path, "-o", tmp_path / "m.plan", "--profile", PROFILE,
                   "--timing-cache", tmp_path / "a"), 2, "--timing-cache")  # fmt: skip
    model = _external_model(tmp_path)
    _set_entry(model, "location", "a")
    _clean(run_cli("prepare", model, "-o", tmp_path / "o.onnx"), 2, "symlinks form a loop")
    assert _snapshot(tmp_path) == {**before, **_snapshot(tmp_path)} and not (tmp_path / "o.onnx").exists()


def test_nul_bytes_in_paths_are_refused(run_cli, conv_model_path: Path, tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(f'model: {conv_model_path.name}\noutput: "o\\0.onnx"\n')
    _clean(run_cli("prepare", "--config", config), 2, "a path cannot hold a NUL byte")
    config.write_text(f'model: {conv_model_path.name}\ntiming_cache: "t\\0.cache"\noutput: m.plan\n')
    _clean(run_cli("build", "--config", config, "--profile", PROFILE), 2, "NUL byte")
    model = _external_model(tmp_path)
    _set_entry(model, "location", "ext\0.data")
    _clean(run_cli("prepare", model, "-o", tmp_path / "o.onnx"), 2, "NUL byte")
    assert not (tmp_path / "o.onnx").exists()


@pytest.mark.parametrize("role", ["--timing-cache", "--calib-cache"])
def test_an_input_named_as_an_output_is_refused(run_cli, tmp_path: Path, role: str) -> None:
    model = _external_model(tmp_path)
    before = _snapshot(tmp_path)
    extra = ["--precision", "int8", "--calib-random-for-timing-only"] if role == "--calib-cache" else []
    for victim in (model, tmp_path / "ext.data"):
        result = run_cli(
            "build", model, "-o", tmp_path / "m.plan", "--profile", PROFILE, role, victim, *extra
        )
        _clean(result, 2, "writing it would destroy an input of this run")
    npy = tmp_path / "x.npy"
    import numpy as np

    np.save(npy, np.ones((1, 3, 16, 16), np.float32))
    result = run_cli("prepare", model, "-o", npy, "--profile", PROFILE, "--verify", "--input", f"x={npy}")
    _clean(result, 2, "writing it would destroy an input")
    assert _snapshot(tmp_path) == {**before, "x.npy": npy.read_bytes()}


def test_the_config_named_as_the_output_is_refused(run_cli, conv_model_path: Path, tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(f"model: {conv_model_path.name}\n")
    before = config.read_bytes()
    _clean(run_cli("prepare", "--config", config, "-o", config), 2, "-o and --config name the same file")
    _clean(run_cli("build", "--config", config, "-o", tmp_path / "m.plan", "--profile", PROFILE,
                   "--timing-cache", config), 2, "--timing-cache and --config name the same file")  # fmt: skip
    assert config.read_bytes() == before


# ---- external data


@pytest.mark.parametrize(
    ("key", "value", "said"),
    [
        ("offset", "-8", "offset is -8; it must be at least 0"),
        ("offset", "1e3", "is not a whole number"),
        ("offset", "0x10", "is not a whole number"),
        ("length", "abc", "is not a whole number"),
        ("length", "9" * 5000, "digits"),
        ("length", "4", "but its shape [4, 3, 3, 3] needs 432"),
        ("length", "100000", "but its shape [4, 3, 3, 3] needs 432"),
    ],
)
def test_external_data_numbers_are_checked(run_cli, tmp_path: Path, key: str, value: str, said: str) -> None:
    model = _external_model(tmp_path)
    _set_entry(model, key, value)
    for command in (["prepare", model, "-o", tmp_path / "o.onnx"], ["inspect", model]):
        _clean(run_cli(*command), 2, said)
    assert not (tmp_path / "o.onnx").exists()


@pytest.mark.parametrize("keep_length", [True, False])
def test_external_data_shorter_than_the_tensor_is_refused(run_cli, tmp_path: Path, keep_length: bool) -> None:
    model = _external_model(tmp_path)
    if not keep_length:
        _set_entry(model, "length", None)
    data = tmp_path / "ext.data"
    data.write_bytes(data.read_bytes()[:-4])  # the last tensor in the file loses its last element
    before = _snapshot(tmp_path)
    _clean(run_cli("prepare", model, "-o", tmp_path / "o.onnx"), 2, "the file is truncated")
    assert _snapshot(tmp_path) == before


# ---- numbers


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--profile", "x=1x3x8x" + "9" * 5000], "TensorRT takes dims below 2^31"),
        (["--target-tensorrt", "10." + "9" * 5000], "digits"),
        (["--target-tensorrt", "10.99999"], "digits"),
    ],
)
def test_numbers_of_thousands_of_digits(run_cli, conv_model_path: Path, tmp_path: Path, args, said) -> None:
    _clean(run_cli("prepare", conv_model_path, "-o", tmp_path / "o.onnx", *args), 2, said)


@pytest.mark.parametrize("key", ["seed", "opt_level", "atol", "workspace", "target_tensorrt"])
def test_a_config_number_of_thousands_of_digits(run_cli, conv_model_path: Path, tmp_path: Path, key) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(f"model: {conv_model_path.name}\n{key}: {'9' * 5000}\n")
    _clean(run_cli("build", "--config", config, "-o", tmp_path / "m.plan", "--profile", PROFILE), 2,
           "too large for a number")  # fmt: skip


# ---- options


@pytest.mark.parametrize(
    "args",
    [
        ["--config", "a.yaml", "--config", "b.yaml"],
        ["--precision", "fp16", "--precision", "fp32"],
        ["--verify", "--no-verify"],
        ["-o", "x.plan"],
    ],
)
def test_an_option_of_one_value_given_twice_is_refused(run_cli, conv_model_path, tmp_path, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    for name in ("a.yaml", "b.yaml"):
        (tmp_path / name).write_text(f"model: {conv_model_path.name}\n")
    result = run_cli("build", conv_model_path, "-o", "m.plan", "--profile", PROFILE, *args)
    _clean(result, 2, "is given twice; give it once")


def test_a_per_output_tolerance_given_twice_is_refused() -> None:
    from trtconvert.errors import BadInput
    from trtconvert.settings.tolerances import parse_tolerances

    with pytest.raises(BadInput, match="--atol for output 'y' is given twice"):
        parse_tolerances(["y=1e-3", "y=1e-2"], [], "fp32", ["y"])
    with pytest.raises(BadInput, match="--rtol for every output is given twice"):
        parse_tolerances([], ["1e-3", "1e-2"], "fp32", ["y"])
    chosen = parse_tolerances(["1e-3", "y=1e-2"], [], "fp32", ["y"])
    assert chosen.for_output("y")[0] == 1e-2


def test_usage_mistakes_are_one_error_line(run_cli, conv_model_path, tmp_path) -> None:
    result = run_cli("prepare", conv_model_path, "-o", tmp_path / "o.onnx", "--seed", "9" * 5000)
    _clean(result, 2, "--seed")
    assert "see trtconvert prepare --help" in result.stderr and len(result.stderr) < 1500
    _clean(run_cli("prepare", "--no-such-flag"), 2, "No such option")


def test_debug_keeps_every_exit_code(run_cli, conv_model_path, tmp_path) -> None:
    result = run_cli("build", conv_model_path, "-o", tmp_path / "m.plan", "--profile", PROFILE, "--debug")
    assert result.code == 3 and "Traceback" in result.stderr, result.stderr
    result = run_cli("inspect", tmp_path / "missing.onnx", "--debug")
    assert result.code == 2 and "Traceback" in result.stderr


def test_a_full_disk_names_where(run_cli, conv_model_path, tmp_path, monkeypatch) -> None:
    def no_space(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("trtconvert.prepare.pipeline.save_onnx", no_space)
    out = tmp_path / "sub" / "o.onnx"
    _clean(run_cli("prepare", conv_model_path, "-o", out), 2, "No space left on device")
    result = run_cli("prepare", conv_model_path, "-o", out)
    assert str(out.parent) in result.stderr and not (tmp_path / "sub").exists()


def test_a_bare_workspace_number_is_mib_as_in_trtexec() -> None:
    from trtconvert.settings.request import parse_size

    assert parse_size("4096") == 4096 * 2**20 == parse_size("4G")
    assert parse_size("4096B") == 4096


# ---- model content


def _tiny(inputs, outputs, nodes, opset: int = 13) -> onnx.ModelProto:
    from onnx import helper

    model = helper.make_model(
        helper.make_graph(nodes, "g", inputs, outputs), opset_imports=[helper.make_opsetid("", opset)]
    )
    model.ir_version = 8
    return model


def _with_ir(model: onnx.ModelProto, ir_version: int) -> onnx.ModelProto:
    model.ir_version = ir_version
    return model


def _interface_cases() -> dict[str, tuple[onnx.ModelProto, str]]:
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n"])
    relu = [helper.make_node("Relu", ["x"], ["y"])]
    text = helper.make_tensor_value_info("s", TensorProto.STRING, ["n"])
    sequence = helper.make_tensor_sequence_value_info("q", TensorProto.FLOAT, ["n"])
    optional = helper.make_value_info(
        "o", helper.make_optional_type_proto(helper.make_tensor_type_proto(TensorProto.FLOAT, ["n"]))
    )
    newer = _tiny([x], [y], relu)
    newer.opset_import[0].version = onnx.defs.onnx_opset_version() + 1
    length = helper.make_tensor_value_info("len", TensorProto.INT64, [])
    return {
        "no outputs": (_tiny([x], [], relu), "has no graph outputs"),
        "string input": (
            _tiny(
                [text],
                [helper.make_tensor_value_info("t", TensorProto.STRING, ["n"])],
                [helper.make_node("Identity", ["s"], ["t"])],
            ),
            "is a tensor of STRING",
        ),  # fmt: skip
        "sequence input": (
            _tiny([sequence], [length], [helper.make_node("SequenceLength", ["q"], ["len"])]),
            "input 'q' of m.onnx is a sequence",
        ),  # fmt: skip
        "optional output": (
            _tiny([x], [optional], [helper.make_node("Optional", ["x"], ["o"])], opset=15),
            "output 'o' of m.onnx is an optional",
        ),  # fmt: skip
        "newer opset": (newer, "newer than any known here"),
        "newer IR": (_with_ir(_tiny([x], [y], relu), onnx.IR_VERSION + 1), "newer than any known here"),
    }


@pytest.mark.parametrize("case", list(_interface_cases()))
def test_what_no_engine_can_bind_is_refused_by_every_command(run_cli, tmp_path: Path, case: str) -> None:
    model, said = _interface_cases()[case]
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    before = path.read_bytes()
    _clean(run_cli("inspect", path), 2, said)
    _clean(run_cli("prepare", path, "-o", tmp_path / "o.onnx", "--profile", "x=1:2:4"), 2, said)
    _clean(run_cli("build", path, "-o", tmp_path / "o.plan", "--profile", "x=1:2:4"), 2, said)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


def test_a_name_that_is_not_utf8_is_refused(run_cli, tmp_path: Path) -> None:
    raw = conv_model().SerializeToString()
    assert raw.count(b"relu") == 1
    path = tmp_path / "m.onnx"
    path.write_bytes(raw.replace(b"relu", b"re\xff\xfe"))
    _clean(run_cli("inspect", path), 2, "that is not UTF-8")
    _clean(run_cli("prepare", path, "-o", tmp_path / "o.onnx"), 2, "not UTF-8")


# ---- subgraphs: parser checks and dims pinning


def _nested_if_model() -> onnx.ModelProto:
    """An If on a flag whose then-branch holds an If on batch == 1 that squeezes the batch away, as exporters
    write `x.squeeze(0)` under a dynamic batch: the inner branches give [4] and [batch, 4]."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    info = helper.make_tensor_value_info
    inner_then = helper.make_graph(
        [helper.make_node("Squeeze", ["x", "zero"], ["sq"])],
        "inner_then",
        [],
        [info("sq", TensorProto.FLOAT, [4])],
    )
    inner_else = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["id"])],
        "inner_else",
        [],
        [info("id", TensorProto.FLOAT, ["batch", 4])],
    )
    outer_then = helper.make_graph(
        [
            helper.make_node("Shape", ["x"], ["shape"]),
            helper.make_node("Gather", ["shape", "zero"], ["n"], axis=0),
            helper.make_node("Equal", ["n", "one"], ["is_one"]),
            helper.make_node(
                "If", ["is_one"], ["inner"], name="inner_if", then_branch=inner_then, else_branch=inner_else
            ),  # fmt: skip
        ],
        "outer_then",
        [],
        [info("inner", TensorProto.FLOAT, ["batch", 4])],
    )
    outer_else = helper.make_graph(
        [helper.make_node("Neg", ["x"], ["neg"])],
        "outer_else",
        [],
        [info("neg", TensorProto.FLOAT, ["batch", 4])],
    )
    graph = helper.make_graph(
        [
            helper.make_node(
                "If", ["flag"], ["y"], name="outer_if", then_branch=outer_then, else_branch=outer_else
            )
        ],
        "nested",
        [info("x", TensorProto.FLOAT, ["batch", 4]), info("flag", TensorProto.BOOL, [])],
        [info("y", TensorProto.FLOAT, ["batch", 4])],
        [
            numpy_helper.from_array(np.array([0], np.int64), "zero"),
            numpy_helper.from_array(np.array([1], np.int64), "one"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


def test_the_parser_check_finds_an_if_nested_in_an_if() -> None:
    from trtconvert.prepare.parser_checks import find_problems

    (problem,) = find_problems(_nested_if_model())
    assert problem.node == "outer_if/outer_then/inner_if"
    assert problem.shape_inputs == ("x",) and problem.value_inputs == ()
    assert "different shapes ([4] and ['batch', 4])" in problem.what


def test_a_nested_if_is_refused_before_any_gpu_time(run_cli, tmp_path: Path) -> None:
    path = tmp_path / "nested.onnx"
    onnx.save(_nested_if_model(), path)
    result = run_cli("prepare", path, "-o", tmp_path / "o.onnx", "--profile", "x=1x4:2x4:4x4")
    _clean(result, 2, "will reject node 'outer_if/outer_then/inner_if'")
    assert "fix the dynamic dims of input(s) x" in result.stderr and not (tmp_path / "o.onnx").exists()


def _branch_traced_at_batch_2() -> onnx.ModelProto:
    """An If on a flag whose else-branch declares the shape it was traced at ([2, 4]) for its [batch, 4] output:
    batch pinned to 1 would contradict it."""
    from onnx import TensorProto, helper

    info = helper.make_tensor_value_info
    then_branch = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["t"])], "then", [], [info("t", TensorProto.FLOAT, ["batch", 4])]
    )
    else_branch = helper.make_graph(
        [helper.make_node("Neg", ["x"], ["e"])], "else", [], [info("e", TensorProto.FLOAT, [2, 4])]
    )
    graph = helper.make_graph(
        [helper.make_node("If", ["flag"], ["y"], then_branch=then_branch, else_branch=else_branch)],
        "traced",
        [info("x", TensorProto.FLOAT, ["batch", 4]), info("flag", TensorProto.BOOL, [])],
        [info("y", TensorProto.FLOAT, ["batch", 4])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


def test_dims_pinning_never_contradicts_a_subgraph() -> None:
    from trtconvert.model.dims import pin_dims_where_consistent

    model = _branch_traced_at_batch_2()
    pinned, left = pin_dims_where_consistent(model, {("x", 0): 1})
    assert pinned == [] and len(left) == 1 and left[0].startswith("x[0]=1 (")
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    pinned, left = pin_dims_where_consistent(model, {("x", 1): 4, ("x", 0): 2})
    assert pinned == ["x[0]=2"] and left == []  # 2 agrees with the branch; x[1] was static already


def test_a_model_whose_branch_contradicts_a_pinned_dim_prepares_and_verifies(run_cli, tmp_path: Path) -> None:
    path = tmp_path / "traced.onnx"
    onnx.save(_branch_traced_at_batch_2(), path)
    out = tmp_path / "o.onnx"
    result = run_cli("prepare", path, "-o", out, "--profile", "x=1x4", "--verify", "--input", "flag=1",
                     "--no-check-parser")  # fmt: skip
    assert result.code == 0, result.stderr
    assert "kept dynamic, a subgraph contradicts the static value: x[0]=1" in result.stderr
    import onnxruntime

    onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    onnx.shape_inference.infer_shapes(onnx.load(str(out)), strict_mode=True)


# ---- resources


def _expanding_model(side: int) -> onnx.ModelProto:
    """A model of a few hundred bytes whose ConstantOfShape folds into side*side float32 values."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    shape = numpy_helper.from_array(np.array([side, side], np.int64), "shape")
    one = numpy_helper.from_array(np.array([1.0], np.float32))
    nodes = [
        helper.make_node("ConstantOfShape", ["shape"], ["c"], value=one),
        helper.make_node("Add", ["x", "c"], ["y"]),
    ]
    info = helper.make_tensor_value_info
    return _tiny_with(
        nodes,
        [info("x", TensorProto.FLOAT, [side, side])],
        [info("y", TensorProto.FLOAT, [side, side])],
        [shape],
    )


def _tiny_with(nodes, inputs, outputs, initializers) -> onnx.ModelProto:
    from onnx import helper

    model = helper.make_model(
        helper.make_graph(nodes, "g", inputs, outputs, initializers),
        opset_imports=[helper.make_opsetid("", 13)],
    )
    model.ir_version = 8
    return model


def test_folding_stops_at_the_size_limit(run_cli, tmp_path: Path) -> None:
    path = tmp_path / "expands.onnx"
    onnx.save(_expanding_model(1024), path)  # folds into 4 MiB
    assert path.stat().st_size < 500
    small, whole = tmp_path / "small.onnx", tmp_path / "whole.onnx"
    assert run_cli("prepare", path, "-o", small, "--fold-max-size", "1M", "--verify").code == 0
    assert small.stat().st_size < 1000
    assert [n.op_type for n in onnx.load(str(small)).graph.node] == ["ConstantOfShape", "Add"]
    assert run_cli("prepare", path, "-o", whole, "--fold-max-size", "8M").code == 0
    assert whole.stat().st_size > 4 << 20 and [n.op_type for n in onnx.load(str(whole)).graph.node] == ["Add"]
    _clean(
        run_cli("prepare", path, "-o", small, "--fold-max-size", "lots"),
        2,
        "--fold-max-size 'lots' is not a size",
    )


def test_the_default_fold_limit_keeps_a_tiny_model_tiny(tmp_path: Path) -> None:
    from trtconvert.prepare.pipeline import DEFAULT_FOLD_MAX_BYTES, fold_limit
    from trtconvert.settings.spec import Spec

    assert fold_limit(Spec()) == DEFAULT_FOLD_MAX_BYTES
    assert fold_limit(Spec(), _expanding_model(8)) == DEFAULT_FOLD_MAX_BYTES
    assert fold_limit(Spec(fold_max_size="2G")) == 2 << 30


# ---- round trips: the sidecar we write is the sidecar we read


def _write_pair(folder: Path, profile: str, outputs: list[dict]) -> Path:
    from trtconvert.engine.plan_files import build_identity, make_sidecar, write_plan
    from trtconvert.model.profiles import parse_profile
    from trtconvert.settings.request import resolve
    from trtconvert.settings.spec import Spec

    model = folder / "built_from.onnx"
    onnx.save(conv_model(), model)
    spec = Spec(model=model, output=folder / "m.plan", profiles=[parse_profile(profile)])
    identity = build_identity(resolve(spec, "8.5"), model, [], [], "8.5.3.1", "9.0")
    plan_bytes = os.urandom(256)
    sidecar = make_sidecar(
        identity,
        plan_bytes,
        model=model.name,
        inputs=[
            {"name": name, "dtype": "float32", "dims": ["batch", 3, "height", "width"]} for name in ["x"]
        ],
        outputs=outputs,
        precision={"precision": "fp32", "mode": "builder_flags", "converter": None},
        gpu={"name": "NVIDIA H100 80GB HBM3", "compute_capability": "9.0"},
        strongly_typed=False,
        timings={"build": 1.0},
    )
    write_plan(folder / "m.plan", plan_bytes, sidecar)
    return folder / "m.plan"


def test_a_sidecar_with_an_output_of_unknown_rank_reads_back(run_cli, tmp_path: Path) -> None:
    from trtconvert.engine.plan_files import read_sidecar

    plan = _write_pair(tmp_path, PROFILE, [{"name": "y", "dtype": "float32", "dims": None}])
    assert read_sidecar(plan)["outputs"] == [{"name": "y", "dtype": "float32", "dims": None}]
    result = run_cli("inspect", plan)
    assert result.code == 0, result.stderr


def test_a_sidecar_of_another_model_is_named_as_such(run_cli, tmp_path: Path) -> None:
    plan = _write_pair(
        tmp_path, "input=1x3x8x8:1x3x16x16:1x3x32x32", [{"name": "y", "dtype": "float32", "dims": None}]
    )
    other = tmp_path / "other.onnx"
    onnx.save(conv_model(), other)
    _clean(
        run_cli("verify", plan, "--onnx", other),
        2,
        "does not fit other.onnx (--profile: the model has no input 'input'",
    )


def test_a_sidecar_past_tensorrt_limits_is_refused_before_allocating(run_cli, tmp_path: Path) -> None:
    import json

    plan = _write_pair(
        tmp_path, "x=1x3x8x8:1x3x16x16:1x3x65535x65535", [{"name": "y", "dtype": "float32", "dims": None}]
    )
    model = tmp_path / "built_from.onnx"
    _clean(run_cli("verify", plan, "--onnx", model), 2, "a TensorRT tensor holds fewer than 2^31")
    sidecar = plan.with_name("m.plan.json")
    document = json.loads(sidecar.read_text())
    document["profiles"][0]["x"]["max"] = [1, 3, 2**40, 2**40]
    sidecar.write_text(json.dumps(document))
    _clean(run_cli("verify", plan, "--onnx", model), 2, "2^31 - 1")


def test_onnxruntime_messages_keep_their_cause() -> None:
    from trtconvert.checks.ort_session import _first_line

    cause = "The input tensor cannot be reshaped to the requested shape. Input shape:{1,3,64}, requested shape:{48}"
    error = RuntimeError(
        "[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : Non-zero status code returned while running Reshape node. "
        f"Name:'{'n' * 900}'\n Status Message: {cause}"
    )
    line = _first_line(error)
    assert line.endswith(cause) and "\n" not in line and len(line) <= 620 and "ONNXRuntimeError" not in line


def test_inputs_larger_than_the_memory_left_are_refused_before_allocating(monkeypatch) -> None:
    from trtconvert.checks import compare
    from trtconvert.errors import BadInput
    from trtconvert.model.info import GraphTensor

    inputs = [GraphTensor("x", "float32", ("n", 1024))]
    monkeypatch.setattr(compare, "available_memory_bytes", lambda: 64 << 20)
    compare.check_feed_fits(inputs, {"x": (8192, 1024)})  # 32 MiB of 64
    with pytest.raises(BadInput, match=r"take 0.0 GiB, more than half of the 0.1 GiB of memory left"):
        compare.check_feed_fits(inputs, {"x": (8193, 1024)})
    with pytest.raises(BadInput, match="of memory left"):
        compare.random_feed(inputs, {"x": (2**31 - 1, 1024)}, {}, 0)


# ---- inspect: a suggested profile that runs


def _height_48_model(names: tuple[str, str] = ("x", "y")) -> onnx.ModelProto:
    """A text-recognizer-like model: a Conv whose kernel covers 48 rows, then the height axis squeezed away, so
    that the height must be exactly 48 while batch and width stay free."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.normal(size=(4, 3, 48, 3)).astype(np.float32), "w")
    axes = numpy_helper.from_array(np.array([2], np.int64), "axes")
    x, y = names
    nodes = [
        helper.make_node("Conv", [x, "w"], ["c"], pads=[0, 1, 0, 1]),
        helper.make_node("Squeeze", ["c", "axes"], [y]),
    ]
    info = helper.make_tensor_value_info
    return _tiny_with(
        nodes,
        [info(x, TensorProto.FLOAT, ["batch", 3, "height", "width"])],
        [info(y, TensorProto.FLOAT, ["batch", 4, "width"])],
        [weight, axes],
    )


def test_inspect_finds_the_height_the_model_fixes_and_its_profile_runs(run_cli, tmp_path: Path) -> None:
    import json
    import shlex

    path = tmp_path / "rec.onnx"
    onnx.save(_height_48_model(), path)
    result = run_cli("inspect", path, "--json")
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["profile_fixed_by_model"] == {"x[2]": 48} and report["profile_check"] is None
    flag = shlex.split(report["profile_example"])
    assert flag[1].startswith("x=1x3x48x")
    out = tmp_path / "rec.prepared.onnx"
    result = run_cli("prepare", path, "-o", out, *flag, "--verify")
    assert result.code == 0, result.stderr
    human = run_cli("inspect", path)
    assert "x[2] is 48: the model needs it" in human.stderr + human.stdout


def test_inspect_says_which_dim_it_could_not_determine(run_cli, tmp_path: Path) -> None:
    import json

    model = _height_48_model()
    model.graph.initializer[0].CopyFrom(
        onnx.numpy_helper.from_array(
            onnx.numpy_helper.to_array(model.graph.initializer[0])[:, :, :, :1].repeat(3, 3)[:, :, :47], "w"
        )
    )  # a kernel of 47 rows: no usual size fits
    path = tmp_path / "odd.onnx"
    onnx.save(model, path)
    result = run_cli("inspect", path, "--json")
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    assert "could not be determined" in report["profile_check"] and "x[2]" in report["profile_check"]


def test_inspect_does_not_run_a_suggestion_too_large_to_run_quickly(run_cli, tmp_path: Path) -> None:
    """A model whose static dims make its min shapes take gigabytes: inspect checks the suggestion with shape
    inference only and says why it did not run it (found by the fuzzer: 60 s and 6 GB trying sizes before)."""
    import json

    from onnx import TensorProto, helper

    info = helper.make_tensor_value_info
    path = tmp_path / "wide.onnx"
    onnx.save(
        _tiny_with(
            [helper.make_node("Relu", ["x"], ["y"])],
            [info("x", TensorProto.FLOAT, ["n", 40000, 4000, "w"])],
            [info("y", TensorProto.FLOAT, ["n", 40000, 4000, "w"])],
            [],
        ),
        path,
    )
    result = run_cli("inspect", path, "--json")
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    assert "not run on onnxruntime" in report["profile_checked_by"] and "MiB" in report["profile_checked_by"]
    assert report["profile_check"] is None


def test_shape_checks_see_weights_held_in_constant_nodes_without_their_data(run_cli, tmp_path: Path) -> None:
    """Exporters such as Paddle's hold every weight in a Constant node: the shape checks of the suggestion run on a
    copy where those are stand-ins (dims kept, no data), and must still find the height the Conv's kernel fixes."""
    import json

    from trtconvert.model.light import SHAPE_DATA_BYTES, shape_inference_copy
    from trtconvert.prepare.suggest_profile import shape_problem

    model = _height_48_model()
    weight = model.graph.initializer[0]
    model.graph.initializer.remove(weight)
    model.graph.node.insert(0, onnx.helper.make_node("Constant", [], ["w"], value=weight))
    light = shape_inference_copy(model)
    stand_ins = {t.name: t for t in light.graph.initializer}
    assert "w" in stand_ins and list(stand_ins["w"].dims) == [4, 3, 48, 3] and not stand_ins["w"].raw_data
    assert "axes" in stand_ins and stand_ins["axes"].raw_data  # small: kept as data, shape inference reads it
    assert light.ByteSize() < SHAPE_DATA_BYTES + 1024 < model.ByteSize()
    assert [n.op_type for n in light.graph.node] == ["Conv", "Squeeze"]
    assert shape_problem(light, {"x": (1, 3, 48, 16)}) is None
    assert shape_problem(light, {"x": (1, 3, 64, 16)}) is not None
    path = tmp_path / "constants.onnx"
    onnx.save(model, path)
    result = run_cli("inspect", path, "--json")
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["profile_fixed_by_model"] == {"x[2]": 48}


@pytest.mark.parametrize("name", ["a,b", "it's", 'say "hi"', "x=1", "a:0", "nul\x00", "tab\t"])
def test_inspect_suggests_a_profile_for_any_input_name(run_cli, tmp_path: Path, name: str) -> None:
    import json
    import shlex

    path = tmp_path / "named.onnx"
    onnx.save(_height_48_model((name, "out")), path)
    result = run_cli("inspect", path, "--json")
    assert result.code == 0, result.stderr
    example = json.loads(result.stdout)["profile_example"]
    if "," in name or "\x00" in name or "\t" in name:
        assert "profiles:" in example and json.dumps(name) in example
        return
    flag = shlex.split(example)
    result = run_cli("prepare", path, "-o", tmp_path / "o.onnx", *flag, "--verify")
    assert result.code == 0, result.stderr


def test_graph_surgeons_own_log_stays_quiet_below_vv() -> None:
    from onnx_graphsurgeon.logger import G_LOGGER

    from trtconvert import log

    log.configure(1)
    assert G_LOGGER.severity == G_LOGGER.CRITICAL
    log.configure(2)
    assert G_LOGGER.severity == G_LOGGER.VERBOSE
    log.configure(0)


def test_prepare_verify_refuses_shapes_past_the_memory_left_before_loading(
    run_cli, conv_model_path, tmp_path, monkeypatch
) -> None:
    from trtconvert.checks import compare

    monkeypatch.setattr(compare, "available_memory_bytes", lambda: 1 << 20)
    loaded = []
    monkeypatch.setattr("trtconvert.checks.ort_session.create_session", lambda *a, **k: loaded.append(a))
    result = run_cli(
        "prepare",
        conv_model_path,
        "-o",
        tmp_path / "o.onnx",
        "--profile",
        "x=1x3x8x8:1x3x256x256:1x3x512x512",
        "--verify",
    )
    _clean(result, 2, "of memory left")
    assert loaded == [] and not (tmp_path / "o.onnx").exists()


def test_a_string_attribute_that_is_not_utf8_is_refused(run_cli, tmp_path: Path) -> None:
    from resize_models import single_resize_model

    raw = single_resize_model(["n", 1, 8, 8], scales=[1, 1, 2, 2], opset=13).SerializeToString()
    assert raw.count(b"cubic") == 1
    path = tmp_path / "m.onnx"
    path.write_bytes(raw.replace(b"cubic", b"\x9cubic"))
    for command in (["inspect", path], ["prepare", path, "-o", tmp_path / "o.onnx"]):
        _clean(run_cli(*command), 2, "that is not UTF-8")


def test_inspect_does_not_run_max_shapes_whose_tensors_it_cannot_size(run_cli, example_model: Path) -> None:
    # The example's Resize takes its sizes from the shape of an input at run time, so shape inference sizes
    # nothing after it: at the suggested max (8x3x1024x1024) a run of it took 4.5 GB and 17 s.
    from trtconvert.checks.compare import largest_tensor_at

    shapes = {"input": (8, 3, 1024, 1024), "factor": (1, 1, 1024, 1024)}
    model = onnx.load(example_model)
    assert largest_tensor_at(model, shapes)[1] < 1 << 20  # only the small shape tensors are known
    # counted with each unknown dim as long as the longest input dim, the Resize's output is the largest
    assert largest_tensor_at(model, shapes, unknown_dim=1024) == ("upscaled", 1024**4 * 4)
    result = run_cli("inspect", example_model, "--json")
    assert result.code == 0, result.stderr
    assert (
        json.loads(result.stdout)["profile_checked_by"]
        == "onnx shape inference and onnxruntime at the min shapes"
    )


def test_debug_keeps_a_message_with_a_line_break_on_one_line(run_cli, tmp_path: Path) -> None:
    # The traceback --debug shows ends with the error's message, which echoes the path given: a line break in it
    # must not start a second "error:" line there (the argument fuzzer found one through export triton).
    result = run_cli(
        "export", "triton", "a\nerror: forged", "-o", tmp_path / "repo", "--name", "m", "--debug"
    )
    assert result.code == 2
    assert "Traceback" in result.stderr
    assert [line for line in result.stderr.splitlines() if line.startswith("error:")] == [
        "error: plan file not found: a\\nerror: forged; check the path"
    ]
