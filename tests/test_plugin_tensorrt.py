"""DynamicTRTResize in real TensorRT: engines with the plugin built and run on a GPU, compared with onnxruntime.

Every test needs the TensorRT Python package and an NVIDIA GPU and skips with the reason where either is
missing; nothing here is stubbed. The plugin library is TRTCONVERT_PLUGIN_LIBRARY when set, else the one
`trtconvert plugins build` left in build/lib, else it is built into a temporary folder for this GPU (which
needs cmake, nvcc and TensorRT headers; skipped with the reason without them).

Engines go through polygraphy's loaders (LoadPlugins around NetworkFromOnnxPath, CreateConfig,
EngineBytesFromNetwork) from models prepared by the rewrite stage, and run with TrtRunner. References:
onnxruntime on the original model, in float32. Tolerances, from the arithmetic of each case:
  - float32 plugin alone: atol 1e-4, rtol 1e-4 (both sides accumulate 16 taps in float32; polygraphy leaves TF32
    off);
  - float16 / bfloat16 plugin alone, input pre-rounded to that type so only the plugin's output rounding remains:
    half an ulp, 2^-11 (fp16) or 2^-8 (bf16) relative: rtol 2e-3 / 8e-3 with the same atol;
  - the bundled example with the plugin in float16 (three convolutions after it, in float32): atol 2e-2,
    rtol 2e-2, and a mean absolute error below 4e-3 (the input and resize roundings, about 1e-3 each, grow
    to a few 1e-3 through the convolutions' fan-in).
A fresh process deserializes a plan with only the library loaded (statically, and through
IPluginRegistry.load_library from TensorRT 8.6) and reproduces the outputs; without the library it cannot.
Networks are strongly typed from TensorRT 9; on 8.5 the FP16 cases pin the plugin layers to FP16 instead.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import onnx
import onnx_graphsurgeon as gs
import pytest
from resize_models import shape_sized_model, single_resize_model
from tensorrt_machine import GPU, NEEDS_TENSORRT_AND_GPU, TARGET, TRT, require_feature

pytestmark = NEEDS_TENSORRT_AND_GPU

FP32_TOLERANCE = {"atol": 1e-4, "rtol": 1e-4}


@pytest.fixture(autouse=True)
def _shared_timing_cache(timing_cache: Path) -> None:
    global _TIMING_CACHE
    _TIMING_CACHE = timing_cache


_TIMING_CACHE: Path | None = None


def _prepare(model: onnx.ModelProto) -> onnx.ModelProto:
    """The rewrite stage with every cubic Resize turned into the plugin, for the installed TensorRT."""
    from trtconvert.prepare.rewrite.stage import rewrite_model
    from trtconvert.settings.target import parse_target

    result = rewrite_model(model, "all", parse_target(TRT.__version__))
    assert result.rewritten >= 1, result.lines()
    return result.model


def _plugin_nodes(model: onnx.ModelProto) -> list[onnx.NodeProto]:
    return [n for n in model.graph.node if n.op_type == "DynamicTRTResize"]


def _plugin_in(model: onnx.ModelProto, dtype: np.dtype) -> onnx.ModelProto:
    """The plugin nodes computing in ``dtype``: Casts to it before input 0 and back to float32 after."""
    graph = gs.import_onnx(model)
    for index, node in enumerate([n for n in graph.nodes if n.op == "DynamicTRTResize"]):
        x, y = node.inputs[0], node.outputs[0]
        low_in = gs.Variable(f"plugin{index}_in_low", dtype=dtype)
        low_out = gs.Variable(f"plugin{index}_out_low", dtype=dtype)
        to = (
            onnx.TensorProto.BFLOAT16
            if dtype == "bfloat16"
            else onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
        )
        graph.nodes.append(gs.Node("Cast", f"plugin{index}_cast_in", {"to": to}, [x], [low_in]))
        node.inputs[0] = low_in
        node.outputs[0] = low_out
        graph.nodes.append(
            gs.Node("Cast", f"plugin{index}_cast_out", {"to": onnx.TensorProto.FLOAT}, [low_out], [y])
        )
    graph.cleanup().toposort()
    return gs.export_onnx(graph)


def _build(
    model: onnx.ModelProto, folder: Path, library: Path, profile: dict, plugin_in: str | None = None, **config
) -> bytes:
    """Build with polygraphy's loaders, after the plugin-loading stage has checked every plugin node.

    Networks are strongly typed where TensorRT has that (9.0+); before, ``plugin_in="float16"`` pins the plugin
    layers to FP16 (layer precision, output type, constraints obeyed), as the Casts of _plugin_in do when typed.
    """
    from polygraphy.backend.trt import (
        CreateConfig,
        EngineBytesFromNetwork,
        LoadPlugins,
        NetworkFromOnnxPath,
        PostprocessNetwork,
        Profile,
    )

    from trtconvert.engine.plugins import check_creators

    path = folder / "prepared.onnx"
    onnx.save(model, path)
    check_creators(model, [library])
    trt_profile = Profile()
    for name, (low, opt, high) in profile.items():
        trt_profile.add(name, min=low, opt=opt, max=high)
    typed = config.pop("strongly_typed", TARGET.has("strongly_typed"))
    network = LoadPlugins(plugins=[str(library)], obj=NetworkFromOnnxPath(str(path), strongly_typed=typed))
    if plugin_in == "float16" and not typed:

        def pin_plugins_to_fp16(network) -> None:
            for index in range(network.num_layers):
                layer = network.get_layer(index)
                if layer.type == TRT.LayerType.PLUGIN_V2:
                    layer.precision = TRT.float16
                    layer.set_output_type(0, TRT.float16)

        network = PostprocessNetwork(network, pin_plugins_to_fp16)
        config.update(fp16=True, precision_constraints="obey")
    profiles = [trt_profile] if profile else None  # a static network needs no profile
    cache = str(_TIMING_CACHE) if _TIMING_CACHE else None
    engine = EngineBytesFromNetwork(
        network,
        config=CreateConfig(profiles=profiles, load_timing_cache=cache, **config),
        save_timing_cache=cache,
    )()
    assert engine, "TensorRT returned no engine"
    return bytes(engine)


def _run_trt(engine: bytes, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    from polygraphy.backend.trt import EngineFromBytes, TrtRunner

    with TrtRunner(EngineFromBytes(engine)) as runner:
        return {name: np.array(value) for name, value in runner.infer(feeds).items()}


def _run_ort(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    import onnxruntime

    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    return dict(zip(names, session.run(None, feeds), strict=True))


def _example(example_module) -> onnx.ModelProto:
    return example_module.build_model(seed=0)


EXAMPLE_PROFILE = {
    "input": ((1, 3, 8, 8), (1, 3, 24, 20), (2, 3, 40, 40)),
    "factor": ((1, 1, 16, 16), (1, 1, 48, 40), (1, 1, 80, 80)),
}


def _example_feeds(
    rng: np.random.Generator, n: int, h: int, w: int, oh: int, ow: int
) -> dict[str, np.ndarray]:
    return {
        "input": rng.standard_normal((n, 3, h, w)).astype(np.float32),
        "factor": rng.standard_normal((1, 1, oh, ow)).astype(np.float32),
    }


def test_bundled_example_fp32(example_module, plugin_library: Path, tmp_path: Path):
    original = _example(example_module)
    prepared = _prepare(original)
    assert len(_plugin_nodes(prepared)) == 1
    engine = _build(prepared, tmp_path, plugin_library, EXAMPLE_PROFILE)
    rng = np.random.default_rng(7)
    for shape in ((1, 24, 20, 48, 40), (2, 9, 33, 70, 17), (1, 8, 8, 80, 80)):
        feeds = _example_feeds(rng, *shape)
        got = _run_trt(engine, feeds)["output"]
        want = _run_ort(original, feeds)["output"]
        assert got.shape == want.shape == (shape[0], 3, shape[3], shape[4])
        np.testing.assert_allclose(got, want, **FP32_TOLERANCE)


def test_bundled_example_with_the_plugin_in_fp16(example_module, plugin_library: Path, tmp_path: Path):
    original = _example(example_module)
    prepared = _plugin_in(_prepare(original), np.float16)
    engine = _build(prepared, tmp_path, plugin_library, EXAMPLE_PROFILE, plugin_in="float16")
    rng = np.random.default_rng(8)
    for shape in ((1, 24, 20, 48, 40), (2, 17, 13, 40, 52)):
        feeds = _example_feeds(rng, *shape)
        got = _run_trt(engine, feeds)["output"]
        want = _run_ort(original, feeds)["output"]
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, atol=2e-2, rtol=2e-2)
        assert float(np.mean(np.abs(got - want))) < 4e-3


@pytest.mark.skipif(
    TRT is not None and int(TRT.__version__.split(".")[0]) >= 11,
    reason="TensorRT 11 has no FP16 builder flag; the plugin's FP16 path is covered by the strongly typed cases",
)
def test_bundled_example_with_the_fp16_builder_flag(example_module, plugin_library: Path, tmp_path: Path):
    original = _example(example_module)
    engine = _build(
        _prepare(original), tmp_path, plugin_library, EXAMPLE_PROFILE, strongly_typed=False, fp16=True
    )
    feeds = _example_feeds(np.random.default_rng(9), 1, 24, 20, 48, 40)
    got = _run_trt(engine, feeds)["output"]
    want = _run_ort(original, feeds)["output"]
    # The convolutions may run in FP16 as well here: each adds its rounding to the plugin's.
    np.testing.assert_allclose(got, want, atol=5e-2, rtol=5e-2)
    assert float(np.mean(np.abs(got - want))) < 1e-2


# One model per output-size source and a spread of attributes, each against onnxruntime on the original.
SIZE_SOURCES = {
    "carrier": (
        lambda: shape_sized_model("carrier", coordinate_transformation_mode="half_pixel", cubic_coeff_a=-0.5),
        {
            "x": ((1, 2, 5, 5), (2, 3, 12, 9), (2, 3, 20, 20)),
            "like": ((1, 1, 3, 3), (1, 1, 30, 17), (1, 1, 40, 40)),
        },
        [{"x": (2, 3, 12, 9), "like": (1, 1, 30, 17)}, {"x": (1, 2, 19, 6), "like": (1, 1, 4, 33)}],
    ),
    "shape_input": (
        lambda: shape_sized_model("doubled", opset=19, coordinate_transformation_mode="half_pixel_symmetric"),
        {"x": ((1, 1, 4, 4), (1, 3, 10, 12), (2, 3, 16, 16))},
        [{"x": (1, 3, 10, 12)}, {"x": (2, 2, 5, 16)}],
    ),
    "scales": (
        # 2.5 and 0.75 keep floor(in * scale) identical in onnxruntime's float32 and ONNX's exact arithmetic.
        lambda: single_resize_model(
            ["n", 3, "h", "w"],
            scales=[1.0, 1.0, 2.5, 0.75],
            opset=19,
            coordinate_transformation_mode="asymmetric",
            exclude_outside=1,
        ),
        {"x": ((1, 3, 4, 4), (1, 3, 16, 16), (2, 3, 32, 32))},
        [{"x": (1, 3, 16, 16)}, {"x": (2, 3, 7, 31)}],
    ),
    "sizes_antialias": (
        lambda: single_resize_model(
            [1, 3, 40, 36],
            sizes=[1, 3, 13, 9],
            opset=19,
            coordinate_transformation_mode="pytorch_half_pixel",
            antialias=1,
        ),
        {},
        [{"x": (1, 3, 40, 36)}],
    ),
    "align_corners": (
        lambda: single_resize_model(
            ["n", 3, "h", "w"],
            scales=[1.0, 1.0, 2.0, 3.0],
            opset=13,
            coordinate_transformation_mode="align_corners",
        ),
        {"x": ((1, 3, 2, 2), (1, 3, 9, 9), (1, 3, 17, 17))},
        [{"x": (1, 3, 9, 9)}, {"x": (1, 3, 2, 17)}],
    ),
}


def _random_feeds(rng: np.random.Generator, shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    return {name: rng.standard_normal(shape).astype(np.float32) for name, shape in shapes.items()}


@pytest.mark.parametrize("source", sorted(SIZE_SOURCES))
def test_size_sources_and_attributes_fp32(source: str, plugin_library: Path, tmp_path: Path):
    if source == "shape_input":
        require_feature("plugin_shape_inputs")
    make, profile, runs = SIZE_SOURCES[source]
    original = make()
    prepared = _prepare(original)
    node = _plugin_nodes(prepared)[0]
    if source == "shape_input":
        assert any(a.name == "tensorrt_plugin_shape_input_indices" for a in node.attribute)
    engine = _build(prepared, tmp_path, plugin_library, profile)
    rng = np.random.default_rng(11)
    for shapes in runs:
        feeds = _random_feeds(rng, shapes)
        got = next(iter(_run_trt(engine, feeds).values()))
        want = next(iter(_run_ort(original, feeds).values()))
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, **FP32_TOLERANCE)


@pytest.mark.parametrize(("dtype", "rtol"), [("float16", 2e-3), ("bfloat16", 8e-3)])
def test_plugin_in_half_precision(dtype: str, rtol: float, plugin_library: Path, tmp_path: Path):
    if dtype == "bfloat16":
        require_feature("bf16")
        if float(GPU.compute_capability) < 8.0:
            pytest.skip(
                f"bfloat16 needs compute capability 8.0 or newer, this GPU has {GPU.compute_capability}"
            )
    make, profile, runs = SIZE_SOURCES["carrier"]
    original = make()
    low = np.float16 if dtype == "float16" else "bfloat16"
    engine = _build(_plugin_in(_prepare(original), low), tmp_path, plugin_library, profile, plugin_in=dtype)
    rng = np.random.default_rng(12)
    for shapes in runs:
        feeds = _random_feeds(rng, shapes)
        # Round the input to the plugin's type first, so that only the plugin's own rounding is measured.
        if dtype == "float16":
            feeds["x"] = feeds["x"].astype(np.float16).astype(np.float32)
        else:
            bits = feeds["x"].view(np.uint32)
            rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000).astype(np.uint32)
            feeds["x"] = rounded.view(np.float32)
        got = next(iter(_run_trt(engine, feeds).values()))
        want = next(iter(_run_ort(original, feeds).values()))
        np.testing.assert_allclose(got, want, atol=rtol, rtol=rtol)


# ---- plans in fresh processes


_RUN_PLAN = textwrap.dedent(
    """
    import ctypes, sys
    import numpy as np
    import tensorrt as trt
    how, library, plan, feeds_path, out_path = sys.argv[1:]
    if how == "static":
        ctypes.CDLL(library)
    elif how == "load_library":
        assert trt.get_plugin_registry().load_library(library) is not None, "load_library refused the library"
    elif how == "static_then_load_library":
        ctypes.CDLL(library)
        assert trt.get_plugin_registry().load_library(library) is not None, "load_library refused the library"
    registry = trt.get_plugin_registry()
    # get_creator from 10.0, get_plugin_creator before (pyPlugin.cpp at v10.0.1 and 8.5.3; 11 has no other)
    lookup = registry.get_creator if int(trt.__version__.split(".")[0]) >= 10 else registry.get_plugin_creator
    assert how == "none" or lookup("DynamicTRTResize", "1", "") is not None
    from polygraphy.backend.trt import EngineFromBytes, TrtRunner
    with open(plan, "rb") as f:
        engine = EngineFromBytes(f.read())
    feeds = dict(np.load(feeds_path))
    with TrtRunner(engine) as runner:
        outputs = runner.infer(feeds)
    np.savez(out_path, **{k: np.array(v) for k, v in outputs.items()})
    """
)


def _fresh_process(
    tmp_path: Path, how: str, library: Path, plan: Path, feeds: Path
) -> subprocess.CompletedProcess:
    script = tmp_path / "run_plan.py"
    script.write_text(_RUN_PLAN)
    out = tmp_path / f"out_{how}.npz"
    return subprocess.run(
        [sys.executable, str(script), how, str(library), str(plan), str(feeds), str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_plan_round_trip_through_a_fresh_process(example_module, plugin_library: Path, tmp_path: Path):
    original = _example(example_module)
    engine = _build(_prepare(original), tmp_path, plugin_library, EXAMPLE_PROFILE)
    plan = tmp_path / "example.plan"
    plan.write_bytes(engine)
    feeds = _example_feeds(np.random.default_rng(13), 2, 15, 22, 31, 64)
    feeds_path = tmp_path / "feeds.npz"
    np.savez(feeds_path, **feeds)
    here = _run_trt(engine, feeds)["output"]
    np.testing.assert_allclose(here, _run_ort(original, feeds)["output"], **FP32_TOLERANCE)

    hows = ["static"]
    if TARGET.has("plugin_load_library"):
        hows += ["load_library", "static_then_load_library"]
    for how in hows:
        result = _fresh_process(tmp_path, how, plugin_library, plan, feeds_path)
        assert result.returncode == 0, f"{how}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        there = np.load(tmp_path / f"out_{how}.npz")["output"]
        # The same engine on the same inputs: only kernel-selection nondeterminism could move the last bits.
        np.testing.assert_allclose(there, here, atol=1e-6, rtol=1e-6)

    # Without the library the plan cannot be deserialized: the library is what provides the creator.
    result = _fresh_process(tmp_path, "none", plugin_library, plan, feeds_path)
    assert result.returncode != 0
    log = result.stdout + result.stderr
    assert "DynamicTRTResize" in log or "IPluginCreator" in log, log[-3000:]


_CHECK_CREATORS = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import onnx
    from trtconvert.errors import BadInput
    from trtconvert.engine.plugins import check_creators
    model = onnx.load(sys.argv[1])
    libraries = [Path(p) for p in sys.argv[2:]]
    try:
        check_creators(model, libraries)
    except BadInput as refused:
        print("REFUSED", refused)
        sys.exit(2)
    print("OK")
    """
)


