"""Long native calls that Ctrl-C, SIGTERM and SIGHUP can still stop.

Python runs signal handlers on the main thread at its next bytecode. During a TensorRT build that is inside
TensorRT's logger callback, whose binding catches and drops every exception: the KeyboardInterrupt or
`Terminated` is lost and the build carries on for minutes. So the call runs on a worker thread while the main
thread waits, where the signal's exception is raised and unwinds as usual (staged outputs and temporary
folders removed). The abandoned worker cannot be stopped; the process then ends at once, without waiting
for it (`end_process`).

Signals reach the main thread only, so a call made on any other thread (a worker pool's build) runs right
there. Abandoned workers are one registry for the whole process, guarded by a lock, because what they block is
the process's own exit.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import sys
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

_abandoned_lock = threading.Lock()
_abandoned: list[threading.Thread] = []


def call_interruptibly(function: Callable[[], T], name: str = "native call") -> T:
    """``function()`` on a worker thread; its result or its exception, or the main thread's signal.
    Off the main thread, which no signal interrupts, ``function()`` runs on the calling thread."""
    if threading.current_thread() is not threading.main_thread():
        return function()
    outcome: dict[str, object] = {}

    def work() -> None:
        try:
            outcome["value"] = function()
        except BaseException as err:  # handed to the waiting thread, which re-raises it
            outcome["error"] = err

    # The worker runs in a copy of this context: what the call's context holds (whose TensorRT messages these
    # are, see tensorrt_log) holds there too.
    context = contextvars.copy_context()
    worker = threading.Thread(target=context.run, args=(work,), name=name, daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.2)
    except BaseException:
        if worker.is_alive():
            with _abandoned_lock:
                _abandoned[:] = [w for w in _abandoned if w.is_alive()] + [worker]
        raise
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


def abandoned() -> bool:
    """Whether a native call is still running that the process gave up waiting for."""
    with _abandoned_lock:
        return any(worker.is_alive() for worker in _abandoned)


def end_process(code: int) -> None:
    """sys.exit, except with an abandoned native call: flush and leave without waiting for it, since
    interpreter shutdown with a thread still inside TensorRT can hang or crash."""
    if abandoned():
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(code)
    sys.exit(code)
