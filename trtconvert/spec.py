"""One spec for everything a run needs, filled from a YAML config and overridden by command-line flags.

Config keys are the field names below (``-`` and ``_`` are the same). Paths in a config are relative to the
config file's folder; paths on the command line are relative to the working directory.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from trtconvert.errors import BadInput
from trtconvert.profiles import Profile, parse_profile, profile_from_mapping

REWRITE_POLICIES = ("auto", "all", "none")
PRECISIONS = ("fp32", "fp16", "bf16")


@dataclass
class Spec:
    """Everything one run of prepare or build needs."""

    model: Path | None = None
    output: Path | None = None
    profiles: list[Profile] = field(default_factory=list)
    freeze: dict[str, str] = field(default_factory=dict)
    fold: bool = True
    rewrite: str = "auto"
    target_tensorrt: str | None = None
    precision: str = "fp32"
    plugins: list[Path] = field(default_factory=list)
    verify: bool = False
    inputs: dict[str, str] = field(default_factory=dict)
    atol: float | None = None
    rtol: float | None = None
    seed: int = 0
    workspace: str | None = None
    timing_cache: Path | None = None
    opt_level: int | None = None
    tf32: bool = True
    cache_dir: Path | None = None
    version_compatible: bool = False
    hardware_compatibility: str = "none"
    check_parser: bool = True

    @classmethod
    def keys(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]


def _bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    raise BadInput(f"{where}: expected true or false, got {value!r}")


def _int(value: Any, where: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise BadInput(f"{where}: expected an integer, got {value!r}")


def _float(value: Any, where: str) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise BadInput(f"{where}: expected a number, got {value!r}")


def _text(value: Any, where: str) -> str:
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value)
    raise BadInput(f"{where}: expected a string, got {value!r}")


def _choice(choices: tuple[str, ...]) -> Callable[[Any, str], str]:
    def parse(value: Any, where: str) -> str:
        text = _text(value, where).lower()
        if text not in choices:
            raise BadInput(f"{where}: '{value}' is not one of {', '.join(choices)}")
        return text

    return parse


def _profiles(value: Any, where: str) -> list[Profile]:
    items = value if isinstance(value, list) else [value]
    profiles = []
    for index, item in enumerate(items):
        label = f"{where}[{index}]"
        if isinstance(item, str):
            profiles.append(parse_profile(item))
        elif isinstance(item, Mapping) and item:
            profiles.append(profile_from_mapping(item, label))
        else:
            raise BadInput(f"{label}: expected a mapping of input name to 'MIN:OPT:MAX', got {item!r}")
    return profiles


def _inputs(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise BadInput(f"{where}: expected a mapping of input name to a value or a .npy file, got {value!r}")
    return {str(k): _text(v, f"{where}.{k}") for k, v in value.items()}


_PARSERS: dict[str, Callable[[Any, str], Any]] = {
    "model": _text,
    "output": _text,
    "profiles": _profiles,
    "freeze": _inputs,
    "fold": _bool,
    "rewrite": _choice(REWRITE_POLICIES),
    "target_tensorrt": _text,
    "precision": _choice(PRECISIONS),
    "plugins": lambda v, w: [_text(p, w) for p in (v if isinstance(v, list) else [v])],
    "verify": _bool,
    "inputs": _inputs,
    "atol": _float,
    "rtol": _float,
    "seed": _int,
    "workspace": _text,
    "timing_cache": _text,
    "opt_level": _int,
    "tf32": _bool,
    "cache_dir": _text,
    "version_compatible": _bool,
    "hardware_compatibility": _choice(("none", "ampere_plus", "same_compute_capability")),
    "check_parser": _bool,
}
_PATH_KEYS = ("model", "output", "timing_cache", "cache_dir")
assert set(_PARSERS) == set(Spec.keys()), "every spec field needs a config parser"


def read_config(path: Path) -> dict[str, Any]:
    """Read and check a YAML config; returns the parsed values with paths made absolute."""
    if not path.is_file():
        raise BadInput(f"config file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise BadInput(f"config {path} is not valid YAML{where}; fix the syntax") from None
    except UnicodeDecodeError:
        raise BadInput(f"config {path} is not a text file; give a YAML file") from None
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise BadInput(
            f"config {path} must be a mapping of keys to values (key: value), not {type(raw).__name__}"
        )
    values: dict[str, Any] = {}
    for key, value in raw.items():
        name = str(key).replace("-", "_")
        if name not in _PARSERS:
            match = difflib.get_close_matches(name, list(_PARSERS), n=1, cutoff=0.5)
            hint = f"did you mean '{match[0]}'?" if match else f"valid keys: {', '.join(_PARSERS)}"
            raise BadInput(f"config {path}: unknown key '{key}'; {hint}")
        if value is None:
            continue
        parsed = _PARSERS[name](value, f"config {path.name}: {key}")
        if name in _PATH_KEYS:
            parsed = path.parent / parsed
        elif name == "plugins":
            parsed = [path.parent / p for p in parsed]
        elif name in ("inputs", "freeze"):
            parsed = {k: _config_relative_file(path.parent, v) for k, v in parsed.items()}
        values[name] = parsed
    return values


def _config_relative_file(folder: Path, value: str) -> str:
    return str(folder / value) if value.endswith(".npy") else value


def make_spec(config: Path | None, overrides: Mapping[str, Any]) -> Spec:
    """Config values first, then every flag that was given (None means the flag was not given)."""
    values = read_config(config) if config else {}
    given = {k: v for k, v in overrides.items() if v is not None and v != [] and v != {}}
    for key in ("inputs", "freeze"):
        if key in values and key in given:
            given[key] = {**values[key], **given[key]}
    values.update(given)
    for key in _PATH_KEYS:
        if key in values:
            values[key] = Path(values[key])
    values["plugins"] = [Path(p) for p in values.get("plugins", [])]
    return Spec(**values)
