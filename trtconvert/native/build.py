"""Build the native libraries of csrc/ with CMake: the TensorRT plugin library, or the CUDA kernels alone.

`trtconvert plugins build` drives this. It checks what the build needs before starting CMake (cmake, nvcc, and
for the plugins TensorRT's headers) and says how to get what is missing (exit code 3). The headers' version picks
the plugin interface: IPluginV3 from TensorRT 10, IPluginV2DynamicExt for 8.5 to 9.x. TensorRT's headers are
found from --tensorrt-root, then TENSORRT_ROOT, then the standard install paths; TensorRT's libraries are
optional (the plugin library links against headers alone). The build runs in a build folder that later builds
reuse, and the library is copied, atomically, into an output folder whose path is printed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from trtconvert import log
from trtconvert.errors import BadInput, BuildFailed, MissingDependency

PLUGIN_LIBRARY = "libtrtconvert_plugins.so"
KERNEL_LIBRARY = "libtrtconvert_kernels.so"

# Searched in this order when neither --tensorrt-root nor TENSORRT_ROOT is given: the Debian/Ubuntu packages,
# NVIDIA's tar archives unpacked in the usual places, then the generic prefixes.
STANDARD_INCLUDE_DIRS = (
    "/usr/include/x86_64-linux-gnu",
    "/usr/include/aarch64-linux-gnu",
    "/usr/local/tensorrt/include",
    "/opt/tensorrt/include",
    "/usr/local/include",
    "/usr/include",
)
NVCC_CANDIDATES = ("/usr/local/cuda/bin/nvcc", "/opt/cuda/bin/nvcc")

# The oldest TensorRT the plugin library builds for (IPluginV2DynamicExt with the name-based runtime API).
OLDEST_TENSORRT = (8, 5)

GET_TENSORRT_HEADERS = (
    "install TensorRT 8.5 to 11 (the tar archive or the libnvinfer-dev package) and pass --tensorrt-root DIR or "
    "set TENSORRT_ROOT; the headers alone are enough to build, e.g. "
    "`git clone --depth 1 --branch v10.16 https://github.com/NVIDIA/TensorRT` (the tag of the TensorRT you run) "
    "and --tensorrt-root TensorRT"
)
GET_CMAKE = "install CMake 3.24 or newer: `pip install cmake` or your package manager (apt install cmake)"
GET_NVCC = (
    "install the CUDA toolkit (https://developer.nvidia.com/cuda-downloads) and put nvcc on PATH, or set CUDACXX "
    "to its path"
)
_ARCH_RE = re.compile(r"^(native|all|all-major|\d+(-real|-virtual)?([;,]\d+(-real|-virtual)?)*)$")


@dataclass(frozen=True)
class TensorRTHeaders:
    """Where NvInferRuntime.h is and which TensorRT version its NvInferVersion.h declares."""

    include_dir: Path
    version: str
    root: Path | None  # the --tensorrt-root / TENSORRT_ROOT it came from, None for a standard path

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    @property
    def minor(self) -> int:
        return int(self.version.split(".")[1])

    @property
    def plugin_interface(self) -> str:
        """The interface the library is built with for these headers: IPluginV3 from 10.0, V2 before."""
        return "IPluginV3" if self.major >= 10 else "IPluginV2DynamicExt"


@dataclass(frozen=True)
class NativeBuild:
    """What a build produced."""

    library: Path  # the library in the output folder
    build_dir: Path
    kernels_only: bool
    tensorrt: TensorRTHeaders | None
    cuda_architectures: str  # as given, or "default" for the kernel build's own choice
    log_file: Path

    def to_json(self) -> dict:
        return {
            "library": str(self.library),
            "build_dir": str(self.build_dir),
            "kernels_only": self.kernels_only,
            "tensorrt_include_dir": str(self.tensorrt.include_dir) if self.tensorrt else None,
            "tensorrt_headers_version": self.tensorrt.version if self.tensorrt else None,
            "plugin_interface": self.tensorrt.plugin_interface if self.tensorrt else None,
            "cuda_architectures": self.cuda_architectures,
            "log": str(self.log_file),
        }


# The checkout this package runs from: trtconvert/native/build.py -> the repository root.
CHECKOUT = Path(__file__).resolve().parents[2]


def source_dir() -> Path:
    """csrc/ of the checkout this package runs from."""
    return CHECKOUT / "csrc"


def default_build_dir() -> Path:
    return CHECKOUT / "build" / "native"


def default_output_dir() -> Path:
    return CHECKOUT / "build" / "lib"


# Set to a library path, these take the place of the default location for tests, benchmarks and doctor.
LIBRARY_ENVIRONMENT = {PLUGIN_LIBRARY: "TRTCONVERT_PLUGIN_LIBRARY", KERNEL_LIBRARY: "TRTCONVERT_KERNELS_LIB"}


def default_library_path(kernels_only: bool = False) -> Path:
    """Where `trtconvert plugins build [--kernels-only]` puts its library when no -o is given."""
    return default_output_dir() / (KERNEL_LIBRARY if kernels_only else PLUGIN_LIBRARY)


def library_path(kernels_only: bool = False) -> Path:
    """The library to use: its environment variable's path where set, else the default location (may not exist)."""
    name = KERNEL_LIBRARY if kernels_only else PLUGIN_LIBRARY
    configured = os.environ.get(LIBRARY_ENVIRONMENT[name])
    return Path(configured) if configured else default_library_path(kernels_only)


