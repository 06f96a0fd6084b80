"""An argument and config fuzzer: every command's options, read from click's own command objects (names, types,
flags, choices, multiple), given to valid bundled inputs and mutated by hypothesis (repeated, dropped, given twice
with different values, adversarial text, numbers and paths, `--opt=value`, after `--`, abbreviated, environment
variables the code reads); config files and fleet manifests built from the keys the code defines, with YAML's edge
cases. Each run asserts the whole contract (tests/contract.py). The command lines our own messages suggest
(inspect's --profile, the --keep-fp32 flag set, export triton's tritonserver lines) are parsed back with click.

CI runs a few derandomised examples; a long run by hand:
    TRTCONVERT_FUZZ_EXAMPLES=300 .venv/bin/pytest -m fuzz tests/test_fuzz_arguments.py
A failure prints the command line, the environment and the files that caused it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import shlex
import tempfile
from collections.abc import Iterator
from pathlib import Path

import click
import onnx
import pytest
from contract import assert_contract, digests, partial_files, trtconvert
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper
from plan_factories import plan_with_sidecar

from trtconvert.cli.main import cli
from trtconvert.fleet.manifest import JOB_KEYS, MANIFEST_KEYS, TRITON_KEYS
from trtconvert.settings.spec import Spec

pytestmark = [pytest.mark.fuzz, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = int(os.environ.get("TRTCONVERT_FUZZ_EXAMPLES", "4"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
    derandomize=EXAMPLES <= 10,  # CI: the same few examples each run; by hand: new ones every time
)
# Seconds one run may take: every seed below ends in well under a second here (no TensorRT) and in seconds where
# TensorRT fails fast on missing headers or a random-bytes plan.
SECONDS = 60


def _walk(
    group: click.Group, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    for name, command in sorted(group.commands.items()):
        path = (*prefix, name)
        if isinstance(command, click.Group):
            yield from _walk(command, path)
        else:
            yield path, command


COMMANDS = {(): cli, **dict(_walk(cli))}  # () is the group itself: --version


def _options(command: click.Command) -> list[click.Option]:
    return [p for p in command.params if isinstance(p, click.Option) and not p.hidden]


# Options a fuzzed run must not be given: they start real work where the machine can do it (a CUDA build of the
# kernels needs no TensorRT, so the fake --tensorrt-root that keeps `plugins build` fast would not stop it).
STARTS_REAL_WORK = {("plugins", "build"): {"kernels_only", "tensorrt_root"}}

# The environment the code and click read: every TRTCONVERT_* named in the package, and the terminal's.
ENVIRONMENT = sorted(
    set(
        re.findall(
            r"TRTCONVERT_[A-Z0-9_]+", "".join(p.read_text() for p in (REPO / "trtconvert").rglob("*.py"))
        )
    )
    | {"NO_COLOR", "COLUMNS", "LINES", "TERM", "TENSORRT_ROOT"}
)


# ------------------------------------------------------------------------------------------------ the inputs


def _example_model() -> onnx.ModelProto:
    spec = importlib.util.spec_from_file_location(
        "super_resolution", REPO / "examples" / "super_resolution.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_model()


PROFILE = "input=1x3x8x8:1x3x8x8:1x3x16x16,factor=1x1x16x16:1x1x16x16:1x1x32x32"
SIDE_IO = {
    "inputs": [
        {"name": "input", "dtype": "float32", "dims": [1, 3, -1, -1]},
        {"name": "factor", "dtype": "float32", "dims": [1, 1, -1, -1]},
    ],
    "outputs": [{"name": "output", "dtype": "float32", "dims": [1, 3, -1, -1]}],
}


class Inputs:
    """Valid inputs of every command in a fresh folder: ROOT/in (inputs, compared byte for byte afterwards),
    ROOT/out (empty: outputs), ROOT/work (the working directory, so that '../' paths stay inside ROOT) and
    ROOT/home ($HOME, so that '~' stays inside ROOT)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        for sub in ("in", "out", "work", "home", "in/empty"):
            (root / sub).mkdir()
        inputs = root / "in"
        self.model = inputs / "model.onnx"
        onnx.save(_example_model(), str(self.model))
        self.config = inputs / "config.yaml"
        self.config.write_text(_config_text({"model": "model.onnx", "profiles": [PROFILE]}))
        self.plan = plan_with_sidecar(inputs / "plans", "model.plan", SIDE_IO, [PROFILE])
        self.manifest = inputs / "fleet.yaml"
        self.manifest.write_text(
            "store: ../out/store\ngpus: [H100]\njobs:\n  - config: config.yaml\n    name: sr\n"
            "triton: ../out/triton\n"
        )
        self.folder = inputs / "empty"
        self.out = root / "out"

    def files(self) -> list[Path]:
        return sorted(p for p in (self.root / "in").rglob("*") if p.is_file())

    def seed(self, path: tuple[str, ...]) -> list[str]:
        """A valid command line of each command: it ends in 0, or in 3 where the machine lacks TensorRT."""
        out = self.out
        seeds: dict[tuple[str, ...], list[str]] = {
            ("bench",): [self.plan, "--iterations", "2"],
            ("build",): [self.model, "-o", out / "model.plan", "--profile", PROFILE],
            (): ["--version"],
            ("doctor",): [],
            ("export", "triton"): [self.plan, "-o", out / "repo", "--name", "sr"],
            ("fleet", "run"): [self.manifest, "--dry-run"],
            ("fleet", "worker"): ["tcp://127.0.0.1:9"],
            ("inspect",): [self.model],
            ("plugins", "build"): [
                "--tensorrt-root",
                self.folder,
                "-o",
                out / "lib",
                "--build-dir",
                out / "native",
            ],
            ("prepare",): [self.model, "-o", out / "prepared.onnx", "--profile", PROFILE],
            ("verify",): [self.plan, "--onnx", self.model],
        }
        return [str(a) for a in seeds[path]]

    def environment(self, extra: dict[str, str]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ENVIRONMENT}
        # No GPU for a fuzzed run: `fleet worker` would serve until stopped, a build would run for minutes.
        env.update(HOME=str(self.root / "home"), CUDA_VISIBLE_DEVICES="", PYTHONHASHSEED="0")
        env.update(extra)
        return env


