"""`export triton` and `fleet` against cases their own tests did not plan: many model shapes exported and each
config.pbtxt checked against the rules Triton applies when it loads a TensorRT plan, not just parsed.

The rules (from Triton's sources, triton-inference-server/core src/model_config_utils.cc ValidateIOShape and
tensorrt_backend src/instance_state.cc, src/model_state.cc, src/tensorrt_utils.cc):

- every input and output has dims, each >= 1 or -1; an empty reshape (a scalar) only where max_batch_size > 0;
- the dims the backend compares with the engine are the reshape where there is one, else dims, with a -1 batch
  axis in front where max_batch_size > 0; rank and every fixed dim must match the engine's (-1 matches anything);
- the data type must be the engine's, and one of the eight the TensorRT backend maps (FP32, FP16, BF16, INT8,
  UINT8, INT32, INT64, BOOL);
- `cc_model_filenames` is looked up by "MAJOR.MINOR" of the device as printed integers ("8.6", "9.0");
- a `profile` of an instance group names an index of the engine's profiles;
- preferred batch sizes are at most max_batch_size.

Plans are random bytes with the sidecar `build` writes (make_sidecar, write_plan). Argument level: the engine's
side is taken from the sidecar; whether Triton's server loads the result needs a GPU and a Triton container.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from plan_factories import plan_with_sidecar

from trtconvert.deploy.triton import export_triton
from trtconvert.engine.plan_files import sidecar_path
from trtconvert.errors import BadInput

model_config_pb2 = pytest.importorskip("tritonclient.grpc.model_config_pb2")
text_format = pytest.importorskip("google.protobuf.text_format")

# The TensorRT backend's data types (ConvertTrtTypeToConfigDataType) by the numpy name the engine's type has.
BACKEND_TYPES = {
    "float32": "TYPE_FP32",
    "float16": "TYPE_FP16",
    "bfloat16": "TYPE_BF16",
    "int8": "TYPE_INT8",
    "uint8": "TYPE_UINT8",
    "int32": "TYPE_INT32",
    "int64": "TYPE_INT64",
    "bool": "TYPE_BOOL",
}


def _engine_type(onnx_dtype: str, tensorrt: str) -> str:
    """What TensorRT's ONNX parser binds an ONNX type as: DOUBLE as FLOAT always, INT64 as INT32 before 9.0."""
    if onnx_dtype == "float64":
        return "float32"
    if onnx_dtype == "int64" and int(tensorrt.split(".")[0]) < 9:
        return "int32"
    return onnx_dtype


def _plan(folder: Path, file: str, io: dict, profiles: tuple[str, ...] = (), **options) -> Path:
    return plan_with_sidecar(folder, file, io, profiles, **options)


def _tensor(name: str, dtype: str, dims: list) -> dict:
    return {"name": name, "dtype": dtype, "dims": dims}


