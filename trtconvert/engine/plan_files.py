"""Stage `save`: the plan and its JSON sidecar, written as a pair, and the key of the plan cache.

The sidecar ``<plan>.json`` describes the plan (schema in docs/sidecar.md). Both files are staged in a private
folder beside the output, then renamed into place sidecar first and plan last: whenever a new plan is visible,
the sidecar that describes it is already there. A crash between the two renames can leave a new sidecar beside
the old plan; the sidecar records the plan's size and sha256, so every reader (`inspect`, `verify`, the cache)
notices the mismatch instead of trusting it.

The cache key is a sha256 over everything that decides the engine: the ONNX file and its external data, the
spec fields that reach the engine, each plugin library's bytes, the TensorRT version, the GPU's compute
capability and the trtconvert version (its rewrite and precision stages shape the prepared model).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trtconvert import __version__, log
from trtconvert.atomic import staged_files, write_synced
from trtconvert.errors import BadInput, clipped, shown
from trtconvert.model.load import require_regular_file
from trtconvert.model.profiles import MAX_DIM, Profile, ShapeRange

if TYPE_CHECKING:  # `inspect MODEL.onnx` imports this module to tell plans apart; it needs no request
    from trtconvert.settings.request import Request

SCHEMA = "trtconvert.plan/1"
PLAN_SUFFIXES = (".plan", ".engine", ".trt")
_CHUNK = 1 << 20


def sidecar_path(plan: Path) -> Path:
    return plan.with_name(plan.name + ".json")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_bytes(data: bytes | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()


def onnx_sha256(model_path: Path, data_files: Iterable[Path] = ()) -> str:
    """sha256 of an ONNX file and its external data files (each by name and bytes, in name order)."""
    digest = hashlib.sha256()
    digest.update(bytes.fromhex(sha256_file(model_path)))
    for data_file in sorted(data_files, key=lambda p: p.name):
        digest.update(os.fsencode(data_file.name) + b"\0")
        digest.update(bytes.fromhex(sha256_file(data_file)))
    return digest.hexdigest()


def profiles_json(profiles: Sequence[Profile]) -> list[dict[str, dict[str, list[int]]]]:
    return [
        {name: {"min": list(r.min), "opt": list(r.opt), "max": list(r.max)} for name, r in profile.items()}
        for profile in profiles
    ]


def profiles_from_json(document: Sequence[Mapping[str, Any]]) -> list[Profile]:
    """A sidecar's profiles as Profiles (the inverse of profiles_json)."""
    try:
        return [
            {
                name: ShapeRange(tuple(r["min"]), tuple(r["opt"]), tuple(r["max"]))
                for name, r in profile.items()
            }
            for profile in document
        ]
    except (AttributeError, KeyError, TypeError):
        raise SidecarError(
            "the sidecar's 'profiles' are not {input: {min, opt, max}} mappings; rebuild the plan"
        ) from None


def engine_config(request: Request) -> dict[str, Any]:
    """The request's choices that decide the engine, normalised (paths, outputs and verification left out)."""
    spec = request.spec
    config = {
        "profiles": profiles_json(spec.profiles),
        # A .npy value counts by its bytes: the same path may hold other values next time.
        "freeze": {
            name: sha256_file(Path(value)) if value.endswith(".npy") else value
            for name, value in sorted(spec.freeze.items())
        },
        "fold": spec.fold,
        "rewrite": spec.rewrite,
        # The resolved version, not the flag as written: 10.8, 10.8.0 and the installed default are one target.
        "target_tensorrt": request.target.version,
        "precision": spec.precision,
        "workspace_bytes": request.workspace_bytes,
        "opt_level": spec.opt_level,
        "tf32": spec.tf32,
        "version_compatible": spec.version_compatible,
        "hardware_compatibility": spec.hardware_compatibility,
    }
    if spec.fold_max_size is not None:
        # What folding may write decides the prepared model; the default depends on the model alone.
        config["fold_max_size"] = spec.fold_max_size
    if spec.keep_fp32:
        config["keep_fp32"] = list(spec.keep_fp32)
    if spec.strongly_typed:
        config["strongly_typed"] = True
    if request.precision.int8:
        # The scales come from these: other samples or another cache make another engine.
        config["calibration"] = {
            "data_sha256": _path_sha256(spec.calib_data),
            "cache_sha256": _path_sha256(spec.calib_cache),
            "method": spec.calib_method,
            "random_for_timing_only": spec.calib_random_for_timing_only,
        }
    return config