def _config_text(values: dict) -> str:
    return "".join(f"{k}: {json.dumps(v)}\n" for k, v in values.items())


def test_every_command_has_a_seed() -> None:
    """A new command is fuzzed once it has a seed (its options are found by themselves)."""
    with tempfile.TemporaryDirectory() as name:
        inputs = Inputs(Path(name))
        for path in COMMANDS:
            assert inputs.seed(path) is not None


# ------------------------------------------------------------------------------------------------ the values

LONG = "a" * 100_000
TEXT = [
    "",
    " ",
    "\t",
    " x ",
    "\u202eevil",  # right-to-left override
    "e\u0301",  # a combining accent
    "\U0001f600",
    "\x01\x1b[2J\x7f",  # control characters (NUL cannot be in argv)
    "a\nerror: forged",
    LONG,
    "-",
    "--",
    "-x",
    "=",
    ",",
    ":",
    "'",
    '"',
    "a b",
    "a=b,c",
    "x=",
    "=1",
    "%s%n",
    "{}",
]
NUMBERS = [
    "0",
    "-0",
    "1",
    "-1",
    "2",
    "1.5",
    "-1.5",
    "1e3",
    "1E-3",
    "1e999",
    "-1e999",
    "0x10",
    "010",
    "1_000",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "infinity",
    "9" * 5000,
    "-" + "9" * 30,
    str(2**63),
    str(2**31),
    " 2 ",
    "\u0663",  # ARABIC-INDIC DIGIT THREE: Python's int() reads it
    "\u00b2",
    "1/2",
    "",
]


def _paths(inputs: Inputs) -> list[str]:
    return [
        str(inputs.folder),
        str(inputs.folder) + "/",
        "/dev/null",
        "/dev/full",
        "/dev/zero",
        str(inputs.root / "in" / "missing" / "x.onnx"),
        "../out/rel.onnx",
        "../in/../in/model.onnx",
        "~",
        "~/x.onnx",
        "-",
        "",
        ".",
        "..",
        "/",
        "a" * 300,  # a name past NAME_MAX
        "/".join(["d"] * 3000),  # a path past PATH_MAX
        str(inputs.model),  # an input given for another role
        str(inputs.config),
        str(inputs.plan),
        str(inputs.out / "new folder" / "a b'c=d,e:f.onnx"),
    ]


def _values(option: click.Option, inputs: Inputs) -> st.SearchStrategy[str]:
    kind = option.type
    pool: list[str] = []
    if isinstance(kind, click.Choice):
        pool += [str(c) for c in kind.choices] + [str(c).upper() for c in kind.choices]
    if isinstance(kind, click.types._NumberParamTypeBase):
        pool += NUMBERS
    elif isinstance(kind, click.Path):
        pool += _paths(inputs)
    else:
        pool += NUMBERS[:12] + _paths(inputs) + ["4G", "512M", "1x3x8x8", PROFILE, "input=1", "10.8", "8.5.3"]
    return st.sampled_from(pool + TEXT)


