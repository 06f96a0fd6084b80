"""The whole CLI contract, asserted on one run of trtconvert in a fresh process: the exit code is one of the
contract's (never 1), a failure prints exactly one `error:` line and no traceback, every input is byte-identical
afterwards, nothing partial is left beside the outputs, and the run stays within a time and a memory bound.
Shared by the model fuzzer and the fault injector."""

from __future__ import annotations

import hashlib
import resource
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

CONTRACT_CODES = {0, 2, 3, 4, 5}
SECONDS_PER_RUN = 120
# Peak resident memory of any one run: small models must never make a run grow past this.
MAX_RSS_BYTES = 3 << 30


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str


def digests(paths: list[Path]) -> dict[Path, str | None]:
    """sha256 of each file (None where absent), followed by symlinks: what "byte-identical" compares."""
    found: dict[Path, str | None] = {}
    for path in paths:
        try:
            found[path] = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            found[path] = None
    return found


def partial_files(folder: Path) -> list[Path]:
    """Staging folders or files a finished run must not leave (a killed run may: the next run removes them)."""
    if not folder.is_dir():
        return []
    return [p for p in folder.rglob("*") if p.name.endswith(".partial") or ".tmp" in p.name]


def trtconvert(
    args: list[str],
    cwd: Path | None = None,
    timeout: float = SECONDS_PER_RUN,
    env: dict[str, str] | None = None,
) -> Run:
    """One run in a fresh process; stdin is empty (a path '-' must not wait on the terminal), ``env`` replaces
    the environment."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    done = subprocess.run(
        [sys.executable, "-m", "trtconvert", *[str(a) for a in args]],
        cwd=cwd,
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
        env=env,
    )
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    assert peak_kib <= max(before, MAX_RSS_BYTES // 1024), f"a run peaked at {peak_kib // 1024} MiB: {args}"
    return Run(done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace"))


def assert_contract(
    run: Run,
    args: list,
    inputs: list[Path],
    before: dict[Path, str | None],
    outputs: Path,
    codes: set[int] = CONTRACT_CODES,
) -> None:
    """What every run keeps, whatever it was given (``codes`` adds 128 + N where a run was sent signal N)."""
    where = f"trtconvert {' '.join(str(a) for a in args)}\n{run.stderr[-3000:]}"
    assert run.code in codes, f"exit {run.code}: {where}"
    assert "Traceback" not in run.stderr and "internal error" not in run.stderr, where
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == (0 if run.code == 0 else 1), where
    assert digests(inputs) == before, f"an input changed: {where}"
    assert partial_files(outputs) == [], f"left partial: {partial_files(outputs)}: {where}"
