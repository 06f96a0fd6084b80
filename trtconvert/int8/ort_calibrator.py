"""onnxruntime's calibrators run through a session of ours: the one place that leans on their internals.

onnxruntime.quantization offers no public way to calibrate through a session it did not make:
``create_calibrator`` builds its own, which cannot run plugin nodes. Its calibrators (the ``CalibraterBase``
classes) do their work in three methods, ``augment_graph`` (writes the augmented model to
``augmented_model_path``), ``collect_data`` and ``compute_data``, and run the augmented model through the
session in their ``infer_session`` attribute; this adapter puts a session of ours there, one that runs plugin
nodes with the CPU reference.

That is a contract with onnxruntime's code, not its documentation, so it is checked three ways: before
calibrating, the members used must be there (:func:`contract_problems`; a changed calibrator is exit 3 naming
what changed, not a traceback); while calibrating, the session counts its runs, and a calibrator that did not
run the model through it once per sample is refused; and the test suite fails on an onnxruntime newer than
:data:`LAST_CHECKED`, the last release whose calibrate.py was read against this adapter.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from trtconvert.errors import MissingDependency

LAST_CHECKED = (1, 32)  # onnxruntime/quantization/calibrate.py of 1.32.0
_CALIBRATOR_METHODS = ("augment_graph", "collect_data", "compute_data")
_CALIBRATOR_ATTRIBUTES = ("augmented_model_path", "infer_session")


def onnxruntime_version() -> tuple[int, int]:
    import onnxruntime

    major, minor = onnxruntime.__version__.split(".")[:2]
    return int(major), int(minor)


def contract_problems(calibrator: Any) -> list[str]:
    """What an onnxruntime calibrator lacks of what this adapter uses; empty when it is all there."""
    kind = type(calibrator).__name__
    problems = [
        f"{kind}.{name}() is gone"
        for name in _CALIBRATOR_METHODS
        if not callable(getattr(calibrator, name, None))
    ]
    problems += [
        f"{kind} has no attribute {name}" for name in _CALIBRATOR_ATTRIBUTES if not hasattr(calibrator, name)
    ]
    return problems


class _CountingSession:
    """The calibrator's view of our session: only what calibrators call, and how many runs they made."""

    def __init__(self, session: Any) -> None:
        self._session = session
        self.runs = 0

    def run(self, output_names, input_feed, run_options=None):
        self.runs += 1
        return self._session.run(output_names, input_feed, run_options)

    def get_inputs(self):
        return self._session.get_inputs()

    def get_outputs(self):
        return self._session.get_outputs()


def _changed(problem: str) -> MissingDependency:
    import onnxruntime

    return MissingDependency(
        f"onnxruntime {onnxruntime.__version__} changed the calibrator trtconvert drives ({problem}); "
        f"install the release it was checked against: pip install 'onnxruntime=="
        f"{LAST_CHECKED[0]}.{LAST_CHECKED[1]}.*'"
    )


def calibrate_through(calibrator: Any, make_session: Callable[[Path], Any], reader: Any, samples: int) -> Any:
    """Augment ``calibrator``'s model, run it through ``make_session(augmented model path)`` on the ``samples``
    feeds of ``reader`` (a CalibrationDataReader), and return its ``compute_data()`` (a TensorsData)."""
    problems = contract_problems(calibrator)
    if problems:
        raise _changed("; ".join(problems))
    calibrator.augment_graph()
    session = _CountingSession(make_session(Path(calibrator.augmented_model_path)))
    calibrator.infer_session = session
    try:
        calibrator.collect_data(reader)
    except AttributeError as error:
        if not _from_session(error):
            raise
        raise _changed(f"it calls infer_session.{error.name}, which the adapter does not offer") from None
    if session.runs != samples:
        raise _changed(f"collect_data ran our session {session.runs} times for {samples} samples")
    return calibrator.compute_data()


def _from_session(error: AttributeError) -> bool:
    return isinstance(getattr(error, "obj", None), _CountingSession)
