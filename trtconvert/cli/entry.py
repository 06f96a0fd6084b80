"""The console entry point, importing nothing heavy itself: Ctrl-C, SIGTERM or SIGHUP that arrive while the
libraries load (about a second, before any file is touched) end the run with one error line and the signal's
exit code, as they do later, instead of a traceback from deep inside an import."""

from __future__ import annotations

import contextlib
import os
import signal

_STOPPING = ("SIGINT", "SIGTERM", "SIGHUP")


def _stop_while_loading(signum: int, _frame: object) -> None:
    what = "interrupted" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"
    with contextlib.suppress(OSError):
        os.write(2, f"error: {what}; nothing was written\n".encode())
    os._exit(130 if signum == signal.SIGINT else 128 + signum)


def main() -> None:
    for name in _STOPPING:
        number = getattr(signal, name, None)
        # A signal ignored by whoever started us (nohup ignores SIGHUP) stays ignored.
        if number is not None and signal.getsignal(number) is not signal.SIG_IGN:
            signal.signal(number, _stop_while_loading)
    from trtconvert.cli.main import main as run

    try:
        run()  # replaces these handlers with its own (never restores the defaults: a signal pending then is lost)
    finally:
        # The run has ended and chosen its exit code: a stop signal arriving during the interpreter's exit,
        # when its default action is back, must not turn that code into death by a signal.
        for name in _STOPPING:
            number = getattr(signal, name, None)
            if number is not None:
                signal.signal(number, signal.SIG_IGN)
