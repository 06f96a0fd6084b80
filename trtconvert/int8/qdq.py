"""INT8 for TensorRT 11: a Q/DQ model from a float one, calibrated on the CPU, and its error measured.

TensorRT 11 has no INT8 builder flag and no calibrators: INT8 comes only from QuantizeLinear/DequantizeLinear
pairs in the ONNX (explicit quantization). This module writes them with onnxruntime's static quantizer, the way
TensorRT wants them:

- int8 activations and weights, both symmetric (zero points 0, scale = max|x| / 127), weights per channel
  (int8 initializers read by DequantizeLinear), biases left float;
- Q/DQ on the inputs of the weighted ops only (Conv, ConvTranspose, Gemm, MatMul by default), one pair per
  consuming op, never on their outputs: TensorRT's placement rules, which let it fuse each DQ -> op chain and
  keep the pointwise ops after it in the same kernel. Other readers of a quantized tensor (a residual Add beside
  a Conv) keep reading the float tensor. Quantizing every Add/Mul/Clip as well (onnxruntime's default, tuned for
  its own CPU kernels) raised the mean abs error of the PP-OCR models 1.5-4 times; passing ``op_types`` with
  Add quantizes residual Adds too, which TensorRT can run in INT8, faster and less accurate;
- Constant nodes turned into initializers first (exporters such as Paddle's write weights as Constant nodes,
  which the quantizer would otherwise take for activations and quantize per tensor), and opsets below 13
  converted to 13, the first whose Q/DQ carry the per-channel axis;
- graph inputs and outputs keep their float types; plugin nodes (custom domains) are excluded and stay float.

Calibration runs the model in onnxruntime. A plugin node such as ``DynamicTRTResize`` cannot run there on its
own, so calibration does not use quantize_static's built-in pass (which builds its own session with no way to
register custom ops): the calibrator's augmented model is run through :func:`trtconvert.checks.ort_session.
create_session`, which runs plugin nodes with the numpy reference (the calibrator's internals this needs are
confined to :mod:`trtconvert.int8.ort_calibrator`, which checks them), and the ranges it computes are handed to
quantize_static as its calibration cache. Plugin nodes without a CPU reference cannot be calibrated through and
are refused. onnxruntime releases whose quantize_static takes no cache fall back to its built-in pass, which
works for models without plugin nodes only. Entropy calibration uses 2048 histogram bins like TensorRT's
entropy calibrator (quantize_static's built-in 128 bins leave it equal to MinMax); onnxruntime searches its
threshold in Python, about 0.3 s per calibrated tensor, so it takes tens of seconds on a model of 60 convolutions.

Why onnxruntime's quantizer and not NVIDIA ModelOpt's ONNX PTQ (``modelopt.onnx.quantization``), which follows
TensorRT's placement rules by design: onnxruntime is already a dependency and runs the CPU verification, so the
quantized model is checked with the same runtime that calibrated it; ModelOpt calibrates models with plugin
nodes through TensorRT's execution provider, which the machines that prepare models do not have; and one
quantizer for everyone keeps the same command producing the same model whatever else is installed (ModelOpt
is not switched to when present). The TensorRT rules that matter here are applied through the options above.
"""

from __future__ import annotations

import inspect
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from trtconvert import log
from trtconvert.checks.compare import element_errors
from trtconvert.errors import BadInput, MissingDependency
from trtconvert.int8.calibration import CalibrationData
from trtconvert.model.info import (
    custom_nodes,
    default_opset,
    graph_inputs,
    is_custom_domain,
    is_default_domain,
    type_plugin_outputs,
)
from trtconvert.settings.spec import CALIBRATION_METHODS
from trtconvert.settings.tolerances import INT8_MIN_WITHIN, INT8_TOLERANCES

DEFAULT_OP_TYPES = ("Conv", "ConvTranspose", "Gemm", "MatMul")
QDQ_OPSET = 13
# INT8 against float, per output element: |int8 - float| <= atol + rtol * |float|. One int8 step is max|x|/127
# (0.8 % of a tensor's range) at every quantized input, and the steps of a deep network add up, so outputs of
# order one move by a few hundredths; a few elements where the float output sits on a steep edge (a sigmoid's
# threshold, a near tie of two classes) move by much more, which is what INT8_MIN_WITHIN leaves room for.
# TensorRT's entropy calibrator: 2048 histogram bins, searched for the best 128-level quantization.
_ENTROPY_BINS, _ENTROPY_QUANTIZED_BINS = 2048, 128
_PERCENTILE_BINS, _PERCENTILE = 2048, 99.999
# Domains onnxruntime runs itself; other custom domains are TensorRT plugins.
_ORT_DOMAINS = ("com.microsoft", "com.microsoft.nchwc", "com.microsoft.experimental")


