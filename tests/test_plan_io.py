"""Plan and sidecar: the schema, the cache key, the atomic pair write and how readers treat a broken pair."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from trtconvert.engine.inspect_plan import describe_plan, format_plan
from trtconvert.engine.plan_files import (
    SCHEMA,
    build_identity,
    cached_plan,
    config_sha256,
    copy_plan,
    engine_config,
    is_plan_path,
    lookup_cache,
    make_sidecar,
    onnx_sha256,
    read_sidecar,
    sha256_bytes,
    sidecar_path,
    store_in_cache,
    write_plan,
)
from trtconvert.errors import BadInput
from trtconvert.model.profiles import parse_profile
from trtconvert.settings.request import resolve
from trtconvert.settings.spec import Spec


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    model = tmp_path / "model.onnx"
    model.write_bytes(os.urandom(2048))
    data = tmp_path / "model.onnx.data"
    data.write_bytes(os.urandom(4096))
    plugin = tmp_path / "libplugins.so"
    plugin.write_bytes(os.urandom(1024))
    return {"model": model, "data": data, "plugin": plugin}


def _spec(**fields) -> Spec:
    values = {
        "model": Path("model.onnx"),
        "output": Path("model.plan"),
        "profiles": [parse_profile("input=1x3x64x64:1x3x256x256:1x3x512x512")],
    }
    values.update(fields)
    return Spec(**values)


def _identity(files: dict[str, Path], spec: Spec | None = None, trt: str = "10.8.0.43", cc: str = "9.0"):
    return build_identity(
        resolve(spec or _spec(), "10.8"), files["model"], [files["data"]], [files["plugin"]], trt, cc
    )


def _sidecar(identity, plan_bytes: bytes) -> dict:
    return make_sidecar(
        identity,
        plan_bytes,
        model="model.onnx",
        inputs=[{"name": "input", "dtype": "float32", "dims": ["batch", 3, "h", "w"]}],
        outputs=[{"name": "output", "dtype": "float32", "dims": ["batch", 3, "h2", "w2"]}],
        precision={"precision": "fp16", "mode": "builder_flags", "converter": None},
        gpu={"name": "NVIDIA H100 80GB HBM3", "compute_capability": "9.0"},
        strongly_typed=False,
        timings={"build": 12.3456},
    )


def test_key_is_stable_for_the_same_inputs(files) -> None:
    assert _identity(files).key == _identity(files).key
    assert len(_identity(files).key) == 64


@pytest.mark.parametrize(
    "change",
    [
        "onnx bytes",
        "external data bytes",
        "plugin bytes",
        "tensorrt version",
        "compute capability",
        "profile",
        "precision",
        "workspace",
        "opt level",
        "tf32",
        "rewrite",
        "fold",
        "hardware compatibility",
        "version compatible",
    ],
)
def test_key_changes_with_everything_that_decides_the_engine(files, change: str) -> None:
    before = _identity(files).key
    spec, trt, cc = _spec(), "10.8.0.43", "9.0"
    if change == "onnx bytes":
        files["model"].write_bytes(files["model"].read_bytes()[:-1] + b"\x00")
    elif change == "external data bytes":
        files["data"].write_bytes(files["data"].read_bytes() + b"\x01")
    elif change == "plugin bytes":
        files["plugin"].write_bytes(b"rebuilt" + files["plugin"].read_bytes())
    elif change == "tensorrt version":
        trt = "10.9.0.34"
    elif change == "compute capability":
        cc = "8.9"
    elif change == "profile":
        spec = _spec(profiles=[parse_profile("input=1x3x64x64:1x3x256x256:1x3x1024x1024")])
    elif change == "precision":
        spec = _spec(precision="fp16")
    elif change == "workspace":
        spec = _spec(workspace="2G")
    elif change == "opt level":
        spec = _spec(opt_level=4)
    elif change == "tf32":
        spec = _spec(tf32=False)
    elif change == "rewrite":
        spec = _spec(rewrite="all")
    elif change == "fold":
        spec = _spec(fold=False)
    elif change == "hardware compatibility":
        spec = _spec(hardware_compatibility="ampere_plus")
    elif change == "version compatible":
        spec = _spec(version_compatible=True)
    assert _identity(files, spec, trt, cc).key != before


@pytest.mark.parametrize(
    "fields",
    [
        {"output": Path("elsewhere/other.plan")},
        {"model": Path("/somewhere/else/model.onnx")},
        {"verify": True},
        {"seed": 7},
        {"atol": 0.5},
        {"timing_cache": Path("t.cache")},
        {"cache_dir": Path("cache")},
        {"inputs": {"sr": "16000"}},
        {"workspace": "1024M"},  # the same size as 1G, written differently
    ],
)
def test_key_ignores_what_does_not_reach_the_engine(files, fields: dict) -> None:
    base = _identity(files, _spec(workspace="1G")).key
    assert _identity(files, _spec(**{"workspace": "1G", **fields})).key == base


@pytest.mark.parametrize("written", [None, "10.8", "10.8.0", "10.8.0.43"])
def test_key_is_the_same_for_every_way_of_writing_the_resolved_target(files, written: str | None) -> None:
    # The installed TensorRT decides the target when the flag is absent; the flag names the same version.
    unset = build_identity(
        resolve(_spec(), "10.8.0.43"), files["model"], [files["data"]], [files["plugin"]], "10.8.0.43", "9.0"
    )
    flagged = build_identity(
        resolve(_spec(target_tensorrt=written), "10.8.0.43"),
        files["model"],
        [files["data"]],
        [files["plugin"]],
        "10.8.0.43",
        "9.0",
    )
    assert flagged.key == unset.key
    assert flagged.config["target_tensorrt"] == "10.8"


def test_key_changes_with_the_resolved_target(files) -> None:
    # Without an installed TensorRT (a prepared model's identity), the flag alone decides the target.
    keys = {
        build_identity(resolve(_spec(target_tensorrt=target)), files["model"], [], [], "10.8.0.43", "9.0").key
        for target in ("10.8", "10.9", "11.1")
    }
    assert len(keys) == 3


def test_plugin_path_does_not_matter_only_its_bytes(files, tmp_path: Path) -> None:
    moved = tmp_path / "elsewhere" / "libplugins.so"
    moved.parent.mkdir()
    moved.write_bytes(files["plugin"].read_bytes())
    a = build_identity(
        resolve(_spec(), "10.8"), files["model"], [files["data"]], [files["plugin"]], "10.8", "9.0"
    )
    b = build_identity(resolve(_spec(), "10.8"), files["model"], [files["data"]], [moved], "10.8", "9.0")
    assert a.key == b.key


def test_onnx_sha256_covers_external_data_in_name_order(files, tmp_path: Path) -> None:
    other = tmp_path / "a.data"
    other.write_bytes(b"more weights")
    one = onnx_sha256(files["model"], [files["data"], other])
    two = onnx_sha256(files["model"], [other, files["data"]])
    assert one == two
    assert one != onnx_sha256(files["model"], [files["data"]])


def test_engine_config_is_normalised() -> None:
    config = engine_config(resolve(_spec(workspace="1.5G", precision="bf16"), "10.8"))
    assert config["workspace_bytes"] == 3 * 2**29
    assert config["profiles"] == [
        {"input": {"min": [1, 3, 64, 64], "opt": [1, 3, 256, 256], "max": [1, 3, 512, 512]}}
    ]
    assert "output" not in config and "model" not in config and "timing_cache" not in config
    json.dumps(config)  # plain JSON, nothing that needs a custom encoder


def test_a_fold_size_limit_is_part_of_the_engine_config() -> None:
    """--fold-max-size decides what folding writes into the prepared model, so two limits are two engines; the
    default (the model's own) leaves the key out, so plans built before the option keep their keys."""
    default = engine_config(resolve(_spec(), "10.8"))
    small = engine_config(resolve(_spec(fold_max_size="1M"), "10.8"))
    assert "fold_max_size" not in default and small["fold_max_size"] == "1M"
    assert config_sha256(default) != config_sha256(small)


def test_sidecar_schema(files, tmp_path: Path) -> None:
    identity = _identity(files)
    plan_bytes = os.urandom(5000)
    sidecar = _sidecar(identity, plan_bytes)
    expected_keys = {
        "schema", "cache_key", "created", "trtconvert_version", "plan", "model", "onnx_sha256", "inputs",
        "outputs", "frozen", "profiles", "precision", "tensorrt", "gpu", "config", "config_sha256", "plugins",
        "timings",
    }  # fmt: skip
    assert set(sidecar) == expected_keys
    assert sidecar["schema"] == SCHEMA
    assert sidecar["cache_key"] == identity.key
    assert sidecar["plan"] == {"bytes": 5000, "sha256": sha256_bytes(plan_bytes)}
    assert sidecar["tensorrt"] == {"version": "10.8.0.43", "strongly_typed": False}
    assert sidecar["gpu"]["compute_capability"] == "9.0"
    assert sidecar["plugins"] == [{"file": "libplugins.so", "sha256": sidecar["plugins"][0]["sha256"]}]
    assert sidecar["profiles"] == identity.config["profiles"]
    assert sidecar["timings"] == {"build": 12.346}
    plan = tmp_path / "out" / "model.plan"
    plan.parent.mkdir()
    write_plan(plan, plan_bytes, sidecar)
    assert plan.read_bytes() == plan_bytes
    assert read_sidecar(plan) == json.loads(json.dumps(sidecar))


def test_write_replaces_an_existing_pair_and_leaves_no_temporary_files(files, tmp_path: Path) -> None:
    plan = tmp_path / "model.plan"
    first, second = os.urandom(100), os.urandom(200)
    write_plan(plan, first, _sidecar(_identity(files), first))
    write_plan(plan, second, _sidecar(_identity(files), second))
    assert plan.read_bytes() == second
    assert read_sidecar(plan)["plan"]["bytes"] == 200
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["model.plan", "model.plan.json", "model.onnx", "model.onnx.data", "libplugins.so"]
    )


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


