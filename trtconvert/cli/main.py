"""The trtconvert command line: one group, one module per command, one place that maps errors to exit codes.

Exit codes: trtconvert.errors.EXIT_CODES.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import sys
import tempfile
import threading
import traceback
from pathlib import Path
from types import FrameType

import click

from trtconvert import __version__
from trtconvert.atomic import stopping_deferred
from trtconvert.cli import options as cli_options
from trtconvert.cli.options import (
    EPILOG_CODES,
    StrictCommand,
    StrictGroup,
    common_options,
    emit,
    json_text,
    model_options,
    plugin_option,
    profile_options,
    setup_logging,
    spec_from_flags,
    stage_options,
    verify_options,
)
from trtconvert.engine.interruptible import end_process
from trtconvert.errors import BadInput, TrtConvertError, escaped_controls, within_a_line


@click.group(
    cls=StrictGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110}
)
@click.version_option(__version__, "--version", prog_name="trtconvert")
def cli() -> None:
    """Turn ONNX models into TensorRT engines that build the first time and compute what the ONNX computes.

    \b
    Typical use:
      trtconvert inspect model.onnx
      trtconvert prepare model.onnx -o model.prepared.onnx --profile 'input=1x3x64x64:1x3x256x256:1x3x512x512' --verify
      trtconvert build model.onnx -o model.plan --profile 'input=1x3x64x64:1x3x256x256:1x3x512x512'
    """


@cli.command(epilog=EPILOG_CODES, cls=StrictCommand)
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option(
    "--target-tensorrt",
    metavar="VERSION",
    default=None,
    help="Say what the rewrite would do for this TensorRT.",
)
@click.option(
    "--layers",
    is_flag=True,
    help="For a plan: every layer's type, precision, fused ONNX nodes and tactic, from TensorRT's engine inspector "
    "(needs TensorRT and a GPU).",
)
@plugin_option("Plugin library the plan needs, for --layers (repeatable; default: the config's plugins).")
@common_options
def inspect(
    path: Path | None,
    target_tensorrt: str | None,
    layers: bool,
    plugins,
    config,
    as_json,
    verbose,
    quiet,
    debug,
) -> None:
    """Describe an ONNX model: inputs with symbolic dims, outputs, opsets, ops, custom ops, weights, and what
    the rewrite stage would do. Given a plan (.plan, .engine, or any file with a PATH.json sidecar), describe
    it from its sidecar: inputs, outputs, profiles, precision, TensorRT, GPU, plugins and cache key.
    With --config, PATH defaults to the config's model and the config's target_tensorrt applies.

    \b
    Example:
      trtconvert inspect model.onnx
      trtconvert inspect --config configs/super_resolution.yaml
      trtconvert inspect model.onnx --json | jq '.inputs'
      trtconvert inspect model.plan
      trtconvert inspect model.plan --layers --plugin build/lib/libtrtconvert_plugins.so
    """
    # Only a plan's --layers runs polygraphy; an ONNX model's suggested profile is run once in onnxruntime.
    setup_logging(verbose, quiet, libraries=layers)
    from trtconvert.settings.spec import make_spec

    spec = make_spec(config, {"model": path, "target_tensorrt": target_tensorrt, "plugins": list(plugins)})
    if spec.model is None:
        raise BadInput(
            "inspect needs something to describe: give MODEL.onnx or PLAN, or a --config with 'model:'"
        )
    path = spec.model
    from trtconvert.engine.plan_files import is_plan_path

    if is_plan_path(path):
        from trtconvert.engine.inspect_plan import describe_plan, format_plan

        plan_report = describe_plan(path)
        lines = format_plan(plan_report)
        if layers:
            from trtconvert.engine.inspect_plan import engine_layers
            from trtconvert.engine.layers import format_profile_layers, layers_json

            layer_reports = engine_layers(path, spec.plugins)
            plan_report["layers"] = layers_json(layer_reports)
            lines += ["", *format_profile_layers(layer_reports)]
        if as_json:
            emit(plan_report, True)
        else:
            cli_options.echo_lines(lines)
        return
    if layers:
        raise BadInput(f"--layers describes a built plan, and {path} is an ONNX model; give the .plan")
    from trtconvert.prepare.inspect_model import describe_onnx, format_onnx
    from trtconvert.settings.target import wanted_target

    report = describe_onnx(path, wanted_target(spec.target_tensorrt))
    if as_json:
        emit(report, True)
    else:
        cli_options.echo_lines(format_onnx(report))


@cli.command(epilog=EPILOG_CODES, cls=StrictCommand)
@model_options
@profile_options
@stage_options
@verify_options
@common_options
def prepare(config, as_json, verbose, quiet, debug, **flags) -> None:
    """Run the CPU stages (load, freeze, fold, rewrite, precision, parser checks) and write a TensorRT-ready
    ONNX.

    Needs no GPU and no TensorRT. With --verify, the original and the prepared model run through
    onnxruntime on the same seeded random inputs at each profile's opt shape; out of tolerance exits 4
    and writes nothing.

    \b
    Example:
      trtconvert prepare model.onnx -o model.prepared.onnx \\
          --profile 'input=1x3x64x64:1x3x256x256:1x3x512x512' --verify
      trtconvert prepare --config configs/super_resolution.yaml -o build/super_resolution.prepared.onnx --verify
    """
    setup_logging(verbose, quiet)
    from trtconvert.prepare.pipeline import run_prepare

    spec = spec_from_flags(config, **flags)
    if spec.auto_keep_fp32:
        raise BadInput(
            "auto_keep_fp32 applies to `build`, which has an engine to check; drop it from the config"
        )
    report = run_prepare(spec)
    emit(report, as_json)


def _register_commands() -> None:
    from trtconvert.cli.bench import bench
    from trtconvert.cli.build import build
    from trtconvert.cli.doctor import doctor
    from trtconvert.cli.export import export
    from trtconvert.cli.fleet import fleet
    from trtconvert.cli.plugins import plugins
    from trtconvert.cli.verify import verify

    for command in (build, verify, bench, doctor, plugins, export, fleet):
        cli.add_command(command)


_register_commands()


def _flag_in_argv(argv: list[str], flag: str) -> bool:
    return any(arg == flag for arg in argv)


def _run(args: list[str], as_json: bool) -> None:
    if not as_json:
        cli.main(args=args, prog_name="trtconvert", standalone_mode=False)
        return
    if sys.stdout is None:  # started with stdout closed: the report would go to stderr below
        raise BadInput("stdout is closed, so the JSON report cannot be printed; give the command a stdout")
    cli_options.report_stream = sys.stdout
    try:
        with contextlib.redirect_stdout(sys.stderr):
            cli.main(args=args, prog_name="trtconvert", standalone_mode=False)
    finally:
        cli_options.report_stream = None


# click 8.2 and later raise this (a UsageError whose message is the help) for a group run without a command.
_NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived: unwinds like Ctrl-C, so that staged outputs are removed on the way out."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


# Seconds after which a stop signal that arrived while a module was loading is sent again.
_RESEND_AFTER = 0.05


def _terminate(signum: int, frame: FrameType | None) -> None:
    if _loading_a_module(frame) or stopping_deferred():
        # An exception raised inside a module's initialisation can abort the process (a C extension) or leave
        # the module half-made for the error handling that follows, and one raised while outputs are being
        # published or removed leaves them partial: stop once that is done.
        resend = threading.Timer(_RESEND_AFTER, os.kill, (os.getpid(), signum))
        resend.daemon = True
        _resends.append(resend)
        resend.start()
        return
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Terminated(signum)


_resends: list[threading.Timer] = []


def _cancel_resends() -> None:
    """The run has ended (its exit code stands): a signal still to be sent again would only hit the exit."""
    for resend in _resends:
        resend.cancel()


def _loading_a_module(frame: FrameType | None) -> bool:
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


def _catch_termination() -> None:
    if threading.current_thread() is not threading.main_thread():
        return  # signal handlers can only be set from the main thread (e.g. not under some test runners)
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        number = getattr(signal, name, None)
        # A signal ignored by whoever started us stays ignored: `nohup trtconvert build ...` must outlive the
        # terminal that SIGHUP reports closing.
        if number is not None and signal.getsignal(number) is not signal.SIG_IGN:
            signal.signal(number, _terminate)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: runs the CLI and turns every failure into one line and an exit code."""
    try:
        _main(argv)
    finally:
        _cancel_resends()


