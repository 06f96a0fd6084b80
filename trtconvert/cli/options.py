"""Reusable option groups: every command that takes a model, profiles or verification shares these."""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

import click

from trtconvert import log
from trtconvert.errors import EXIT_CODES, BadInput, clipped, escaped_controls, shown
from trtconvert.model.profiles import parse_profile
from trtconvert.settings.spec import (
    CALIBRATION_METHODS,
    HARDWARE_COMPATIBILITY_LEVELS,
    PRECISIONS,
    REWRITE_POLICIES,
    Spec,
    make_spec,
)

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]

EPILOG_CODES = "Exit codes: " + ", ".join(f"{code} {short}" for code, (short, _) in EXIT_CODES.items()) + "."


class StrictCommand(click.Command):
    """A command that refuses an option of one value given twice: click would keep the last one silently, so a
    second --config or --precision would replace the first unseen."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not ctx.resilient_parsing:
            _refuse_repeated_options(self, ctx, args)
        return super().parse_args(ctx, args)


class StrictGroup(click.Group):
    """A group whose commands are StrictCommands and whose subgroups are StrictGroups, so that every command of
    the CLI refuses a repeated option, those added later included."""

    command_class = StrictCommand
    group_class = type  # click: a subgroup is of this group's own class


class FiniteFloat(click.FloatRange):
    """A bounded float option that refuses NaN and infinities: click's FloatRange lets NaN through every bound
    (each comparison with it is false), and a NaN of seconds waits forever, a NaN share passes every check.
    (Plain float options, the tolerances, are checked with their own message by settings.spec.check_numbers.)"""

    name = "float"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number; give a number such as 0.5", param, ctx)
        return number


def _refuse_repeated_options(command: click.Command, ctx: click.Context, args: list[str]) -> None:
    try:
        _, _, order = command.make_parser(ctx).parse_args(args=list(args))
    except click.ClickException:
        return  # click reports the mistake itself when it parses for real
    seen: set[str] = set()
    for param in order:
        if not isinstance(param, click.Option) or param.multiple or param.count or param.name is None:
            continue
        if param.name in seen:
            flags = "/".join(param.opts + param.secondary_opts)
            raise BadInput(
                f"{flags} is given twice; give it once (the later one would silently replace the first)"
            )
        seen.add(param.name)


def _compose(*decorators: Decorator) -> Decorator:
    def apply(function: Callable[..., Any]) -> Callable[..., Any]:
        for decorator in reversed(decorators):
            function = decorator(function)
        return function

    return apply


# Every command's reporting flags: what it prints and how much.
report_options = _compose(
    click.option("--json", "as_json", is_flag=True, help="Print one machine-readable JSON report on stdout."),
    click.option(
        "-v",
        "--verbose",
        count=True,
        help="More detail; -vv adds polygraphy's, onnxruntime's and TensorRT's logs.",
    ),
    click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors."),
    click.option("--debug", is_flag=True, help="Show the traceback of an error."),
)

common_options = _compose(
    click.option("--config", type=click.Path(path_type=Path), help="YAML config; flags override its keys."),
    report_options,
)

model_options = _compose(
    click.argument("model", required=False, type=click.Path(path_type=Path)),
    click.option(
        "-o",
        "--output",
        type=click.Path(),
        help="Output file, written atomically; a path ending in '/' is a folder (the file is named after the model).",
    ),
)

profile_options = click.option(
    "--profile",
    "profiles",
    multiple=True,
    metavar="NAME=MIN:OPT:MAX[,...]",
    help="Shapes of the dynamic inputs, e.g. 'input=1x3x64x64:1x3x256x256:1x3x512x512'. One shape alone fixes "
    "the input. Repeat for several optimization profiles.",
)

stage_options = _compose(
    click.option(
        "--freeze",
        "freeze_values",
        multiple=True,
        metavar="NAME=VALUE|FILE.npy",
        help="Make an input a constant before folding, e.g. --freeze sr=16000, so that control flow on it folds "
        "away (repeatable). verify feeds the same value to the original model.",
    ),
    click.option("--fold/--no-fold", default=None, help="Constant folding (default: on)."),
    click.option(
        "--fold-max-size",
        metavar="SIZE",
        default=None,
        help="Largest constant that folding may make, e.g. 512M; larger ones stay the nodes that compute them, "
        "for TensorRT to compute (default: 64M, or the largest weight of the model if that is larger).",
    ),
    click.option(
        "--rewrite",
        type=click.Choice(REWRITE_POLICIES),
        default=None,
        help="Rewrite cubic Resize to the DynamicTRTResize plugin: 'auto' (default) only where the target "
        "TensorRT rejects or miscomputes it, 'all' always, 'none' never.",
    ),
    click.option(
        "--target-tensorrt",
        metavar="VERSION",
        default=None,
        help="TensorRT version the model is prepared for, e.g. 10.8 (default: the installed one, else the newest).",
    ),
    click.option(
        "--precision",
        type=click.Choice(PRECISIONS),
        default=None,
        help="Engine precision (default: fp32). int8 needs --calib-data; int8,fp16 lets TensorRT 8.5-10 fall back "
        "to fp16 where int8 is slower. On TensorRT 11 int8 becomes Q/DQ nodes in the prepared ONNX.",
    ),
    click.option(
        "--keep-fp32",
        "keep_fp32",
        multiple=True,
        metavar="NAME|op:TYPE",
        help="Keep these ONNX nodes in fp32 under --precision fp16, bf16 or int8,fp16 (repeatable; globs allowed): "
        "a node name ('/blocks.3/norm/*'), or op:TYPE (op:Softmax). TensorRT 8.5-10 is told to obey fp32 for "
        "their layers; for TensorRT 11 the ONNX conversion leaves them fp32.",
    ),
    click.option(
        "--strongly-typed",
        "strongly_typed",
        is_flag=True,
        default=None,
        help="TensorRT 9.0-10.x: build a strongly typed network, the ONNX converted before parsing as for TensorRT "
        "11 (which builds nothing else), instead of builder precision flags.",
    ),
    click.option(
        "--calib-data",
        type=click.Path(path_type=Path),
        default=None,
        metavar="PATH",
        help="INT8 calibration samples from the model's real inputs: FILE.npz with one array per input (first axis = "
        "samples), a folder of such .npz files, or a folder with NAME.npy per input.",
    ),
    click.option(
        "--calib-cache",
        type=click.Path(path_type=Path),
        default=None,
        metavar="FILE",
        help="TensorRT 8.5-10 calibration cache: read if present (no calibration runs), else written after "
        "calibrating, atomically.",
    ),
    click.option(
        "--calib-method",
        type=click.Choice(CALIBRATION_METHODS),
        default=None,
        help="How the TensorRT 11 Q/DQ scales are chosen from the samples (default: minmax; TensorRT 8.5-10 "
        "calibrates with its entropy calibrator).",
    ),
    click.option(
        "--int8-min-within",
        type=float,
        default=None,
        metavar="FRACTION",
        help="int8 Q/DQ verification passes when at least this share of each output's elements is within "
        "--atol/--rtol of the float model (default: 0.99). Sharp outputs, such as a text detector's probability "
        "map, flip a few elements entirely under INT8.",
    ),
    click.option(
        "--calib-random-for-timing-only",
        "calib_random_for_timing_only",
        is_flag=True,
        default=None,
        help="Calibrate INT8 on random values: the engine's speed is real, its outputs are not. For timing only.",
    ),
    click.option(
        "--check-parser/--no-check-parser",
        default=None,
        help="Refuse, before any GPU work, what the target TensorRT's ONNX parser is known to reject (default: "
        "on); --no-check-parser warns and tries anyway.",
    ),
)

INPUT_HELP = (
    "Value for an input: a number where random ones are meaningless (--input sr=16000), or real data "
    "(--input x=page.npy) where random inputs leave an output near zero, as noise does a detector's."
)

verify_options = _compose(
    click.option(
        "--verify/--no-verify", default=None, help="Compare the result with the original model on the CPU."
    ),
    click.option(
        "--input",
        "input_values",
        multiple=True,
        metavar="NAME=VALUE|FILE.npy",
        help=INPUT_HELP,
    ),
    click.option(
        "--atol",
        type=float,
        default=None,
        help="Absolute tolerance (default by precision: 1e-4 fp32, 2e-2 fp16 and an fp32 engine with TF32, "
        "1e-1 bf16, 5e-2 int8).",
    ),
    click.option(
        "--rtol",
        type=float,
        default=None,
        help="Relative tolerance (default by precision: 1e-3 fp32, 2e-2 fp16 and an fp32 engine with TF32, "
        "5e-2 bf16 and int8).",
    ),
    click.option("--seed", type=int, default=None, help="Seed of the random inputs (default: 0)."),
)


# The seed of the random inputs of the commands that run a plan (verify, bench).
seed_option = click.option(
    "--seed",
    type=click.IntRange(0, 2**63 - 1),
    default=0,
    show_default=True,
    help="Seed of the random inputs.",
)


def plugin_option(help: str = "Plugin library the plan needs (repeatable).") -> Decorator:
    """--plugin LIB.so, repeatable, into ``plugins``."""
    return click.option(
        "--plugin", "plugins", multiple=True, type=click.Path(path_type=Path), metavar="LIB.so", help=help
    )


build_options = _compose(
    plugin_option(
        "Plugin library to load before parsing (repeatable), e.g. the one `trtconvert plugins build` makes."
    ),
    click.option(
        "--workspace",
        metavar="SIZE",
        default=None,
        help="Builder workspace memory pool limit, e.g. 4G or 512M; a bare number is MiB, as trtexec reads it "
        "(default: TensorRT's, the GPU's memory).",
    ),
    click.option(
        "--timing-cache",
        type=click.Path(path_type=Path),
        metavar="FILE",
        default=None,
        help="Tactic timing cache: loaded before the build, merged and saved after it under a file lock, so CI "
        "jobs may share one file.",
    ),
    click.option(
        "--opt-level",
        type=click.IntRange(0, 5),
        default=None,
        help="Builder optimization level 0-5 (default: TensorRT's, 3); higher searches longer.",
    ),
    click.option(
        "--tf32/--no-tf32", default=None, help="Allow TF32 for fp32 math (default: on, as trtexec)."
    ),
    click.option(
        "--cache-dir",
        type=click.Path(path_type=Path),
        metavar="DIR",
        default=None,
        help="Plan cache: reuse a plan built from the same model, settings, plugins, TensorRT and GPU.",
    ),
    click.option(
        "--version-compatible/--no-version-compatible",
        default=None,
        help="Build an engine that later TensorRT versions of the same major can run (plugins are serialized in).",
    ),
    click.option(
        "--hardware-compatibility",
        type=click.Choice(HARDWARE_COMPATIBILITY_LEVELS),
        default=None,
        help="Build an engine that runs on other GPUs: 'ampere_plus' (any Ampere or newer) or "
        "'same_compute_capability' (default: none, this GPU only).",
    ),
)


def setup_logging(verbose: int, quiet: bool, libraries: bool = True) -> None:
    log.configure(-1 if quiet else verbose, libraries)


def parse_input_flags(items: Sequence[str], flag: str = "--input") -> dict[str, str]:
    """``NAME=VALUE`` flags into a mapping; the name is split at the last '='."""
    values = {}
    for item in items:
        name, sep, value = item.rpartition("=")
        if not sep or not name or not value:
            raise BadInput(f"{flag} {shown(item)}: write NAME=VALUE or NAME=FILE.npy, e.g. {flag} sr=16000")
        if name in values:
            raise BadInput(f"{flag} {clipped(name)} is given twice; give each input once")
        values[name] = value
    return values


def spec_from_flags(config: Path | None, **flags: Any) -> Spec:
    """Turn click's flag values into a Spec over the config; flags that were not given stay None."""
    overrides = dict(flags)
    if "profiles" in overrides:
        overrides["profiles"] = [parse_profile(p) for p in overrides["profiles"]] or None
    if "plugins" in overrides:
        overrides["plugins"] = list(overrides["plugins"]) or None
    if "input_values" in overrides:
        overrides["inputs"] = parse_input_flags(overrides.pop("input_values")) or None
    if "keep_fp32" in overrides:
        overrides["keep_fp32"] = list(overrides["keep_fp32"]) or None
    if "freeze_values" in overrides:
        overrides["freeze"] = parse_input_flags(overrides.pop("freeze_values"), "--freeze") or None
    return make_spec(config, overrides)


