"""The fleet manifest (FLEET.yaml): where results go, which builds, on which GPU kinds; expanded into jobs.

A job entry holds build config keys (the same names and checks as a config file) and optionally `config:`, a
config file whose keys the entry overrides. A list value given in the entry expands the entry into one job per
value, named by the values as written (10.10, not 10.1); several lists expand into every combination, in the
entry's order. `profiles`, `plugins` and `keep_fp32` take a list as one value: a list of lists expands them
(-profiles-1, -profiles-2, ...). Every job is built on every GPU kind of `gpus`. Paths in the manifest are
relative to its folder, paths in a job's config to the config's folder; both are made absolute here, so a
worker reads the same files (the models must be reachable at those paths on every worker: a shared
filesystem, or the same checkout).
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import math
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from trtconvert.errors import BadInput, shown
from trtconvert.settings.spec import (
    Spec,
    load_config_yaml,
    make_spec,
    parse_config_value,
    read_config,
    refuse_two_spellings,
    relative_to_folder,
    yaml_problem,
)

MANIFEST_KEYS = ("store", "jobs", "gpus", "triton")
TRITON_KEYS = ("repository", "max_batch_size", "instances", "replace")
# The fleet decides where each job's plan, timing cache and plan cache live: in the store.
FLEET_OWNED_KEYS = ("output", "timing_cache", "cache_dir")
_SPEC_KEYS = Spec.keys()
JOB_KEYS = ("name", "config", *(k for k in _SPEC_KEYS if k not in FLEET_OWNED_KEYS))
# Keys whose value is a list already (several profiles, plugin libraries, keep-fp32 patterns): a list there is
# the value of one job, not one job per item.
LIST_VALUED_KEYS = tuple(
    f.name for f in dataclasses.fields(Spec) if str(f.type).startswith("list[") and f.name in _SPEC_KEYS
)
MAX_MANIFEST_BYTES = 1 << 20
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,99}")


@dataclass(frozen=True)
class Job:
    """One build: a named set of config keys (paths absolute) on one GPU kind."""

    name: str
    gpu: str
    settings: dict[str, Any] = field(hash=False)

    @property
    def plan_name(self) -> str:
        return f"{Path(str(self.settings['model'])).stem}.plan"

    @property
    def store_parts(self) -> tuple[str, str, str]:
        """Where the job's plan goes in the store: <job>/<gpu>/<model>.plan (the sidecar beside it)."""
        return (self.name, self.gpu, self.plan_name)

    def config_yaml(self, output: Path, timing_cache: Path | None) -> str:
        """The job as a build config file, writing the plan to ``output``."""
        values = {**self.settings, "output": str(output)}
        if timing_cache is not None:
            values["timing_cache"] = str(timing_cache)
        return yaml.dump(values, Dumper=_ConfigDumper, sort_keys=False)


@dataclass(frozen=True)
class TritonExport:
    repository: Path
    max_batch_size: int | None = None
    instances: int = 1
    replace: bool = True


@dataclass(frozen=True)
class Manifest:
    path: Path
    store: str
    gpus: tuple[str, ...]
    jobs: tuple[Job, ...]
    triton: TritonExport | None = None


class _ConfigDumper(yaml.SafeDumper):
    """Writes numbers as the user wrote them (a version 10.10 stays 10.10) and paths as text."""


def _represent_float(dumper: yaml.SafeDumper, value: float) -> yaml.Node:
    written = getattr(value, "written", None)
    if written is not None:
        return dumper.represent_scalar("tag:yaml.org,2002:float", written)
    return dumper.represent_float(value)


_ConfigDumper.add_multi_representer(float, _represent_float)
_ConfigDumper.add_multi_representer(Path, lambda dumper, value: dumper.represent_str(str(value)))


def _unknown_key(where: str, key: Any, valid: tuple[str, ...]) -> BadInput:
    match = difflib.get_close_matches(str(key).replace("-", "_"), list(valid), n=1, cutoff=0.5)
    hint = f"did you mean '{match[0]}'?" if match else f"valid keys: {', '.join(valid)}"
    return BadInput(f"{where}: unknown key {shown(key)}; {hint}")


