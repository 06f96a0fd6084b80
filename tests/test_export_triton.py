"""`export triton` on the CPU: plans and sidecars written the way `build` writes them (random plan bytes, real
sidecars from plan_files), exported, and every config.pbtxt parsed with Triton's own ModelConfig schema
(tritonclient's model_config_pb2 through protobuf's text format). Whether Triton's server then loads such a
model is not checked here: that needs a GPU and a Triton container."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from plan_factories import plan_with_sidecar

from trtconvert.deploy.triton import TRITON_CONTAINERS, export_triton, triton_containers
from trtconvert.engine.plan_files import read_sidecar, sidecar_path
from trtconvert.errors import BadInput

model_config_pb2 = pytest.importorskip("tritonclient.grpc.model_config_pb2")
text_format = pytest.importorskip("google.protobuf.text_format")

DETECTOR_IO = {
    "inputs": [{"name": "x", "dtype": "float32", "dims": ["batch", 3, "height", "width"]}],
    "outputs": [{"name": "sigmoid_0.tmp_0", "dtype": "float32", "dims": ["batch", 1, "height", "width"]}],
}
DETECTOR_PROFILE = "x=1x3x64x64:4x3x320x320:8x3x640x640"


def _plan(
    folder: Path,
    file: str,
    *,
    io: dict = DETECTOR_IO,
    profiles: tuple[str, ...] = (DETECTOR_PROFILE,),
    **options,
) -> Path:
    return plan_with_sidecar(folder, file, io, profiles, precision="fp16", **options)


def _config(repository: Path, name: str):
    text = (repository / name / "config.pbtxt").read_text()
    return text_format.Parse(text, model_config_pb2.ModelConfig()), text


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_batched_detector_with_plans_for_two_gpus(tmp_path: Path) -> None:
    h100 = _plan(tmp_path / "h100", "det.plan", compute_capability="9.0")
    l4 = _plan(tmp_path / "l4", "det.plan", compute_capability="8.9")
    repository = tmp_path / "repo"
    report = export_triton([h100, l4], repository, "det")

    config, _ = _config(repository, "det")
    assert config.name == "det"
    assert config.platform == "tensorrt_plan"
    assert config.max_batch_size == 8
    assert [(i.name, i.data_type, list(i.dims)) for i in config.input] == [
        ("x", model_config_pb2.TYPE_FP32, [3, -1, -1])
    ]
    assert [(o.name, list(o.dims)) for o in config.output] == [("sigmoid_0.tmp_0", [1, -1, -1])]
    assert dict(config.cc_model_filenames) == {"9.0": "model.sm90.plan", "8.9": "model.sm89.plan"}
    assert config.default_model_filename == "model.sm90.plan"  # the first plan given
    assert list(config.dynamic_batching.preferred_batch_size) == [4]
    assert [(g.count, g.kind, list(g.profile)) for g in config.instance_group] == [
        (1, model_config_pb2.ModelInstanceGroup.KIND_GPU, [])
    ]
    version = repository / "det" / "1"
    assert (version / "model.sm90.plan").read_bytes() == h100.read_bytes()
    assert (version / "model.sm89.plan").read_bytes() == l4.read_bytes()
    # Each plan keeps its sidecar, so that trtconvert verify/inspect work on the repository's copy.
    assert read_sidecar(version / "model.sm89.plan")["gpu"]["compute_capability"] == "8.9"
    assert report["command"] == "export triton" and report["max_batch_size"] == 8
    assert [p["file"] for p in report["plans"]] == ["1/model.sm90.plan", "1/model.sm89.plan"]
    assert report["load_plugins"] is None
    assert sorted(p.name for p in repository.iterdir()) == ["det"]  # no staging folder left


def test_static_model_has_full_dims_and_no_batching(tmp_path: Path) -> None:
    io = {
        "inputs": [{"name": "x", "dtype": "float16", "dims": [1, 3, 48, 192]}],
        "outputs": [{"name": "softmax", "dtype": "float32", "dims": [1, 2]}],
    }
    plan = _plan(tmp_path, "cls.plan", io=io, profiles=())
    export_triton([plan], tmp_path / "repo", "cls")
    config, text = _config(tmp_path / "repo", "cls")
    assert config.max_batch_size == 0
    assert list(config.input[0].dims) == [1, 3, 48, 192]
    assert config.input[0].data_type == model_config_pb2.TYPE_FP16
    assert list(config.output[0].dims) == [1, 2]
    assert not config.HasField("dynamic_batching")
    assert not config.cc_model_filenames
    assert config.default_model_filename == "model.plan"
    assert (tmp_path / "repo" / "cls" / "1" / "model.plan").read_bytes() == plan.read_bytes()
    assert "# The plans need TensorRT 10.8.0.43: Triton containers nvcr.io/nvidia/tritonserver:25.01" in text


def test_dynamic_axis_0_that_is_not_a_batch_axis_keeps_full_dims(tmp_path: Path) -> None:
    """A minimum above 1 means axis 0 is not a batch Triton may shrink to 1: no batching, -1 in the dims."""
    plan = _plan(tmp_path, "det.plan", profiles=("x=2x3x64x64:4x3x320x320:8x3x640x640",))
    report = export_triton([plan], tmp_path / "repo", "det")
    config, _ = _config(tmp_path / "repo", "det")
    assert (config.max_batch_size, report["max_batch_size"]) == (0, 0)
    assert list(config.input[0].dims) == [-1, 3, -1, -1]


def test_two_profiles_get_an_instance_group_each(tmp_path: Path, caplog) -> None:
    small = "x=1x3x64x64:2x3x128x128:4x3x256x256"
    large = "x=1x3x256x256:8x3x512x512:16x3x1024x1024"
    plan = _plan(tmp_path, "det.plan", profiles=(small, large))
    export_triton([plan], tmp_path / "repo", "det", instances=2)
    # The first profile's instances take at most 4: said, with the flag that makes every instance take every batch.
    assert "--max-batch-size 4" in caplog.text
    config, _ = _config(tmp_path / "repo", "det")
    assert [(g.count, list(g.profile)) for g in config.instance_group] == [(2, ["0"]), (2, ["1"])]
    assert config.max_batch_size == 16
    assert list(config.dynamic_batching.preferred_batch_size) == [2, 8]


def test_profiles_of_other_shapes_keep_a_group_each_and_say_how_to_share_them(tmp_path: Path, caplog) -> None:
    """Same batch range, other image sizes: a group per profile as asked, and a warning that a request only the
    other profile takes fails on an instance of this one, with the one-group layout that serves every request."""
    small = "x=1x3x64x64:4x3x128x128:8x3x256x256"
    large = "x=1x3x256x256:4x3x512x512:8x3x1024x1024"
    plan = _plan(tmp_path, "det.plan", profiles=(small, large))
    export_triton([plan], tmp_path / "repo", "det")
    config, _ = _config(tmp_path / "repo", "det")
    assert [list(g.profile) for g in config.instance_group] == [["0"], ["1"]]
    assert "the profiles take different shapes" in caplog.text and 'profile: [ "0", "1" ]' in caplog.text
    caplog.clear()
    same = _plan(tmp_path / "same", "det.plan", profiles=(small, "x=1x3x64x64:2x3x192x192:8x3x256x256"))
    export_triton([same], tmp_path / "repo2", "det")
    assert "different shapes" not in caplog.text  # opt shapes only: every instance takes every request


def test_max_batch_size_0_forces_full_dims(tmp_path: Path) -> None:
    plan = _plan(tmp_path, "det.plan")
    export_triton([plan], tmp_path / "repo", "det", max_batch_size=0)
    config, _ = _config(tmp_path / "repo", "det")
    assert config.max_batch_size == 0
    assert list(config.input[0].dims) == [-1, 3, -1, -1]
    assert not config.HasField("dynamic_batching")


def test_a_smaller_max_batch_size_is_kept_and_a_larger_refused(tmp_path: Path) -> None:
    plan = _plan(tmp_path, "det.plan")
    export_triton([plan], tmp_path / "repo", "det", max_batch_size=3)
    config, _ = _config(tmp_path / "repo", "det")
    assert config.max_batch_size == 3
    assert list(config.dynamic_batching.preferred_batch_size) == []  # the opt batch 4 is above 3
    with pytest.raises(BadInput, match="larger than the largest batch the profiles accept \\(8\\)"):
        export_triton([plan], tmp_path / "other", "det", max_batch_size=9)
    assert not (tmp_path / "other").exists()


def test_plugin_library_is_copied_and_the_way_to_load_it_printed(run_cli, tmp_path: Path) -> None:
    library = tmp_path / "lib" / "libtrtconvert_plugins.so"
    library.parent.mkdir()
    library.write_bytes(os.urandom(2048))
    plan = _plan(tmp_path / "plans", "sr.plan", plugins=(library,))
    repository = tmp_path / "repo"
    result = run_cli(
        "export", "triton", plan, "-o", repository, "--name", "sr", "--plugin", library, "--json"
    )
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    copied = repository / "sr" / "plugins" / library.name
    assert copied.read_bytes() == library.read_bytes()
    assert report["plugins"] == ["plugins/libtrtconvert_plugins.so"]
    assert report["load_plugins"]["ld_preload"].startswith(f"LD_PRELOAD={copied.resolve()} tritonserver")
    assert f"--backend-config=tensorrt,plugins={copied.resolve()}" in report["load_plugins"]["backend_config"]
    config, text = _config(repository, "sr")
    assert config.platform == "tensorrt_plan"
    assert "--backend-config=tensorrt,plugins=" in text
    # Human output names both ways too.
    human = run_cli("export", "triton", plan, "-o", repository, "--name", "sr2", "--plugin", library)
    assert human.code == 0, human.stderr
    assert "LD_PRELOAD=" in human.stderr and "--backend-config=tensorrt,plugins=" in human.stderr


def test_plugin_library_beside_the_plan_is_found_by_its_bytes(tmp_path: Path) -> None:
    library = tmp_path / "plans" / "libplugins.so"
    library.parent.mkdir()
    library.write_bytes(os.urandom(1024))
    plan = _plan(tmp_path / "plans", "sr.plan", plugins=(library,))
    export_triton([plan], tmp_path / "repo", "sr")
    assert (tmp_path / "repo" / "sr" / "plugins" / "libplugins.so").read_bytes() == library.read_bytes()


def test_plugin_library_with_other_bytes_is_refused(tmp_path: Path) -> None:
    library = tmp_path / "plans" / "libplugins.so"
    library.parent.mkdir()
    library.write_bytes(os.urandom(1024))
    plan = _plan(tmp_path / "plans", "sr.plan", plugins=(library,))
    library.write_bytes(os.urandom(1024))  # rebuilt since: not the library the plan was built with
    with pytest.raises(BadInput, match="plugin library libplugins.so .*--plugin PATH"):
        export_triton([plan], tmp_path / "repo", "sr")
    assert not (tmp_path / "repo").exists()


def test_frozen_inputs_are_not_inputs_of_the_served_model(tmp_path: Path) -> None:
    io = {
        "inputs": [
            {"name": "audio", "dtype": "float32", "dims": ["batch", "samples"]},
            {"name": "sr", "dtype": "int64", "dims": []},
        ],
        "outputs": [{"name": "logits", "dtype": "float32", "dims": ["batch", "frames", 32]}],
    }
    frozen = {"sr": {"shape": [], "dtype": "int64", "value": 16000}}
    plan = _plan(tmp_path, "asr.plan", io=io, profiles=("audio=1x16000:4x160000:8x480000",), frozen=frozen)
    export_triton([plan], tmp_path / "repo", "asr")
    config, _ = _config(tmp_path / "repo", "asr")
    assert [(i.name, list(i.dims)) for i in config.input] == [("audio", [-1])]
    assert [(o.name, o.data_type, list(o.dims)) for o in config.output] == [
        ("logits", model_config_pb2.TYPE_FP32, [-1, 32])
    ]
    assert config.max_batch_size == 8


def test_scalar_output_is_reshaped_and_names_are_escaped(tmp_path: Path) -> None:
    io = {
        "inputs": [{"name": 'in"put\\0', "dtype": "int64", "dims": ["n", 4]}],
        "outputs": [{"name": "score", "dtype": "bool", "dims": ["n"]}],
    }
    plan = _plan(tmp_path, "m.plan", io=io, profiles=('in"put\\0=1x4:2x4:3x4',))
    export_triton([plan], tmp_path / "repo", "m")
    config, _ = _config(tmp_path / "repo", "m")
    assert config.input[0].name == 'in"put\\0'
    assert config.input[0].data_type == model_config_pb2.TYPE_INT64
    assert config.max_batch_size == 3
    assert list(config.output[0].dims) == [1]
    assert config.output[0].HasField("reshape") and list(config.output[0].reshape.shape) == []


def test_a_scalar_without_batching_is_refused(tmp_path: Path) -> None:
    """Triton refuses an empty reshape where max_batch_size is 0 (core's ValidateIOShape: "cannot have empty
    reshape for non-batching model as scalar tensors are not supported"), and dims [1] alone differ from the
    engine's []: no config serves it."""
    io = {
        "inputs": [{"name": "x", "dtype": "int64", "dims": ["n", 4]}],
        "outputs": [{"name": "score", "dtype": "bool", "dims": []}],
    }
    plan = _plan(tmp_path, "m.plan", io=io, profiles=("x=1x4:2x4:3x4",))
    with pytest.raises(BadInput, match="output 'score' is a scalar.*Unsqueeze"):
        export_triton([plan], tmp_path / "repo", "m")
    assert not (tmp_path / "repo").exists()


@pytest.mark.parametrize(
    ("tensorrt", "ids_type", "score_type"),
    [("8.5.3.1", "TYPE_INT32", "TYPE_FP32"), ("8.6.1.6", "TYPE_INT32", "TYPE_FP32"),
     ("10.8.0.43", "TYPE_INT64", "TYPE_FP32")],
)  # fmt: skip
def test_data_types_are_the_engines_that_the_parser_narrowed(
    tmp_path: Path, tensorrt: str, ids_type: str, score_type: str
) -> None:
    """An int64 input and a float64 output in the ONNX: TensorRT's ONNX parser binds INT64 as INT32 before 9.0
    and DOUBLE as FLOAT always (convertDtype in onnx/onnx-tensorrt onnx2trt_utils.cpp at release/8.5-GA and
    release/8.6-GA, importerUtils.cpp at release/10.0-GA; no INT64 in NVIDIA/TensorRT
    python/src/infer/pyFoundationalTypes.cpp at 8.5.3), and Triton's TensorRT backend refuses a config whose
    data types differ from the engine's. Argument level: the engine's side is checked by
    test_export_tensorrt.py::test_int64_input_exported_with_the_engines_type on a real TensorRT."""
    io = {
        "inputs": [{"name": "ids", "dtype": "int64", "dims": ["n", 16]}],
        "outputs": [{"name": "score", "dtype": "float64", "dims": ["n", 2]}],
    }
    plan = _plan(tmp_path, "m.plan", io=io, profiles=("ids=1x16:4x16:8x16",), tensorrt=tensorrt)
    export_triton([plan], tmp_path / "repo", "m")
    config, _ = _config(tmp_path / "repo", "m")
    assert model_config_pb2.DataType.Name(config.input[0].data_type) == ids_type
    assert model_config_pb2.DataType.Name(config.output[0].data_type) == score_type


def test_batched_scalar_per_item_output_is_reshaped(tmp_path: Path) -> None:
    io = {
        "inputs": [{"name": "x", "dtype": "float32", "dims": ["n", 3, 48, 192]}],
        "outputs": [{"name": "score", "dtype": "float32", "dims": ["n"]}],
    }
    plan = _plan(tmp_path, "cls.plan", io=io, profiles=("x=1x3x48x192:8x3x48x192:32x3x48x192",))
    export_triton([plan], tmp_path / "repo", "cls")
    config, _ = _config(tmp_path / "repo", "cls")
    assert config.max_batch_size == 32
    assert list(config.input[0].dims) == [3, 48, 192]
    assert list(config.output[0].dims) == [1] and list(config.output[0].reshape.shape) == []
    assert list(config.dynamic_batching.preferred_batch_size) == [8]


def test_adds_a_model_beside_others_and_replaces_only_with_replace(run_cli, tmp_path: Path) -> None:
    repository = tmp_path / "repo"
    other = repository / "other" / "1"
    other.mkdir(parents=True)
    (other / "model.onnx").write_bytes(b"someone else's model")
    (repository / "other" / "config.pbtxt").write_text('platform: "onnxruntime_onnx"\n')
    before_other = _tree(repository / "other")

    first = _plan(tmp_path / "a", "det.plan")
    second = _plan(tmp_path / "b", "det.plan")
    export_triton([first], repository, "det")
    written = _tree(repository / "det")

    refused = run_cli("export", "triton", second, "-o", repository, "--name", "det")
    assert refused.code == 2
    assert refused.stderr.startswith("error: ") and "--replace" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert _tree(repository / "det") == written

    replaced = run_cli("export", "triton", second, "-o", repository, "--name", "det", "--replace", "--json")
    assert replaced.code == 0, replaced.stderr
    assert json.loads(replaced.stdout)["replaced"] is True
    assert (repository / "det" / "1" / "model.plan").read_bytes() == second.read_bytes()
    assert _tree(repository / "other") == before_other
    assert sorted(p.name for p in repository.iterdir()) == ["det", "other"]


def test_a_failed_write_leaves_the_repository_as_it_was(tmp_path: Path, monkeypatch) -> None:
    repository = tmp_path / "repo"
    first = _plan(tmp_path / "a", "det.plan")
    export_triton([first], repository, "det")
    second = _plan(tmp_path / "b", "det.plan", compute_capability="8.6")
    before = _tree(repository)

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError):
        export_triton([second], repository, "det", replace=True)
    with pytest.raises(OSError):
        export_triton([second], repository, "new")
    assert _tree(repository) == before
    assert sorted(p.name for p in repository.iterdir()) == ["det"]


