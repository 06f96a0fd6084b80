"""Registers, spills and static shared memory of the four-tap kernels, side by side for several builds.

Reads build logs made with -Xptxas -v (CMake option TRTCONVERT_PTXAS_VERBOSE=ON) and prints one row per
kernel instance (element type, lanes' column grouping, span, word runs, staged) and one column per log:
registers, and spill stores/loads in bytes where there are any. The lean-ring kernel of a build counts as
its staged instance; wide quads have rows of their own.

    python benchmarks/ptxas_registers.py v9=results/build-v9.log R=results/build-R.log
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

TYPES = {"f": "float", "6__half": "half", "13__nv_bfloat16": "bf16"}
ENTRY = re.compile(r"Compiling entry function '(\S+)'")
KERNEL = re.compile(
    r"cubic4_(kernel|lean_kernel|wide_kernel)I(f|6__half|13__nv_bfloat16)Li(\d+)ELi(\d+)E(?:Lb([01])E)?(?:Lb([01])E)?"
)
USAGE = re.compile(r"Used (\d+) registers")
SPILL = re.compile(r"(\d+) bytes spill stores, (\d+) bytes spill loads")


def kernel_name(mangled: str) -> str | None:
    """`half 4x6 staged` style name of a four-tap kernel instance, None for other kernels."""
    match = KERNEL.search(mangled)
    if match is None:
        return None
    kind, dtype, adj, span, words, staged = match.groups()
    staged = "1" if kind in ("lean_kernel", "wide_kernel") else staged
    grouping = ("wide quad" if kind == "wide_kernel" else "quad") if adj == "4" else "pair"
    return f"{TYPES[dtype]} {grouping} span {span}{' words' if words == '1' else ''}{' staged' if staged == '1' else ''}"


def read_log(text: str) -> dict[str, str]:
    """Kernel name -> 'registers' (with ' spill S/L' when it spills), from one ptxas -v log."""
    usage: dict[str, str] = {}
    spills: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        entry = ENTRY.search(line)
        if entry:
            current = kernel_name(entry.group(1))
            continue
        if current is None:
            continue
        spill = SPILL.search(line)
        if spill and spill.groups() != ("0", "0"):
            spills[current] = "/".join(spill.groups())
        used = USAGE.search(line)
        if used:
            usage[current] = used.group(1)
            current = None
    return {name: regs + (f" spill {spills[name]}" if name in spills else "") for name, regs in usage.items()}


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    columns = []
    for arg in sys.argv[1:]:
        label, sep, path = arg.partition("=")
        if not sep:
            label, path = Path(arg).stem, arg
        columns.append((label, read_log(Path(path).read_text(errors="replace"))))
    names = sorted({name for _, table in columns for name in table})
    print("| kernel | " + " | ".join(label for label, _ in columns) + " |")
    print("| --- | " + " | ".join("---" for _ in columns) + " |")
    for name in names:
        print(f"| {name} | " + " | ".join(table.get(name, "-") for _, table in columns) + " |")


if __name__ == "__main__":
    main()