def check_config(repository: Path, name: str, plan: Path) -> model_config_pb2.ModelConfig:
    """Parse REPO/NAME/config.pbtxt with Triton's schema and check it against the rules above and the plan's
    sidecar (the engine's side)."""
    folder = repository / name
    config = text_format.Parse((folder / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())
    sidecar = json.loads(sidecar_path(plan).read_text())
    tensorrt = sidecar["tensorrt"]["version"]
    frozen = set(sidecar["frozen"])
    profiles = sidecar["profiles"]
    batching = config.max_batch_size > 0
    assert config.name == name and config.platform == "tensorrt_plan"
    for key, ios in (("inputs", config.input), ("outputs", config.output)):
        engine = {t["name"]: t for t in sidecar[key] if t["name"] not in frozen}
        assert [io.name for io in ios] == list(engine), f"{key} of the config are not the engine's"
        for io in ios:
            assert len(io.dims) > 0, f"{io.name}: Triton needs dims"
            assert all(d >= 1 or d == -1 for d in io.dims), f"{io.name}: dims {list(io.dims)}"
            if io.HasField("reshape") and not io.reshape.shape:
                assert batching, f"{io.name}: an empty reshape is refused without batching"
                assert list(io.dims) == [1]
            compared = list(io.reshape.shape) if io.HasField("reshape") else list(io.dims)
            if batching:
                compared = [-1, *compared]
            tensor = engine[io.name]
            engine_dims = [d if isinstance(d, int) else -1 for d in tensor["dims"]]
            assert len(compared) == len(engine_dims), f"{io.name}: rank {compared} vs engine {engine_dims}"
            for ours, theirs in zip(compared, engine_dims, strict=True):
                assert ours == -1 or theirs == -1 or ours == theirs, f"{io.name}: {compared} vs {engine_dims}"
            if batching:
                assert engine_dims[0] == -1, f"{io.name}: batching needs a dynamic axis 0"
            expected = BACKEND_TYPES[_engine_type(tensor["dtype"], tensorrt)]
            assert model_config_pb2.DataType.Name(io.data_type) == expected, io.name
            assert not io.is_shape_tensor
    if batching:
        # Every profile takes batch 1 on every input, and max_batch_size is within the largest profile's batch.
        served = [t["name"] for t in sidecar["inputs"] if t["name"] not in frozen]
        assert all(p[n]["min"][0] == 1 for p in profiles for n in served)
        assert config.max_batch_size <= max(min(p[n]["max"][0] for n in served) for p in profiles)
        assert config.HasField("dynamic_batching")
        assert all(1 <= s <= config.max_batch_size for s in config.dynamic_batching.preferred_batch_size)
    else:
        assert not config.HasField("dynamic_batching")
    groups = list(config.instance_group)
    assert groups and all(g.kind == model_config_pb2.ModelInstanceGroup.KIND_GPU for g in groups)
    if len(profiles) > 1:
        assert [list(g.profile) for g in groups] == [[str(i)] for i in range(len(profiles))]
    else:
        assert all(not g.profile for g in groups)
    version = folder / "1"
    assert (version / config.default_model_filename).is_file()
    for capability, file in config.cc_model_filenames.items():
        assert re.fullmatch(r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)", capability), capability
        assert (version / file).is_file()
    return config


# name -> (inputs, outputs, profiles, tensorrt, expected max_batch_size)
SHAPES = {
    "image batch": (
        [_tensor("x", "float32", ["batch", 3, "h", "w"])],
        [_tensor("y", "float32", ["batch", 1, "h", "w"])],
        ("x=1x3x32x32:4x3x64x64:8x3x128x128",),
        "10.8.0.43",
        8,
    ),
    "static": (
        [_tensor("x", "float16", [2, 3, 8, 8])],
        [_tensor("y", "float16", [2, 10])],
        (),
        "10.8.0.43",
        0,
    ),
    "batch axis fixed by a min above 1": (
        [_tensor("x", "float32", ["n", 4])],
        [_tensor("y", "float32", ["n", 4])],
        ("x=2x4:4x4:8x4",),
        "10.8.0.43",
        0,
    ),
    "only some inputs have a batch axis": (
        [_tensor("x", "float32", ["n", 16]), _tensor("table", "float32", [16, 16])],
        [_tensor("y", "float32", ["n", 16])],
        ("x=1x16:4x16:8x16",),
        "10.8.0.43",
        0,
    ),
    "output without a batch axis": (
        [_tensor("x", "float32", ["n", 16])],
        [_tensor("y", "float32", [16])],
        ("x=1x16:4x16:8x16",),
        "10.8.0.43",
        0,
    ),
    "two profiles, other batch ranges": (
        [_tensor("x", "float32", ["n", 3, "h", "w"])],
        [_tensor("y", "float32", ["n", 3, "h", "w"])],
        ("x=1x3x16x16:2x3x16x16:4x3x16x16", "x=1x3x64x64:16x3x64x64:32x3x64x64"),
        "10.8.0.43",
        32,
    ),
    "two inputs, smaller max on one": (
        [_tensor("a", "float32", ["n", 8]), _tensor("b", "int32", ["n", 8])],
        [_tensor("y", "float32", ["n", 8])],
        ("a=1x8:2x8:8x8,b=1x8:2x8:4x8",),
        "10.8.0.43",
        4,
    ),
    "unknown dims": (
        [_tensor("x", "float32", ["n", None])],
        [_tensor("y", "float32", ["n", None, None])],
        ("x=1x4:2x8:4x16",),
        "10.8.0.43",
        4,
    ),
    "batched scalar per item": (
        [_tensor("x", "float32", ["n", 8])],
        [_tensor("score", "float32", ["n"])],
        ("x=1x8:2x8:4x8",),
        "10.8.0.43",
        4,
    ),
    "rank-1 batched input": (
        [_tensor("ids", "int64", ["n"])],
        [_tensor("y", "float32", ["n", 4])],
        ("ids=1:8:64",),
        "8.5.3.1",
        64,
    ),
}


@pytest.mark.parametrize("case", list(SHAPES))
def test_model_shapes_give_configs_triton_accepts(tmp_path: Path, case: str) -> None:
    inputs, outputs, profiles, tensorrt, expected = SHAPES[case]
    plan = _plan(
        tmp_path / "p", "m.plan", {"inputs": inputs, "outputs": outputs}, profiles, tensorrt=tensorrt
    )
    report = export_triton([plan], tmp_path / "repo", "m")
    config = check_config(tmp_path / "repo", "m", plan)
    assert config.max_batch_size == expected == report["max_batch_size"]


@pytest.mark.parametrize(
    ("dtype", "tensorrt"),
    [("bool", "10.8.0.43"), ("int8", "10.8.0.43"), ("uint8", "10.8.0.43"), ("int32", "8.5.3.1"),
     ("int64", "8.6.1.6"), ("int64", "9.0.0.1"), ("int64", "10.8.0.43"), ("float16", "8.5.3.1"),
     ("bfloat16", "10.8.0.43"), ("float32", "8.5.3.1"), ("float64", "10.8.0.43")],
)  # fmt: skip
def test_every_dtype_a_sidecar_holds(tmp_path: Path, dtype: str, tensorrt: str) -> None:
    io = {"inputs": [_tensor("x", dtype, ["n", 4])], "outputs": [_tensor("y", dtype, ["n", 4])]}
    plan = _plan(tmp_path / "p", "m.plan", io, ("x=1x4:2x4:4x4",), tensorrt=tensorrt)
    export_triton([plan], tmp_path / "repo", "m")
    check_config(tmp_path / "repo", "m", plan)


@pytest.mark.parametrize(
    ("inputs", "outputs", "what"),
    [
        ([_tensor("x", "float32", [4])], [_tensor("s", "float32", [])], "output 's' is a scalar.*Unsqueeze"),
        (
            [_tensor("x", "float32", [4]), _tensor("k", "int32", [])],
            [_tensor("y", "float32", [4])],
            "input 'k' is a scalar.*--freeze k=VALUE",
        ),
    ],
)
def test_a_scalar_without_batching_is_refused(tmp_path: Path, inputs, outputs, what: str) -> None:
    """No config serves it: dims [1] alone differ from the engine's [], and the empty reshape is refused where
    max_batch_size is 0."""
    plan = _plan(tmp_path / "p", "m.plan", {"inputs": inputs, "outputs": outputs})
    with pytest.raises(BadInput, match=what):
        export_triton([plan], tmp_path / "repo", "m")
    assert not (tmp_path / "repo").exists()


def test_a_frozen_scalar_is_no_scalar_of_the_served_model(tmp_path: Path) -> None:
    io = {
        "inputs": [_tensor("x", "float32", [4]), _tensor("k", "int64", [])],
        "outputs": [_tensor("y", "float32", [4])],
    }
    plan = _plan(tmp_path / "p", "m.plan", io, frozen={"k": {"shape": [], "dtype": "int64", "value": 3}})
    export_triton([plan], tmp_path / "repo", "m")
    assert [i.name for i in check_config(tmp_path / "repo", "m", plan).input] == ["x"]


@pytest.mark.parametrize("dtype", ["int16", "uint16", "uint32", "uint64", "float8_e4m3fn"])
def test_types_the_tensorrt_backend_does_not_map_are_refused(tmp_path: Path, dtype: str) -> None:
    io = {"inputs": [_tensor("x", dtype, ["n", 4])], "outputs": [_tensor("y", "float32", ["n", 4])]}
    plan = _plan(tmp_path / "p", "m.plan", io, ("x=1x4:2x4:4x4",))
    with pytest.raises(BadInput, match=f"input 'x' is of type {dtype}, which Triton's TensorRT backend"):
        export_triton([plan], tmp_path / "repo", "m")


IO = {"inputs": [_tensor("x", "float32", ["n", 4])], "outputs": [_tensor("y", "float32", ["n", 4])]}
PROFILE = ("x=1x4:2x4:4x4",)


def test_compute_capability_keys_are_the_ones_triton_looks_up(tmp_path: Path) -> None:
    plans = [
        _plan(tmp_path / cc, "m.plan", IO, PROFILE, compute_capability=cc)
        for cc in ("8.6", "9.0", "10.0", "12.1")
    ]
    export_triton(plans, tmp_path / "repo", "m")
    config = check_config(tmp_path / "repo", "m", plans[0])
    assert sorted(config.cc_model_filenames) == ["10.0", "12.1", "8.6", "9.0"]
    leading_zero = _plan(tmp_path / "z", "m.plan", IO, PROFILE, compute_capability="08.6")
    with pytest.raises(BadInput, match="'08.6', not MAJOR.MINOR"):
        export_triton([plans[1], leading_zero], tmp_path / "other", "m")


def _library(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(300))
    return path


def test_two_libraries_of_one_name_from_different_folders(tmp_path: Path) -> None:
    """`build --plugin a/libp.so --plugin b/libp.so` records both; each is copied, in the order they were loaded."""
    first, second = _library(tmp_path / "a" / "libp.so"), _library(tmp_path / "b" / "libp.so")
    plan = _plan(tmp_path / "p", "m.plan", IO, PROFILE, plugins=(second, first))
    report = export_triton([plan], tmp_path / "repo", "m", plugins=[first, second])
    check_config(tmp_path / "repo", "m", plan)
    folder = tmp_path / "repo" / "m"
    copies = [folder / relative for relative in report["plugins"]]
    assert [c.read_bytes() for c in copies] == [second.read_bytes(), first.read_bytes()]
    assert len({c.name for c in copies}) == 2
    preload = report["load_plugins"]["ld_preload"].split(" ")[0].removeprefix("LD_PRELOAD=")
    assert preload.split(":") == [str(c.resolve()) for c in copies]


def test_plans_for_two_gpus_with_other_builds_of_one_library_are_refused(tmp_path: Path) -> None:
    first, second = _library(tmp_path / "a" / "libp.so"), _library(tmp_path / "b" / "libp.so")
    h100 = _plan(tmp_path / "h", "m.plan", IO, PROFILE, plugins=(first,), compute_capability="9.0")
    a10 = _plan(tmp_path / "l", "m.plan", IO, PROFILE, plugins=(second,), compute_capability="8.6")
    with pytest.raises(BadInput, match="different libraries named libp.so"):
        export_triton([h100, a10], tmp_path / "repo", "m", plugins=[first, second])


@pytest.mark.parametrize("folder", ["my models", "modèles:v2", "a;b"])
def test_plugin_commands_for_repository_paths_with_separators(tmp_path: Path, folder: str) -> None:
    """The dynamic loader splits LD_PRELOAD at spaces and colons, the backend its list at ';': quoting cannot
    protect them, so the command runs from inside the repository with a relative path."""
    import shlex

    library = _library(tmp_path / "lib" / "libp.so")
    plan = _plan(tmp_path / "p", "m.plan", IO, PROFILE, plugins=(library,))
    repository = tmp_path / folder / "repo"
    report = export_triton([plan], repository, "m", plugins=[library])
    check_config(repository, "m", plan)
    for command in report["load_plugins"].values():
        words = shlex.split(command)
        if "&&" in words:
            assert words[:3] == ["cd", str(repository.resolve()), "&&"]
            words = words[3:]
            root = repository
        else:
            root = Path("/")
        assert f"--model-repository={'.' if root == repository else repository.resolve()}" in words
        listed = next(w for w in words if w.startswith(("LD_PRELOAD=", "--backend-config=tensorrt,plugins=")))
        value = listed.split("=", 2)[-1] if listed.startswith("--") else listed.split("=", 1)[1]
        separators = " :" if listed.startswith("LD_PRELOAD=") else ";"
        assert not any(char in value for char in separators), value
        assert (root / value).resolve() == (repository / "m" / "plugins" / "libp.so").resolve()


def test_re_export_with_replace_on_a_unicode_path(tmp_path: Path, run_cli) -> None:
    repository = tmp_path / "dépôt modèles"
    old = _plan(tmp_path / "old", "m.plan", IO, PROFILE)
    new = _plan(tmp_path / "new", "m.plan", IO, ("x=1x4:8x4:16x4",))
    assert run_cli("export", "triton", old, "-o", repository, "--name", "m").code == 0
    refused = run_cli("export", "triton", new, "-o", repository, "--name", "m")
    assert refused.code == 2 and refused.stderr.startswith("error: ") and "--replace" in refused.stderr
    assert (repository / "m" / "1" / "model.plan").read_bytes() == old.read_bytes()
    replaced = run_cli("export", "triton", new, "-o", repository, "--name", "m", "--replace", "--json")
    assert replaced.code == 0, replaced.stderr
    assert json.loads(replaced.stdout)["replaced"] is True
    assert check_config(repository, "m", new).max_batch_size == 16
    assert sorted(p.name for p in repository.iterdir()) == ["m"]


# --- fleet ------------------------------------------------------------------------------------------------------

distributed = pytest.importorskip("distributed")

from test_fleet import A10G, H100, _sidecar_as_built  # noqa: E402
from test_fleet import PROFILE as SR_PROFILE  # noqa: E402

from trtconvert.engine.machine import cuda_gpus  # noqa: E402
from trtconvert.fleet.job_task import register_worker_machine  # noqa: E402
from trtconvert.fleet.manifest import read_manifest  # noqa: E402
from trtconvert.fleet.run import export_to_triton, fleet_exit_code  # noqa: E402
from trtconvert.fleet.store import Store, cache_parts  # noqa: E402

REPORT_FIELDS = {"name", "gpu", "state", "exit_code", "worker", "plan", "seconds"}


@pytest.fixture(scope="module")
def two_kinds() -> str:
    """A LocalCluster with one H100 and one A10G worker (machines as test_fleet keys them); no V100."""
    cluster = distributed.LocalCluster(
        n_workers=0, processes=False, protocol="tcp", threads_per_worker=1, dashboard_address=":0"
    )
    base = cluster.new_spec
    for count, (kind, machine) in enumerate([("H100", H100), ("A10G", A10G)], start=1):
        cluster.new_spec = {
            "cls": base["cls"],
            "options": {**base["options"], "resources": {f"gpu-{kind}": 1}},
        }
        cluster.scale(count)
        cluster.wait_for_workers(count)
        register_worker_machine(count - 1, machine)
    yield cluster.scheduler_address
    cluster.close()


def _write_manifest(path: Path, document: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document))  # JSON is YAML
    return path


