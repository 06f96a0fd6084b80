"""The adapter to onnxruntime's calibrator internals (trtconvert.int8.ort_calibrator) against the installed
onnxruntime, and its refusals when a calibrator no longer behaves as the adapter expects.

The refusal tests hand the adapter calibrators changed on purpose (subclasses of onnxruntime's own); they check
the adapter's detection, not onnxruntime.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from test_quantize_qdq import image_data, small_cnn

from trtconvert.checks.ort_session import create_session
from trtconvert.errors import MissingDependency
from trtconvert.int8 import qdq
from trtconvert.int8.ort_calibrator import (
    LAST_CHECKED,
    calibrate_through,
    contract_problems,
    onnxruntime_version,
)


def test_the_installed_onnxruntime_is_no_newer_than_the_last_checked():
    import onnxruntime

    assert onnxruntime_version() <= LAST_CHECKED, (
        f"onnxruntime {onnxruntime.__version__} is newer than the release the calibrator adapter was checked "
        "against: read its onnxruntime/quantization/calibrate.py (CalibraterBase.__init__, augment_graph, "
        "collect_data, compute_data, and what collect_data calls on infer_session) against "
        "trtconvert/int8/ort_calibrator.py, then raise LAST_CHECKED"
    )


def _float_model(tmp_path: Path, plugin: str | None = None) -> tuple[Path, onnx.ModelProto]:
    model = qdq._prepared(small_cnn(plugin=plugin))
    path = tmp_path / "float.onnx"
    onnx.save(model, path)
    return path, model


@pytest.mark.parametrize("method", ["minmax", "entropy", "percentile"])
def test_every_calibrator_we_make_has_what_the_adapter_uses(tmp_path: Path, method: str):
    path, _ = _float_model(tmp_path)
    calibrator = qdq._calibrator(path, tmp_path, method, qdq.DEFAULT_OP_TYPES)
    assert contract_problems(calibrator) == []


def test_calibration_runs_through_our_session_once_per_sample(tmp_path: Path):
    path, model = _float_model(tmp_path, plugin="DynamicTRTResize")
    data = image_data(model, 5, (1, 3, 16, 16), "adapter")
    feeds = qdq._feeds(model, data)
    made: list[Path] = []

    def make_session(augmented: Path):
        made.append(augmented)
        return create_session(augmented)

    calibrator = qdq._calibrator(path, tmp_path, "minmax", qdq.DEFAULT_OP_TYPES)
    ranges = calibrate_through(calibrator, make_session, qdq._reader(feeds), len(feeds))
    assert made == [Path(calibrator.augmented_model_path)]
    # The plugin's output "up" feeds conv2: its range is the min and max (widened to hold 0) of what the CPU
    # reference computed, which the model run with "up" as an output shows.
    exposed = onnx.ModelProto()
    exposed.CopyFrom(model)
    exposed.graph.output.append(onnx.helper.make_tensor_value_info("up", onnx.TensorProto.FLOAT, None))
    session = create_session(exposed)
    seen = np.concatenate([session.run(["up"], feed)[0].ravel() for feed in feeds])
    low, high = (float(np.asarray(v).ravel()[0]) for v in ranges["up"].range_value)
    np.testing.assert_allclose([low, high], [min(seen.min(), 0.0), max(seen.max(), 0.0)], rtol=1e-6)


def _changed_calibrator(tmp_path: Path, collect):
    from onnxruntime.quantization import calibrate

    path, _ = _float_model(tmp_path)

    class Changed(calibrate.MinMaxCalibrater):
        def collect_data(self, data_reader):
            collect(self, data_reader)

    return Changed(path, list(qdq.DEFAULT_OP_TYPES), augmented_model_path=str(tmp_path / "augmented.onnx"))


def test_a_calibrator_that_stops_using_our_session_is_refused(tmp_path: Path):
    def own_session(calibrator, reader):
        calibrator.create_inference_session()  # onnxruntime's own session, which cannot run plugin nodes
        for feed in iter(reader.get_next, None):
            calibrator.infer_session.run(None, feed)

    calibrator = _changed_calibrator(tmp_path, own_session)
    path, model = _float_model(tmp_path)
    feeds = qdq._feeds(model, image_data(model, 3, (1, 3, 16, 16), "own session"))
    with pytest.raises(
        MissingDependency, match=r"collect_data ran our session 0 times for 3 samples"
    ) as refused:
        calibrate_through(calibrator, create_session, qdq._reader(feeds), len(feeds))
    assert refused.value.exit_code == 3 and "pip install 'onnxruntime==" in str(refused.value)


def test_a_calibrator_calling_more_of_the_session_is_refused(tmp_path: Path):
    def with_ort_values(calibrator, reader):
        calibrator.infer_session.run_with_ort_values(None, reader.get_next())

    calibrator = _changed_calibrator(tmp_path, with_ort_values)
    path, model = _float_model(tmp_path)
    feeds = qdq._feeds(model, image_data(model, 1, (1, 3, 16, 16), "ort values"))
    with pytest.raises(MissingDependency, match=r"calls infer_session.run_with_ort_values"):
        calibrate_through(calibrator, create_session, qdq._reader(feeds), len(feeds))


def test_a_calibrator_without_a_member_the_adapter_uses_is_refused(tmp_path: Path):
    calibrator = _changed_calibrator(tmp_path, lambda calibrator, reader: None)
    del calibrator.augmented_model_path
    with pytest.raises(MissingDependency, match="has no attribute augmented_model_path"):
        calibrate_through(calibrator, create_session, qdq._reader([]), 0)
