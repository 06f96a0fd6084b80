"""What fp16 (or bf16) does to a model's intermediate tensors, for the CPU checks of prepare and build.

- The CPU check of an fp16-converted model (TensorRT 11) runs the model with every fp16 tensor rounded as a GPU
  stores it (trtconvert.checks.fp16_emulation), so that an overflow between two nodes fails the check.
- The overflow finder runs the original model in fp32 on the verify inputs and names the tensors the narrower
  type cannot hold, their producing nodes and the nodes that read them: one pasteable --keep-fp32 flag set.
  For a converted model it explains a failing check; for builder flags (TensorRT 8.5-10, where the CPU runs
  fp32 and the check cannot see fp16) it is a warning before the build, and it is printed again after a
  failing engine check.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import onnx

from trtconvert import log
from trtconvert.checks.fp16_emulation import CannotEmulate, emulate_fp16
from trtconvert.checks.ort_session import create_session, user_model_errors
from trtconvert.checks.ranges import (
    OutOfRange,
    TensorRange,
    constant_ranges,
    intermediate_ranges,
    out_of_range,
)
from trtconvert.errors import escaped_controls
from trtconvert.model.info import GraphTensor
from trtconvert.model.profiles import opt_shapes
from trtconvert.model.save import needs_external_data
from trtconvert.prepare.keep_fp32 import keep_fp32_flags, matching_nodes, name_unnamed_nodes
from trtconvert.settings.request import Request

# The narrower float type a precision computes in, for the finder.
NARROW_FLOAT = {"fp16": "fp16", "int8,fp16": "fp16", "bf16": "bf16"}


def emulated_candidate(request: Request, candidate: onnx.ModelProto | Path) -> onnx.ModelProto | Path:
    """The model the CPU check runs for ``candidate``: an fp16 conversion with every fp16 tensor rounded as on a
    GPU; anything else as it is."""
    if request.precision.convert_onnx_to != "fp16":
        return candidate
    model = onnx.load(str(candidate)) if isinstance(candidate, Path) else candidate
    # The check runs a rewritten copy, which onnxruntime may accept where it refuses the converted model itself:
    # what is written must load as it is.
    with user_model_errors(
        "load the fp16 model the conversion gave",
        "keep the node it names in fp32 with --keep-fp32 NAME, or build for TensorRT 10 (--target-tensorrt 10), "
        "which keeps the ONNX in fp32",
    ):
        create_session(candidate, optimize=False)
    if needs_external_data(model):
        log.LOGGER.warning(
            "          the fp16 model is over 2 GB: checked with onnxruntime's own fp16, which skips the fp16 "
            "rounding between some nodes (an overflow there shows only on the GPU)"
        )
        return candidate
    try:
        emulated = emulate_fp16(model)
    except CannotEmulate as reason:
        log.LOGGER.warning(
            "          the fp16 model has %s: checked with onnxruntime's own fp16, which skips the fp16 rounding "
            "between some nodes (an overflow there shows only on the GPU)",
            reason,
        )
        return candidate
    log.LOGGER.info("          fp16 emulated node by node: every fp16 tensor is rounded as the GPU stores it")
    return emulated


def find_out_of_range(
    request: Request,
    original: onnx.ModelProto | Path,
    inputs: Sequence[GraphTensor],
    given: Mapping[str, np.ndarray],
) -> OutOfRange | None:
    """The overflow finder on the original model as onnxruntime runs it (module docstring); None where the
    precision has no narrower float type."""
    target = NARROW_FLOAT.get(request.spec.precision)
    if target is None:
        return None
    start = time.perf_counter()
    spec = request.spec
    try:
        model = onnx.load(str(original)) if isinstance(original, Path) else original
        name_unnamed_nodes(model)  # as prepare names them, so that the flags match the prepared model
        ranges = intermediate_ranges(model, inputs, opt_shapes(spec.profiles, inputs), given, spec.seed)
        weights = constant_ranges(model)
    except (ValueError, RuntimeError, MemoryError, onnx.checker.ValidationError) as error:
        # The finder only advises: a model it cannot run this way (over 2 GB for shape inference, say) keeps
        # the check's own verdict.
        log.LOGGER.warning(
            "          the overflow finder could not run: %s", str(error).splitlines()[0][:200]
        )
        return None
    found = out_of_range({**weights, **ranges}, target, sorted(matching_nodes(model, spec.keep_fp32)))
    detail = f"{len(ranges)} computed tensor(s) in fp32 and {len(weights)} weight(s): " + (
        f"{len(found.tensors)} out of {target}'s range" if found else f"all within {target}'s range"
    )
    log.stage("ranges", time.perf_counter() - start, detail)
    for tensor, why in found.tensors[:10]:
        source = f"from {tensor.producer}" if tensor.producer else "a weight"
        log.LOGGER.info("          %s (%s): %s", tensor.name, source, why)
    return found


def fp16_outputs_hold(
    request: Request,
    original: onnx.ModelProto | Path,
    candidate: onnx.ModelProto | Path,
    inputs: Sequence[GraphTensor],
    given: Mapping[str, np.ndarray],
) -> bool | None:
    """Builder flags (TensorRT 8.5-10), where the finder found tensors out of fp16's range: whether the outputs
    still hold when the prepared model is converted to fp16 as for TensorRT 11 (the --keep-fp32 nodes kept) and
    run rounded node by node as a GPU stores each tensor, within fp16's tolerance of the original. A tensor
    out of range need not reach an output: an attention mask of -1e9 becomes -65504, whose exponential in the
    Softmax is 0 all the same. None where this cannot be told (bf16, no converter, a model over 2 GB, a model
    the conversion or onnxruntime cannot take): the finder's warning stands then."""
    from trtconvert.checks.compare import CompareRequest, compare_models
    from trtconvert.prepare.precision import convert_model
    from trtconvert.settings.precision_plan import available_converters
    from trtconvert.settings.tolerances import with_defaults

    spec = request.spec
    if NARROW_FLOAT.get(spec.precision) != "fp16" or not available_converters()["onnxconverter-common"]:
        return None
    start = time.perf_counter()
    tolerances = with_defaults("fp16", spec.atol, spec.rtol)
    try:
        model = onnx.load(str(candidate)) if isinstance(candidate, Path) else candidate
        if needs_external_data(model):
            return None
        kept = sorted(matching_nodes(model, spec.keep_fp32))
        converted, _, _ = convert_model(model, "fp16", request.plugins, kept)
        against = CompareRequest(
            inputs, opt_shapes(spec.profiles, inputs), given, tolerances.atol, tolerances.rtol, spec.seed
        )
        results = compare_models(original, emulate_fp16(converted), against, report=False)
    except (CannotEmulate, ValueError, RuntimeError, MemoryError, onnx.checker.ValidationError) as error:
        log.LOGGER.info(
            "          fp16 emulation of the outputs could not run: %s", str(error).splitlines()[0][:200]
        )
        return None
    worst = max((o.max_abs for r in results for o in r.outputs), default=0.0)
    holds = all(r.ok for r in results)
    log.stage(
        "emulate",
        time.perf_counter() - start,
        f"the model in fp16, rounded node by node: max abs {worst:.3g} against fp32, "
        + ("within" if holds else "beyond")
        + f" fp16's tolerance (atol {tolerances.atol:g}, rtol {tolerances.rtol:g})",
    )
    return holds


