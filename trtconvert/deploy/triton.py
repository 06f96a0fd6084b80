"""`export triton`: a Triton Inference Server model from built plans and their sidecars.

Writes ``REPO/NAME/config.pbtxt``, the plans (with their sidecars) under ``REPO/NAME/1/`` and the plugin
libraries they need under ``REPO/NAME/plugins/``. Everything in the config comes from the sidecars; nothing here
loads a plan, so no TensorRT or GPU is needed. The model folder is staged beside its destination and renamed
into place whole, so a failure leaves the repository as it was and the other models in it are never touched.

What the config says, and why:

- ``max_batch_size``: Triton's TensorRT backend treats axis 0 as a batch axis that the config leaves out of the
  dims only where every input and output starts with a dynamic axis. Here that means a symbolic dim in the
  sidecar, with a minimum of 1 in every profile; the value is the largest max batch of any profile, where a
  profile's max batch is the smallest max of axis 0 over its inputs (Triton's own autofill computes the same).
  Otherwise it is 0 and the dims are full. Dynamic dims are -1.
- One plan per compute capability: a plan runs only on the GPUs of the compute capability it was built for, so
  each gets its own file and a ``cc_model_filenames`` entry.
- Several optimization profiles: an instance group per profile, so that each instance uses the profile it was
  given rather than all of them sharing the first.
- Data types: the engine's, which TensorRT's ONNX parser narrows from some ONNX types (int64 to int32 before
  TensorRT 9, float64 to float32 always; settings/target.py). Triton refuses a config whose types differ
  from the engine's.
"""

from __future__ import annotations

import re
import shlex
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trtconvert import __version__, log
from trtconvert.atomic import copy_synced, staged_folder, write_synced
from trtconvert.engine.plan_files import read_sidecar, sha256_file, sidecar_path
from trtconvert.errors import BadInput, clipped
from trtconvert.native.build import default_library_path
from trtconvert.settings.target import engine_dtype

MODEL_VERSION = "1"
PLUGIN_FOLDER = "plugins"
# Triton serves a model under /v2/models/NAME and keeps it in a folder of that name.
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
# Triton's TensorRT backend looks a plan up by the device's "MAJOR.MINOR" printed as integers ("8.6", "9.0"):
# "08.6" would never be found.
_COMPUTE_CAPABILITY = re.compile(r"(0|[1-9][0-9]?)\.(0|[1-9][0-9]?)")

# The sidecar's dtype names (numpy's) as Triton's data types: only the eight TensorRT I/O types that Triton's
# TensorRT backend maps (ConvertTrtTypeToConfigDataType); a config with another, TYPE_INT16 say, is not loaded.
TRITON_TYPES = {
    "bool": "TYPE_BOOL",
    "uint8": "TYPE_UINT8",
    "int8": "TYPE_INT8",
    "int32": "TYPE_INT32",
    "int64": "TYPE_INT64",
    "float16": "TYPE_FP16",
    "float32": "TYPE_FP32",
    "bfloat16": "TYPE_BF16",
}

# Triton containers by the TensorRT version they ship, from the "Release Compatibility Matrix" of Triton's
# compatibility page (docs.nvidia.com/deeplearning/triton-inference-server/user-guide/docs/introduction/
# compatibility.html and its archived copies for releases 2.53 and 2.54), which lists the trtllm-python-py3
# containers. Versions not listed here are looked up in NVIDIA's Frameworks Support Matrix.
TRITON_CONTAINERS = {
    "10.0.1": ("24.05-trtllm-python-py3", "24.06-trtllm-python-py3"),
    "10.1.0": ("24.07-trtllm-python-py3",),
    "10.3.0": ("24.08-trtllm-python-py3",),
    "10.4.0": ("24.09-trtllm-python-py3", "24.10-trtllm-python-py3"),
    "10.6.0": ("24.11-trtllm-python-py3",),
    "10.7.0": ("24.12-trtllm-python-py3",),
    "10.8.0": ("25.01-trtllm-python-py3",),
    "10.10.0": ("25.06-trtllm-python-py3", "25.07-trtllm-python-py3"),
    "10.11.0": ("25.08-trtllm-python-py3", "25.09-trtllm-python-py3", "25.10-trtllm-python-py3"),
    "10.13.3": ("25.11-trtllm-python-py3", "25.12-trtllm-python-py3"),
}
SUPPORT_MATRIX = (
    "no Triton container on trtconvert's list ships it; NVIDIA's Frameworks Support Matrix gives the TensorRT of "
    "every Triton container"
)