def _read_yaml(path: Path) -> Any:
    from trtconvert.model.load import require_regular_file

    require_regular_file(path, "manifest")
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise BadInput(f"manifest {path} is over 1 MB; split it into several manifests")
    try:
        return load_config_yaml(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problem = str(getattr(err, "problem", "") or "")
        if "aliases" in problem:
            raise BadInput(
                f"manifest {path}: YAML aliases (*name) are not allowed{where}; write the value out"
            ) from None
        if problem.startswith("duplicate key"):
            raise BadInput(f"manifest {path}: {problem}{where}; give each key once") from None
        raise BadInput(
            f"manifest {path} is not valid YAML{where}{yaml_problem(err)}; fix the syntax"
        ) from None
    except UnicodeDecodeError:
        raise BadInput(f"manifest {path} is not a text file; give a YAML file") from None
    except RecursionError:
        raise BadInput(f"manifest {path} nests too deeply; see `trtconvert fleet --help`") from None


def _name(value: Any, where: str) -> str:
    text = str(value)
    if isinstance(value, (dict, list)) or not _SAFE_NAME.fullmatch(text):
        raise BadInput(
            f"{where}: {shown(value)} is not a usable name; use letters, digits and . _ + - (it names a "
            "folder in the store and a Dask resource)"
        )
    return text


def triton_model_name(job: str) -> str:
    """The Triton model a job's plans are exported as: its name, with the '+' of an expanded "int8,fp16"
    (which a Triton model name may not hold) as '_'."""
    return job.replace("+", "_")


def _gpus(value: Any, where: str) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    if not items:
        raise BadInput(f"{where}: no GPU kinds; list the kinds to build on, e.g. gpus: [H100, A10G]")
    kinds = tuple(_name(v, where) for v in items)
    if len(set(kinds)) != len(kinds):
        raise BadInput(f"{where}: a GPU kind is listed twice; list each once")
    return kinds


def _store(value: Any, folder: Path, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BadInput(
            f"{where}: expected a folder or an fsspec URL (s3://bucket/prefix), got {shown(value)}"
        )
    return value if "://" in value else os.path.normpath(folder / value)


def _triton(value: Any, folder: Path, where: str) -> TritonExport:
    if isinstance(value, str):
        value = {"repository": value}
    if not isinstance(value, Mapping) or "repository" not in value:
        raise BadInput(f"{where}: give the repository folder (triton: repo/) or a mapping with 'repository:'")
    for key in value:
        if key not in TRITON_KEYS:
            raise _unknown_key(where, key, TRITON_KEYS)
    options: dict[str, Any] = {"repository": Path(os.path.normpath(folder / str(value["repository"])))}
    # max_batch_size 0 is export triton's --max-batch-size 0: full dims, no batching.
    for key, least in (("max_batch_size", 0), ("instances", 1)):
        if value.get(key) is not None:
            number = value[key]
            if isinstance(number, bool) or not isinstance(number, int) or not least <= number < 2**31:
                raise BadInput(
                    f"{where}.{key}: expected a whole number from {least} to 2^31 - 1 (Triton's config holds it in 32 "
                    f"bits), got {shown(number)}"
                )
            options[key] = number
    if "replace" in value:
        if not isinstance(value["replace"], bool):
            raise BadInput(f"{where}.replace: expected true or false, got {shown(value['replace'])}")
        options["replace"] = value["replace"]
    return TritonExport(**options)


def _job_settings(entry: Mapping[str, Any], folder: Path, where: str) -> tuple[str | None, dict[str, Any]]:
    """The entry's explicit name and its settings: its config's keys, overridden by the entry's own."""
    refuse_two_spellings(entry, where)
    for key in entry:
        name = str(key).replace("-", "_")
        if name in FLEET_OWNED_KEYS:
            raise BadInput(
                f"{where}: '{key}' is set by the fleet (plans, timing caches and the plan cache live in the "
                "store); remove it"
            )
        if name not in JOB_KEYS:
            raise _unknown_key(where, key, JOB_KEYS)
    settings: dict[str, Any] = {}
    config = entry.get("config")
    if config is not None:
        config_path = folder / str(config)
        # Checked as `build --config` would check it; the raw values keep how numbers were written.
        read_config(config_path)
        raw = load_config_yaml(config_path.read_text()) or {}
        for key, value in raw.items():
            name = str(key).replace("-", "_")
            if value is not None and name not in FLEET_OWNED_KEYS:
                settings[name] = relative_to_folder(name, value, config_path.parent)
    for key, value in entry.items():
        name = str(key).replace("-", "_")
        if name in ("name", "config") or value is None:
            continue
        settings[name] = value if _expands(name, value) else relative_to_folder(name, value, folder)
    explicit = _name(entry["name"], f"{where}.name") if entry.get("name") is not None else None
    return explicit, settings


# A manifest expands lists into jobs (their product): a few lines of YAML can ask for millions, each checked
# before anything is sent (a few ms each). More builds than this are several manifests' work.
MAX_JOBS = 2_000


def written(value: Any) -> str:
    """A value as the manifest wrote it: a YAML float keeps its text (a version 10.10 is not 10.1)."""
    return str(getattr(value, "written", None) or value)


def _expands(key: str, value: Any) -> bool:
    """Whether an entry's value is a list of values to expand: any list, except for a key whose value is a list
    already (profiles, plugins, keep_fp32), where only a list of lists is (one job per inner list)."""
    if not isinstance(value, list):
        return False
    if key in LIST_VALUED_KEYS:
        return bool(value) and all(isinstance(item, list) for item in value)
    return True


def _suffix(key: str, value: Any, index: int, where: str) -> str:
    if key in LIST_VALUED_KEYS:  # a list of profiles or patterns names no folder: its place in the list does
        return f"-{key}-{index + 1}"
    return "-" + _name(written(value).replace(",", "+"), f"{where}.{key}")


def _expand(
    settings: dict[str, Any], entry: Mapping[str, Any], folder: Path, where: str
) -> list[tuple[str, dict[str, Any]]]:
    """One (name suffix, settings) per combination of the entry's list values."""
    order = [str(key).replace("-", "_") for key in entry]
    listed = sorted(
        (k for k, v in settings.items() if k in order and _expands(k, v)),
        key=order.index,
    )
    for key in listed:
        if not settings[key]:
            raise BadInput(f"{where}.{key}: an empty list expands into no job; give at least one value")
    combinations = math.prod(len(settings[k]) for k in listed)
    if combinations > MAX_JOBS:
        raise BadInput(
            f"{where}: its lists ({', '.join(f'{k}: {len(settings[k])}' for k in listed)}) combine into "
            f"{combinations} jobs, more than the {MAX_JOBS} a manifest may hold; split it or shorten the lists"
        )
    expanded = []
    for choices in itertools.product(*(list(enumerate(settings[k])) for k in listed)):
        one = dict(settings)
        for key, (_, value) in zip(listed, choices, strict=True):
            one[key] = relative_to_folder(key, value, folder)
        for key, value in one.items():
            parse_config_value(key, value, f"{where}.{key}")
        suffix = "".join(
            _suffix(key, value, index, where) for key, (index, value) in zip(listed, choices, strict=True)
        )
        expanded.append((suffix, one))
    return expanded


def _check_together(job: Job, where: str) -> None:
    """The checks that look at several keys at once (calibration keys without int8, the same profile twice),
    as the build would run them: a bad combination is the manifest's error, before any task is sent."""
    with tempfile.TemporaryDirectory(prefix="trtconvert-fleet-check-") as folder:
        config = Path(folder) / "job.yaml"
        config.write_text(job.config_yaml(Path(folder) / job.plan_name, None))
        try:
            make_spec(config, {})
        except BadInput as err:
            raise BadInput(f"{where}: {str(err).replace(f'config {config}: ', '')}") from None


def read_manifest(path: Path) -> Manifest:
    """Read, check and expand a manifest; every problem is BadInput naming the key and the fix."""
    raw = _read_yaml(path)
    where = f"manifest {path.name}"
    if not isinstance(raw, Mapping):
        raise BadInput(
            f"{where} must be a mapping with store:, jobs: and gpus:; see `trtconvert fleet --help`"
        )
    for key in raw:
        if key not in MANIFEST_KEYS:
            raise _unknown_key(where, key, MANIFEST_KEYS)
    for key in ("store", "jobs", "gpus"):
        if raw.get(key) is None:
            raise BadInput(f"{where}: no '{key}:'; a manifest needs store:, jobs: and gpus:")
    folder = path.parent.resolve()
    store = _store(raw["store"], folder, f"{where}: store")
    gpus = _gpus(raw["gpus"], f"{where}: gpus")
    if not isinstance(raw["jobs"], list) or not raw["jobs"]:
        raise BadInput(f"{where}: jobs: must be a list of build entries (- model: ... or - config: ...)")
    named: dict[str, dict[str, Any]] = {}
    for index, entry in enumerate(raw["jobs"]):
        job_where = f"{where}: jobs[{index}]"
        if not isinstance(entry, Mapping):
            raise BadInput(f"{job_where}: expected a mapping of build config keys, got {shown(entry)}")
        explicit, settings = _job_settings(entry, folder, job_where)
        if "model" not in settings:
            raise BadInput(f"{job_where}: no model; give model: or a config: that names one")
        base = explicit or Path(str(entry.get("config") or settings["model"])).stem
        for suffix, one in _expand(settings, entry, folder, job_where):
            name = _name(f"{base}{suffix}", job_where)
            if name in named:
                raise BadInput(
                    f"{job_where}: two jobs are named '{name}'; give one of them another name: key"
                )
            _check_together(Job(name, "", one), f"{job_where} ({name})")
            named[name] = one
        if len(named) * len(gpus) > MAX_JOBS:
            raise BadInput(
                f"{where}: its jobs on {len(gpus)} GPU kind(s) make more than {MAX_JOBS} builds, more than a manifest "
                "may hold; split it into several manifests"
            )
    jobs = tuple(Job(name, gpu, settings) for name, settings in named.items() for gpu in gpus)
    triton = _triton(raw["triton"], folder, f"{where}: triton") if raw.get("triton") is not None else None
    if triton is not None:
        models: dict[str, str] = {}
        for name in named:
            other = models.setdefault(triton_model_name(name), name)
            if other != name:
                raise BadInput(
                    f"{where}: jobs '{other}' and '{name}' would both be the Triton model "
                    f"'{triton_model_name(name)}'; give one of them another name: key"
                )
    return Manifest(path=path, store=store, gpus=gpus, jobs=jobs, triton=triton)