@pytest.mark.parametrize("failing", ["plan", "sidecar"])
def test_existing_pair_survives_a_failed_rename(files, tmp_path: Path, monkeypatch, failing: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    plan = out / "model.plan"
    old = os.urandom(300)
    write_plan(plan, old, _sidecar(_identity(files), old))
    before = _snapshot(out)
    real_replace = os.replace

    def failing_replace(src, dst):
        target = Path(dst).name
        if (failing == "plan" and target == "model.plan") or (
            failing == "sidecar" and target.endswith(".json")
        ):
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    new = os.urandom(400)
    with pytest.raises(OSError):
        write_plan(plan, new, _sidecar(_identity(files), new))
    monkeypatch.undo()
    after = _snapshot(out)
    leftovers = [p.name for p in out.iterdir() if p.name.endswith(".partial")]
    assert not leftovers
    if failing == "sidecar":
        # The sidecar moves first: failing there leaves the old pair byte-identical.
        assert after == before
    else:
        # The sidecar went in, the plan did not: the old plan is untouched and every reader sees the mismatch.
        assert after["model.plan"] == before["model.plan"]
        with pytest.raises(BadInput, match="describes other bytes"):
            read_sidecar(plan)


def test_failure_while_writing_leaves_nothing(files, tmp_path: Path, monkeypatch) -> None:
    plan = tmp_path / "new" / "model.plan"
    plan.parent.mkdir()

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    data = os.urandom(64)
    with pytest.raises(OSError, match="No space left"):
        write_plan(plan, data, _sidecar(_identity(files), data))
    assert list(plan.parent.iterdir()) == []


def test_failed_check_of_the_staged_plan_keeps_the_old_pair(files, tmp_path: Path) -> None:
    plan = tmp_path / "model.plan"
    old = os.urandom(64)
    write_plan(plan, old, _sidecar(_identity(files), old))
    before = _snapshot(tmp_path)
    seen: list[Path] = []

    def check(staged: Path) -> None:
        seen.append(staged)
        assert read_sidecar(staged)["plan"]["bytes"] == 128  # the staged pair is complete when checked
        raise BadInput("engine differs from onnxruntime")

    new = os.urandom(128)
    with pytest.raises(BadInput, match="engine differs"):
        write_plan(plan, new, _sidecar(_identity(files), new), check)
    assert seen and seen[0] != plan
    assert _snapshot(tmp_path) == before


def test_read_sidecar_errors(tmp_path: Path) -> None:
    plan = tmp_path / "model.plan"
    with pytest.raises(BadInput, match="plan file not found"):
        read_sidecar(plan)
    plan.write_bytes(b"engine")
    with pytest.raises(BadInput, match="has no sidecar model.plan.json"):
        read_sidecar(plan)
    sidecar_path(plan).write_text("{not json")
    with pytest.raises(BadInput, match="not readable JSON"):
        read_sidecar(plan)
    sidecar_path(plan).write_text(json.dumps({"hello": 1}))
    with pytest.raises(BadInput, match="not a trtconvert plan sidecar"):
        read_sidecar(plan)


def test_cache_store_and_lookup(files, tmp_path: Path) -> None:
    identity = _identity(files)
    plan = tmp_path / "model.plan"
    data = os.urandom(256)
    write_plan(plan, data, _sidecar(identity, data))
    cache = tmp_path / "cache"
    assert lookup_cache(cache, identity.key) is None
    stored = store_in_cache(cache, identity.key, plan)
    assert stored == cached_plan(cache, identity.key)
    assert lookup_cache(cache, identity.key)["cache_key"] == identity.key
    # Another key misses.
    assert lookup_cache(cache, _identity(files, trt="11.0.0").key) is None
    # A cached plan whose bytes no longer match its sidecar is not reused.
    stored.write_bytes(b"truncated")
    assert lookup_cache(cache, identity.key) is None


def test_copy_from_cache_is_a_complete_pair(files, tmp_path: Path) -> None:
    identity = _identity(files)
    source = tmp_path / "cache" / f"{identity.key}.plan"
    source.parent.mkdir()
    data = os.urandom(512)
    write_plan(source, data, _sidecar(identity, data))
    out = tmp_path / "deploy" / "model.plan"
    out.parent.mkdir()
    copy_plan(source, out)
    assert out.read_bytes() == data
    assert read_sidecar(out)["cache_key"] == identity.key


def test_inspect_of_a_plan(run_cli, files, tmp_path: Path) -> None:
    identity = _identity(files)
    plan = tmp_path / "model.plan"
    data = os.urandom(1000)
    write_plan(plan, data, _sidecar(identity, data))
    assert is_plan_path(plan)
    report = describe_plan(plan)
    assert report["kind"] == "plan" and report["plan_matches_sidecar"]
    text = "\n".join(format_plan(report))
    assert "10.8.0.43" in text and "NVIDIA H100" in text and "min 1x3x64x64" in text
    result = run_cli("inspect", plan, "--json")
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["cache_key"] == identity.key
    result = run_cli("inspect", plan)
    assert result.code == 0 and "profile 0" in result.stdout and "fp16 (builder_flags)" in result.stdout
    plan.write_bytes(b"other bytes")
    result = run_cli("inspect", plan)
    assert result.code == 0 and "WARNING: the plan's bytes differ from its sidecar" in result.stdout


def test_inspect_of_a_plan_without_sidecar(run_cli, tmp_path: Path) -> None:
    plan = tmp_path / "model.engine"
    plan.write_bytes(b"engine")
    result = run_cli("inspect", plan)
    assert result.code == 2
    assert "has no sidecar model.engine.json" in result.stderr


def test_frozen_inputs_reach_the_key_the_sidecar_and_inspect(files, tmp_path: Path) -> None:
    import numpy as np

    from trtconvert.prepare.freeze import describe_frozen, values_from_description

    plain = _identity(files)
    frozen = _identity(files, _spec(freeze={"sr": "16000"}))
    other = _identity(files, _spec(freeze={"sr": "8000"}))
    assert len({plain.key, frozen.key, other.key}) == 3
    values = {"sr": np.array(16000, dtype=np.int64), "w": np.arange(6, dtype=np.float32).reshape(2, 3)}
    described = describe_frozen(values)
    assert described["sr"] == {"shape": [], "dtype": "int64", "value": 16000}
    assert described["w"]["value"] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    back = values_from_description(json.loads(json.dumps(described)))
    assert back["sr"].dtype == np.int64 and back["sr"].shape == () and int(back["sr"]) == 16000
    np.testing.assert_array_equal(back["w"], values["w"])
    plan = tmp_path / "m.plan"
    plan_bytes = os.urandom(100)
    sidecar = make_sidecar(
        frozen, plan_bytes, model="m.onnx", inputs=[], outputs=[], precision={"precision": "fp32", "mode": "fp32"},
        gpu={"name": "GPU", "compute_capability": "9.0"}, strongly_typed=False, timings={}, frozen=described,
    )  # fmt: skip
    write_plan(plan, plan_bytes, sidecar)
    lines = format_plan(describe_plan(plan))
    assert "frozen    sr=16000 (int64 scalar)" in lines


def test_inspect_layers_of_a_plan(run_cli, files, tmp_path, monkeypatch) -> None:
    from trtconvert.engine import inspect_plan
    from trtconvert.engine.layers import layer_report

    plan = tmp_path / "int8.plan"
    identity = _identity(files)
    data = os.urandom(1000)
    write_plan(plan, data, _sidecar(identity, data))
    # Without TensorRT the inspector cannot run: exit 3, naming what is missing.
    monkeypatch.setattr(
        "trtconvert.engine.machine.import_tensorrt", lambda: (None, "TensorRT is not installed")
    )
    missing = run_cli("inspect", plan, "--layers")
    assert (
        missing.code == 3
        and "TensorRT is not installed, so the plan's layers cannot be read" in missing.stderr
    )
    # With it, the inspector's JSON (here one recorded from an INT8 engine) becomes the table and the summary.
    recorded = (Path(__file__).parent / "data" / "engine_layers_int8_trt10.json").read_text()
    seen = {}

    def fake_layers(path, plugins):
        seen["args"] = (path, list(plugins))
        return [layer_report(recorded)]

    monkeypatch.setattr(inspect_plan, "engine_layers", fake_layers)
    lib = tmp_path / "lib.so"
    result = run_cli("inspect", plan, "--layers", "--plugin", lib)
    assert result.code == 0, result.stderr
    assert seen["args"] == (plan, [lib])
    assert "Int8" in result.stdout and " layers: " in result.stdout
    report = json.loads(run_cli("inspect", plan, "--layers", "--json").stdout)
    assert report["layers"]["detailed"] and report["layers"]["precisions"].get("Int8", 0) > 0


def test_inspect_layers_of_an_onnx_model_is_bad_input(run_cli, example_model) -> None:
    result = run_cli("inspect", example_model, "--layers")
    assert result.code == 2 and "--layers describes a built plan" in result.stderr


def _plan_with_sidecar(files, tmp_path: Path, **fields) -> Path:
    """A plan whose sidecar is a real one with ``fields`` replaced (None stays JSON null)."""
    plan = tmp_path / "model.plan"
    data = os.urandom(100)
    write_plan(plan, data, {**_sidecar(_identity(files), data), **fields})
    return plan


_HUGE = 10**400


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("plan", "model.plan", "plan"),
        ("plan", None, "plan"),
        ("plan", {"bytes": "100", "sha256": "0" * 64}, "plan.bytes"),
        ("plan", {"bytes": _HUGE, "sha256": "0" * 64}, "plan.bytes"),
        ("gpu", "NVIDIA H100", "gpu"),
        ("gpu", None, "gpu"),
        ("tensorrt", ["10.8.0.43"], "tensorrt"),
        ("tensorrt", None, "tensorrt"),
        ("precision", "fp16", "precision"),
        ("inputs", "input", "inputs"),
        ("inputs", None, "inputs"),
        ("inputs", [1, 2, 3], "inputs[0]"),
        ("inputs", [{"name": 5, "dtype": "float32", "dims": [1]}], "inputs[0].name"),
        ("inputs", [{"name": "input", "dtype": "float32", "dims": 7}], "inputs[0].dims"),
        ("inputs", [{"dtype": "float32"}], "inputs[0].name"),
        ("outputs", {"output": "float32"}, "outputs"),
        ("frozen", "sr=16000", "frozen"),
        ("frozen", None, "frozen"),
        ("frozen", {"sr": 16000}, "frozen.sr"),
        ("frozen", {"sr": {"shape": [], "dtype": "int64"}}, "frozen.sr"),
        ("frozen", {"sr": {"shape": 1, "dtype": "int64", "value": 1}}, "frozen.sr.shape"),
        ("profiles", "input=1x3x64x64", "profiles"),
        ("profiles", None, "profiles"),
        ("profiles", [1, 2], "profiles[0]"),
        ("profiles", [{"input": [1, 3, 64, 64]}], "profiles[0].input"),
        ("profiles", [{"input": {"min": [1], "opt": [1]}}], "profiles[0].input.max"),
        ("plugins", "libplugins.so", "plugins"),
        ("plugins", None, "plugins"),
        ("plugins", [1, 2], "plugins[0]"),
        ("plugins", [{"file": "libplugins.so", "sha256": None}], "plugins[0].sha256"),
    ],
)
def test_inspect_of_a_malformed_sidecar_is_bad_input(
    run_cli, files, tmp_path: Path, field: str, value, named: str
) -> None:
    plan = _plan_with_sidecar(files, tmp_path, **{field: value})
    result = run_cli("inspect", plan)
    assert result.code == 2, result.stderr
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]  # one line, no traceback
    assert f"error: sidecar {sidecar_path(plan)} is malformed ({named}: " in result.stderr
    assert result.stderr.rstrip().endswith("; rebuild the plan")
    assert len(result.stderr) < 1000