def triton_containers(tensorrt_version: str) -> list[str]:
    """The Triton container tags known to ship this TensorRT (major.minor.patch decides a plan's runtime)."""
    release = ".".join(tensorrt_version.split(".")[:3])
    return [f"nvcr.io/nvidia/tritonserver:{tag}" for tag in TRITON_CONTAINERS.get(release, ())]


@dataclass(frozen=True)
class _Plan:
    path: Path
    sidecar: dict[str, Any]

    @property
    def compute_capability(self) -> str:
        return str(self.sidecar.get("gpu", {}).get("compute_capability", "unknown"))

    @property
    def tensorrt_version(self) -> str:
        return str(self.sidecar.get("tensorrt", {}).get("version", "unknown"))

    @property
    def version_compatible(self) -> bool:
        return bool(self.sidecar.get("config", {}).get("version_compatible"))

    @property
    def hardware_compatible(self) -> bool:
        return self.sidecar.get("config", {}).get("hardware_compatibility", "none") not in ("none", None)


@dataclass(frozen=True)
class _Tensor:
    name: str
    data_type: str
    dims: tuple[int | str | None, ...]


def _check_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise BadInput(
            f"--name {clipped(name)!r} is not a Triton model name: use letters, digits, '_', '.' and '-', "
            "at most 128 characters, not starting with '.' or '-' (Triton serves it as /v2/models/NAME)"
        )


def _check_repository(repository: Path) -> None:
    if repository.exists() and not repository.is_dir():
        raise BadInput(f"-o {repository} exists and is not a folder; give the model repository's folder")
    folder = repository
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise BadInput(f"-o {repository}: {folder} is not a folder, so the repository cannot be created")


def _read_plans(plans: Sequence[Path]) -> list[_Plan]:
    if not plans:
        raise BadInput(
            "export needs at least one PLAN (a .plan with its .plan.json sidecar from trtconvert build)"
        )
    read = []
    for plan in plans:
        if plan.suffix.lower() == ".json" and plan.with_suffix("").is_file():
            raise BadInput(f"{plan} is a sidecar; give the plan {plan.with_suffix('')} itself")
        sidecar = read_sidecar(plan)  # SidecarError: no sidecar, or other bytes than the plan
        # Everything the config says comes from these keys: without them it would describe no tensors.
        missing = [key for key in ("inputs", "outputs", "profiles") if key not in sidecar]
        if missing or not sidecar["outputs"]:
            what = f"has no {', '.join(repr(k) for k in missing)}" if missing else "lists no outputs"
            raise BadInput(
                f"the sidecar of {plan} {what}, which the Triton config is written from; rebuild the plan with "
                "trtconvert build"
            )
        read.append(_Plan(plan, sidecar))
    return read


def _tensors(sidecar: Mapping[str, Any], key: str) -> list[_Tensor]:
    frozen = set(sidecar.get("frozen", {}))
    tensors = []
    for entry in sidecar.get(key, []):
        if entry["name"] in frozen:
            continue  # a constant of the engine, not something a client sends
        # What the engine takes, which is what a client must send: TensorRT's parser narrows some ONNX types.
        dtype = engine_dtype(entry["dtype"], str(sidecar.get("tensorrt", {}).get("version", "")))
        if dtype not in TRITON_TYPES:
            raise BadInput(
                f"{key[:-1]} {clipped(entry['name'])!r} is of type {clipped(dtype)}, which Triton's TensorRT "
                f"backend does not serve; give the model inputs and outputs of one of its types "
                f"({', '.join(sorted(TRITON_TYPES))})"
            )
        if entry.get("dims") is None:
            raise BadInput(
                f"the sidecar gives no shape for {key[:-1]} {clipped(entry['name'])!r}, and Triton's config needs "
                "its dims; rebuild the plan from an ONNX whose shapes onnx's shape inference resolves"
            )
        tensors.append(_Tensor(entry["name"], TRITON_TYPES[dtype], tuple(entry["dims"])))
    return tensors


def _signature(plan: _Plan) -> tuple:
    sidecar = plan.sidecar
    return (tuple(_tensors(sidecar, "inputs")), tuple(_tensors(sidecar, "outputs")))


