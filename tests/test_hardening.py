"""Bad input never ends as an internal error, and writing an output never harms what is there.

Device files are private ones made with os.mknod in a temporary folder (root only; skipped otherwise): no test
touches a real device.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from model_factories import conv_model
from onnx import TensorProto, helper
from resize_models import single_resize_model

from trtconvert.errors import BadInput

PROFILE = "x=1x3x8x8:1x3x16x16:2x3x32x32"
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="making a device node needs root")


@pytest.fixture
def model(tmp_path: Path) -> Path:
    path = tmp_path / "conv.onnx"
    onnx.save(conv_model(), path)
    return path


def _clean(result, code: int, message: str) -> None:
    assert result.code == code, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr


# ---- outputs


@as_root
def test_an_output_that_is_a_device_is_refused_and_left_alone(run_cli, model: Path, tmp_path: Path) -> None:
    device = tmp_path / "null"
    os.mknod(device, 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    for args in (["prepare", model, "-o", device], ["build", model, "-o", tmp_path / "m.plan", "--profile", PROFILE,
                                                     "--timing-cache", device]):  # fmt: skip
        _clean(run_cli(*args), 2, "exists and is not a regular file (a character device)")
        assert stat.S_ISCHR(device.stat().st_mode)


def test_a_fifo_is_refused_as_output_model_config_and_input_file(
    run_cli, model: Path, tmp_path: Path
) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    _clean(run_cli("prepare", model, "-o", fifo), 2, "exists and is not a regular file (a FIFO)")
    # Reading any of these would block forever.
    _clean(run_cli("inspect", fifo), 2, "is not a regular file")
    _clean(run_cli("prepare", fifo, "-o", tmp_path / "o.onnx"), 2, "is not a regular file")
    _clean(run_cli("prepare", "--config", fifo), 2, "is not a regular file")
    _clean(run_cli("prepare", model, "-o", tmp_path / "o.onnx", "--profile", PROFILE, "--verify",
                   "--input", f"x={fifo}.npy"), 2, "not found")  # fmt: skip


def test_a_trailing_slash_means_a_folder(run_cli, model: Path, tmp_path: Path) -> None:
    result = run_cli("prepare", model, "-o", f"{tmp_path / 'new' / 'deeper'}/")
    assert result.code == 0, result.stderr
    assert (tmp_path / "new" / "deeper" / "conv.onnx").is_file()
    _clean(
        run_cli("prepare", model, "-o", tmp_path / "new"),
        2,
        "is a directory; give a file path, or end the path with '/'",
    )


def test_a_failed_run_creates_no_folders(run_cli, model: Path, tmp_path: Path) -> None:
    out = tmp_path / "missing" / "deeper" / "out.onnx"
    result = run_cli("prepare", model, "-o", out, "--profile", PROFILE, "--verify", "--precision", "fp16",
                     "--atol", "0", "--rtol", "0")  # fmt: skip
    assert result.code == 4, result.stderr
    assert not (tmp_path / "missing").exists()
    result = run_cli("build", model, "-o", tmp_path / "plans" / "m.plan", "--profile", PROFILE,
                     "--timing-cache", tmp_path / "caches" / "t.cache")  # fmt: skip
    assert result.code in (0, 3), result.stderr  # 3 without TensorRT: nothing built, so nothing created
    if result.code == 3:
        assert not (tmp_path / "plans").exists() and not (tmp_path / "caches").exists()


def test_sigterm_while_writing_removes_the_staging_and_keeps_the_old_output(
    run_cli, model, tmp_path, monkeypatch
):
    out = tmp_path / "out.onnx"
    out.write_bytes(b"the previous output")

    def terminated_while_saving(prepared, path, external_data):
        path.write_bytes(b"half a model")
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr("trtconvert.prepare.pipeline.save_onnx", terminated_while_saving)
    result = run_cli("prepare", model, "-o", out)
    assert result.code == 128 + signal.SIGTERM, result.stderr
    assert "error: stopped by SIGTERM; nothing was written" in result.stderr
    assert out.read_bytes() == b"the previous output"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["conv.onnx", "out.onnx"]


def test_staging_left_by_a_killed_run_is_removed_by_the_next(run_cli, model: Path, tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    stale = tmp_path / f".out.onnx.{int(dead.stdout)}.x1y2.partial"
    stale.mkdir()
    (stale / "out.onnx.data").write_bytes(b"\0" * 1000)
    alive = tmp_path / f".out.onnx.{os.getpid()}.z3w4.partial"  # a run still going (this process)
    alive.mkdir()
    other = tmp_path / f".other.onnx.{int(dead.stdout)}.q.partial"  # another output's: not ours to touch
    other.mkdir()
    result = run_cli("prepare", model, "-o", tmp_path / "out.onnx")
    assert result.code == 0, result.stderr
    assert not stale.exists() and alive.exists() and other.exists()


def test_a_long_output_name_is_staged_under_a_short_name(run_cli, model: Path, tmp_path: Path) -> None:
    name = "m" * 245 + ".onnx"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    result = run_cli("prepare", model, "-o", tmp_path / name)
    assert result.code == 0, result.stderr
    assert (tmp_path / name).is_file()
    # Staging of a killed run on the same long name is found again and removed.
    staged = [p for p in tmp_path.iterdir() if p.name.startswith(".m")]
    assert staged == []
    stale = tmp_path / f".{'m' * 100}~{'0' * 16}.{int(dead.stdout)}.ab.partial"
    stale.mkdir()
    result = run_cli("prepare", model, "-o", tmp_path / name)
    assert result.code == 0 and stale.exists(), "another name's digest: not this output's staging"
    _clean(run_cli("prepare", model, "-o", tmp_path / ("n" * 256)), 2, "a file name holds at most 255 bytes")
    _clean(
        run_cli("build", model, "-o", tmp_path / ("p" * 246 + ".plan"), "--profile", PROFILE),
        2,
        "the plan's sidecar",
    )


def test_paths_that_are_not_files_are_named_as_such(run_cli, model: Path, tmp_path: Path) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for path in (folder, fifo):
        for command in (["bench", path], ["verify", path, "--onnx", model]):
            result = run_cli(*command)
            _clean(result, 2, "")
            assert "not found" not in result.stderr
            assert "is a directory" in result.stderr or "is not a regular file" in result.stderr
    _clean(run_cli("build", model, "-o", tmp_path / "m.plan", "--profile", PROFILE, "--plugin", folder),
           2, "--plugin " + str(folder) + " is not a regular file")  # fmt: skip
    # A cache path that is a folder: no advice to end it with '/', which only -o takes.
    result = run_cli(
        "build", model, "-o", tmp_path / "m.plan", "--profile", PROFILE, "--timing-cache", folder
    )
    _clean(result, 2, "--timing-cache " + str(folder) + " is a directory; give a file path")
    assert "'/'" not in result.stderr
    plan = tmp_path / "m.plan"
    plan.write_bytes(os.urandom(64))
    Path(f"{plan}.json").mkdir()
    _clean(run_cli("inspect", plan), 2, "is not a regular file; remove it and rebuild the plan")


def test_external_data_that_is_a_folder_is_named_as_such(run_cli, tmp_path: Path) -> None:
    model = conv_model()
    onnx.save(model, tmp_path / "big.onnx", save_as_external_data=True, location="big.data", size_threshold=0)
    (tmp_path / "big.data").unlink()
    (tmp_path / "big.data").mkdir()
    _clean(run_cli("prepare", tmp_path / "big.onnx", "-o", tmp_path / "o.onnx"), 2, "is not a regular file")


def test_a_profile_of_many_dims_gives_a_short_error(run_cli, model: Path, tmp_path: Path) -> None:
    huge = "x".join(["1"] * 60_000)
    for profile in (f"x={huge}", f"x={huge}:{huge}", "y" * 100_000 + "=1x1"):
        result = run_cli("prepare", model, "-o", tmp_path / "o.onnx", "--profile", profile)
        _clean(result, 2, "--profile")
        assert len(result.stderr) < 500


# ---- bad values: exit 2, never 1


def _cubic(tmp_path: Path, **kwargs) -> Path:
    path = tmp_path / "resize.onnx"
    onnx.save(single_resize_model([1, 1, 4, 4], opset=13, **kwargs), path)
    return path


def _bool_scalar_model(tmp_path: Path) -> Path:
    graph = helper.make_graph(
        [helper.make_node("Not", ["b"], ["y"])], "b",
        [helper.make_tensor_value_info("b", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("y", TensorProto.BOOL, [])],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = tmp_path / "bool.onnx"
    onnx.save(model, path)
    return path


def _custom_op_model(tmp_path: Path) -> Path:
    graph = helper.make_graph(
        [helper.make_node("Foo", ["x"], ["y"], domain="acme")], "c",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
    )  # fmt: skip
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("acme", 1)]
    )
    model.ir_version = 8
    path = tmp_path / "custom.onnx"
    onnx.save(model, path)
    return path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--atol", "-1", "--verify"], "--atol -1.0: a tolerance must be a finite number of at least 0"),
        (["--atol", "nan", "--verify"], "a tolerance must be a finite number"),
        (["--rtol", "inf", "--verify"], "a tolerance must be a finite number"),
        (["--seed", "-1", "--verify"], "--seed -1: a seed must be between 0 and 2^63 - 1"),
        (["--profile", "x=1x3x8x1180591620717411303424"], "TensorRT takes dims below 2^31"),
        (["--profile", "x=65536x3x65536x8"], "a TensorRT tensor holds fewer than 2^31"),
    ],
)
def test_numbers_no_run_can_use(run_cli, model: Path, tmp_path: Path, args: list[str], message: str) -> None:
    flags = [] if any(a == "--profile" for a in args) else ["--profile", PROFILE]
    _clean(run_cli("prepare", model, "-o", tmp_path / "o.onnx", *flags, *args), 2, message)
    assert not (tmp_path / "o.onnx").exists()


def test_workspace_larger_than_any_gpu(run_cli, model: Path, tmp_path: Path) -> None:
    result = run_cli(
        "build",
        model,
        "-o",
        tmp_path / "m.plan",
        "--profile",
        PROFILE,
        "--workspace",
        "99999999999999999999T",
    )
    _clean(result, 2, "is larger than any GPU's memory")


def test_user_model_failures_are_bad_input(run_cli, tmp_path: Path, shared_models: Path) -> None:
    # A model onnxruntime cannot load (unknown custom op), with --verify and --json: one report on stdout,
    # no escape codes anywhere.
    result = run_cli("prepare", _custom_op_model(tmp_path), "-o", tmp_path / "o.onnx", "--verify", "--json")
    _clean(result, 2, "onnxruntime cannot load the original model")
    assert "acme:Foo" in result.stderr and "\x1b[" not in result.stderr + result.stdout
    assert json.loads(result.stdout)["exit_code"] == 2
    # An .npy of the wrong shape, refused before the slow stages.
    np.save(tmp_path / "wrong.npy", np.zeros((3, 3), np.float32))
    result = run_cli("prepare", shared_models / "ppocr_mobile_v2_cls.onnx", "-o", tmp_path / "c.onnx",
                     "--profile", "x=1x3x48x192", "--input", f"x={tmp_path / 'wrong.npy'}", "--verify")  # fmt: skip
    _clean(
        result,
        2,
        "--input x: the value has shape [3, 3] but verification runs the profile's shape [1, 3, 48, 192]",
    )
    assert "\nfold " not in "\n" + result.stderr


def test_a_rank_0_bool_input_verifies(run_cli, tmp_path: Path) -> None:
    result = run_cli("prepare", _bool_scalar_model(tmp_path), "-o", tmp_path / "o.onnx", "--verify")
    assert result.code == 0, result.stderr


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scales": [1, 1, -2, 2]}, "scales [1.0, 1.0, -2.0, 2.0] are not all finite and positive"),
        ({"scales": [1, 1, 0, 2]}, "are not all finite and positive"),
        ({"scales": [1, 1, float("inf"), 2]}, "are not all finite and positive"),
        ({"scales": [1, 1, 1e12, 2]}, "longer than 2^31 - 1"),
        ({"sizes": [1, 1, 0, 4]}, "must lie between 1 and 2^31 - 1"),
    ],
)
@pytest.mark.parametrize("policy", ["auto", "all", "none"])
def test_resize_parameters_onnx_forbids_are_refused_whatever_the_flags(
    run_cli, tmp_path, kwargs, message, policy
):
    result = run_cli("prepare", _cubic(tmp_path, **kwargs), "-o", tmp_path / "o.onnx", "--rewrite", policy)
    _clean(result, 2, message)
    assert "node 'resize'" in result.stderr


@pytest.mark.parametrize("mode", ["linear", "nearest"])
@pytest.mark.parametrize("scales", [[1, 1, -2, 2], [1, 1, 1e30, 2]])
def test_forbidden_scales_are_refused_in_every_resize_mode(run_cli, tmp_path, mode, scales):
    path = tmp_path / f"{mode}.onnx"
    onnx.save(single_resize_model([1, 1, 4, 4], opset=13, scales=scales, mode=mode), path)
    result = run_cli("prepare", path, "-o", tmp_path / "o.onnx")
    _clean(result, 2, "node 'resize': scale")
    # inspect lists the node as one nothing can compute, and says why.
    report = run_cli("inspect", path, "--json")
    assert report.code == 0, report.stderr
    decisions = json.loads(report.stdout)["rewrites"]
    assert [d["decision"] for d in decisions] == ["error"]
    assert "2^31 - 1" in decisions[0]["reason"] or "finite and positive" in decisions[0]["reason"]


def _dynamic_cubic(tmp_path: Path, **kwargs) -> Path:
    path = tmp_path / "dynamic_resize.onnx"
    onnx.save(single_resize_model([1, 1, "h", "w"], opset=13, **kwargs), path)
    return path


@pytest.mark.parametrize("policy", ["auto", "all"])
@pytest.mark.parametrize("profile", [[], ["--profile", "x=1x1x4x4:1x1x8x8:1x1x16x16"]])
def test_a_scale_that_overflows_at_any_length_is_refused_on_dynamic_inputs(
    run_cli, tmp_path, policy, profile
):
    model = _dynamic_cubic(tmp_path, scales=[1, 1, 1e30, 2])
    result = run_cli("prepare", model, "-o", tmp_path / "o.onnx", "--rewrite", policy, *profile)
    _clean(result, 2, "longer than 2^31 - 1")
    assert not (tmp_path / "o.onnx").exists()


def test_a_scale_that_overflows_at_the_profile_max_is_refused(run_cli, tmp_path):
    model = _dynamic_cubic(tmp_path, scales=[1, 1, 3e8, 2])
    args = ["prepare", model, "-o", tmp_path / "o.onnx", "--rewrite", "all"]
    _clean(
        run_cli(*args, "--profile", "x=1x1x4x4:1x1x8x8:1x1x16x16"), 2, "at the profile's largest length 16"
    )
    # The same scale is fine where the profile keeps the output length in range: 4 * 3e8 < 2^31 - 1 ...
    small = run_cli(*args, "--profile", "x=1x1x2x2:1x1x3x3:1x1x4x4")
    assert small.code == 0, small.stderr
    # ... and the largest over several profiles counts.
    both = run_cli(
        *args, "--profile", "x=1x1x2x2:1x1x3x3:1x1x4x4", "--profile", "x=1x1x4x4:1x1x8x8:1x1x16x16"
    )
    _clean(both, 2, "largest length 16")


def test_runtime_scales_frozen_to_an_overflowing_value_are_refused(run_cli, tmp_path):
    path = tmp_path / "runtime.onnx"
    onnx.save(single_resize_model([1, 1, "h", "w"], opset=13, runtime_scales=True), path)
    result = run_cli(
        "prepare", path, "-o", tmp_path / "o.onnx", "--freeze", "scales=3e8",
        "--profile", "x=1x1x4x4:1x1x8x8:1x1x16x16",
    )  # fmt: skip
    _clean(result, 2, "longer than 2^31 - 1")


# ---- configs


def test_yaml_aliases_are_refused_fast(run_cli, tmp_path: Path) -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(8)
    )
    config = tmp_path / "bomb.yaml"
    config.write_text(bomb)
    result = run_cli("prepare", "--config", config)
    _clean(result, 2, "YAML aliases (*name) are not allowed")
    assert len(result.stderr) < 500


@pytest.mark.parametrize("nesting", ["[" * 100_000, "a: " + "{b: " * 50_000 + "1" + "}" * 50_000])
def test_deeply_nested_configs_are_refused(run_cli, tmp_path: Path, nesting: str) -> None:
    config = tmp_path / "deep.yaml"
    config.write_text(nesting + "\n")
    result = run_cli("prepare", "--config", config)
    _clean(result, 2, "")
    assert "not valid YAML" in result.stderr or "nests lists or mappings too deeply" in result.stderr


def test_a_deeply_nested_sidecar_is_reported_not_crashed_on(run_cli, tmp_path: Path) -> None:
    plan = tmp_path / "model.plan"
    plan.write_bytes(os.urandom(64))
    Path(f"{plan}.json").write_text("[" * 200_000 + "]" * 200_000)
    result = run_cli("inspect", plan)
    _clean(result, 2, "nests JSON too deeply to be a plan sidecar; rebuild the plan")


def test_error_messages_echo_little_of_a_huge_value(run_cli, tmp_path: Path) -> None:
    config = tmp_path / "big.yaml"
    config.write_text("seed: " + "x" * 100_000 + "\n")
    result = run_cli("prepare", "--config", config)
    _clean(result, 2, "expected an integer")
    assert len(result.stderr) < 400


# ---- property tests: any text gives a value or BadInput, never another exception


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_profile_parser(text: str) -> None:
    from trtconvert.model.profiles import parse_profile

    with contextlib.suppress(BadInput):
        parse_profile(text)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=30), max_size=4))
def test_input_flag_parser(items: list[str]) -> None:
    from trtconvert.checks.compare import given_values
    from trtconvert.cli.options import parse_input_flags
    from trtconvert.model.info import GraphTensor

    inputs = [GraphTensor("x", "float32", (1, 3)), GraphTensor("n", "int64", ())]
    with contextlib.suppress(BadInput):
        given_values(parse_input_flags(items), inputs)


_NUMBERS = st.one_of(
    st.integers().map(str),
    st.integers(min_value=-(2**80), max_value=2**80).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(alphabet="0123456789.eE+-_ naif", max_size=24),
)


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(["x", "n", "b", "h"]), _NUMBERS)
def test_a_number_for_an_input_keeps_its_value_or_is_refused(name: str, text: str) -> None:
    from trtconvert.checks.compare import given_values
    from trtconvert.model.info import GraphTensor

    inputs = [GraphTensor("x", "float32", ()), GraphTensor("n", "int64", ()), GraphTensor("b", "bool", ()),
              GraphTensor("h", "float16", ())]  # fmt: skip
    try:
        value = given_values({name: text}, inputs)[name]
    except BadInput:
        return
    assert value.dtype == np.dtype(next(i.dtype for i in inputs if i.name == name))
    if value.dtype.kind == "f":
        assert np.isfinite(value) and abs(float(value) - float(text)) <= 1e-3 * max(1.0, abs(float(text)))
    else:
        assert int(value) == int(text)  # an integer never wraps


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=30), max_size=3), st.lists(st.text(max_size=30), max_size=3))
def test_tolerance_parser(atol: list[str], rtol: list[str]) -> None:
    from trtconvert.settings.tolerances import parse_tolerances

    with contextlib.suppress(BadInput):
        parse_tolerances(atol, rtol, "fp32", ["out", "out:0"])


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_workspace_parser(text: str) -> None:
    from trtconvert.settings.request import parse_size

    with contextlib.suppress(BadInput):
        assert 1 <= parse_size(text) <= 1 << 50


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=30))
def test_target_tensorrt_parser(text: str) -> None:
    from trtconvert.settings.target import parse_target

    with contextlib.suppress(BadInput):
        parse_target(text)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=200))
def test_config_loader(tmp_path: Path, text: str) -> None:
    from trtconvert.settings.spec import make_spec

    config = tmp_path / "c.yaml"
    config.write_text(text, encoding="utf-8", errors="surrogatepass")
    with contextlib.suppress(BadInput):
        make_spec(config, {})


def test_the_readme_exit_code_table_is_the_one_the_code_follows() -> None:
    import re

    from trtconvert.cli.options import EPILOG_CODES
    from trtconvert.errors import EXIT_CODES, BadInput, BuildFailed, MissingDependency, VerificationFailed

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    rows = dict(re.findall(r"^\| (\d) \| (.+) \|$", readme, flags=re.MULTILINE))
    assert {int(k): v for k, v in rows.items()} == {code: text for code, (_, text) in EXIT_CODES.items()}
    assert [BadInput.exit_code, MissingDependency.exit_code, VerificationFailed.exit_code, BuildFailed.exit_code] == [
        2, 3, 4, 5
    ]  # fmt: skip
    assert all(f"{code} {short}" in EPILOG_CODES for code, (short, _) in EXIT_CODES.items())


@pytest.mark.parametrize(
    ("signum", "code", "said"),
    [(signal.SIGTERM, 143, "stopped by SIGTERM"), (signal.SIGINT, 130, "interrupted")],
)
def test_a_signal_during_the_plugins_cpu_reference_stops_cleanly(tmp_path: Path, signum, code, said) -> None:
    # The CPU reference of the plugin node runs as a Python operator inside onnxruntime; the signal's
    # exception is raised there, where escaping would abort the whole process.
    path = tmp_path / "resize.onnx"
    onnx.save(single_resize_model([1, 1, 4, 4], opset=13, scales=[1, 1, 2, 2]), path)
    out = tmp_path / "new" / "out.onnx"
    script = (
        "import os, signal, sys, time\n"
        "import trtconvert.checks.ort_session as session\n"
        "def signalled(*args):\n"
        f"    os.kill(os.getpid(), {int(signum)}); time.sleep(10)\n"
        "session._run_cpu_node = signalled\n"
        "from trtconvert.cli.main import main\n"
        "main(sys.argv[1:])\n"
    )
    child = subprocess.run(
        [sys.executable, "-c", script, "prepare", str(path), "-o", str(out), "--verify", "--rewrite", "all"],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert child.returncode == code, child.stderr
    assert f"error: {said}" in child.stderr and "nothing was written" in child.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["resize.onnx"]


def test_a_workspace_too_large_for_a_float_is_refused(run_cli, model: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.plan"
    _clean(
        run_cli("build", model, "-o", out, "--profile", PROFILE, "--workspace", "9" * 400 + "G"),
        2,
        "is larger than any GPU's memory",
    )


@pytest.mark.parametrize("key", ["atol", "rtol", "int8_min_within"])
def test_a_config_number_too_large_for_a_float_is_refused(run_cli, model: Path, tmp_path: Path, key) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(f"{key}: {'9' * 400}\n")
    _clean(
        run_cli("prepare", model, "-o", tmp_path / "p.onnx", "--config", config), 2, "too large for a number"
    )


def test_every_error_line_stays_short_and_keeps_its_fix(run_cli, model: Path, tmp_path: Path) -> None:
    long_name = "n" * 5000
    for args in (
        ("prepare", model, "-o", tmp_path / "p.onnx", "--input", f"{long_name}=1", "--verify"),
        ("prepare", model, "-o", tmp_path / "p.onnx", "--freeze", f"{long_name}=1"),
        ("prepare", tmp_path / ("d" * 3000) / "m.onnx", "-o", tmp_path / "p.onnx"),
    ):
        result = run_cli(*args)
        assert result.code == 2, result.stderr
        line = result.stderr.strip().splitlines()[-1]
        assert line.startswith("error: ") and len(line) < 1100, len(line)
    assert "give" in line or "fix" in line or "path" in line, (
        "the end of the message, where the fix is, stays"
    )


def test_a_number_with_thousands_of_digits_is_named_for_what_it_is(
    run_cli, model: Path, tmp_path: Path
) -> None:
    result = run_cli("prepare", model, "-o", tmp_path / "p.onnx", "--input", "x=" + "7" * 5000, "--verify")
    _clean(result, 2, "a 5000-digit number does not fit the input's type float32")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("target_tensorrt: 10.10", {"target_tensorrt": "10.10"}),  # a float would read 10.1
        ("target_tensorrt: 8.5", {"target_tensorrt": "8.5"}),
        ("atol: 1e-3", {"atol": 0.001}),  # YAML 1.1 reads this as text
        ("freeze: {x: 1:30}", {"freeze": {"x": "1:30"}}),  # base 60 in YAML 1.1: 90
        ("freeze: {x: 010}", {"freeze": {"x": "010"}}),  # octal in YAML 1.1: 8
        ("seed: 12", {"seed": 12}),
    ],
)
def test_config_numbers_mean_what_they_look_like(tmp_path: Path, line, expected) -> None:
    from trtconvert.settings.spec import read_config

    config = tmp_path / "c.yaml"
    config.write_text(line + "\n")
    assert read_config(config) == expected


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("verify: true\nverify: false\n", "duplicate key 'verify' at line 2; give each key once"),
        ("seed: 010\n", "seed: expected an integer, got '010'"),
        ("seed: 0x10\n", "seed: expected an integer, got '0x10'"),
    ],
)
def test_config_duplicates_and_odd_integers_are_refused(run_cli, model, tmp_path: Path, text, said) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(text)
    _clean(run_cli("prepare", model, "-o", tmp_path / "p.onnx", "--config", config), 2, said)


@pytest.mark.parametrize("version", ["7", "8.4", "12", "99"])
def test_a_target_tensorrt_outside_what_trtconvert_targets_is_refused(
    run_cli, model, tmp_path, version
) -> None:
    for command in ("prepare", "build"):
        result = run_cli(
            command, model, "-o", tmp_path / "o", "--profile", PROFILE, "--target-tensorrt", version
        )
        _clean(result, 2, "trtconvert targets TensorRT 8.5 to 11.x")


def test_target_tensorrt_versions_in_range_are_taken() -> None:
    from trtconvert.settings.target import wanted_target

    assert [str(wanted_target(v)) for v in ("8.5", "9", "10.13.0.35", "11.99")] == [
        "8.5",
        "9.0",
        "10.13",
        "11.99",
    ]


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        (["--calib-data", "x.npz"], "--calib-data applies only to --precision int8 (this run is fp32)"),
        (
            ["--precision", "fp16", "--calib-cache", "c.cache", "--calib-method", "entropy"],
            "--calib-cache and --calib-method apply only to --precision int8 (this run is fp16)",
        ),
        (["--freeze", "x=1", "--freeze", "x=2"], "--freeze x is given twice; give each input once"),
        (["--input", "x=1", "--input", "x=2"], "--input x is given twice; give each input once"),
        (["--profile", PROFILE], "profile 2 repeats profile 1; give each optimization profile once"),
    ],
)
def test_settings_that_would_be_ignored_or_overridden_unseen_are_refused(
    run_cli, model, tmp_path, extra, said
):
    result = run_cli("build", model, "-o", tmp_path / "m.plan", "--profile", PROFILE, *extra)
    _clean(result, 2, said)


@pytest.mark.parametrize(
    ("output", "extra", "said"),
    [
        ("lib.so", ["--plugin", "lib.so"], "-o and --plugin name the same file"),
        ("m.plan", ["--timing-cache", "m.plan"], "-o and --timing-cache name the same file"),
        (
            "m.plan",
            ["--timing-cache", "m.plan.json"],
            "the plan's sidecar and --timing-cache name the same file",
        ),
        (
            "m.plan",
            ["--precision", "int8", "--calib-cache", "m.plan", "--calib-random-for-timing-only"],
            "-o and --calib-cache name the same file",
        ),
    ],
)
def test_one_file_for_two_outputs_is_refused_before_building(
    run_cli, model, tmp_path, monkeypatch, output, extra, said
):
    library = tmp_path / "lib.so"
    library.write_bytes(b"a plugin library")
    monkeypatch.chdir(tmp_path)
    result = run_cli("build", model, "-o", output, "--profile", PROFILE, *extra)
    _clean(result, 2, said)
    assert library.read_bytes() == b"a plugin library"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["conv.onnx", "lib.so"]


def test_an_output_length_that_onnxruntime_rounds_differently_is_explained(run_cli, tmp_path: Path) -> None:
    # 10 * 1.3f is 12.99999952...: ONNX's exact floor (the plugin) gives 12, onnxruntime's float32 product 13.
    path = tmp_path / "resize.onnx"
    onnx.save(single_resize_model([1, 1, 10, 10], opset=13, scales=[1, 1, 1.3, 1.3]), path)
    result = run_cli("prepare", path, "-o", tmp_path / "out.onnx", "--rewrite", "all", "--verify")
    _clean(result, 4, "output y has shape 1x1x12x12 where the original's is 1x1x13x13")
    assert "give that Resize output sizes instead of scales" in result.stderr
    assert "SHAPE DIFFERS" in result.stderr and "max abs inf" not in result.stderr
