"""Real engines: build with TensorRT on a GPU, then run them against onnxruntime with `verify`.

Every test here needs the TensorRT Python package and an NVIDIA GPU, and skips with the reason where either is
missing. Nothing is stubbed: the plans are built by TensorRT and run by polygraphy's TrtRunner.

The plugin cases need libtrtconvert_plugins.so built for the installed TensorRT: TRTCONVERT_PLUGIN_LIBRARY, or
the library `trtconvert plugins build` left in build/lib, or one built for the test run (skipped with the reason
where none can be built). Builds share one timing cache (TRTCONVERT_TEST_TIMING_CACHE to keep it).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from model_factories import REAL_MODELS
from tensorrt_machine import GPU, NEEDS_TENSORRT_AND_GPU, TRT

from trtconvert.engine.plan_files import read_sidecar, sidecar_path

pytestmark = NEEDS_TENSORRT_AND_GPU

PROFILE_SMALL = "input=1x3x16x16:1x3x32x32:2x3x48x48,factor=1x1x32x32:1x1x64x64:1x1x96x96"
PROFILE_FIXED = "input=1x3x40x24,factor=1x1x80x48"


@pytest.fixture(autouse=True)
def _shared_timing_cache(timing_cache: Path) -> None:
    global _TIMING_CACHE
    _TIMING_CACHE = timing_cache


_TIMING_CACHE: Path | None = None


def _build(run_cli, *args) -> dict:
    cache = [] if "--timing-cache" in args or _TIMING_CACHE is None else ["--timing-cache", _TIMING_CACHE]
    result = run_cli("build", *args, *cache, "--json")
    assert result.code == 0, result.stderr
    return json.loads(result.stdout)


def _verify(run_cli, plan: Path, model: Path, *args) -> dict:
    result = run_cli("verify", plan, "--onnx", model, "--json", *args)
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True
    return report


def test_example_with_several_profiles_builds_and_verifies(
    run_cli, example_model: Path, tmp_path: Path
) -> None:
    plan = tmp_path / "sr.plan"
    report = _build(
        run_cli,
        example_model,
        "-o",
        plan,
        "--profile",
        PROFILE_SMALL,
        "--profile",
        PROFILE_FIXED,
        "--rewrite",
        "none",
    )
    assert report["tensorrt"] == TRT.__version__
    assert plan.stat().st_size == report["plan_bytes"] > 0
    sidecar = read_sidecar(plan)
    assert sidecar["tensorrt"]["version"] == TRT.__version__
    assert sidecar["gpu"] == {"name": GPU.name, "compute_capability": GPU.compute_capability}
    assert len(sidecar["profiles"]) == 2
    assert sidecar["profiles"][0]["input"] == {
        "min": [1, 3, 16, 16],
        "opt": [1, 3, 32, 32],
        "max": [2, 3, 48, 48],
    }
    assert [i["name"] for i in sidecar["inputs"]] == ["input", "factor"]
    verified = _verify(run_cli, plan, example_model)
    # min, opt and max of the first profile, and the fixed second profile once.
    assert [(r["profile"], r["shapes_from"]) for r in verified["results"]] == [
        (0, "min"),
        (0, "opt"),
        (0, "max"),
        (1, "min"),
    ]
    assert verified["results"][2]["outputs"][0]["shape"] == [2, 3, 96, 96]
    inspected = run_cli("inspect", plan)
    assert inspected.code == 0 and TRT.__version__ in inspected.stdout


def test_engine_profiles_are_read_when_the_sidecar_is_gone(
    run_cli, example_model: Path, tmp_path: Path
) -> None:
    plan = tmp_path / "sr.plan"
    _build(run_cli, example_model, "-o", plan, "--profile", PROFILE_SMALL, "--rewrite", "none")
    sidecar_path(plan).unlink()
    verified = _verify(run_cli, plan, example_model)
    assert len(verified["results"]) == 3


def test_example_with_the_plugin(run_cli, example_model: Path, plugin_library: Path, tmp_path: Path) -> None:
    library = plugin_library
    plan = tmp_path / "sr_plugin.plan"
    report = _build(
        run_cli,
        example_model,
        "-o",
        plan,
        "--profile",
        PROFILE_SMALL,
        "--rewrite",
        "all",
        "--plugin",
        library,
    )
    assert [d["decision"] for d in report["rewrites"]] == ["rewrite"]
    sidecar = read_sidecar(plan)
    assert [p["file"] for p in sidecar["plugins"]] == [library.name]
    _verify(run_cli, plan, example_model, "--plugin", library)


def test_plugin_node_without_its_library_fails_to_build(example_model: Path, tmp_path: Path) -> None:
    # In a fresh process: an earlier test may have registered the plugin in this one.
    import subprocess
    import sys

    plan = tmp_path / "sr.plan"
    result = subprocess.run(
        [sys.executable, "-m", "trtconvert", "build", str(example_model), "-o", str(plan), "--profile",
         PROFILE_SMALL, "--rewrite", "all"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode in (2, 5), result.stderr
    assert "DynamicTRTResize" in result.stderr and "Traceback" not in result.stderr
    assert not plan.exists() and not sidecar_path(plan).exists()


def test_fp16_builds_and_verifies_within_fp16_tolerance(run_cli, example_model: Path, tmp_path: Path) -> None:
    major = int(TRT.__version__.split(".")[0])
    converters = [importlib.util.find_spec(m) for m in ("onnxconverter_common", "modelopt")]
    if major >= 11 and not any(converters):
        pytest.skip("TensorRT 11 fp16 converts the ONNX first: pip install onnxconverter-common")
    plan = tmp_path / "sr16.plan"
    report = _build(
        run_cli,
        example_model,
        "-o",
        plan,
        "--profile",
        PROFILE_SMALL,
        "--rewrite",
        "none",
        "--precision",
        "fp16",
    )
    expected_mode = "builder_flags" if major < 11 else "onnx_conversion"
    assert report["precision"]["mode"] == expected_mode
    verified = _verify(run_cli, plan, example_model)
    assert verified["tolerances"]["atol"] == 2e-2
    # fp16 is really used: the engine differs from fp32 onnxruntime, within fp16's tolerance.
    assert max(o["max_abs"] for r in verified["results"] for o in r["outputs"]) > 0


def test_second_build_reuses_the_timing_cache(run_cli, example_model: Path, tmp_path: Path) -> None:
    cache = tmp_path / "shared" / "timing.cache"
    first = run_cli(
        "build", example_model, "-o", tmp_path / "a.plan", "--profile", PROFILE_SMALL, "--rewrite", "none",
        "--timing-cache", cache, "-vv",
    )  # fmt: skip
    assert first.code == 0, first.stderr
    assert cache.is_file() and cache.stat().st_size > 0
    assert "not found, falling back to empty timing cache" in first.stderr
    size_after_first = cache.stat().st_size
    second = run_cli(
        "build", example_model, "-o", tmp_path / "b.plan", "--profile", PROFILE_SMALL, "--rewrite", "none",
        "--timing-cache", cache, "-vv",
    )  # fmt: skip
    assert second.code == 0, second.stderr
    assert f"Loading tactic timing cache from {cache}" in second.stderr
    assert cache.stat().st_size >= size_after_first
    # The merged cache is still one TensorRT can read.
    builder = TRT.Builder(TRT.Logger(TRT.Logger.ERROR))
    config = builder.create_builder_config()
    assert config.create_timing_cache(cache.read_bytes()) is not None
    _verify(run_cli, tmp_path / "b.plan", example_model)


def test_cache_dir_reuses_an_identical_build(run_cli, example_model: Path, tmp_path: Path) -> None:
    cache = tmp_path / "plans"
    args = ["--profile", PROFILE_SMALL, "--rewrite", "none", "--cache-dir", cache]
    first = _build(run_cli, example_model, "-o", tmp_path / "a.plan", *args)
    assert first["cache"] == "stored"
    result = run_cli("build", example_model, "-o", tmp_path / "b.plan", *args, "--json")
    assert result.code == 0, result.stderr
    second = json.loads(result.stdout)
    assert second["cache"] == "hit" and second["cache_key"] == first["cache_key"]
    assert "reused" in result.stderr
    assert (tmp_path / "b.plan").read_bytes() == (tmp_path / "a.plan").read_bytes()
    # A different setting is a different key: built, not reused.
    third = _build(run_cli, example_model, "-o", tmp_path / "c.plan", *args, "--no-tf32")
    assert third["cache"] == "stored" and third["cache_key"] != first["cache_key"]


def test_build_verify_flag_checks_the_engine_before_saving(
    run_cli, example_model: Path, tmp_path: Path
) -> None:
    plan = tmp_path / "sr.plan"
    result = run_cli(
        "build",
        example_model,
        "-o",
        plan,
        "--profile",
        PROFILE_SMALL,
        "--rewrite",
        "none",
        "--verify",
        "--json",
    )
    assert result.code == 0, result.stderr
    assert result.stderr.count("OUT OF TOLERANCE") == 0 and "verify" in result.stderr
    assert plan.is_file()
    # The report carries both checks' measurements: the prepared model on the CPU, then the engine.
    report = json.loads(result.stdout)
    cpu = [o for shape_set in report["verification"] for o in shape_set["outputs"]]
    engine = [o for shape_set in report["engine_verification"]["results"] for o in shape_set["outputs"]]
    assert cpu and all(o["ok"] for o in cpu) and report["int8_verification"] is None
    assert engine and all(o["ok"] and o["max_abs"] >= 0 for o in engine)


def test_out_of_tolerance_exits_4(run_cli, example_model: Path, tmp_path: Path) -> None:
    plan = tmp_path / "sr.plan"
    _build(run_cli, example_model, "-o", plan, "--profile", PROFILE_SMALL, "--rewrite", "none")
    # An fp32/TF32 engine cannot match to 1e-12: verification must say so with exit code 4.
    result = run_cli("verify", plan, "--onnx", example_model, "--atol", "1e-12", "--rtol", "0", "--json")
    assert result.code == 4, result.stderr
    assert "OUT OF TOLERANCE" in result.stderr
    # --json gives the measurements with the error, under the keys a passing run uses.
    failed = json.loads(result.stdout)
    assert failed["ok"] is False and failed["exit_code"] == 4 and failed["command"] == "verify"
    outputs = [o for shape_set in failed["results"] for o in shape_set["outputs"]]
    assert any(not o["ok"] and o["max_abs"] > 1e-12 for o in outputs)


@pytest.mark.parametrize("name", list(REAL_MODELS))
def test_shared_real_models_build_and_verify(run_cli, shared_models: Path, tmp_path: Path, name: str) -> None:
    args = REAL_MODELS[name]
    plan = tmp_path / f"{Path(name).stem}.plan"
    _build(run_cli, shared_models / name, "-o", plan, *args)
    given = [a for i, a in enumerate(args) if i > 0 and args[i - 1] == "--input"]
    verify_args = [x for value in given for x in ("--input", value)]
    _verify(run_cli, plan, shared_models / name, *verify_args)


def test_build_verify_failure_replaces_nothing(run_cli, example_model: Path, tmp_path: Path) -> None:
    plan = tmp_path / "sr.plan"
    plan.write_bytes(b"previous plan")
    sidecar_path(plan).write_text("{}")
    result = run_cli(
        "build", example_model, "-o", plan, "--profile", PROFILE_SMALL, "--rewrite", "none", "--no-fold",
        "--verify", "--atol", "1e-12", "--rtol", "0", "--json",
    )  # fmt: skip
    # The CPU check of the unfolded, unrewritten model is exact; the engine's cannot be.
    assert result.code == 4, result.stderr
    failed = json.loads(result.stdout)
    assert all(o["ok"] for shape_set in failed["verification"] for o in shape_set["outputs"])
    engine = [o for shape_set in failed["engine_verification"]["results"] for o in shape_set["outputs"]]
    assert any(not o["ok"] for o in engine)
    assert plan.read_bytes() == b"previous plan" and sidecar_path(plan).read_text() == "{}"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]


def test_example_with_the_plugin_in_fp16_verifies_at_min_opt_and_max(
    run_cli, example_model: Path, plugin_library: Path, tmp_path: Path
) -> None:
    plan = tmp_path / "sr16_plugin.plan"
    report = _build(
        run_cli, example_model, "-o", plan, "--profile", PROFILE_SMALL, "--rewrite", "all",
        "--plugin", plugin_library, "--precision", "fp16", "--verify",
    )  # fmt: skip
    assert [d["decision"] for d in report["rewrites"]] == ["rewrite"]
    assert report["precision"]["precision"] == "fp16"
    verified = _verify(run_cli, plan, example_model, "--plugin", plugin_library)
    assert [r["shapes_from"] for r in verified["results"]] == ["min", "opt", "max"]
    assert verified["tolerances"]["atol"] == 2e-2


def test_bench_times_a_plan_with_the_plugin(
    run_cli, example_model: Path, plugin_library: Path, tmp_path: Path
):
    plan = tmp_path / "sr_plugin.plan"
    _build(run_cli, example_model, "-o", plan, "--profile", PROFILE_SMALL, "--profile", PROFILE_FIXED,
           "--rewrite", "all", "--plugin", plugin_library)  # fmt: skip
    result = run_cli(
        "bench", plan, "--plugin", plugin_library, "--iterations", "30", "--warmup", "5", "--json"
    )
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    assert [(r["profile"], r["shapes_from"]) for r in report["results"]] == [(0, "opt"), (1, "opt")]
    assert report["results"][0]["shapes"]["input"] == [1, 3, 32, 32]
    for row in report["results"]:
        assert 0 < row["min_ms"] <= row["median_ms"] <= row["p90_ms"] <= row["p99_ms"] <= row["max_ms"]
        assert row["throughput_qps"] > 0 and row["iterations"] == 30
    given = run_cli("bench", plan, "--plugin", plugin_library, "--shapes", "input=2x3x48x48,factor=1x1x96x96",
                    "--iterations", "10")  # fmt: skip
    assert given.code == 0, given.stderr
    assert "0 given" in given.stdout and "input=2x3x48x48" in given.stdout
    outside = run_cli(
        "bench", plan, "--plugin", plugin_library, "--shapes", "input=9x3x48x48,factor=1x1x96x96"
    )
    assert outside.code == 2 and "outside every optimization profile" in outside.stderr


def test_bench_cuda_graph_layers_and_compare(
    run_cli, example_model: Path, plugin_library: Path, tmp_path: Path
):
    """--cuda-graph times graph launches, --layers lists every layer with the plugin marked, --compare times the
    plugin plan against TensorRT's own cubic Resize on the same inputs (TensorRT 8.5 computes this Resize)."""
    plugin_plan, native_plan = tmp_path / "sr_plugin.plan", tmp_path / "sr_native.plan"
    _build(run_cli, example_model, "-o", plugin_plan, "--profile", PROFILE_SMALL, "--rewrite", "all",
           "--plugin", plugin_library)  # fmt: skip
    _build(run_cli, example_model, "-o", native_plan, "--profile", PROFILE_SMALL, "--rewrite", "none")
    result = run_cli("bench", plugin_plan, "--plugin", plugin_library, "--cuda-graph", "--layers",
                     "--compare", native_plan, "--iterations", "20", "--warmup", "3", "--json")  # fmt: skip
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["cuda_graph"] is True
    (mine,) = report["results"]
    (theirs,) = report["compare"]["results"]
    assert mine["shapes"] == theirs["shapes"] == {"input": [1, 3, 32, 32], "factor": [1, 1, 64, 64]}
    for row in (mine, theirs):
        assert row["cuda_graph"] is True and row["iterations"] == 20
        assert 0 < row["min_ms"] <= row["median_ms"] <= row["max_ms"]
    assert report["compare"]["median_ratios"][0] == pytest.approx(
        theirs["median_ms"] / mine["median_ms"], rel=1e-3
    )
    layers = mine["layers"]
    assert layers["types_known"] is True and layers["runs"] == 20
    times = [row["mean_ms"] for row in layers["layers"]]
    assert times == sorted(times, reverse=True) and times[0] > 0
    assert sum(row["share"] for row in layers["layers"]) == pytest.approx(1.0, abs=1e-3)
    plugins = [row for row in layers["layers"] if row["plugin"]]
    assert len(plugins) == 1 and "plugin" in plugins[0]["type"].lower(), layers["layers"]
    assert not any(row["plugin"] for row in theirs["layers"]["layers"])  # the native plan has no plugin layer
    table = run_cli("bench", plugin_plan, "--plugin", plugin_library, "--layers", "--iterations", "5")
    assert table.code == 0, table.stderr
    assert sum(line.endswith("<- plugin") for line in table.stdout.splitlines()) == 1, table.stdout