def _check_one_model(plans: list[_Plan]) -> None:
    first = plans[0]
    for other in plans[1:]:
        if _signature(other) != _signature(first):
            raise BadInput(
                f"{first.path} and {other.path} are plans of different models (their inputs or outputs "
                "differ); export each model under its own --name"
            )
        if other.sidecar.get("frozen", {}) != first.sidecar.get("frozen", {}):
            raise BadInput(
                f"{first.path} and {other.path} froze other inputs or values (--freeze); one Triton model serves "
                "one model on every GPU, so build every GPU's plan with the same --freeze"
            )
        if other.sidecar.get("profiles") != first.sidecar.get("profiles"):
            raise BadInput(
                f"{first.path} and {other.path} were built with different profiles; one Triton model "
                "has one set of profiles, so build every GPU's plan from the same config"
            )
        if other.tensorrt_version != first.tensorrt_version:
            raise BadInput(
                f"{first.path} needs TensorRT {first.tensorrt_version} and {other.path} TensorRT "
                f"{other.tensorrt_version}; one Triton server runs one TensorRT, so build both with the same one"
            )
    seen: dict[str, _Plan] = {}
    for plan in plans:
        if len(plans) > 1 and not _COMPUTE_CAPABILITY.fullmatch(plan.compute_capability):
            raise BadInput(
                f"the sidecar of {plan.path} gives compute capability {clipped(plan.compute_capability)!r}, not "
                "MAJOR.MINOR; Triton picks a plan by compute capability, so rebuild the plan"
            )
        if plan.compute_capability in seen:
            raise BadInput(
                f"{seen[plan.compute_capability].path} and {plan.path} are both built for compute "
                f"capability {plan.compute_capability}; Triton picks one file per compute capability, so give one"
            )
        seen[plan.compute_capability] = plan


def _is_symbolic(dim: int | str | None) -> bool:
    return not isinstance(dim, int)


def _batch_limits(sidecar: Mapping[str, Any]) -> list[int] | None:
    """Each profile's max batch where axis 0 is a dynamic batch axis everywhere, else None."""
    inputs, outputs = _tensors(sidecar, "inputs"), _tensors(sidecar, "outputs")
    if not inputs or not all(t.dims and _is_symbolic(t.dims[0]) for t in inputs + outputs):
        return None
    limits = []
    for profile in sidecar.get("profiles", []):
        ranges = [profile.get(t.name) for t in inputs]
        if any(r is None or not r["min"] or r["min"][0] != 1 for r in ranges):
            return None
        limits.append(min(r["max"][0] for r in ranges))
    return limits or None


def _warn_unproven_batch_axes(sidecar: Mapping[str, Any]) -> None:
    """With batching, Triton gives each request its rows of axis 0 of every output. An output whose axis 0 has
    another name than the inputs' may be a count that depends on the data (boxes after NMS, NonZero), which
    Triton would then cut at the request's batch size: said, with the flag that serves it whole."""
    batch_names = {t.dims[0] for t in _tensors(sidecar, "inputs") if isinstance(t.dims[0], str)}
    for tensor in _tensors(sidecar, "outputs"):
        if tensor.dims[0] not in batch_names:
            named = f"'{tensor.dims[0]}'" if isinstance(tensor.dims[0], str) else "unnamed"
            log.LOGGER.warning(
                f"output {clipped(tensor.name)!r}: axis 0 is {named}, not named like the inputs' batch axis "
                f"({', '.join(sorted(batch_names)) or 'unnamed'}); Triton splits it per request as a batch axis, so "
                "if it is a count that depends on the data (boxes after NMS, NonZero), give --max-batch-size 0"
            )


def _profiles_take_the_same_shapes(sidecar: Mapping[str, Any]) -> bool:
    """Whether every profile takes every shape the others take (they differ in their opt shapes at most)."""
    served = {t.name for t in _tensors(sidecar, "inputs")}

    def ranges(profile: Mapping[str, Any]) -> dict[str, tuple]:
        return {n: (tuple(r["min"]), tuple(r["max"])) for n, r in profile.items() if n in served}

    first, *others = sidecar.get("profiles", [{}]) or [{}]
    return all(ranges(other) == ranges(first) for other in others)


def _preferred_batch_sizes(sidecar: Mapping[str, Any], max_batch_size: int) -> list[int]:
    sizes = {
        r["opt"][0]
        for profile in sidecar.get("profiles", [])
        for name, r in profile.items()
        if r["opt"] and name not in sidecar.get("frozen", {})
    }
    return sorted(size for size in sizes if 1 <= size <= max_batch_size)


