"""The one logger of trtconvert and the report line every stage prints.

Stage lines, warnings and errors go to stderr so that `--json` can own stdout (what `inspect` and `doctor`
describe is their output, on stdout).
"""

from __future__ import annotations

import logging
import sys

LOGGER = logging.getLogger("trtconvert")


def configure(verbosity: int) -> None:
    """Set up stderr logging: -1 quiet (warnings and errors), 0 normal, 1+ verbose (debug)."""
    level = logging.WARNING if verbosity < 0 else logging.INFO if verbosity == 0 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    LOGGER.handlers[:] = [handler]
    LOGGER.setLevel(level)
    LOGGER.propagate = False
    _quiet_dependencies(verbosity)


def _quiet_dependencies(verbosity: int) -> None:
    # polygraphy and onnxruntime print warnings about their own internals on every fold; keep them for -v.
    try:
        from polygraphy.logger import G_LOGGER, logger

        # Its missing-colour notice is printed straight to stdout, which would break --json.
        logger.COLORED_MODULE_PRESENT = False
        G_LOGGER.module_severity = G_LOGGER.VERBOSE if verbosity > 1 else G_LOGGER.CRITICAL
    except ImportError:
        pass
    try:
        # graph-surgeon has a logger of its own (its folding warnings), not polygraphy's.
        from onnx_graphsurgeon.logger import G_LOGGER as SURGEON_LOGGER

        SURGEON_LOGGER.severity = SURGEON_LOGGER.VERBOSE if verbosity > 1 else SURGEON_LOGGER.CRITICAL
    except ImportError:
        pass
    try:
        import onnxruntime

        # Below -vv not even its errors: they arrive as exceptions, which become our one error line.
        onnxruntime.set_default_logger_severity(0 if verbosity > 1 else 4)
    except ImportError:
        pass


def stage(name: str, seconds: float, detail: str) -> None:
    """Print one stage's report line: name, wall time, what it did."""
    LOGGER.info("%-9s %7.2f s  %s", name, seconds, detail)
