"""`bench PLAN`: how fast an engine runs, at each optimization profile's opt shape or at given shapes.

Each shape set is run ``warmup`` times untimed, then ``iterations`` times, each between two CUDA events on one
stream and synchronized, which gives the GPU time of one inference (trtexec's "GPU Compute Time"): median, p90,
p99, mean, min and max. Throughput is measured apart, from ``iterations`` inferences enqueued back to back
between two events. Inputs are seeded random values of each input's type (``--input`` gives others), copied to
the GPU once; nothing is copied back while timing.

With ``cuda_graph`` the inference is captured once in a CUDA graph (after the warm-up, as trtexec does by
default) and each timed run launches the graph: what is left is the GPU's work without the host's enqueue.
With ``layers`` a separate pass after the timing runs the engine with TensorRT's IProfiler attached and reports
each layer's mean time, sorted, with its share of the total; the layers TensorRT's engine inspector calls
plugins are marked (the profiler's events between layers slow the run, so these times are not the timed ones).
With ``compare`` a second plan runs on the same inputs at the same shapes, shape set by shape set after the
first, so that two builds of one model (plugin against TensorRT's own cubic Resize, fp16 against fp32) are
timed side by side; plans whose inputs differ in name, type or rank, or whose profiles cannot hold the
shapes, are refused.

Works on TensorRT 8.5 and newer (the name-based execution API: set_input_shape, set_tensor_address,
execute_async_v3). Engines whose inputs are shape tensors are refused: their values decide the shapes, and
bench has no way to be told them yet.
"""

from __future__ import annotations

import ctypes
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trtconvert import log
from trtconvert.checks.compare import given_values, random_feed
from trtconvert.engine.layers import REBUILD_HINT, layer_report
from trtconvert.engine.machine import import_tensorrt, require_gpu
from trtconvert.engine.tensorrt_log import tensorrt_messages
from trtconvert.errors import INSTALL_TENSORRT, BadInput, MissingDependency
from trtconvert.model.info import GraphTensor
from trtconvert.model.load import require_regular_file
from trtconvert.model.profiles import Shape, format_shape, parse_shape
from trtconvert.paths import same_file
from trtconvert.settings.request import check_plugin_paths


@dataclass(frozen=True)
class BenchShapes:
    """One shape set to time: the profile it runs under, where the shapes came from, and the shapes."""

    profile: int
    source: str  # "opt" or "given"
    shapes: dict[str, Shape]

    def label(self) -> str:
        return ",".join(f"{name}={format_shape(shape) or 'scalar'}" for name, shape in self.shapes.items())


def parse_shapes_flag(text: str) -> dict[str, Shape]:
    """``--shapes 'input=1x3x64x64,factor=1x1x128x128'``; names split at the last '='."""
    shapes: dict[str, Shape] = {}
    for item in text.split(","):
        name, sep, shape = item.strip().rpartition("=")
        if not sep or not name:
            raise BadInput(f"--shapes {text!r}: write NAME=SHAPE[,NAME=SHAPE...], e.g. input=1x3x224x224")
        if name in shapes:
            raise BadInput(f"--shapes {text!r}: '{name}' is given twice")
        shapes[name] = parse_shape(shape, f"--shapes {name}")
    return shapes


def _contains(low: Sequence[int], shape: Shape, high: Sequence[int]) -> bool:
    return len(shape) == len(low) and all(lo <= d <= hi for lo, d, hi in zip(low, shape, high, strict=True))