def _flag_forms(option: click.Option) -> list[str]:
    return [*option.opts, *option.secondary_opts]


def _takes_value(option: click.Option) -> bool:
    return not (option.is_flag or option.count)


@st.composite
def argv_case(draw) -> tuple[tuple[str, ...], list[tuple]]:
    """(command path, mutations): the mutations are applied to the command's seed when the inputs exist."""
    path = draw(st.sampled_from(sorted(COMMANDS)))
    command = COMMANDS[path]
    skipped = STARTS_REAL_WORK.get(path, set())
    options = [o for o in _options(command) if o.name not in skipped and "--help" not in o.opts]
    steps: list[tuple] = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(
            st.sampled_from(
                [
                    "add",
                    "add",
                    "repeat",
                    "twice",
                    "drop",
                    "equals",
                    "after_dashdash",
                    "abbreviate",
                    "env",
                    "argument",
                ]
            )
        )
        if kind in ("add", "repeat", "twice", "equals", "after_dashdash", "abbreviate") and options:
            option = draw(st.sampled_from(options))
            flag = draw(st.sampled_from(_flag_forms(option)))
            steps.append((kind, option.name, flag, _takes_value(option) and flag in option.opts))
        elif kind == "drop":
            steps.append(("drop", draw(st.integers(0, 8))))
        elif kind == "env":
            steps.append(
                ("env", draw(st.sampled_from(ENVIRONMENT)), draw(st.sampled_from(NUMBERS + TEXT[:12])))
            )
        else:
            steps.append(("argument", draw(st.integers(0, 40))))
    return path, steps


def _apply(
    path: tuple[str, ...], steps: list[tuple], inputs: Inputs, data
) -> tuple[list[str], dict[str, str]]:
    """The seed of ``path`` with ``steps`` applied; values are drawn now that the paths exist."""
    command = COMMANDS[path]
    argv = inputs.seed(path)
    options = {o.name: o for o in _options(command)}
    env: dict[str, str] = {}
    tail: list[str] = []
    for step in steps:
        kind = step[0]
        if kind == "drop":
            if argv:
                del argv[step[1] % len(argv)]
        elif kind == "env":
            env[step[1]] = step[2]
        elif kind == "argument":
            # a positional argument (the model, the plan, the manifest) replaced by an adversarial path or text
            pool = _paths(inputs) + TEXT
            replacement = pool[step[1] % len(pool)]
            if argv and not argv[0].startswith("-"):
                argv[0] = replacement
            else:
                argv.insert(0, replacement)
        else:
            name, flag, takes_value = step[1], step[2], step[3]
            option = options[name]
            value = data.draw(_values(option, inputs), label=f"{flag} value") if takes_value else None
            words = [flag] if value is None else [flag, value]
            if kind == "add":
                argv += words
            elif kind == "repeat":
                argv += words + words
            elif kind == "twice":
                other = (
                    data.draw(_values(option, inputs), label=f"{flag} second value") if takes_value else None
                )
                argv += words + ([flag] if other is None else [flag, other])
            elif kind == "equals":
                argv += [f"{flag}={value}" if value is not None else f"{flag}=1"]
            elif kind == "after_dashdash":
                tail += ["--", *words]
            elif kind == "abbreviate" and flag.startswith("--") and len(flag) > 4:
                cut = data.draw(st.integers(3, len(flag) - 1), label="abbreviated to")
                argv += [flag[:cut]] + ([] if value is None else [value])
    return [*path, *argv, *tail], env


def _run_keeps_the_contract(args: list[str], env: dict[str, str], inputs: Inputs, extra_inputs=()) -> None:
    files = [*inputs.files(), *extra_inputs]
    before = digests(files)
    made_before = _made(inputs)
    run = trtconvert(args, cwd=inputs.root / "work", timeout=SECONDS, env=inputs.environment(env))
    shown_env = " ".join(f"{k}={shlex.quote(v[:60])}" for k, v in env.items())
    shown_args = [a if len(a) < 200 else a[:60] + f"...({len(a)} chars)" for a in args]
    if "--debug" in args:  # asked for: the traceback of an error is shown, the rest of the contract holds
        run.stderr = "\n".join(line for line in run.stderr.splitlines() if not line.startswith("Traceback"))
    assert_contract(run, [shown_env, *shown_args], files, before, inputs.root)
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert not any("Usage:" in line for line in errors), f"a help text as the error line: {errors}"
    if "--json" in args and run.stdout.strip():  # stdout holds one JSON report, which tells a failure too
        report = json.loads(run.stdout)
        assert isinstance(report, dict), run.stdout[:500]
        if run.code != 0:
            assert report.get("ok") is False and report.get("exit_code") == run.code, run.stdout[:500]
    if run.code != 0:
        assert _made(inputs) == made_before, (
            f"a failed run left files: {_made(inputs) - made_before}: {shown_args}"
        )
    assert partial_files(inputs.root) == []