def test_a_failed_rename_puts_the_old_model_back(tmp_path: Path, monkeypatch) -> None:
    repository = tmp_path / "repo"
    export_triton([_plan(tmp_path / "a", "det.plan")], repository, "det")
    second = _plan(tmp_path / "b", "det.plan")
    before = _tree(repository)
    real_rename = os.rename

    def failing_rename(source, target):
        if Path(target) == repository / "det" and Path(source).name == "content":
            raise OSError(5, "Input/output error")
        return real_rename(source, target)

    monkeypatch.setattr(os, "rename", failing_rename)
    with pytest.raises(OSError):
        export_triton([second], repository, "det", replace=True)
    assert _tree(repository) == before
    assert sorted(p.name for p in repository.iterdir()) == ["det"]


def _bad(run_cli, tmp_path: Path, *args) -> str:
    repository = tmp_path / "repo"
    result = run_cli("export", "triton", *args, "--json")
    assert result.code == 2, result.stderr
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr
    assert json.loads(result.stdout)["exit_code"] == 2
    assert not repository.exists() or repository.is_file()  # nothing was created
    return result.stderr


def test_plan_without_sidecar(run_cli, tmp_path: Path) -> None:
    plan = _plan(tmp_path / "p", "det.plan")
    sidecar_path(plan).unlink()
    assert "has no sidecar" in _bad(run_cli, tmp_path, plan, "-o", tmp_path / "repo", "--name", "det")


