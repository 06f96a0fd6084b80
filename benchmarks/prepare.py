"""Benchmark `trtconvert prepare` against `polygraphy surgeon sanitize --fold-constants`: time and peak memory.

Every command runs as its own process, several times; the table shows the median wall time and the median
peak resident memory (ru_maxrss of that child, from os.wait4). Models: the real models in the shared models
folder, and two generated models with float32 weights stored as external data and constant subgraphs to
fold: one with more than 2 GB but less than 2 GiB of weights (protobuf's limit for one message, so a tool may
still hold the whole model in one message), one with more than 2 GiB.

    python benchmarks/prepare.py [--runs 3] [--skip-large] [--output benchmarks/results/prepare.md]

Targets: trtconvert within 1.2x of polygraphy's time and peak memory on every model, and peak memory on the
large models under 2.5x their weight size. Both tools run without rewrites (`--rewrite none`): sanitize does
none either.

A child's ru_maxrss starts from its parent's peak (Linux carries the high-water mark across fork and exec),
so this process stays small: it never imports numpy or onnx, and the model is generated and described in
child processes.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_MODELS = REPO.parent / "shared" / "models"
BIN = Path(sys.executable).parent
TIME_TARGET = 1.2
MEMORY_TARGET = 1.2
LARGE_MEMORY_PER_WEIGHT = 2.5
MB = 1e6

# Generated models, (hidden, layers): `layers` MatMuls with hidden x hidden float32 weights. The first has
# more than 2 GB of weights but less than 2 GiB, the protobuf limit for one message in memory; the second
# is over 2 GiB, where a tool must never hold the whole model in one message.
LARGE_MODELS = ((4096, 31), (8192, 9))


# ---------------------------------------------------------------- child-process helpers (import numpy/onnx)


def generate_large_model(path: Path, hidden: int, layers: int) -> None:
    """Write a model whose weights go straight to `<name>.data`, one tensor at a time, to keep memory low.

    Folding has work to do: layer 0's weight is stored transposed behind a Transpose node (a fold of a
    whole weight through onnxruntime), every bias is a constant times a scale, and the Reshape shape is
    computed from the Shape of a weight.
    """
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    data_name = f"{path.name}.data"
    rng = np.random.default_rng(0)
    initializers: list[onnx.TensorProto] = []
    nodes: list[onnx.NodeProto] = []
    offset = 0
    with open(path.parent / data_name, "wb") as data:

        def external(name: str, array: np.ndarray) -> None:
            nonlocal offset
            raw = np.ascontiguousarray(array).tobytes()
            data.write(raw)
            tensor = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=array.shape)
            tensor.data_location = TensorProto.EXTERNAL
            for key, value in (("location", data_name), ("offset", offset), ("length", len(raw))):
                tensor.external_data.add(key=key, value=str(value))
            initializers.append(tensor)
            offset += len(raw)

        scale = 1.0 / np.sqrt(hidden)
        for layer in range(layers):
            weight = rng.standard_normal((hidden, hidden), dtype=np.float32) * np.float32(scale)
            if layer == 0:
                external("w0_t", weight.T)
                nodes.append(
                    helper.make_node("Transpose", ["w0_t"], ["w0"], name="w0_transpose", perm=[1, 0])
                )
            else:
                external(f"w{layer}", weight)
            del weight
            initializers.append(
                numpy_helper.from_array(rng.standard_normal(hidden).astype(np.float32), f"b{layer}_raw")
            )
    initializers.append(numpy_helper.from_array(np.array(0.5, dtype=np.float32), "bias_scale"))
    initializers.append(numpy_helper.from_array(np.array([-1], dtype=np.int64), "minus_one"))
    initializers.append(numpy_helper.from_array(np.array([1], dtype=np.int64), "one"))
    nodes += [
        helper.make_node("Shape", ["w1"], ["w1_shape"], name="w1_shape"),
        helper.make_node("Gather", ["w1_shape", "one"], ["width"], name="width"),
        helper.make_node("Concat", ["minus_one", "width"], ["flat_shape"], name="flat_shape", axis=0),
        helper.make_node("Reshape", ["x", "flat_shape"], ["h0"], name="flatten"),
    ]
    for layer in range(layers):
        nodes += [
            helper.make_node("Mul", [f"b{layer}_raw", "bias_scale"], [f"b{layer}"], name=f"b{layer}_scale"),
            helper.make_node("MatMul", [f"h{layer}", f"w{layer}"], [f"m{layer}"], name=f"matmul{layer}"),
            helper.make_node("Add", [f"m{layer}", f"b{layer}"], [f"a{layer}"], name=f"bias{layer}"),
            helper.make_node("Relu", [f"a{layer}"], [f"h{layer + 1}"], name=f"relu{layer}"),
        ]
    graph = helper.make_graph(
        nodes,
        path.stem,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", hidden])],
        [helper.make_tensor_value_info(f"h{layers}", TensorProto.FLOAT, ["batch", hidden])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save_model(model, str(path))
    onnx.checker.check_model(str(path))


def describe_model(path: Path) -> dict:
    """Weight bytes (initializers and Constant tensors, external data included) and node count."""
    import numpy as np
    import onnx
    from onnx import helper

    model = onnx.load(str(path), load_external_data=False)

    def nbytes(tensor: onnx.TensorProto) -> int:
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            return int({e.key: e.value for e in tensor.external_data}.get("length", 0))
        itemsize = np.dtype(helper.tensor_dtype_to_np_dtype(tensor.data_type)).itemsize
        return int(np.prod(tensor.dims, dtype=np.int64)) * itemsize

    tensors = list(model.graph.initializer)
    for node in model.graph.node:
        tensors += [a.t for a in node.attribute if a.type == onnx.AttributeProto.TENSOR]
    external = any(t.data_location == onnx.TensorProto.EXTERNAL for t in tensors)
    return {"weights": sum(nbytes(t) for t in tensors), "nodes": len(model.graph.node), "external": external}


# ---------------------------------------------------------------- the measuring side (stays small)


@dataclass
class Measurement:
    model: str
    weights: int
    tool: str
    seconds: float = 0.0
    cpu: float = 0.0  # user + system seconds
    peak: int = 0  # bytes
    failure: str = ""  # the last line the tool printed, when it failed


def child_json(*args: str) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True, cwd=REPO
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_measured(command: list[str], log_path: Path) -> tuple[float, float, int, str]:
    """Run one command; return its wall time, CPU time, peak RSS in bytes and, if it failed, why."""
    with open(log_path, "wb") as log_file:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, cwd=REPO)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    failure = ""
    if code != 0:
        lines = [line.strip() for line in log_path.read_text(errors="replace").splitlines() if line.strip()]
        failure = f"exit {code}: {lines[-1] if lines else 'no output'}"
    cpu = usage.ru_utime + usage.ru_stime
    return seconds, cpu, usage.ru_maxrss * 1024, failure  # Linux reports ru_maxrss in KiB


def commands(model: Path, out_dir: Path, external: bool) -> dict[str, list[str]]:
    ours = [str(BIN / "trtconvert"), "prepare", str(model), "-o", str(out_dir / "trtconvert.onnx")]
    ours += ["--rewrite", "none"]
    theirs = [str(BIN / "polygraphy"), "surgeon", "sanitize", "--fold-constants", str(model)]
    theirs += ["-o", str(out_dir / "polygraphy.onnx")]
    if external:
        theirs += ["--external-data-dir", str(model.parent), "--save-external-data", "polygraphy.onnx.data"]
        theirs += ["--external-data-size-threshold", "1024"]
    return {"trtconvert": ours, "polygraphy": theirs}


def bench_model(model: Path, runs: int, work: Path) -> list[Measurement]:
    info = child_json("--describe", str(model))
    name = model.stem
    out_dir = work / f"out_{name}"
    samples: dict[str, list[tuple[float, float, int]]] = {"trtconvert": [], "polygraphy": []}
    failures: dict[str, str] = {}
    tools = list(commands(model, out_dir, info["external"]).items())
    for run in range(runs):
        # Alternate the order so neither tool always runs on the warmer page cache.
        for tool, command in tools if run % 2 == 0 else reversed(tools):
            if tool in failures:
                continue
            out_dir.mkdir(parents=True, exist_ok=True)
            took, cpu, peak, failure = run_measured(command, work / f"{name}.{tool}.{run}.log")
            shutil.rmtree(out_dir)
            state = f"FAILED ({failure})" if failure else ""
            print(
                f"  {name:22s} {tool:10s} run {run + 1}: {took:7.2f} s {peak / MB:8.0f} MB {state}",
                file=sys.stderr,
            )
            if failure:
                failures[tool] = failure
            else:
                samples[tool].append((took, cpu, peak))
    results = []
    for tool, values in samples.items():
        if tool in failures:
            results.append(Measurement(name, info["weights"], tool, failure=failures[tool]))
        else:
            seconds = statistics.median(v[0] for v in values)
            cpu = statistics.median(v[1] for v in values)
            peak = int(statistics.median(v[2] for v in values))
            results.append(Measurement(name, info["weights"], tool, seconds, cpu, peak))
    return results


def table(results: list[Measurement], large: set[str]) -> list[str]:
    lines = [
        "| model | weights | tool | median time | median CPU time | peak memory | time vs polygraphy "
        "| CPU time vs polygraphy | memory vs polygraphy | peak / weights |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    reference = {r.model: r for r in results if r.tool == "polygraphy"}
    for r in results:
        base = reference[r.model]
        head = f"| {r.model} | {r.weights / MB:,.1f} MB | {r.tool} |"
        if r.failure:
            lines.append(f"{head} failed | - | - | - | - | - | - |")
            continue
        compare = not base.failure
        ratios = [
            f"{mine / theirs:.2f}x" if compare else "-"
            for mine, theirs in ((r.seconds, base.seconds), (r.cpu, base.cpu), (r.peak, base.peak))
        ]
        per_weight = f"{r.peak / r.weights:.2f}x" if r.model in large else "-"
        lines.append(
            f"{head} {r.seconds:.2f} s | {r.cpu:.2f} s | {r.peak / MB:,.0f} MB | {' | '.join(ratios)} | {per_weight} |"
        )
    return lines


def verdicts(results: list[Measurement], large: set[str]) -> list[str]:
    reference = {r.model: r for r in results if r.tool == "polygraphy"}
    lines = []
    for r in results:
        if r.failure:
            missed = ": MISSED" if r.tool == "trtconvert" else ""
            lines.append(f"- {r.model}: {r.tool} failed ({r.failure}){missed}")
        if r.tool != "trtconvert" or r.failure:
            continue
        base = reference[r.model]
        checks = []
        if not base.failure:
            checks += [
                ("time", r.seconds / base.seconds, TIME_TARGET, "x polygraphy"),
                ("memory", r.peak / base.peak, MEMORY_TARGET, "x polygraphy"),
            ]
        if r.model in large:
            checks.append(("peak/weights", r.peak / r.weights, LARGE_MEMORY_PER_WEIGHT, "x weights"))
        for what, value, limit, unit in checks:
            state = "met" if value <= limit else "MISSED"
            lines.append(f"- {r.model} {what}: {value:.2f}{unit} (target <= {limit}{unit}): {state}")
    return lines


def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    memory = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024**2:.1f} GiB"
                break
    except OSError:
        pass
    versions = {"python": platform.python_version()}
    for package in ("onnx", "onnxruntime", "polygraphy", "onnx-graphsurgeon", "numpy", "trtconvert"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "absent"
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": memory,
        "os": f"{platform.system()} {platform.release()}",
        "versions": ", ".join(f"{k} {v}" for k, v in versions.items()),
    }


def report(results: list[Measurement], large: set[str], argv: list[str]) -> list[str]:
    facts = machine()
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return [
        f"## {when}",
        "",
        f"- machine: {facts['cpu']}, {facts['cores']} cores, {facts['memory']} RAM, {facts['os']}",
        f"- versions: {facts['versions']}",
        f"- command: `python benchmarks/prepare.py {' '.join(argv)}`".rstrip(" `") + "`",
        "",
        *table(results, large),
        "",
        *verdicts(results, large),
        "",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per tool and model; the median is shown")
    parser.add_argument("--skip-large", action="store_true", help="leave out the generated models over 2 GB")
    parser.add_argument("--models", type=Path, default=SHARED_MODELS, help="folder of .onnx models")
    parser.add_argument("--workdir", type=Path, default=None, help="scratch folder (default: a temp folder)")
    parser.add_argument("--output", type=Path, default=None, help="markdown file to append the results to")
    parser.add_argument("--describe", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--generate", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--shape", type=int, nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.describe:
        print(json.dumps(describe_model(args.describe)))
        return
    if args.generate:
        generate_large_model(args.generate, *args.shape)
        print(json.dumps({"ok": True}))
        return

    models = sorted(args.models.glob("*.onnx")) if args.models.is_dir() else []
    if not models and args.skip_large:
        raise SystemExit(f"no .onnx models in {args.models} and --skip-large given: nothing to measure")
    work = Path(tempfile.mkdtemp(prefix="prepare_bench_", dir=args.workdir))
    results: list[Measurement] = []
    large: set[str] = set()
    try:
        for model in models:
            results += bench_model(model, args.runs, work)
        for hidden, layers in [] if args.skip_large else LARGE_MODELS:
            weights = layers * hidden * hidden * 4
            need = 3 * weights  # the input and both outputs are on disk at once
            free = shutil.disk_usage(work).free
            if free < need * 1.1:
                raise SystemExit(
                    f"{work} has {free / 1e9:.1f} GB free; a large model needs {need / 1e9:.1f} GB"
                )
            source = work / "large"
            source.mkdir()
            path = source / f"generated_{weights / 1e9:.2f}GB.onnx"
            start = time.perf_counter()
            child_json("--generate", str(path), "--shape", str(hidden), str(layers))
            print(f"  generated {path} in {time.perf_counter() - start:.0f} s", file=sys.stderr)
            results += bench_model(path, args.runs, work)
            large.add(path.stem)
            shutil.rmtree(source)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    lines = report(results, large, sys.argv[1:])
    print("\n".join(lines))
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        with open(args.output, "a") as handle:
            handle.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