def _made(inputs: Inputs) -> set[Path]:
    """The files a run could have written: everything in ROOT outside the inputs (and outside $HOME/.cache, where
    onnxruntime keeps a device id of its own)."""
    return {
        p
        for p in inputs.root.rglob("*")
        if not p.is_dir()
        and (inputs.root / "in") not in p.parents
        and (inputs.root / "home" / ".cache") not in p.parents
    }


@FUZZ
@given(argv_case(), st.data())
def test_mutated_arguments_keep_the_contract(case, data) -> None:
    path, steps = case
    with tempfile.TemporaryDirectory() as name:
        inputs = Inputs(Path(name))
        args, env = _apply(path, steps, inputs, data)
        _run_keeps_the_contract(args, env, inputs)


def test_every_seed_runs() -> None:
    """The seeds are valid: each command ends in 0, or 3 naming what this machine lacks (TensorRT, a GPU)."""
    with tempfile.TemporaryDirectory() as name:
        inputs = Inputs(Path(name))
        for path in sorted(COMMANDS):
            run = trtconvert(
                [*path, *inputs.seed(path)], cwd=inputs.root / "work", env=inputs.environment({})
            )
            assert run.code in (0, 3), f"{path}: {run.stderr[-2000:]}"


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=lambda path: " ".join(path) or "trtconvert")
def test_every_option_given_twice_is_refused(path: tuple[str, ...]) -> None:
    """An option of one value given twice with different values is refused (never the later one kept unseen),
    on every command: the set comes from click, so an option added later is covered."""
    command = COMMANDS[path]
    with tempfile.TemporaryDirectory() as name:
        inputs = Inputs(Path(name))
        for option in _options(command):
            if option.multiple or option.count or option.is_eager:  # --help, --version: print and stop
                continue
            if option.is_flag:
                twice = [option.opts[0], option.opts[0]]
            else:
                twice = [option.opts[0], "1", option.opts[0], "2"]
            args = [*path, *inputs.seed(path), *twice]
            run = trtconvert(args, cwd=inputs.root / "work", timeout=SECONDS, env=inputs.environment({}))
            assert run.code == 2 and "given twice" in run.stderr, (
                f"{args}: exit {run.code}: {run.stderr[-800:]}"
            )


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=lambda path: " ".join(path) or "trtconvert")
def test_every_number_option_refuses_what_is_not_a_usable_number(path: tuple[str, ...]) -> None:
    """NaN, an infinity and a number of 5000 digits are refused (exit 2) by every numeric option, those added
    later included: NaN passes every bound click checks, and NaN seconds of waiting never end."""
    command = COMMANDS[path]
    with tempfile.TemporaryDirectory() as name:
        inputs = Inputs(Path(name))
        for option in _options(command):
            if not isinstance(option.type, click.types._NumberParamTypeBase):
                continue
            floats = isinstance(option.type, click.types.FloatParamType)
            for value in ("nan", "-inf") if floats else ("9" * 5000,):
                args = [*path, *inputs.seed(path), option.opts[-1], value]
                run = trtconvert(args, cwd=inputs.root / "work", timeout=SECONDS, env=inputs.environment({}))
                assert run.code == 2 and run.stderr.count("error:") == 1, (
                    f"{args[:-1]} {value[:10]}: exit {run.code}: {run.stderr[-800:]}"
                )


BAD_ADDRESSES = [
    "0",
    "sched",
    "tcp://sched",
    "x:y",
    "tcp://[::1",
    "tcp://h:99999999",
    "ucx://h:1",
    "inproc://x",
]


def test_a_scheduler_address_dask_cannot_parse_is_refused() -> None:
    """`fleet --scheduler` and `fleet worker` check the address themselves: Dask's parser raises ValueError or
    TypeError on these (found by the fuzzer as internal errors). Each form in process, two through the CLI."""
    from trtconvert.errors import BadInput
    from trtconvert.fleet.cluster import checked_address

    for address in BAD_ADDRESSES:
        with pytest.raises(BadInput, match="is not a Dask scheduler address"):
            checked_address(address)
    assert checked_address("tcp://[::1]:8786") == "tcp://[::1]:8786"
    with tempfile.TemporaryDirectory() as name:
        inputs = Inputs(Path(name))
        for args in (["fleet", str(inputs.manifest), "--scheduler", "x:y"], ["fleet", "worker", "sched"]):
            run = trtconvert(args, cwd=inputs.root / "work", timeout=SECONDS, env=inputs.environment({}))
            assert run.code == 2 and "is not a Dask scheduler address" in run.stderr, run.stderr[-800:]


