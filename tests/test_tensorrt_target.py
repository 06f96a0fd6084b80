"""--target-tensorrt parsing, its default, and the parser-capability table for cubic Resize."""

from __future__ import annotations

import pytest

from trtconvert.errors import BadInput
from trtconvert.settings import target as tensorrt_target
from trtconvert.settings.target import NEWEST_MAJOR, CubicResizeFacts, TensorRTTarget, parse_target


@pytest.mark.parametrize(
    "text,major,minor",
    [("10", 10, 0), ("8.4", 8, 4), ("10.13.0.35", 10, 13), (" 11.1 ", 11, 1), ("9.3.0", 9, 3)],
)
def test_parse_versions(text, major, minor):
    target = parse_target(text)
    assert (target.major, target.minor) == (major, minor)
    assert str(target) == f"{major}.{minor}"


@pytest.mark.parametrize("text", ["", "ten", "10.x", "v10", "10..1", "-8", "0", "8.4.1.2.3"])
def test_bad_versions_are_bad_input(text):
    with pytest.raises(BadInput, match="--target-tensorrt") as error:
        parse_target(text)
    assert error.value.exit_code == 2


def test_default_is_newest_major_without_tensorrt(monkeypatch):
    monkeypatch.setattr(tensorrt_target, "_installed_version", lambda: None)
    target = parse_target(None)
    assert (target.major, target.minor) == (NEWEST_MAJOR, 0) == (11, 0)
    assert "not installed" in target.source


def test_default_is_the_installed_version(monkeypatch):
    monkeypatch.setattr(tensorrt_target, "_installed_version", lambda: "10.8.0.43")
    target = parse_target(None)
    assert (target.major, target.minor, target.source) == (10, 8, "installed")


def test_installed_version_is_none_here_or_a_version():
    found = tensorrt_target._installed_version()
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        assert found is None
    else:
        assert found and found[0].isdigit()


def test_shape_inputs_and_plugin_interfaces_by_version():
    assert not parse_target("10.0").supports_shape_inputs
    assert parse_target("10.1").supports_shape_inputs
    assert parse_target("11").supports_shape_inputs
    assert not parse_target("9.3").supports_plugin_v3
    assert parse_target("10").supports_plugin_v3
    assert not parse_target("10.9").maps_plugin_domain and parse_target("10.10").maps_plugin_domain


PLAIN = CubicResizeFacts(rank=4)


@pytest.mark.parametrize(
    "version,facts,accepted,words",
    [
        ("7.2", PLAIN, False, "rejects cubic"),
        ("8.4", PLAIN, False, "rejects cubic"),
        ("8.5", PLAIN, True, "imports"),
        ("8.6", CubicResizeFacts(rank=4, cubic_coeff_a=-0.5, exclude_outside=1), True, "imports"),
        ("8.6", CubicResizeFacts(rank=4, antialias=1), False, "predates antialias"),
        ("8.6", CubicResizeFacts(rank=4, axes=(2, 3)), False, "predates axes"),
        ("9.2", PLAIN, True, "imports"),
        ("9.2", CubicResizeFacts(rank=4, antialias=1), False, "silently ignores antialias"),
        ("9.2", CubicResizeFacts(rank=4, axes=(2, 3)), False, "silently ignores axes"),
        ("9.2", CubicResizeFacts(rank=4, axes=(0, 1, 2, 3)), True, "imports"),
        (
            "9.2",
            CubicResizeFacts(rank=4, keep_aspect_ratio_policy="not_larger"),
            False,
            "ignores keep_aspect",
        ),
        ("10.0", PLAIN, True, "imports"),
        ("10.0", CubicResizeFacts(rank=4, axes=(2, 3)), True, "imports"),
        ("10.0", CubicResizeFacts(rank=4, axes=(2, 2)), False, "duplicate axes"),
        ("10.0", CubicResizeFacts(rank=4, antialias=1), False, "rejects antialias"),
        (
            "11.0",
            CubicResizeFacts(rank=4, keep_aspect_ratio_policy="not_smaller"),
            False,
            "rejects keep_aspect",
        ),
        ("10.8", CubicResizeFacts(coordinate_transformation_mode="half_pixel_symmetric"), False, "rejects"),
        ("8.6", CubicResizeFacts(coordinate_transformation_mode="half_pixel_symmetric"), False, "predates"),
        ("10.8", CubicResizeFacts(coordinate_transformation_mode="tf_crop_and_resize"), False, "tf_crop"),
        (
            "10.8",
            CubicResizeFacts(coordinate_transformation_mode="tf_half_pixel_for_nn"),
            False,
            "differently",
        ),
        ("11.1", CubicResizeFacts(rank=4, outer_axes_resized=True), False, "two innermost"),
        ("11.1", CubicResizeFacts(rank=4, outer_axes_resized=None), True, "provided the runtime sizes"),
        ("10.8", CubicResizeFacts(coordinate_transformation_mode="pytorch_half_pixel"), True, "imports"),
        ("12.0", CubicResizeFacts(rank=4, antialias=1), False, "rejects antialias"),
        ("12.0", PLAIN, True, "imports"),
    ],
)
def test_cubic_resize_capability_table(version, facts, accepted, words):
    ok, reason = parse_target(version).accepts_cubic_resize(facts)
    assert ok is accepted
    assert words in reason
    assert f"TensorRT {parse_target(version).version}" in reason


