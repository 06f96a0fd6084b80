"""What the command line imports before it is asked to do work: --help, --version, doctor and usage errors
must start without onnx, onnxruntime, numpy, polygraphy or graph-surgeon (together over a second of imports).

Each case runs in a fresh interpreter, as a user's command does, and lists the heavy modules it left loaded.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import click
import pytest

from trtconvert.cli.main import cli

HEAVY = ("onnx", "onnxruntime", "onnxruntime_extensions", "numpy", "polygraphy", "onnx_graphsurgeon", "yaml")

_PROBE = """
import json, sys
from trtconvert.cli.main import main
try:
    main(sys.argv[1:])
except SystemExit as done:
    code = done.code
heavy = sorted({name.split(".")[0] for name in sys.modules} & set(json.loads(sys.stdin.readline())))
sys.__stderr__.write("\\nIMPORTED " + json.dumps({"code": code, "heavy": heavy}) + "\\n")
"""


def _imported(args: list[str]) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        input=json.dumps(HEAVY) + "\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [line for line in done.stderr.splitlines() if line.startswith("IMPORTED ")]
    assert lines, f"the probe did not finish: {done.stderr[-2000:]}"
    return json.loads(lines[-1].removeprefix("IMPORTED "))


def _command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = []
    for name, command in sorted(group.commands.items()):
        paths.append((*prefix, name))
        if isinstance(command, click.Group):
            paths += _command_paths(command, (*prefix, name))
    return paths


# Every registered command, so that a new one is held to the same start-up.
HELP_CASES = [["--help"], ["--version"]] + [[*path, "--help"] for path in _command_paths(cli)]

USAGE_ERRORS = [
    ["no-such-command"],
    ["build", "--no-such-flag"],
    ["build", "--precision", "fp64"],
    ["bench"],
    ["verify", "--seed", "-1", "x.plan"],
    ["inspect"],
]


@pytest.mark.parametrize("args", HELP_CASES, ids=" ".join)
def test_help_and_version_import_no_heavy_library(args):
    result = _imported(args)
    assert result["code"] == 0
    assert result["heavy"] == []


@pytest.mark.parametrize("args", USAGE_ERRORS, ids=" ".join)
def test_usage_errors_import_no_heavy_library(args):
    result = _imported(args)
    assert result["code"] == 2
    assert result["heavy"] == []


def test_doctor_imports_no_heavy_library():
    result = _imported(["doctor", "--json"])
    assert result["code"] == 0
    # TensorRT's own Python package imports numpy; where it is installed, doctor has to import TensorRT.
    allowed = {"numpy"} if importlib.util.find_spec("tensorrt") is not None else set()
    assert set(result["heavy"]) - allowed == set()


def test_the_probe_sees_a_heavy_import():
    # The guard must be able to fail: a command that does real work imports onnx.
    result = _imported(["inspect", "/no/such/model.onnx"])
    assert result["code"] == 2
    assert "onnx" in result["heavy"]
