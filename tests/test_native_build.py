"""`trtconvert plugins build` and its CMake driver, trtconvert.native.build.

Header discovery, argument checks, the commands handed to CMake and the install step run everywhere with a
recording runner instead of CMake. The CLI is checked end to end for its refusals (exit 3 without TensorRT
headers, exit 2 for a malformed --cuda-archs); one real kernels-only build (marked slow) needs cmake and nvcc.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from trtconvert.cli.plugins import plugins
from trtconvert.errors import BadInput, BuildFailed, MissingDependency
from trtconvert.native import build as native_build


def _headers(folder: Path, version: tuple[int, int, int], enterprise: bool = False) -> Path:
    """A TensorRT-like include folder: an NvInferRuntime.h marker and an NvInferVersion.h with ``version``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "NvInferRuntime.h").write_text("// marker for header discovery\n")
    major, minor, patch = version
    if enterprise:  # the layout of TensorRT 10.11 and later
        text = (
            f"#define TRT_MAJOR_ENTERPRISE {major}\n#define TRT_MINOR_ENTERPRISE {minor}\n"
            f"#define TRT_PATCH_ENTERPRISE {patch}\n#define NV_TENSORRT_MAJOR TRT_MAJOR_ENTERPRISE\n"
            "#define NV_TENSORRT_MINOR TRT_MINOR_ENTERPRISE\n#define NV_TENSORRT_PATCH TRT_PATCH_ENTERPRISE\n"
        )
    else:
        text = (
            f"#define NV_TENSORRT_MAJOR {major}\n#define NV_TENSORRT_MINOR {minor}\n"
            f"#define NV_TENSORRT_PATCH {patch}\n"
        )
    (folder / "NvInferVersion.h").write_text(text)
    return folder


def test_headers_from_root_env_and_standard_paths(tmp_path: Path):
    explicit = _headers(tmp_path / "explicit" / "include", (10, 9, 0)).parent
    from_env = _headers(tmp_path / "env" / "include", (11, 1, 0), enterprise=True).parent
    standard = _headers(tmp_path / "usr_include", (10, 16, 0), enterprise=True)

    found = native_build.find_tensorrt_headers(explicit, environ={"TENSORRT_ROOT": str(from_env)})
    assert (found.include_dir, found.version, found.major) == (explicit.resolve() / "include", "10.9.0", 10)
    assert found.root == explicit.resolve()

    found = native_build.find_tensorrt_headers(None, environ={"TENSORRT_ROOT": str(from_env)})
    assert (found.version, found.root) == ("11.1.0", from_env.resolve())

    found = native_build.find_tensorrt_headers(
        None, environ={}, standard_dirs=[str(tmp_path / "nothing"), str(standard)]
    )
    assert (found.include_dir, found.version, found.root) == (standard, "10.16.0", None)

    # The include folder itself is accepted as a root.
    found = native_build.find_tensorrt_headers(explicit / "include", environ={})
    assert found.include_dir == (explicit / "include").resolve()