def quantize_qdq(
    model: onnx.ModelProto,
    data: CalibrationData,
    method: str = "minmax",
    op_types: Sequence[str] = DEFAULT_OP_TYPES,
) -> onnx.ModelProto:
    """A copy of the float ``model`` with int8 Q/DQ pairs calibrated on ``data`` (see the module docstring).

    ``method`` is minmax (the largest |value| seen), entropy (TensorRT's KL-divergence threshold) or
    percentile (99.999th percentile of |value|).
    """
    start = time.perf_counter()
    if method not in CALIBRATION_METHODS:
        raise BadInput(f"calibration method {method!r} is not one of {', '.join(CALIBRATION_METHODS)}")
    prepared = _prepared(model)
    plugins = _plugin_nodes(prepared)
    own_calibration = _range_cache_supported()
    if plugins and not own_calibration:
        raise MissingDependency(
            f"calibrating through plugin node(s) {_names(plugins)} needs an onnxruntime whose quantize_static "
            "takes calibration_cache_path; pip install -U onnxruntime"
        )
    feeds = _feeds(prepared, data)
    with tempfile.TemporaryDirectory(prefix="trtconvert-qdq-") as folder:
        source = Path(folder) / "float.onnx"
        target = Path(folder) / "qdq.onnx"
        _save(prepared, source)
        if own_calibration:
            ranges = Path(folder) / "ranges.json"
            _calibrate(source, Path(folder), feeds, method, op_types, ranges)
            _quantize(source, target, method, op_types, plugins, ranges=ranges)
        else:
            _quantize(source, target, method, op_types, plugins, reader=_reader(feeds))
        quantized = onnx.load(str(target))
    _float_for_other_consumers(quantized, op_types)
    _drop_unread_qdq(quantized)
    counts = qdq_counts(quantized)
    weighted = sum(1 for n in prepared.graph.node if n.op_type in op_types)
    detail = (
        f"Q/DQ by onnxruntime ({method}, {data.samples} samples): {counts['QuantizeLinear']} QuantizeLinear, "
        f"{counts['DequantizeLinear']} DequantizeLinear for {weighted} {'/'.join(op_types)} nodes"
    )
    if plugins:
        detail += f"; plugin nodes kept float: {_names(plugins)}"
    if data.timing_only:
        detail += "; scales from random data: for timing only"
    # A detail of the precision stage, whose one report line follows; shown with -v.
    log.LOGGER.debug("          %s (%.2f s)", detail, time.perf_counter() - start)
    return quantized


def qdq_counts(model: onnx.ModelProto) -> dict[str, int]:
    """How many QuantizeLinear and DequantizeLinear nodes the main graph holds."""
    counts = {"QuantizeLinear": 0, "DequantizeLinear": 0}
    for node in model.graph.node:
        if node.op_type in counts and is_default_domain(node.domain):
            counts[node.op_type] += 1
    return counts


# --- preparing the float model ---------------------------------------------------------------------------------


def _prepared(model: onnx.ModelProto) -> onnx.ModelProto:
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    _constants_to_initializers(copy.graph)
    _write_kernel_shapes(copy.graph)
    opset = default_opset(copy)
    if opset < QDQ_OPSET:
        copy = _converted(copy, opset)
    _name_plugin_nodes(copy)
    try:
        inferred = onnx.shape_inference.infer_shapes(copy, strict_mode=False)
    except Exception:  # types are best effort: an untyped tensor is only left unquantized
        inferred = copy
    type_plugin_outputs(copy, inferred)
    return copy


def _write_kernel_shapes(graph: onnx.GraphProto) -> None:
    """Give each Conv its kernel_shape from its weights while they are still an initializer: once quantized they
    come through a DequantizeLinear, and TensorRT's ONNX parser then reads the kernel size from the attribute alone
    (see prepare/rewrite/rules/conv_kernel_shape.py)."""
    weights = {init.name: init for init in graph.initializer}
    for node in graph.node:
        if (
            node.op_type not in ("Conv", "ConvTranspose")
            or len(node.input) < 2
            or node.input[1] not in weights
        ):
            continue
        dims = list(weights[node.input[1]].dims)
        if len(dims) > 2 and not any(a.name == "kernel_shape" for a in node.attribute):
            node.attribute.append(onnx.helper.make_attribute("kernel_shape", dims[2:]))