# ------------------------------------------------------------------------------------------------ configs

# YAML values a key may be given: scalars of every YAML type, collections, tags, and text at the edges.
YAML_VALUES = [
    "fp16",
    "''",
    "' '",
    "null",
    "~",
    "true",
    "yes",
    "off",
    "0",
    "-1",
    "1.5",
    "1e999",
    "1e-3",
    ".nan",
    ".inf",
    "-.inf",
    "0x10",
    "010",
    "0o10",
    "1_000",
    "1:30",
    "9" * 5000,
    "2020-01-01",
    "2001-12-14t21:59:43.10-05:00",
    "[]",
    "{}",
    "[1, 2]",
    "[[a]]",
    "{a: 1}",
    "{input: 1x3x8x8}",
    "!!binary aGVsbG8=",
    "!!python/object/apply:os.system ['echo pwned > pwned']",
    "!!python/name:os.system",
    "!!set {a, b}",
    "!!omap [a: 1]",
    "!!str 1",
    "!!int '1'",
    "!!float x",
    "!!null ''",
    "!custom x",
    "!!bool x",
    "!!timestamp 2020-99-99",
    "!!map x",
    "!!set [a]",
    "!!seq x",
    '"\\x01\\x1b[2J"',
    '"\\u202e"',
    '"a\\nerror: forged"',
    "../in/model.onnx",
    "/dev/null",
    "/dev/zero",
    "~/x",
    "-",
    "'" + LONG + "'",
    "&anchor 1",
    "*undefined",
    "|\n  block\n  text",
    ">-\n  folded",
]

CONFIG_BASE = "model: model.onnx\nprofiles:\n  - " + json.dumps(PROFILE) + "\n"


def _whole_file_cases() -> dict[str, bytes]:
    bomb = "a: &a ['lol','lol','lol','lol','lol','lol','lol','lol','lol']\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},"
        f"*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)}]\n"
        for i in range(8)
    )
    return {
        "alias_bomb": bomb.encode(),
        "anchor": (CONFIG_BASE + "precision: &p fp16\nrewrite: *p\n").encode(),
        "merge_key": (CONFIG_BASE + "<<: {fold: true}\n").encode(),
        "duplicate": (CONFIG_BASE + "fold: true\nfold: false\n").encode(),
        "duplicate_spelling": (CONFIG_BASE + "check_parser: true\ncheck-parser: false\n").encode(),
        "int_key": (CONFIG_BASE + "1: x\n").encode(),
        "null_key": (CONFIG_BASE + "~: x\n").encode(),
        "bool_key": (CONFIG_BASE + "yes: x\n").encode(),
        "complex_key": (CONFIG_BASE + "? [a, b]\n: x\n").encode(),
        "map_key": (CONFIG_BASE + "? {a: 1}\n: x\n").encode(),
        "list_top": b"- model.onnx\n- fold\n",
        "scalar_top": b"model.onnx\n",
        "empty": b"",
        "comment_only": b"# nothing\n",
        "documents": (CONFIG_BASE + "---\nfold: false\n").encode(),
        "ten_mb": CONFIG_BASE.encode() + b"# " + b"x" * (10 << 20) + b"\n",
        "bom": b"\xef\xbb\xbf" + CONFIG_BASE.encode(),
        "utf16": CONFIG_BASE.encode("utf-16"),
        "tabs": b"model:\tmodel.onnx\nprofiles:\n\t- x=1\n",
        "crlf": CONFIG_BASE.replace("\n", "\r\n").encode(),
        "cr_only": CONFIG_BASE.replace("\n", "\r").encode(),
        "nul": CONFIG_BASE.encode() + b"fold: tr\x00ue\n",
        "latin1": CONFIG_BASE.encode() + b"output: caf\xe9.onnx\n",
        "deep": b"a: " + b"[" * 5000 + b"]" * 5000 + b"\n",
        "long_line": b"model: " + b"m" * (900 << 10) + b"\n",
        "python_tag": b"model: !!python/object/apply:os.system ['echo pwned > pwned']\n",
        **{
            f"tag_{tag}": (CONFIG_BASE + f"seed: !!{tag} {value}\n").encode()
            for tag, value in (
                ("float", "x"),
                ("bool", "x"),
                ("timestamp", "2020-99-99"),
                ("map", "x"),
                ("set", "[a]"),
                ("binary", "'%%%'"),
            )
        },
        "directive": b"%YAML 1.1\n%TAG ! tag:example.com,2000:\n---\n" + CONFIG_BASE.encode(),
    }