def _config_elsewhere(tmp_path: Path, example_model: Path) -> Path:
    """A build config in another folder than the manifest, naming the model relative to itself."""
    config = tmp_path / "configs" / "deep" / "sr.yaml"
    config.parent.mkdir(parents=True)
    relative = os.path.relpath(example_model, config.parent)
    profile = dict(item.split("=") for item in SR_PROFILE.split(","))
    config.write_text(json.dumps({"model": relative, "profiles": [profile]}))
    return config


@pytest.mark.parametrize(
    ("states", "code"),
    [
        ([("built", 0), ("cached", 0)], 0),
        ([("built", 0), ("failed", 2)], 2),
        ([("failed", 2), ("unschedulable", 3)], 3),
        ([("failed", 4), ("unschedulable", 3), ("cached", 0)], 4),
        ([("failed", 5), ("failed", 4), ("failed", 2)], 5),
        ([("failed", 1), ("built", 0)], 1),
    ],
)
def test_fleet_exit_code_for_every_mix_of_states(states: list, code: int) -> None:
    assert fleet_exit_code([{"state": s, "exit_code": c} for s, c in states]) == code


def test_dry_run_with_every_list_valued_key_and_a_config_from_another_folder(
    run_cli, tmp_path: Path, example_model: Path
) -> None:
    config = _config_elsewhere(tmp_path, example_model)
    other_library = tmp_path / "b" / "libp.so"
    library = tmp_path / "a" / "libp.so"
    for file in (library, other_library):
        file.parent.mkdir()
        file.write_bytes(os.urandom(64))
    manifest = _write_manifest(
        tmp_path / "fleets" / "FLEET.yaml",
        {
            "store": "../my store",
            "gpus": ["H100", "A10G"],
            "jobs": [
                {
                    "config": os.path.relpath(config, tmp_path / "fleets"),
                    "precision": ["fp32", "fp16"],
                    "target_tensorrt": ["8.5", "10.10"],
                    "plugins": [["../a/libp.so"], ["../b/libp.so", "../a/libp.so"]],
                    "profiles": [[SR_PROFILE], [SR_PROFILE.replace("48x48", "64x64").replace("96x96", "128x128")]],
                },
                {"config": os.path.relpath(config, tmp_path / "fleets"), "name": "sr16", "precision": "fp16",
                 "keep_fp32": [["conv1"], ["conv2"]]},
            ],
            "triton": {"repository": "../triton repo", "instances": 2},
        },
    )  # fmt: skip
    result = run_cli("fleet", manifest, "--dry-run", "--json")
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    assert len(report["jobs"]) == (2 * 2 * 2 * 2 + 2) * 2
    assert report["store"] == str(tmp_path / "my store")
    names = list(dict.fromkeys(j["name"] for j in report["jobs"]))
    assert names[0] == "sr-fp32-8.5-plugins-1-profiles-1" and "sr-fp16-10.10-plugins-2-profiles-2" in names
    assert names[-2:] == ["sr16-keep_fp32-1", "sr16-keep_fp32-2"]
    for job in report["jobs"]:
        assert job["plan"] == str(tmp_path / "my store" / job["name"] / job["gpu"] / "super_resolution.plan")
        # Paths from the config are relative to the config, from the manifest relative to the manifest.
        assert Path(job["settings"]["model"]).resolve() == example_model.resolve()
        assert all(Path(p).is_file() for p in job["settings"].get("plugins", []))
    by_name = {j["name"]: j["settings"] for j in report["jobs"]}
    assert [Path(p).resolve() for p in by_name["sr-fp16-10.10-plugins-2-profiles-1"]["plugins"]] == [
        other_library.resolve(),
        library.resolve(),
    ]
    assert by_name["sr-fp16-10.10-plugins-2-profiles-1"]["target_tensorrt"] == "10.10"
    assert report["triton"] == {
        "repository": str(tmp_path / "triton repo"),
        "models": {name: name for name in names},
    }
    assert "Triton model sr16-keep_fp32-1" in run_cli("fleet", manifest, "--dry-run").stderr
    assert not (tmp_path / "my store").exists() and not (tmp_path / "triton repo").exists()


