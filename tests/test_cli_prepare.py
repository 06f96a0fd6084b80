"""prepare and inspect end to end on the shared real models and the bundled example."""

from __future__ import annotations

import json

import onnx
import pytest
from model_factories import REAL_MODELS

from trtconvert.model.info import all_nodes


@pytest.mark.parametrize("name", list(REAL_MODELS))
def test_prepare_verify_on_real_models(run_cli, shared_models, tmp_path, name):
    output = tmp_path / "out" / name
    result = run_cli("prepare", shared_models / name, "-o", output, "--verify", "--json", *REAL_MODELS[name])
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert report["verification"], "verification ran on no shapes"
    for shape_set in report["verification"]:
        for output_report in shape_set["outputs"]:
            assert output_report["ok"] and output_report["max_abs"] <= 1e-4
    prepared = onnx.load(output)
    onnx.checker.check_model(prepared, full_check=True)
    assert len(prepared.graph.node) < len(onnx.load(shared_models / name).graph.node)
    assert sorted(p.name for p in output.parent.iterdir()) == [name], "staging files left behind"
    for line in ("load", "fold", "rewrite", "save", "verify"):
        assert any(row.startswith(line) for row in result.stderr.splitlines()), f"no {line} report line"


def test_folding_removes_about_half_of_ppocr_det(run_cli, shared_models, tmp_path):
    output = tmp_path / "det.onnx"
    result = run_cli("prepare", shared_models / "ppocr_v4_det.onnx", "-o", output)
    assert result.code == 0, result.stderr
    before = len(onnx.load(shared_models / "ppocr_v4_det.onnx").graph.node)
    after = len(onnx.load(output).graph.node)
    assert 0.4 * before <= after <= 0.6 * before
    assert f"{before} -> {after} nodes" in result.stderr


def test_no_fold_keeps_every_node(run_cli, shared_models, tmp_path):
    output = tmp_path / "det.onnx"
    assert run_cli("prepare", shared_models / "ppocr_v4_det.onnx", "-o", output, "--no-fold").code == 0
    assert len(onnx.load(output).graph.node) == len(onnx.load(shared_models / "ppocr_v4_det.onnx").graph.node)


def test_input_file_is_never_modified(run_cli, shared_models, tmp_path):
    source = shared_models / "ppocr_mobile_v2_cls.onnx"
    before = source.read_bytes()
    assert run_cli("prepare", source, "-o", tmp_path / "cls.onnx").code == 0
    assert source.read_bytes() == before


def test_given_input_values_reach_the_models(run_cli, shared_models, tmp_path):
    # silero's sample rate picks an If branch: 16000 is valid, and a .npy works like a number.
    import numpy as np

    np.save(tmp_path / "sr.npy", np.array(16000, dtype=np.int64))
    args = REAL_MODELS["silero_vad_16k_op15.onnx"][:2]
    result = run_cli(
        "prepare",
        shared_models / "silero_vad_16k_op15.onnx",
        "-o",
        tmp_path / "v.onnx",
        "--verify",
        "--input",
        f"sr={tmp_path / 'sr.npy'}",
        *args,
        "--json",
    )
    assert result.code == 0, result.stderr
    shapes = json.loads(result.stdout)["verification"][0]["shapes"]
    assert shapes["sr"] == [] and shapes["input"] == [1, 512]


def test_external_data_model_round_trip(run_cli, tmp_path):
    from model_factories import conv_model

    source = tmp_path / "src" / "ext.onnx"
    source.parent.mkdir()
    onnx.save_model(
        conv_model(), source, save_as_external_data=True, location="weights.bin", size_threshold=0
    )
    output = tmp_path / "out" / "ext.onnx"
    result = run_cli(
        "prepare", source, "-o", output, "--verify", "--profile", "x=1x3x8x8:1x3x16x16:2x3x16x16"
    )
    assert result.code == 0, result.stderr
    assert "external data in 1 file(s)" in result.stderr


@pytest.mark.parametrize("name", list(REAL_MODELS))
def test_inspect_real_models(run_cli, shared_models, name):
    model = onnx.load(shared_models / name, load_external_data=False)
    result = run_cli("inspect", shared_models / name, "--json")
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ir_version"] == model.ir_version
    assert report["nodes"] == len(model.graph.node)
    assert sum(report["ops"].values()) == sum(1 for _ in all_nodes(model.graph))
    assert report["weight_bytes"] > 0
    human = run_cli("inspect", shared_models / name)
    assert human.code == 0
    for model_input in report["inputs"]:
        assert model_input["name"] in human.stdout