def test_inspect_of_a_sidecar_with_an_integer_past_json_limits(run_cli, files, tmp_path: Path) -> None:
    plan = _plan_with_sidecar(files, tmp_path, plan={"bytes": 0, "sha256": "0" * 64})
    text = sidecar_path(plan).read_text().replace('"bytes": 0', '"bytes": ' + "9" * 5000)
    sidecar_path(plan).write_text(text)
    result = run_cli("inspect", plan)
    assert result.code == 2, result.stderr
    assert f"sidecar {sidecar_path(plan)} is not readable JSON" in result.stderr


def test_inspect_clips_a_huge_frozen_value(run_cli, files, tmp_path: Path) -> None:
    values = list(range(200_000))
    plan = _plan_with_sidecar(
        files, tmp_path, frozen={"w": {"shape": [200_000], "dtype": "int64", "value": values}}
    )
    result = run_cli("inspect", plan)
    assert result.code == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("frozen"))
    assert line.startswith("frozen    w=[0, 1, 2") and "..." in line
    assert max(len(line) for line in result.stdout.splitlines()) < 200


@pytest.mark.parametrize(
    ("entry", "named"),
    [
        ({"shape": [2], "dtype": "float99", "value": [1, 2]}, "frozen.w: dtype 'float99'"),
        ({"shape": [2], "dtype": "str", "value": [1, 2]}, "frozen.w: dtype 'str'"),
        ({"shape": [3], "dtype": "float32", "value": [1, 2]}, "frozen.w: 2 values for shape [3]"),
        ({"shape": [2], "dtype": "int64", "value": [_HUGE, 1]}, "frozen.w: value"),
        ({"shape": [2], "dtype": "float32", "value": [None, 1]}, "frozen.w: value"),
        ({"shape": [2**40, 2**40], "dtype": "int8", "value": 1}, "frozen.w: shape"),
        ({"shape": [2000], "dtype": "int8", "sha256": None}, "frozen.w: neither"),
    ],
)
def test_sidecar_frozen_entries_verify_could_not_use_are_malformed(
    files, tmp_path: Path, entry: dict, named: str
) -> None:
    plan = _plan_with_sidecar(files, tmp_path, frozen={"w": entry})
    with pytest.raises(BadInput, match=r"is malformed \(" + re.escape(named)):
        read_sidecar(plan)


