"""`trtconvert doctor`: versions, TensorRT, GPU, driver, nvcc and the plugin library, for CI logs."""

from __future__ import annotations

import click

from trtconvert.cli.options import StrictCommand, echo_lines, emit, report_options, setup_logging


@click.command(cls=StrictCommand)
@report_options
def doctor(as_json: bool, verbose: int, quiet: bool, debug: bool) -> None:
    """Say what this machine has for trtconvert: Python and package versions, TensorRT (or how to install it),
    the GPU and its driver, nvcc, the plugin library. Always exits 0.

    \b
    Example:
      trtconvert doctor
      trtconvert doctor --json | jq '.can_build'
    """
    from trtconvert.engine.doctor import doctor_report, format_report

    setup_logging(verbose, quiet, libraries=False)
    report = doctor_report()
    if as_json:
        emit(report, True)
    else:
        echo_lines(format_report(report))
