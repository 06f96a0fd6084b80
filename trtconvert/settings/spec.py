"""One spec for everything a run needs, filled from a YAML config and overridden by command-line flags.

Config keys are the field names below (``-`` and ``_`` are the same). Paths in a config are relative to the
config file's folder; paths on the command line are relative to the working directory.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import os
import re
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trtconvert.errors import BadInput, clipped, shown
from trtconvert.model.profiles import Profile, parse_profile, profile_from_mapping
from trtconvert.numbers import MAX_DIGITS, parse_size
from trtconvert.paths import checked_path
from trtconvert.settings.tolerances import INT8_MIN_WITHIN

REWRITE_POLICIES = ("auto", "all", "none")
PRECISIONS = ("fp32", "fp16", "bf16", "int8", "int8,fp16")
CALIBRATION_METHODS = ("minmax", "entropy", "percentile")
HARDWARE_COMPATIBILITY_LEVELS = ("none", "ampere_plus", "same_compute_capability")


@dataclass
class Spec:
    """Everything one run of prepare or build needs."""

    model: Path | None = None
    output: Path | None = None
    profiles: list[Profile] = field(default_factory=list)
    freeze: dict[str, str] = field(default_factory=dict)
    fold: bool = True
    fold_max_size: str | None = None
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
    calib_data: Path | None = None
    calib_cache: Path | None = None
    calib_method: str = "minmax"
    calib_random_for_timing_only: bool = False
    int8_min_within: float = INT8_MIN_WITHIN
    keep_fp32: list[str] = field(default_factory=list)
    strongly_typed: bool = False
    auto_keep_fp32: bool = False
    max_builds: int = 8
    # Set when -o / output: ends with '/': the output goes into that folder, named after the model.
    output_folder: bool = field(default=False, metadata={"derived": True})
    # The --config file this spec was read from: an input of the run, which no output may overwrite.
    config: Path | None = field(default=None, compare=False, metadata={"derived": True})

    @classmethod
    def keys(cls) -> list[str]:
        """The config keys: every field but the derived ones."""
        return [f.name for f in dataclasses.fields(cls) if not f.metadata.get("derived")]

    def with_output_file(self, suffix: str) -> Spec:
        """This spec with ``output`` a file path: MODEL_STEM + suffix inside the folder that '-o DIR/' names."""
        if not self.output_folder or self.output is None or self.model is None:
            return self
        return dataclasses.replace(
            self, output=self.output / f"{self.model.stem}{suffix}", output_folder=False
        )


def _bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    raise BadInput(f"{where}: expected true or false, got {shown(value)}")


def _refuse_huge(value: Any, where: str) -> None:
    if isinstance(value, _HugeNumber):
        raise BadInput(f"{where}: {shown(value)} is too large for a number; give a small value")


def _int(value: Any, where: str) -> int:
    _refuse_huge(value, where)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise BadInput(f"{where}: expected an integer, got {shown(value)}")


_EXPONENT_NUMBER = re.compile(r"[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)[eE][-+]?[0-9]+")


def _float(value: Any, where: str) -> float:
    _refuse_huge(value, where)
    if isinstance(value, str) and _EXPONENT_NUMBER.fullmatch(value.strip()):
        value = float(value)  # YAML 1.1 reads 1e-3 (no dot) as text; as a tolerance it means the number
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            raise BadInput(f"{where}: {shown(value)} is too large for a number; give a small value") from None
    raise BadInput(f"{where}: expected a number, got {shown(value)}")


def _text(value: Any, where: str) -> str:
    _refuse_huge(value, where)
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value)
    raise BadInput(f"{where}: expected a string, got {shown(value)}")


def _size(value: Any, where: str) -> str:
    """A size as written (``4G``), checked when read, so that a manifest's job is refused before it is sent."""
    text = _text(value, where)
    parse_size(text, where)
    return text


def _version(value: Any, where: str) -> str:
    # A YAML float has already lost what was written: 10.10 reads as 10.1. The loader keeps the text.
    return getattr(value, "written", None) or _text(value, where)


def _choice(choices: tuple[str, ...]) -> Callable[[Any, str], str]:
    def parse(value: Any, where: str) -> str:
        text = _text(value, where).lower()
        if text not in choices:
            raise BadInput(f"{where}: {shown(value)} is not one of {', '.join(choices)}")
        return text

    return parse


# --keep-fp32 works where some layers would otherwise run in a narrower float type.
KEEP_FP32_PRECISIONS = ("fp16", "bf16", "int8,fp16")
OP_PREFIX = "op:"


