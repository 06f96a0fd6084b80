"""Benchmark how fast the command line starts: `trtconvert --help` against `polygraphy --help`, and
`trtconvert inspect` of a model against `polygraphy inspect model` of the same file.

Each pair runs in turn (A B A B ...) after one warm-up run of each, every run its own process; the table gives
the median wall and CPU time (user + system, from os.wait4) of each command and the median of the per-pair
ratios A/B, which holds when the machine's speed drifts during the runs.

    python benchmarks/startup.py [--runs 10] [--model /path/to/model.onnx] [--output FILE.md]
                                 [--trtconvert 'python -m trtconvert']

`--trtconvert` times another way of running it, e.g. an older checkout on PYTHONPATH.

Targets: `--help` within 1.5x of polygraphy's, `inspect` no slower than polygraphy's (median ratio at most 1.0).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DEFAULT_MODEL = REPO.parent / "shared" / "models" / "ppocr_v4_det.onnx"


@dataclass(frozen=True)
class Case:
    name: str
    ours: list[str]
    theirs: list[str]
    target: float


@dataclass(frozen=True)
class Run:
    wall_s: float
    cpu_s: float


def run_once(command: list[str]) -> Run:
    begun = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - begun
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {child.returncode}")
    return Run(wall, usage.ru_utime + usage.ru_stime)


def paired(case: Case, runs: int) -> dict:
    run_once(case.ours)
    run_once(case.theirs)
    ours, theirs = [], []
    for _ in range(runs):
        ours.append(run_once(case.ours))
        theirs.append(run_once(case.theirs))
    wall_ratios = [a.wall_s / b.wall_s for a, b in zip(ours, theirs, strict=True)]
    cpu_ratios = [a.cpu_s / b.cpu_s for a, b in zip(ours, theirs, strict=True) if b.cpu_s > 0]
    return {
        "case": case.name,
        "ours_wall": statistics.median(r.wall_s for r in ours),
        "theirs_wall": statistics.median(r.wall_s for r in theirs),
        "ours_cpu": statistics.median(r.cpu_s for r in ours),
        "theirs_cpu": statistics.median(r.cpu_s for r in theirs),
        "wall_ratio": statistics.median(wall_ratios),
        "wall_ratio_range": (min(wall_ratios), max(wall_ratios)),
        "cpu_ratio": statistics.median(cpu_ratios) if cpu_ratios else float("nan"),
        "target": case.target,
    }


def table(rows: list[dict], runs: int) -> list[str]:
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.processor() or platform.platform()}"
    lines = [
        f"Start-up, {datetime.date.today().isoformat()}, {machine}, Python {platform.python_version()}; "
        f"{runs} paired runs after one warm-up each, medians (ratio = median of the per-pair ratios)",
        "",
        "| case | trtconvert wall s | polygraphy wall s | wall ratio (min-max) | trtconvert cpu s | "
        "polygraphy cpu s | cpu ratio | target | met |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in rows:
        low, high = row["wall_ratio_range"]
        lines.append(
            f"| {row['case']} | {row['ours_wall']:.3f} | {row['theirs_wall']:.3f} | {row['wall_ratio']:.2f} "
            f"({low:.2f}-{high:.2f}) | {row['ours_cpu']:.3f} | {row['theirs_cpu']:.3f} | {row['cpu_ratio']:.2f} "
            f"| <= {row['target']:.1f} | {'yes' if row['wall_ratio'] <= row['target'] else 'no'} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="paired runs per case (default 10)")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="model for the inspect case")
    parser.add_argument("--output", type=Path, help="also write the table to this Markdown file")
    parser.add_argument(
        "--trtconvert",
        default=str(BIN / "trtconvert"),
        help="command that runs trtconvert (default: the script)",
    )
    args = parser.parse_args()
    trtconvert, polygraphy = shlex.split(args.trtconvert), str(BIN / "polygraphy")
    cases = [Case("--help", [*trtconvert, "--help"], [polygraphy, "--help"], 1.5)]
    if args.model.is_file():
        model = str(args.model)
        cases.append(
            Case(
                f"inspect {args.model.name}",
                [*trtconvert, "inspect", model],
                [polygraphy, "inspect", "model", model],
                1.0,
            )
        )
    else:
        print(f"{args.model} not found: the inspect case is left out", file=sys.stderr)
    lines = table([paired(case, args.runs) for case in cases], args.runs)
    print("\n".join(lines))
    if args.output:
        args.output.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