def bench_shape_sets(
    profiles: Sequence[Mapping[str, Mapping[str, Sequence[int]]]],
    static: Mapping[str, Shape],
    given: Mapping[str, Shape] | None = None,
) -> list[BenchShapes]:
    """The opt shapes of every profile, or the given shapes under the first profile whose ranges hold them.

    ``profiles`` are the engine's ({input: {min, opt, max}} each), ``static`` the inputs of fixed shape.
    """
    if not given:
        sets = [
            BenchShapes(index, "opt", {**static, **{name: tuple(r["opt"]) for name, r in profile.items()}})
            for index, profile in enumerate(profiles)
        ]
        return sets or [BenchShapes(0, "opt", dict(static))]
    dynamic = sorted({name for profile in profiles for name in profile})
    unknown = [name for name in given if name not in dynamic and name not in static]
    if unknown:
        raise BadInput(
            f"--shapes names {', '.join(unknown)}, which the engine has no input of "
            f"(inputs: {', '.join([*dynamic, *static])})"
        )
    missing = [name for name in dynamic if name not in given]
    if missing:
        raise BadInput(f"--shapes must give every dynamic input; add {', '.join(missing)}")
    for index, profile in enumerate(profiles):
        if all(_contains(r["min"], given[name], r["max"]) for name, r in profile.items()):
            return [BenchShapes(index, "given", {**static, **{name: tuple(given[name]) for name in profile}})]
    ranges = "; ".join(
        f"profile {index}: "
        + ", ".join(
            f"{name} {format_shape(tuple(r['min']))}..{format_shape(tuple(r['max']))}"
            for name, r in profile.items()
        )
        for index, profile in enumerate(profiles)
    )
    raise BadInput(f"--shapes lie outside every optimization profile of the engine ({ranges})")


def latency_stats(samples_ms: Sequence[float]) -> dict[str, float]:
    """Median, p90, p99 (nearest rank), mean, min and max of per-inference times in milliseconds."""
    if not samples_ms:
        raise ValueError("no samples")
    ordered = sorted(samples_ms)

    def rank(percent: float) -> float:
        return ordered[max(0, math.ceil(percent / 100 * len(ordered)) - 1)]

    middle = len(ordered) // 2
    median = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    return {
        "median_ms": median,
        "p90_ms": rank(90),
        "p99_ms": rank(99),
        "mean_ms": sum(ordered) / len(ordered),
        "min_ms": ordered[0],
        "max_ms": ordered[-1],
    }


class _Events:
    """CUDA events through the CUDA runtime polygraphy uses (so TensorRT, polygraphy and this share one)."""

    def __init__(self) -> None:
        from polygraphy import cuda

        self._cuda = cuda.wrapper()
        self._lib = self._cuda.handle

    def create(self) -> ctypes.c_void_p:
        event = ctypes.c_void_p()
        self._cuda.check(self._lib.cudaEventCreate(ctypes.byref(event)))
        return event

    def record(self, event: ctypes.c_void_p, stream: Any) -> None:
        self._cuda.check(self._lib.cudaEventRecord(event, ctypes.c_void_p(stream)))

    def elapsed_ms(self, start: ctypes.c_void_p, end: ctypes.c_void_p) -> float:
        self._cuda.check(self._lib.cudaEventSynchronize(end))
        milliseconds = ctypes.c_float()
        self._cuda.check(self._lib.cudaEventElapsedTime(ctypes.byref(milliseconds), start, end))
        return float(milliseconds.value)

    def destroy(self, event: ctypes.c_void_p) -> None:
        self._lib.cudaEventDestroy(event)


def numpy_type(trt: Any, tensor_type: Any, what: str) -> np.dtype:
    """numpy's type of a TensorRT tensor type. ``trt.nptype`` raises TypeError for the types numpy has none of
    (bfloat16, fp8, int4, fp4: the bindings' __init__.py at v10.0.1 to v11.1), which bench cannot give values."""
    try:
        return np.dtype(trt.nptype(tensor_type))
    except TypeError:
        name = getattr(tensor_type, "name", str(tensor_type))
        raise BadInput(
            f"{what} is of TensorRT type {name}, which numpy has no type for, so bench cannot give it values; "
            "time the engine with trtexec"
        ) from None


def _output_buffer(cuda: Any, trt: Any, tensor_type: Any, shape: tuple[int, ...]) -> Any:
    """Device memory for an output: of its numpy type, or raw bytes for a type numpy lacks (nothing is read
    back while timing)."""
    try:
        return cuda.DeviceArray(shape=shape, dtype=np.dtype(trt.nptype(tensor_type)))
    except TypeError:
        size = math.ceil(math.prod(shape) * float(tensor_type.itemsize))
        return cuda.DeviceArray(shape=(size,), dtype=np.uint8)


