"""`trtconvert verify`: run a plan and the original ONNX on the same inputs and compare every output."""

from __future__ import annotations

from pathlib import Path

import click

from trtconvert.cli.options import (
    EPILOG_CODES,
    INPUT_HELP,
    FiniteFloat,
    StrictCommand,
    emit,
    parse_input_flags,
    plugin_option,
    report_options,
    seed_option,
    setup_logging,
)


@click.command(epilog=EPILOG_CODES, cls=StrictCommand)
@click.argument("plan", type=click.Path(path_type=Path))
@click.option(
    "--onnx",
    "onnx_path",
    type=click.Path(path_type=Path),
    metavar="MODEL.onnx",
    help="The original model the plan was built from (the reference, run by onnxruntime).",
)
@plugin_option()
@click.option(
    "--atol",
    multiple=True,
    metavar="[OUTPUT=]VALUE",
    help="Absolute tolerance for every output, or OUTPUT=VALUE for one (default by the plan's precision: "
    "1e-4 fp32 built with --no-tf32, 2e-2 fp32 with TF32 and fp16, 1e-1 bf16, 5e-2 int8).",
)
@click.option(
    "--rtol",
    multiple=True,
    metavar="[OUTPUT=]VALUE",
    help="Relative tolerance for every output, or OUTPUT=VALUE for one (default: 1e-3 fp32 with --no-tf32, "
    "2e-2 fp32 with TF32 and fp16, 5e-2 bf16 and int8).",
)
@click.option(
    "--input",
    "input_values",
    multiple=True,
    metavar="NAME=VALUE|FILE.npy",
    help=INPUT_HELP,
)
@click.option(
    "--int8-min-within",
    type=FiniteFloat(0, 1),
    default=0.99,
    show_default=True,
    metavar="FRACTION",
    help="For int8 plans: the share of each output's elements that must be within tolerance.",
)
@seed_option
@report_options
def verify(
    plan, onnx_path, plugins, atol, rtol, input_values, int8_min_within, seed, as_json, verbose, quiet, debug
) -> None:
    """Run PLAN (TensorRT, on the GPU) and the original model (onnxruntime, on the CPU) on the same inputs at
    the min, opt and max shapes of every optimization profile, and compare each output.

    Out of tolerance exits 4. Where TensorRT is absent the onnxruntime side still runs, then it exits 3.

    \b
    Example:
      trtconvert verify model.plan --onnx model.onnx
      trtconvert verify model.plan --onnx model.onnx --plugin build/lib/libtrtconvert_plugins.so --atol output=5e-3
    """
    setup_logging(verbose, quiet)
    from trtconvert.engine.verify import run_verify

    report = run_verify(
        plan,
        onnx_path,
        plugins=list(plugins),
        atol=list(atol),
        rtol=list(rtol),
        input_values=parse_input_flags(input_values),
        seed=seed,
        int8_min_within=int8_min_within,
    )
    emit(report, as_json)