def _path_sha256(path: Path | None) -> str | None:
    """sha256 of a file, or of a folder's files in name order; None for no path or nothing there."""
    if path is None or not path.exists():
        return None
    if path.is_file():
        return sha256_file(path)
    digest = hashlib.sha256()
    for item in sorted(p for p in path.iterdir() if p.is_file()):
        digest.update(os.fsencode(item.name) + b"\0" + sha256_file(item).encode())
    return digest.hexdigest()


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def config_sha256(config: dict[str, Any]) -> str:
    return sha256_bytes(_canonical(config))


@dataclass(frozen=True)
class BuildIdentity:
    """The facts the cache key is made of; each is also written to the sidecar."""

    onnx_sha256: str
    config: dict[str, Any]
    plugins: tuple[tuple[str, str], ...]  # (file name, sha256)
    tensorrt_version: str
    compute_capability: str

    @property
    def key(self) -> str:
        return sha256_bytes(
            _canonical(
                {
                    "schema": SCHEMA,
                    "trtconvert": __version__,
                    "onnx_sha256": self.onnx_sha256,
                    "config_sha256": config_sha256(self.config),
                    "plugin_sha256": [digest for _, digest in self.plugins],
                    "tensorrt": self.tensorrt_version,
                    "compute_capability": self.compute_capability,
                }
            )
        )


def build_identity(
    request: Request,
    model_path: Path,
    data_files: Iterable[Path],
    plugins: Sequence[Path],
    tensorrt_version: str,
    compute_capability: str,
) -> BuildIdentity:
    return BuildIdentity(
        onnx_sha256=onnx_sha256(model_path, data_files),
        config=engine_config(request),
        plugins=tuple((p.name, sha256_file(p)) for p in plugins),
        tensorrt_version=tensorrt_version,
        compute_capability=compute_capability,
    )


