"""The README's commands as a newcomer runs them, in order, from the repository root (in a copy): every one that
can run here and uses bundled files (configs/, examples/, benchmarks/, or what an earlier command wrote into
build/) runs as printed, and every `trtconvert` line of the README and of the other documents parses.

Left out, each for its reason: virtual environments and `pip install` (the network; the suite runs in the
environment they make), the test command (it is this suite), and lines that name files of the reader's own
(model.onnx, FLEET.yaml), which are only parsed. A command that needs TensorRT or a GPU may end with exit 3 and
a line naming what is missing; a later command that reads what it would have written (build/...) is then not
run, as in a shell script that stops at the first failure."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_help_examples import _all_commands

from trtconvert.cli.main import cli

REPO = Path(__file__).resolve().parents[1]
BUNDLED = ("configs/", "examples/", "benchmarks/", "build/")
MACHINE_LACKS = 3
OUTPUT_FLAGS = ("-o", "--output", "--output-dir", "--build-dir")
LEFT_OUT = (
    "python3 -m venv",
    "pip install",
    ".venv/bin/pip",
    ".venv/bin/pytest",
    ".venv/bin/ruff",
    "lint-imports",
)
DOCUMENTS = ("README.md", "docs/sidecar.md", "csrc/plugins/README.md", "benchmarks/fleet_example.yaml")
DOCUMENTS_GLOB = ("configs/*.yaml",)
PROGRAMS = {
    "trtconvert": [sys.executable, "-m", "trtconvert"],
    ".venv/bin/trtconvert": [sys.executable, "-m", "trtconvert"],
    "python": [sys.executable],
    "python3": [sys.executable],
    ".venv/bin/python": [sys.executable],
}


def _code_lines(text: str) -> list[str]:
    """The lines of fenced and indented code blocks, and of `#   ` comment blocks (a config's usage notes),
    continuation lines joined."""
    lines = []
    fenced = False
    for line in text.replace("\\\n", " ").splitlines():
        if line.startswith("```"):
            fenced = not fenced
            continue
        if fenced or line.startswith("    "):
            lines.append(line.strip())
        elif line.startswith("#   "):
            lines.append(line[1:].strip())
    return lines


def _steps(line: str) -> list[str]:
    """One code line as the commands it runs (`a && b` is two), trailing comments left out."""
    return [shlex.join(shlex.split(step, comments=True)) for step in line.split(" && ") if step.strip()]


def readme_steps() -> list[str]:
    """The README's commands in order, but the test command (this suite) and the ones left out."""
    readme = (REPO / "README.md").read_text()
    test_command = readme.split("<!-- test-command -->", 1)[1].split("```", 2)[1]
    steps = []
    for line in _code_lines(readme):
        if line in test_command or not line.startswith(tuple(PROGRAMS)):
            continue
        steps += [step for step in _steps(line) if shlex.split(step)[0] in PROGRAMS]
    return [step for step in steps if not any(left in step for left in LEFT_OUT)]


FILE_SUFFIXES = (".onnx", ".plan", ".yaml", ".npy", ".npz", ".so")


def _uses_bundled_files(step: str) -> bool:
    """Names a bundled file and none of the reader's own; `plugins build` writes into build/ from csrc/."""
    words = shlex.split(step)[1:]
    if words[:2] == ["plugins", "build"]:
        return True
    theirs = [w for w in words if w.endswith(FILE_SUFFIXES) and not w.startswith(BUNDLED)]
    return any(word.startswith(BUNDLED) for word in words) and not theirs


def _inputs_under_build(words: list[str]) -> list[str]:
    """Paths under build/ that the command reads (not those it writes: the values of -o and the like)."""
    return [
        word
        for before, word in zip(["", *words], words, strict=False)
        if word.startswith("build/") and before not in OUTPUT_FLAGS
    ]


def test_the_readme_commands_are_found() -> None:
    steps = readme_steps()
    assert any("prepare --config configs/super_resolution.yaml" in step for step in steps)
    assert any("examples/super_resolution.py" in step for step in steps)
    assert any("export triton build/super_resolution.plan" in step for step in steps)
    assert not any("pip install" in step or "-m venv" in step for step in steps)


@pytest.mark.slow
def test_the_readme_commands_with_bundled_files_run_as_printed(tmp_path: Path) -> None:
    for folder in ("configs", "examples", "benchmarks"):
        shutil.copytree(REPO / folder, tmp_path / folder, ignore=shutil.ignore_patterns("*.onnx", "results"))
    ran, not_run, lacking = [], [], []
    for step in [s for s in readme_steps() if _uses_bundled_files(s)]:
        words = shlex.split(step)
        missing = [p for p in _inputs_under_build(words) if not (tmp_path / p).exists()]
        if missing:
            not_run.append(step)
            continue
        done = subprocess.run(
            [*PROGRAMS[words[0]], *words[1:]], cwd=tmp_path, capture_output=True, text=True, timeout=300
        )
        assert "Traceback" not in done.stderr, (step, done.stderr)
        assert done.returncode in (0, MACHINE_LACKS), (step, done.stderr[-2000:])
        if done.returncode == MACHINE_LACKS:
            assert re.search(r"TensorRT|GPU|nvcc|CMake", done.stderr), (step, done.stderr[-2000:])
            lacking.append(step)
        else:
            outputs = [
                after for before, after in zip(words, words[1:], strict=False) if before in ("-o", "--output")
            ]
            for output in outputs:
                assert (tmp_path / output).exists(), (step, output)
        ran.append(step)
    assert any("prepare --config" in step for step in ran), ran
    # A command is left unrun only because an earlier one said what this machine lacks.
    assert not not_run or lacking, not_run


def _document_command_lines() -> list[tuple[str, str]]:
    found = []
    paths = [REPO / d for d in DOCUMENTS] + [p for g in DOCUMENTS_GLOB for p in sorted(REPO.glob(g))]
    for path in paths:
        for line in _code_lines(path.read_text()):
            for step in _steps(line) if "trtconvert " in line else []:
                words = shlex.split(step)
                if words and words[0] in ("trtconvert", ".venv/bin/trtconvert"):
                    found.append((str(path.relative_to(REPO)), step))
    return found


def test_the_documents_commands_are_found() -> None:
    where = {document for document, _ in _document_command_lines()}
    assert {"README.md", "csrc/plugins/README.md"} <= where


@pytest.mark.parametrize(("document", "command"), _document_command_lines())
def test_a_documented_command_parses(document: str, command: str, monkeypatch) -> None:
    """Every option of a documented `trtconvert` line exists and takes the value written: each command's work
    is replaced by nothing, so that what runs is click's parsing alone."""
    for command_object in _all_commands():
        monkeypatch.setattr(command_object, "callback", lambda *args, **kwargs: None)
    words = shlex.split(command)
    result = CliRunner().invoke(cli, words[1:], catch_exceptions=False)
    assert result.exit_code == 0, f"{document}: {command}\n{result.output}"