def test_large_frozen_values_are_kept_as_a_sha256_that_verify_checks(run_cli, files, tmp_path: Path) -> None:
    import numpy as np

    from trtconvert.prepare.freeze import FROZEN_VALUES_KEPT, describe_frozen, frozen_feed

    big = np.arange(FROZEN_VALUES_KEPT + 1, dtype=np.float32).reshape(-1, 1)
    small = np.arange(4, dtype=np.int64)
    described = json.loads(json.dumps(describe_frozen({"big": big, "small": small})))
    assert described["small"]["value"] == [0, 1, 2, 3]
    assert "value" not in described["big"] and len(described["big"]["sha256"]) == 64
    assert described["big"]["shape"] == [FROZEN_VALUES_KEPT + 1, 1]
    # verify needs the large value from --input, with the same values.
    with pytest.raises(
        BadInput, match="frozen to 1025 values, too many for its sidecar.*--input big=FILE.npy"
    ):
        frozen_feed(described, {})
    with pytest.raises(BadInput, match="--input big: .*frozen to other values"):
        frozen_feed(described, {"big": big + 1})
    with pytest.raises(BadInput, match="--input big: .*frozen to other values"):
        frozen_feed(described, {"big": big.reshape(-1)[:5]})
    with pytest.raises(BadInput, match="--input small: .*frozen to another value"):
        frozen_feed(described, {"big": big, "small": small + 1})
    fed = frozen_feed(described, {"big": big.astype(">f4")})
    np.testing.assert_array_equal(fed["big"], big)
    np.testing.assert_array_equal(fed["small"], small)
    # inspect names the sidecar's summary instead of the values.
    plan = _plan_with_sidecar(files, tmp_path, frozen=described)
    result = run_cli("inspect", plan)
    assert result.code == 0, result.stderr
    assert (
        f"frozen    big=<values with sha256 {described['big']['sha256'][:12]}> (float32 1025x1)"
        in result.stdout
    )
    assert "frozen    small=[0, 1, 2, 3] (int64 4)" in result.stdout