def _keep_fp32_pattern(value: Any, where: str) -> str:
    # Not stripped, and a blank or a bare 'op:' taken: a node may be named so (the finder prints such names
    # quoted), and a pattern no node has is refused by name where the model is read.
    text = _text(value, where)
    if not text:
        raise BadInput(
            f"{where}: {shown(value)} names no node; write a node name, a glob such as 'blocks.*.norm', or "
            "op:TYPE such as op:Softmax"
        )
    return text


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
            raise BadInput(f"{label}: expected a mapping of input name to 'MIN:OPT:MAX', got {shown(item)}")
    return profiles


def _inputs(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise BadInput(
            f"{where}: expected a mapping of input name to a value or a .npy file, got {shown(value)}"
        )
    return {str(k): _text(v, f"{where}.{k}") for k, v in value.items()}


_PARSERS: dict[str, Callable[[Any, str], Any]] = {
    "model": _text,
    "output": _text,
    "profiles": _profiles,
    "freeze": _inputs,
    "fold": _bool,
    "fold_max_size": _size,
    "rewrite": _choice(REWRITE_POLICIES),
    "target_tensorrt": _version,
    "precision": _choice(PRECISIONS),
    "plugins": lambda v, w: [_text(p, w) for p in (v if isinstance(v, list) else [v])],
    "verify": _bool,
    "inputs": _inputs,
    "atol": _float,
    "rtol": _float,
    "seed": _int,
    "workspace": _size,
    "timing_cache": _text,
    "opt_level": _int,
    "tf32": _bool,
    "cache_dir": _text,
    "version_compatible": _bool,
    "hardware_compatibility": _choice(HARDWARE_COMPATIBILITY_LEVELS),
    "check_parser": _bool,
    "calib_data": _text,
    "calib_cache": _text,
    "calib_method": _choice(CALIBRATION_METHODS),
    "calib_random_for_timing_only": _bool,
    "int8_min_within": _float,
    "strongly_typed": _bool,
    "auto_keep_fp32": _bool,
    "max_builds": _int,
    "keep_fp32": lambda v, w: [_keep_fp32_pattern(p, w) for p in (v if isinstance(v, list) else [v])],
}
_PATH_KEYS = ("model", "output", "timing_cache", "cache_dir", "calib_data", "calib_cache")
assert set(_PARSERS) == set(Spec.keys()), "every spec field needs a config parser"


MAX_CONFIG_BYTES = 1 << 20


class _HugeNumber(str):
    """An integer of more digits than any setting takes (Python will not even convert one past 4300 digits)."""


class _WrittenFloat(float):
    """A float that remembers how it was written (a version such as 10.10 is not the number 10.1)."""

    written: str


_DECIMAL_INT = re.compile(r"[-+]?(0|[1-9][0-9]*)")


@functools.cache
def _config_loader() -> type:
    # Built on first use: PyYAML is needed only when a config is read, not for --help.
    import yaml

    class _ConfigLoader(yaml.SafeLoader):
        """YAML's safe loader without aliases (a few bytes of nested aliases expand to gigabytes; a config needs
        none), without duplicate keys (the last one silently winning hides a mistake), and without YAML 1.1's
        surprising numbers: 010 (octal 8), 1:30 (base 60: 90), 0x10 and 1_000 stay text, which the key then
        accepts or refuses by name."""

        def construct_yaml_int(self, node):  # type: ignore[no-untyped-def]
            if not _DECIMAL_INT.fullmatch(node.value):
                return self.construct_scalar(node)
            if len(node.value.lstrip("+-")) > MAX_DIGITS:
                return _HugeNumber(node.value)  # refused by the key that reads it, which can name itself
            return super().construct_yaml_int(node)

        def construct_yaml_float(self, node):  # type: ignore[no-untyped-def]
            if ":" in node.value or "_" in node.value:
                return self.construct_scalar(node)
            number = _WrittenFloat(super().construct_yaml_float(node))
            number.written = node.value
            return number

        def construct_mapping(self, node, deep=False):  # type: ignore[no-untyped-def]
            if not isinstance(node, yaml.MappingNode):  # `!!map x`, `!!set [a]`: PyYAML names the line
                return super().construct_mapping(node, deep)
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                if not isinstance(key, Hashable):
                    continue  # refused later, with the key named
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {shown(key)}", key_node.start_mark
                    )
                seen.add(key)
            return super().construct_mapping(node, deep)

        def construct_object(self, node, deep=False):  # type: ignore[no-untyped-def]
            # PyYAML's constructors for explicit tags trust the text: `!!float x`, `!!bool x`, `!!timestamp
            # 2020-99-99` or `!!map x` raise ValueError, KeyError, TypeError or AttributeError instead of a YAML
            # error naming the line.
            try:
                return super().construct_object(node, deep)
            except (ValueError, KeyError, TypeError, AttributeError, OverflowError):
                tag = node.tag.replace("tag:yaml.org,2002:", "!!")
                raise yaml.constructor.ConstructorError(
                    None, None, f"{clipped(tag, 40)} cannot hold this value", node.start_mark
                ) from None

        def compose_node(self, parent, index):  # type: ignore[no-untyped-def]
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    "aliases (*name) are not allowed in a trtconvert config; write the value out",
                    event.start_mark,
                )
            return super().compose_node(parent, index)

    _ConfigLoader.add_constructor("tag:yaml.org,2002:int", _ConfigLoader.construct_yaml_int)
    _ConfigLoader.add_constructor("tag:yaml.org,2002:float", _ConfigLoader.construct_yaml_float)
    return _ConfigLoader


