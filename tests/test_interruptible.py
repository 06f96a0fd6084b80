"""Ctrl-C and SIGTERM stop an engine build although TensorRT swallows exceptions raised in its callbacks."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from trtconvert.engine.interruptible import abandoned, call_interruptibly

REPO = Path(__file__).resolve().parents[1]

# A build the way TensorRT runs one from Python: a long native call that calls back into Python (its logger),
# where the binding catches and drops whatever the callback raises, including a signal handler's exception.
BUILD_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from trtconvert.cli import main as cli
    from trtconvert.engine.chain import run_chain
    from trtconvert.engine.interruptible import end_process

    def tensorrt_like_build():
        print("building", flush=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                time.sleep(0.01)  # TensorRT's logger callback
            except BaseException:
                pass
        return b"engine"

    cli._catch_termination()
    try:
        run_chain(tensorrt_like_build)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        end_process(130)
    except cli.Terminated as stop:
        print("stopped", flush=True)
        end_process(128 + stop.signum)
    print("built to the end", flush=True)
    """
)


@pytest.mark.parametrize(
    ("signum", "code", "said"), [(signal.SIGTERM, 143, "stopped"), (signal.SIGINT, 130, "interrupted")]
)
def test_a_signal_stops_a_build_whose_callbacks_swallow_exceptions(signum, code, said) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", BUILD_SCRIPT],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A shell without job control starts background jobs with SIGINT ignored, and Python then keeps it
        # ignored: give the child the default, as an interactive run has.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert child.stdout.readline().strip() == "building"
        time.sleep(0.5)
        child.send_signal(signum)
        started = time.monotonic()
        out, err = child.communicate(timeout=20)
    finally:
        if child.poll() is None:
            child.kill()
    assert time.monotonic() - started < 5, "the build ran on after the signal"
    assert child.returncode == code, err
    assert said in out and "built to the end" not in out


def test_the_result_and_the_exception_of_the_call_reach_the_caller() -> None:
    assert call_interruptibly(lambda: b"engine") == b"engine"

    def failing() -> bytes:
        raise ValueError("no engine")

    with pytest.raises(ValueError, match="no engine"):
        call_interruptibly(failing)
    assert not abandoned()


def test_off_the_main_thread_the_call_runs_where_it_is_made() -> None:
    """Two builds in worker threads at once: each gets its own result, computed on its own thread."""
    start = threading.Barrier(2)
    results: dict[str, tuple[str, str]] = {}

    def build(name: str) -> None:
        start.wait()
        results[name] = call_interruptibly(lambda: (name, threading.current_thread().name), "TensorRT build")

    threads = [threading.Thread(target=build, args=(name,), name=f"worker {name}") for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {"a": ("a", "worker a"), "b": ("b", "worker b")}
    # On the main thread the call moves to a worker of the given name, so that signals can stop the wait.
    assert call_interruptibly(lambda: threading.current_thread().name, "TensorRT build") == "TensorRT build"
    assert not abandoned()