def test_the_loading_stage_refuses_missing_creators_and_accepts_the_library(
    example_module, plugin_library: Path, tmp_path: Path
):
    # In fresh processes: a creator registered by an earlier test of this process would hide the refusal.
    model_path = tmp_path / "prepared.onnx"
    onnx.save(_prepare(_example(example_module)), model_path)
    script = tmp_path / "check.py"
    script.write_text(_CHECK_CREATORS)

    refused = subprocess.run([sys.executable, str(script), str(model_path)], capture_output=True, text=True)
    assert refused.returncode == 2, refused.stderr
    assert "DynamicTRTResize (version '1', namespace ''" in refused.stdout
    assert "libraries tried: none" in refused.stdout

    accepted = subprocess.run(
        [sys.executable, str(script), str(model_path), str(plugin_library)], capture_output=True, text=True
    )
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert accepted.stdout.strip().endswith("OK")


def test_load_plugins_reports_what_the_library_registered(plugin_library: Path):
    from trtconvert.engine.plugins import load_plugins

    (loaded,) = load_plugins([plugin_library])
    # Earlier tests of this process may have loaded it already; either way its creator is registered.
    assert ("DynamicTRTResize", "1", "") in loaded.creators or loaded.how == "already loaded"
    registry = TRT.get_plugin_registry()
    lookup = registry.get_creator if int(TRT.__version__.split(".")[0]) >= 10 else registry.get_plugin_creator
    assert lookup("DynamicTRTResize", "1", "") is not None