def _put_built(store: Store, example_model: Path, machine, gpu: str) -> bytes:
    """A plan pair in the store's plan cache with the sidecar a build of the example at SR_PROFILE writes."""
    plan = os.urandom(96)
    sidecar = _sidecar_as_built(example_model, machine, gpu, plan)
    store.put_plan(plan, json.dumps(sidecar).encode(), *cache_parts(sidecar["cache_key"]))
    return plan


@pytest.mark.parametrize("store_kind", ["folder with spaces", "memory"])
def test_several_jobs_of_one_model_on_two_kinds_exported_to_triton(
    run_cli, two_kinds: str, tmp_path: Path, example_model: Path, store_kind: str
) -> None:
    config = _config_elsewhere(tmp_path, example_model)
    store_url = str(tmp_path / "the store") if store_kind != "memory" else f"memory://holdout-{tmp_path.name}"
    store = Store(store_url)
    plans = {
        gpu: _put_built(store, example_model, machine, gpu)
        for gpu, machine in (("H100", H100), ("A10G", A10G))
    }
    jobs = [{"config": str(config)}, {"config": str(config), "name": "sr-copy"}]
    manifest = _write_manifest(
        tmp_path / "m" / "FLEET.yaml",
        {"store": store_url, "gpus": ["H100", "A10G"], "jobs": jobs, "triton": "../triton repo"},
    )
    result = run_cli("fleet", manifest, "--scheduler", two_kinds, "--json")
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["exit_code"] == 0 and report["summary"] == {"cached": 4}
    for entry in report["jobs"]:
        assert set(entry) >= REPORT_FIELDS
        assert entry["state"] == "cached" and entry["exit_code"] == 0 and entry["worker"]
        assert entry["plan"] == store.location(entry["name"], entry["gpu"], "super_resolution.plan")
        assert store.read_plan(entry["name"], entry["gpu"], "super_resolution.plan")[0] == plans[entry["gpu"]]
    repository = tmp_path / "triton repo"
    for job, model in (("sr", "sr"), ("sr-copy", "sr-copy")):
        exported = report["triton"]["models"][job]
        assert exported["exported"] is True, exported
        plan = repository / model / "1" / "model.sm90.plan"
        config_pb = check_config(repository, model, plan)
        assert dict(config_pb.cc_model_filenames) == {"9.0": "model.sm90.plan", "8.6": "model.sm86.plan"}
        assert (repository / model / "1" / "model.sm86.plan").read_bytes() == plans["A10G"]


