"""`export triton` with real plans: built by TensorRT on a GPU, exported into one model repository, then run from
the repository's copy by `trtconvert verify`, and each config.pbtxt checked against the engine TensorRT loads
(names, data types, dims with Triton's -1 wildcard, and the batch the profiles accept). No Triton server runs
here: what is checked is what Triton's TensorRT backend compares when it loads the model.

Needs the TensorRT Python package and an NVIDIA GPU (skipped where absent); the plugin case needs the plugin
library (see tensorrt_machine.find_plugin_library), the classifier case the shared real models.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from model_factories import REAL_MODELS
from tensorrt_machine import NEEDS_TENSORRT_AND_GPU, TRT

pytestmark = NEEDS_TENSORRT_AND_GPU

model_config_pb2 = pytest.importorskip("tritonclient.grpc.model_config_pb2")
text_format = pytest.importorskip("google.protobuf.text_format")

EXAMPLE_PROFILE = "input=1x3x16x16:1x3x32x32:2x3x48x48,factor=1x1x32x32:1x1x64x64:1x1x96x96"
CLASSIFIER = "ppocr_mobile_v2_cls.onnx"

# TensorRT's data types by name, as Triton's (the names are the same on TensorRT 8.5 to 10).
_TRITON_TYPE = {
    "FLOAT": "TYPE_FP32",
    "HALF": "TYPE_FP16",
    "BF16": "TYPE_BF16",
    "INT8": "TYPE_INT8",
    "INT32": "TYPE_INT32",
    "INT64": "TYPE_INT64",
    "BOOL": "TYPE_BOOL",
    "UINT8": "TYPE_UINT8",
}


def _run(run_cli, *args) -> dict:
    result = run_cli(*args, "--json")
    assert result.code == 0, result.stderr
    return json.loads(result.stdout)


def _config(model_folder: Path):
    return text_format.Parse((model_folder / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())


def _profile_max(engine, name: str, profile: int) -> tuple[int, ...]:
    if hasattr(engine, "get_tensor_profile_shape"):  # TensorRT 10
        return tuple(engine.get_tensor_profile_shape(name, profile)[2])
    return tuple(engine.get_profile_shape(profile, name)[2])


def _check_against_engine(config, plan: Path, plugins: list[Path]) -> None:
    """What Triton's TensorRT backend checks at load time: every config tensor is an engine I/O tensor of that
    data type, its dims (with the batch axis in front when batching) match the engine's where neither is -1,
    the engine's axis 0 is dynamic when batching, and max_batch_size is what the profiles accept."""
    from trtconvert.engine.plan_files import load_engine

    engine = load_engine(plan, plugins, TRT)
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    batching = config.max_batch_size > 0
    inputs = {n for n in names if engine.get_tensor_mode(n) == TRT.TensorIOMode.INPUT}
    assert {i.name for i in config.input} == inputs
    assert {o.name for o in config.output} == set(names) - inputs
    for tensor in [*config.input, *config.output]:
        shape = tuple(engine.get_tensor_shape(tensor.name))
        dims = ([-1] if batching else []) + list(tensor.dims)
        if tensor.HasField("reshape"):
            dims = ([-1] if batching else []) + list(tensor.reshape.shape)
        assert len(dims) == len(shape), (tensor.name, dims, shape)
        matches = all(a == b or -1 in (a, b) for a, b in zip(dims, shape, strict=True))
        assert matches, (tensor.name, dims, shape)
        expected = _TRITON_TYPE[engine.get_tensor_dtype(tensor.name).name]
        assert model_config_pb2.DataType.Name(tensor.data_type) == expected
        if batching:
            assert shape[0] == -1, tensor.name
    if batching:
        per_profile = [
            min(_profile_max(engine, name, p)[0] for name in inputs)
            for p in range(engine.num_optimization_profiles)
        ]
        assert config.max_batch_size == max(per_profile)