class _EngineLoaderStandIn:
    """Stands in for polygraphy's EngineFromBytes (argument level: no TensorRT here); raises ``error``."""

    error: Exception

    def __init__(self, plan_bytes: bytes) -> None:
        self.plan_bytes = plan_bytes

    def __call__(self):
        raise self.error


class _TensorRTStandIn:
    __version__ = "8.5.3.1"


def _plan_loading_raises(monkeypatch, error: Exception) -> None:
    loader = type("Loader", (_EngineLoaderStandIn,), {"error": error})
    monkeypatch.setattr("polygraphy.backend.trt.EngineFromBytes", loader)


def test_a_plan_tensorrt_cannot_deserialize_is_bad_input(tmp_path: Path, monkeypatch) -> None:
    from polygraphy.exception import PolygraphyException

    from trtconvert.engine.plan_files import load_engine

    plan = tmp_path / "model.plan"
    plan.write_bytes(b"not an engine")
    # What polygraphy raises when TensorRT's deserialize_cuda_engine returns no engine.
    _plan_loading_raises(
        monkeypatch, PolygraphyException("Could not deserialize engine. See log for details.")
    )
    with pytest.raises(BadInput, match="TensorRT 8.5.3.1 cannot load model.plan"):
        load_engine(plan, [], _TensorRTStandIn())


def test_a_bug_while_loading_a_plan_is_not_taken_for_a_bad_plan(tmp_path: Path, monkeypatch) -> None:
    from trtconvert.engine.plan_files import load_engine

    plan = tmp_path / "model.plan"
    plan.write_bytes(b"not an engine")
    _plan_loading_raises(monkeypatch, AttributeError("'NoneType' object has no attribute 'deserialize'"))
    with pytest.raises(AttributeError, match="deserialize"):
        load_engine(plan, [], _TensorRTStandIn())
