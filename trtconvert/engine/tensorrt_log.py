"""TensorRT's own words during a build or a load: its error lines for a one-line failure, what it is doing for
the build's heartbeat, and everything else only at -vv.

TensorRT logs through polygraphy's logger (polygraphy installs one TensorRT logger per process), so a capture
swaps that logger's output into a handler of ours for the duration of a call and puts it back afterwards.

A heartbeat shows that a long build is alive on every TensorRT version, also before 10 where TensorRT has no
progress monitor: the elapsed time and TensorRT's latest message ("timing Conv_12 (CaskConvolution)"), as one
line rewritten in place on a terminal and as a line every 30 s (TRTCONVERT_HEARTBEAT_SECONDS) in a log file.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from trtconvert import log

_PREFIX_RE = re.compile(r"^\s*\[[A-Z!]\]\s*")
# polygraphy's own closing lines say only that something above went wrong; TensorRT's lines say what.
_GENERIC = ("Invalid Engine", "Could not parse ONNX correctly", "Failed to parse ONNX model")
# TensorRT's verbose lines that name the step in progress, and how the heartbeat words them.
_ACTIVITY = (
    (re.compile(r"Timing Runner: (.+)"), "timing {}"),
    (re.compile(r"Autotuning format combination: (.+)"), "choosing formats {}"),
    (re.compile(r"Constructing optimization profile number (\d+)"), "optimization profile {}"),
    (re.compile(r"(Applying generic optimizations.*|Fusing .+|Engine generation completed.*)"), "{}"),
    (re.compile(r"\[MemUsageChange\] (.+)"), "memory: {}"),
)


def condense(errors: Sequence[str], fallback: str, limit: int = 3) -> str:
    """TensorRT's error lines as one line: specific lines first, duplicates and polygraphy's wrappers dropped."""
    lines: list[str] = []
    for error in errors:
        for line in error.splitlines():
            text = " ".join(line.split())
            if text and text not in lines:
                lines.append(text)
    specific = [line for line in lines if not line.startswith(_GENERIC)]
    chosen = (specific or lines or [fallback])[:limit]
    text = "; ".join(chosen)
    return text if len(text) <= 600 else text[:597] + "..."


def activity_of(message: str) -> str | None:
    """What a TensorRT log line says the build is doing, or None for lines that say nothing about it."""
    for pattern, wording in _ACTIVITY:
        match = pattern.search(message)
        if match:
            return wording.format(match.group(1).strip())[:100]
    return None


@dataclass
class TensorRTLog:
    """What TensorRT said during a capture: its errors, and its latest activity."""

    errors: list[str] = field(default_factory=list)
    activity: str = ""

    def note(self, activity: str) -> None:
        self.activity = activity


class _Collect(logging.Handler):
    def __init__(self, sink: TensorRTLog, echo_from: int | None) -> None:
        super().__init__(level=1)
        self.sink = sink
        self.echo_from = echo_from  # python logging level from which lines are shown, None: none

    def emit(self, record: logging.LogRecord) -> None:
        message = _PREFIX_RE.sub("", record.getMessage()).strip()
        if not message:
            return
        if record.levelno >= logging.ERROR:
            self.sink.errors.append(message)
        else:
            activity = activity_of(message)
            if activity is not None:
                self.sink.note(activity)
        if self.echo_from is not None and record.levelno >= self.echo_from:
            log.LOGGER.debug("          %s", message)


@contextmanager
def tensorrt_messages(activity: TensorRTLog | None = None) -> Iterator[TensorRTLog]:
    """Capture TensorRT's and polygraphy's messages during a call.

    Errors are kept for a one-line failure message. Given ``activity``, messages go there and TensorRT's verbose
    lines are read too, for the heartbeat. Nothing is printed below -v.
    """
    from polygraphy.logger import G_LOGGER

    sink = activity if activity is not None else TensorRTLog()
    python_logger = logging.getLogger("Polygraphy")
    saved = (
        G_LOGGER.module_severity,
        G_LOGGER.use_python_logging_system,
        python_logger.handlers[:],
        python_logger.propagate,
        python_logger.level,
    )
    # -v shows warnings, -vv (polygraphy's severity lowered by log.configure) everything it lowered to.
    shown = (
        min(saved[0].get(), G_LOGGER.WARNING) if log.LOGGER.isEnabledFor(logging.DEBUG) else G_LOGGER.ERROR
    )
    # With activity, TensorRT's VERBOSE lines (its tactic timing) are read but not shown.
    G_LOGGER.module_severity = G_LOGGER.EXTRA_VERBOSE if activity is not None else shown
    G_LOGGER.use_python_logging_system = True
    echo_from = max(shown, 1) if log.LOGGER.isEnabledFor(logging.DEBUG) else None
    python_logger.handlers = [_Collect(sink, echo_from)]
    python_logger.propagate = False
    python_logger.setLevel(1)
    try:
        yield sink
    finally:
        G_LOGGER.module_severity = saved[0]
        G_LOGGER.use_python_logging_system = saved[1]
        python_logger.handlers = saved[2]
        python_logger.propagate = saved[3]
        python_logger.setLevel(saved[4])


def _clock(seconds: float) -> str:
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}s" if minutes else f"{rest}s"


def heartbeat_seconds() -> float:
    """Seconds between heartbeat lines in a log (not a terminal): TRTCONVERT_HEARTBEAT_SECONDS, default 30."""
    try:
        value = float(os.environ.get("TRTCONVERT_HEARTBEAT_SECONDS", "30"))
    except ValueError:
        return 30.0
    return value if 0 < value < 1e6 else 30.0


class Heartbeat:
    """Prints the elapsed time and TensorRT's latest activity while a build runs, from a background thread."""

    def __init__(
        self, source: TensorRTLog, what: str = "build", every: float | None = None, tty: bool | None = None
    ):
        self.source = source
        self.what = what
        self.every = heartbeat_seconds() if every is None else every
        self.tty = sys.stderr.isatty() if tty is None else tty
        self.lines: list[str] = []  # what was printed, for tests
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = 0.0

    def line(self, now: float | None = None) -> str:
        elapsed = (time.perf_counter() if now is None else now) - self._started
        doing = self.source.activity or "starting"
        return f"          {self.what} running {_clock(elapsed)}: {doing}"

    def _run(self) -> None:
        interval = 1.0 if self.tty else self.every
        while not self._stop.wait(interval):
            text = self.line()
            self.lines.append(text)
            if self.tty:
                width = 110
                sys.stderr.write("\r" + text[:width].ljust(width))
                sys.stderr.flush()
            else:
                log.LOGGER.info("%s", text)

    def __enter__(self) -> Heartbeat:
        self._started = time.perf_counter()
        if log.LOGGER.isEnabledFor(logging.INFO):
            self._thread = threading.Thread(target=self._run, name="trtconvert-heartbeat", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            if self.tty and self.lines:
                sys.stderr.write("\r" + " " * 110 + "\r")
                sys.stderr.flush()