def test_inspect_shows_symbolic_and_unknown_dims(run_cli, shared_models):
    det = json.loads(run_cli("inspect", shared_models / "ppocr_v4_det.onnx", "--json").stdout)
    assert det["inputs"] == [
        {
            "name": "x",
            "dtype": "float32",
            "dims": ["p2o.DynamicDimension.0", 3, "p2o.DynamicDimension.1", "p2o.DynamicDimension.2"],
        }
    ]
    assert det["opsets"] == {"ai.onnx": 12}
    cls = json.loads(run_cli("inspect", shared_models / "ppocr_mobile_v2_cls.onnx", "--json").stdout)
    assert cls["inputs"][0]["dims"] == [None, 3, None, None]
    vad = json.loads(run_cli("inspect", shared_models / "silero_vad_16k_op15.onnx", "--json").stdout)
    assert {i["name"]: i["dims"] for i in vad["inputs"]} == {
        "input": ["batch", "sequence"],
        "state": [2, "batch", 128],
        "sr": [],
    }
    assert vad["ops"]["If"] >= 1
    assert "--profile 'input=" in vad["profile_example"]


def test_version_and_help(run_cli):
    from trtconvert import __version__

    assert __version__ in run_cli("--version").stdout
    for command in ("inspect", "prepare", "build"):
        result = run_cli(command, "--help")
        assert result.code == 0 and "Example" in result.stdout


def test_json_stdout_holds_only_the_report_even_at_full_verbosity(run_cli, shared_models, tmp_path):
    result = run_cli(
        "prepare", shared_models / "silero_vad_16k_op15.onnx", "-o", tmp_path / "v.onnx", "--json", "-vv",
        "--no-check-parser",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    assert "will reject node" in result.stderr  # the parser warnings go to stderr too
    assert json.loads(result.stdout)["ok"] is True


EXAMPLE_PROFILE = "input=1x3x16x16:1x3x24x20:1x3x32x32,factor=1x1x32x32:1x1x48x40:1x1x64x64"


PREPARE_STAGES = {
    "load",
    "calib",
    "freeze",
    "fold",
    "rewrite",
    "precision",
    "dims",
    "parser",
    "save",
    "verify",
}


@pytest.mark.parametrize("target", ["10.8", "11"])
def test_every_precision_prints_its_line_and_reports_one_json_shape(run_cli, example_model, tmp_path, target):
    reports = {}
    for precision in ("fp32", "fp16", "int8"):
        result = run_cli(
            "prepare",
            example_model,
            "-o",
            tmp_path / f"{precision}.onnx",
            "--profile",
            EXAMPLE_PROFILE,
            "--precision",
            precision,
            "--target-tensorrt",
            target,
            "--json",
            *(["--calib-random-for-timing-only"] if precision == "int8" else []),
        )
        assert result.code == 0, result.stderr
        stages = [line.split()[0] for line in result.stderr.splitlines() if line and not line.startswith(" ")]
        assert stages.count("precision") == 1 and precision in result.stderr, result.stderr
        assert len(set(stages)) == len(stages), f"a stage printed more than one line: {stages}"
        assert set(stages) <= PREPARE_STAGES, f"a line that is no stage's: {stages}"
        assert {"load", "freeze", "fold", "rewrite", "precision", "parser", "save"} <= set(stages), stages
        reports[precision] = json.loads(result.stdout)["precision"]
    assert set(reports["fp32"]) == set(reports["fp16"]) == set(reports["int8"])
    assert reports["fp32"]["precision"] == "fp32" and reports["fp16"]["precision"] == "fp16"
    assert reports["fp32"]["mode"] == "fp32"


def test_inspect_honours_the_config(run_cli, example_model, tmp_path):
    config = tmp_path / "old.yaml"
    config.write_text(f"model: {example_model}\ntarget_tensorrt: '8.6'\n")
    result = run_cli("inspect", "--config", config, "--json")
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["model"] == str(example_model)
    assert report["target_tensorrt"] == "8.6"
    # A flag overrides the config, as everywhere.
    flagged = json.loads(run_cli("inspect", "--config", config, "--target-tensorrt", "10.8", "--json").stdout)
    assert flagged["target_tensorrt"] == "10.8"


def test_inspect_with_a_missing_config_is_bad_input(run_cli, example_model, tmp_path):
    result = run_cli("inspect", example_model, "--config", tmp_path / "missing.yaml")
    assert result.code == 2
    assert "missing.yaml" in result.stderr and "Traceback" not in result.stderr
    nothing = run_cli("inspect")
    assert nothing.code == 2 and "inspect needs something to describe" in nothing.stderr
