"""TensorRT's own words during a build or a load: its error lines for a one-line failure, what it is doing for
the build's heartbeat, and everything else only at -vv.

TensorRT logs through polygraphy's logger (polygraphy installs one TensorRT logger per process), so a capture
swaps that logger's output into a handler of ours for the duration of a call and puts it back afterwards.
That logger is the process's, and captures may be open at once in several threads (a worker pool's builds):
the first capture routes it into one handler and the last puts it back, with one guarded registry of the open
captures between them. Each record goes to the capture of the context that logged it (a context variable,
which ``call_interruptibly`` carries to the thread that runs a build); a record from a thread TensorRT started
itself, whose capture cannot be told, goes to every open capture. Polygraphy's severity is the most verbose
that an open capture asks for, and each capture keeps only what it asked for.

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
from contextvars import ContextVar
from dataclasses import dataclass, field

from trtconvert import log

_PREFIX_RE = re.compile(r"^\s*\[[A-Z!]\]\s*")
# polygraphy's own closing lines say only that something above went wrong; TensorRT's lines say what.
# The ONNX parser's source position before each of its lines ("ModelImporter.cpp:726: ").
_SOURCE_PREFIX_RE = re.compile(r"^[A-Za-z_]\w*\.cpp:\d+: ")
# Lines that say what went wrong, as opposed to where or what happened next.
_CAUSE_RE = re.compile(r"^\[\d+\] |Assertion failed|Error Code \d+|ERROR: ")
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
    """TensorRT's error lines as one line: duplicates, polygraphy's wrappers and the ONNX parser's dump of the
    failing node dropped; the line naming the node first, then the lines saying what is wrong (the parser's
    "[8] Assertion failed: ..." comes last in its log), then the rest."""
    lines: list[str] = []
    in_node_dump = False
    for error in errors:
        for line in error.splitlines():
            text = _SOURCE_PREFIX_RE.sub("", " ".join(line.split()))
            if text.endswith("--- Begin node ---") or text.endswith("--- End node ---"):
                in_node_dump = text.endswith("Begin node ---")
                continue
            if text and not in_node_dump and text not in lines:
                lines.append(text)
    specific = [line for line in lines if not line.startswith(_GENERIC)]
    ranked = sorted(
        specific,
        key=lambda line: 0 if line.startswith("While parsing node") else 1 if _CAUSE_RE.search(line) else 2,
    )
    chosen = (ranked or lines or [fallback])[:limit]
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
    def __init__(self, sink: TensorRTLog, echo_from: int | None, severity: int) -> None:
        super().__init__(level=_python_level(severity))
        self.sink = sink
        self.echo_from = echo_from  # python logging level from which lines are shown, None: none
        self.severity = severity  # polygraphy's severity this capture asks for

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


def _python_level(severity: int) -> int:
    """The Python logging level polygraphy logs a severity at (its levels at or below 0 become 2, 4 and 6)."""
    return severity if severity > 0 else {-20: 2, -10: 4, 0: 6}.get(severity, 1)


class _Route(logging.Handler):
    """The one handler of polygraphy's Python logger while captures are open (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__(level=1)

    def emit(self, record: logging.LogRecord) -> None:
        capture = _current.get()
        if capture is not None:
            targets = [capture]
        else:
            with _route_lock:
                targets = list(_routing.captures) if _routing is not None else []
        for target in targets:
            if record.levelno >= target.level:
                target.handle(record)


@dataclass
class _Routing:
    saved: tuple  # polygraphy's severity, use_python_logging_system, and its Python logger's state, before
    captures: list[_Collect]


_route_lock = threading.Lock()
_routing: _Routing | None = None
_current: ContextVar[_Collect | None] = ContextVar("trtconvert_tensorrt_capture", default=None)


@contextmanager
def tensorrt_messages(activity: TensorRTLog | None = None) -> Iterator[TensorRTLog]:
    """Capture TensorRT's and polygraphy's messages during a call, in this context (see the module docstring).

    Errors are kept for a one-line failure message. Given ``activity``, messages go there and TensorRT's verbose
    lines are read too, for the heartbeat. Nothing is printed below -v.
    """
    global _routing
    from polygraphy.logger import G_LOGGER

    sink = activity if activity is not None else TensorRTLog()
    python_logger = logging.getLogger("Polygraphy")
    with _route_lock:
        saved = (
            _routing.saved
            if _routing is not None
            else (
                G_LOGGER.module_severity,
                G_LOGGER.use_python_logging_system,
                python_logger.handlers[:],
                python_logger.propagate,
                python_logger.level,
            )
        )
        # -v shows warnings, -vv (polygraphy's severity lowered by log.configure) everything it lowered to.
        debug = log.LOGGER.isEnabledFor(logging.DEBUG)
        shown = min(saved[0].get(), G_LOGGER.WARNING) if debug else G_LOGGER.ERROR
        # With activity, TensorRT's VERBOSE lines (its tactic timing) are read but not shown.
        severity = G_LOGGER.EXTRA_VERBOSE if activity is not None else shown
        capture = _Collect(sink, max(shown, 1) if debug else None, severity)
        if _routing is None:
            _routing = _Routing(saved, [])
            G_LOGGER.use_python_logging_system = True
            python_logger.handlers = [_Route()]
            python_logger.propagate = False
            python_logger.setLevel(1)
        _routing.captures.append(capture)
        G_LOGGER.module_severity = min(c.severity for c in _routing.captures)
    token = _current.set(capture)
    try:
        yield sink
    finally:
        _current.reset(token)
        with _route_lock:
            _routing.captures.remove(capture)
            if _routing.captures:
                G_LOGGER.module_severity = min(c.severity for c in _routing.captures)
            else:
                G_LOGGER.module_severity = saved[0]
                G_LOGGER.use_python_logging_system = saved[1]
                python_logger.handlers = saved[2]
                python_logger.propagate = saved[3]
                python_logger.setLevel(saved[4])
                _routing = None


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