def test_plan_bytes_that_do_not_match_the_sidecar(run_cli, tmp_path: Path) -> None:
    plan = _plan(tmp_path / "p", "det.plan")
    plan.write_bytes(os.urandom(4096))
    assert "describes other bytes" in _bad(run_cli, tmp_path, plan, "-o", tmp_path / "repo", "--name", "det")


# "det\n": a pattern's "$" also matches before a final newline, which would make a folder "det\n".
@pytest.mark.parametrize(
    "name", ["../escape", "has space", ".hidden", "a/b", "", "x" * 129, "naïve", "det\n", "-flag"]
)
def test_names_triton_cannot_serve(run_cli, tmp_path: Path, name: str) -> None:
    plan = _plan(tmp_path / "p", "det.plan")
    assert "not a Triton model name" in _bad(run_cli, tmp_path, plan, "-o", tmp_path / "repo", "--name", name)


def test_output_that_is_not_a_folder(run_cli, tmp_path: Path) -> None:
    plan = _plan(tmp_path / "p", "det.plan")
    repository = tmp_path / "repo"
    repository.write_text("a file")
    message = _bad(run_cli, tmp_path, plan, "-o", repository, "--name", "det")
    assert "is not a folder" in message
    assert repository.read_text() == "a file"


def test_two_plans_for_one_compute_capability(run_cli, tmp_path: Path) -> None:
    a = _plan(tmp_path / "a", "det.plan")
    b = _plan(tmp_path / "b", "det.plan")
    message = _bad(run_cli, tmp_path, a, b, "-o", tmp_path / "repo", "--name", "det")
    assert "both built for compute capability 9.0" in message