WHOLE_FILE = _whole_file_cases()
CONFIG_KEYS = Spec.keys()


@st.composite
def config_case(draw) -> tuple[str, bytes, list[str]]:
    """(command, config bytes, extra flags): a valid config with one key set to an edge value, or a whole file at
    an edge of YAML, maybe with the same key given as a flag."""
    command = draw(st.sampled_from(["prepare", "build", "inspect"]))
    flags: list[str] = []
    if draw(st.booleans()):
        text = WHOLE_FILE[draw(st.sampled_from(sorted(WHOLE_FILE)))]
    else:
        text = CONFIG_BASE.encode()
        for _ in range(draw(st.integers(1, 3))):
            key = draw(st.sampled_from(CONFIG_KEYS))
            spelled = key.replace("_", "-") if draw(st.booleans()) else key
            value = draw(st.sampled_from(YAML_VALUES))
            if key in ("model", "profiles"):  # replace, not repeat, the base's key
                text = text.replace(f"{key}:".encode(), b"_was_" + key.encode() + b":", 1)
                text = text.replace(b"_was_" + key.encode() + b":", b"# " + key.encode() + b":")
            text += f"{spelled}: {value}\n".encode()
            if draw(st.booleans()):  # the same key on the command line as well
                option = _option_for_key(command, key)
                if option is not None:
                    flags += [option.opts[-1]] + (
                        [] if not _takes_value(option) else [draw(st.sampled_from(TEXT + NUMBERS[:8]))]
                    )
    return command, text, flags


def _option_for_key(command: str, key: str) -> click.Option | None:
    for option in _options(COMMANDS[(command,)]):
        if option.name == key or (option.name or "").rstrip("s") == key.rstrip("s"):
            return option
    return None


@FUZZ
@given(config_case())
def test_mutated_configs_keep_the_contract(case) -> None:
    command, text, flags = case
    with tempfile.TemporaryDirectory() as name:
        inputs = Inputs(Path(name))
        inputs.config.write_bytes(text)
        args = [command, "--config", str(inputs.config), *flags]
        if command != "inspect":
            args += ["-o", str(inputs.out / ("prepared.onnx" if command == "prepare" else "model.plan"))]
        _run_keeps_the_contract(args, {}, inputs)
        assert not (inputs.root / "work" / "pwned").exists()


# The whole-file edges that also run through the CLI in CI (resources and code execution); the others are read
# in process there, and the hypothesis tests draw every one through the CLI.
CLI_EDGES = ("alias_bomb", "deep", "python_tag", "ten_mb", "utf16")


@pytest.mark.parametrize("case", sorted(WHOLE_FILE))
def test_every_yaml_edge_keeps_the_contract_as_a_config_and_a_manifest(case: str) -> None:
    """Each whole-file edge once, as a config and as a fleet manifest, whatever hypothesis draws: read as the
    commands read them (a BadInput or the values, nothing else, no tag executed); some through the CLI too."""
    from trtconvert.errors import BadInput
    from trtconvert.fleet.manifest import read_manifest
    from trtconvert.settings.spec import make_spec

    with tempfile.TemporaryDirectory() as name:
        inputs = Inputs(Path(name))
        inputs.config.write_bytes(WHOLE_FILE[case])
        inputs.manifest.write_bytes(WHOLE_FILE[case])
        for read in (lambda: make_spec(inputs.config, {}), lambda: read_manifest(inputs.manifest)):
            with contextlib.suppress(BadInput):
                read()
        if case in CLI_EDGES:
            args = ["prepare", "--config", str(inputs.config), "-o", str(inputs.out / "prepared.onnx")]
            _run_keeps_the_contract(args, {}, inputs)
            _run_keeps_the_contract(["fleet", str(inputs.manifest), "--dry-run"], {}, inputs)
        assert not (inputs.root / "pwned").exists() and not Path("pwned").exists()


MANIFEST_PLACES = {
    "top": (MANIFEST_KEYS, "{key}: {value}\n"),
    "job": (JOB_KEYS, "  - config: config.yaml\n    {key}: {value}\n"),
    "triton": (TRITON_KEYS, "triton:\n  repository: ../out/triton\n  {key}: {value}\n"),
}
MANIFEST_BASE = "store: ../out/store\ngpus: [H100]\njobs:\n  - config: config.yaml\n    name: sr\n"


