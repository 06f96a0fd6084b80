"""`trtconvert doctor`: versions, TensorRT, GPU, driver, nvcc and the plugin library, for CI logs."""

from __future__ import annotations

import click


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print one machine-readable JSON report on stdout.")
def doctor(as_json: bool) -> None:
    """Say what this machine has for trtconvert: Python and package versions, TensorRT (or how to install it),
    the GPU and its driver, nvcc, the plugin library. Always exits 0.

    \b
    Example:
      trtconvert doctor
      trtconvert doctor --json | jq '.can_build'
    """
    from trtconvert.cli_options import emit
    from trtconvert.doctor import doctor_report, format_report

    report = doctor_report()
    if as_json:
        emit(report, True)
    else:
        click.echo("\n".join(format_report(report)))
