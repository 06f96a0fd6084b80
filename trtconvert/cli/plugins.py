"""`trtconvert plugins`: build the TensorRT plugin library (and, for tests and benchmarks, the CUDA kernels)."""

from __future__ import annotations

import time
from pathlib import Path

import click

from trtconvert import log
from trtconvert.cli.options import (
    EPILOG_CODES,
    StrictCommand,
    StrictGroup,
    emit,
    report_options,
    setup_logging,
)


@click.group("plugins", cls=StrictGroup)
def plugins() -> None:
    """The TensorRT plugin library libtrtconvert_plugins.so, with the DynamicTRTResize plugin that the
    rewrite stage emits for cubic Resize nodes.

    \b
    Example:
      trtconvert plugins build --tensorrt-root /opt/tensorrt
      trtconvert build model.onnx -o model.plan --profile 'input=1x3x64x64:1x3x256x256:1x3x512x512' \\
          --plugin "$(trtconvert plugins build -q)"
    """


@plugins.command("build", epilog=EPILOG_CODES, cls=StrictCommand)
@click.option(
    "--tensorrt-root",
    type=click.Path(path_type=Path, file_okay=False),
    metavar="DIR",
    default=None,
    help="TensorRT install or source tree with include/NvInferRuntime.h (default: $TENSORRT_ROOT, then the "
    "standard install paths). Headers alone are enough; build against the TensorRT major version you run.",
)
@click.option(
    "-o",
    "--output-dir",
    type=click.Path(path_type=Path, file_okay=False),
    metavar="DIR",
    default=None,
    help="Folder that receives the library, replaced atomically (default: build/lib of this checkout).",
)
@click.option(
    "--build-dir",
    type=click.Path(path_type=Path, file_okay=False),
    metavar="DIR",
    default=None,
    help="CMake build folder, reused by later builds (default: build/native of this checkout).",
)
@click.option(
    "--kernels-only",
    is_flag=True,
    help="Build only the CUDA kernel library libtrtconvert_kernels.so (no TensorRT needed), for the GPU tests "
    "and benchmarks.",
)
@click.option(
    "--cuda-archs",
    metavar="LIST",
    default=None,
    help="GPU architectures, e.g. '80;86;89;90' or '80,90' or 'native' (default: 80, 86, 89, 90 and the newer "
    "major architectures this nvcc knows, with PTX for the newest).",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(1, None),
    default=None,
    help="Parallel compile jobs (default: all cores).",
)
@click.option(
    "--werror", is_flag=True, help="Treat warnings in trtconvert's own C++ and CUDA code as errors."
)
@report_options
def build(
    tensorrt_root: Path | None,
    output_dir: Path | None,
    build_dir: Path | None,
    kernels_only: bool,
    cuda_archs: str | None,
    jobs: int | None,
    werror: bool,
    as_json: bool,
    verbose: int,
    quiet: bool,
    debug: bool,
) -> None:
    """Build libtrtconvert_plugins.so with CMake and print its path.

    Needs CMake, the CUDA toolkit (nvcc) and the headers of the TensorRT you run (8.5 to 11); TensorRT's
    libraries and a GPU are not needed to build. The headers' version picks the plugin interface: IPluginV3 for
    TensorRT 10 and 11, IPluginV2DynamicExt for 8.5 to 9.x (same node, attributes and results). Without TensorRT headers it exits 3
    and says how to get them; -v echoes CMake's and the compiler's output, and with -q stdout gets the library
    path alone. Load the library with
    `trtconvert build --plugin`, trtexec --staticPlugins or --dynamicPlugins, polygraphy --plugins, Triton, or
    ctypes.CDLL after `import tensorrt` (see csrc/plugins/README.md).

    \b
    Example:
      trtconvert plugins build --tensorrt-root /opt/TensorRT-10.16.0 -o /opt/trtconvert/lib
      TENSORRT_ROOT=~/src/TensorRT trtconvert plugins build --cuda-archs '86;89'
      trtconvert plugins build --kernels-only
    """
    setup_logging(verbose, quiet)
    from trtconvert.native.build import build_native

    start = time.perf_counter()
    result = build_native(
        build_dir=build_dir,
        output_dir=output_dir,
        tensorrt_root=tensorrt_root,
        kernels_only=kernels_only,
        cuda_architectures=cuda_archs,
        jobs=jobs,
        werror=werror,
    )
    headers = result.tensorrt
    what = (
        "CUDA kernels"
        if headers is None
        else f"TensorRT {headers.version} plugins ({headers.plugin_interface})"
    )
    log.stage("native", time.perf_counter() - start, f"{what} built ({result.build_dir})")
    if as_json:
        emit({"ok": True, **result.to_json()}, True)
    else:
        click.echo(str(result.library))
