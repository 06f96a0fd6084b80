from __future__ import annotations

from pathlib import Path

import pytest

from trtconvert.errors import BadInput
from trtconvert.model.profiles import ShapeRange, parse_profile
from trtconvert.settings.spec import Spec, make_spec


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sub" / "c.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


def test_config_values_paths_relative_to_the_config_and_profiles(tmp_path):
    config = _config(
        tmp_path,
        "model: m.onnx\nplugins: [lib/p.so]\nprofiles:\n  - x: 1x3:2x3:4x3\nfold: false\nprecision: FP16\n"
        "inputs:\n  sr: 16000\n  ids: ids.npy\n",
    )
    spec = make_spec(config, {})
    assert spec.model == config.parent / "m.onnx"
    assert spec.plugins == [config.parent / "lib/p.so"]
    assert spec.profiles == [{"x": ShapeRange((1, 3), (2, 3), (4, 3))}]
    assert spec.fold is False and spec.precision == "fp16"
    assert spec.inputs == {"sr": "16000", "ids": str(config.parent / "ids.npy")}


def test_flags_override_config_and_absent_flags_do_not(tmp_path):
    config = _config(tmp_path, "model: m.onnx\nrewrite: all\nfold: false\ninputs: {sr: 8000, a: 1}\n")
    spec = make_spec(
        config,
        {
            "model": Path("other.onnx"),
            "rewrite": None,
            "fold": True,
            "profiles": [parse_profile("x=1")],
            "inputs": {"sr": "16000"},
        },
    )
    assert spec.model == Path("other.onnx")
    assert spec.rewrite == "all"
    assert spec.fold is True
    assert spec.inputs == {"sr": "16000", "a": "1"}


def test_defaults_without_config():
    assert make_spec(None, {}) == Spec()


def test_hyphenated_keys_are_accepted(tmp_path):
    spec = make_spec(_config(tmp_path, "target-tensorrt: '10.8'\nopt-level: 3\n"), {})
    assert spec.target_tensorrt == "10.8" and spec.opt_level == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("seed: 1.5\n", "expected an integer"),
        ("atol: yes\n", "expected a number"),
        ("profiles:\n  - 3\n", "expected a mapping"),
        ("profiles:\n  - x: 1x2:3\n", "one shape"),
        ("inputs: [1, 2]\n", "expected a mapping"),
        ("precision: fp8\n", "not one of fp32, fp16, bf16"),
        ("opt_levle: 3\n", "did you mean 'opt_level'"),
    ],
)
def test_bad_values_name_the_key(tmp_path, text, message):
    with pytest.raises(BadInput, match=message):
        make_spec(_config(tmp_path, text), {})


def test_empty_config_is_fine(tmp_path):
    assert make_spec(_config(tmp_path, ""), {}) == Spec()