# Triton's model config holds instance counts in 32-bit integers: a larger count makes a config it cannot load.
MAX_INSTANCES = 2**31 - 1


def _decide_max_batch_size(sidecar: Mapping[str, Any], asked: int | None) -> tuple[int, list[int] | None]:
    limits = _batch_limits(sidecar)
    if asked is not None and asked < 0:
        raise BadInput(f"--max-batch-size {asked}: give 0 (full dims, no batching) or a positive batch size")
    if asked == 0:
        return 0, limits
    if limits is None:
        if asked is not None:
            raise BadInput(
                f"--max-batch-size {asked}: the model has no dynamic batch axis (axis 0 of every input and output "
                "symbolic, with a minimum of 1 in every profile); leave --max-batch-size out, or give 0"
            )
        return 0, None
    largest = max(limits)
    if asked is not None and asked > largest:
        raise BadInput(
            f"--max-batch-size {asked} is larger than the largest batch the profiles accept ({largest}); give at "
            f"most {largest}, or rebuild with larger profiles"
        )
    return (largest if asked is None else asked), limits


def _check_no_scalars(sidecar: Mapping[str, Any]) -> None:
    """Without batching Triton has no way to describe a scalar: it needs at least one dim, and refuses the empty
    reshape that maps [1] to [] where max_batch_size is 0 (core's ValidateIOShape). Refused here, since the
    config it would need cannot be written."""
    for key in ("inputs", "outputs"):
        for tensor in _tensors(sidecar, key):
            if tensor.dims:
                continue
            kind = key[:-1]
            fix = (
                f"freeze it at build (--freeze {tensor.name}=VALUE) if it is a setting, or give the ONNX input "
                "shape [1]"
                if kind == "input"
                else "give the ONNX output shape [1] (an Unsqueeze before it)"
            )
            raise BadInput(
                f"{kind} {clipped(tensor.name)!r} is a scalar, and Triton serves scalars only in a model with "
                f"batching (max_batch_size > 0), which this one is not; {fix}, then rebuild"
            )


def _quoted(text: str) -> str:
    """A string in protobuf's text format: C escapes for quotes, backslashes and control characters."""
    out = []
    for char in text:
        if char in ('"', "\\"):
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\{ord(char):03o}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _comment_text(text: str) -> str:
    """Text for a comment line: a line break in a file name would end the comment and make the rest a field."""
    return "".join(char if char.isprintable() else ascii(char)[1:-1] for char in text)


def _dims_text(dims: Sequence[int | str | None]) -> str:
    return "[ " + ", ".join(str(d) if isinstance(d, int) else "-1" for d in dims) + " ]"


def _tensor_text(tensor: _Tensor, batching: bool) -> list[str]:
    dims = tensor.dims[1:] if batching else tensor.dims
    lines = [
        "  {",
        f"    name: {_quoted(tensor.name)}",
        f"    data_type: {tensor.data_type}",
    ]
    if dims:
        lines.append(f"    dims: {_dims_text(dims)}")
    else:
        # Triton wants at least one dim: a scalar per batch item is written [1] and reshaped to [] (only with
        # batching: _check_no_scalars refuses the others).
        lines += ["    dims: [ 1 ]", "    reshape: { shape: [ ] }"]
    return [*lines, "  }"]


def _listing(key: str, blocks: list[list[str]]) -> list[str]:
    lines = [f"{key} ["]
    for index, block in enumerate(blocks):
        lines += block[:-1] + [block[-1] + ("," if index < len(blocks) - 1 else "")]
    return [*lines, "]"]


@dataclass(frozen=True)
class _Layout:
    """Where each plan goes under the version folder, and which one is the default."""

    files: dict[Path, str]  # plan -> file name under 1/
    by_compute_capability: dict[str, str]
    default: str


def _layout(plans: list[_Plan]) -> _Layout:
    if len(plans) == 1:
        return _Layout({plans[0].path: "model.plan"}, {}, "model.plan")
    files = {p.path: f"model.sm{p.compute_capability.replace('.', '')}.plan" for p in plans}
    # A plan built hardware-compatible runs on newer GPUs too, so it is the best default for a GPU not listed.
    default_plan = next((p for p in plans if p.hardware_compatible), plans[0])
    return _Layout(files, {p.compute_capability: files[p.path] for p in plans}, files[default_plan.path])