def test_missing_or_old_headers_exit_3_with_the_way_to_get_them(tmp_path: Path):
    with pytest.raises(MissingDependency) as missing:
        native_build.find_tensorrt_headers(None, environ={}, standard_dirs=[str(tmp_path)])
    assert missing.value.exit_code == 3
    assert "NvInferRuntime.h" in str(missing.value) and "--tensorrt-root" in str(missing.value)
    assert "github.com/NVIDIA/TensorRT" in str(missing.value)

    # A given root is the only place looked at, even when a standard path has headers.
    standard = _headers(tmp_path / "standard", (10, 9, 0))
    with pytest.raises(MissingDependency, match="--tensorrt-root .*typo holds no TensorRT headers"):
        native_build.find_tensorrt_headers(tmp_path / "typo", environ={}, standard_dirs=[str(standard)])
    with pytest.raises(MissingDependency, match="TENSORRT_ROOT .* holds no TensorRT headers"):
        native_build.find_tensorrt_headers(
            None, environ={"TENSORRT_ROOT": str(tmp_path / "typo")}, standard_dirs=[str(standard)]
        )

    old = _headers(tmp_path / "trt84" / "include", (8, 4, 3)).parent
    with pytest.raises(MissingDependency, match="version 8.4.3; the plugins need TensorRT 8.5 or newer"):
        native_build.find_tensorrt_headers(old, environ={})
    # 8.5 to 9.x build the IPluginV2DynamicExt plugin, 10 and newer the IPluginV3 one.
    for version, interface in (((8, 5, 3), "IPluginV2DynamicExt"), ((9, 3, 0), "IPluginV2DynamicExt"),
                               ((10, 0, 1), "IPluginV3"), ((11, 1, 0), "IPluginV3")):  # fmt: skip
        root = _headers(tmp_path / f"trt{version[0]}{version[1]}" / "include", version).parent
        assert native_build.find_tensorrt_headers(root, environ={}).plugin_interface == interface

    broken = tmp_path / "broken" / "include"
    broken.mkdir(parents=True)
    (broken / "NvInferRuntime.h").write_text("\n")
    with pytest.raises(MissingDependency, match="NvInferVersion.h"):
        native_build.find_tensorrt_headers(broken.parent, environ={})


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("80", "80"),
        ("80;86;89;90", "80;86;89;90"),
        ("80,90", "80;90"),
        (" 86-real, 90 ", "86-real;90"),
        ("native", "native"),
        ("all-major", "all-major"),
    ],
)
def test_cuda_architectures_accepted(given: str, expected: str):
    assert native_build.normalize_architectures(given) == expected


@pytest.mark.parametrize("given", ["sm_80", "8.0", "", "80;;90", "compute_90", "80;native"])
def test_cuda_architectures_rejected(given: str):
    with pytest.raises(BadInput, match="--cuda-archs"):
        native_build.normalize_architectures(given)


def test_missing_tools_exit_3(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MissingDependency, match="cmake not found.*pip install cmake"):
        native_build.find_cmake()
    monkeypatch.setattr(native_build, "NVCC_CANDIDATES", ())
    with pytest.raises(MissingDependency, match="nvcc.*CUDA toolkit"):
        native_build.find_nvcc(environ={})
    with pytest.raises(MissingDependency, match="CUDACXX=.*not an executable"):
        native_build.find_nvcc(environ={"CUDACXX": str(tmp_path / "nvcc")})
    fake = tmp_path / "bin" / "nvcc"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    assert native_build.find_nvcc(environ={"CUDA_HOME": str(tmp_path)}) == str(fake)


class _RecordingRunner:
    """Stands in for CMake: records each command and, on --build, leaves a library where CMake would."""

    def __init__(self, fail_at: str | None = None):
        self.commands: list[list[str]] = []
        self.fail_at = fail_at

    def __call__(self, command: list[str], log_file: Path) -> int:
        self.commands.append(command)
        stage = "build" if "--build" in command else "configure"
        with log_file.open("a") as sink:
            sink.write(f"{stage} output\n")
            if stage == self.fail_at:
                sink.write("/src/plugin.cpp:12:3: error: 'nvinfer1::IPluginV3' has not been declared\n")
                return 2
        if stage == "build":
            build_dir = Path(command[command.index("--build") + 1])
            if "trtconvert_kernels_shared" in command:
                library = build_dir / "kernels" / native_build.KERNEL_LIBRARY
            else:
                library = build_dir / "plugins" / native_build.PLUGIN_LIBRARY
                (build_dir / "trtconvert_plugins_path.txt").write_text(f"{library}\n")
            library.parent.mkdir(parents=True, exist_ok=True)
            library.write_bytes(b"\x7fELF built " + stage.encode())
        return 0


