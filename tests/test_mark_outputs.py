"""The diagnostic engine of --auto-keep-fp32, at the argument level: which tensors of a parsed network are marked
as outputs (on stand-ins for TensorRT's network, named the way its ONNX parser names them), and what the loader
chain hands polygraphy for it. The real marking on TensorRT: test_precision_tensorrt.py."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import onnx
from model_factories import overflow_model

from trtconvert.engine.chain import engine_loader_chain
from trtconvert.engine.layer_precision import KeepLayersFp32
from trtconvert.engine.mark_outputs import MarkTensorsAsOutputs
from trtconvert.settings.request import resolve
from trtconvert.settings.spec import Spec

TRT = SimpleNamespace(
    float32="f32",
    float16="f16",
    int32="i32",
    LayerType=SimpleNamespace(
        CONSTANT="const", SHAPE="shape", ITERATOR="iterator", LOOP_OUTPUT="loop_output"
    ),
)


class _Tensor:
    def __init__(self, name: str, dtype: str, shape_tensor: bool = False, output: bool = False) -> None:
        self.name, self.dtype, self.is_shape_tensor, self.is_network_output = (
            name,
            dtype,
            shape_tensor,
            output,
        )


class _Layer:
    def __init__(self, name: str, kind: str, outputs: list[_Tensor], types_set: tuple[int, ...] = ()) -> None:
        self.name, self.type, self._outputs, self._types_set = name, kind, outputs, types_set
        self.num_outputs = len(outputs)

    def get_output(self, index: int) -> _Tensor:
        return self._outputs[index]

    def output_type_is_set(self, index: int) -> bool:
        return index in self._types_set


class _Network:
    def __init__(self, layers: list[_Layer]) -> None:
        self.layers, self.num_layers, self.outputs = layers, len(layers), []

    def get_layer(self, index: int) -> _Layer:
        return self.layers[index]

    def mark_output(self, tensor: _Tensor) -> None:
        tensor.is_network_output = True
        self.outputs.append(tensor.name)


def _network() -> tuple[_Network, dict[str, _Tensor]]:
    tensors = {
        "shifted": _Tensor("shifted", "f32"),
        "large": _Tensor("large", "f32"),
        "kept": _Tensor("kept", "f32"),
        "indices": _Tensor("indices", "i32"),
        "size": _Tensor("size", "f32", shape_tensor=True),
        "step": _Tensor("step", "f32"),
        "y": _Tensor("y", "f32", output=True),
    }
    layers = [
        _Layer("shift", "elementwise", [tensors["shifted"]]),
        _Layer("big_matmul", "matmul", [tensors["large"]]),
        _Layer("kept_node", "elementwise", [tensors["kept"]], types_set=(0,)),  # a --keep-fp32 layer
        _Layer("topk", "topk", [_Tensor("values", "f32"), tensors["indices"]]),
        _Layer("size_of", "elementwise", [tensors["size"]]),
        _Layer("loop", "loop_output", [tensors["step"]]),
        _Layer("relu", "activation", [tensors["y"]]),
    ]
    return _Network(layers), tensors


def test_float_tensors_are_marked_as_fp16_outputs_and_the_rest_say_why_not() -> None:
    network, tensors = _network()
    wanted = ("shifted", "large", "kept", "indices", "size", "step", "y", "fused_away")
    mark = MarkTensorsAsOutputs(wanted, "fp16")
    mark.apply(TRT, network)
    assert network.outputs == ["shifted", "large", "kept"]  # y is already an output: read as it is
    assert mark.marked == ["shifted", "large", "kept", "y"]
    assert tensors["shifted"].dtype == "f16" and tensors["large"].dtype == "f16"
    assert tensors["kept"].dtype == "f32"  # its layer's output type is set: left as the builder must keep it
    assert tensors["y"].dtype == "f32"  # the model's own output keeps its type
    assert set(mark.unmarked) == {"indices", "size", "step", "fused_away"}
    assert "not a float tensor" in mark.unmarked["indices"]
    assert mark.unmarked["size"] == "a shape tensor"
    assert "loop or conditional" in mark.unmarked["step"]
    assert "not in TensorRT's network" in mark.unmarked["fused_away"]


def test_a_strongly_typed_network_keeps_its_types() -> None:
    network, tensors = _network()
    mark = MarkTensorsAsOutputs(("shifted",), None)
    mark.apply(TRT, network)
    assert network.outputs == ["shifted"] and tensors["shifted"].dtype == "f32"


def test_the_chain_marks_after_keeping_fp32_and_shares_the_timing_cache(tmp_path: Path, monkeypatch) -> None:
    import polygraphy.backend.trt as polygraphy_trt

    made, results = [], []
    real = polygraphy_trt.PostprocessNetwork

    def record(*args, **kwargs):
        made.append((args, kwargs))
        results.append(real(*args, **kwargs))
        return results[-1]

    monkeypatch.setattr(polygraphy_trt, "PostprocessNetwork", record)
    onnx_path, cache = tmp_path / "m.onnx", tmp_path / "timing.cache"
    onnx.save(overflow_model(), onnx_path)
    spec = Spec(
        model=onnx_path, output=tmp_path / "m.plan", precision="fp16", keep_fp32=["relu"], timing_cache=cache
    )
    keep = KeepLayersFp32.from_model(overflow_model(), ["relu"])
    mark = MarkTensorsAsOutputs(("shifted", "large", "scaled"), "fp16")
    chain = engine_loader_chain(resolve(spec, "8.5.3"), onnx_path, keep_fp32=keep, mark_outputs=mark)
    # parse: the network, then --keep-fp32's layer precisions, then the marking (which sees the kept layers).
    kept, marked = made
    assert kept == ((chain.network, keep), {"name": "keep fp32"})
    assert marked == ((results[0], mark), {"name": "mark outputs"})
    assert chain.parse.loader is results[1]
    # The diagnostic build reads and merges the same timing cache as every other build of the search.
    assert chain.config.timing_cache_path == str(cache) and chain.engine.timing_cache_path == str(cache)
    assert chain.config.fp16 is True and chain.config.precision_constraints == "obey"


def test_a_diagnostic_build_that_fails_is_reported_not_raised(monkeypatch) -> None:
    """The search goes on by magnitude when the diagnostic engine cannot be built (a stand-in build here)."""
    from trtconvert.engine import layer_errors
    from trtconvert.errors import BuildFailed

    def fail(spec, tensors, show_progress=True):
        raise BuildFailed("TensorRT could not build the engine: out of memory\nmore")

    monkeypatch.setattr(layer_errors, "build_with_marked_outputs", fail)
    measured = layer_errors.measure_layer_errors(Spec(model=Path("m.onnx")), ["a"])
    assert (
        measured.failed == "the diagnostic build failed: TensorRT could not build the engine: out of memory"
    )
    assert measured.errors == {} and measured.to_json()["failed"] == measured.failed


class _StandInEngine:
    """What _compare asks of a deserialized engine: its I/O tensors and profiles."""

    num_optimization_profiles = 1

    def __init__(self, inputs: list[str], outputs: list[str]) -> None:
        self._names, self._inputs = inputs + outputs, set(inputs)

    @property
    def num_io_tensors(self) -> int:
        return len(self._names)

    def get_tensor_name(self, index: int) -> str:
        return self._names[index]

    def get_tensor_mode(self, name: str) -> str:
        return "input" if name in self._inputs else "output"


def test_the_diagnostic_compares_every_marked_tensor_on_the_engine_checks_inputs(
    tmp_path: Path, monkeypatch
) -> None:
    """The wiring of engine.layer_errors without TensorRT: the diagnostic engine is a stand-in that runs the
    model in onnxruntime and rounds each marked tensor to fp16, as an fp16 engine's outputs would be; what is
    checked is which inputs it is fed (the engine check's: every profile's min, opt and max, seed + index) and
    which tensors are compared."""
    import numpy as np
    import polygraphy.backend.trt as polygraphy_trt

    from trtconvert.checks.ranges import intermediate_values, with_intermediate_outputs
    from trtconvert.engine import layer_errors
    from trtconvert.engine.build import DiagnosticEngine
    from trtconvert.model.profiles import parse_profile
    from trtconvert.prepare.pipeline import preflight

    source = tmp_path / "m.onnx"
    model = overflow_model()
    for value in (model.graph.input[0], model.graph.output[0]):
        value.type.tensor_type.shape.dim[0].dim_param = "batch"  # dynamic, for min/opt/max shape sets
    onnx.save(model, source)
    spec = Spec(
        model=source,
        output=tmp_path / "m.plan",
        precision="fp16",
        profiles=[parse_profile("x=1x16:2x16:3x16")],
        seed=7,
    )
    request = resolve(spec, "8.5.3")
    mark = MarkTensorsAsOutputs(("shifted", "large", "scaled", "y"), "fp16")
    mark.marked.extend(["shifted", "large", "y"])  # as if TensorRT could not mark 'scaled'
    mark.unmarked["scaled"] = "not in TensorRT's network"
    built = DiagnosticEngine(b"plan", request, preflight(request), mark)
    monkeypatch.setattr(layer_errors, "build_with_marked_outputs", lambda *args, **kwargs: built)
    monkeypatch.setattr(
        layer_errors,
        "import_tensorrt",
        lambda: (SimpleNamespace(TensorIOMode=SimpleNamespace(INPUT="input")), ""),
    )
    engine = _StandInEngine(["x"], mark.marked)
    monkeypatch.setattr(polygraphy_trt, "EngineFromBytes", lambda plan: lambda: engine)
    with_outputs, _ = with_intermediate_outputs(model)
    fed: list[dict] = []

    class Runner:
        def __init__(self, given) -> None:
            assert given is engine

        def __enter__(self):
            return self

        def __exit__(self, *exc) -> None:
            return None

        def infer(self, feed):
            fed.append(feed)
            [values] = intermediate_values(with_outputs, mark.marked, [feed])
            with np.errstate(over="ignore"):
                return {name: value.astype(np.float16) for name, value in values.items()}

    monkeypatch.setattr(polygraphy_trt, "TrtRunner", Runner)
    measured = layer_errors.measure_layer_errors(spec, mark.tensors)
    assert not measured.failed, measured.failed
    assert [f["x"].shape for f in fed] == [(1, 16), (2, 16), (3, 16)]
    np.testing.assert_array_equal(
        fed[0]["x"], np.random.default_rng(7).uniform(-1, 1, (1, 16)).astype(np.float32)
    )
    assert set(measured.errors) == {"shifted", "large", "y"}  # 'scaled' was not an output of the engine
    assert measured.errors["large"] == float("inf") and 0 < measured.errors["shifted"] < 2**-10
    assert measured.to_json() == {"marked": 3, "unmarked": 1, "compared": 3, "mismatched": 0}
