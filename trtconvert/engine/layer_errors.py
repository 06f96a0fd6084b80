"""The diagnostic engine of `--auto-keep-fp32`: how much error each intermediate tensor of the reduced-precision
engine carries against onnxruntime's fp32 run of the original model.

The engine is built as the failing build was (same prepared model, precision, profiles and timing cache) with the
tracked tensors marked as extra outputs where TensorRT allows it (engine.mark_outputs), kept in memory. It runs
on the engine check's inputs (every profile's min, opt and max shapes, the same seeds and --input values) beside
onnxruntime running the original with the same tensors as outputs (checks.ranges), one input set at a time, and
each tensor's error is measured as checks.node_error defines it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import onnx

from trtconvert import log
from trtconvert.checks.compare import random_feed
from trtconvert.checks.node_error import TensorErrors
from trtconvert.checks.ranges import intermediate_values, with_intermediate_outputs
from trtconvert.engine.build import DiagnosticEngine, build_with_marked_outputs
from trtconvert.engine.machine import import_tensorrt
from trtconvert.engine.plugins import load_plugins
from trtconvert.engine.tensorrt_log import condense, tensorrt_messages
from trtconvert.engine.verify import shape_sets_from_profiles
from trtconvert.errors import BuildFailed
from trtconvert.prepare.pipeline import original_for_onnxruntime
from trtconvert.settings.spec import Spec


@dataclass
class LayerErrors:
    """What the diagnostic measured: each compared tensor's error, and what it could not compare."""

    errors: dict[str, float] = field(default_factory=dict)  # tensor -> error (checks.node_error)
    marked: int = 0  # tensors marked as outputs (or already outputs)
    unmarked: dict[str, str] = field(
        default_factory=dict
    )  # tensor -> why TensorRT's network lacks it as output
    mismatched: dict[str, str] = field(default_factory=dict)  # tensor -> why its values could not be compared
    failed: str = ""  # why nothing was measured: the diagnostic build or run failed

    def to_json(self) -> dict:
        return {
            "marked": self.marked,
            "unmarked": len(self.unmarked),
            "compared": len(self.errors),
            "mismatched": len(self.mismatched),
            **({"failed": self.failed} if self.failed else {}),
        }


def measure_layer_errors(spec: Spec, tensors: Sequence[str], show_progress: bool = True) -> LayerErrors:
    """Build the diagnostic engine for ``spec`` with ``tensors`` marked, run it and onnxruntime, and measure.
    A build or run that fails is reported in ``failed``, not raised: the search goes on without the ranking."""
    try:
        built = build_with_marked_outputs(spec, tensors, show_progress)
    except (BuildFailed, RuntimeError) as failed:  # RuntimeError: TensorRT's bindings, with nothing logged
        return LayerErrors(failed=f"the diagnostic build failed: {_first_line(failed)}")
    measured = LayerErrors(marked=len(built.marked.marked), unmarked=dict(built.marked.unmarked))
    start = time.perf_counter()
    try:
        compared = _compare(built, set(tensors))
    except RuntimeError as error:  # TensorRT's bindings raise RuntimeError for a C++ exception
        measured.failed = f"the diagnostic engine did not run: {_first_line(error)}"
        return measured
    measured.errors, measured.mismatched = compared.errors, compared.mismatched
    log.stage(
        "diagnose",
        time.perf_counter() - start,
        f"{len(measured.errors)} intermediate tensor(s) compared with onnxruntime's fp32 run",
    )
    return measured


def _compare(built: DiagnosticEngine, tracked: set[str]) -> TensorErrors:
    """Run the diagnostic engine and onnxruntime on each input set and measure every tensor both have."""
    from polygraphy.backend.trt import EngineFromBytes, TrtRunner
    from polygraphy.exception import PolygraphyException

    trt, _ = import_tensorrt()

    spec, checked = built.request.spec, built.checked
    original = original_for_onnxruntime(checked.model_path)
    model = onnx.load(str(original)) if isinstance(original, Path) else original
    with_outputs, _ = with_intermediate_outputs(model)
    sets = shape_sets_from_profiles(spec.profiles, checked.inputs)
    feeds = [random_feed(checked.inputs, s.shapes, checked.given, spec.seed + i) for i, s in enumerate(sets)]
    measured = TensorErrors()
    load_plugins(built.request.plugins)
    with tensorrt_messages() as messages:
        try:
            engine = EngineFromBytes(built.engine_bytes)()
            inputs = {
                engine.get_tensor_name(i)
                for i in range(engine.num_io_tensors)
                if engine.get_tensor_mode(engine.get_tensor_name(i)) == trt.TensorIOMode.INPUT
            }
            with TrtRunner(engine) as runner:
                references = intermediate_values(with_outputs, tracked, feeds)
                for shape_set, feed, want in zip(sets, feeds, references, strict=True):
                    if engine.num_optimization_profiles > 1:
                        runner.set_profile(shape_set.profile)
                    got = runner.infer({k: v for k, v in feed.items() if k in inputs})
                    for name, value in want.items():
                        if name in got:
                            measured.add(name, got[name], value)
        except PolygraphyException as error:
            raise RuntimeError(condense(messages.errors, str(error))) from None
    return measured


def _first_line(error: Exception) -> str:
    return (str(error).splitlines() or [type(error).__name__])[0][:300]