@pytest.fixture
def tools(monkeypatch, tmp_path: Path) -> Path:
    """cmake and nvcc as found by the driver, and TensorRT 10.16 headers under TENSORRT_ROOT."""
    monkeypatch.setattr(native_build, "find_cmake", lambda: "/usr/bin/cmake")
    monkeypatch.setattr(native_build, "find_nvcc", lambda: "/usr/local/cuda/bin/nvcc")
    root = _headers(tmp_path / "TensorRT" / "include", (10, 16, 0), enterprise=True).parent
    monkeypatch.setenv("TENSORRT_ROOT", str(root))
    return root


def test_build_configures_builds_and_installs_the_plugin_library(tools: Path, tmp_path: Path):
    runner = _RecordingRunner()
    out = tmp_path / "out"
    out.mkdir()
    (out / native_build.PLUGIN_LIBRARY).write_bytes(b"old library")
    result = native_build.build_native(
        build_dir=tmp_path / "build", output_dir=out, cuda_architectures="86,89", jobs=3, runner=runner
    )
    configure, build = runner.commands
    assert configure[:5] == [
        "/usr/bin/cmake",
        "-S",
        str(native_build.source_dir()),
        "-B",
        str(tmp_path / "build"),
    ]
    assert "-DTRTCONVERT_KERNELS_ONLY=OFF" in configure
    assert "-DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc" in configure
    assert f"-DTENSORRT_ROOT={tools.resolve()}" in configure
    assert f"-DTENSORRT_INCLUDE_DIR={tools.resolve() / 'include'}" in configure
    assert "-DCMAKE_CUDA_ARCHITECTURES=86;89" in configure
    assert build == [
        "/usr/bin/cmake",
        "--build",
        str(tmp_path / "build"),
        "--parallel",
        "3",
        "--target",
        "trtconvert_plugins",
    ]
    # The library replaced the old one whole, and nothing half-written is left beside it.
    assert result.library == out.resolve() / native_build.PLUGIN_LIBRARY
    assert result.library.read_bytes() == b"\x7fELF built build"
    assert os.access(result.library, os.X_OK)
    assert sorted(p.name for p in out.iterdir()) == [native_build.PLUGIN_LIBRARY]
    assert result.tensorrt is not None and result.tensorrt.version == "10.16.0"
    report = result.to_json()
    assert report["cuda_architectures"] == "86;89" and report["tensorrt_headers_version"] == "10.16.0"


def test_default_architectures_are_left_to_the_kernel_build(tools: Path, tmp_path: Path):
    runner = _RecordingRunner()
    result = native_build.build_native(build_dir=tmp_path / "b", output_dir=tmp_path / "o", runner=runner)
    configure = runner.commands[0]
    assert "-UCMAKE_CUDA_ARCHITECTURES" in configure
    assert not any(arg.startswith("-DCMAKE_CUDA_ARCHITECTURES") for arg in configure)
    assert result.cuda_architectures == "default"


def test_kernels_only_needs_no_tensorrt(monkeypatch, tmp_path: Path):
    monkeypatch.setattr(native_build, "find_cmake", lambda: "cmake")
    monkeypatch.setattr(native_build, "find_nvcc", lambda: "nvcc")

    def no_headers(*args, **kwargs):
        raise AssertionError("kernels-only must not look for TensorRT")

    monkeypatch.setattr(native_build, "find_tensorrt_headers", no_headers)
    runner = _RecordingRunner()
    result = native_build.build_native(
        build_dir=tmp_path / "b", output_dir=tmp_path / "o", kernels_only=True, runner=runner
    )
    assert "-DTRTCONVERT_KERNELS_ONLY=ON" in runner.commands[0]
    assert not any("TENSORRT" in arg for arg in runner.commands[0])
    assert runner.commands[1][-2:] == ["--target", "trtconvert_kernels_shared"]
    assert result.library.name == native_build.KERNEL_LIBRARY and result.tensorrt is None


