"""Errors that end a run, each carrying the exit code of the CLI contract.

0 success, 1 internal error (a bug), 2 bad input or usage, 3 the machine lacks what the step needs,
4 verification out of tolerance, 5 TensorRT failed to build.
"""

from __future__ import annotations


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


class BuildFailed(TrtConvertError):
    """TensorRT could not build the engine."""

    exit_code = 5