def test_plans_of_different_models(run_cli, tmp_path: Path) -> None:
    other_io = {**DETECTOR_IO, "outputs": [{"name": "boxes", "dtype": "float32", "dims": ["batch", 4]}]}
    a = _plan(tmp_path / "a", "det.plan")
    b = _plan(tmp_path / "b", "cls.plan", io=other_io, compute_capability="8.9")
    message = _bad(run_cli, tmp_path, a, b, "-o", tmp_path / "repo", "--name", "det")
    assert "plans of different models" in message and "det.plan" in message and "cls.plan" in message


def test_plans_of_different_tensorrt_versions(run_cli, tmp_path: Path) -> None:
    a = _plan(tmp_path / "a", "det.plan")
    b = _plan(tmp_path / "b", "det89.plan", compute_capability="8.9", tensorrt="10.9.0.34")
    message = _bad(run_cli, tmp_path, a, b, "-o", tmp_path / "repo", "--name", "det")
    assert "TensorRT 10.8.0.43" in message and "TensorRT 10.9.0.34" in message and "det89.plan" in message


def test_instances_below_one(run_cli, tmp_path: Path) -> None:
    plan = _plan(tmp_path / "p", "det.plan")
    args = (plan, "-o", tmp_path / "repo", "--name", "det", "--instances", "0")
    assert "--instances 0" in _bad(run_cli, tmp_path, *args)