@st.composite
def manifest_case(draw) -> bytes:
    text = MANIFEST_BASE
    for _ in range(draw(st.integers(1, 3))):
        place = draw(st.sampled_from(sorted(MANIFEST_PLACES)))
        keys, line = MANIFEST_PLACES[place]
        key = draw(st.sampled_from(keys))
        if place == "job" and draw(st.booleans()):
            key = key.replace("_", "-")  # the same key in its other spelling
        value = draw(st.sampled_from(YAML_VALUES)).replace("\n", "\n      ")
        entry = line.format(key=key, value=value)
        if place == "top" and f"\n{key}:" in "\n" + text:
            text = text.replace(f"{key}:", f"# {key}:", 1) if key != "jobs" else text
        text = text.rstrip("\n") + "\n" + entry if place != "job" else text + entry
    return text.encode()


@FUZZ
@given(manifest_case(), st.booleans())
def test_mutated_manifests_keep_the_contract(text: bytes, as_json: bool) -> None:
    with tempfile.TemporaryDirectory() as name:
        inputs = Inputs(Path(name))
        inputs.manifest.write_bytes(text)
        args = ["fleet", str(inputs.manifest), "--dry-run", *(["--json"] if as_json else [])]
        _run_keeps_the_contract(args, {}, inputs)
        assert not (inputs.root / "work" / "pwned").exists()


# ------------------------------------------------------------------------------------------------ round trips

# Names and paths a user may have: each character a shell, our flag syntax or click treats specially.
ADVERSARIAL_NAMES = st.sampled_from(
    [
        "a b",
        "it's",
        'say "x"',
        "a=b",
        "a,b",
        "a:b",
        "-x",
        "--y",
        "é",
        "\u202eevil",
        "a\\b",
        "$HOME",
        "`id`",
        "*",
        "[a]",
        " ",
        " a ",
        "op:",
        "op:Relu",
        "a\nb",
        "\x7f",
        "\u2028",
    ]
) | st.text(alphabet=st.sampled_from(list(" '\"=,:-éa1*\u202e$`\\")), min_size=1, max_size=8)


def _parsed(path: tuple[str, ...], argv: list[str]) -> dict:
    """The values click gives the command for ``argv``, as our CLI would parse it."""
    command = COMMANDS[path]
    with command.make_context(" ".join(path), list(argv), resilient_parsing=False) as ctx:
        return dict(ctx.params)