@pytest.mark.parametrize("stage", ["configure", "build"])
def test_failures_are_build_failed_with_the_compiler_words(tools: Path, tmp_path: Path, stage: str):
    out = tmp_path / "out"
    with pytest.raises(BuildFailed) as failed:
        native_build.build_native(
            build_dir=tmp_path / "b", output_dir=out, runner=_RecordingRunner(fail_at=stage)
        )
    assert failed.value.exit_code == 5
    assert "IPluginV3' has not been declared" in str(failed.value)
    assert str(tmp_path / "b" / "trtconvert-build.log") in str(failed.value)
    assert not out.exists() or not any(out.iterdir())


def test_default_paths_live_in_the_checkout():
    repo = native_build.source_dir().parent
    assert native_build.default_library_path() == repo / "build" / "lib" / native_build.PLUGIN_LIBRARY
    assert native_build.default_build_dir() == repo / "build" / "native"
    assert (native_build.source_dir() / "plugins" / "CMakeLists.txt").is_file()


# ---- the command line


@pytest.fixture
def trtconvert(run_cli, monkeypatch):
    """`trtconvert ARGS` through the real entry point (error lines and exit codes included), with the plugins
    group registered as the main CLI registers it."""
    from trtconvert.cli import main as cli_module

    if "plugins" not in cli_module.cli.commands:
        monkeypatch.setitem(cli_module.cli.commands, "plugins", plugins)
    return run_cli


def test_cli_help_has_an_example():
    result = CliRunner().invoke(plugins, ["build", "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output and "trtconvert plugins build --tensorrt-root" in result.output
    assert "--kernels-only" in result.output and "--cuda-archs" in result.output


def test_cli_without_headers_exits_3(trtconvert, monkeypatch, tmp_path: Path):
    monkeypatch.delenv("TENSORRT_ROOT", raising=False)
    monkeypatch.setattr(native_build, "STANDARD_INCLUDE_DIRS", (str(tmp_path),))
    monkeypatch.setattr(native_build, "find_cmake", lambda: "cmake")
    monkeypatch.setattr(native_build, "find_nvcc", lambda: "nvcc")
    result = trtconvert("plugins", "build", "--build-dir", tmp_path / "b")
    assert result.code == 3
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "TensorRT headers (NvInferRuntime.h) not found" in lines[0]
    assert "--tensorrt-root" in lines[0]

    result = trtconvert("plugins", "build", "--tensorrt-root", tmp_path / "nope", "--json")
    assert result.code == 3
    assert json.loads(result.stdout)["exit_code"] == 3


def test_cli_bad_architectures_exit_2(trtconvert, tmp_path: Path):
    result = trtconvert("plugins", "build", "--cuda-archs", "sm_90", "--build-dir", tmp_path)
    assert result.code == 2 and "error: --cuda-archs 'sm_90'" in result.stderr


def test_cli_prints_the_library_path_alone_on_stdout(trtconvert, monkeypatch, tools: Path, tmp_path: Path):
    runner = _RecordingRunner()
    real = native_build.build_native
    monkeypatch.setattr(native_build, "build_native", lambda **kwargs: real(runner=runner, **kwargs))
    result = trtconvert("plugins", "build", "-o", tmp_path / "lib", "--build-dir", tmp_path / "b", "--werror")
    assert result.code == 0, result.stderr
    assert result.stdout.strip() == str((tmp_path / "lib" / native_build.PLUGIN_LIBRARY).resolve())
    assert "-DTRTCONVERT_WERROR=ON" in runner.commands[0]
    assert "TensorRT 10.16.0 plugins (IPluginV3) built" in result.stderr


@pytest.mark.slow
def test_cli_kernels_only_real_build(kernel_build):
    assert kernel_build.code == 0, kernel_build.stderr
    library = Path(kernel_build.stdout.strip())
    assert library == (kernel_build.lib_dir / native_build.KERNEL_LIBRARY).resolve()
    assert library.read_bytes()[:4] == b"\x7fELF"
