"""Adversarial cases on the hardening categories (paths, external data, numbers, model content, resources, round
trips, options, real-model traits, docs), each varying what the earlier sets kept fixed: the command, where the
bad value comes from (flag, config key, environment, sidecar, manifest, ONNX field, external-data entry, `.npy`)
and the role of the file. Every case runs through the whole contract (tests/contract.py): an exit code of the
contract, one `error:` line naming the problem, no traceback, inputs byte-identical, nothing partial left.

Runs in this process where nothing can block; cases that hand over a fifo or a device run in a fresh process
with a time bound."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import pytest
from contract import assert_contract, digests, partial_files, trtconvert
from model_factories import conv_model
from onnx import TensorProto, helper, numpy_helper
from tensorrt_machine import NEEDS_TENSORRT_AND_GPU

PROFILE = "x=1x3x8x8:1x3x16x16:2x3x32x32"
BAD = {2}
BAD_OR_NO_TENSORRT = {2, 3}


@dataclass
class Case:
    args: list
    codes: set[int]
    said: str = ""
    isolated: bool = False  # a fifo or a device: a fresh process, with a time bound
    env: dict[str, str] = field(default_factory=dict)
    check: Callable[[Path, object], None] | None = None


CASES: dict[str, tuple[str, Callable[[Path], Case]]] = {}


def case(category: str):
    def register(builder: Callable[[Path], Case]) -> Callable[[Path], Case]:
        CASES[builder.__name__] = (category, builder)
        return builder

    return register


# ---- helpers that write the files a case hands over


def _model(folder: Path, model: onnx.ModelProto | None = None, name: str = "model.onnx") -> Path:
    path = folder / name
    path.write_bytes((model or conv_model()).SerializeToString())
    return path


def _external(folder: Path, name: str = "ext.onnx", location: str = "ext.data") -> Path:
    path = folder / name
    onnx.save(conv_model(), path, save_as_external_data=True, location=location, size_threshold=0)
    return path


def _set_entry(path: Path, key: str, value: str | None, tensor_name: str = "w") -> None:
    model = onnx.load(str(path), load_external_data=False)
    (tensor,) = [t for t in model.graph.initializer if t.name == tensor_name]
    entries = [(e.key, e.value) for e in tensor.external_data if e.key != key]
    if value is not None:
        entries.append((key, value))
    del tensor.external_data[:]
    for k, v in entries:
        tensor.external_data.add(key=k, value=v)
    path.write_bytes(model.SerializeToString())


def _pair(folder: Path, profile: str = PROFILE, edit: Callable[[dict], None] | None = None) -> Path:
    """A plan (random bytes) with a sidecar as build writes it, optionally edited by hand afterwards."""
    from trtconvert.engine.plan_files import build_identity, make_sidecar, write_plan
    from trtconvert.model.profiles import parse_profile
    from trtconvert.settings.request import resolve
    from trtconvert.settings.spec import Spec

    model = _model(folder, name="built_from.onnx")
    spec = Spec(model=model, output=folder / "m.plan", profiles=[parse_profile(profile)])
    identity = build_identity(resolve(spec, "8.5"), model, [], [], "8.5.3.1", "9.0")
    plan_bytes = os.urandom(256)
    sidecar = make_sidecar(
        identity,
        plan_bytes,
        model=model.name,
        inputs=[{"name": "x", "dtype": "float32", "dims": ["batch", 3, "height", "width"]}],
        outputs=[{"name": "y", "dtype": "float32", "dims": ["batch", 4, "height", "width"]}],
        precision={"precision": "fp32", "mode": "builder_flags", "converter": None},
        gpu={"name": "NVIDIA H100 80GB HBM3", "compute_capability": "9.0"},
        strongly_typed=False,
        timings={"build": 1.0},
    )
    write_plan(folder / "m.plan", plan_bytes, sidecar)
    if edit is not None:
        sidecar_path = folder / "m.plan.json"
        document = json.loads(sidecar_path.read_text())
        edit(document)
        sidecar_path.write_text(json.dumps(document))
    return folder / "m.plan"


def _config(folder: Path, text: str, name: str = "c.yaml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def _npy(folder: Path, array, name: str = "v.npy", **kwargs) -> Path:
    path = folder / name
    np.save(path, array, **kwargs)
    return path


def _graph_model(nodes, inputs, outputs, initializers=(), opset: int = 13, ir: int = 8, **graph_kwargs):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers), **graph_kwargs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = ir
    return model


INFO = helper.make_tensor_value_info
F = TensorProto.FLOAT


def _relu_model(**kwargs) -> onnx.ModelProto:
    return _graph_model(
        [helper.make_node("Relu", ["x"], ["y"], name="relu")],
        [INFO("x", F, ["n", 4])],
        [INFO("y", F, ["n", 4])],
        **kwargs,
    )


def _prepare(model: Path, folder: Path, *extra) -> list:
    return ["prepare", model, "-o", folder / "out" / "p.onnx", *extra]


def _build(model: Path, folder: Path, *extra) -> list:
    return ["build", model, "-o", folder / "out" / "m.plan", "--profile", PROFILE, *extra]


# ---- paths


@case("paths")
def external_data_escaping_the_folder_with_dotdot(d: Path) -> Case:
    inner = d / "inner"
    inner.mkdir()
    (d / "secret.data").write_bytes(b"\0" * 4096)
    model = _external(inner, location="ext.data")
    _set_entry(model, "location", "../secret.data")
    return Case(["inspect", model], BAD, "outside")


@case("paths")
def external_data_through_a_symlink_leaving_the_folder(d: Path) -> Case:
    inner = d / "inner"
    inner.mkdir()
    model = _external(inner)
    os.replace(inner / "ext.data", d / "real.data")
    (inner / "ext.data").symlink_to(d / "real.data")
    return Case(_build(model, d), BAD, "outside")


@case("paths")
def output_over_the_model_spelled_with_dotdot(d: Path) -> Case:
    model = _model(d)
    (d / "sub").mkdir()
    return Case(["prepare", model, "-o", f"{d}/sub/../model.onnx"], BAD, "input file itself")


@case("paths")
def output_a_hard_link_to_the_model(d: Path) -> Case:
    model = _model(d)
    os.link(model, d / "alias.onnx")
    return Case(["prepare", model, "-o", d / "alias.onnx"], BAD, "input file itself")


@case("paths")
def timing_cache_a_hard_link_to_the_model(d: Path) -> Case:
    model = _model(d)
    os.link(model, d / "t.cache")
    return Case(_build(model, d, "--timing-cache", d / "t.cache"), BAD, "same file")


@case("paths")
def calib_cache_a_symlink_to_the_config(d: Path) -> Case:
    model = _model(d)
    config = _config(d, f"model: {model}\nprecision: int8\ncalib_random_for_timing_only: true\n")
    (d / "calib.cache").symlink_to(config)
    return Case(
        ["build", "--config", config, "-o", d / "out" / "m.plan", "--profile", PROFILE, "--calib-cache",
         d / "calib.cache"],
        BAD,
        "same file",
    )  # fmt: skip


@case("paths")
def output_over_an_input_npy_through_a_hard_link(d: Path) -> Case:
    model = _model(d)
    values = _npy(d, np.ones((1, 3, 16, 16), np.float32))
    os.link(values, d / "out.onnx")
    return Case(
        ["prepare", model, "-o", d / "out.onnx", "--profile", PROFILE, "--verify", "--input", f"x={values}"],
        BAD,
        "same file",
    )


@case("paths")
def timing_cache_that_is_a_folder(d: Path) -> Case:
    model = _model(d)
    (d / "t.cache").mkdir()
    return Case(_build(model, d, "--timing-cache", d / "t.cache"), BAD, "directory")


@case("paths")
def cache_dir_that_is_a_file(d: Path) -> Case:
    model = _model(d)
    (d / "cache").write_text("not a folder")
    return Case(_build(model, d, "--cache-dir", d / "cache"), BAD, "cache")


@case("paths")
def plugin_that_is_a_folder_for_verify(d: Path) -> Case:
    plan = _pair(d)
    (d / "lib.so").mkdir()
    return Case(["verify", plan, "--onnx", d / "built_from.onnx", "--plugin", d / "lib.so"], BAD, "lib.so")


@case("paths")
def onnx_of_verify_that_cannot_be_read(d: Path) -> Case:
    plan = _pair(d)
    onnx_path = d / "built_from.onnx"
    onnx_path.chmod(0)
    if os.geteuid() == 0:  # root reads anything: the folder form of the same mistake instead
        onnx_path.chmod(0o644)
        onnx_path = d / "folder.onnx"
        onnx_path.mkdir()
    return Case(["verify", plan, "--onnx", onnx_path], BAD, "onnx")


@case("paths")
def calibration_data_that_is_a_fifo(d: Path) -> Case:
    model = _model(d)
    os.mkfifo(d / "calib.npy")
    return Case(
        _build(model, d, "--precision", "int8", "--calib-data", d / "calib.npy"), BAD, "calib", isolated=True
    )


@case("paths")
def inspect_of_a_device(d: Path) -> Case:
    return Case(["inspect", "/dev/zero"], BAD, "/dev/zero", isolated=True)


@case("paths")
def input_npy_that_is_a_device(d: Path) -> Case:
    model = _model(d)
    return Case(_prepare(model, d, "--profile", PROFILE, "--verify", "--input", "x=/dev/zero"), BAD, "/dev/zero",
                isolated=True)  # fmt: skip


@case("paths")
def export_triton_repository_that_is_a_file(d: Path) -> Case:
    plan = _pair(d)
    (d / "repo").write_text("a file")
    return Case(["export", "triton", plan, "-o", d / "repo", "--name", "m"], BAD, "repo")


@case("paths")
def fleet_store_that_is_a_file(d: Path) -> Case:
    model = _model(d)
    (d / "store").write_text("a file")
    manifest = _config(
        d,
        f"store: store\ngpus: [H100]\njobs:\n  - model: {model.name}\n    profiles: ['{PROFILE}']\n",
        "fleet.yaml",
    )
    # the store is written by the workers, which may see another file system: the dry run lists, checks no store
    return Case(["fleet", manifest, "--dry-run"], {0, 2})


@case("paths")
def fleet_job_model_that_is_missing(d: Path) -> Case:
    manifest = _config(d, "store: store\ngpus: [H100]\njobs:\n  - model: nowhere.onnx\n", "fleet.yaml")
    # models are read on the workers, at the manifest's paths: not a local check
    return Case(["fleet", manifest, "--dry-run"], {0, 2})


@case("paths")
def plugins_build_output_that_is_a_file(d: Path) -> Case:
    (d / "lib").write_text("a file")
    return Case(["plugins", "build", "-o", d / "lib", "--kernels-only"], BAD_OR_NO_TENSORRT, "lib")


@case("paths")
def config_model_relative_with_dotdot_to_a_folder(d: Path) -> Case:
    (d / "models").mkdir()
    config = _config(d, "model: ../\n")
    return Case(["prepare", "--config", config, "-o", d / "out" / "p.onnx"], BAD, "directory")


# ---- external data


@case("external data")
def external_location_empty(d: Path) -> Case:
    model = _external(d)
    _set_entry(model, "location", "")
    return Case(_prepare(model, d), BAD, "location")


@case("external data")
def external_location_the_folder_itself(d: Path) -> Case:
    model = _external(d)
    _set_entry(model, "location", ".")
    return Case(_prepare(model, d), BAD, "regular file")


@case("external data")
def external_location_absolute(d: Path) -> Case:
    model = _external(d)
    _set_entry(model, "location", str(d / "ext.data"))
    return Case(["inspect", model], BAD, "location")


@case("external data")
def external_offset_past_the_end_of_the_file(d: Path) -> Case:
    model = _external(d)
    _set_entry(model, "offset", str(10**12))
    return Case(_build(model, d), BAD, "ext.data")


@case("external data")
def external_offset_written_in_hex(d: Path) -> Case:
    model = _external(d)
    _set_entry(model, "offset", "0x0")
    return Case(["inspect", model], BAD, "offset")


@case("external data")
def external_entry_with_two_locations(d: Path) -> Case:
    model = _external(d)
    loaded = onnx.load(str(model), load_external_data=False)
    (tensor,) = [t for t in loaded.graph.initializer if t.name == "w"]
    tensor.external_data.add(key="location", value="other.data")
    model.write_bytes(loaded.SerializeToString())
    return Case(_prepare(model, d), BAD, "twice")


@case("external data")
def external_entry_with_an_unknown_key(d: Path) -> Case:
    model = _external(d)
    _set_entry(model, "compression", "zstd")
    return Case(_prepare(model, d), BAD, "compression")


@case("external data")
def external_location_a_fifo(d: Path) -> Case:
    model = _external(d)
    (d / "ext.data").unlink()
    os.mkfifo(d / "ext.data")
    return Case(["inspect", model], BAD, "ext.data", isolated=True)


@case("external data")
def external_marked_without_entries(d: Path) -> Case:
    model = _external(d)
    loaded = onnx.load(str(model), load_external_data=False)
    (tensor,) = [t for t in loaded.graph.initializer if t.name == "w"]
    del tensor.external_data[:]
    model.write_bytes(loaded.SerializeToString())
    return Case(_prepare(model, d), BAD, "external")


@case("external data")
def external_data_on_a_constant_node(d: Path) -> Case:
    (d / "const.data").write_bytes(np.ones(4, np.float32).tobytes())
    tensor = TensorProto(name="c", data_type=F, dims=[4])
    tensor.data_location = TensorProto.EXTERNAL
    tensor.external_data.add(key="location", value="../../etc/passwd")
    model = _graph_model(
        [helper.make_node("Constant", [], ["c"], value=tensor), helper.make_node("Add", ["x", "c"], ["y"])],
        [INFO("x", F, ["n", 4])],
        [INFO("y", F, ["n", 4])],
    )
    path = _model(d, model)
    return Case(_prepare(path, d), BAD, "outside")


@case("external data")
def external_data_and_raw_data_both(d: Path) -> Case:
    model = _external(d)
    loaded = onnx.load(str(model), load_external_data=False)
    (tensor,) = [t for t in loaded.graph.initializer if t.name == "w"]
    tensor.raw_data = b"\1" * 8
    model.write_bytes(loaded.SerializeToString())
    return Case(_prepare(model, d), BAD, "w")


# ---- numbers


@case("numbers")
def workspace_negative(d: Path) -> Case:
    return Case(_build(_model(d), d, "--workspace", "-1G"), BAD, "--workspace")


@case("numbers")
def workspace_in_exponent_form(d: Path) -> Case:
    return Case(_build(_model(d), d, "--workspace", "1e9"), BAD, "--workspace")


@case("numbers")
def workspace_bool_in_config(d: Path) -> Case:
    model = _model(d)
    config = _config(d, f"model: {model}\nworkspace: true\nprofiles: ['{PROFILE}']\n")
    return Case(["build", "--config", config, "-o", d / "out" / "m.plan"], BAD, "workspace")


@case("numbers")
def max_builds_zero(d: Path) -> Case:
    return Case(
        _build(_model(d), d, "--precision", "fp16", "--verify", "--auto-keep-fp32", "--max-builds", "0"),
        BAD,
        "--max-builds",
    )


@case("numbers")
def max_builds_huge(d: Path) -> Case:
    return Case(
        _build(_model(d), d, "--precision", "fp16", "--verify", "--auto-keep-fp32", "--max-builds", "9" * 30),
        BAD_OR_NO_TENSORRT,  # at most N builds: a huge N is no limit, which the search may have
        "",
    )


@case("numbers")
def export_instances_zero(d: Path) -> Case:
    return Case(
        ["export", "triton", _pair(d), "-o", d / "repo", "--name", "m", "--instances", "0"], BAD, "instances"
    )


@case("numbers")
def export_instances_huge(d: Path) -> Case:
    return Case(
        ["export", "triton", _pair(d), "-o", d / "repo", "--name", "m", "--instances", "9" * 40],
        BAD,
        "instances",
    )


@case("numbers")
def export_max_batch_size_negative(d: Path) -> Case:
    return Case(
        ["export", "triton", _pair(d), "-o", d / "repo", "--name", "m", "--max-batch-size", "-3"],
        BAD,
        "batch",
    )


@case("numbers")
def verify_atol_infinite(d: Path) -> Case:
    plan = _pair(d)
    return Case(["verify", plan, "--onnx", d / "built_from.onnx", "--atol", "inf"], BAD, "atol")


@case("numbers")
def verify_per_output_rtol_negative(d: Path) -> Case:
    plan = _pair(d)
    return Case(["verify", plan, "--onnx", d / "built_from.onnx", "--rtol", "y=-1e-3"], BAD, "rtol")


@case("numbers")
def verify_seed_past_2_63(d: Path) -> Case:
    plan = _pair(d)
    return Case(["verify", plan, "--onnx", d / "built_from.onnx", "--seed", str(2**64)], BAD, "seed")


@case("numbers")
def bench_iterations_huge(d: Path) -> Case:
    return Case(["bench", _pair(d), "--iterations", "9" * 5000], BAD, "iterations")


@case("numbers")
def bench_shapes_with_zero_dim(d: Path) -> Case:
    # bench reads its profiles from the engine: without TensorRT, exit 3 is the honest answer
    return Case(["bench", _pair(d), "--shapes", "x=0x3x16x16"], BAD_OR_NO_TENSORRT, "")


@case("numbers")
def profile_min_above_opt(d: Path) -> Case:
    return Case(_prepare(_model(d), d, "--profile", "x=2x3x8x8:1x3x16x16:2x3x32x32"), BAD, "x")


@case("numbers")
def profile_dim_zero_in_config(d: Path) -> Case:
    model = _model(d)
    config = _config(d, f"model: {model}\nprofiles:\n  - x: 1x3x0x8:1x3x16x16:2x3x32x32\n")
    return Case(["prepare", "--config", config, "-o", d / "out" / "p.onnx"], BAD, "x")


@case("numbers")
def seed_float_in_config(d: Path) -> Case:
    model = _model(d)
    config = _config(d, f"model: {model}\nseed: 1.5\nprofiles: ['{PROFILE}']\nverify: true\n")
    return Case(["prepare", "--config", config, "-o", d / "out" / "p.onnx"], BAD, "seed")


@case("numbers")
def fold_max_size_negative(d: Path) -> Case:
    return Case(_prepare(_model(d), d, "--fold-max-size", "-5"), BAD, "--fold-max-size")


@case("numbers")
def fold_max_size_exponent_in_config(d: Path) -> Case:
    model = _model(d)
    config = _config(d, f"model: {model}\nfold_max_size: 1.0e400\n")
    return Case(["prepare", "--config", config, "-o", d / "out" / "p.onnx"], BAD, "1.0e400")


@case("numbers")
def int8_min_within_above_one(d: Path) -> Case:
    return Case(_prepare(_model(d), d, "--precision", "int8", "--calib-random-for-timing-only",
                         "--int8-min-within", "1.5"), BAD, "--int8-min-within")  # fmt: skip


@case("numbers")
def heartbeat_seconds_not_a_number(d: Path) -> Case:
    return Case(_build(_model(d), d), BAD_OR_NO_TENSORRT, "", env={"TRTCONVERT_HEARTBEAT_SECONDS": "-1e999"})


@case("numbers")
def fleet_manifest_instances_negative(d: Path) -> Case:
    model = _model(d)
    manifest = _config(
        d,
        f"store: store\ngpus: [H100]\njobs:\n  - model: {model.name}\n    profiles: ['{PROFILE}']\n"
        "triton:\n  repository: repo\n  instances: -2\n",
        "fleet.yaml",
    )
    return Case(["fleet", manifest, "--dry-run"], BAD, "instances")


@case("numbers")
def plugins_build_jobs_zero(d: Path) -> Case:
    return Case(["plugins", "build", "-j", "0", "-o", d / "lib"], BAD, "-j")


# ---- model content


@case("model content")
def node_output_shadows_a_graph_input(d: Path) -> Case:
    model = _graph_model(
        [helper.make_node("Relu", ["x"], ["x"], name="shadow"), helper.make_node("Neg", ["x"], ["y"])],
        [INFO("x", F, ["n", 4])],
        [INFO("y", F, ["n", 4])],
    )
    return Case(_prepare(_model(d, model), d, "--verify"), BAD, "x")


@case("model content")
def graph_input_that_is_also_an_initializer(d: Path) -> Case:
    weight = numpy_helper.from_array(np.ones((1, 4), np.float32), "b")
    model = _graph_model(
        [helper.make_node("Add", ["x", "b"], ["y"])],
        [INFO("x", F, ["n", 4]), INFO("b", F, [1, 4])],
        [INFO("y", F, ["n", 4])],
        [weight],
    )
    return Case(_prepare(_model(d, model), d, "--profile", "x=1x4:2x4:4x4", "--verify"), {0, 2})


@case("model content")
def zero_sized_static_input(d: Path) -> Case:
    model = _graph_model(
        [helper.make_node("Relu", ["x"], ["y"])], [INFO("x", F, [0, 4])], [INFO("y", F, [0, 4])]
    )
    return Case(_prepare(_model(d, model), d, "--verify"), {0, 2})


@case("model content")
def huge_static_input_verified(d: Path) -> Case:
    model = _graph_model(
        [helper.make_node("Relu", ["x"], ["y"])],
        [INFO("x", F, [2**20, 2**20, 2**10])],
        [INFO("y", F, [2**20, 2**20, 2**10])],
    )
    return Case(_prepare(_model(d, model), d, "--verify"), BAD, "x")


@case("model content")
def negative_dim_in_value_info(d: Path) -> Case:
    model = _relu_model()
    model.graph.value_info.append(INFO("y", F, [-5, 4]))
    return Case(_prepare(_model(d, model), d, "--profile", "x=1x4:2x4:4x4", "--verify"), {0, 2})


@case("model content")
def negative_dim_on_an_input(d: Path) -> Case:
    model = _graph_model(
        [helper.make_node("Relu", ["x"], ["y"])], [INFO("x", F, [-3, 4])], [INFO("y", F, ["n", 4])]
    )
    # a negative dim is read as a dynamic one (old exporters wrote -1), and inspect describes
    return Case(["inspect", _model(d, model)], {0, 2})


@case("model content")
def cyclic_graph(d: Path) -> Case:
    model = _graph_model(
        [helper.make_node("Add", ["x", "b"], ["a"]), helper.make_node("Relu", ["a"], ["b"])],
        [INFO("x", F, ["n", 4])],
        [INFO("b", F, ["n", 4])],
    )
    return Case(_prepare(_model(d, model), d, "--profile", "x=1x4:2x4:4x4"), BAD, "topologically")


@case("model content")
def node_input_that_nothing_produces(d: Path) -> Case:
    model = _graph_model(
        [helper.make_node("Add", ["x", "ghost"], ["y"])], [INFO("x", F, ["n", 4])], [INFO("y", F, ["n", 4])]
    )
    return Case(
        ["build", _model(d, model), "-o", d / "out" / "m.plan", "--profile", "x=1x4:2x4:4x4"], BAD, "ghost"
    )


@case("model content")
def duplicated_graph_output_names(d: Path) -> Case:
    model = _graph_model(
        [helper.make_node("Relu", ["x"], ["y"])],
        [INFO("x", F, ["n", 4])],
        [INFO("y", F, ["n", 4]), INFO("y", F, ["n", 4])],
    )
    return Case(_prepare(_model(d, model), d, "--profile", "x=1x4:2x4:4x4", "--verify"), BAD, "y")


@case("model content")
def two_nodes_writing_one_tensor(d: Path) -> Case:
    model = _graph_model(
        [helper.make_node("Relu", ["x"], ["y"]), helper.make_node("Neg", ["x"], ["y"])],
        [INFO("x", F, ["n", 4])],
        [INFO("y", F, ["n", 4])],
    )
    return Case(_prepare(_model(d, model), d, "--profile", "x=1x4:2x4:4x4", "--verify"), BAD, "'y'")


@case("model content")
def model_local_function(d: Path) -> Case:
    function = helper.make_function(
        "local", "MyRelu", ["a"], ["b"], [helper.make_node("Relu", ["a"], ["b"])],
        [helper.make_opsetid("", 13)],
    )  # fmt: skip
    graph = helper.make_graph(
        [helper.make_node("MyRelu", ["x"], ["y"], domain="local")],
        "g",
        [INFO("x", F, ["n", 4])],
        [INFO("y", F, ["n", 4])],
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("local", 1)],
        functions=[function],
    )
    model.ir_version = 8
    return Case(_prepare(_model(d, model), d, "--profile", "x=1x4:2x4:4x4", "--verify"), {0, 2})


@case("model content")
def subgraph_naming_an_outer_value_that_does_not_exist(d: Path) -> Case:
    then_branch = helper.make_graph(
        [helper.make_node("Relu", ["nowhere"], ["t"])], "then", [], [INFO("t", F, ["n", 4])]
    )
    else_branch = helper.make_graph(
        [helper.make_node("Neg", ["x"], ["e"])], "else", [], [INFO("e", F, ["n", 4])]
    )
    model = _graph_model(
        [helper.make_node("If", ["flag"], ["y"], then_branch=then_branch, else_branch=else_branch)],
        [INFO("x", F, ["n", 4]), INFO("flag", TensorProto.BOOL, [])],
        [INFO("y", F, ["n", 4])],
    )
    return Case(["build", _model(d, model), "-o", d / "out" / "m.plan", "--profile", "x=1x4:2x4:4x4"], BAD,
                "nowhere")  # fmt: skip


@case("model content")
def opset_import_without_the_default_domain(d: Path) -> Case:
    model = _relu_model()
    del model.opset_import[:]
    model.opset_import.add(domain="com.example", version=1)
    return Case(
        ["build", _model(d, model), "-o", d / "out" / "m.plan", "--profile", "x=1x4:2x4:4x4"], BAD, "opset"
    )


@case("model content")
def ir_version_zero(d: Path) -> Case:
    return Case(["inspect", _model(d, _relu_model(ir=0))], BAD, "IR")


@case("model content")
def ir_version_99(d: Path) -> Case:
    return Case(_prepare(_model(d, _relu_model(ir=99)), d), BAD, "IR")


@case("model content")
def initializer_whose_bytes_do_not_fit_its_shape(d: Path) -> Case:
    weight = numpy_helper.from_array(np.ones((1, 4), np.float32), "b")
    weight.raw_data = weight.raw_data[:6]
    model = _graph_model(
        [helper.make_node("Add", ["x", "b"], ["y"])],
        [INFO("x", F, ["n", 4])],
        [INFO("y", F, ["n", 4])],
        [weight],
    )
    return Case(_prepare(_model(d, model), d, "--profile", "x=1x4:2x4:4x4", "--verify"), BAD, "b")


@case("model content")
def graph_input_without_a_type(d: Path) -> Case:
    model = _relu_model()
    model.graph.input[0].ClearField("type")
    return Case(["inspect", _model(d, model)], BAD, "x")


# ---- resources


@case("resources")
def config_of_50_mb(d: Path) -> Case:
    model = _model(d)
    config = d / "c.yaml"
    with config.open("w") as out:
        out.write(f"model: {model}\n# padding\n")
        line = "# " + "x" * 1022 + "\n"
        for _ in range(50 * 1024):
            out.write(line)
    return Case(["prepare", "--config", config, "-o", d / "out" / "p.onnx"], BAD, "c.yaml")


@case("resources")
def npy_header_declaring_a_huge_array(d: Path) -> Case:
    model = _model(d)
    path = d / "v.npy"
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 3, 100000, 100000), }"
    header = header + " " * (63 - (len(header) + 10) % 64) + "\n"
    path.write_bytes(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + b"\0" * 64)
    return Case(_prepare(model, d, "--profile", PROFILE, "--verify", "--input", f"x={path}"), BAD, "v.npy")


@case("resources")
def freeze_file_declaring_a_huge_array(d: Path) -> Case:
    model = _graph_model(
        [helper.make_node("Add", ["x", "b"], ["y"])],
        [INFO("x", F, ["n", 4]), INFO("b", F, ["n", 4])],
        [INFO("y", F, ["n", 4])],
    )
    path = d / "b.npy"
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (4000000000, 4), }"
    header = header + " " * (63 - (len(header) + 10) % 64) + "\n"
    path.write_bytes(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + b"\0" * 64)
    return Case(
        _prepare(_model(d, model), d, "--freeze", f"b={path}", "--profile", "x=1x4:2x4:4x4"), BAD, "b.npy"
    )


def _range_model(limit: int) -> onnx.ModelProto:
    """x + max(range(limit)): a few bytes of model whose folding computes ``limit`` int64 values on the way."""
    constants = [
        numpy_helper.from_array(np.array(v, np.int64), n)
        for n, v in (("limit", limit), ("zero", 0), ("one", 1))
    ]
    return _graph_model(
        [
            helper.make_node("Range", ["zero", "limit", "one"], ["r"]),
            helper.make_node("ReduceMax", ["r"], ["m"], keepdims=0),
            helper.make_node("Cast", ["m"], ["mf"], to=F),
            helper.make_node("Add", ["x", "mf"], ["y"]),
        ],
        [INFO("x", F, ["n", 4])],
        [INFO("y", F, ["n", 4])],
        constants,
    )


def _ops_of_output(*ops: str) -> Callable[[Path, object], None]:
    def check(folder: Path, run) -> None:
        assert [n.op_type for n in onnx.load(str(folder / "out" / "p.onnx")).graph.node] == list(ops)

    return check


@case("resources")
def a_range_that_folds_into_gigabytes(d: Path) -> Case:
    # in a fresh process: the contract's memory bound (3 GiB) holds the run, which once took 24 GB
    return Case(_prepare(_model(d, _range_model(3 * 10**9)), d, "--profile", "x=1x4:2x4:4x4"), {0}, isolated=True,
                check=_ops_of_output("Range", "ReduceMax", "Cast", "Add"))  # fmt: skip


@case("resources")
def verify_of_a_model_whose_own_tensor_passes_the_memory(d: Path) -> Case:
    # the same Range is left unfolded, and onnxruntime would make it whole on the reference run
    return Case(_prepare(_model(d, _range_model(10**12)), d, "--profile", "x=1x4:2x4:4x4", "--verify"), BAD,
                "tensor 'r'", isolated=True)  # fmt: skip


@case("resources")
def a_small_range_still_folds(d: Path) -> Case:
    return Case(_prepare(_model(d, _range_model(10)), d, "--profile", "x=1x4:2x4:4x4", "--verify"), {0},
                check=_ops_of_output("Add"))  # fmt: skip


@case("resources")
def a_tile_past_the_fold_limit_in_a_chain(d: Path) -> Case:
    base = numpy_helper.from_array(np.ones((1024, 1024), np.float32), "base")
    repeats = numpy_helper.from_array(np.array([64, 64], np.int64), "repeats")
    model = _graph_model(
        [
            helper.make_node("Tile", ["base", "repeats"], ["t"]),
            helper.make_node("ReduceSum", ["t"], ["s"], keepdims=0),
            helper.make_node("Add", ["x", "s"], ["y"]),
        ],
        [INFO("x", F, ["n", 4])],
        [INFO("y", F, ["n", 4])],
        [base, repeats],
    )
    return Case(_prepare(_model(d, model), d, "--profile", "x=1x4:2x4:4x4", "--fold-max-size", "8M"), {0},
                isolated=True, check=_ops_of_output("Tile", "ReduceSum", "Add"))  # fmt: skip


@case("resources")
def fleet_manifest_whose_lists_multiply_into_millions(d: Path) -> Case:
    model = _model(d)
    seeds = ", ".join(str(i) for i in range(200))
    manifest = _config(
        d,
        f"store: store\ngpus: [H100]\njobs:\n  - model: {model.name}\n    profiles: ['{PROFILE}']\n"
        f"    seed: [{seeds}]\n    atol: [{seeds}]\n    rtol: [{seeds}]\n",
        "fleet.yaml",
    )
    return Case(["fleet", manifest, "--dry-run"], BAD, "jobs")


@case("resources")
def sidecar_profile_of_huge_dims_for_bench(d: Path) -> Case:
    def edit(document: dict) -> None:
        document["profiles"][0]["x"]["opt"] = [1, 3, 2**30, 2**30]
        document["profiles"][0]["x"]["max"] = [1, 3, 2**30, 2**30]

    return Case(["verify", _pair(d, edit=edit), "--onnx", d / "built_from.onnx"], BAD, "2^31")


@case("resources")
def calibration_folder_of_huge_headers(d: Path) -> Case:
    model = _model(d)
    (d / "calib").mkdir()
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 100000, 100000), }"
    header = header + " " * (63 - (len(header) + 10) % 64) + "\n"
    (d / "calib" / "x.npy").write_bytes(
        b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + b"\0" * 64
    )
    return Case(_prepare(model, d, "--profile", PROFILE, "--precision", "int8", "--calib-data", d / "calib"),
                BAD, "x.npy")  # fmt: skip


# ---- round trips


def _drop(key: str) -> Callable[[dict], None]:
    return lambda document: document.pop(key)


@case("round trips")
def sidecar_sha256_not_hex(d: Path) -> Case:
    def edit(document: dict) -> None:
        document["plan"]["sha256"] = "z" * 64

    return Case(["verify", _pair(d, edit=edit), "--onnx", d / "built_from.onnx"], BAD, "other bytes")


@case("round trips")
def sidecar_without_profiles(d: Path) -> Case:
    # keys left out fall back to defaults (docs/sidecar.md): the profiles then come from the engine
    return Case(
        ["verify", _pair(d, edit=_drop("profiles")), "--onnx", d / "built_from.onnx"], BAD_OR_NO_TENSORRT
    )


@case("round trips")
def sidecar_without_inputs_for_export(d: Path) -> Case:
    return Case(
        ["export", "triton", _pair(d, edit=_drop("inputs")), "-o", d / "repo", "--name", "m"], BAD, "inputs"
    )


@case("round trips")
def sidecar_profile_min_above_max(d: Path) -> Case:
    def edit(document: dict) -> None:
        document["profiles"][0]["x"]["min"] = [4, 3, 64, 64]

    return Case(["verify", _pair(d, edit=edit), "--onnx", d / "built_from.onnx"], BAD, "x")


@case("round trips")
def sidecar_inputs_of_the_wrong_type(d: Path) -> Case:
    def edit(document: dict) -> None:
        document["inputs"] = {"x": "float32"}

    return Case(["inspect", _pair(d, edit=edit)], BAD, "inputs")


@case("round trips")
def sidecar_dims_of_the_wrong_type_for_export(d: Path) -> Case:
    def edit(document: dict) -> None:
        document["inputs"][0]["dims"] = [1, 3, 2.5, True]

    return Case(["export", "triton", _pair(d, edit=edit), "-o", d / "repo", "--name", "m"], BAD, "dims")


def _quoted_name(folder: Path, run) -> None:
    text = (folder / "repo" / "m" / "config.pbtxt").read_text()
    assert 'name: "x\\"\\n}\\nbackend: \\"python"' in text, text
    assert "\nbackend:" not in text


@case("round trips")
def sidecar_input_name_that_breaks_the_triton_config(d: Path) -> Case:
    def edit(document: dict) -> None:
        document["inputs"][0]["name"] = 'x"\n}\nbackend: "python'

    return Case(
        ["export", "triton", _pair(d, edit=edit), "-o", d / "repo", "--name", "m"], {0}, check=_quoted_name
    )


@case("round trips")
def sidecar_with_nan_in_it(d: Path) -> Case:
    plan = _pair(d)
    sidecar = d / "m.plan.json"
    sidecar.write_text(sidecar.read_text().replace('"bytes": 256', '"bytes": NaN'))
    return Case(["inspect", plan], BAD, "")


@case("round trips")
def sidecar_with_duplicate_keys(d: Path) -> Case:
    plan = _pair(d)
    sidecar = d / "m.plan.json"
    text = sidecar.read_text()
    sidecar.write_text(text[:-1].rstrip().rstrip("}") + ', "schema": "other/9"}' if False else text.replace(
        '"schema":', '"schema": "trtconvert.plan/1", "schema":', 1))  # fmt: skip
    return Case(["verify", plan, "--onnx", d / "built_from.onnx"], BAD, "twice")


@case("round trips")
def sidecar_precision_unknown(d: Path) -> Case:
    def edit(document: dict) -> None:
        document["precision"]["precision"] = "fp8"

    return Case(["verify", _pair(d, edit=edit), "--onnx", d / "built_from.onnx"], BAD_OR_NO_TENSORRT, "")


def _check_reprepared(folder: Path, run) -> None:
    assert (folder / "out" / "p.onnx").is_file()


@case("round trips")
def a_prepared_model_prepares_again(d: Path) -> Case:
    from trtconvert.cli.main import main

    model = _model(d)
    try:
        main(["prepare", str(model), "-o", str(d / "first.onnx"), "--profile", PROFILE, "-q"])
    except SystemExit as done:
        assert done.code in (0, None)
    return Case(_prepare(d / "first.onnx", d, "--profile", PROFILE, "--verify"), {0}, check=_check_reprepared)


# ---- options


@case("options")
def profile_empty_string(d: Path) -> Case:
    return Case(_prepare(_model(d), d, "--profile", ""), BAD, "--profile")


@case("options")
def output_empty_string(d: Path) -> Case:
    return Case(["prepare", _model(d), "-o", ""], BAD, "-o")


@case("options")
def config_with_a_python_object_tag(d: Path) -> Case:
    config = _config(d, f"model: {_model(d)}\nseed: !!python/object/apply:os.system ['touch {d}/owned']\n")
    return Case(["prepare", "--config", config, "-o", d / "out" / "p.onnx"], BAD, "c.yaml")


@case("options")
def config_that_is_a_list(d: Path) -> Case:
    config = _config(d, f"- model: {_model(d)}\n")
    return Case(["prepare", "--config", config, "-o", d / "out" / "p.onnx"], BAD, "c.yaml")


@case("options")
def config_profiles_as_a_mapping(d: Path) -> Case:
    # one mapping is one profile, as documented
    config = _config(d, f"model: {_model(d)}\nprofiles:\n  x: 1x3x8x8:1x3x16x16:2x3x32x32\n")
    return Case(["prepare", "--config", config, "-o", d / "out" / "p.onnx"], {0})


@case("options")
def config_not_utf8(d: Path) -> Case:
    config = d / "c.yaml"
    config.write_bytes(b"model: \xff\xfe.onnx\n")
    return Case(["prepare", "--config", config, "-o", d / "out" / "p.onnx"], BAD, "c.yaml")


@case("options")
def config_empty_file(d: Path) -> Case:
    config = _config(d, "")
    return Case(["prepare", "--config", config, "-o", d / "out" / "p.onnx"], BAD, "model")


@case("options")
def input_npy_of_object_dtype(d: Path) -> Case:
    values = _npy(d, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    return Case(
        _prepare(_model(d), d, "--profile", PROFILE, "--verify", "--input", f"x={values}"), BAD, "v.npy"
    )


@case("options")
def input_npy_that_is_a_pickle(d: Path) -> Case:
    import pickle

    (d / "v.npy").write_bytes(pickle.dumps(np.ones((1, 3, 16, 16), np.float32)))
    return Case(_prepare(_model(d), d, "--profile", PROFILE, "--verify", "--input", f"x={d / 'v.npy'}"),
                BAD, "v.npy")  # fmt: skip


@case("options")
def input_npy_in_fortran_order(d: Path) -> Case:
    values = _npy(
        d, np.asfortranarray(np.random.default_rng(0).normal(size=(1, 3, 16, 16)).astype(np.float32))
    )
    return Case(_prepare(_model(d), d, "--profile", PROFILE, "--verify", "--input", f"x={values}"), {0})


@case("options")
def input_npy_of_the_wrong_shape(d: Path) -> Case:
    values = _npy(d, np.ones((3, 16, 16), np.float32))
    return Case(_prepare(_model(d), d, "--profile", PROFILE, "--verify", "--input", f"x={values}"), BAD, "x")


@case("options")
def input_npy_of_the_wrong_dtype_for_verify(d: Path) -> Case:
    values = _npy(d, np.ones((1, 3, 16, 16), np.complex64))
    plan = _pair(d)
    return Case(["verify", plan, "--onnx", d / "built_from.onnx", "--input", f"x={values}"], BAD, "v.npy")


@case("options")
def input_for_a_name_the_model_lacks_in_bench(d: Path) -> Case:
    return Case(["bench", _pair(d), "--input", "nope=1"], BAD_OR_NO_TENSORRT, "")


@case("options")
def plugin_empty_string(d: Path) -> Case:
    return Case(_build(_model(d), d, "--plugin", ""), BAD, "--plugin")


@case("options")
def export_name_empty(d: Path) -> Case:
    return Case(["export", "triton", _pair(d), "-o", d / "repo", "--name", ""], BAD, "name")


@case("options")
def export_name_with_a_control_character(d: Path) -> Case:
    return Case(["export", "triton", _pair(d), "-o", d / "repo", "--name", "m\x1b[2J"], BAD, "name")


@case("options")
def fleet_manifest_job_with_an_output_key(d: Path) -> Case:
    model = _model(d)
    manifest = _config(
        d, f"store: store\ngpus: [H100]\njobs:\n  - model: {model.name}\n    output: x.plan\n", "fleet.yaml"
    )
    return Case(["fleet", manifest, "--dry-run"], BAD, "output")


@case("options")
def fleet_manifest_with_an_anchor(d: Path) -> Case:
    model = _model(d)
    manifest = _config(
        d,
        f"store: store\ngpus: [H100]\njobs:\n  - &job\n    model: {model.name}\n    profiles: ['{PROFILE}']\n"
        "  - *job\n",
        "fleet.yaml",
    )
    return Case(["fleet", manifest, "--dry-run"], BAD, "alias")


@case("options")
def fleet_manifest_with_a_python_tag(d: Path) -> Case:
    manifest = _config(d, "store: !!python/name:os.system\ngpus: [H100]\njobs: []\n", "fleet.yaml")
    return Case(["fleet", manifest, "--dry-run"], BAD, "fleet.yaml")


@case("options")
def fleet_gpus_a_mapping(d: Path) -> Case:
    manifest = _config(
        d, f"store: store\ngpus: {{H100: 1}}\njobs:\n  - model: {_model(d).name}\n", "fleet.yaml"
    )
    return Case(["fleet", manifest, "--dry-run"], BAD, "gpus")


@case("options")
def fleet_duplicate_job_names(d: Path) -> Case:
    model = _model(d)
    manifest = _config(
        d,
        f"store: store\ngpus: [H100]\njobs:\n  - model: {model.name}\n    name: a\n    profiles: ['{PROFILE}']\n"
        f"  - model: {model.name}\n    name: a\n    profiles: ['{PROFILE}']\n    precision: fp16\n",
        "fleet.yaml",
    )
    return Case(["fleet", manifest, "--dry-run"], BAD, "a")


@case("options")
def fleet_job_name_escaping_the_store(d: Path) -> Case:
    model = _model(d)
    manifest = _config(
        d,
        f"store: store\ngpus: [H100]\njobs:\n  - model: {model.name}\n    name: ../../escape\n"
        f"    profiles: ['{PROFILE}']\n",
        "fleet.yaml",
    )
    return Case(["fleet", manifest, "--dry-run"], BAD, "name")


@case("options")
def fleet_gpu_kind_escaping_the_store(d: Path) -> Case:
    model = _model(d)
    manifest = _config(
        d, f"store: store\ngpus: ['../H100']\njobs:\n  - model: {model.name}\n    profiles: ['{PROFILE}']\n",
        "fleet.yaml",
    )  # fmt: skip
    return Case(["fleet", manifest, "--dry-run"], BAD, "gpu")


# ---- real-model traits


@case("real-model traits")
def if_whose_branches_give_different_types(d: Path) -> Case:
    then_branch = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["t"])], "then", [], [INFO("t", F, ["n", 4])]
    )
    else_branch = helper.make_graph(
        [helper.make_node("Cast", ["x"], ["e"], to=TensorProto.INT64)],
        "else",
        [],
        [INFO("e", TensorProto.INT64, ["n", 4])],
    )
    model = _graph_model(
        [helper.make_node("If", ["flag"], ["y"], then_branch=then_branch, else_branch=else_branch)],
        [INFO("x", F, ["n", 4]), INFO("flag", TensorProto.BOOL, [])],
        [INFO("y", F, ["n", 4])],
    )
    return Case(_prepare(_model(d, model), d, "--profile", "x=1x4:2x4:4x4", "--verify"), BAD, "")


@case("real-model traits")
def loop_with_a_runtime_trip_count(d: Path) -> Case:
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("Relu", ["v_in"], ["v_out"]),
        ],
        "body",
        [INFO("i", TensorProto.INT64, []), INFO("cond_in", TensorProto.BOOL, []), INFO("v_in", F, ["n", 4])],
        [INFO("cond_out", TensorProto.BOOL, []), INFO("v_out", F, ["n", 4])],
    )
    model = _graph_model(
        [helper.make_node("Loop", ["trips", "", "x"], ["y"], body=body)],
        [INFO("x", F, ["n", 4]), INFO("trips", TensorProto.INT64, [])],
        [INFO("y", F, ["n", 4])],
    )
    return Case(
        _prepare(_model(d, model), d, "--profile", "x=1x4:2x4:4x4", "--verify", "--input", "trips=3"), {0}
    )


@case("real-model traits")
def reshape_whose_shape_is_an_input(d: Path) -> Case:
    model = _graph_model(
        [helper.make_node("Reshape", ["x", "shape"], ["y"])],
        [INFO("x", F, ["n", 4]), INFO("shape", TensorProto.INT64, [2])],
        [INFO("y", F, ["a", "b"])],
    )
    return Case(_prepare(_model(d, model), d, "--profile", "x=1x4:2x4:4x4", "--verify"), BAD, "shape")


@case("real-model traits")
def output_that_is_a_graph_input(d: Path) -> Case:
    model = _graph_model(
        [helper.make_node("Relu", ["x"], ["y"])],
        [INFO("x", F, ["n", 4])],
        [INFO("y", F, ["n", 4]), INFO("x", F, ["n", 4])],
    )
    return Case(_prepare(_model(d, model), d, "--profile", "x=1x4:2x4:4x4", "--verify"), {0, 2})


@case("real-model traits")
def output_that_is_an_initializer(d: Path) -> Case:
    constant = numpy_helper.from_array(np.arange(4, dtype=np.float32), "c")
    model = _graph_model(
        [helper.make_node("Relu", ["x"], ["y"])],
        [INFO("x", F, ["n", 4])],
        [INFO("y", F, ["n", 4]), INFO("c", F, [4])],
        [constant],
    )
    return Case(_prepare(_model(d, model), d, "--profile", "x=1x4:2x4:4x4", "--verify"), {0, 2})


@case("real-model traits")
def unused_graph_input(d: Path) -> Case:
    model = _graph_model(
        [helper.make_node("Relu", ["x"], ["y"])],
        [INFO("x", F, ["n", 4]), INFO("unused", F, ["m", 2])],
        [INFO("y", F, ["n", 4])],
    )
    return Case(_prepare(_model(d, model), d, "--profile", "x=1x4:2x4:4x4", "--verify"), {0, 2}, "unused")


@case("real-model traits")
def float16_input_and_output(d: Path) -> Case:
    model = _graph_model(
        [helper.make_node("Relu", ["x"], ["y"])],
        [INFO("x", TensorProto.FLOAT16, ["n", 4])],
        [INFO("y", TensorProto.FLOAT16, ["n", 4])],
    )
    return Case(_prepare(_model(d, model), d, "--profile", "x=1x4:2x4:4x4", "--verify"), {0})


@case("real-model traits")
def old_opset_upsample(d: Path) -> Case:
    scales = numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")
    model = _graph_model(
        [helper.make_node("Upsample", ["x", "scales"], ["y"], mode="nearest")],
        [INFO("x", F, ["n", 3, 8, 8])],
        [INFO("y", F, ["n", 3, 16, 16])],
        [scales],
        opset=9,
        ir=4,
    )
    return Case(_prepare(_model(d, model), d, "--profile", "x=1x3x8x8:2x3x8x8:4x3x8x8", "--verify"), {0, 2})


@case("real-model traits")
def dim_names_tying_two_inputs_given_different_profiles(d: Path) -> Case:
    model = _graph_model(
        [helper.make_node("Add", ["a", "b"], ["y"])],
        [INFO("a", F, ["n", 4]), INFO("b", F, ["n", 4])],
        [INFO("y", F, ["n", 4])],
    )
    return Case(
        _prepare(_model(d, model), d, "--profile", "a=1x4:2x4:4x4,b=1x4:3x4:8x4", "--verify"), BAD, "n"
    )


# ---- docs


def _json_failure(folder: Path, run) -> None:
    document = json.loads(run.stdout)
    assert document["ok"] is False and document["exit_code"] == run.code, run.stdout


@case("docs")
def json_failure_report_of_export(d: Path) -> Case:
    return Case(["export", "triton", d / "none.plan", "-o", d / "repo", "--name", "m", "--json"], BAD, "none.plan",
                check=_json_failure)  # fmt: skip


@case("docs")
def json_failure_report_of_verify(d: Path) -> Case:
    return Case(
        ["verify", d / "none.plan", "--onnx", _model(d), "--json"], BAD, "none.plan", check=_json_failure
    )


@case("docs")
def json_failure_report_of_bench(d: Path) -> Case:
    return Case(["bench", d / "none.plan", "--json"], BAD, "none.plan", check=_json_failure)


@case("docs")
def json_failure_report_of_fleet(d: Path) -> Case:
    return Case(["fleet", d / "none.yaml", "--dry-run", "--json"], BAD, "none.yaml", check=_json_failure)


@case("docs")
def json_failure_report_of_plugins_build(d: Path) -> Case:
    return Case(["plugins", "build", "--tensorrt-root", d / "none", "--json"], BAD_OR_NO_TENSORRT, "none",
                check=_json_failure)  # fmt: skip


def _stderr_only(folder: Path, run) -> None:
    assert run.stdout == "", f"human output on stdout: {run.stdout[:400]}"


@case("docs")
def prepare_prints_nothing_on_stdout(d: Path) -> Case:
    return Case(_prepare(_model(d), d, "--profile", PROFILE, "--verify"), {0}, check=_stderr_only)


@case("docs")
def export_prints_nothing_on_stdout(d: Path) -> Case:
    return Case(["export", "triton", _pair(d), "-o", d / "repo", "--name", "m"], {0}, check=_stderr_only)


def _long_name_refused(folder: Path, run) -> None:
    assert not (folder / "out").exists() or not any((folder / "out").iterdir())


@case("docs")
def output_name_past_255_bytes(d: Path) -> Case:
    return Case(
        ["prepare", _model(d), "-o", d / "out" / ("é" * 130 + ".onnx")], BAD, "255", check=_long_name_refused
    )


@case("docs")
def workspace_in_bytes_as_documented(d: Path) -> Case:
    return Case(_build(_model(d), d, "--workspace", "65536B"), {3})


@case("docs")
def config_profile_for_a_comma_name_as_inspect_prints_it(d: Path) -> Case:
    model = _graph_model(
        [helper.make_node("Relu", ["a,b"], ["y"])], [INFO("a,b", F, ["n", 4])], [INFO("y", F, ["n", 4])]
    )
    path = _model(d, model)
    config = _config(d, f"model: {path}\nprofiles:\n  - 'a,b': 1x4:2x4:4x4\n")
    return Case(["prepare", "--config", config, "-o", d / "out" / "p.onnx", "--verify"], {0})


# ---- second round: the ground the first round showed thin


@case("options")
def config_rewrite_written_as_a_yaml_bool(d: Path) -> Case:
    # YAML 1.1 reads `off` as false: the key must be refused by name, not read as a policy
    config = _config(d, f"model: {_model(d)}\nrewrite: off\n")
    return Case(["prepare", "--config", config, "-o", d / "out" / "p.onnx"], BAD, "rewrite")


@case("options")
def config_freeze_as_a_list(d: Path) -> Case:
    config = _config(d, f"model: {_model(d)}\nfreeze: [x]\n")
    return Case(["prepare", "--config", config, "-o", d / "out" / "p.onnx"], BAD, "freeze")


@case("options")
def config_model_a_number(d: Path) -> Case:
    config = _config(d, "model: 5\n")
    return Case(["prepare", "--config", config, "-o", d / "out" / "p.onnx"], BAD, "5")


@case("options")
def config_with_a_byte_order_mark(d: Path) -> Case:
    config = d / "c.yaml"
    config.write_bytes(b"\xef\xbb\xbf" + f"model: {_model(d)}\n".encode())
    return Case(["prepare", "--config", config, "-o", d / "out" / "p.onnx"], {0, 2})


@case("options")
def config_inputs_value_a_list(d: Path) -> Case:
    config = _config(d, f"model: {_model(d)}\nprofiles: ['{PROFILE}']\nverify: true\ninputs: {{x: [1, 2]}}\n")
    return Case(["prepare", "--config", config, "-o", d / "out" / "p.onnx"], BAD, "x")


@case("options")
def export_without_name(d: Path) -> Case:
    return Case(["export", "triton", _pair(d), "-o", d / "repo"], BAD, "--name")


@case("options")
def group_without_a_subcommand(d: Path) -> Case:
    return Case(["export"], BAD, "")


@case("options")
def inspect_layers_of_an_onnx(d: Path) -> Case:
    return Case(["inspect", _model(d), "--layers"], BAD, "--layers")


@case("options")
def verify_atol_for_an_output_the_model_lacks(d: Path) -> Case:
    return Case(["verify", _pair(d), "--onnx", d / "built_from.onnx", "--atol", "nope=1e-3"], BAD, "nope")


@case("options")
def freeze_value_for_an_int_input_as_text(d: Path) -> Case:
    model = _graph_model(
        [helper.make_node("Cast", ["k"], ["kf"], to=F), helper.make_node("Add", ["x", "kf"], ["y"])],
        [INFO("x", F, ["n", 4]), INFO("k", TensorProto.INT64, [])],
        [INFO("y", F, ["n", 4])],
    )
    return Case(_prepare(_model(d, model), d, "--freeze", "k=True", "--profile", "x=1x4:2x4:4x4"), BAD, "k")


@case("numbers")
def profile_in_fullwidth_digits(d: Path) -> Case:
    return Case(_prepare(_model(d), d, "--profile", "x=1x3x8x8:1x3x16x16:2x3x\uff13\uff12x32"), BAD, "x")


@case("numbers")
def profile_with_an_uppercase_x_and_spaces(d: Path) -> Case:
    return Case(_prepare(_model(d), d, "--profile", " x = 1X3x8x8 : 1x3x16x16 : 2x3x32x32 "), {0, 2})


@case("numbers")
def workspace_zero(d: Path) -> Case:
    return Case(_build(_model(d), d, "--workspace", "0"), BAD, "--workspace")


@case("numbers")
def opt_level_as_text_in_config(d: Path) -> Case:
    config = _config(d, f"model: {_model(d)}\nprofiles: ['{PROFILE}']\nopt_level: '3'\n")
    return Case(["build", "--config", config, "-o", d / "out" / "m.plan"], BAD, "opt_level")


@case("numbers")
def target_tensorrt_with_a_trailing_dot(d: Path) -> Case:
    return Case(_prepare(_model(d), d, "--target-tensorrt", "10."), BAD, "--target-tensorrt")


@case("numbers")
def input_value_in_hex(d: Path) -> Case:
    return Case(_prepare(_model(d), d, "--profile", PROFILE, "--verify", "--input", "x=0x10"), BAD, "x")


@case("numbers")
def calibration_data_holding_nan(d: Path) -> Case:
    (d / "calib").mkdir()
    values = np.full((4, 3, 16, 16), np.nan, np.float32)
    np.save(d / "calib" / "x.npy", values)
    return Case(_prepare(_model(d), d, "--profile", PROFILE, "--precision", "int8", "--calib-data", d / "calib"),
                BAD, "x")  # fmt: skip


@case("paths")
def plugin_that_is_a_text_file(d: Path) -> Case:
    (d / "lib.so").write_text("not a shared library")
    return Case(
        _build(_model(d), d, "--plugin", d / "lib.so"), BAD_OR_NO_TENSORRT
    )  # refused by the loader (exit 2) where TensorRT is


@case("paths")
def verify_onnx_that_is_the_plan(d: Path) -> Case:
    plan = _pair(d)
    return Case(["verify", plan, "--onnx", plan], BAD, "m.plan")


@case("paths")
def export_plugin_that_is_a_folder(d: Path) -> Case:
    (d / "plugins").mkdir()
    return Case(["export", "triton", _pair(d), "-o", d / "repo", "--name", "m", "--plugin", d / "plugins"], BAD,
                "plugins")  # fmt: skip


@case("paths")
def sidecar_that_is_a_symlink_loop(d: Path) -> Case:
    plan = _pair(d)
    (d / "m.plan.json").unlink()
    (d / "m.plan.json").symlink_to(d / "loop")
    (d / "loop").symlink_to(d / "m.plan.json")
    return Case(["inspect", plan], BAD, "m.plan.json")


@case("paths")
def output_under_a_file(d: Path) -> Case:
    (d / "file.txt").write_text("x")
    return Case(["prepare", _model(d), "-o", d / "file.txt" / "out.onnx"], BAD, "file.txt")


@case("paths")
def tmpdir_that_is_a_file(d: Path) -> Case:
    (d / "tmpfile").write_text("x")
    return Case(_prepare(_model(d), d, "--profile", PROFILE, "--verify"), {0, 2},
                env={"TMPDIR": str(d / "tmpfile")})  # fmt: skip


@case("model content")
def input_of_unknown_rank(d: Path) -> Case:
    model = _relu_model()
    model.graph.input[0].type.tensor_type.ClearField("shape")
    return Case(_prepare(_model(d, model), d, "--verify"), BAD, "x")


@case("model content")
def complex_input(d: Path) -> Case:
    model = _graph_model(
        [helper.make_node("Identity", ["x"], ["y"])],
        [INFO("x", TensorProto.COMPLEX64, ["n", 4])],
        [INFO("y", TensorProto.COMPLEX64, ["n", 4])],
    )
    return Case(_build(_model(d, model), d), BAD, "x")


@case("model content")
def double_input_for_build(d: Path) -> Case:
    model = _graph_model(
        [helper.make_node("Relu", ["x"], ["y"])],
        [INFO("x", TensorProto.DOUBLE, ["n", 4])],
        [INFO("y", TensorProto.DOUBLE, ["n", 4])],
    )
    return Case(["build", _model(d, model), "-o", d / "out" / "m.plan", "--profile", "x=1x4:2x4:4x4"],
                BAD_OR_NO_TENSORRT)  # fmt: skip


@case("model content")
def model_without_inputs(d: Path) -> Case:
    constant = numpy_helper.from_array(np.arange(4, dtype=np.float32), "c")
    model = _graph_model([helper.make_node("Relu", ["c"], ["y"])], [], [INFO("y", F, [4])], [constant])
    return Case(_prepare(_model(d, model), d, "--verify"), {0, 2})


@case("model content")
def empty_file_as_model(d: Path) -> Case:
    (d / "model.onnx").write_bytes(b"")
    return Case(["inspect", d / "model.onnx"], BAD, "model.onnx")


@case("model content")
def node_with_an_empty_op_type(d: Path) -> Case:
    model = _relu_model()
    model.graph.node[0].op_type = ""
    return Case(_prepare(_model(d, model), d, "--profile", "x=1x4:2x4:4x4"), BAD, "")


@case("round trips")
def sidecar_frozen_value_of_the_wrong_size(d: Path) -> Case:
    def edit(document: dict) -> None:
        document["frozen"] = {"k": {"shape": [2], "dtype": "int64", "value": [1, 2, 3]}}

    return Case(["verify", _pair(d, edit=edit), "--onnx", d / "built_from.onnx"], BAD, "frozen")


@case("round trips")
def sidecar_plugin_that_no_longer_exists_for_export(d: Path) -> Case:
    def edit(document: dict) -> None:
        document["plugins"] = [{"file": "libgone.so", "sha256": "0" * 64}]

    return Case(["export", "triton", _pair(d, edit=edit), "-o", d / "repo", "--name", "m"], BAD, "libgone.so")


@case("round trips")
def sidecar_with_empty_profiles(d: Path) -> Case:
    def edit(document: dict) -> None:
        document["profiles"] = []

    return Case(["verify", _pair(d, edit=edit), "--onnx", d / "built_from.onnx"], BAD_OR_NO_TENSORRT)


@case("round trips")
def inspect_json_profile_feeds_build(d: Path) -> Case:
    from trtconvert.cli.main import main

    model = _graph_model(
        [helper.make_node("Add", ["a b", "c'd"], ["y"])],
        [INFO("a b", F, ["n", 4]), INFO("c'd", F, ["n", 4])],
        [INFO("y", F, ["n", 4])],
    )
    path = _model(d, model)
    import contextlib
    import io
    import shlex

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        main(["inspect", str(path), "--json"])
    flag = shlex.split(json.loads(out.getvalue())["profile_example"])
    return Case(["build", path, "-o", d / "out" / "m.plan", *flag], {3})


@case("real-model traits")
def dropout_with_a_training_mode_input(d: Path) -> Case:
    ratio = numpy_helper.from_array(np.array(0.5, np.float32), "ratio")
    training = numpy_helper.from_array(np.array(False), "training")
    model = _graph_model(
        [helper.make_node("Dropout", ["x", "ratio", "training"], ["y"])],
        [INFO("x", F, ["n", 4])],
        [INFO("y", F, ["n", 4])],
        [ratio, training],
    )
    return Case(_prepare(_model(d, model), d, "--profile", "x=1x4:2x4:4x4", "--verify"), {0})


@case("real-model traits")
def initializer_shadowing_an_input_of_another_shape(d: Path) -> Case:
    weight = numpy_helper.from_array(np.ones((1, 4), np.float32), "b")
    model = _graph_model(
        [helper.make_node("Add", ["x", "b"], ["y"])],
        [INFO("x", F, ["n", 4]), INFO("b", F, [2, 4])],
        [INFO("y", F, ["n", 4])],
        [weight],
        ir=4,
    )
    return Case(_prepare(_model(d, model), d, "--profile", "x=1x4:2x4:4x4", "--verify"), {0, 2})


@case("real-model traits")
def shape_chain_into_constant_of_shape_folds(d: Path) -> Case:
    value = numpy_helper.from_array(np.array([0.5], np.float32))
    model = _graph_model(
        [
            helper.make_node("Shape", ["x"], ["s"]),
            helper.make_node("ConstantOfShape", ["s"], ["c"], value=value),
            helper.make_node("Add", ["x", "c"], ["y"]),
        ],
        [INFO("x", F, [2, 4])],
        [INFO("y", F, [2, 4])],
    )
    return Case(_prepare(_model(d, model), d, "--verify"), {0}, check=_ops_of_output("Add"))


@case("docs")
def version_flag(d: Path) -> Case:
    return Case(["--version"], {0})


@case("docs")
def json_failure_report_of_prepare_usage_error(d: Path) -> Case:
    return Case(["prepare", _model(d), "-o", d / "out" / "p.onnx", "--profile", "x=", "--json"], BAD, "--profile",
                check=_json_failure)  # fmt: skip


@case("docs")
def doctor_with_an_odd_environment(d: Path) -> Case:
    return Case(["doctor"], {0}, env={"PATH": "", "CUDA_VISIBLE_DEVICES": "\u2603", "LD_LIBRARY_PATH": ":::"})


# ---- third round: environment variables, calibration and frozen values, several plans


@case("paths")
def tensorrt_root_env_with_a_nul_free_loop(d: Path) -> Case:
    (d / "a").symlink_to(d / "b")
    (d / "b").symlink_to(d / "a")
    return Case(
        ["plugins", "build", "-o", d / "lib"], BAD_OR_NO_TENSORRT, "", env={"TENSORRT_ROOT": str(d / "a")}
    )


@case("paths")
def plugin_library_env_that_is_a_folder_for_doctor(d: Path) -> Case:
    (d / "lib.so").mkdir()
    return Case(["doctor", "--json"], {0}, env={"TRTCONVERT_PLUGIN_LIBRARY": str(d / "lib.so")})


@case("paths")
def cudacxx_env_that_is_a_fifo(d: Path) -> Case:
    os.mkfifo(d / "nvcc")
    return Case(["plugins", "build", "--kernels-only", "-o", d / "lib"], BAD_OR_NO_TENSORRT, "",
                env={"CUDACXX": str(d / "nvcc")}, isolated=True)  # fmt: skip


@case("numbers")
def plugins_build_cuda_archs_nonsense(d: Path) -> Case:
    return Case(["plugins", "build", "--kernels-only", "--cuda-archs", "-80;9" + "9" * 40, "-o", d / "lib"], BAD,
                "--cuda-archs")  # fmt: skip


@case("numbers")
def fleet_worker_wait_negative(d: Path) -> Case:
    manifest = _config(
        d, f"store: store\ngpus: [H100]\njobs:\n  - model: {_model(d).name}\n    profiles: ['{PROFILE}']\n",
        "fleet.yaml",
    )  # fmt: skip
    return Case(["fleet", "run", manifest, "--wait-for-workers", "-5", "--dry-run"], BAD, "wait")


@case("numbers")
def calibration_samples_of_another_dtype(d: Path) -> Case:
    (d / "calib").mkdir()
    np.save(d / "calib" / "x.npy", np.ones((4, 3, 16, 16), np.int64))
    return Case(_prepare(_model(d), d, "--profile", PROFILE, "--precision", "int8", "--calib-data", d / "calib"),
                BAD, "x")  # fmt: skip


@case("options")
def calibration_data_a_pickled_npy(d: Path) -> Case:
    import pickle

    (d / "calib").mkdir()
    (d / "calib" / "x.npy").write_bytes(pickle.dumps(np.ones((4, 3, 16, 16), np.float32)))
    return Case(_prepare(_model(d), d, "--profile", PROFILE, "--precision", "int8", "--calib-data", d / "calib"),
                BAD, "x.npy")  # fmt: skip


@case("options")
def calibration_data_an_empty_folder(d: Path) -> Case:
    (d / "calib").mkdir()
    return Case(_prepare(_model(d), d, "--profile", PROFILE, "--precision", "int8", "--calib-data", d / "calib"),
                BAD, "calib")  # fmt: skip


@case("options")
def freeze_an_input_twice_through_config_and_flag(d: Path) -> Case:
    model = _graph_model(
        [helper.make_node("Add", ["x", "b"], ["y"])],
        [INFO("x", F, ["n", 4]), INFO("b", F, [1, 4])],
        [INFO("y", F, ["n", 4])],
    )
    path = _model(d, model)
    config = _config(d, f"model: {path}\nfreeze: {{b: 1.0}}\nprofiles: ['x=1x4:2x4:4x4']\n")
    return Case(["prepare", "--config", config, "-o", d / "out" / "p.onnx", "--freeze", "b=2.0"], {0, 2})


@case("options")
def freeze_and_input_for_one_name(d: Path) -> Case:
    model = _graph_model(
        [helper.make_node("Add", ["x", "b"], ["y"])],
        [INFO("x", F, ["n", 4]), INFO("b", F, [1, 4])],
        [INFO("y", F, ["n", 4])],
    )
    return Case(_prepare(_model(d, model), d, "--profile", "x=1x4:2x4:4x4", "--verify", "--freeze", "b=1",
                         "--input", "b=2"), BAD, "b")  # fmt: skip


@case("options")
def freeze_a_name_the_model_lacks(d: Path) -> Case:
    return Case(_prepare(_model(d), d, "--freeze", "nope=1"), BAD, "nope")


@case("round trips")
def export_two_plans_one_a_hard_link_of_the_other(d: Path) -> Case:
    plan = _pair(d)
    os.link(plan, d / "n.plan")
    os.link(d / "m.plan.json", d / "n.plan.json")
    return Case(["export", "triton", plan, d / "n.plan", "-o", d / "repo", "--name", "m"], BAD, "")


@case("round trips")
def export_a_plan_whose_sidecar_gpu_lacks_a_compute_capability(d: Path) -> Case:
    def edit(document: dict) -> None:
        document["gpu"] = {"name": "NVIDIA H100"}

    # one plan needs no compute capability in the config (it names no per-GPU files)
    return Case(["export", "triton", _pair(d, edit=edit), "-o", d / "repo", "--name", "m"], {0, 2})


@case("round trips")
def export_a_plan_whose_sidecar_lacks_tensorrt(d: Path) -> Case:
    return Case(
        ["export", "triton", _pair(d, edit=_drop("tensorrt")), "-o", d / "repo", "--name", "m"], {0, 2}
    )


@case("round trips")
def inspect_a_plan_whose_sidecar_is_a_json_list(d: Path) -> Case:
    plan = _pair(d)
    (d / "m.plan.json").write_text("[1, 2, 3]")
    return Case(["inspect", plan, "--json"], BAD, "sidecar", check=_json_failure)


@case("round trips")
def verify_frozen_sidecar_value_with_a_wrong_input(d: Path) -> Case:
    model = _graph_model(
        [helper.make_node("Add", ["x", "b"], ["y"])],
        [INFO("x", F, ["n", 4]), INFO("b", F, [1, 4])],
        [INFO("y", F, ["n", 4])],
    )
    path = _model(d, model, "built_from.onnx")
    plan = _pair(d)
    _model(d, model, "built_from.onnx")  # the sidecar's model, with the input 'b' that it froze

    def edit(document: dict) -> None:
        document["frozen"] = {"b": {"shape": [1, 4], "dtype": "float32", "value": 1.0}}
        document["profiles"] = [{"x": {"min": [1, 4], "opt": [2, 4], "max": [4, 4]}}]

    sidecar = d / "m.plan.json"
    document = json.loads(sidecar.read_text())
    edit(document)
    sidecar.write_text(json.dumps(document))
    values = _npy(d, np.ones((1, 4), np.float64))
    # the same values in float64 repeat the frozen ones (cast to the input's type, as every --input is)
    return Case(["verify", plan, "--onnx", path, "--input", f"b={values}"], BAD_OR_NO_TENSORRT)


# ---- fleet manifests


def _fleet(folder: Path, body: str, jobs: str | None = None) -> Path:
    model = _model(folder)
    jobs = jobs if jobs is not None else f"jobs:\n  - model: {model.name}\n    profiles: ['{PROFILE}']\n"
    return _config(folder, body + jobs, "fleet.yaml")


@case("options")
def fleet_gpus_listed_twice(d: Path) -> Case:
    return Case(["fleet", _fleet(d, "store: store\ngpus: [H100, H100]\n"), "--dry-run"], BAD, "twice")


@case("options")
def fleet_gpu_kind_empty(d: Path) -> Case:
    return Case(["fleet", _fleet(d, "store: store\ngpus: ['']\n"), "--dry-run"], BAD, "gpus")


@case("options")
def fleet_store_empty_string(d: Path) -> Case:
    return Case(["fleet", _fleet(d, "store: ''\ngpus: [H100]\n"), "--dry-run"], BAD, "store")


@case("options")
def fleet_job_config_that_is_the_manifest(d: Path) -> Case:
    manifest = _fleet(d, "store: store\ngpus: [H100]\n", "jobs:\n  - config: fleet.yaml\n")
    return Case(["fleet", manifest, "--dry-run"], BAD, "")


@case("options")
def fleet_job_config_that_is_a_folder(d: Path) -> Case:
    (d / "configs").mkdir()
    manifest = _fleet(d, "store: store\ngpus: [H100]\n", "jobs:\n  - config: configs\n")
    return Case(["fleet", manifest, "--dry-run"], BAD, "configs")


@case("options")
def fleet_job_name_with_a_control_character(d: Path) -> Case:
    model = _model(d)
    manifest = _fleet(
        d,
        "store: store\ngpus: [H100]\n",
        f"jobs:\n  - model: {model.name}\n    name: \"a\\x1bb\"\n    profiles: ['{PROFILE}']\n",
    )
    return Case(["fleet", manifest, "--dry-run"], BAD, "name")


@case("options")
def fleet_triton_repository_inside_the_store(d: Path) -> Case:
    return Case(["fleet", _fleet(d, "store: store\ngpus: [H100]\ntriton: store\n"), "--dry-run"], {0, 2})


@case("options")
def fleet_store_an_unknown_protocol(d: Path) -> Case:
    return Case(["fleet", _fleet(d, "store: nosuchproto://bucket/x\ngpus: [H100]\n"), "--dry-run"], {2, 3},
                "nosuchproto")  # fmt: skip


@case("options")
def fleet_worker_scheduler_not_an_address(d: Path) -> Case:
    return Case(["fleet", "worker", "not an address"], {2, 3}, "", isolated=True)


@case("options")
def fleet_manifest_a_list(d: Path) -> Case:
    return Case(["fleet", _config(d, "- store: s\n", "fleet.yaml"), "--dry-run"], BAD, "mapping")


@case("numbers")
def fleet_job_workspace_exponent(d: Path) -> Case:
    model = _model(d)
    manifest = _fleet(
        d,
        "store: store\ngpus: [H100]\n",
        f"jobs:\n  - model: {model.name}\n    workspace: 1e999\n    profiles: ['{PROFILE}']\n",
    )
    return Case(["fleet", manifest, "--dry-run"], BAD, "workspace")


@case("numbers")
def fleet_job_precision_list_of_numbers(d: Path) -> Case:
    model = _model(d)
    manifest = _fleet(
        d,
        "store: store\ngpus: [H100]\n",
        f"jobs:\n  - model: {model.name}\n    precision: [16, 32]\n    profiles: ['{PROFILE}']\n",
    )
    return Case(["fleet", manifest, "--dry-run"], BAD, "precision")


# ---- names that hold line breaks and terminal controls

FORGED = "a\nerror: forged\x1b[2J"


def _forged_name_model(folder: Path) -> Path:
    return _model(
        folder,
        _graph_model(
            [helper.make_node("Relu", [FORGED], ["y"])], [INFO(FORGED, F, ["n", 4])], [INFO("y", F, ["n", 4])]
        ),
    )


def _no_raw_controls(folder: Path, run) -> None:
    assert "\x1b" not in run.stderr and "error: forged" not in run.stderr.replace("\\nerror: forged", ""), (
        run.stderr
    )


@case("model content")
def input_name_that_forges_an_error_line_in_prepare(d: Path) -> Case:
    return Case(_prepare(_forged_name_model(d), d, "--verify"), BAD, "forged", check=_no_raw_controls)


@case("model content")
def input_name_that_forges_an_error_line_in_build(d: Path) -> Case:
    return Case(
        ["build", _forged_name_model(d), "-o", d / "out" / "m.plan"], BAD, "forged", check=_no_raw_controls
    )


@case("model content")
def input_name_with_controls_in_stage_lines(d: Path) -> Case:
    return Case(_prepare(_forged_name_model(d), d, "--profile", f"{FORGED}=1x4"), {0}, check=_no_raw_controls)


@case("options")
def profile_flag_naming_an_input_with_a_newline_the_model_lacks(d: Path) -> Case:
    return Case(_prepare(_model(d), d, "--profile", "x\nerror: forged=1x3x8x8"), BAD, "forged",
                check=_no_raw_controls)  # fmt: skip


@case("paths")
def output_path_with_a_newline_and_an_escape(d: Path) -> Case:
    (d / "f\nerror: forged\x1b[2J").write_text("a file, so the folder cannot be made")
    return Case(["prepare", _model(d), "-o", d / "f\nerror: forged\x1b[2J" / "o.onnx"], BAD, "forged",
                check=_no_raw_controls)  # fmt: skip


def _no_raw_controls_anywhere(folder: Path, run) -> None:
    _no_raw_controls(folder, run)
    assert "\x1b" not in run.stdout and "\nerror: forged" not in run.stdout, run.stdout


@case("model content")
def inspect_of_a_name_with_controls(d: Path) -> Case:
    return Case(["inspect", _forged_name_model(d)], {0}, check=_no_raw_controls_anywhere)


@case("round trips")
def inspect_of_a_plan_whose_sidecar_names_hold_controls(d: Path) -> Case:
    def edit(document: dict) -> None:
        document["outputs"][0]["name"] = FORGED

    return Case(["inspect", _pair(d, edit=edit)], {0}, check=_no_raw_controls_anywhere)


@case("round trips")
def sidecar_profile_of_rank_zero_for_export(d: Path) -> Case:
    def edit(document: dict) -> None:
        document["profiles"][0]["x"]["max"] = []

    return Case(["export", "triton", _pair(d, edit=edit), "-o", d / "repo", "--name", "m"], BAD, "rank")


@case("options")
def fleet_job_model_a_bool(d: Path) -> Case:
    _model(d)
    manifest = _fleet(d, "store: store\ngpus: [H100]\n", "jobs:\n  - model: true\n")
    return Case(["fleet", manifest, "--dry-run"], BAD, "model")


@case("options")
def fleet_job_plugins_nested_past_a_list_of_lists(d: Path) -> Case:
    # A list of lists is one job per inner list (the manifest's expansion); one level more is no plugin list.
    model = _model(d)
    manifest = _fleet(
        d,
        "store: store\ngpus: [H100]\n",
        f"jobs:\n  - model: {model.name}\n    plugins: [[[5]]]\n    profiles: ['{PROFILE}']\n",
    )
    return Case(["fleet", manifest, "--dry-run"], BAD, "plugins")


# ---- file names in another encoding (bytes that are not UTF-8, kept by Python as surrogates)

LATIN1 = os.fsdecode(b"caf\xe9")


@case("paths")
def model_named_in_latin1(d: Path) -> Case:
    model = _model(d, name=f"{LATIN1}.onnx")
    return Case(["inspect", model], BAD, "UTF-8")


@case("paths")
def output_named_in_latin1(d: Path) -> Case:
    return Case(["prepare", _model(d), "-o", d / "out" / f"{LATIN1}.onnx"], BAD, "UTF-8")


@case("paths")
def timing_cache_named_in_latin1(d: Path) -> Case:
    return Case(_build(_model(d), d, "--timing-cache", d / f"{LATIN1}.cache"), BAD, "UTF-8")


@case("paths")
def config_model_in_a_latin1_folder(d: Path) -> Case:
    folder = d / LATIN1
    folder.mkdir()
    _model(folder)
    config = _config(d, f"model: {LATIN1.encode('utf-8', 'surrogateescape').decode('latin-1')}/model.onnx\n")
    return Case(["prepare", "--config", config, "-o", d / "out" / "p.onnx"], BAD, "")


# ---- the runner


def _inputs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


@pytest.mark.parametrize("name", sorted(CASES), ids=lambda name: f"{CASES[name][0]}:{name}")
def test_holdout_case_keeps_the_contract(run_cli, tmp_path: Path, monkeypatch, name: str) -> None:
    folder = tmp_path / "case"
    folder.mkdir()
    built = CASES[name][1](folder)
    inputs = _inputs(folder)
    before = digests(inputs)
    args = [str(a) for a in built.args]
    for key, value in built.env.items():
        monkeypatch.setenv(key, value)
    run = trtconvert(args, timeout=60) if built.isolated else run_cli(*args)
    assert_contract(run, args, inputs, before, folder)
    assert partial_files(folder) == []
    assert run.code in built.codes, f"exit {run.code}, expected {built.codes}: {run.stderr[-2000:]}"
    if run.code != 0 and built.said:
        (line,) = [line for line in run.stderr.splitlines() if line.startswith("error:")]
        assert built.said in line, line
    assert not (folder / "owned").exists()
    if built.check is not None:
        built.check(folder, run)


# ---- where TensorRT is: what the CPU cases above leave to it


def _needs_tensorrt(test: Callable) -> Callable:
    for mark in NEEDS_TENSORRT_AND_GPU:
        test = mark(test)
    return test


@_needs_tensorrt
def test_a_plugin_that_is_not_a_library_is_bad_input_where_tensorrt_loads_it(
    run_cli, tmp_path: Path, timing_cache
) -> None:
    """On the CPU a text file given as --plugin ends as exit 3 after the CPU stages (nothing loads it); where
    TensorRT is, the loader refuses it as bad input naming the file, and nothing is written."""
    model = _model(tmp_path)
    (tmp_path / "lib.so").write_text("not a shared library")
    result = run_cli(
        *_build(model, tmp_path, "--plugin", tmp_path / "lib.so", "--timing-cache", timing_cache)
    )
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.code == 2 and len(errors) == 1 and "lib.so" in errors[0], result.stderr
    assert not (tmp_path / "out").exists()


@_needs_tensorrt
def test_bench_checks_shapes_and_inputs_against_the_engine(run_cli, tmp_path: Path, timing_cache) -> None:
    """bench reads its profiles from the engine, so its --shapes and --input checks run only where TensorRT is:
    a name the plan lacks and a shape outside every profile are bad input there."""
    model = _model(tmp_path)
    plan = tmp_path / "out" / "m.plan"
    built = run_cli(*_build(model, tmp_path, "--timing-cache", timing_cache))
    assert built.code == 0, built.stderr
    for extra in (["--input", "nope=1"], ["--shapes", "x=1x3x64x64"]):
        result = run_cli("bench", plan, "--iterations", "2", "--warmup", "0", *extra)
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert result.code == 2 and len(errors) == 1, result.stderr