def _read_version(include_dir: Path) -> str:
    header = include_dir / "NvInferVersion.h"
    try:
        text = header.read_text(errors="replace")
    except OSError:
        return "unknown"
    parts = []
    for part in ("MAJOR", "MINOR", "PATCH"):
        # 10.x releases from 10.11 on define TRT_<PART>_ENTERPRISE and alias NV_TENSORRT_<PART> to it.
        match = re.search(rf"#define\s+TRT_{part}_ENTERPRISE\s+(\d+)", text) or re.search(
            rf"#define\s+NV_TENSORRT_{part}\s+(\d+)", text
        )
        if match is None:
            return "unknown"
        parts.append(match.group(1))
    return ".".join(parts)


def _headers_in(directory: Path) -> Path | None:
    for candidate in (directory / "include", directory):
        if (candidate / "NvInferRuntime.h").is_file():
            return candidate
    return None


def find_tensorrt_headers(
    tensorrt_root: Path | None,
    environ: Mapping[str, str] | None = None,
    standard_dirs: Sequence[str] | None = None,
) -> TensorRTHeaders:
    """TensorRT's include folder: from ``tensorrt_root``, else $TENSORRT_ROOT, else the standard install paths.

    A given root is the only place looked at, so that a typo never silently builds against other headers.
    Raises MissingDependency with the way to get the headers, or for TensorRT older than 8.5.
    """
    environ = os.environ if environ is None else environ
    standard_dirs = STANDARD_INCLUDE_DIRS if standard_dirs is None else standard_dirs
    if tensorrt_root is not None:
        roots = [(tensorrt_root, "--tensorrt-root")]
    elif environ.get("TENSORRT_ROOT"):
        roots = [(Path(environ["TENSORRT_ROOT"]), "TENSORRT_ROOT")]
    else:
        roots = []
    for root, origin in roots:
        include_dir = _headers_in(root)
        if include_dir is None:
            raise MissingDependency(
                f"{origin} {root} holds no TensorRT headers (no NvInferRuntime.h in {root}/include or {root}); "
                f"{GET_TENSORRT_HEADERS}"
            )
        return _checked(TensorRTHeaders(include_dir.resolve(), _read_version(include_dir), root.resolve()))
    for directory in standard_dirs:
        if (Path(directory) / "NvInferRuntime.h").is_file():
            return _checked(TensorRTHeaders(Path(directory), _read_version(Path(directory)), None))
    raise MissingDependency(
        f"TensorRT headers (NvInferRuntime.h) not found in {', '.join(standard_dirs)}; {GET_TENSORRT_HEADERS}"
    )