def test_targets_compare_by_version_only():
    assert TensorRTTarget(10, 1, source="flag") == TensorRTTarget(10, 1, source="installed")


def test_the_8_5_rules_measured_on_tensorrt_8_5_3():
    trt85 = parse_target("8.5")
    # Rejected by its parser, or crashes its builder: rewrite.
    assert not trt85.accepts_cubic_resize(
        CubicResizeFacts(coordinate_transformation_mode="half_pixel_symmetric")
    )[0]
    ok, reason = trt85.accepts_cubic_resize(
        CubicResizeFacts(coordinate_transformation_mode="tf_half_pixel_for_nn")
    )
    assert not ok and "crashes" in reason
    # align_corners follows the scale where in x scale is fractional (ONNX's downsample_scales_cubic_align_corners).
    fractional = CubicResizeFacts(coordinate_transformation_mode="align_corners", scale_inexact=True)
    assert not trt85.accepts_cubic_resize(fractional)[0]
    assert trt85.accepts_cubic_resize(CubicResizeFacts(coordinate_transformation_mode="align_corners"))[0]
    ok, reason = trt85.accepts_cubic_resize(
        CubicResizeFacts(coordinate_transformation_mode="align_corners", scale_inexact=None)
    )
    assert ok and "whole number at runtime" in reason
    # pytorch_half_pixel at output length 1 matches on 8.5.
    length_one = CubicResizeFacts(coordinate_transformation_mode="pytorch_half_pixel", output_length_one=True)
    assert trt85.accepts_cubic_resize(length_one)[0]
    # exclude_outside, A and the other modes are imported and match.
    for mode in ("half_pixel", "asymmetric", "pytorch_half_pixel"):
        assert trt85.accepts_cubic_resize(
            CubicResizeFacts(coordinate_transformation_mode=mode, exclude_outside=1, cubic_coeff_a=-0.5)
        )[0]


def test_scale_inexact_is_read_from_the_graph():
    from resize_models import single_resize_model

    from trtconvert.prepare.rewrite.stage import rewrite_model

    def decision(model):
        (only,) = rewrite_model(model, "auto", parse_target("8.5")).decisions
        return only.decision

    # 4 x 0.8 = 3.2: fractional; 4 x 2 = 8: whole; dynamic length with scale 0.8: only runtime knows.
    fractional = single_resize_model(
        [1, 1, 4, 4], scales=[1, 1, 0.8, 0.8], coordinate_transformation_mode="align_corners", opset=13
    )
    whole = single_resize_model(
        [1, 1, 4, 4], scales=[1, 1, 2.0, 2.0], coordinate_transformation_mode="align_corners", opset=13
    )
    dynamic = single_resize_model(
        [1, 1, "h", "w"], scales=[1, 1, 0.8, 0.8], coordinate_transformation_mode="align_corners", opset=13
    )
    assert (decision(fractional), decision(whole), decision(dynamic)) == ("rewrite", "keep", "keep")