def _constants_to_initializers(graph: onnx.GraphProto) -> int:
    """Move the main graph's tensor-valued Constant nodes into initializers; returns how many moved."""
    outputs = {o.name for o in graph.output}
    kept, moved = [], 0
    for node in graph.node:
        value = next((a for a in node.attribute if a.name == "value"), None)
        if (
            node.op_type == "Constant"
            and is_default_domain(node.domain)
            and value is not None
            and value.type == onnx.AttributeProto.TENSOR
            and node.output[0] not in outputs
        ):
            tensor = onnx.TensorProto()
            tensor.CopyFrom(value.t)
            tensor.name = node.output[0]
            graph.initializer.append(tensor)
            moved += 1
        else:
            kept.append(node)
    if moved:
        del graph.node[:]
        graph.node.extend(kept)
    return moved


def _converted(model: onnx.ModelProto, opset: int) -> onnx.ModelProto:
    from onnx import version_converter

    try:
        converted = version_converter.convert_version(model, QDQ_OPSET)
    except Exception as error:  # the converter raises several types for ops it cannot adapt
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise BadInput(
            f"INT8 Q/DQ needs opset {QDQ_OPSET} or later (per-channel scales), and converting this opset-{opset} "
            f"model failed ({first}); re-export the model at opset {QDQ_OPSET} or later"
        ) from None
    return converted


def _plugin_nodes(model: onnx.ModelProto) -> list[onnx.NodeProto]:
    """Custom-domain nodes (TensorRT plugins); refused when calibration cannot run them on the CPU."""
    from trtconvert.checks.ort_session import is_plugin_node

    plugins = [n for n in custom_nodes(model) if not n.domain.startswith(_ORT_DOMAINS)]
    unrunnable = [n for n in plugins if not is_plugin_node(n)]
    if unrunnable:
        kinds = ", ".join(sorted({f"{n.domain}::{n.op_type}" for n in unrunnable}))
        raise BadInput(
            f"INT8 calibration runs the model in onnxruntime, which cannot run plugin node(s) "
            f"{_names(unrunnable)} ({kinds}): trtconvert has a CPU reference only for DynamicTRTResize; "
            "quantize the model with a tool that runs the plugin (e.g. ModelOpt with TensorRT), or calibrate "
            "with TensorRT's calibrator on TensorRT 8.5-10"
        )
    return plugins


def _names(nodes: Sequence[onnx.NodeProto]) -> str:
    names = [n.name or n.output[0] for n in nodes]
    shown = ", ".join(repr(n) for n in names[:5])
    return shown + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def _name_plugin_nodes(model: onnx.ModelProto) -> None:
    """Give unnamed plugin nodes a name: nodes are excluded from quantization by name."""
    taken = {n.name for n in model.graph.node}
    for index, node in enumerate(model.graph.node):
        if node.name or not is_custom_domain(node.domain):
            continue
        name = f"{node.op_type}_{index}"
        while name in taken:
            name += "_"
        node.name = name
        taken.add(name)


def _feeds(model: onnx.ModelProto, data: CalibrationData) -> list[dict[str, np.ndarray]]:
    names = [i.name for i in graph_inputs(model)]
    missing = [n for n in names if n not in data.arrays]
    if missing:
        raise BadInput(f"calibration data {data.source} has no samples for input(s) {', '.join(missing)}")
    return [{n: feed[n] for n in names} for feed in data.batches(1)]


def _save(model: onnx.ModelProto, path: Path) -> None:
    from trtconvert.model.save import needs_external_data, save_onnx

    save_onnx(model, path, external_data=needs_external_data(model))


# --- calibrating and quantizing --------------------------------------------------------------------------------


def _range_cache_supported() -> bool:
    """Whether quantize_static takes precomputed ranges (its calibration cache, new in recent releases)."""
    from onnxruntime.quantization import calibrate, quantize_static

    parameters = inspect.signature(quantize_static).parameters
    return "calibration_cache_path" in parameters and hasattr(calibrate, "save_tensors_data")


def _reader_class():
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        """Hands the calibration samples to onnxruntime's calibrator one feed at a time."""

        def __init__(self, feeds: list[dict[str, np.ndarray]]) -> None:
            self._feeds = feeds
            self._next: Iterator[dict[str, np.ndarray]] = iter(feeds)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._next, None)

        def __len__(self) -> int:
            return len(self._feeds)

    return Reader


def _reader(feeds: list[dict[str, np.ndarray]]):
    return _reader_class()(feeds)