def test_bench_with_and_without_cuda_graph_time_the_same_work(run_cli, conv_model_path: Path, tmp_path: Path):
    plan = tmp_path / "conv.plan"
    _build(run_cli, conv_model_path, "-o", plan, "--profile", "x=1x3x16x16:1x3x32x32:1x3x64x64")
    plain = run_cli("bench", plan, "--iterations", "50", "--json")
    graph = run_cli("bench", plan, "--iterations", "50", "--cuda-graph", "--json")
    assert plain.code == 0 and graph.code == 0, plain.stderr + graph.stderr
    plain_row, graph_row = json.loads(plain.stdout)["results"][0], json.loads(graph.stdout)["results"][0]
    assert plain_row["cuda_graph"] is False and graph_row["cuda_graph"] is True
    # The same kernels either way: a graph launch saves host time, it cannot take several times as long.
    assert 0 < graph_row["median_ms"] < 3 * plain_row["median_ms"] + 0.05


def test_bench_compare_refuses_plans_with_other_inputs(
    run_cli, example_model: Path, example_module, tmp_path: Path
):
    import onnx

    fixed = tmp_path / "sr_fixed_scales.onnx"
    onnx.save(example_module.build_model(seed=0, constant_scales=2.0), fixed)
    factor_plan, scales_plan = tmp_path / "factor.plan", tmp_path / "scales.plan"
    _build(run_cli, example_model, "-o", factor_plan, "--profile", PROFILE_FIXED, "--rewrite", "none")
    _build(run_cli, fixed, "-o", scales_plan, "--profile", "input=1x3x40x24", "--rewrite", "none")
    result = run_cli("bench", factor_plan, "--compare", scales_plan, "--iterations", "2")
    assert result.code == 2
    assert "--compare needs plans with the same inputs" in result.stderr and "factor" in result.stderr