def _source(tensor: TensorRange) -> str:
    return f"tensor '{tensor.name}' from {tensor.producer}" if tensor.producer else f"weight '{tensor.name}'"


def suggestion(request: Request, found: OutOfRange, room: int | None = None) -> str:
    """One line: which tensors, made by which nodes, and the flags (the ones given, then the new ones).

    ``room``: the characters an error message has left for it. An error line is cut in the middle past
    MAX_MESSAGE_CHARS, which would cut the flag set, so a set that does not fit is printed whole on a line of
    its own first (a warning, shown even with --quiet) and the line refers to it."""
    first, why = found.tensors[0]
    more = f" (and {len(found.tensors) - 1} more tensor(s))" if len(found.tensors) > 1 else ""
    nodes = [*request.spec.keep_fp32, *found.nodes]
    flags = keep_fp32_flags(nodes)
    producers = ", ".join(found.producers[:6]) + (" ..." if len(found.producers) > 6 else "")
    line = (
        f"in fp32 on the verify inputs, {_source(first)} {why}{more}"
        + (f" (made by {producers})" if producers else "")
        + f"; keep them and their readers in fp32: {flags}"
    )
    if room is None or len(escaped_controls(line)) <= room:
        return line
    log.LOGGER.warning("keep fp32 flags: %s", escaped_controls(flags))
    return (
        f"in fp32 on the verify inputs, {_source(first)} {why}{more}; keep them and their readers in fp32 with "
        f"the {len(dict.fromkeys(nodes))} --keep-fp32 flags printed above (--json: out_of_range.keep_fp32)"
    )