def _calibrator(source: Path, folder: Path, method: str, op_types: Sequence[str]):
    from onnxruntime.quantization import calibrate

    # Models over 2 GB were saved with external data (see _save); the augmented copy must be too.
    large = source.with_name(source.name + ".data").exists()
    common = {"augmented_model_path": str(folder / "augmented.onnx"), "use_external_data_format": large}
    if method == "minmax":
        return calibrate.MinMaxCalibrater(source, list(op_types), **common)
    if method == "entropy":
        return calibrate.EntropyCalibrater(
            source,
            list(op_types),
            num_bins=_ENTROPY_BINS,
            num_quantized_bins=_ENTROPY_QUANTIZED_BINS,
            **common,
        )
    return calibrate.PercentileCalibrater(
        source, list(op_types), num_bins=_PERCENTILE_BINS, percentile=_PERCENTILE, symmetric=True, **common
    )


def _calibrate(
    source: Path,
    folder: Path,
    feeds: list[dict[str, np.ndarray]],
    method: str,
    op_types: Sequence[str],
    ranges: Path,
) -> None:
    from onnxruntime.quantization import calibrate

    from trtconvert.checks.ort_session import create_session, user_model_errors
    from trtconvert.int8.ort_calibrator import calibrate_through

    fix = "check that the calibration data fits the model (names, shapes, value ranges)"
    with log.muted_in_this_thread(), user_model_errors("run the model on the calibration data", fix):
        calibrator = _calibrator(source, folder, method, op_types)
        # The calibrator's own session could not run plugin nodes; ours runs them with the CPU reference.
        computed = calibrate_through(calibrator, create_session, _reader(feeds), len(feeds))
        calibrate.save_tensors_data(computed, ranges)


def _quantize(
    source: Path,
    target: Path,
    method: str,
    op_types: Sequence[str],
    plugins: Sequence[onnx.NodeProto],
    *,
    ranges: Path | None = None,
    reader=None,
) -> None:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    from trtconvert.checks.ort_session import user_model_errors

    methods = {
        "minmax": CalibrationMethod.MinMax,
        "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
    }
    extra_options = {
        "ActivationSymmetric": True,
        "WeightSymmetric": True,
        # Q/DQ on inputs only, float biases: what TensorRT fuses (see the module docstring).
        "OpTypesToExcludeOutputQuantization": list(op_types),
        "QuantizeBias": False,
        # One Q/DQ pair per quantized consumer: TensorRT fuses each pair into the op that reads it.
        "DedicatedQDQPair": True,
    }
    cache = {"calibration_cache_path": str(ranges)} if ranges is not None else {}
    large = source.with_name(source.name + ".data").exists()
    fix = "check that the calibration data fits the model (names, shapes, value ranges)"
    with log.muted_in_this_thread(), user_model_errors("quantize the model", fix):
        quantize_static(
            str(source),
            str(target),
            calibration_data_reader=reader,
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=list(op_types),
            per_channel=True,
            reduce_range=False,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=[n.name for n in plugins],
            use_external_data_format=large,
            calibrate_method=methods[method],
            extra_options=extra_options,
            **cache,
        )


def _float_for_other_consumers(model: onnx.ModelProto, op_types: Sequence[str]) -> int:
    """Give the float tensor back to consumers that are not quantized ops.

    onnxruntime's quantizer rewires every consumer of a quantized tensor to the DequantizeLinear output when
    only one of them is quantized, so a residual Add beside a Conv would read the int8-rounded value too.
    TensorRT's placement keeps Q/DQ on the weighted ops' inputs only; returns how many inputs were rewired.
    """
    producers = {output: node for node in model.graph.node for output in node.output}
    rewired = 0
    for node in model.graph.node:
        if node.op_type in op_types or node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            continue
        for index, name in enumerate(node.input):
            dq = producers.get(name)
            if dq is None or dq.op_type != "DequantizeLinear":
                continue
            q = producers.get(dq.input[0])
            if q is not None and q.op_type == "QuantizeLinear":
                node.input[index] = q.input[0]
                rewired += 1
    return rewired


def _drop_unread_qdq(model: onnx.ModelProto) -> int:
    """Remove Q/DQ nodes whose outputs nothing reads any more; returns how many went."""
    graph = model.graph
    removed = 0
    while True:
        read = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
        unread = [
            n
            for n in graph.node
            if n.op_type in ("QuantizeLinear", "DequantizeLinear") and not any(o in read for o in n.output)
        ]
        if not unread:
            return removed
        for node in unread:
            graph.node.remove(node)
        removed += len(unread)


