"""Benchmark the CUDA cubic resize kernel against PyTorch's bicubic interpolate and a device-to-device copy.

One process, one table: for every case the kernel's time, PyTorch's time on the same input, and the kernel's
rate in bytes moved (input read once plus output written once) as a fraction of the copy rate, which is
measured in the same run on a large device-to-device copy (bytes read plus written). Times are GPU times of
CUDA-graph replays (medians), so launch overhead on the host does not count for either side.

    python benchmarks/bicubic.py [--lib build/lib/libtrtconvert_kernels.so] [--output results.md]

The kernel library is taken from --lib, TRTCONVERT_KERNELS_LIB, or where `trtconvert plugins build --kernels-only`
puts it (build/lib/).
Needs PyTorch with CUDA.
"""

from __future__ import annotations

import argparse
import ctypes
import datetime
import math
import platform
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from trtconvert.native.build import library_path
from trtconvert.native.kernel_abi import DTYPE_CODES, CubicResizeParams, load_kernel_library
from trtconvert.ops.resize_reference import coordinate_mode_code

REPO = Path(__file__).resolve().parents[1]

# TrtcDataType and TrtcCoordinateMode values (csrc/kernels/cubic_resize.h).
HALF_PIXEL, PYTORCH_HALF_PIXEL, ALIGN_CORNERS = (
    coordinate_mode_code(m) for m in ("half_pixel", "pytorch_half_pixel", "align_corners")
)


@dataclass(frozen=True)
class Case:
    name: str
    in_shape: tuple[int, int, int, int]
    out_hw: tuple[int, int]
    large: bool  # one of the cases the copy-rate target applies to


CASES = [
    Case("8x64x256x256->512x512", (8, 64, 256, 256), (512, 512), True),
    Case("32x32x512x512->1024x1024", (32, 32, 512, 512), (1024, 1024), True),
    Case("8x64x512x512->256x256", (8, 64, 512, 512), (256, 256), True),
    Case("1x3x512x512->2048x2048", (1, 3, 512, 512), (2048, 2048), False),
    Case("1x3x256x256->1024x1024", (1, 3, 256, 256), (1024, 1024), False),
]


def load_library(path: str | None) -> ctypes.CDLL:
    candidates = [path, library_path(kernels_only=True)]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            lib = load_kernel_library(candidate)
            return lib
    sys.exit(
        "error: kernel library not found; build it with `trtconvert plugins build --kernels-only` or pass --lib"
    )


def kernel_call(lib: ctypes.CDLL, x: torch.Tensor, out: torch.Tensor, params: CubicResizeParams):
    planes = math.prod(x.shape[:-2])
    args = (
        x.data_ptr(),
        out.data_ptr(),
        DTYPE_CODES[str(x.dtype).removeprefix("torch.")],
        planes,
        *x.shape[-2:],
        *out.shape[-2:],
    )
    ref = ctypes.byref(params)

    def call() -> None:
        rc = lib.trtc_cubic_resize(*args, ref, torch.cuda.current_stream().cuda_stream)
        if rc != 0:
            raise RuntimeError(f"trtc_cubic_resize returned CUDA error {rc}")

    return call


def gpu_time_ms(fn, target_ms: float = 2.0, replays: int = 15) -> float:
    """Median GPU time of one call: calls are captured in a CUDA graph, whose replays are timed with events."""
    fn()  # warm-up outside the graph: module load, allocator
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    end.record()
    end.synchronize()
    calls = max(1, min(50, int(target_ms / max(start.elapsed_time(end), 1e-3))))
    stream = torch.cuda.Stream()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.stream(stream):
        fn()  # warm-up on the capture stream
        stream.synchronize()
        with torch.cuda.graph(graph, stream=stream):
            for _ in range(calls):
                fn()
    graph.replay()
    torch.cuda.synchronize()
    times = []
    for _ in range(replays):
        start.record()
        graph.replay()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / calls)
    return statistics.median(times)


def copy_rate_gbps(nbytes: int = 1 << 30, repeats: int = 20) -> float:
    """Device-to-device copy rate (cudaMemcpyAsync through torch), counting bytes read plus bytes written.

    Timed on a plain stream, not in a graph: a copy captured in a graph becomes a memcpy node that can run
    on a copy engine at a fraction of the rate. At 1 GiB per copy, launch gaps are negligible.
    """
    src = torch.randint(0, 255, (nbytes,), dtype=torch.uint8, device="cuda")
    dst = torch.empty_like(src)
    dst.copy_(src)
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(5):
        start.record()
        for _ in range(repeats):
            dst.copy_(src)
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / repeats)
    return 2 * nbytes / (statistics.median(times) * 1e-3) / 1e9


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double(), b.double()
    return float(torch.linalg.vector_norm(a - b) / torch.linalg.vector_norm(b))


