"""The one logger of trtconvert and the report line every stage prints.

Stage lines, warnings and errors go to stderr so that `--json` can own stdout (what `inspect` and `doctor`
describe is their output, on stdout).
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

LOGGER = logging.getLogger("trtconvert")


# Terminal controls other than newline and tab: a model's names reach stage lines and warnings, and must not
# drive the user's terminal. A newline stays (some reports span lines), but not one that starts a line with
# "error:", which only the error line may.
_TERMINAL_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


class _OneRecordFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = _TERMINAL_CONTROL.sub(lambda m: repr(m.group())[1:-1], super().format(record))
        return text.replace("\nerror:", "\\nerror:")


def configure(verbosity: int, libraries: bool = True) -> None:
    """Set up stderr logging: -1 quiet (warnings and errors), 0 normal, 1+ verbose (debug).

    ``libraries``: also set polygraphy's and onnxruntime's own log levels, which imports them; a command that
    never runs them passes False and starts without their import time.
    """
    level = logging.WARNING if verbosity < 0 else logging.INFO if verbosity == 0 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneRecordFormatter("%(message)s"))
    LOGGER.handlers[:] = [handler]
    LOGGER.setLevel(level)
    LOGGER.propagate = False
    if libraries:
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


# sys.stdout and the root logger belong to the whole process; muting one thread's chatter (onnxruntime's
# quantizer prints progress to stdout, which --json owns, and logs advice through the root logger) must leave
# other threads' output alone, so muted threads are kept in one guarded registry and a stand-in stdout and a
# root-logger filter consult it while any thread is muted.
_mute_lock = threading.Lock()
_muted: dict[int, int] = {}  # thread id -> nesting depth


class _StdoutUnlessMuted:
    """Stands in for sys.stdout while some thread is muted: that thread's writes are dropped."""

    def __init__(self, stream) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        if threading.get_ident() in _muted:
            return len(text)
        return self.stream.write(text)

    def flush(self) -> None:
        if threading.get_ident() not in _muted:
            self.stream.flush()

    def __getattr__(self, name: str):
        return getattr(self.stream, name)


class _RootUnlessMuted(logging.Filter):
    """Drops records below ERROR that a muted thread logs through the root logger."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR or record.thread not in _muted


_ROOT_FILTER = _RootUnlessMuted()
_stdout_stand_in: _StdoutUnlessMuted | None = None


@contextmanager
def muted_in_this_thread() -> Iterator[None]:
    """Drop what this thread prints to stdout and logs below ERROR through the root logger; other threads
    print and log as usual. Everything is put back when the last muted thread leaves."""
    global _stdout_stand_in
    me = threading.get_ident()
    with _mute_lock:
        if not _muted:
            logging.getLogger().addFilter(_ROOT_FILTER)
            _stdout_stand_in = _StdoutUnlessMuted(sys.stdout)
            sys.stdout = _stdout_stand_in
        _muted[me] = _muted.get(me, 0) + 1
    try:
        yield
    finally:
        with _mute_lock:
            _muted[me] -= 1
            if not _muted[me]:
                del _muted[me]
            if not _muted:
                logging.getLogger().removeFilter(_ROOT_FILTER)
                if sys.stdout is _stdout_stand_in:  # else someone replaced it since: theirs stays
                    sys.stdout = _stdout_stand_in.stream
                _stdout_stand_in = None
