"""`trtconvert export`: hand built plans on to what serves them (`export triton`: a Triton model repository)."""

from __future__ import annotations

from pathlib import Path

import click

from trtconvert.cli.options import (
    EPILOG_CODES,
    StrictGroup,
    echo_lines,
    emit,
    plugin_option,
    report_options,
    setup_logging,
)


@click.group("export", cls=StrictGroup)
def export() -> None:
    """Hand built plans on to a server: `export triton` writes a Triton Inference Server model.

    \b
    Example:
      trtconvert export triton build/super_resolution.plan -o model_repository --name super_resolution
    """


@export.command("triton", epilog=EPILOG_CODES)
@click.argument("plans", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="PLAN [PLAN...]")
@click.option(
    "-o",
    "--output",
    "repository",
    required=True,
    type=click.Path(path_type=Path),
    metavar="REPO",
    help="The model repository folder (created if missing); its other models are left as they are.",
)
@click.option("--name", required=True, help="The model's name in Triton (its folder under REPO).")
@click.option(
    "--max-batch-size",
    type=int,
    default=None,
    metavar="N",
    help="Default: the profiles' largest batch where axis 0 of every input and output is a dynamic batch "
    "axis (the dims then leave it out), else 0. 0 writes full dims and no batching.",
)
@click.option(
    "--instances",
    type=int,
    default=1,
    show_default=True,
    metavar="N",
    help="Instances of the model per optimization profile (per GPU).",
)
@click.option(
    "--replace", is_flag=True, help="Replace a model of the same name in REPO (refused without it)."
)
@plugin_option(
    "Where to find a plugin library the plans' sidecars record (repeatable; beside the plan and the default "
    "`trtconvert plugins build` output are searched too). Matched by sha256."
)
@report_options
def triton(
    plans: tuple[Path, ...],
    repository: Path,
    name: str,
    max_batch_size: int | None,
    instances: int,
    replace: bool,
    plugins: tuple[Path, ...],
    as_json: bool,
    verbose: int,
    quiet: bool,
    debug: bool,
) -> None:
    """Write a Triton model from plans built by `trtconvert build`: REPO/NAME/config.pbtxt, the plans (with their
    sidecars) in REPO/NAME/1/ and the plugin libraries they need in REPO/NAME/plugins/. Plans of one model for
    different GPUs (compute capabilities) go in together, one file each. Needs no TensorRT and no GPU: the
    config is made from the sidecars. The model folder appears whole or not at all.

    \b
    Example:
      trtconvert export triton build/super_resolution.plan -o model_repository --name super_resolution
      trtconvert export triton det_h100.plan det_l4.plan -o model_repository --name det --instances 2
      trtconvert export triton model.plan -o model_repository --name det --max-batch-size 0 --replace --json
    """
    setup_logging(verbose, quiet)
    from trtconvert.deploy.triton import export_triton, format_export

    report = export_triton(
        list(plans),
        repository,
        name,
        max_batch_size=max_batch_size,
        instances=instances,
        replace=replace,
        plugins=list(plugins),
    )
    if as_json:
        emit(report, True)
    else:
        echo_lines(format_export(report), err=True)