def _two_input_model(names: list[str]) -> onnx.ModelProto:
    info = helper.make_tensor_value_info
    nodes = [helper.make_node("Add", names, ["sum"], name="add")]
    graph = helper.make_graph(
        nodes,
        "g",
        [info(n, TensorProto.FLOAT, ["batch", 4]) for n in names],
        [info("sum", TensorProto.FLOAT, ["batch", 4])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


@FUZZ
@given(st.lists(ADVERSARIAL_NAMES, min_size=2, max_size=2, unique=True))
def test_inspect_suggestion_parses_back_and_runs(names: list[str]) -> None:
    """inspect's suggested --profile, split as a shell would, parses with click and runs `prepare` (or is refused
    with one line naming the input): our own suggestion never ends in an internal error."""
    with tempfile.TemporaryDirectory() as name:
        inputs = Inputs(Path(name))
        model = inputs.root / "in" / "names.onnx"
        onnx.save(_two_input_model(names), str(model))
        run = trtconvert(["inspect", str(model), "--json"], env=inputs.environment({}))
        assert run.code == 0, run.stderr[-2000:]
        example = json.loads(run.stdout).get("profile_example")
        assert example, "inspect suggested no profile for a model with a dynamic batch"
        if example.startswith("--profile"):
            words = shlex.split(example)
            params = _parsed(("prepare",), [str(model), "-o", str(inputs.out / "p.onnx"), *words])
            assert len(params["profiles"]) == 1
        else:  # names the flag cannot hold: the suggestion is a config's profiles: entry
            entry, _ = json.JSONDecoder().raw_decode(example.split("profiles: ", 1)[1])
            inputs.config.write_text(f"model: names.onnx\nprofiles: {json.dumps(entry)}\n")
            words = ["--config", str(inputs.config)]
        _run_keeps_the_contract(
            ["prepare", str(model), "-o", str(inputs.out / "p.onnx"), *words, "--verify"], {}, inputs
        )
        assert (inputs.out / "p.onnx").is_file(), "our own suggested profile did not prepare"


@FUZZ
@given(st.lists(ADVERSARIAL_NAMES, min_size=1, max_size=4, unique=True))
def test_keep_fp32_flags_parse_back_to_the_same_names(names: list[str]) -> None:
    """The --keep-fp32 flag set the overflow finder and --auto-keep-fp32 print gives back exactly those names,
    and each keeps exactly the node it names."""
    from trtconvert.prepare.keep_fp32 import keep_fp32_config, keep_fp32_flags, resolve_keep_fp32
    from trtconvert.settings.spec import load_config_yaml, parse_config_value

    words = shlex.split(keep_fp32_flags(names))
    assert _parsed(("build",), ["model.onnx", *words])["keep_fp32"] == tuple(names)
    config = load_config_yaml(keep_fp32_config(names))
    assert parse_config_value("keep_fp32", config["keep_fp32"], "keep_fp32") == names
    graph = helper.make_graph(
        [
            helper.make_node("Relu", ["x" if i == 0 else f"t{i - 1}"], [f"t{i}"], name=n)
            for i, n in enumerate(names)
        ]
        + [helper.make_node("Relu", [f"t{len(names) - 1}"], ["y"], name="other")],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    kept = resolve_keep_fp32(helper.make_model(graph), names)
    assert kept.nodes == tuple(names)


@FUZZ
@given(ADVERSARIAL_NAMES, ADVERSARIAL_NAMES)
def test_export_triton_server_lines_name_the_repository(folder: str, plugin_name: str) -> None:
    """export triton's printed tritonserver lines, split as a shell would, name the repository and the plugin
    library it copied, for repository and library paths holding any of the adversarial characters."""
    with tempfile.TemporaryDirectory() as name:
        root = Path(name)
        library = root / "libs" / f"lib{plugin_name.replace('/', '_')}.so"
        library.parent.mkdir()
        library_bytes = b"\x7fELF" + os.urandom(64)
        library.write_bytes(library_bytes)
        plan = plan_with_sidecar(root / "plans", "model.plan", SIDE_IO, [PROFILE], plugins=(library,))
        repository = root / folder.replace("/", "_").replace("\x00", "")
        run = trtconvert(
            [
                "export",
                "triton",
                str(plan),
                "-o",
                str(repository),
                "--name",
                "sr",
                "--plugin",
                str(library),
                "--json",
            ],
            cwd=root,
        )
        if run.code != 0:  # a repository name Triton cannot take is refused with one line
            assert run.code == 2 and run.stderr.count("error:") == 1, run.stderr[-2000:]
            return
        report = json.loads(run.stdout)
        assert _tritonserver_lines(report), "the report names no tritonserver line for a plan with a plugin"
        for line in _tritonserver_lines(report):
            words = shlex.split(line)
            assert any(w.startswith("--model-repository=") for w in words), line
            where = next(w for w in words if w.startswith("--model-repository=")).split("=", 1)[1]
            cwd = Path(words[1]) if words[0] == "cd" else root
            assert (cwd / where).resolve() == repository.resolve(), line
            # the plugin libraries it loads are the ones the export copied
            for word in words:
                libraries: list[str] = []
                if word.startswith("LD_PRELOAD="):  # the dynamic loader splits at spaces and ':'
                    libraries = re.split(r"[ \t\n:]", word.split("=", 1)[1])
                elif word.startswith("--backend-config=tensorrt,plugins="):  # the backend splits at ';'
                    libraries = word.split("plugins=", 1)[1].split(";")
                for library in filter(None, libraries):
                    found = cwd / library
                    assert found.is_file() and found.read_bytes() == library_bytes, line


def _tritonserver_lines(report) -> list[str]:
    found = []
    if isinstance(report, dict):
        for value in report.values():
            found += _tritonserver_lines(value)
    elif isinstance(report, list):
        for value in report:
            found += _tritonserver_lines(value)
    elif isinstance(report, str) and "tritonserver --model-repository" in report:
        found.append(report)
    return found


@FUZZ
@given(ADVERSARIAL_NAMES)
def test_fleet_dry_run_lines_name_the_store_paths_of_the_report(folder: str) -> None:
    """`fleet --dry-run` names each job's plan as the JSON report does, for a store path holding any of the
    adversarial characters."""
    with tempfile.TemporaryDirectory() as name:
        inputs = Inputs(Path(name))
        store = folder.replace("/", "_")
        inputs.manifest.write_text(
            f"store: {json.dumps('../out/' + store)}\ngpus: [H100]\njobs:\n  - config: config.yaml\n    name: sr\n"
        )
        run = trtconvert(["fleet", str(inputs.manifest), "--dry-run", "--json"], env=inputs.environment({}))
        assert run.code == 0, run.stderr[-2000:]
        report = json.loads(run.stdout)
        assert Path(report["store"]) == (inputs.out / store)
        for job in report["jobs"]:
            assert job["plan"] in run.stderr or repr(job["plan"])[1:-1] in run.stderr, run.stderr


def test_long_run_is_documented() -> None:
    assert "tests/test_fuzz_arguments.py" in (REPO / "README.md").read_text()