def test_an_int64_input_builds_verifies_and_benches(run_cli, tmp_path: Path) -> None:
    """A model with an int64 input: TensorRT before 9.0 binds it as int32 (onnx-tensorrt's convertDtype at
    release/8.5-GA), so build --verify and verify cast onnxruntime's int64 feed for polygraphy's runner, which
    refuses any other type than the engine's; bench feeds the engine's own type, also from an int64 .npy."""
    import numpy as np
    import onnx
    from model_factories import embedding_model

    from trtconvert.engine.plan_files import load_engine
    from trtconvert.settings.target import engine_dtype

    model, plan = tmp_path / "embedding.onnx", tmp_path / "embedding.plan"
    onnx.save(embedding_model(), model)
    built = _build(run_cli, model, "-o", plan, "--profile", "ids=1x3:2x3:4x3,x=1x3x8:2x3x8:4x3x8", "--verify")
    results = built["engine_verification"]["results"]
    assert len(results) == 3 and all(o["ok"] for r in results for o in r["outputs"])
    engine = load_engine(plan, [], TRT)
    bound = np.dtype(TRT.nptype(engine.get_tensor_dtype("ids"))).name
    assert bound == engine_dtype("int64", TRT.__version__)  # int32 on 8.5 and 8.6, int64 from 9.0
    _verify(run_cli, plan, model)
    ids = tmp_path / "ids.npy"
    np.save(ids, np.array([[1, 15, 7], [0, 3, 9]], np.int64))
    timed = run_cli("bench", plan, "--shapes", "ids=2x3,x=2x3x8", "--input", f"ids={ids}", "--iterations", "5",
                    "--json")  # fmt: skip
    assert timed.code == 0, timed.stderr
    assert json.loads(timed.stdout)["results"][0]["shapes"] == {"ids": [2, 3], "x": [2, 3, 8]}