def test_containers_are_looked_up_by_major_minor_patch() -> None:
    assert triton_containers("10.11.0.33") == [
        f"nvcr.io/nvidia/tritonserver:{tag}" for tag in TRITON_CONTAINERS["10.11.0"]
    ]
    assert triton_containers("8.5.3.1") == []


def test_help_has_an_example(run_cli) -> None:
    result = run_cli("export", "triton", "--help")
    assert result.code == 0
    assert "Example:" in result.stdout and "trtconvert export triton" in result.stdout


def test_a_compute_capability_that_is_not_major_minor(run_cli, tmp_path: Path) -> None:
    """It names a file under 1/, so it must not carry a path."""
    a = _plan(tmp_path / "a", "det.plan")
    b = _plan(tmp_path / "b", "det.plan", compute_capability="../../x")
    assert "not MAJOR.MINOR" in _bad(run_cli, tmp_path, a, b, "-o", tmp_path / "repo", "--name", "det")
    c = _plan(tmp_path / "c", "det.plan", compute_capability="8.9\n")
    assert "not MAJOR.MINOR" in _bad(run_cli, tmp_path, a, c, "-o", tmp_path / "repo", "--name", "det")


def test_a_plugin_file_name_with_a_path_is_refused(tmp_path: Path) -> None:
    plan = _plan(tmp_path / "p", "sr.plan")
    sidecar = json.loads(sidecar_path(plan).read_text())
    sidecar["plugins"] = [{"file": "../../libevil.so", "sha256": "0" * 64}]
    sidecar_path(plan).write_text(json.dumps(sidecar))
    with pytest.raises(BadInput, match="not a file name"):
        export_triton([plan], tmp_path / "repo", "sr")
    assert not (tmp_path / "repo").exists()