def _verify_in_a_fresh_process(plan: Path, onnx_path: Path, *plugins: Path) -> dict:
    """verify as a server would start: a new process that loads the plugin library from the repository's copy
    (this process already holds the build's copy of it)."""
    args = [str(a) for p in plugins for a in ("--plugin", p)]
    done = subprocess.run(
        [sys.executable, "-m", "trtconvert", "verify", str(plan), "--onnx", str(onnx_path), *args, "--json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _export_example(run_cli, example_model, plugin_library, timing_cache, tmp_path, repository) -> Path:
    plan = tmp_path / "plans" / "sr.plan"
    _run(run_cli, "build", example_model, "-o", plan, "--profile", EXAMPLE_PROFILE, "--rewrite", "all",
         "--plugin", plugin_library, "--timing-cache", timing_cache)  # fmt: skip
    report = _run(run_cli, "export", "triton", plan, "-o", repository, "--name", "super_resolution",
                  "--plugin", plugin_library)  # fmt: skip
    model = repository / "super_resolution"
    copied = model / "plugins" / plugin_library.name
    assert copied.read_bytes() == plugin_library.read_bytes()
    assert report["load_plugins"]["backend_config"].endswith(
        f"--backend-config=tensorrt,plugins={copied.resolve()}"
    )
    served = model / "1" / "model.plan"
    assert served.read_bytes() == plan.read_bytes()
    # The plan inside the repository (its sidecar beside it) runs with the repository's plugin library.
    assert _verify_in_a_fresh_process(served, example_model, copied)["ok"] is True
    config = _config(model)
    assert config.max_batch_size == 0  # factor's axis 0 is a static 1: no batch axis
    _check_against_engine(config, served, [plugin_library])
    return served


def test_example_with_the_plugin_exported_and_verified_from_the_repository(
    run_cli, example_model: Path, plugin_library: Path, timing_cache: Path, tmp_path: Path
) -> None:
    repository = tmp_path / "model_repository"
    _export_example(run_cli, example_model, plugin_library, timing_cache, tmp_path, repository)
    assert sorted(p.name for p in repository.iterdir()) == ["super_resolution"]


def test_example_and_classifier_exported_into_one_repository(
    run_cli,
    example_model: Path,
    plugin_library: Path,
    timing_cache: Path,
    shared_models: Path,
    tmp_path: Path,
) -> None:
    repository = tmp_path / "model_repository"
    _export_example(run_cli, example_model, plugin_library, timing_cache, tmp_path, repository)
    example_files = {p: p.read_bytes() for p in (repository / "super_resolution").rglob("*") if p.is_file()}

    plan = tmp_path / "plans" / "cls.plan"
    _run(run_cli, "build", shared_models / CLASSIFIER, "-o", plan, *REAL_MODELS[CLASSIFIER],
         "--timing-cache", timing_cache)  # fmt: skip
    report = _run(run_cli, "export", "triton", plan, "-o", repository, "--name", "ppocr_cls")
    assert report["load_plugins"] is None
    assert sorted(p.name for p in repository.iterdir()) == ["ppocr_cls", "super_resolution"]
    assert {
        p: p.read_bytes() for p in (repository / "super_resolution").rglob("*") if p.is_file()
    } == example_files

    served = repository / "ppocr_cls" / "1" / "model.plan"
    assert _run(run_cli, "verify", served, "--onnx", shared_models / CLASSIFIER)["ok"] is True
    config = _config(repository / "ppocr_cls")
    assert config.max_batch_size == 8  # the profile's max batch
    assert list(config.dynamic_batching.preferred_batch_size) == [4]
    _check_against_engine(config, served, [])


def test_int64_input_exported_with_the_engines_type(run_cli, timing_cache: Path, tmp_path: Path) -> None:
    """The config's data types are the engine's: an int64 ONNX input is bound as int32 by TensorRT before 9.0
    (onnx-tensorrt's convertDtype at release/8.5-GA), which Triton's TensorRT backend would otherwise refuse
    to load."""
    import onnx
    from model_factories import embedding_model

    model, plan = tmp_path / "embedding.onnx", tmp_path / "plans" / "embedding.plan"
    onnx.save(embedding_model(), model)
    _run(run_cli, "build", model, "-o", plan, "--profile", "ids=1x3:2x3:4x3,x=1x3x8:2x3x8:4x3x8",
         "--timing-cache", timing_cache)  # fmt: skip
    repository = tmp_path / "model_repository"
    _run(run_cli, "export", "triton", plan, "-o", repository, "--name", "embedding")
    config = _config(repository / "embedding")
    assert config.max_batch_size == 4
    _check_against_engine(config, repository / "embedding" / "1" / "model.plan", [])