def test_an_int64_input_calibrates_for_int8(run_cli, tmp_path: Path) -> None:
    """INT8 calibration of a model with an int64 input: the samples reach TensorRT in the type its parser binds
    (int32 before 9.0), which polygraphy's calibrator checks batch by batch; a batch of another type ends the
    calibration with no sample and the build fails."""
    import numpy as np
    import onnx
    from model_factories import embedding_model

    model, plan, calib = tmp_path / "embedding.onnx", tmp_path / "embedding8.plan", tmp_path / "calib.npz"
    onnx.save(embedding_model(), model)
    rng = np.random.default_rng(12)
    np.savez(calib, ids=rng.integers(0, 16, size=(8, 2, 3)).astype(np.int64),
             x=rng.uniform(-1, 1, size=(8, 2, 3, 8)).astype(np.float32))  # fmt: skip
    built = run_cli("build", model, "-o", plan, "--profile", "ids=2x3,x=2x3x8", "--precision", "int8",
                    "--calib-data", calib, "--timing-cache", _TIMING_CACHE, "--json")  # fmt: skip
    assert built.code == 0, built.stderr
    # The line of a calibration that ran (TensorRT wrote scales): with no batch the build fails instead.
    assert "calibrated (" in built.stderr, built.stderr


def test_a_build_shows_it_is_alive(run_cli, example_model: Path, tmp_path: Path, monkeypatch) -> None:
    # A heartbeat every 0.2 s instead of 30 s, and no timing cache, so that the build takes long enough to show.
    monkeypatch.setenv("TRTCONVERT_HEARTBEAT_SECONDS", "0.2")
    result = run_cli(
        "build", example_model, "-o", tmp_path / "sr.plan", "--profile", PROFILE_SMALL, "--rewrite", "none"
    )
    assert result.code == 0, result.stderr
    beats = [line.strip() for line in result.stderr.splitlines() if "build running" in line]
    assert beats, result.stderr[-3000:]
    # What TensorRT says it is doing: its verbose log on every version, its progress monitor from 10.
    assert any(not line.endswith(": starting") for line in beats), beats[-5:]