def _engine_io(engine: Any, trt: Any) -> tuple[list[GraphTensor], list[str]]:
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    inputs, outputs = [], []
    for name in names:
        if engine.get_tensor_mode(name) != trt.TensorIOMode.INPUT:
            outputs.append(name)
            continue
        if engine.is_shape_inference_io(name):
            raise BadInput(
                f"input '{name}' of the engine is a shape tensor; bench cannot choose its values (time it with "
                "trtexec --shapes), or rebuild with the shape as a regular input"
            )
        dtype = numpy_type(trt, engine.get_tensor_dtype(name), f"input '{name}' of the engine").name
        inputs.append(GraphTensor(name, dtype, tuple(engine.get_tensor_shape(name))))
    return inputs, outputs


def _engine_profiles(engine: Any, inputs: Sequence[GraphTensor]) -> list[dict[str, dict[str, list[int]]]]:
    dynamic = [i.name for i in inputs if any(d == -1 for d in i.dims)]
    return [
        {
            name: dict(
                zip(
                    ("min", "opt", "max"),
                    map(list, engine.get_tensor_profile_shape(name, index)),
                    strict=True,
                )
            )
            for name in dynamic
        }
        for index in range(engine.num_optimization_profiles if dynamic else 0)
    ]


class _CudaGraph:
    """One enqueue captured in a CUDA graph on a stream, launched as a whole (the CUDA runtime polygraphy uses)."""

    _CAPTURE_THREAD_LOCAL = 1  # cudaStreamCaptureModeThreadLocal, as trtexec captures

    def __init__(self, stream: Any, enqueue: Callable[[], bool]) -> None:
        from polygraphy import cuda

        self._lib = cuda.wrapper().handle
        self._stream = ctypes.c_void_p(stream)
        self._graph = ctypes.c_void_p()
        self._exec = ctypes.c_void_p()
        status = self._lib.cudaStreamBeginCapture(self._stream, ctypes.c_int(self._CAPTURE_THREAD_LOCAL))
        if status != 0:
            raise _not_capturable(f"cudaStreamBeginCapture error {status}")
        enqueued = False
        try:
            enqueued = enqueue()
        finally:
            # Always leave capture mode, or the stream stays unusable; the graph holds what was enqueued.
            ended = self._lib.cudaStreamEndCapture(self._stream, ctypes.byref(self._graph))
        if not enqueued:
            self.destroy()
            raise _not_capturable("TensorRT's enqueue failed while being captured")
        if ended != 0:
            self.destroy()
            raise _not_capturable(f"cudaStreamEndCapture error {ended}")
        status = self._lib.cudaGraphInstantiateWithFlags(
            ctypes.byref(self._exec), self._graph, ctypes.c_ulonglong(0)
        )
        if status != 0:
            self.destroy()
            raise _not_capturable(f"cudaGraphInstantiateWithFlags error {status}")

    def launch(self) -> bool:
        return self._lib.cudaGraphLaunch(self._exec, self._stream) == 0

    def destroy(self) -> None:
        if self._exec.value:
            self._lib.cudaGraphExecDestroy(self._exec)
            self._exec = ctypes.c_void_p()
        if self._graph.value:
            self._lib.cudaGraphDestroy(self._graph)
            self._graph = ctypes.c_void_p()


def _not_capturable(why: str) -> BadInput:
    return BadInput(
        f"the engine's inference cannot be captured in a CUDA graph ({why}); time it without --cuda-graph"
    )


def _layer_profiler(trt: Any) -> Any:
    """A TensorRT IProfiler that adds up each layer's reported time over the runs it sees."""

    class LayerTimes(trt.IProfiler):
        def __init__(self) -> None:
            trt.IProfiler.__init__(self)
            self.total_ms: dict[str, float] = {}
            self.reports: dict[str, int] = {}

        def report_layer_time(self, layer_name: str, ms: float) -> None:
            self.total_ms[layer_name] = self.total_ms.get(layer_name, 0.0) + float(ms)
            self.reports[layer_name] = self.reports.get(layer_name, 0) + 1

    return LayerTimes()