def _main(argv: list[str] | None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    debug, as_json = _flag_in_argv(args, "--debug"), _flag_in_argv(args, "--json")
    try:
        _catch_termination()  # inside the try: a signal that arrives right after is handled like any other
        _run(args, as_json)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as err:
        # A usage mistake is bad input like any other: one error line, and where to read how it is written.
        command = getattr(getattr(err, "ctx", None), "command_path", None) or "trtconvert"
        if isinstance(err, _NO_ARGS_IS_HELP) and err.ctx is not None:
            # A group given no command: click's message is the whole help, which is no one line; it goes above.
            with contextlib.suppress(OSError, ValueError):
                click.echo(err.ctx.get_help(), err=True)
            _fail(
                f"{command} needs a command; pick one of those listed above ({command} COMMAND --help)",
                2,
                as_json,
            )
        _fail(f"{err.format_message().rstrip('.')}; see {command} --help", 2, as_json)
    except (click.Abort, KeyboardInterrupt):
        click.echo("error: interrupted; nothing was written", err=True)
        end_process(130)
    except Terminated as stop:
        click.echo(f"error: stopped by {signal.Signals(stop.signum).name}; nothing was written", err=True)
        end_process(128 + stop.signum)
    except MemoryError:
        _show_traceback(debug)
        _fail("out of memory; use smaller --profile shapes or a machine with more memory", 2, as_json)
    except TrtConvertError as err:
        _show_traceback(debug)
        _fail(str(err), err.exit_code, as_json, getattr(err, "measured", None))
    except OSError as err:
        _show_traceback(debug)
        _fail(os_error_message(err), 2, as_json)
    except Exception as err:
        _show_traceback(debug)
        _fail(
            f"internal error: {type(err).__name__}: {err}; rerun with --debug and report the traceback",
            1,
            as_json,
        )
    sys.exit(0)


def _show_traceback(debug: bool) -> None:
    """--debug shows where an error came from; the exit code stays the one the error means."""
    if not debug:
        return
    kind, err, trace = sys.exc_info()
    if err is None:
        return
    frames = traceback.format_exception(kind, err, trace)[:-1]
    # The message may echo what the user gave (a path holding a line break): one line, as the error line is.
    last = escaped_controls("".join(traceback.format_exception_only(kind, err)).rstrip("\n"))
    sys.stderr.write("".join(frames) + last + "\n")


def os_error_message(err: OSError) -> str:
    """An OSError as one line that names the file; a full disk without a file name names where writes go."""
    if err.errno == errno.ENOSPC and not err.filename:
        return (
            f"{err.strerror or 'No space left on device'} while writing the output or a temporary file (the "
            f"temporary folder is {tempfile.gettempdir()}, set by TMPDIR); free space there or write elsewhere"
        )
    where = f" ({err.filename})" if err.filename else ""
    if err.filename and _in_the_temporary_folder(str(err.filename)):
        where = f" ({err.filename}, in the temporary folder, set by TMPDIR)"
    if err.errno == errno.EFBIG:
        return (
            f"{err.strerror or err}{where}: the file outgrew the size limit of this process (`ulimit -f`) or of "
            "the file system; raise the limit or write elsewhere"
        )
    return f"{err.strerror or err}{where}; check the path, its permissions and the free disk space"


def _in_the_temporary_folder(filename: str) -> bool:
    """Whether a failed file lies in one of our folders in the temporary folder (trtconvert-*), which the user
    did not name: a large model's onnxruntime copy or shape inference writes there."""
    try:
        inside = Path(filename).resolve().relative_to(Path(tempfile.gettempdir()).resolve())
    except (OSError, ValueError, RuntimeError):
        return False
    return len(inside.parts) > 1 and inside.parts[0].startswith("trtconvert-")


def _fail(message: str, code: int, as_json: bool, measured: dict | None = None) -> None:
    message = within_a_line(message)
    # A stream that cannot take the error (closed, full, a pipe nobody reads) leaves the exit code to tell it.
    with contextlib.suppress(OSError, ValueError):
        click.echo(f"error: {message}", err=True)
    if as_json and sys.stdout is not None:
        with contextlib.suppress(OSError, ValueError):
            click.echo(
                json_text({"ok": False, "error": message, "exit_code": code, **(measured or {})}, indent=None)
            )
            sys.stdout.flush()
    sys.exit(code)


if __name__ == "__main__":
    main()