def _checked(headers: TensorRTHeaders) -> TensorRTHeaders:
    if headers.version == "unknown":
        raise MissingDependency(
            f"{headers.include_dir} has NvInferRuntime.h but no readable NvInferVersion.h; point --tensorrt-root at "
            f"a complete TensorRT include folder; {GET_TENSORRT_HEADERS}"
        )
    if (headers.major, headers.minor) < OLDEST_TENSORRT:
        oldest = ".".join(map(str, OLDEST_TENSORRT))
        raise MissingDependency(
            f"the TensorRT headers in {headers.include_dir} are version {headers.version}; the plugins need TensorRT "
            f"{oldest} or newer; {GET_TENSORRT_HEADERS}"
        )
    return headers


def find_cmake() -> str:
    cmake = shutil.which("cmake")
    if cmake is None:
        raise MissingDependency(f"cmake not found on PATH; {GET_CMAKE}")
    return cmake


def find_nvcc(environ: Mapping[str, str] | None = None) -> str:
    """nvcc from $CUDACXX, PATH, $CUDA_HOME or $CUDA_PATH, or the usual install folders."""
    environ = os.environ if environ is None else environ
    if environ.get("CUDACXX"):
        if not os.access(environ["CUDACXX"], os.X_OK):
            raise MissingDependency(f"CUDACXX={environ['CUDACXX']} is not an executable nvcc; {GET_NVCC}")
        return environ["CUDACXX"]
    found = shutil.which("nvcc")
    if found:
        return found
    homes = [environ.get("CUDA_HOME"), environ.get("CUDA_PATH")]
    for candidate in [f"{home}/bin/nvcc" for home in homes if home] + list(NVCC_CANDIDATES):
        if os.access(candidate, os.X_OK):
            return candidate
    raise MissingDependency(f"nvcc (the CUDA compiler) not found; {GET_NVCC}")


def normalize_architectures(text: str) -> str:
    """``80,86`` or ``80;86-real`` as CMake's ``80;86``; BadInput for anything CMAKE_CUDA_ARCHITECTURES rejects."""
    value = text.strip().replace(" ", "")
    if not _ARCH_RE.match(value):
        raise BadInput(
            f"--cuda-archs {text!r} is not a list of GPU architectures; write e.g. '80;86;89;90' or '80,90' "
            "(compute capability without the dot), 'native' for this machine's GPU, or 'all-major'"
        )
    return value.replace(",", ";")


def configure_command(
    cmake: str,
    nvcc: str,
    build_dir: Path,
    *,
    kernels_only: bool,
    headers: TensorRTHeaders | None,
    cuda_architectures: str | None,
    werror: bool,
    build_tests: bool,
) -> list[str]:
    command = [
        cmake,
        "-S",
        str(source_dir()),
        "-B",
        str(build_dir),
        "-DCMAKE_BUILD_TYPE=Release",
        f"-DCMAKE_CUDA_COMPILER={nvcc}",
        f"-DTRTCONVERT_KERNELS_ONLY={'ON' if kernels_only else 'OFF'}",
        f"-DTRTCONVERT_WERROR={'ON' if werror else 'OFF'}",
        f"-DTRTCONVERT_BUILD_TESTS={'ON' if build_tests else 'OFF'}",
    ]
    if headers is not None:
        command.append(f"-DTENSORRT_ROOT={headers.root or ''}")
        command.append(f"-DTENSORRT_INCLUDE_DIR={headers.include_dir}")
    if cuda_architectures is not None:
        command.append(f"-DCMAKE_CUDA_ARCHITECTURES={cuda_architectures}")
    else:
        # Forget architectures an earlier --cuda-archs left in the cache, so the kernel build picks its defaults.
        command.append("-UCMAKE_CUDA_ARCHITECTURES")
    return command


def build_command(
    cmake: str, build_dir: Path, *, kernels_only: bool, build_tests: bool, jobs: int | None
) -> list[str]:
    command = [cmake, "--build", str(build_dir), "--parallel", str(jobs or os.cpu_count() or 2)]
    if not build_tests:
        command += ["--target", "trtconvert_kernels_shared" if kernels_only else "trtconvert_plugins"]
    return command


Runner = Callable[[list[str], Path], int]