# --- INT8 against float ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutputError:
    """How far one output of the Q/DQ model is from the float model's, over every calibration sample."""

    name: str
    max_abs: float
    mean_abs: float
    max_rel: float
    within: float  # share of elements with |qdq - float| <= atol + rtol * |float|
    elements: int

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "max_abs": self.max_abs,
            "mean_abs": self.mean_abs,
            "max_rel": self.max_rel,
            "within": self.within,
            "elements": self.elements,
        }


@dataclass(frozen=True)
class QdqComparison:
    outputs: tuple[OutputError, ...]
    samples: int
    atol: float
    rtol: float

    def ok(self, min_within: float = INT8_MIN_WITHIN) -> bool:
        return all(o.within >= min_within for o in self.outputs)

    def to_json(self) -> dict:
        return {
            "samples": self.samples,
            "atol": self.atol,
            "rtol": self.rtol,
            "outputs": [o.to_json() for o in self.outputs],
        }


def compare_qdq(
    float_model: onnx.ModelProto,
    qdq_model: onnx.ModelProto,
    data: CalibrationData,
    atol: float = INT8_TOLERANCES[0],
    rtol: float = INT8_TOLERANCES[1],
    max_samples: int | None = None,
) -> QdqComparison:
    """Run both models on the calibration samples in onnxruntime (plugin nodes through the CPU reference) and
    measure every output of the float model: max abs error, max relative error (where |float| > atol) and the
    share of elements within ``atol + rtol * |float|``."""
    from trtconvert.checks.ort_session import create_session, user_model_errors

    fix = "check that the calibration data fits the model"
    with user_model_errors("run the float model", fix):
        reference = create_session(float_model)
    candidate = create_session(qdq_model)
    names = [o.name for o in reference.get_outputs()]
    wanted = {i.name for i in reference.get_inputs()}
    feeds = list(data.batches(1))[:max_samples]
    diffs: dict[str, list[np.ndarray]] = {n: [] for n in names}
    rels: dict[str, list[np.ndarray]] = {n: [] for n in names}
    inside: dict[str, list[np.ndarray]] = {n: [] for n in names}
    for feed in feeds:
        feed = {k: v for k, v in feed.items() if k in wanted}
        with user_model_errors("run the float model on the calibration data", fix):
            want = reference.run(names, feed)
        got = candidate.run(names, feed)
        for name, g, w in zip(names, got, want, strict=True):
            diff, rel, ok = _errors(np.asarray(g), np.asarray(w), atol, rtol)
            diffs[name].append(diff)
            rels[name].append(rel)
            inside[name].append(ok)
    outputs = []
    for name in names:
        diff = np.concatenate([d.ravel() for d in diffs[name]]) if diffs[name] else np.zeros(0)
        rel = np.concatenate([r.ravel() for r in rels[name]]) if rels[name] else np.zeros(0)
        ok = np.concatenate([o.ravel() for o in inside[name]]) if inside[name] else np.zeros(0, bool)
        outputs.append(
            OutputError(
                name,
                float(diff.max()) if diff.size else 0.0,
                float(diff.mean()) if diff.size else 0.0,
                float(rel.max()) if rel.size else 0.0,
                float(ok.mean()) if ok.size else 1.0,
                int(ok.size),
            )
        )
    return QdqComparison(tuple(outputs), len(feeds), atol, rtol)


def _errors(got: np.ndarray, want: np.ndarray, atol: float, rtol: float):
    if got.shape != want.shape:
        size = max(want.size, 1)
        return np.full(size, np.inf), np.full(size, np.inf), np.zeros(size, bool)
    return element_errors(got, want, atol, rtol)


def format_comparison(comparison: QdqComparison, min_within: float = INT8_MIN_WITHIN) -> str:
    """The one report line: each output's share within tolerance and its largest errors, and the verdict."""
    parts = [
        f"{o.name} {100 * o.within:.2f}% within (abs error max {o.max_abs:.3g} mean {o.mean_abs:.3g}, "
        f"max rel {o.max_rel:.3g})"
        for o in comparison.outputs
    ]
    verdict = "ok" if comparison.ok(min_within) else f"BELOW {100 * min_within:g}% WITHIN TOLERANCE"
    return (
        f"int8 vs float on {comparison.samples} calibration samples, atol {comparison.atol:g} rtol "
        f"{comparison.rtol:g}: {'; '.join(parts)}  {verdict}"
    )