@pytest.mark.skipif(
    bool(cuda_gpus()), reason="this machine has a GPU: a build of the missing model would run"
)
def test_report_fields_and_exit_code_with_cached_failed_and_unschedulable_jobs(
    run_cli, two_kinds: str, tmp_path: Path, example_model: Path
) -> None:
    """A model whose plans some kind did not build is not exported to Triton: that would replace a model that
    has the kind's plan with one whose default plan is for another compute capability."""
    store = Store(str(tmp_path / "store"))
    for gpu, machine in (("H100", H100), ("A10G", A10G)):
        _put_built(store, example_model, machine, gpu)
    repository = tmp_path / "repo"
    earlier = repository / "super_resolution" / "config.pbtxt"
    earlier.parent.mkdir(parents=True)
    earlier.write_text("# the model served today\n")
    jobs = [
        {"model": str(example_model), "profiles": [SR_PROFILE]},
        {"model": "missing.onnx", "name": "missing"},
    ]
    manifest = _write_manifest(
        tmp_path / "FLEET.yaml",
        {"store": store.url, "gpus": ["H100", "A10G", "V100"], "jobs": jobs, "triton": "repo"},
    )
    result = run_cli("fleet", manifest, "--scheduler", two_kinds, "--json")
    report = json.loads(result.stdout)
    assert result.code == report["exit_code"] == 3 and report["ok"] is False
    # Progress lines first, then one error line.
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert (
        len(errors) == 1 and result.stderr.splitlines()[-1] == errors[0] and "Traceback" not in result.stderr
    )
    states = {(e["name"], e["gpu"]): (e["state"], e["exit_code"]) for e in report["jobs"]}
    assert states == {
        ("super_resolution", "H100"): ("cached", 0),
        ("super_resolution", "A10G"): ("cached", 0),
        ("super_resolution", "V100"): ("unschedulable", 3),
        ("missing", "H100"): ("failed", 2),
        ("missing", "A10G"): ("failed", 2),
        ("missing", "V100"): ("unschedulable", 3),
    }
    for entry in report["jobs"]:
        assert set(entry) >= REPORT_FIELDS
        assert (entry["worker"] is None) == (entry["state"] == "unschedulable")
        assert (entry["plan"] is not None) == (entry["state"] == "cached")
        assert entry.get("error") if entry["state"] != "cached" else "error" not in entry
    assert report["summary"] == {"cached": 2, "unschedulable": 2, "failed": 2}
    exported = report["triton"]["models"]["super_resolution"]
    assert exported["exported"] is False and "V100 (unschedulable)" in exported["reason"]
    assert earlier.read_text() == "# the model served today\n"
    assert sorted(p.name for p in (repository / "super_resolution").iterdir()) == ["config.pbtxt"]


