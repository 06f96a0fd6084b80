"""`trtconvert bench`: latency and throughput of a plan at each profile's opt shape or at given shapes."""

from __future__ import annotations

from pathlib import Path

import click

from trtconvert.cli.options import (
    EPILOG_CODES,
    StrictCommand,
    echo_lines,
    emit,
    parse_input_flags,
    plugin_option,
    seed_option,
    setup_logging,
)


@click.command(epilog=EPILOG_CODES, cls=StrictCommand)
@click.argument("plan", type=click.Path(path_type=Path))
@plugin_option()
@click.option(
    "--shapes",
    metavar="NAME=SHAPE[,...]",
    default=None,
    help="Time these input shapes, e.g. 'input=1x3x512x512,factor=1x1x1024x1024' (default: the opt shape of "
    "every optimization profile).",
)
@click.option(
    "--iterations",
    type=click.IntRange(1, None),
    default=200,
    show_default=True,
    help="Timed inferences per shape set.",
)
@click.option(
    "--warmup", type=click.IntRange(0, None), default=20, show_default=True, help="Untimed inferences first."
)
@click.option(
    "--input",
    "input_values",
    multiple=True,
    metavar="NAME=VALUE|FILE.npy",
    help="Value for an input where random numbers are meaningless, e.g. --input sr=16000.",
)
@seed_option
@click.option(
    "--cuda-graph",
    is_flag=True,
    help="Capture the inference in a CUDA graph once and time graph launches, as trtexec does by default: "
    "the GPU's work without the host's enqueue.",
)
@click.option(
    "--layers",
    is_flag=True,
    help="Then run the engine with TensorRT's profiler and list each layer's mean time, slowest first, with its "
    "share of the total; plugin layers are marked (their types need a plan built with detailed profiling "
    "verbosity, trtconvert's default).",
)
@click.option(
    "--compare",
    type=click.Path(path_type=Path),
    metavar="PLAN2",
    default=None,
    help="Also time PLAN2 on the same inputs at the same shapes, side by side, with the ratio of medians "
    "(e.g. the plugin against TensorRT's cubic Resize, fp16 against fp32). Its inputs must match PLAN's.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one machine-readable JSON report on stdout.")
@click.option("-v", "--verbose", count=True, help="More detail; -vv adds polygraphy's and TensorRT's logs.")
@click.option("-q", "--quiet", is_flag=True, help="Only the table (or the JSON report), warnings and errors.")
@click.option("--debug", is_flag=True, help="Show the traceback of an error.")
def bench(
    plan,
    plugins,
    shapes,
    iterations,
    warmup,
    input_values,
    seed,
    cuda_graph,
    layers,
    compare,
    as_json,
    verbose,
    quiet,
    debug,
) -> None:
    """Time PLAN on the GPU: per-inference GPU time (median, p90, p99, mean, min, max, from CUDA events around
    each inference after a warm-up) and throughput (inferences enqueued back to back), at the opt shape of each
    optimization profile or at --shapes. --cuda-graph times CUDA graph launches, --layers adds each layer's
    time, --compare PLAN2 times a second plan on the same inputs (--plugin libraries serve both).

    \b
    Example:
      trtconvert bench model.plan
      trtconvert bench model.plan --plugin build/lib/libtrtconvert_plugins.so --shapes 'input=1x3x512x512' --json
      trtconvert bench model.plan --cuda-graph --layers
      trtconvert bench plugin.plan --compare native.plan --plugin build/lib/libtrtconvert_plugins.so
    """
    setup_logging(verbose, quiet)
    from trtconvert.engine.bench import BenchOptions, BenchRequest, format_bench, run_bench

    report = run_bench(
        BenchRequest(
            plan,
            plugins=list(plugins),
            shapes=shapes,
            options=BenchOptions(iterations, warmup, cuda_graph=cuda_graph, layers=layers),
            input_values=parse_input_flags(input_values),
            seed=seed,
            compare=compare,
        )
    )
    if as_json:
        emit(report, True)
    else:
        echo_lines(format_bench(report))