def test_readme_shows_the_config_of_the_bundled_example(run_cli, example_model: Path, tmp_path: Path) -> None:
    """The README's config is what the export writes for the example's plan: a sidecar with the prepared model's
    inputs and outputs and the config's profile, as build records them, with TensorRT 8.5.3.1 and the plugin."""
    import onnx

    from trtconvert.model.info import graph_inputs, graph_outputs

    root = Path(__file__).resolve().parents[1]
    prepared = tmp_path / "sr.prepared.onnx"
    config = root / "configs" / "super_resolution.yaml"
    result = run_cli("prepare", example_model, "--config", config, "-o", prepared)
    assert result.code == 0, result.stderr
    model = onnx.load(prepared)
    io = {
        "inputs": [t.to_json() for t in graph_inputs(model)],
        "outputs": [t.to_json() for t in graph_outputs(model)],
    }
    library = tmp_path / "lib" / "libtrtconvert_plugins.so"
    library.parent.mkdir()
    library.write_bytes(os.urandom(256))
    profile = "input=1x3x64x64:1x3x128x128:1x3x256x256,factor=1x1x128x128:1x1x256x256:1x1x512x512"
    assert profile.replace(",", "\n    ").replace("=", ": ") in config.read_text()
    plan = _plan(
        tmp_path / "build",
        "super_resolution.plan",
        io=io,
        profiles=(profile,),
        tensorrt="8.5.3.1",
        plugins=(library,),
    )
    export_triton([plan], tmp_path / "model_repository", "super_resolution", plugins=[library])
    written = (tmp_path / "model_repository" / "super_resolution" / "config.pbtxt").read_text()
    readme = (root / "README.md").read_text().split("## Deploy", 1)[1]
    shown = readme.split("```\n# Written by", 1)[1].split("```", 1)[0]
    assert "# Written by" + shown == written