def _calibration_file(folder: Path, samples: int = 16) -> Path:
    """Image-like samples at PROFILE_FIXED's shapes (smooth gradients with dark strokes, not noise)."""
    import numpy as np
    from seeds import fresh_rng

    rng = fresh_rng("engine-int8")
    y, x = np.mgrid[0:40, 0:24] / 40.0
    images = np.empty((samples, 1, 3, 40, 24), np.float32)
    for index in range(samples):
        image = (
            rng.uniform(0.2, 0.8, 3)[:, None, None] + 0.3 * np.sin(6 * x + rng.uniform(0, 6))[None] * y[None]
        )
        row = int(rng.integers(3, 37))
        image[:, row - 1 : row + 1, 2:-2] = 0.05
        images[index, 0] = image
    path = folder / "calib.npz"
    np.savez(path, input=images, factor=np.zeros((samples, 1, 1, 80, 48), np.float32))
    return path


def test_int8_calibrates_writes_the_cache_reuses_it_and_shows_int8_layers(
    run_cli, example_model: Path, tmp_path: Path
) -> None:
    if int(TRT.__version__.split(".")[0]) >= 11:
        pytest.skip("TensorRT 11 has no calibrator: its INT8 is Q/DQ, checked on the CPU in test_int8.py")
    calib, cache = _calibration_file(tmp_path), tmp_path / "calib.cache"
    common = ["--profile", PROFILE_FIXED, "--rewrite", "none", "--precision", "int8", "--calib-data", calib]
    first = run_cli("build", example_model, "-o", tmp_path / "a.plan", *common, "--calib-cache", cache)
    assert first.code == 0, first.stderr
    assert cache.is_file() and cache.read_bytes().startswith(b"TRT-")
    assert "calibrated;" in first.stderr
    second = run_cli("build", example_model, "-o", tmp_path / "b.plan", *common, "--calib-cache", cache)
    assert second.code == 0, second.stderr
    assert "no calibration run" in second.stderr and "did not use the scales" not in second.stderr
    # The cache alone: were TensorRT to ignore it, calibrating without samples would fail the build.
    alone = [arg for arg in common if arg not in ("--calib-data", calib)]
    third = run_cli("build", example_model, "-o", tmp_path / "c.plan", *alone, "--calib-cache", cache)
    assert third.code == 0, third.stderr
    assert "no calibration run" in third.stderr
    # Its error against onnxruntime is reported whatever it is; int8's default tolerance judges it.
    verified = run_cli("verify", tmp_path / "b.plan", "--onnx", example_model, "--json")
    assert verified.code in (0, 4), verified.stderr
    assert "max abs" in verified.stderr
    layers = run_cli("inspect", tmp_path / "b.plan", "--layers", "--json")
    assert layers.code == 0, layers.stderr
    report = json.loads(layers.stdout)["layers"]
    assert report["detailed"] and report["precisions"].get("Int8", 0) > 0