def _plugin_list(repository: Path, name: str, plugins: list[str], separators: str, joiner: str) -> str | None:
    """The libraries as one list for ``cd REPO && ...``: absolute paths, or paths relative to the repository
    where the absolute ones hold a separator of the list; None where even those do."""
    for root in (str(repository), "."):
        paths = [f"{root}/{name}/{PLUGIN_FOLDER}/{file}" for file in plugins]
        if not any(char in path for path in paths for char in separators):
            return joiner.join(paths)
    return None


# A version-compatible plan carries the TensorRT runtime it was built with, which a runtime runs only where
# engine host code is allowed: Triton's TensorRT backend allows it with this option (tensorrt_backend, 2023-09).
VERSION_COMPATIBLE_OPTION = "--backend-config=tensorrt,version-compatible=true"


def _server_options(plans: list[_Plan]) -> list[str]:
    """The tritonserver options the plans need, besides their plugin libraries."""
    return [VERSION_COMPATIBLE_OPTION] if any(p.version_compatible for p in plans) else []


def _plugin_commands(
    repository: Path, name: str, plugins: list[str], options: Sequence[str] = ()
) -> dict[str, str | None] | None:
    """Both ways Triton loads plugin libraries before the plan, with this machine's paths (in a container, use
    the paths where the repository is mounted), in the order the build loaded them. The dynamic loader splits
    LD_PRELOAD at spaces and colons and the backend its list at ';', whatever the shell quoting: a repository
    path holding one is given relative to the repository, from inside it."""
    if not plugins:
        return None
    commands: dict[str, str | None] = {}
    for key, separators, joiner in (("ld_preload", " \t\n:", ":"), ("backend_config", ";", ";")):
        listed = _plugin_list(repository, name, plugins, separators, joiner)
        if listed is None:
            commands[key] = None
            continue
        relative = listed.startswith("./")
        serve = " ".join(
            [f"tritonserver --model-repository={shlex.quote('.' if relative else str(repository))}", *options]
        )
        prefix = f"cd {shlex.quote(str(repository))} && " if relative else ""
        if key == "ld_preload":
            commands[key] = f"{prefix}LD_PRELOAD={shlex.quote(listed)} {serve}"
        else:
            # The backend splits the list at ';', which the shell would take as the end of the command.
            commands[key] = f"{prefix}{serve} {shlex.quote('--backend-config=tensorrt,plugins=' + listed)}"
    return commands