# With --json, stdout belongs to the report alone: main() points sys.stdout at stderr while a command runs
# (polygraphy and others print to stdout) and keeps the real stream here.
report_stream: TextIO | None = None


def echo_lines(lines: Sequence[str], err: bool = False) -> None:
    """A human report, one line per entry: names and paths in it are the user's, so control characters (a
    newline that would split a row, an escape that would drive the terminal) are printed escaped."""
    text = "\n".join(escaped_controls(line) for line in lines)
    if err:
        # A summary beside the outputs: a stderr that cannot take it (full, a closed pipe) must not fail a run
        # whose outputs are written, as stage lines do not.
        with contextlib.suppress(OSError, ValueError):
            click.echo(text, err=True)
    else:
        print_report(text, sys.stdout, "the report")


def emit(report: dict, as_json: bool) -> None:
    if as_json:
        print_report(json_text(report), report_stream or sys.stdout, "the JSON report")


def print_report(text: str, stream: TextIO | None, what: str) -> None:
    """Print what a command exists to print on stdout, flushed now: a closed stdout, a full device or a pipe
    whose reader has gone (`| head`) is one error line and exit 2, not a report that silently went nowhere
    or an error at interpreter exit."""
    if stream is None:  # started with stdout closed (`>&-`)
        raise BadInput(f"stdout is closed, so {what} cannot be printed; give the command a stdout")
    try:
        click.echo(text, file=stream)
        stream.flush()
    except OSError as err:
        broken = isinstance(err, BrokenPipeError)
        with contextlib.suppress(OSError, ValueError):  # nothing more may go there, at exit either
            os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
        cause = "its reader closed the pipe" if broken else err.strerror or str(err)
        raise BadInput(f"{what} could not be written to stdout ({cause}); write it to a file or a pipe that "
                       "reads it whole") from None  # fmt: skip


def json_text(report: dict, indent: int | None = 2) -> str:
    """The report as strict JSON. An error can be infinite or NaN (an output that came out NaN, or in another
    shape), which JSON cannot hold: such numbers are written as the strings "inf", "-inf" and "nan"."""
    return json.dumps(_json_safe(report), indent=indent, default=str, allow_nan=False)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else "inf" if value > 0 else "-inf"
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return value