def test_layers_of_an_fp32_plan_are_fp32(run_cli, example_model: Path, tmp_path: Path) -> None:
    plan = tmp_path / "fp32.plan"
    _build(run_cli, example_model, "-o", plan, "--profile", PROFILE_FIXED, "--rewrite", "none", "--no-tf32")
    result = run_cli("inspect", plan, "--layers")
    assert result.code == 0, result.stderr
    assert " layers: " in result.stdout and "FP32" in result.stdout and "Int8" not in result.stdout


def test_layers_of_a_two_profile_fp16_plan_show_precisions(
    run_cli, example_model: Path, tmp_path: Path
) -> None:
    # The inspector resolves a dynamic plan's formats only through an execution context holding input shapes:
    # without one every layer of this plan came out "unknown" on TensorRT 8.5.
    if int(TRT.__version__.split(".")[0]) >= 11:
        pytest.skip("TensorRT 11 fp16 converts the ONNX first; the builder-flag FP16 plan is 8.5 to 10")
    plan = tmp_path / "sr16x2.plan"
    profiles = ["--profile", PROFILE_SMALL, "--profile", PROFILE_FIXED]
    _build(run_cli, example_model, "-o", plan, *profiles, "--rewrite", "none", "--precision", "fp16")
    result = run_cli("inspect", plan, "--layers", "--json")
    assert result.code == 0, result.stderr
    layers = json.loads(result.stdout)["layers"]
    by_profile = layers["profiles"]
    assert [p["profile"] for p in by_profile] == [0, 1]
    assert by_profile[0]["opt_shapes"] == {"input": [1, 3, 32, 32], "factor": [1, 1, 64, 64]}
    assert by_profile[1]["opt_shapes"] == {"input": [1, 3, 40, 24], "factor": [1, 1, 80, 48]}
    for report in by_profile:
        counts = report["precisions"]
        print(f"profile {report['profile']}: {len(report['layers'])} layers, {counts}")
        assert report["detailed"] and report["layers"]
        assert counts.get("FP16", 0) > 0, counts
        known = sum(n for precision, n in counts.items() if precision != "unknown")
        assert known > counts.get("unknown", 0), counts
    text = run_cli("inspect", plan, "--layers")
    assert text.code == 0, text.stderr
    assert "profile 1 at its opt shapes (input=1x3x40x24, factor=1x1x80x48)" in text.stdout
    assert "FP16" in text.stdout
