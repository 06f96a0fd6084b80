"""`bench PLAN`: how fast an engine runs, at each optimization profile's opt shape or at given shapes.

Each shape set is run ``warmup`` times untimed, then ``iterations`` times, each between two CUDA events on one
stream and synchronized, which gives the GPU time of one inference (trtexec's "GPU Compute Time"): median, p90,
p99, mean, min and max. Throughput is measured apart, from ``iterations`` inferences enqueued back to back
between two events. Inputs are seeded random values of each input's type (``--input`` gives others), copied to
the GPU once; nothing is copied back while timing.

Works on TensorRT 8.5 and newer (the name-based execution API: set_input_shape, set_tensor_address,
execute_async_v3). Engines whose inputs are shape tensors are refused: their values decide the shapes, and
bench has no way to be told them yet.
"""

from __future__ import annotations

import ctypes
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trtconvert import log
from trtconvert.checks.compare import given_values, random_feed
from trtconvert.engine.machine import import_tensorrt, require_gpu
from trtconvert.engine.tensorrt_log import tensorrt_messages
from trtconvert.errors import INSTALL_TENSORRT, BadInput, MissingDependency
from trtconvert.model.info import GraphTensor
from trtconvert.model.load import require_regular_file
from trtconvert.model.profiles import Shape, format_shape, parse_shape
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
        dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(name))).name
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


def _time_shape_set(
    engine: Any,
    trt: Any,
    shape_set: BenchShapes,
    feed: Mapping[str, np.ndarray],
    outputs: Sequence[str],
    iterations: int,
    warmup: int,
) -> dict[str, Any]:
    from polygraphy import cuda

    events = _Events()
    with cuda.Stream() as stream, engine.create_execution_context() as context:
        if engine.num_optimization_profiles > 1:
            context.set_optimization_profile_async(shape_set.profile, stream.ptr)
        buffers = []
        try:
            for name, value in feed.items():
                if not context.set_input_shape(name, value.shape):
                    raise BadInput(f"TensorRT refused shape {format_shape(value.shape)} for input '{name}'")
                device = cuda.DeviceArray(shape=value.shape, dtype=value.dtype)
                buffers.append(device)
                device.copy_from(np.ascontiguousarray(value), stream)
                context.set_tensor_address(name, device.ptr)
            for name in outputs:
                shape = tuple(context.get_tensor_shape(name))
                dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(name)))
                device = cuda.DeviceArray(shape=shape, dtype=dtype)
                buffers.append(device)
                context.set_tensor_address(name, device.ptr)
            stream.synchronize()

            def enqueue() -> None:
                if not context.execute_async_v3(stream.ptr):
                    raise BadInput(f"TensorRT could not run the engine at {shape_set.label()}; rerun with -v")

            for _ in range(warmup):
                enqueue()
            stream.synchronize()
            start, end = events.create(), events.create()
            try:
                samples = []
                for _ in range(iterations):
                    events.record(start, stream.ptr)
                    enqueue()
                    events.record(end, stream.ptr)
                    samples.append(events.elapsed_ms(start, end))
                events.record(start, stream.ptr)
                for _ in range(iterations):
                    enqueue()
                events.record(end, stream.ptr)
                back_to_back = events.elapsed_ms(start, end)
            finally:
                events.destroy(start)
                events.destroy(end)
        finally:
            for device in buffers:
                device.free()
    stats = latency_stats(samples)
    return {
        "profile": shape_set.profile,
        "shapes_from": shape_set.source,
        "shapes": {name: list(shape) for name, shape in shape_set.shapes.items()},
        "iterations": iterations,
        "warmup": warmup,
        **{key: round(value, 5) for key, value in stats.items()},
        "throughput_qps": round(iterations / (back_to_back / 1000.0), 2) if back_to_back > 0 else None,
    }


def run_bench(
    plan: Path,
    plugins: Sequence[Path] = (),
    shapes: str | None = None,
    iterations: int = 200,
    warmup: int = 20,
    input_values: Mapping[str, str] | None = None,
    seed: int = 0,
) -> dict:
    require_regular_file(plan, "plan file")
    if iterations < 1 or warmup < 0:
        raise BadInput("--iterations must be at least 1 and --warmup at least 0")
    given_shapes = parse_shapes_flag(shapes) if shapes else None
    plugin_paths = check_plugin_paths(plugins)
    trt, reason = import_tensorrt()
    if trt is None:
        raise MissingDependency(f"{reason}, so the plan cannot run; {INSTALL_TENSORRT}")
    gpu = require_gpu("the plan cannot run")

    from trtconvert.engine.plan_files import load_engine

    engine = load_engine(plan, plugin_paths, trt)
    inputs, outputs = _engine_io(engine, trt)
    static = {i.name: tuple(int(d) for d in i.dims) for i in inputs if all(d != -1 for d in i.dims)}
    sets = bench_shape_sets(_engine_profiles(engine, inputs), static, given_shapes)
    given = given_values(input_values or {}, inputs)
    results = []
    with tensorrt_messages():
        for index, shape_set in enumerate(sets):
            begun = time.perf_counter()
            feed = random_feed(inputs, shape_set.shapes, given, seed + index)
            result = _time_shape_set(engine, trt, shape_set, feed, outputs, iterations, warmup)
            results.append(result)
            log.stage(
                "bench",
                time.perf_counter() - begun,
                f"[profile {shape_set.profile} {shape_set.source}: {shape_set.label()}] median "
                f"{result['median_ms']:.4f} ms, p99 {result['p99_ms']:.4f} ms, {result['throughput_qps']} qps",
            )
    return {
        "ok": True,
        "command": "bench",
        "plan": str(plan),
        "tensorrt": trt.__version__,
        "gpu": gpu.to_json(),
        "results": results,
    }


def format_bench(report: Mapping[str, Any]) -> list[str]:
    """The results as a table (milliseconds, throughput in inferences per second)."""
    rows = [("profile", "shapes", "median", "p90", "p99", "mean", "min", "max", "qps")]
    for result in report["results"]:
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
    lines = [f"{report['plan']} on {report['gpu']['name']}, TensorRT {report['tensorrt']} (times in ms)"]
    for row in rows:
        lines.append(
            "  ".join(
                cell.ljust(width) if i < 2 else cell.rjust(width)
                for i, (cell, width) in enumerate(zip(row, widths, strict=True))
            )
        )
    return lines