def layer_table(
    total_ms: Mapping[str, float], runs: int, layer_types: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Per-layer times summed over ``runs`` into each layer's mean per inference, slowest first, with its share of
    the sum of all layers; ``layer_types`` (from the engine inspector, absent for plans that recorded names only)
    gives each layer's type, and plugin layers are marked."""
    if runs < 1:
        raise ValueError("runs must be at least 1")
    everything = sum(total_ms.values())
    rows = []
    for order, (name, summed) in enumerate(total_ms.items()):
        layer_type = (layer_types or {}).get(name)
        rows.append(
            {
                "name": name,
                "type": layer_type,
                "plugin": bool(layer_type) and "plugin" in layer_type.lower(),
                "mean_ms": summed / runs,
                "share": summed / everything if everything > 0 else 0.0,
                "_order": order,
            }
        )
    rows.sort(key=lambda row: (-row["mean_ms"], row["_order"]))
    for row in rows:
        del row["_order"]
        row["mean_ms"] = round(row["mean_ms"], 6)
        row["share"] = round(row["share"], 6)
    return {
        "runs": runs,
        "total_ms": round(everything / runs, 6),
        "types_known": layer_types is not None,
        "layers": rows,
    }


def _inspector_layer_types(engine: Any, trt: Any) -> dict[str, str] | None:
    inspector = engine.create_engine_inspector()
    report = layer_report(inspector.get_engine_information(trt.LayerInformationFormat.JSON))
    if not report.detailed:
        return None
    return {layer.name: layer.layer_type for layer in report.layers}


@dataclass(frozen=True)
class BenchOptions:
    """How each shape set is timed."""

    iterations: int = 200
    warmup: int = 20
    cuda_graph: bool = False
    layers: bool = False


def _time_shape_set(
    plan: _LoadedPlan, trt: Any, shape_set: BenchShapes, feed: Mapping[str, np.ndarray], options: BenchOptions
) -> dict[str, Any]:
    from polygraphy import cuda

    events = _Events()
    layers = None
    engine = plan.engine
    with cuda.Stream() as stream, engine.create_execution_context() as context:
        if engine.num_optimization_profiles > 1:
            context.set_optimization_profile_async(shape_set.profile, stream.ptr)
        buffers: list[Any] = []
        graph: _CudaGraph | None = None
        try:
            _bind_buffers(context, plan, trt, feed, stream, buffers)
            stream.synchronize()

            def enqueue() -> None:
                if not context.execute_async_v3(stream.ptr):
                    raise BadInput(f"TensorRT could not run the engine at {shape_set.label()}; rerun with -v")

            for _ in range(options.warmup):
                enqueue()
            stream.synchronize()
            run = enqueue
            if options.cuda_graph:
                # TensorRT sets up a new shape on its first enqueue, which a capture must not contain.
                enqueue()
                stream.synchronize()
                graph = _CudaGraph(stream.ptr, lambda: bool(context.execute_async_v3(stream.ptr)))
                run = _graph_launch(graph, shape_set)
                run()
                stream.synchronize()
            samples, back_to_back = _timed_runs(events, run, stream, options.iterations)
            if options.layers:
                layers = _profile_layers(context, trt, enqueue, stream, options.iterations, plan.layer_types)
        finally:
            if graph is not None:
                graph.destroy()
            for device in buffers:
                device.free()
    return _shape_set_result(shape_set, options, samples, back_to_back, layers)


def _bind_buffers(
    context: Any, plan: _LoadedPlan, trt: Any, feed: Mapping[str, np.ndarray], stream: Any, buffers: list[Any]
) -> None:
    """Device memory for each input (``feed`` copied in) and output, bound to the context; each buffer joins
    ``buffers`` as soon as it exists, so that the caller frees them all however this ends."""
    from polygraphy import cuda

    for name, value in feed.items():
        if not context.set_input_shape(name, value.shape):
            raise BadInput(f"TensorRT refused shape {format_shape(value.shape)} for input '{name}'")
        device = cuda.DeviceArray(shape=value.shape, dtype=value.dtype)
        buffers.append(device)
        device.copy_from(np.ascontiguousarray(value), stream)
        context.set_tensor_address(name, device.ptr)
    for name in plan.outputs:
        shape = tuple(context.get_tensor_shape(name))
        device = _output_buffer(cuda, trt, plan.engine.get_tensor_dtype(name), shape)
        buffers.append(device)
        context.set_tensor_address(name, device.ptr)


def _graph_launch(graph: _CudaGraph, shape_set: BenchShapes) -> Callable[[], None]:
    def launch() -> None:
        if not graph.launch():
            raise BadInput(f"the CUDA graph of the engine at {shape_set.label()} failed to launch")

    return launch


def _timed_runs(
    events: _Events, run: Callable[[], None], stream: Any, iterations: int
) -> tuple[list[float], float]:
    """Each run's GPU time between two events, then the time of ``iterations`` runs back to back (ms)."""
    start, end = events.create(), events.create()
    try:
        samples = []
        for _ in range(iterations):
            events.record(start, stream.ptr)
            run()
            events.record(end, stream.ptr)
            samples.append(events.elapsed_ms(start, end))
        events.record(start, stream.ptr)
        for _ in range(iterations):
            run()
        events.record(end, stream.ptr)
        return samples, events.elapsed_ms(start, end)
    finally:
        events.destroy(start)
        events.destroy(end)


def _shape_set_result(
    shape_set: BenchShapes,
    options: BenchOptions,
    samples: Sequence[float],
    back_to_back: float,
    layers: dict[str, Any] | None,
) -> dict[str, Any]:
    stats = latency_stats(samples)
    result = {
        "profile": shape_set.profile,
        "shapes_from": shape_set.source,
        "shapes": {name: list(shape) for name, shape in shape_set.shapes.items()},
        "iterations": options.iterations,
        "warmup": options.warmup,
        "cuda_graph": options.cuda_graph,
        **{key: round(value, 5) for key, value in stats.items()},
        "throughput_qps": round(options.iterations / (back_to_back / 1000.0), 2)
        if back_to_back > 0
        else None,
    }
    if layers is not None:
        result["layers"] = layers
    return result


def _profile_layers(
    context: Any,
    trt: Any,
    enqueue: Callable[[], None],
    stream: Any,
    runs: int,
    layer_types: Mapping[str, str] | None,
) -> dict[str, Any]:
    profiler = _layer_profiler(trt)
    context.profiler = profiler  # the context is destroyed after this pass, so it is never unset
    for _ in range(runs):
        enqueue()
        stream.synchronize()  # TensorRT reports a run's layer times once its work is done
    if not profiler.total_ms:
        raise BadInput("TensorRT reported no layer times for this engine; time it without --layers")
    # TensorRT reports each layer once per run; counting its reports keeps the mean right if it ever does not.
    counted = max(profiler.reports.values())
    return layer_table(profiler.total_ms, counted, layer_types)


@dataclass
class _LoadedPlan:
    path: Path
    engine: Any
    inputs: list[GraphTensor]
    outputs: list[str]
    static: dict[str, Shape]
    profiles: list[dict[str, dict[str, list[int]]]]
    layer_types: dict[str, str] | None = None


def _load_plan(plan: Path, plugin_paths: Sequence[Path], trt: Any, layers: bool) -> _LoadedPlan:
    from trtconvert.engine.plan_files import load_engine

    engine = load_engine(plan, plugin_paths, trt)
    inputs, outputs = _engine_io(engine, trt)
    static = {i.name: tuple(int(d) for d in i.dims) for i in inputs if all(d != -1 for d in i.dims)}
    loaded = _LoadedPlan(plan, engine, inputs, outputs, static, _engine_profiles(engine, inputs))
    if layers:
        with tensorrt_messages():
            loaded.layer_types = _inspector_layer_types(engine, trt)
    return loaded


def check_comparable(
    first: Sequence[GraphTensor], second: Sequence[GraphTensor], first_name: str, second_name: str
) -> None:
    """Two plans can be timed on the same inputs only if they take inputs of the same names, types and ranks."""
    ours = {i.name: i for i in first}
    theirs = {i.name: i for i in second}
    if set(ours) != set(theirs):
        only_first = sorted(set(ours) - set(theirs))
        only_second = sorted(set(theirs) - set(ours))
        parts = [f"only {first_name} has {', '.join(only_first)}" if only_first else "",
                 f"only {second_name} has {', '.join(only_second)}" if only_second else ""]  # fmt: skip
        raise BadInput(
            f"--compare needs plans with the same inputs, and {'; '.join(p for p in parts if p)}; compare builds "
            "of one model"
        )
    for name, mine in ours.items():
        other = theirs[name]
        if mine.dtype != other.dtype or len(mine.dims) != len(other.dims):
            raise BadInput(
                f"--compare needs plans with the same inputs, and input '{name}' is {mine.dtype} of rank "
                f"{len(mine.dims)} in {first_name} but {other.dtype} of rank {len(other.dims)} in {second_name}; "
                "compare builds of one model"
            )


def profile_holding(
    profiles: Sequence[Mapping[str, Mapping[str, Sequence[int]]]],
    static: Mapping[str, Shape],
    shapes: Mapping[str, Shape],
    plan_name: str,
) -> int:
    """The first optimization profile of a plan that holds ``shapes`` (its static inputs must equal them)."""
    for name, shape in static.items():
        if tuple(shapes.get(name, shape)) != tuple(shape):
            raise BadInput(
                f"--compare: {plan_name} fixes input '{name}' to {format_shape(tuple(shape))}, and the shapes to "
                f"time give {format_shape(tuple(shapes[name]))}; give --shapes that both plans accept"
            )
    for index, profile in enumerate(profiles):
        if all(_contains(r["min"], tuple(shapes[name]), r["max"]) for name, r in profile.items()):
            return index
    if not profiles:
        return 0
    label = ",".join(f"{name}={format_shape(tuple(shape))}" for name, shape in shapes.items())
    raise BadInput(
        f"--compare: no optimization profile of {plan_name} holds {label}; give --shapes that both plans accept"
    )


@dataclass(frozen=True)
class _SidecarView:
    """What a plan's sidecar says of its inputs, in the engine's terms (frozen inputs are constants of the
    engine; an input every profile fixes to one shape is static in it)."""

    inputs: list[GraphTensor]
    profiles: list[dict[str, dict[str, list[int]]]]
    static: dict[str, Shape]


def _sidecar_view(plan: Path) -> _SidecarView | None:
    """The plan's sidecar as bench sees an engine, or None where there is no usable sidecar (the engine itself is
    then the only source, once TensorRT has loaded it)."""
    from trtconvert.engine.plan_files import SidecarError, read_sidecar

    try:
        sidecar = read_sidecar(plan)
        frozen = set(sidecar.get("frozen") or {})
        inputs = [
            GraphTensor(e["name"], e["dtype"], tuple(e["dims"]))
            for e in sidecar["inputs"]
            if e["name"] not in frozen and e.get("dims") is not None
        ]
        profiles = [
            {name: r for name, r in profile.items() if name not in frozen}
            for profile in sidecar.get("profiles", [])
        ]
    except (SidecarError, KeyError, TypeError, AttributeError):
        return None
    static: dict[str, Shape] = {i.name: tuple(i.dims) for i in inputs if i.is_static}  # type: ignore[misc]
    for tensor in inputs:
        ranges = [profile.get(tensor.name) for profile in profiles]
        shapes = {tuple(r["min"]) for r in ranges if r} | {tuple(r["max"]) for r in ranges if r}
        if ranges and all(ranges) and len(shapes) == 1:
            static[tensor.name] = shapes.pop()
    profiles = [{name: r for name, r in profile.items() if name not in static} for profile in profiles]
    return _SidecarView(inputs, profiles, static)


def _check_from_sidecars(plan: Path, compare: Path | None, given_shapes: Mapping[str, Shape] | None) -> None:
    """The shape and --compare checks, before TensorRT, for plans whose sidecars describe them: bad input is
    then refused as such (exit 2) on any machine. The same checks run again on the loaded engines."""
    first = _sidecar_view(plan)
    if first is None:
        return
    sets = bench_shape_sets(first.profiles, first.static, given_shapes)
    second = _sidecar_view(compare) if compare is not None else None
    if second is not None:
        check_comparable(first.inputs, second.inputs, str(plan), str(compare))
        for shape_set in sets:
            profile_holding(second.profiles, second.static, shape_set.shapes, str(compare))


@dataclass(frozen=True)
class BenchRequest:
    """What bench is asked to time: the plan (and a second plan to time beside it), the --shapes text, the values
    of inputs where random ones are meaningless, and how each shape set is timed."""

    plan: Path
    plugins: Sequence[Path] = ()
    shapes: str | None = None
    options: BenchOptions = field(default_factory=BenchOptions)
    input_values: Mapping[str, str] | None = None
    seed: int = 0
    compare: Path | None = None


@dataclass(frozen=True)
class _Timed:
    """A loaded plan and the shape sets it is timed at (a compared plan may hold them in other profiles)."""

    plan: _LoadedPlan
    sets: list[BenchShapes]


def _check_request(request: BenchRequest) -> tuple[dict[str, Shape] | None, list[Path]]:
    """Everything bench can refuse before TensorRT: the files, the counts, --shapes (parsed) and, where the
    sidecars describe the plans, the shapes and --compare against them; the plugin libraries' paths."""
    plan, compare = request.plan, request.compare
    require_regular_file(plan, "plan file")
    if compare is not None:
        require_regular_file(compare, "--compare plan file")
        if same_file(compare, plan, "--compare"):
            raise BadInput(f"--compare {compare} is the plan being timed; give a second plan to compare with")
    if request.options.iterations < 1 or request.options.warmup < 0:
        raise BadInput("--iterations must be at least 1 and --warmup at least 0")
    given_shapes = parse_shapes_flag(request.shapes) if request.shapes else None
    plugin_paths = check_plugin_paths(request.plugins)
    _check_from_sidecars(plan, compare, given_shapes)
    return given_shapes, plugin_paths


def _plans_to_time(
    first: _LoadedPlan, second: _LoadedPlan | None, given_shapes: Mapping[str, Shape] | None
) -> tuple[_Timed, _Timed | None]:
    """The first plan's shape sets, and the compared plan's profile for each (its inputs must match)."""
    sets = bench_shape_sets(first.profiles, first.static, given_shapes)
    if second is None:
        return _Timed(first, sets), None
    check_comparable(first.inputs, second.inputs, str(first.path), str(second.path))
    second_sets = [
        BenchShapes(
            profile_holding(second.profiles, second.static, s.shapes, str(second.path)), s.source, s.shapes
        )
        for s in sets
    ]
    return _Timed(first, sets), _Timed(second, second_sets)


def _time_plans(
    trt: Any,
    first: _Timed,
    second: _Timed | None,
    given: Mapping[str, np.ndarray],
    request: BenchRequest,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Each shape set timed on the first plan, then on the compared one with the same inputs; a report line each."""
    results, compared = [], []
    with tensorrt_messages():
        for index, shape_set in enumerate(first.sets):
            begun = time.perf_counter()
            feed = random_feed(first.plan.inputs, shape_set.shapes, given, request.seed + index)
            result = _time_shape_set(first.plan, trt, shape_set, feed, request.options)
            results.append(result)
            line = (
                f"[profile {shape_set.profile} {shape_set.source}: {shape_set.label()}] median "
                f"{result['median_ms']:.4f} ms, p99 {result['p99_ms']:.4f} ms, {result['throughput_qps']} qps"
            )
            if second is not None:
                other = _time_shape_set(second.plan, trt, second.sets[index], feed, request.options)
                compared.append(other)
                line += f"; {second.plan.path.name} median {other['median_ms']:.4f} ms"
            log.stage("bench", time.perf_counter() - begun, line)
    return results, compared


def run_bench(request: BenchRequest) -> dict:
    """`trtconvert bench`: the request checked, both plans loaded, each shape set timed; the --json report."""
    given_shapes, plugin_paths = _check_request(request)
    trt, reason = import_tensorrt()
    if trt is None:
        raise MissingDependency(f"{reason}, so the plan cannot run; {INSTALL_TENSORRT}")
    gpu = require_gpu("the plan cannot run")

    layers = request.options.layers
    first = _load_plan(request.plan, plugin_paths, trt, layers)
    second = _load_plan(request.compare, plugin_paths, trt, layers) if request.compare is not None else None
    timed, timed_second = _plans_to_time(first, second, given_shapes)
    given = given_values(request.input_values or {}, first.inputs)
    results, compared = _time_plans(trt, timed, timed_second, given, request)
    report: dict[str, Any] = {
        "ok": True,
        "command": "bench",
        "plan": str(request.plan),
        "tensorrt": trt.__version__,
        "gpu": gpu.to_json(),
        "cuda_graph": request.options.cuda_graph,
        "results": results,
    }
    if second is not None:
        report["compare"] = {
            "plan": str(request.compare),
            "results": compared,
            # Above 1: the compared plan takes longer than PLAN at these shapes.
            "median_ratios": [
                round(other["median_ms"] / mine["median_ms"], 4) if mine["median_ms"] > 0 else None
                for mine, other in zip(results, compared, strict=True)
            ],
        }
    return report


def _results_table(results: Sequence[Mapping[str, Any]]) -> list[str]:
    rows = [("profile", "shapes", "median", "p90", "p99", "mean", "min", "max", "qps")]
    for result in results:
        shapes = ",".join(f"{n}={format_shape(tuple(s)) or 'scalar'}" for n, s in result["shapes"].items())
        rows.append(
            (
                f"{result['profile']} {result['shapes_from']}",
                shapes,
                *(
                    f"{result[k]:.4f}"
                    for k in ("median_ms", "p90_ms", "p99_ms", "mean_ms", "min_ms", "max_ms")
                ),
                f"{result['throughput_qps']:.1f}" if result["throughput_qps"] else "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(
            cell.ljust(width) if i < 2 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]


def format_layers_table(plan: str, result: Mapping[str, Any]) -> list[str]:
    """One shape set's per-layer times, slowest first; plugin layers end in '<- plugin'."""
    table = result["layers"]
    shapes = ",".join(f"{n}={format_shape(tuple(s)) or 'scalar'}" for n, s in result["shapes"].items())
    lines = [
        f"layers of {plan} at profile {result['profile']} {result['shapes_from']} ({shapes}): "
        f"{len(table['layers'])} layers, {table['total_ms']:.4f} ms in all, mean of {table['runs']} profiled runs"
    ]
    if not table["types_known"]:
        lines.append(f"  (layer types unknown: the plan recorded layer names only; {REBUILD_HINT})")
    lines.append(f"  {'ms':>9}  {'share':>6}  {'type':<16}  layer")
    for row in table["layers"]:
        mark = "  <- plugin" if row["plugin"] else ""
        lines.append(
            f"  {row['mean_ms']:9.4f}  {row['share'] * 100:5.1f}%  {(row['type'] or '-'):<16}  {row['name']}{mark}"
        )
    return lines


def format_bench(report: Mapping[str, Any]) -> list[str]:
    """The results as a table (milliseconds, throughput in inferences per second), then with --compare the
    second plan's table and the ratio of medians, then with --layers each shape set's layers."""
    graph = ", each inference a CUDA graph launch" if report.get("cuda_graph") else ""
    lines = [
        f"{report['plan']} on {report['gpu']['name']}, TensorRT {report['tensorrt']} (times in ms{graph})"
    ]
    lines += _results_table(report["results"])
    compare = report.get("compare")
    if compare:
        lines += ["", f"{compare['plan']} on the same inputs"]
        lines += _results_table(compare["results"])
        lines.append("")
        for mine, ratio in zip(report["results"], compare["median_ratios"], strict=True):
            shapes = ",".join(f"{n}={format_shape(tuple(s)) or 'scalar'}" for n, s in mine["shapes"].items())
            shown_ratio = f"{ratio:.3f}x" if ratio is not None else "-"
            lines.append(f"median {compare['plan']} / {report['plan']} at {shapes}: {shown_ratio}")
    for plan, results in [(report["plan"], report["results"])] + (
        [(compare["plan"], compare["results"])] if compare else []
    ):
        for result in results:
            if "layers" in result:
                lines += ["", *format_layers_table(plan, result)]
    return lines