def _run_logged(command: list[str], log_file: Path) -> int:
    """Run ``command`` with its output appended to ``log_file`` (and echoed at -v); returns its exit status."""
    log.LOGGER.debug("          $ %s", " ".join(command))
    with log_file.open("a") as sink:
        sink.write(f"$ {' '.join(command)}\n")
        sink.flush()
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
        )
        assert process.stdout is not None
        for line in process.stdout:
            sink.write(line)
            log.LOGGER.debug("          %s", line.rstrip())
        return process.wait()


def _tail(log_file: Path, lines: int = 12) -> str:
    """The last error-looking lines of a build log, joined into one line for the error message."""
    try:
        text = log_file.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    errors = [line.strip() for line in text if re.search(r"\berror\b|Error|FATAL", line)]
    picked = errors[-3:] if errors else [line.strip() for line in text[-lines:] if line.strip()][-3:]
    return " | ".join(picked)


def _built_library(build_dir: Path, kernels_only: bool) -> Path:
    if not kernels_only:
        recorded = build_dir / "trtconvert_plugins_path.txt"
        if recorded.is_file():
            path = Path(recorded.read_text().strip())
            if path.is_file():
                return path
    name = KERNEL_LIBRARY if kernels_only else PLUGIN_LIBRARY
    found = sorted(build_dir.rglob(name))
    if not found:
        raise BuildFailed(
            f"the build finished but {name} is not in {build_dir}; rerun with -v and check the log"
        )
    return found[0]


def _install(library: Path, output_dir: Path) -> Path:
    """Copy the library into ``output_dir`` atomically: a process that has the old one loaded keeps it."""
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise BadInput(f"cannot create the output folder {output_dir}: {err.strerror}") from None
    target = output_dir / library.name
    handle, temporary = tempfile.mkstemp(prefix=f".{library.name}.", suffix=".partial", dir=output_dir)
    os.close(handle)
    try:
        shutil.copyfile(library, temporary)
        os.chmod(temporary, 0o755)
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return target


def build_native(
    *,
    build_dir: Path | None = None,
    output_dir: Path | None = None,
    tensorrt_root: Path | None = None,
    kernels_only: bool = False,
    cuda_architectures: str | None = None,
    jobs: int | None = None,
    werror: bool = False,
    build_tests: bool = False,
    runner: Runner = _run_logged,
) -> NativeBuild:
    """Configure and build with CMake, then copy the library into ``output_dir``.

    Raises MissingDependency (exit 3) when cmake, nvcc or, for the plugins, TensorRT's headers are missing,
    BadInput (exit 2) for a malformed --cuda-archs, and BuildFailed (exit 5) when CMake or the compiler fails.
    """
    if not (source_dir() / "CMakeLists.txt").is_file():
        raise MissingDependency(
            f"the C++ sources are not next to this trtconvert ({source_dir()} is missing); build from a source "
            "checkout: git clone the repository and pip install -e ."
        )
    architectures = normalize_architectures(cuda_architectures) if cuda_architectures is not None else None
    cmake = find_cmake()
    nvcc = find_nvcc()
    headers = None if kernels_only else find_tensorrt_headers(tensorrt_root)
    build_dir = (build_dir or default_build_dir()).resolve()
    output_dir = (output_dir or default_output_dir()).resolve()
    try:
        build_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise BadInput(f"cannot create the build folder {build_dir}: {err.strerror}") from None
    log_file = build_dir / "trtconvert-build.log"
    log_file.write_text("")
    if headers is not None:
        log.LOGGER.info("TensorRT %s headers: %s", headers.version, headers.include_dir)

    configure = configure_command(
        cmake,
        nvcc,
        build_dir,
        kernels_only=kernels_only,
        headers=headers,
        cuda_architectures=architectures,
        werror=werror,
        build_tests=build_tests,
    )
    if runner(configure, log_file) != 0:
        raise BuildFailed(f"CMake could not configure the build: {_tail(log_file)}; full log: {log_file}")
    build = build_command(cmake, build_dir, kernels_only=kernels_only, build_tests=build_tests, jobs=jobs)
    if runner(build, log_file) != 0:
        raise BuildFailed(f"the native build failed: {_tail(log_file)}; full log: {log_file}")
    library = _install(_built_library(build_dir, kernels_only), output_dir)
    return NativeBuild(library, build_dir, kernels_only, headers, architectures or "default", log_file)