def read_config(path: Path) -> dict[str, Any]:
    """Read and check a YAML config; returns the parsed values with paths made absolute."""
    from trtconvert.model.load import require_regular_file

    require_regular_file(path, "config file")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise BadInput(f"config {path} is over 1 MB; a config holds a few keys, give the YAML file")
    import yaml

    try:
        raw = load_config_yaml(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problem = str(getattr(err, "problem", ""))
        if "aliases" in problem:
            raise BadInput(
                f"config {path}: YAML aliases (*name) are not allowed{where}; write the value out"
            ) from None
        if problem.startswith("duplicate key"):
            raise BadInput(f"config {path}: {problem}{where}; give each key once") from None
        raise BadInput(f"config {path} is not valid YAML{where}{yaml_problem(err)}; fix the syntax") from None
    except UnicodeDecodeError:
        raise BadInput(f"config {path} is not a text file; give a YAML file") from None
    except RecursionError:
        raise BadInput(
            f"config {path} nests lists or mappings too deeply; a config is a flat mapping of keys"
        ) from None
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise BadInput(
            f"config {path} must be a mapping of keys to values (key: value), not {type(raw).__name__}"
        )
    refuse_two_spellings(raw, f"config {path}")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        name = str(key).replace("-", "_")
        if name not in _PARSERS:
            match = difflib.get_close_matches(name, list(_PARSERS), n=1, cutoff=0.5)
            hint = f"did you mean '{match[0]}'?" if match else f"valid keys: {', '.join(_PARSERS)}"
            raise BadInput(f"config {path}: unknown key {shown(key)}; {hint}")
        if value is None:
            continue
        parsed = _PARSERS[name](value, f"config {path.name}: {key}")
        values[name] = relative_to_folder(name, parsed, path.parent)
    return values


def yaml_problem(err: Exception) -> str:
    """What PyYAML says is wrong (an unknown tag, a second document, a key that is a list), for the message."""
    problem = getattr(err, "problem", None) or getattr(err, "context", None) or getattr(err, "reason", None)
    return f" ({clipped(str(problem), 120)})" if problem else ""


def refuse_two_spellings(mapping: Mapping, where: str) -> None:
    """Keys are read with '-' as '_': `check-parser` and `check_parser` are one key, and given both, the later one
    would silently replace the first (YAML's duplicate check sees two keys)."""
    seen: dict[str, Any] = {}
    for key in mapping:
        name = str(key).replace("-", "_")
        if name in seen:
            raise BadInput(f"{where}: {shown(seen[name])} and {shown(key)} are the same key; give it once")
        seen[name] = key


def parse_config_value(name: str, value: Any, where: str) -> Any:
    """One config key's value checked and parsed as a config file's would be (BadInput naming ``where``)."""
    return _PARSERS[name](value, where)


def relative_to_folder(name: str, value: Any, folder: Path) -> Any:
    """A config key's value with the paths it holds read relative to ``folder`` (a config file's folder). A value
    of another type is returned as it is, for the key's parser to refuse by name."""
    if name in _PATH_KEYS and isinstance(value, str):
        trailing = "/" if name == "output" and value.endswith("/") else ""
        return f"{folder / value}{trailing}"
    if name == "plugins" and isinstance(value, (str, list)):
        return [
            str(folder / p) if isinstance(p, str) else p
            for p in (value if isinstance(value, list) else [value])
        ]
    if name in ("inputs", "freeze") and isinstance(value, Mapping):
        return {k: _config_relative_file(folder, str(v)) for k, v in value.items()}
    return value


def load_config_yaml(text: str) -> Any:
    """YAML read as configs are: no aliases, no duplicate keys, numbers as written (yaml.YAMLError if not)."""
    import yaml

    return yaml.load(text, Loader=_config_loader())


def _config_relative_file(folder: Path, value: str) -> str:
    return str(folder / value) if value.endswith(".npy") else value


def make_spec(config: Path | None, overrides: Mapping[str, Any]) -> Spec:
    """Config values first, then every flag that was given (None means the flag was not given)."""
    values = read_config(checked_path(config, "--config")) if config else {}
    given = {k: v for k, v in overrides.items() if v is not None and v != [] and v != {}}
    for key in ("inputs", "freeze"):
        if key in values and key in given:
            given[key] = {**values[key], **given[key]}
    values.update(given)
    output = values.get("output")
    if output is not None and str(output).endswith(("/", os.sep)):
        values["output_folder"] = True
    for key in _PATH_KEYS:
        if key in values:
            values[key] = checked_path(values[key], _flag(key))
    values["plugins"] = [checked_path(p, "--plugin") for p in values.get("plugins", [])]
    for key in ("inputs", "freeze"):
        for name, value in values.get(key, {}).items():
            if str(value).endswith(".npy"):
                checked_path(value, f"{_flag(key)} {name}")
    spec = Spec(**values, config=config)
    check_numbers(spec)
    _check_int8_settings(spec)
    _check_keep_fp32(spec)
    _check_auto_keep(spec)
    _check_profiles_differ(spec)
    return spec


def _flag(key: str) -> str:
    return {"inputs": "--input", "output": "-o", "model": "model"}.get(key, "--" + key.replace("_", "-"))


def _check_int8_settings(spec: Spec) -> None:
    """Calibration settings only act on int8: given with another precision they would be ignored unseen."""
    if "int8" in spec.precision:
        return
    given = [
        flag
        for flag, value in (
            ("--calib-data", spec.calib_data),
            ("--calib-cache", spec.calib_cache),
            ("--calib-method", spec.calib_method != Spec.calib_method),
            ("--calib-random-for-timing-only", spec.calib_random_for_timing_only),
        )
        if value
    ]
    if given:
        raise BadInput(
            f"{' and '.join(given)} {'apply' if len(given) > 1 else 'applies'} only to --precision int8 (this "
            f"run is {spec.precision}); drop {'them' if len(given) > 1 else 'it'} or use --precision int8"
        )


def _check_keep_fp32(spec: Spec) -> None:
    """--keep-fp32 only means something where layers would otherwise run narrower than fp32."""
    spec.keep_fp32 = [_keep_fp32_pattern(pattern, "--keep-fp32") for pattern in spec.keep_fp32]
    if spec.keep_fp32 and spec.precision not in KEEP_FP32_PRECISIONS:
        raise BadInput(
            f"--keep-fp32 applies only to a reduced float precision ({', '.join(KEEP_FP32_PRECISIONS)}), and this "
            f"run is {spec.precision}; add --precision fp16, or drop --keep-fp32"
        )


def _check_auto_keep(spec: Spec) -> None:
    """--auto-keep-fp32 searches with engine checks, so it needs --verify and a precision that keeping can help."""
    if not spec.auto_keep_fp32:
        if spec.max_builds != Spec.max_builds:
            raise BadInput("--max-builds applies only to --auto-keep-fp32; add it, or drop --max-builds")
        return
    if spec.precision not in KEEP_FP32_PRECISIONS:
        raise BadInput(
            f"--auto-keep-fp32 applies only to a reduced float precision ({', '.join(KEEP_FP32_PRECISIONS)}), and "
            f"this run is {spec.precision}; add --precision fp16, or drop --auto-keep-fp32"
        )
    if not spec.verify:
        raise BadInput(
            "--auto-keep-fp32 needs --verify: the engine check decides which set passes; add --verify"
        )
    if spec.max_builds < 2:
        raise BadInput(
            f"--max-builds {spec.max_builds}: give at least 2 (the first build, then one with nodes kept fp32)"
        )


def _check_profiles_differ(spec: Spec) -> None:
    for index, profile in enumerate(spec.profiles):
        first = spec.profiles.index(profile)
        if first < index:
            raise BadInput(
                f"profile {index + 1} repeats profile {first + 1}; give each optimization profile once"
            )


MAX_SEED = 2**63 - 1


def check_numbers(spec: Spec) -> None:
    """Numbers that no run can use: negative or non-finite tolerances, seeds outside numpy's range."""
    for flag, value in (("--atol", spec.atol), ("--rtol", spec.rtol)):
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise BadInput(f"{flag} {value}: a tolerance must be a finite number of at least 0")
    if not (math.isfinite(spec.int8_min_within) and 0 <= spec.int8_min_within <= 1):
        raise BadInput(
            f"--int8-min-within {spec.int8_min_within}: give the share of elements as a fraction, 0 to 1"
        )
    if not 0 <= spec.seed <= MAX_SEED:
        raise BadInput(f"--seed {spec.seed}: a seed must be between 0 and 2^63 - 1")
