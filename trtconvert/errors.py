"""Errors that end a run, each carrying the exit code of the CLI contract.

EXIT_CODES is the one statement of that contract: the README's table is tested against it, and --help's
epilog is made from it. 128 + N is the usual exit status of a run stopped by signal N (130 for Ctrl-C).
"""

from __future__ import annotations

import os
import re
from typing import Any

EXIT_CODES = {
    0: ("ok", "success"),
    1: ("bug", "internal error (a bug: rerun with `--debug` and report the traceback)"),
    2: ("bad input", "bad input or usage: one `error:` line naming the problem and the fix"),
    3: (
        "missing TensorRT/GPU/compiler",
        "the machine lacks what the step needs (TensorRT, a GPU, a compiler), with the way to get it",
    ),
    4: ("verification failed", "verification found outputs out of tolerance"),
    5: ("build failed", "TensorRT failed to build the engine"),
}


# The fix that every "TensorRT is missing" error names (exit 3).
INSTALL_TENSORRT = (
    "on a Linux machine with an NVIDIA GPU and driver run: pip install 'trtconvert[tensorrt]' "
    "(TensorRT 10 or 11 and cuda-python from PyPI; TensorRT 8.5 to 9.x from NVIDIA's packages work too)"
)


class TrtConvertError(Exception):
    """Base of every expected failure; the message is one line that names the problem and the fix."""

    exit_code = 1


class BadInput(TrtConvertError):
    """The user's model, flags or config are wrong."""

    exit_code = 2


class MissingDependency(TrtConvertError):
    """The machine lacks something the step needs (TensorRT, a GPU, a compiler)."""

    exit_code = 3


class VerificationFailed(TrtConvertError):
    """Outputs differ from the reference by more than the tolerance."""

    exit_code = 4

    def __init__(self, message: str, measured: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        # The comparisons that failed, under the keys a passing run's --json report gives them: a --json run
        # prints them beside the error, so that a CI job sees by how much, not only that.
        self.measured = measured or {}


class BuildFailed(TrtConvertError):
    """TensorRT could not build the engine."""

    exit_code = 5


def clipped(text: str, limit: int = 80) -> str:
    """Text the user gave, cut short for an error message, so that no input can make the message huge."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def shown(value: Any, limit: int = 80) -> str:
    """A value for an error message: its repr, cut short."""
    return clipped(repr(value), limit)


MAX_MESSAGE_CHARS = 1000


# Characters that end a line or drive a terminal: a name holding one would split an error into two lines (the
# second could start with "error:") or clear the user's screen. Printed escaped, as Python writes them.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escaped_controls(text: str, keep: str = "") -> str:
    """``text`` with every control character (newlines included) but those in ``keep`` written as an escape."""
    return _CONTROL.sub(lambda m: m.group() if m.group() in keep else repr(m.group())[1:-1], text)


def within_a_line(message: str) -> str:
    """A whole error message on one line (control characters escaped) with its middle left out past
    MAX_MESSAGE_CHARS: whatever the user gave (names, paths, numbers) is echoed somewhere, and the start (what
    failed) and the end (the fix) are what matter."""
    message = escaped_controls(message)
    if len(message) <= MAX_MESSAGE_CHARS:
        return message
    half = MAX_MESSAGE_CHARS // 2
    return f"{message[:half]} [... {len(message) - 2 * half} characters ...] {message[-half:]}"


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def raised_in_trtconvert(error: BaseException) -> bool:
    """Whether ``error`` was raised by trtconvert's own code (the innermost frame of its traceback is ours).

    A library may fail on any model it is given, with whatever type it likes (onnx-graphsurgeon re-raises
    whatever its passes met), so a stage that falls back on a library's failure tells the two apart by where
    the error was raised: an error of ours is a deliberate one or a bug, and neither may be swallowed.
    """
    traceback = error.__traceback__
    if traceback is None:
        return False
    while traceback.tb_next is not None:
        traceback = traceback.tb_next
    return os.path.abspath(traceback.tb_frame.f_code.co_filename).startswith(_PACKAGE_DIR)