def test_export_to_triton_leaves_the_model_when_a_kind_failed(tmp_path: Path, example_model: Path) -> None:
    store = Store(str(tmp_path / "store"))
    manifest = read_manifest(
        _write_manifest(
            tmp_path / "FLEET.yaml",
            {"store": store.url, "gpus": ["H100", "A10G"], "jobs": [{"model": str(example_model),
             "profiles": [SR_PROFILE]}], "triton": "repo"},
        )
    )  # fmt: skip
    for job, machine in zip(manifest.jobs, (H100, A10G), strict=True):
        plan = os.urandom(64)
        sidecar = _sidecar_as_built(example_model, machine, job.gpu, plan)
        store.put_plan(plan, json.dumps(sidecar).encode(), *job.store_parts)
    built = [{"name": j.name, "gpu": j.gpu, "state": "built"} for j in manifest.jobs]
    assert export_to_triton(manifest, built)["super_resolution"]["exported"] is True
    before = _tree_bytes(tmp_path / "repo")
    failed = [built[0], {**built[1], "state": "failed"}]
    result = export_to_triton(manifest, failed)["super_resolution"]
    assert result == {
        "exported": False,
        "reason": "not built on A10G (failed); the model in the repository is left as it was",
    }
    assert _tree_bytes(tmp_path / "repo") == before


