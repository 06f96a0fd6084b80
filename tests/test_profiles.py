from __future__ import annotations

import pytest

from trtconvert.errors import BadInput
from trtconvert.model.info import GraphTensor
from trtconvert.model.profiles import ShapeRange, example_flag, opt_shapes, parse_profile, validate_profiles

IMAGE = GraphTensor("input", "float32", ("batch", 3, "height", "width"))
FACTOR = GraphTensor("factor", "float32", (1, 1, "out_h", "out_w"))
STATIC = GraphTensor("scale", "float32", (1, 4))


def test_parses_ranges_and_fixed_shapes():
    profile = parse_profile("input=1x3x64x64:2x3x128x128:4x3x256x256, factor=1x1x32x32")
    assert profile["input"] == ShapeRange((1, 3, 64, 64), (2, 3, 128, 128), (4, 3, 256, 256))
    assert profile["factor"] == ShapeRange((1, 1, 32, 32), (1, 1, 32, 32), (1, 1, 32, 32))


def test_name_splits_at_last_equals_so_names_may_hold_colons_and_equals():
    profile = parse_profile("input:0=1x3:1x3:2x3,a=b=5")
    assert set(profile) == {"input:0", "a=b"}
    assert profile["a=b"].opt == (5,)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("input", "NAME=MIN:OPT:MAX"),
        ("=1x3", "NAME=MIN:OPT:MAX"),
        ("input=1x3:2x3", r"one shape \(fixed\) or three"),
        ("input=1x3xa", "not of the form"),
        ("input=1x3,input=1x3", "appears twice"),
        (",", "is empty"),
    ],
)
def test_malformed_profiles_are_rejected(text, message):
    with pytest.raises(BadInput, match=message):
        parse_profile(text)


def _validate(text: str, inputs=(IMAGE, FACTOR, STATIC)):
    validate_profiles([parse_profile(text)], list(inputs))


GOOD = "input=1x3x8x8:1x3x16x16:2x3x32x32,factor=1x1x16x16"


def test_valid_profile_passes_and_static_inputs_need_none():
    _validate(GOOD)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD + ",inptu=1x3x8x8", "no input 'inptu'.*did you mean 'input'"),
        (
            "input=1x3x8x8",
            "leaves dynamic input 'factor'.*--profile 'input=1x3x64x64:1x3x256x256:8x3x1024x1024",
        ),
        ("input=1x3x8:1x3x8:1x3x8,factor=1x1x2x2", "rank 3 but the input is \\[batch, 3, height, width\\]"),
        ("input=1x4x8x8,factor=1x1x2x2", "dim 1 is 4 but the model fixes it to 3"),
        ("input=1x3x16x16:1x3x8x8:1x3x32x32,factor=1x1x2x2", "min <= opt <= max"),
        ("input=1x3x0x8,factor=1x1x2x2", "at least 1"),
        (GOOD + ",scale=1x5", "fixes it to 4"),
    ],
)
def test_profile_errors_name_the_problem(text, message):
    with pytest.raises(BadInput, match=message):
        _validate(text)


def test_each_of_several_profiles_is_checked():
    profiles = [parse_profile(GOOD), parse_profile("input=1x3x8x8")]
    with pytest.raises(BadInput, match="--profile #2 leaves dynamic input 'factor'"):
        validate_profiles(profiles, [IMAGE, FACTOR])


def test_example_flag_covers_every_dynamic_input_and_validates():
    flag = example_flag([IMAGE, FACTOR, STATIC])
    text = flag.removeprefix("--profile '").removesuffix("'")
    _validate(text)
    assert "scale" not in text


def test_opt_shapes_merge_static_inputs():
    shapes = opt_shapes([parse_profile(GOOD)], [IMAGE, FACTOR, STATIC])
    assert shapes == [{"scale": (1, 4), "input": (1, 3, 16, 16), "factor": (1, 1, 16, 16)}]
    assert opt_shapes([], [STATIC]) == [{"scale": (1, 4)}]
