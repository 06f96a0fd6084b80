"""`trtconvert build`: every stage from ONNX to a serialized TensorRT plan with its sidecar."""

from __future__ import annotations

import click

from trtconvert.cli.options import (
    EPILOG_CODES,
    StrictCommand,
    build_options,
    common_options,
    emit,
    model_options,
    profile_options,
    setup_logging,
    spec_from_flags,
    stage_options,
    verify_options,
)


@click.command(epilog=EPILOG_CODES, cls=StrictCommand)
@model_options
@profile_options
@stage_options
@build_options
@click.option(
    "--auto-keep-fp32",
    "auto_keep_fp32",
    is_flag=True,
    default=None,
    help="With --precision fp16, bf16 or int8,fp16 and --verify: when the engine check fails, rebuild keeping a "
    "small set of nodes in fp32 until it passes, and print the --keep-fp32 flags and config lines that make it "
    "permanent. Candidates: the overflow finder's first, then by the error each node adds, measured by one "
    "diagnostic build whose intermediate tensors are compared with onnxruntime's fp32 run (nodes it cannot "
    "measure keep their place by fp32 magnitude).",
)
@click.option(
    "--max-builds",
    "max_builds",
    type=int,
    default=None,
    metavar="N",
    help="At most N builds for --auto-keep-fp32 (default: 8), the first and the diagnostic build included (with "
    "N=2 the diagnostic is skipped); every build shares one timing cache.",
)
@verify_options
@common_options
def build(config, as_json, verbose, quiet, debug, **flags) -> None:
    """Build a TensorRT engine (a serialized plan) and its JSON sidecar from an ONNX model.

    Runs every CPU stage of `prepare`, loads the plugin libraries, and builds with one optimization profile
    per --profile. The plan and OUT.plan.json are written together, atomically. With --verify the prepared
    model is checked on the CPU and the engine against onnxruntime before the plan replaces anything. Where
    TensorRT or a GPU is absent it stops after the CPU stages with exit code 3 and writes nothing.

    \b
    Example:
      trtconvert build model.onnx -o model.plan --profile 'input=1x3x64x64:1x3x256x256:1x3x512x512'
      trtconvert build model.onnx -o model.plan --profile 'input=1x3x64x64:1x3x256x256:1x3x512x512' \\
          --precision fp16 --plugin build/lib/libtrtconvert_plugins.so \\
          --timing-cache ci/timing.cache --cache-dir ~/.cache/trtconvert --verify
      trtconvert build model.onnx -o model.plan --precision fp16 --verify --input x=page.npy --auto-keep-fp32
    """
    setup_logging(verbose, quiet)
    from trtconvert.engine.build import run_build

    spec = spec_from_flags(config, **flags)
    if spec.auto_keep_fp32:
        from trtconvert.engine.auto_keep import run_build_keeping_fp32
        from trtconvert.engine.layer_errors import measure_layer_errors

        report = run_build_keeping_fp32(
            spec,
            lambda trial: run_build(trial, show_progress=not quiet),
            lambda trial, tensors: measure_layer_errors(trial, tensors, show_progress=not quiet),
        )
    else:
        report = run_build(spec, show_progress=not quiet)
    emit(report, as_json)
