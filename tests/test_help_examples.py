"""Every --help example parses (no unknown option, no bad value), and every one that uses files bundled with the
repository runs as printed, from the repository root (in a copy, with the example model written as the Quick
start writes it)."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from trtconvert.cli.main import cli

REPO = Path(__file__).resolve().parents[1]
BUNDLED = ("configs/", "examples/", "benchmarks/")
# Commands whose examples need nothing but the machine.
NEEDS_NO_FILES = ("doctor",)
# Exit codes an example may end with on a machine without TensorRT or a GPU: 3 says what is missing.
MACHINE_LACKS = 3


def _commands(group: click.Group, prefix: str = "trtconvert") -> dict[str, click.Command]:
    found = {}
    for name, command in group.commands.items():
        path = f"{prefix} {name}"
        found[path] = command
        if isinstance(command, click.Group):
            found.update(_commands(command, path))
    return found


def help_examples() -> list[str]:
    """The example command lines of every command's --help, continuation lines joined, pipes left out."""
    examples = []
    for command in [cli, *_commands(cli).values()]:
        text = command.help or ""
        if "Example:" not in text:
            continue
        joined = text.split("Example:", 1)[1].replace("\\\n", " ")
        for line in joined.splitlines():
            line = line.strip()
            if line.startswith("trtconvert "):
                examples.append(_without_comment(line.split(" | ", 1)[0]))
    return examples


def _without_comment(line: str) -> str:
    """The command line without a trailing shell comment (`  # what it does`)."""
    return shlex.join(shlex.split(line, comments=True))


def _all_commands() -> list[click.Command]:
    return [cli, *_commands(cli).values()]


@pytest.mark.parametrize("example", help_examples())
def test_a_help_example_parses(example: str, monkeypatch) -> None:
    """Every example's options exist and take the values it gives: each command's work is replaced by nothing,
    so that what runs is click's parsing alone (no file needs to exist)."""
    for command in _all_commands():
        monkeypatch.setattr(command, "callback", lambda *args, **kwargs: None)
    result = CliRunner().invoke(cli, shlex.split(example)[1:], catch_exceptions=False)
    assert result.exit_code == 0, result.output


def _uses_bundled_files(example: str) -> bool:
    words = shlex.split(example)
    return any(word.startswith(BUNDLED) for word in words) or words[1] in NEEDS_NO_FILES


def test_the_examples_are_found() -> None:
    examples = help_examples()
    assert len(examples) >= 15
    assert sum(_uses_bundled_files(e) for e in examples) >= 3


@pytest.fixture(scope="module")
def bundled(tmp_path_factory) -> Path:
    """configs/ and examples/ with the example model written, as the Quick start leaves them."""
    root = tmp_path_factory.mktemp("bundled")
    for folder in ("configs", "examples", "benchmarks"):
        shutil.copytree(REPO / folder, root / folder)
    subprocess.run(
        [sys.executable, "examples/super_resolution.py", "-o", "examples/super_resolution.onnx"],
        cwd=root,
        check=True,
        capture_output=True,
    )
    return root


@pytest.mark.parametrize("example", [e for e in help_examples() if _uses_bundled_files(e)])
def test_a_help_example_with_bundled_files_runs_as_printed(
    bundled: Path, tmp_path: Path, example: str
) -> None:
    shutil.copytree(bundled, tmp_path, dirs_exist_ok=True)
    words = shlex.split(example)
    done = subprocess.run(
        [sys.executable, "-m", "trtconvert", *words[1:]],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode in (0, MACHINE_LACKS), done.stderr
    assert "Traceback" not in done.stderr
    if done.returncode == MACHINE_LACKS:
        assert "TensorRT" in done.stderr or "GPU" in done.stderr or "nvcc" in done.stderr