def environment() -> list[str]:
    props = torch.cuda.get_device_properties(0)
    try:
        driver = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split("\n")[0]
    except (OSError, subprocess.CalledProcessError):
        driver = "unknown"
    return [
        f"- GPU: {props.name} ({props.multi_processor_count} SMs, {props.total_memory / 2**30:.0f} GiB)",
        f"- Driver: {driver}; CUDA runtime of PyTorch: {torch.version.cuda}; PyTorch {torch.__version__}",
        f"- Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; host {platform.node()}",
    ]


def run_case(
    lib, case: Case, dtype: torch.dtype, align_corners: bool, antialias: bool, with_torch: bool
) -> dict:
    x = torch.randn(case.in_shape, device="cuda").to(dtype)
    out = torch.full((*case.in_shape[:2], *case.out_hw), float("nan"), device="cuda", dtype=dtype)
    if antialias:
        # PyTorch's antialiased bicubic is half_pixel with A = -0.5 and taps outside the input dropped.
        params = CubicResizeParams(HALF_PIXEL, -0.5, 1, 1, 0.0, 0.0)
    else:
        params = CubicResizeParams(
            ALIGN_CORNERS if align_corners else PYTORCH_HALF_PIXEL, -0.75, 0, 0, 0.0, 0.0
        )
    ours = kernel_call(lib, x, out, params)
    ours()
    torch.cuda.synchronize()
    if not torch.isfinite(out).all():
        raise RuntimeError(f"{case.name}: unwritten or non-finite outputs")
    nbytes = (x.numel() + out.numel()) * x.element_size()
    row = {"ours_ms": gpu_time_ms(ours), "bytes": nbytes}
    if with_torch:

        def theirs() -> torch.Tensor:
            return F.interpolate(
                x, size=case.out_hw, mode="bicubic", align_corners=align_corners, antialias=antialias
            )

        row["err"] = relative_error(out, theirs())
        row["torch_ms"] = gpu_time_ms(theirs)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lib", help="path of libtrtconvert_kernels.so")
    parser.add_argument("--output", type=Path, help="also write the table (Markdown) to this file")
    parser.add_argument("--cases", nargs="*", help="only the cases whose name contains one of these strings")
    parser.add_argument("--no-torch", action="store_true", help="time the kernel only")
    parser.add_argument("--antialias", action="store_true", help="add antialiased downscale rows")
    parser.add_argument(
        "--profile", action="store_true", help="run the kernel once per case and variant (for a profiler)"
    )
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("error: no CUDA GPU")
    lib = load_library(args.lib)
    if args.profile:
        for case in [c for c in CASES if not args.cases or any(s in c.name for s in args.cases)]:
            for dtype in (torch.float32, torch.float16):
                x = torch.randn(case.in_shape, device="cuda").to(dtype)
                out = torch.empty((*case.in_shape[:2], *case.out_hw), device="cuda", dtype=dtype)
                kernel_call(lib, x, out, CubicResizeParams(PYTORCH_HALF_PIXEL, -0.75, 0, 0, 0.0, 0.0))()
                torch.cuda.synchronize()
                del x, out
        return
    torch.backends.cuda.matmul.allow_tf32 = False

    copy = copy_rate_gbps()
    lines = [
        "# Cubic resize benchmark",
        "",
        *environment(),
        f"- Copy rate (read + write): {copy:.0f} GB/s",
        "",
    ]
    lines += [
        "| case | dtype | align_corners | ours ms | PyTorch ms | speed-up | ours % of copy | PyTorch % of copy | rel. diff |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    variants = [(dt, ac, False) for dt in (torch.float32, torch.float16) for ac in (False, True)]
    cases = [c for c in CASES if not args.cases or any(s in c.name for s in args.cases)]
    todo = [(c, *v) for c in cases for v in variants]
    if args.antialias:
        todo += [
            (c, dt, False, True)
            for c in cases
            if c.out_hw[0] < c.in_shape[2]
            for dt in (torch.float32, torch.float16)
        ]
    for case, dtype, align_corners, antialias in todo:
        row = run_case(lib, case, dtype, align_corners, antialias, not args.no_torch)
        ours_pct = row["bytes"] / (row["ours_ms"] * 1e-3) / 1e9 / copy * 100
        flag = "antialias" if antialias else str(align_corners).lower()
        cells = [case.name, str(dtype).removeprefix("torch."), flag, f"{row['ours_ms']:.4f}"]
        if "torch_ms" in row:
            torch_pct = row["bytes"] / (row["torch_ms"] * 1e-3) / 1e9 / copy * 100
            cells += [f"{row['torch_ms']:.4f}", f"{row['torch_ms'] / row['ours_ms']:.2f}x"]
            cells += [f"{ours_pct:.0f}%", f"{torch_pct:.0f}%", f"{row['err']:.1e}"]
        else:
            cells += ["", "", f"{ours_pct:.0f}%", "", ""]
        lines.append("| " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
        torch.cuda.empty_cache()
    lines += [
        "",
        "Bytes moved: input read once plus output written once. Times: median GPU time per call over CUDA-graph",
        "replays. rel. diff: ||ours - PyTorch|| / ||PyTorch|| on the same input.",
    ]
    table = "\n".join(lines)
    print()
    print(table)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(table + "\n")


if __name__ == "__main__":
    main()