def _tree_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_an_output_whose_axis_0_may_depend_on_the_data_is_said(tmp_path: Path, caplog) -> None:
    """Boxes after NMS: axis 0 counts boxes, not batch items. From the sidecar it cannot be told apart from a
    batch axis named otherwise, so the export batches (as Triton's autofill would) and says how to serve it whole;
    --max-batch-size 0 then gives full dims."""
    io = {
        "inputs": [_tensor("images", "float32", ["batch", 3, 64, 64])],
        "outputs": [
            _tensor("logits", "float32", ["batch", 10]),
            _tensor("boxes", "float32", ["num_boxes", 6]),
        ],
    }
    plan = _plan(tmp_path / "p", "m.plan", io, ("images=1x3x64x64:2x3x64x64:4x3x64x64",))
    export_triton([plan], tmp_path / "repo", "m")
    assert check_config(tmp_path / "repo", "m", plan).max_batch_size == 4
    warned = [r.getMessage() for r in caplog.records if "axis 0" in r.getMessage()]
    assert len(warned) == 1 and "output 'boxes'" in warned[0] and "--max-batch-size 0" in warned[0]
    export_triton([plan], tmp_path / "whole", "m", max_batch_size=0)
    config = check_config(tmp_path / "whole", "m", plan)
    assert [list(o.dims) for o in config.output] == [[-1, 10], [-1, 6]]


def test_a_version_compatible_plan_gets_the_server_option_it_needs(tmp_path: Path, run_cli) -> None:
    """Triton's TensorRT backend runs the runtime a version-compatible plan carries only with
    --backend-config=tensorrt,version-compatible=true (tensorrt_backend src/tensorrt.cc, src/loader.cc)."""
    library = _library(tmp_path / "lib" / "libp.so")
    plan = _plan(tmp_path / "p", "m.plan", IO, PROFILE, plugins=(library,), version_compatible=True)
    result = run_cli(
        "export", "triton", plan, "-o", tmp_path / "repo", "--name", "m", "--plugin", library, "--json"
    )
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    option = "--backend-config=tensorrt,version-compatible=true"
    assert report["server_options"] == [option]
    assert all(command.split(" ").count(option) == 1 for command in report["load_plugins"].values())
    assert option in (tmp_path / "repo" / "m" / "config.pbtxt").read_text()
    check_config(tmp_path / "repo", "m", plan)
    human = run_cli("export", "triton", plan, "-o", tmp_path / "repo", "--name", "m2", "--plugin", library)
    assert human.code == 0 and f"start tritonserver with {option}" in human.stderr
    plain = _plan(tmp_path / "q", "m.plan", IO, PROFILE)
    assert export_triton([plain], tmp_path / "repo", "m3")["server_options"] == []


def test_plans_for_two_gpus_from_other_onnx_files_or_other_frozen_values(tmp_path: Path, caplog) -> None:
    """Same inputs and outputs, yet maybe another model: other ONNX bytes are said (a re-export is the same
    model), other frozen values refused (each GPU kind would answer differently)."""
    h100 = _plan(tmp_path / "h", "m.plan", IO, PROFILE, compute_capability="9.0")
    other_bytes = _plan(
        tmp_path / "r", "m.plan", IO, PROFILE, compute_capability="8.6"
    )  # its own random ONNX
    export_triton([h100, other_bytes], tmp_path / "repo", "m")
    assert "built from different ONNX files" in caplog.text and "its own --name" in caplog.text
    io = {"inputs": [*IO["inputs"], _tensor("k", "int64", [])], "outputs": IO["outputs"]}
    frozen = [{"k": {"shape": [], "dtype": "int64", "value": value}} for value in (3, 5)]
    same_onnx = tmp_path / "same"
    a = _plan(same_onnx, "a.plan", io, PROFILE, compute_capability="9.0", frozen=frozen[0])
    b = _plan(same_onnx, "b.plan", io, PROFILE, compute_capability="8.6", frozen=frozen[1])
    with pytest.raises(BadInput, match="froze other inputs or values"):
        export_triton([a, b], tmp_path / "repo", "n")
    caplog.clear()
    c = _plan(same_onnx, "c.plan", io, PROFILE, compute_capability="8.6", frozen=frozen[0])
    export_triton([a, c], tmp_path / "repo", "n")
    assert "different ONNX files" not in caplog.text
    assert sorted(check_config(tmp_path / "repo", "n", a).cc_model_filenames) == ["8.6", "9.0"]