def test_installed_version_from_a_package_without_metadata_is_read_not_imported(tmp_path, monkeypatch):
    """A TensorRT on PYTHONPATH without a dist-info (a tar install) has its version read from the literal its
    packaging writes into __init__.py; importing it would load libnvinfer in a layer that must not."""
    import importlib
    import sys

    if importlib.util.find_spec("tensorrt") is not None:
        pytest.skip("a real tensorrt is importable here")
    package = tmp_path / "tensorrt"
    package.mkdir()
    (package / "__init__.py").write_text('raise RuntimeError("imported")\n__version__ = "10.3.0.26"\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    assert tensorrt_target._installed_version() == "10.3.0.26"
    assert "tensorrt" not in sys.modules


# The TensorRT 10 and 11 rows are read from the ONNX parser's sources, not measured: each case names the
# onnx/onnx-tensorrt tag, file and check it comes from (release/10.0-GA and release/10.1-GA agree on each; the
# parser sources of later 10.x and of 11.x were not available to check). What a fact means for a node is held
# here; whether TensorRT then builds and computes it is for a TensorRT 10/11 machine.
_PARSER_10 = "onnx-tensorrt release/10.1-GA"


@pytest.mark.parametrize(
    "facts,accepted,words",
    [
        pytest.param(
            CubicResizeFacts(rank=4, antialias=1),
            False,
            "rejects antialias",
            id=f"{_PARSER_10} onnxOpCheckers.cpp Resize: antialias == 0",
        ),
        pytest.param(
            CubicResizeFacts(rank=4, keep_aspect_ratio_policy="not_larger"),
            False,
            "rejects keep_aspect_ratio_policy",
            id=f"{_PARSER_10} onnxOpCheckers.cpp Resize: keep_aspect_ratio_policy == stretch",
        ),
        pytest.param(
            CubicResizeFacts(rank=4, axes=(3, 3)),
            False,
            "duplicate axes",
            id=f"{_PARSER_10} onnxOpCheckers.cpp Resize: axes must have unique elements",
        ),
        pytest.param(
            CubicResizeFacts(rank=4, coordinate_transformation_mode="half_pixel_symmetric"),
            False,
            "rejects coordinate_transformation_mode=half_pixel_symmetric",
            id=f"{_PARSER_10} onnxOpCheckers.cpp Resize: the five coordinate modes it supports",
        ),
        pytest.param(
            CubicResizeFacts(rank=4, coordinate_transformation_mode="tf_crop_and_resize"),
            False,
            "tf_crop_and_resize",
            id=f"{_PARSER_10} onnxOpImporters.cpp Resize: tf_crop_and_resize not supported",
        ),
        pytest.param(
            CubicResizeFacts(rank=4, outer_axes_resized=True),
            False,
            "two innermost",
            id=f"{_PARSER_10} onnxOpImporters.cpp Resize: cubic scales only on 2 dims (canUseNDResize)",
        ),
        pytest.param(
            CubicResizeFacts(rank=4, axes=(2, 3), runtime_scales=True),
            False,
            "rejects axes=[2, 3] with runtime scales",
            id=f"{_PARSER_10} onnxOpImporters.cpp Resize: a scales tensor only with trivial axes",
        ),
        pytest.param(
            CubicResizeFacts(rank=4, axes=(2, 3)),
            True,
            "imports",
            id=f"{_PARSER_10} onnxOpImporters.cpp Resize: constant scales or sizes interlaced with axes",
        ),
        pytest.param(
            CubicResizeFacts(rank=4, coordinate_transformation_mode="tf_half_pixel_for_nn"),
            False,
            "differently",
            id=f"{_PARSER_10} onnxOpImporters.cpp Resize: tf_half_pixel_for_nn imported as kHALF_PIXEL",
        ),
        pytest.param(
            CubicResizeFacts(
                rank=4, coordinate_transformation_mode="pytorch_half_pixel", output_length_one=True
            ),
            True,
            "imports",
            id=f"{_PARSER_10} onnxOpImporters.cpp Resize: pytorch_half_pixel as kHALF_PIXEL + ResizeSelector::kUPPER",
        ),
    ],
)
@pytest.mark.parametrize("version", ["10.0", "10.16", "11.1"])
def test_the_10_and_11_rows_follow_the_parser_sources(version, facts, accepted, words):
    ok, reason = parse_target(version).accepts_cubic_resize(facts)
    assert ok is accepted, reason
    assert words in reason


@pytest.mark.parametrize(
    ("version", "int64", "float64"),
    [("8.5.3.1", "int32", "float32"), ("8.6.1", "int32", "float32"), ("9.0", "int64", "float32"),
     ("10.16.0.1", "int64", "float32"), ("11.1", "int64", "float32"), ("unknown", "int64", "float64")],
)  # fmt: skip
def test_engine_io_types_follow_the_parsers_convert_dtype(version: str, int64: str, float64: str) -> None:
    """onnx-tensorrt's convertDtype: INT64 -> kINT32 and DOUBLE -> kFLOAT in onnx2trt_utils.cpp at release/8.5-GA
    and release/8.6-GA; INT64 -> kINT64 and DOUBLE -> kFLOAT at 9.0-GA and in importerUtils.cpp at
    release/10.0-GA and 10.1-GA. Other types are bound as they are; an unreadable version changes nothing."""
    from trtconvert.settings.target import engine_dtype

    assert engine_dtype("int64", version) == int64
    assert engine_dtype("float64", version) == float64
    for kept in ("float32", "float16", "int32", "int8", "uint8", "bool"):
        assert engine_dtype(kept, version) == kept
