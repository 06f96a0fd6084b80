"""Native compilations the test run needs, started as soon as collection shows a selected test needs them.

They run beside the Python tests instead of in front of the first test that waits for them: compiling the
CUDA kernels and the sanitized C++ checks is most of the suite's time on a small CI machine. Output goes to
files, not pipes, so that a chatty compiler can never block on a full pipe while nobody reads it.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESIZE_LOGIC_DIR = REPO / "csrc" / "plugins" / "dynamic_resize"
CXX_WARNINGS = ["-Wall", "-Wextra", "-Wpedantic", "-Wshadow", "-Wconversion", "-Wold-style-cast", "-Werror"]
SANITIZERS = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"]


def kernels_command(build_dir: Path, lib_dir: Path) -> list[str]:
    """The CUDA kernels as users build them: `plugins build --kernels-only`, sm_80, warnings as errors."""
    return [sys.executable, "-m", "trtconvert", "plugins", "build", "--kernels-only", "--cuda-archs", "80",
            "--build-dir", str(build_dir), "-o", str(lib_dir), "--werror", "-q"]  # fmt: skip


# Every candidate switch of the four-tap kernel at once (csrc/kernels/NOTES.md, "v10 candidates"): the default
# build compiles the code with all of them off, this one with all of them on.
KERNEL_VARIANT = "CFRDW"


def kernel_variant_command(nvcc: Path, build_dir: Path) -> list[str]:
    """The kernel library with every candidate switch on, through CMake, sm_90 only, warnings as errors."""
    configure = ["cmake", "-S", str(REPO / "csrc"), "-B", str(build_dir), "-DTRTCONVERT_KERNELS_ONLY=ON",
                 f"-DCMAKE_CUDA_COMPILER={nvcc}", "-DCMAKE_CUDA_ARCHITECTURES=90",
                 f"-DTRTCONVERT_CUBIC_VARIANT={KERNEL_VARIANT}", "-DTRTCONVERT_WERROR=ON",
                 "-DTRTCONVERT_PTXAS_VERBOSE=ON"]  # fmt: skip
    build = ["cmake", "--build", str(build_dir), "--target", "trtconvert_kernels_shared"]
    return ["bash", "-c", " ".join(map(shlex.quote, configure)) + " && " + " ".join(map(shlex.quote, build))]


def cxx_compiler() -> str | None:
    for candidate in (os.environ.get("CXX"), "c++", "g++", "clang++"):
        if candidate and shutil.which(candidate):
            return shutil.which(candidate)
    return None


def resize_logic_command(compiler: str, output: Path, sanitized: bool) -> list[str]:
    """The plugin's TensorRT-free logic and its unit tests, as one host program."""
    return [compiler, "-std=c++17", "-O1", "-g", *CXX_WARNINGS, *(SANITIZERS if sanitized else []),
            "-I", str(RESIZE_LOGIC_DIR), str(RESIZE_LOGIC_DIR / "resize_config.cpp"),
            str(RESIZE_LOGIC_DIR / "tests" / "test_resize_config.cpp"), "-o", str(output)]  # fmt: skip


@dataclass(frozen=True)
class Finished:
    code: int
    stdout: str
    stderr: str


class BackgroundCommand:
    """One command running in its own folder; `wait()` gives its exit code and output once it ends."""

    def __init__(self, command: list[str], folder: Path, cwd: Path | None = None) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._stdout = open(folder / "stdout.txt", "w+")  # noqa: SIM115 - closed in wait()/stop()
        self._stderr = open(folder / "stderr.txt", "w+")  # noqa: SIM115
        self._process = subprocess.Popen(command, stdout=self._stdout, stderr=self._stderr, cwd=cwd)
        self._finished: Finished | None = None

    def wait(self) -> Finished:
        if self._finished is None:
            code = self._process.wait()
            self._finished = Finished(code, self._read(self._stdout), self._read(self._stderr))
        return self._finished

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        for stream in (self._stdout, self._stderr):
            stream.close()

    @staticmethod
    def _read(stream) -> str:
        stream.flush()
        stream.seek(0)
        text = stream.read()
        stream.close()
        return text


class BackgroundBuilds:
    """The run's background commands by name, in one temporary folder removed at the end of the run."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="trtconvert-test-builds-"))
        self._commands: dict[str, BackgroundCommand] = {}

    def start(self, name: str, command: list[str], cwd: Path | None = None) -> None:
        if name not in self._commands:
            self._commands[name] = BackgroundCommand(command, self.root / name, cwd)

    def get(self, name: str) -> BackgroundCommand | None:
        return self._commands.get(name)

    def folder(self, name: str) -> Path:
        return self.root / name

    def close(self) -> None:
        for command in self._commands.values():
            command.stop()
        shutil.rmtree(self.root, ignore_errors=True)