def make_sidecar(
    identity: BuildIdentity,
    plan_bytes: bytes | memoryview,
    *,
    model: str,
    inputs: list[dict],
    outputs: list[dict],
    precision: dict,
    gpu: dict,
    strongly_typed: bool,
    timings: dict[str, float],
    frozen: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The sidecar document for a freshly built plan (keys documented in docs/sidecar.md)."""
    return {
        "schema": SCHEMA,
        "cache_key": identity.key,
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "trtconvert_version": __version__,
        "plan": {"bytes": len(plan_bytes), "sha256": sha256_bytes(plan_bytes)},
        "model": model,
        "onnx_sha256": identity.onnx_sha256,
        "inputs": inputs,
        "outputs": outputs,
        "frozen": frozen or {},
        "profiles": identity.config["profiles"],
        "precision": precision,
        "tensorrt": {"version": identity.tensorrt_version, "strongly_typed": strongly_typed},
        "gpu": gpu,
        "config": identity.config,
        "config_sha256": config_sha256(identity.config),
        "plugins": [{"file": name, "sha256": digest} for name, digest in identity.plugins],
        "timings": {k: round(v, 3) for k, v in timings.items()},
    }


def _dump(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=False) + "\n"


def write_plan(
    output: Path,
    plan_bytes: bytes | memoryview,
    sidecar: dict[str, Any],
    check: Callable[[Path], None] | None = None,
) -> None:
    """Write plan and sidecar atomically as a pair; an existing pair survives any failure untouched.

    ``check`` runs on the staged plan (its sidecar beside it) before anything is renamed; raising in it
    leaves the output as it was.
    """
    sidecar_file = sidecar_path(output)
    if sidecar_file.is_dir():
        raise BadInput(f"{sidecar_file} is a directory; the plan's sidecar needs that path")
    with staged_files(output) as staging:
        staged_plan = staging / output.name
        write_synced(staged_plan, plan_bytes)
        write_synced(staging / sidecar_file.name, _dump(sidecar))
        if check is not None:
            check(staged_plan)


class SidecarError(BadInput):
    """The plan has no readable sidecar, or the sidecar describes other bytes."""


class Malformed(Exception):
    """A sidecar field of a JSON type its readers cannot use."""

    def __init__(self, field: str, what: str) -> None:
        super().__init__(f"{field}: {what}")
        self.field, self.what = field, what


_Check = Callable[[Any, str], None]
_LIMIT = 2**63  # the plan's size and every dim fit TensorRT's int64


def _found(value: Any) -> str:
    """What a field holds, in JSON's words, cut short."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    kinds = {int: "a number", float: "a number", str: "a string", list: "a list"}
    return f"{kinds.get(type(value), 'an object')} {shown(value, 40)}"


def _expect(ok: bool, value: Any, field: str, expected: str) -> None:
    if not ok:
        raise Malformed(field, f"expected {expected}, got {_found(value)}")


def _string(value: Any, field: str) -> None:
    _expect(isinstance(value, str), value, field, "a string")


def _string_or_null(value: Any, field: str) -> None:
    _expect(value is None or isinstance(value, str), value, field, "a string or null")


def _boolean(value: Any, field: str) -> None:
    _expect(isinstance(value, bool), value, field, "true or false")


def _count(value: Any, field: str) -> None:
    ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value < _LIMIT
    _expect(ok, value, field, "an integer from 0 to 2^63 - 1")


def _dim(value: Any, field: str) -> None:
    # ints for static dims, strings for symbolic ones, null for unknown ones (docs/sidecar.md)
    if not isinstance(value, (str, type(None))):
        ok = isinstance(value, int) and not isinstance(value, bool) and -_LIMIT <= value < _LIMIT
        _expect(ok, value, field, "an integer, a string or null")


def _list_of(item: _Check, expected: str = "a list") -> _Check:
    def check(value: Any, field: str) -> None:
        _expect(isinstance(value, list), value, field, expected)
        for index, element in enumerate(value):
            item(element, f"{field}[{index}]")

    return check


def _key(field: str, key: str) -> str:
    return f"{field}.{key}" if field else key


def _object(fields: Mapping[str, _Check], required: Sequence[str] = ()) -> _Check:
    """An object whose known keys have their types; ``required`` are those its readers index directly."""

    def check(value: Any, field: str) -> None:
        _expect(isinstance(value, dict), value, field, "an object")
        for key in required:
            if key not in value:
                raise Malformed(_key(field, key), "missing")
        for key, key_check in fields.items():
            if key in value:
                key_check(value[key], _key(field, key))

    return check


def _by_name(entry: _Check) -> _Check:
    def check(value: Any, field: str) -> None:
        _expect(isinstance(value, dict), value, field, "an object")
        for name, element in value.items():
            entry(element, _key(field, clipped(name, 40)))

    return check


def _frozen_entry(value: Any, field: str) -> None:
    _object({"shape": _list_of(_count), "dtype": _string}, required=("shape", "dtype"))(value, field)
    from trtconvert.prepare.freeze import frozen_entry_problem

    problem = frozen_entry_problem(value)
    if problem is not None:
        raise Malformed(field, problem)


def _or_null(check: _Check) -> _Check:
    # An output of unknown rank is written with dims null, so the reader takes it back.
    def either(value: Any, field: str) -> None:
        if value is not None:
            check(value, field)

    return either


def _extent(value: Any, field: str) -> None:
    ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_DIM
    _expect(ok, value, field, "an integer from 0 to 2^31 - 1 (TensorRT's dims are 32-bit)")


_TENSOR = _object(
    {"name": _string, "dtype": _string, "dims": _or_null(_list_of(_dim, "a list or null"))}, ("name", "dtype")
)
_RANGE = _object({key: _list_of(_extent) for key in ("min", "opt", "max")}, ("min", "opt", "max"))
_SIDECAR = _object(
    {
        **dict.fromkeys(("cache_key", "created", "trtconvert_version", "model", "onnx_sha256"), _string),
        "plan": _object({"bytes": _count, "sha256": _string}),
        "gpu": _object({"name": _string, "compute_capability": _string}),
        "tensorrt": _object({"version": _string, "strongly_typed": _boolean}),
        "precision": _object(
            {
                "precision": _string,
                "mode": _string,
                "converter": _string_or_null,
                "keep_fp32": _by_name(_list_of(_string)),
            }
        ),
        "inputs": _list_of(_TENSOR),
        "outputs": _list_of(_TENSOR),
        "frozen": _by_name(_frozen_entry),
        "profiles": _list_of(_by_name(_RANGE)),
        "plugins": _list_of(_object({"file": _string, "sha256": _string}, ("file", "sha256"))),
        "config": _object({}),
    }
)


def check_sidecar(document: Mapping[str, Any]) -> None:
    """Raise Malformed for the first field its readers (inspect, verify, the cache) could not use.

    Keys left out are allowed, as readers fall back to defaults for them; ``null`` where a value is expected is
    not."""
    _SIDECAR(document, "")
    _check_profile_ranks(document)


def _check_profile_ranks(document: Mapping[str, Any]) -> None:
    """Each profile's min, opt and max are shapes of one rank, min <= opt <= max, and of the input's rank where
    the sidecar lists its dims: readers index them by axis."""
    ranks = {
        entry["name"]: len(entry["dims"])
        for entry in document.get("inputs", [])
        if entry.get("dims") is not None
    }
    for index, profile in enumerate(document.get("profiles", [])):
        for name, shape_range in profile.items():
            field = f"profiles[{index}].{clipped(name, 40)}"
            low, mid, high = (shape_range[key] for key in ("min", "opt", "max"))
            if not len(low) == len(mid) == len(high) == ranks.get(name, len(low)):
                raise Malformed(field, "min, opt and max must be shapes of the input's rank")
            if any(not a <= b <= c for a, b, c in zip(low, mid, high, strict=True)):
                raise Malformed(field, "min <= opt <= max must hold on every axis")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json keeps the last of two equal keys; a sidecar we wrote has none, so two mean a hand edit gone wrong.
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        twice = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise ValueError(f"the key {clipped(twice, 40)!r} appears twice in one object")
    return document


def read_sidecar(plan: Path, check_plan: bool = True) -> dict[str, Any]:
    """Read ``<plan>.json``; with ``check_plan`` the plan's size and sha256 must match what it records."""
    require_regular_file(plan, "plan file")
    path = sidecar_path(plan)
    if path.exists() and not path.is_file():
        raise SidecarError(f"sidecar {path} is not a regular file; remove it and rebuild the plan")
    if not path.is_file():
        raise SidecarError(
            f"{plan} has no sidecar {path.name}; plans built by trtconvert build have one, so rebuild it with "
            "trtconvert build to describe it"
        )
    try:
        document = json.loads(path.read_text(), object_pairs_hook=_unique_keys)
    # ValueError covers bad JSON, bad UTF-8, integers past Python's 4300-digit limit and a key given twice.
    except (OSError, ValueError) as err:
        raise SidecarError(f"sidecar {path} is not readable JSON ({err}); rebuild the plan") from None
    except RecursionError:
        raise SidecarError(
            f"sidecar {path} nests JSON too deeply to be a plan sidecar; rebuild the plan"
        ) from None
    if not isinstance(document, dict) or not str(document.get("schema", "")).startswith("trtconvert.plan/"):
        raise SidecarError(f"{path} is not a trtconvert plan sidecar (no 'schema' key); rebuild the plan")
    try:
        check_sidecar(document)
    except Malformed as err:
        raise SidecarError(
            f"sidecar {path} is malformed ({err.field}: {err.what}); rebuild the plan"
        ) from None
    if check_plan:
        recorded = document.get("plan", {})
        size = plan.stat().st_size
        if recorded.get("bytes") != size or recorded.get("sha256") != sha256_file(plan):
            raise SidecarError(
                f"sidecar {path.name} describes other bytes than {plan.name} (a build was interrupted or the "
                "plan was replaced); rebuild the plan"
            )
    return document


def cached_plan(cache_dir: Path, key: str) -> Path:
    return cache_dir / f"{key}.plan"


def lookup_cache(cache_dir: Path, key: str) -> dict[str, Any] | None:
    """The sidecar of a cached plan with this key whose bytes check out, else None."""
    plan = cached_plan(cache_dir, key)
    if not plan.is_file():
        return None
    try:
        document = read_sidecar(plan)
    except BadInput:
        return None
    return document if document.get("cache_key") == key else None


def copy_plan(source: Path, output: Path) -> None:
    """Copy a plan and its sidecar to ``output`` as a pair, atomically."""
    with staged_files(output) as staging:
        shutil.copyfile(sidecar_path(source), staging / sidecar_path(output).name)
        shutil.copyfile(source, staging / output.name)


def store_in_cache(cache_dir: Path, key: str, output: Path) -> Path:
    """Copy a freshly written plan pair into the cache under its key (atomic, so concurrent jobs may race)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cached_plan(cache_dir, key)
    copy_plan(output, target)
    return target


def load_engine(plan: Path, plugins: Sequence[Path], trt: Any) -> Any:
    """Deserialize ``plan`` after loading its plugin libraries; a plan this TensorRT or GPU cannot load is bad
    input (exit 2) in TensorRT's words."""
    from polygraphy.backend.trt import EngineFromBytes
    from polygraphy.exception import PolygraphyException

    from trtconvert.engine.plugins import load_plugins
    from trtconvert.engine.tensorrt_log import condense, tensorrt_messages

    start = time.perf_counter()
    load_plugins(plugins)
    plan_bytes = plan.read_bytes()
    with tensorrt_messages() as messages:
        try:
            engine = EngineFromBytes(plan_bytes)()
        # polygraphy raises its own exception when TensorRT returns no engine; RuntimeError is what
        # TensorRT's bindings raise for a C++ exception. Anything else is a bug and must show as one.
        except (PolygraphyException, RuntimeError) as err:
            raise BadInput(
                f"TensorRT {trt.__version__} cannot load {plan.name}: {condense(messages.errors, str(err))}; a plan "
                "runs only with the TensorRT version and GPU it was built for, and with its plugin libraries (--plugin)"
            ) from None
    log.stage("load", time.perf_counter() - start, f"{plan.name} deserialized")
    return engine


def is_plan_path(path: Path) -> bool:
    return path.suffix.lower() in PLAN_SUFFIXES or sidecar_path(path).is_file()