def _config_text(
    name: str,
    plans: list[_Plan],
    layout: _Layout,
    max_batch_size: int,
    instances: int,
    plugins: list[str],
) -> str:
    """config.pbtxt in protobuf's text format (Triton's ModelConfig message), with comments saying where it came
    from and what runs it."""
    sidecar = plans[0].sidecar
    batching = max_batch_size > 0
    tensorrt = plans[0].tensorrt_version
    containers = triton_containers(tensorrt)
    lines = [
        f"# Written by trtconvert {__version__} from {', '.join(_comment_text(p.path.name) for p in plans)}.",
        f"# The plans need TensorRT {_comment_text(tensorrt)}: "
        + (f"Triton containers {', '.join(containers)}." if containers else f"{SUPPORT_MATRIX}."),
    ]
    if plugins:
        lines.append(
            f"# Plugin libraries in {PLUGIN_FOLDER}/: load them with LD_PRELOAD or "
            "--backend-config=tensorrt,plugins=PATH[;PATH] (paths on the server)."
        )
    if any(p.version_compatible for p in plans):
        lines.append(
            f"# The plans are version compatible: start tritonserver with {VERSION_COMPATIBLE_OPTION}."
        )
    lines += [
        f"name: {_quoted(name)}",
        'platform: "tensorrt_plan"',
        f"max_batch_size: {max_batch_size}",
        f"default_model_filename: {_quoted(layout.default)}",
    ]
    if layout.by_compute_capability:
        lines.append("cc_model_filenames [")
        entries = sorted(layout.by_compute_capability.items())
        for index, (capability, file) in enumerate(entries):
            comma = "," if index < len(entries) - 1 else ""
            lines.append(f"  {{ key: {_quoted(capability)} value: {_quoted(file)} }}{comma}")
        lines.append("]")
    lines += _listing("input", [_tensor_text(t, batching) for t in _tensors(sidecar, "inputs")])
    lines += _listing("output", [_tensor_text(t, batching) for t in _tensors(sidecar, "outputs")])
    profiles = len(sidecar.get("profiles", []))
    if profiles > 1:
        groups = [
            [f'  {{ count: {instances} kind: KIND_GPU profile: [ "{index}" ] }}'] for index in range(profiles)
        ]
    else:
        groups = [[f"  {{ count: {instances} kind: KIND_GPU }}"]]
    lines += _listing("instance_group", groups)
    if batching:
        preferred = _preferred_batch_sizes(sidecar, max_batch_size)
        sizes = f"preferred_batch_size: [ {', '.join(map(str, preferred))} ] " if preferred else ""
        lines.append(f"dynamic_batching {{ {sizes}}}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class _Library:
    """A plugin library a plan recorded, where its bytes were found and its file name under plugins/."""

    recorded: str
    sha256: str
    source: Path
    copy_name: str


def _wanted_libraries(plans: list[_Plan]) -> list[tuple[str, str]]:
    """The (file name, sha256) of every library the plans recorded, in the order the first plan loaded them."""
    wanted: list[tuple[str, str]] = []
    by_plan: dict[str, tuple[Path, list[str]]] = {}
    for plan in plans:
        mine: dict[str, list[str]] = {}
        for entry in plan.sidecar.get("plugins", []):
            file, digest = entry["file"], entry["sha256"]
            if Path(file).name != file or file in ("", ".", ".."):
                raise BadInput(
                    f"the sidecar of {plan.path} names the plugin library {clipped(file)!r}, which is not a file "
                    "name; rebuild the plan"
                )
            mine.setdefault(file, []).append(digest)
            if (file, digest) not in wanted:
                wanted.append((file, digest))
        for file, digests in mine.items():
            other = by_plan.setdefault(file, (plan.path, digests))
            if sorted(other[1]) != sorted(digests):
                # One server loads every library once for all its GPUs: two builds of one library would register
                # the same plugins twice, and the second registration is ignored.
                raise BadInput(
                    f"{other[0]} and {plan.path} were built with different libraries named {clipped(file)}; one "
                    "Triton server loads the plugins once for every GPU, so build every plan with the same plugin "
                    "library (compiled for all the GPUs' architectures)"
                )
    return wanted


def _find_plugins(plans: list[_Plan], given: Sequence[Path]) -> list[_Library]:
    """Each plugin library the plans recorded, found by its sha256 among the given libraries, the files beside
    each plan and the default library of `trtconvert plugins build`, in load order. Two libraries of one file
    name (from different folders) get their digest in the name of their copy."""
    wanted = _wanted_libraries(plans)
    if not wanted:
        return []
    candidates = [*given]
    for plan in plans:
        candidates += [plan.path.parent / file for file, _ in wanted]
    candidates.append(default_library_path())
    digests: dict[Path, str] = {}
    shared_names = {file for file, _ in wanted if sum(1 for other, _ in wanted if other == file) > 1}
    found = []
    for file, digest in wanted:
        for candidate in candidates:
            if not candidate.is_file():
                continue
            if candidate not in digests:
                digests[candidate] = sha256_file(candidate)
            if digests[candidate] == digest:
                break
        else:
            raise BadInput(
                f"the plans need the plugin library {clipped(file)} (sha256 {digest[:12]}...), and none of "
                f"{len(set(candidates))} places holds those bytes (--plugin, beside the plan, the default build); "
                "give the library the plan was built with: --plugin PATH"
            )
        stem, dot, suffix = file.partition(".")
        copy_name = f"{stem}.{digest[:12]}{dot}{suffix}" if file in shared_names else file
        found.append(_Library(file, digest, candidate, copy_name))
    return found


def _check_given_plugins(plugins: Sequence[Path]) -> None:
    for plugin in plugins:
        if not plugin.is_file():
            raise BadInput(f"--plugin {plugin} is not a file; give the plugin library's path")


@dataclass(frozen=True)
class _Export:
    """An export read and checked: everything it writes and reports, decided before anything is written."""

    name: str
    repository: Path
    plans: list[_Plan]
    layout: _Layout
    max_batch_size: int
    batch_limits: list[int] | None
    instances: int
    libraries: list[_Library]
    existed: bool  # the model folder, which --replace replaces

    @property
    def model_folder(self) -> Path:
        return self.repository / self.name

    @property
    def library_files(self) -> list[str]:
        return [library.copy_name for library in self.libraries]

    @property
    def sidecar(self) -> dict[str, Any]:
        """The first plan's sidecar, which speaks for all (_check_one_model)."""
        return self.plans[0].sidecar


def _check_arguments(repository: Path, name: str, instances: int, plugins: Sequence[Path]) -> None:
    _check_name(name)
    _check_repository(repository)
    if not 1 <= instances <= MAX_INSTANCES:
        raise BadInput(
            f"--instances {clipped(str(instances))}: give 1 to {MAX_INSTANCES} (instances of the model per profile "
            "and GPU; Triton reads the count as a 32-bit integer)"
        )
    _check_given_plugins(plugins)


def _check_model_folder(model_folder: Path, replace: bool) -> bool:
    """Whether the model folder exists, where --replace lets it be replaced."""
    existed = model_folder.exists() or model_folder.is_symlink()
    if existed and not replace:
        raise BadInput(
            f"{model_folder} already exists; give --replace to replace that model, or another --name "
            "(the repository's other models are never touched)"
        )
    if existed and not model_folder.is_dir():
        raise BadInput(f"{model_folder} exists and is not a model folder; remove it or give another --name")
    return existed


def _read_export(
    plans: Sequence[Path],
    repository: Path,
    name: str,
    *,
    max_batch_size: int | None,
    instances: int,
    replace: bool,
    plugins: Sequence[Path],
) -> _Export:
    """The arguments checked, the plans and their sidecars read and checked as one model, the batch size and
    the plugin libraries decided: every refusal comes from here, before anything is written."""
    _check_arguments(repository, name, instances, plugins)
    read = _read_plans([Path(p) for p in plans])
    _check_one_model(read)
    batch_size, limits = _decide_max_batch_size(read[0].sidecar, max_batch_size)
    if batch_size == 0:
        _check_no_scalars(read[0].sidecar)
    libraries = _find_plugins(read, [Path(p) for p in plugins])
    existed = _check_model_folder(repository / name, replace)
    return _Export(name, repository, read, _layout(read), batch_size, limits, instances, libraries, existed)


def _write_export(export: _Export, config: str, replace: bool) -> None:
    """The model folder, staged beside its place and renamed into it whole: the config, the plans with their
    sidecars, the plugin libraries; bytes that changed since they were read are refused."""
    with staged_folder(export.model_folder, replace=replace) as staging:
        write_synced(staging / "config.pbtxt", config)
        version = staging / MODEL_VERSION
        version.mkdir()
        for plan in export.plans:
            file = export.layout.files[plan.path]
            if copy_synced(plan.path, version / file) != plan.sidecar["plan"]["sha256"]:
                raise BadInput(f"{plan.path} changed while it was being exported; run the export again")
            copy_synced(sidecar_path(plan.path), sidecar_path(version / file))
        if export.libraries:
            (staging / PLUGIN_FOLDER).mkdir()
            for library in export.libraries:
                if copy_synced(library.source, staging / PLUGIN_FOLDER / library.copy_name) != library.sha256:
                    raise BadInput(
                        f"{library.source} changed while it was being exported; run the export again"
                    )


def _warn_after_writing(export: _Export) -> None:
    """What the user should know of the written model (warnings only once it is written: a refused export prints
    its error line alone)."""
    read, batch_size, limits = export.plans, export.max_batch_size, export.batch_limits
    others = [p for p in read[1:] if p.sidecar.get("onnx_sha256") != read[0].sidecar.get("onnx_sha256")]
    if others:
        # Same inputs and outputs from other bytes: a re-export of one model, or a retrained one that each GPU
        # kind would answer differently. Only the user knows which.
        log.LOGGER.warning(
            f"{read[0].path} and {', '.join(str(p.path) for p in others)} were built from different ONNX files "
            "(their sidecars' onnx_sha256 differ); if they are not the same model, export each under its own --name"
        )
    if batch_size > 0:
        _warn_unproven_batch_axes(export.sidecar)
    if limits is not None and batch_size > 0 and len(set(limits)) > 1:
        log.LOGGER.warning(
            f"the profiles accept different max batches ({', '.join(map(str, limits))}); an instance of a "
            f"profile below {batch_size} fails a larger batch, so give --max-batch-size {min(limits)} where "
            "every instance must take every batch"
        )
    elif not _profiles_take_the_same_shapes(export.sidecar):
        profiles = len(export.sidecar.get("profiles", []))
        every = ", ".join(f'"{index}"' for index in range(profiles))
        log.LOGGER.warning(
            "the profiles take different shapes, and Triton hands a request to any free instance: an instance "
            "group's instances run its profile only, so a request only another profile takes fails there; where "
            f"every instance must take every request, list all profiles in one group (profile: [ {every} ]) "
            "and the TensorRT backend picks the profile that fits each request"
        )


def _export_report(export: _Export) -> dict:
    tensorrt = export.plans[0].tensorrt_version
    return {
        "ok": True,
        "command": "export triton",
        "model": export.name,
        "model_folder": str(export.model_folder),
        "config": str(export.model_folder / "config.pbtxt"),
        "replaced": export.existed,
        "max_batch_size": export.max_batch_size,
        "profiles": len(export.sidecar.get("profiles", [])),
        "instances_per_profile": export.instances,
        "plans": [
            {
                "plan": str(p.path),
                "file": f"{MODEL_VERSION}/{export.layout.files[p.path]}",
                "compute_capability": p.compute_capability,
                "gpu": p.sidecar.get("gpu", {}).get("name"),
            }
            for p in export.plans
        ],
        "default_model_filename": export.layout.default,
        "plugins": [f"{PLUGIN_FOLDER}/{file}" for file in export.library_files],
        "load_plugins": _plugin_commands(
            export.repository.resolve(), export.name, export.library_files, _server_options(export.plans)
        ),
        "server_options": _server_options(export.plans),
        "tensorrt": {"version": tensorrt, "triton_containers": triton_containers(tensorrt)},
    }


def export_triton(
    plans: Sequence[Path],
    repository: Path,
    name: str,
    *,
    max_batch_size: int | None = None,
    instances: int = 1,
    replace: bool = False,
    plugins: Sequence[Path] = (),
) -> dict:
    """Write ``repository/name`` for Triton from plans of one model (one per compute capability); returns the
    --json report. ``plugins`` are extra places to find the plugin libraries the sidecars record."""
    start = time.perf_counter()
    export = _read_export(
        plans,
        repository,
        name,
        max_batch_size=max_batch_size,
        instances=instances,
        replace=replace,
        plugins=plugins,
    )
    config = _config_text(
        name, export.plans, export.layout, export.max_batch_size, instances, export.library_files
    )
    log.stage(
        "read",
        time.perf_counter() - start,
        f"{len(export.plans)} plan(s), TensorRT {export.plans[0].tensorrt_version}, compute capability "
        + ", ".join(p.compute_capability for p in export.plans),
    )
    start = time.perf_counter()
    _write_export(export, config, replace)
    log.stage(
        "write",
        time.perf_counter() - start,
        f"{export.model_folder} ({'replaced' if export.existed else 'new'})",
    )
    _warn_after_writing(export)
    return _export_report(export)


def format_export(report: Mapping[str, Any]) -> list[str]:
    """The human summary of an export: what was written, and how to serve it."""
    tensorrt = report["tensorrt"]
    containers = tensorrt["triton_containers"]
    lines = [
        f"model     {report['model']} -> {report['model_folder']}",
        f"config    {report['config']} (max_batch_size {report['max_batch_size']}, {report['profiles']} "
        f"profile(s), {report['instances_per_profile']} instance(s) each)",
    ]
    for plan in report["plans"]:
        lines.append(
            f"plan      {plan['file']}  compute capability {plan['compute_capability']}  ({plan['plan']})"
        )
    lines.append(
        f"tensorrt  the plans need TensorRT {tensorrt['version']}: "
        + (", ".join(containers) if containers else SUPPORT_MATRIX)
    )
    if report.get("server_options"):
        lines.append(
            "server    start tritonserver with "
            + " ".join(report["server_options"])
            + " (the plans are version compatible: they carry the runtime they run with)"
        )
    if report["load_plugins"]:
        ways = [way for way in report["load_plugins"].values() if way]
        lines.append(
            "plugins   Triton must load "
            + ", ".join(report["plugins"])
            + " before the model"
            + (
                "; either"
                if len(ways) > 1
                else ":"
                if ways
                else ", and their file names hold a character both "
                "LD_PRELOAD and the backend's list split at: rename the libraries and rebuild"
            )
        )
        for index, way in enumerate(ways):
            lines += (["          or"] if index else []) + ["            " + way]
    return lines
