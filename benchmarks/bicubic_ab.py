"""Time several builds of the CUDA cubic kernel against each other in one process, bit for bit.

Each library is a build of the same source with another four-tap variant (CMake option
TRTCONVERT_CUBIC_VARIANT; csrc/kernels/NOTES.md, "v10 candidates"). The first --lib is the baseline. For
every case all builds run on the same input; each output must equal the baseline's bit for bit (a build
that differs is reported in that row, left untimed there, and the script exits with 1 at the end), then the
builds are timed in interleaved rounds (the order rotates from round to round), so
that clocks, temperature and buffers drift alike for all of them. Times are GPU times of CUDA-graph replays
(medians), as in bicubic.py; % of copy is the rate in bytes moved (input once plus output once) against a
device-to-device copy measured in the same run.

    python benchmarks/bicubic_ab.py --lib v9=build/v9/kernels/libtrtconvert_kernels.so \\
        --lib C=build/C/kernels/libtrtconvert_kernels.so [--rounds 3] [--output ab.md]

A candidate's cell is marked `faster` when its slowest round beats the baseline's fastest by more than 1%,
`slower` the other way round, and left plain within the spread. Needs PyTorch with CUDA.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bicubic import (  # noqa: E402  (the benchmark beside this file)
    ALIGN_CORNERS,
    CASES,
    PYTORCH_HALF_PIXEL,
    Case,
    copy_rate_gbps,
    environment,
    gpu_time_ms,
    kernel_call,
)

from trtconvert.native.kernel_abi import CubicResizeParams, load_kernel_library  # noqa: E402

# Bit patterns of each dtype: outputs are compared as integers, so NaN and -0.0 count too.
BITS = {torch.float32: torch.int32, torch.float16: torch.int16, torch.bfloat16: torch.int16}
MARGIN = 0.01  # a difference under 1% is not called, whatever the spread


def parse_libraries(specs: list[str]) -> list[tuple[str, Path]]:
    libraries = []
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            sys.exit(
                f"error: --lib {spec!r}: write NAME=PATH, e.g. --lib v9=build/v9/kernels/libtrtconvert_kernels.so"
            )
        if not Path(path).is_file():
            sys.exit(
                f"error: --lib {spec!r}: no such file; build the variant first (benchmarks/run_gpu_checks.sh)"
            )
        libraries.append((name, Path(path)))
    if len({name for name, _ in libraries}) != len(libraries):
        sys.exit("error: --lib names must differ")
    return libraries


def verdict(base: list[float], times: list[float]) -> str:
    if max(times) < min(base) * (1 - MARGIN):
        return "faster"
    if min(times) > max(base) * (1 + MARGIN):
        return "slower"
    return ""


def run_case(
    libs: list[tuple[str, object]], case: Case, dtype: torch.dtype, align_corners: bool, rounds: int
) -> tuple[dict[str, list[float]], dict[str, str]]:
    """All builds on one input: outputs compared with the baseline's, then the equal ones timed in interleaved
    rounds. Returns the times and, for builds whose outputs differ, how many differ."""
    x = torch.randn(case.in_shape, device="cuda").to(dtype)
    params = CubicResizeParams(ALIGN_CORNERS if align_corners else PYTORCH_HALF_PIXEL, -0.75, 0, 0, 0.0, 0.0)
    shape = (*case.in_shape[:2], *case.out_hw)
    reference = torch.full(shape, float("nan"), device="cuda", dtype=dtype)
    kernel_call(libs[0][1], x, reference, params)()
    torch.cuda.synchronize()
    if not torch.isfinite(reference).all():
        raise RuntimeError(f"{case.name} {dtype}: {libs[0][0]} left outputs unwritten or not finite")
    out = torch.empty(shape, device="cuda", dtype=dtype)
    differs: dict[str, str] = {}
    for name, lib in libs[1:]:
        out.fill_(float("nan"))
        try:
            kernel_call(lib, x, out, params)()
        except RuntimeError as error:  # a CUDA error the call returned: this build fails this row
            differs[name] = f"FAILED ({error})"
            print(f"{case.name} {dtype}: {name} {differs[name]}", file=sys.stderr, flush=True)
            continue
        torch.cuda.synchronize()
        same = out.view(BITS[dtype]) == reference.view(BITS[dtype])
        if not bool(same.all()):
            differs[name] = f"DIFFERS in {int((~same).sum())} of {same.numel()} outputs"
            print(
                f"{case.name} {dtype}: {name} {differs[name]} from {libs[0][0]}", file=sys.stderr, flush=True
            )
    del reference
    timed = [(name, lib) for name, lib in libs if name not in differs]
    calls = {name: kernel_call(lib, x, out, params) for name, lib in timed}
    times: dict[str, list[float]] = {name: [] for name, _ in timed}
    names = [name for name, _ in timed]
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            times[name].append(gpu_time_ms(calls[name]))
    return times, differs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--lib", action="append", required=True, help="NAME=PATH of a build; the first is the baseline"
    )
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per case (default 3)")
    parser.add_argument("--cases", nargs="*", help="only the cases whose name contains one of these strings")
    parser.add_argument("--output", type=Path, help="also write the table (Markdown) to this file")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("error: no CUDA GPU")
    named = parse_libraries(args.lib)
    libs = [(name, load_kernel_library(path)) for name, path in named]
    base = named[0][0]

    copy = copy_rate_gbps()
    lines = [
        "# Cubic kernel builds, same process",
        "",
        *environment(),
        f"- Copy rate (read + write): {copy:.0f} GB/s",
        "- Builds: " + ", ".join(f"{name} ({path})" for name, path in named),
        f"- {args.rounds} interleaved rounds per case; cells: median ms (min-max), % of the copy rate, and the"
        f" change against {base}",
        "",
        "| case | dtype | " + " | ".join(name for name, _ in named) + " |",
        "| --- | --- | " + " | ".join("---:" for _ in named) + " |",
    ]
    print("\n".join(lines), flush=True)
    todo = [(c, dt, False) for c in CASES for dt in (torch.float32, torch.float16)]
    todo += [(c, torch.float16, True) for c in CASES if c.name.startswith("32x32")]
    if args.cases:
        todo = [t for t in todo if any(s in t[0].name for s in args.cases)]
    failed = False
    for case, dtype, align_corners in todo:
        times, differs = run_case(libs, case, dtype, align_corners, args.rounds)
        failed = failed or bool(differs)
        nbytes = (
            (case.in_shape[0] * case.in_shape[1])
            * (case.in_shape[2] * case.in_shape[3] + case.out_hw[0] * case.out_hw[1])
            * torch.empty((), dtype=dtype).element_size()
        )
        cells = []
        for name, _ in named:
            if name in differs:
                cells.append(differs[name])
                continue
            t = times[name]
            median = statistics.median(t)
            pct = nbytes / (median * 1e-3) / 1e9 / copy * 100
            cell = f"{median:.4f} ({min(t):.4f}-{max(t):.4f}), {pct:.0f}%"
            if name != base:
                change = median / statistics.median(times[base]) - 1
                mark = verdict(times[base], t)
                cell += f", {change:+.1%}" + (f" {mark}" if mark else "")
            cells.append(cell)
        label = case.name + (", align_corners" if align_corners else "")
        lines.append(f"| {label} | {str(dtype).removeprefix('torch.')} | " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
        torch.cuda.empty_cache()
    lines += [
        "",
        f"Outputs compared bit for bit with {base}'s on every row before timing: "
        + ("some DIFFER (see the rows)." if failed else "all equal."),
    ]
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text("\n".join(lines) + "\n")
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