@pytest.mark.parametrize("file", ["we\nird.plan", "car\rriage.plan", "ünï côdé #1.plan", "sep\u2028.plan"])
def test_plan_file_names_that_would_break_the_config_comment(tmp_path: Path, file: str) -> None:
    """The config names its plans in a comment: a line break there would make the rest of the name a field."""
    plan = _plan(tmp_path / "p", file, IO, PROFILE)
    export_triton([plan], tmp_path / "repo", "m")
    check_config(tmp_path / "repo", "m", plan)
    assert (tmp_path / "repo" / "m" / "1" / "model.plan").read_bytes() == plan.read_bytes()


@pytest.mark.parametrize(
    ("states", "export_code", "code"),
    [
        (["cached", "built"], None, 0),
        (["cached", "built"], 2, 2),
        (["failed"], 3, 4),
        (["unschedulable"], 2, 3),
    ],
)
def test_the_fleet_exit_code_counts_a_failed_triton_export(
    tmp_path: Path, example_model: Path, states: list, export_code: int | None, code: int
) -> None:
    """The largest of the jobs' exit codes and the Triton export's (failed job: 4 here)."""
    from trtconvert.cli.fleet import _finish
    from trtconvert.fleet.run import FleetIncomplete

    manifest = read_manifest(
        _write_manifest(
            tmp_path / "FLEET.yaml",
            {"store": "s", "gpus": ["H100"], "jobs": [{"model": str(example_model), "profiles": [SR_PROFILE]}],
             "triton": "repo"},
        )
    )  # fmt: skip
    exit_codes = {"built": 0, "cached": 0, "failed": 4, "unschedulable": 3}
    entries = [
        {"name": f"j{i}", "gpu": "H100", "state": state, "exit_code": exit_codes[state], "seconds": 0.0}
        for i, state in enumerate(states)
    ]
    triton = {"j0": {"exported": export_code is None, **({"exit_code": export_code} if export_code else {})}}
    if code == 0:
        _finish(manifest, entries, triton, True)
        return
    with pytest.raises(FleetIncomplete) as raised:
        _finish(manifest, entries, triton, True)
    assert raised.value.exit_code == raised.value.measured["exit_code"] == code
    assert raised.value.measured["triton"]["models"] == triton


# --- on TensorRT: what the sidecar cannot say -------------------------------------------------------------------


def _shape_model(path: Path) -> Path:
    """x [n, 4] -> y = x * 2 and its shape as an output (int64 [2]): the one way an ONNX graph hands a network
    output that comes from a shape computation to TensorRT."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [
            helper.make_node("Mul", ["x", "two"], ["y"]),
            helper.make_node("Shape", ["y"], ["y_shape"]),
        ],
        "shape_output",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4]),
            helper.make_tensor_value_info("y_shape", TensorProto.INT64, [2]),
        ],
        [numpy_helper.from_array(np.array(2.0, dtype=np.float32), "two")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def _on_tensorrt(test):
    from tensorrt_machine import NEEDS_TENSORRT_AND_GPU

    for mark in NEEDS_TENSORRT_AND_GPU:
        test = mark(test)
    return test


@_on_tensorrt
def test_no_io_of_a_built_engine_is_a_shape_binding(run_cli, timing_cache: Path, tmp_path: Path) -> None:
    """The config marks no tensor is_shape_tensor, since the sidecar records none, and Triton refuses a config
    that disagrees with the engine's isShapeInferenceIO. An ONNX output computed by Shape is marked as a network
    output by the parser (not markOutputForShapes), so it should be an execution tensor: checked here on a real
    engine, with the rest of what Triton's backend compares at load time (names, types, dims)."""
    from tensorrt_machine import TRT

    from trtconvert.engine.plan_files import load_engine

    model, plan = _shape_model(tmp_path / "shape.onnx"), tmp_path / "plans" / "shape.plan"
    built = run_cli("build", model, "-o", plan, "--profile", "x=1x4:2x4:4x4", "--timing-cache", timing_cache)
    assert built.code == 0, built.stderr
    repository = tmp_path / "repo"
    assert run_cli("export", "triton", plan, "-o", repository, "--name", "shape").code == 0
    config = text_format.Parse(
        (repository / "shape" / "config.pbtxt").read_text(), model_config_pb2.ModelConfig()
    )
    assert config.max_batch_size == 0  # y_shape has no batch axis
    engine = load_engine(repository / "shape" / "1" / "model.plan", [], TRT)
    for tensor in [*config.input, *config.output]:
        assert engine.is_shape_inference_io(tensor.name) == tensor.is_shape_tensor, tensor.name
        engine_dims = list(engine.get_tensor_shape(tensor.name))
        assert len(engine_dims) == len(tensor.dims)
        assert all(a == b or -1 in (a, b) for a, b in zip(engine_dims, tensor.dims, strict=True)), tensor.name
        engine_type = {"FLOAT": "TYPE_FP32", "INT32": "TYPE_INT32", "INT64": "TYPE_INT64"}[
            engine.get_tensor_dtype(tensor.name).name
        ]
        assert model_config_pb2.DataType.Name(tensor.data_type) == engine_type, tensor.name