def test_the_registry_members_picked_for_this_version_are_in_the_installed_bindings(plugin_library: Path):
    """What trtconvert.engine.plugins reads of the installed bindings, per version, as read in NVIDIA/TensorRT
    python/src/infer/pyPlugin.cpp at 8.5.3, v8.6.1, v10.0.1, v10.16, v11.0 and v11.1."""
    from trtconvert.engine import plugins

    plugins.load_plugins([plugin_library])
    registry = TRT.get_plugin_registry()
    version = plugins._version(TRT)
    if version >= (10, 0):
        assert hasattr(registry, "all_creators") and hasattr(registry, "get_creator")
        assert hasattr(registry, "plugin_creator_list") == (version < (11, 0))
    else:  # 8.5.3 and 8.6.1: the V2 members only
        assert hasattr(registry, "plugin_creator_list") and hasattr(registry, "get_plugin_creator")
        assert not hasattr(registry, "all_creators") and not hasattr(registry, "get_creator")
    assert hasattr(registry, "load_library") == plugins._has_load_library(version)
    listed = registry.all_creators if version >= (10, 0) else registry.plugin_creator_list
    assert listed is not None
    for creator in listed:  # every listed creator binds the three names the stage reads
        assert isinstance(creator.name, str) and isinstance(creator.plugin_version, str)
        assert isinstance(creator.plugin_namespace, str)
    assert ("DynamicTRTResize", "1", "") in plugins._registry_creators(registry, version)
    requirement = plugins.PluginRequirement("DynamicTRTResize", "1", "", ("Test",), ("r",))
    assert plugins._has_creator(registry, requirement, version)
