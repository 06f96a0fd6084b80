"""The numpy reference of cubic Resize against ONNX's backend cases, ONNX's reference evaluator, onnxruntime and
PyTorch's bicubic interpolation.

Tolerances: ONNX's expected outputs are float32, so they are matched to 1e-5 absolute plus 1e-6 relative (values
up to 16). ONNX's reference evaluator is run on float64 inputs but computes the cubic weights in float32 (its
cubic_coeff_a arrives as a numpy float32), so it is matched to 1e-5; PyTorch's algorithm in float64 is matched to
1e-10 and float32 runs of onnxruntime to 2e-5 (inputs are standard normal).

Known disagreements, where ONNX's expected output wins:
- onnxruntime: ``align_corners`` with a given scale whose ``scale * length`` is fractional
  (``test_resize_downsample_scales_cubic_align_corners``): onnxruntime divides by the integer output length.
- ONNX's reference evaluator: ``pytorch_half_pixel`` at output length 1 samples -0.5, against its own
  specification (0), which onnxruntime and this reference follow.
- PyTorch: ``align_corners=False`` at output length 1 samples the input centre.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper
from onnx.reference import ReferenceEvaluator
from resize_models import onnx_backend_cubic_cases, run_onnxruntime, single_resize_model
from seeds import fresh_rng

from trtconvert.ops.dynamic_resize import output_length_from_scale
from trtconvert.ops.resize_reference import (
    COORDINATE_MODES,
    CubicResizeAttributes,
    axis_weights,
    coordinate_mode_code,
    cubic_resize_reference,
    keys_kernel,
)

REPO = Path(__file__).resolve().parents[1]


BACKEND_CASES = onnx_backend_cubic_cases()


def _attributes(node: onnx.NodeProto) -> CubicResizeAttributes:
    values = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    return CubicResizeAttributes(
        coordinate_transformation_mode=values.get("coordinate_transformation_mode", b"half_pixel").decode(),
        cubic_coeff_a=float(values.get("cubic_coeff_a", -0.75)),
        exclude_outside=int(values.get("exclude_outside", 0)),
        antialias=int(values.get("antialias", 0)),
    )


def test_all_eleven_onnx_cubic_cases_are_collected():
    assert len(BACKEND_CASES) == 11


@pytest.mark.parametrize("case", BACKEND_CASES, ids=[case[0] for case in BACKEND_CASES])
def test_matches_onnx_backend_expected_output(case):
    _, node, inputs, expected = case
    got = cubic_resize_reference(*_case_args(node, inputs, expected))
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-5)


def _case_args(node, inputs, expected):
    named = dict(zip([i for i in node.input if i], inputs, strict=True))
    scales = tuple(float(s) for s in named["scales"][-2:]) if "scales" in named else None
    return named["X"], expected.shape[-2:], _attributes(node), scales


def test_onnxruntime_departs_from_onnx_only_on_scaled_align_corners():
    """onnxruntime is the CPU verifier of plugin-free graphs, so where it departs from ONNX matters."""
    departures = []
    for name, node, inputs, expected in BACKEND_CASES:
        graph = helper.make_graph(
            [node],
            name,
            [
                helper.make_tensor_value_info(i, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
                for i, v in zip([i for i in node.input if i], inputs, strict=True)
            ],
            [helper.make_tensor_value_info("Y", onnx.TensorProto.FLOAT, None)],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
        model.ir_version = 9
        got = run_onnxruntime(model, dict(zip([i for i in node.input if i], inputs, strict=True)))[0]
        if got.shape != expected.shape or not np.allclose(got, expected, rtol=1e-5, atol=1e-4):
            departures.append(name)
    assert departures == ["test_resize_downsample_scales_cubic_align_corners"]


CONFIGS = [
    CubicResizeAttributes(mode, a, exclude, antialias)
    for mode in ("half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "half_pixel_symmetric")
    for a, exclude, antialias in ((-0.75, 0, 0), (-0.5, 1, 0), (-0.75, 0, 1), (-0.6, 1, 1))
]


@pytest.mark.parametrize(
    "attrs",
    CONFIGS,
    ids=lambda a: (
        f"{a.coordinate_transformation_mode}-{a.cubic_coeff_a}-ex{a.exclude_outside}-aa{a.antialias}"
    ),
)
@pytest.mark.parametrize("scales", [(2.3, 1.6), (0.45, 0.6), (1.0, 3.0), (0.3, 1.0)])
def test_matches_onnx_reference_evaluator_with_scales(attrs, scales):
    rng = fresh_rng()
    x = rng.standard_normal((2, 3, 7, 9))
    model = single_resize_model(
        [2, 3, 7, 9],
        scales=[1.0, 1.0, *scales],
        coordinate_transformation_mode=attrs.coordinate_transformation_mode,
        cubic_coeff_a=attrs.cubic_coeff_a,
        exclude_outside=attrs.exclude_outside,
        antialias=attrs.antialias,
    )
    model.graph.input[0].type.tensor_type.elem_type = onnx.TensorProto.DOUBLE
    want = ReferenceEvaluator(model).run(None, {"x": x})[0]
    f32 = tuple(float(np.float32(s)) for s in scales)
    got = cubic_resize_reference(x, want.shape[-2:], attrs, f32)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("attrs", CONFIGS[::3], ids=lambda a: a.coordinate_transformation_mode)
@pytest.mark.parametrize("shape,out_hw", [((5, 8), (11, 3)), ((2, 1, 4, 6, 5), (9, 2)), ((3, 13, 4), (6, 4))])
def test_matches_onnx_reference_evaluator_with_sizes_at_any_rank(attrs, shape, out_hw):
    rng = fresh_rng()
    x = rng.standard_normal(shape)
    sizes = [*shape[:-2], *out_hw]
    model = single_resize_model(
        list(shape),
        sizes=sizes,
        coordinate_transformation_mode=attrs.coordinate_transformation_mode,
        cubic_coeff_a=attrs.cubic_coeff_a,
        exclude_outside=attrs.exclude_outside,
        antialias=attrs.antialias,
    )
    model.graph.input[0].type.tensor_type.elem_type = onnx.TensorProto.DOUBLE
    want = ReferenceEvaluator(model).run(None, {"x": x})[0]
    got = cubic_resize_reference(x, out_hw, attrs)
    assert got.shape == tuple(sizes)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("scales", [(2.3, 1.6), (0.45, 0.6), (1.0, 2.0)])
@pytest.mark.parametrize("a,exclude", [(-0.75, 0), (-0.5, 1)])
def test_tf_half_pixel_for_nn_matches_onnxruntime(scales, a, exclude):
    """ONNX's reference evaluator lacks this opset-11 mode; onnxruntime implements it."""
    x = fresh_rng().standard_normal((1, 2, 7, 9)).astype(np.float32)
    model = single_resize_model(
        [1, 2, 7, 9],
        scales=[1.0, 1.0, *scales],
        opset=11,
        coordinate_transformation_mode="tf_half_pixel_for_nn",
        cubic_coeff_a=a,
        exclude_outside=exclude,
    )
    want = run_onnxruntime(model, {"x": x})[0]
    attrs = CubicResizeAttributes("tf_half_pixel_for_nn", a, exclude, 0)
    got = cubic_resize_reference(x, want.shape[-2:], attrs, tuple(float(np.float32(s)) for s in scales))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=2e-5)


@pytest.mark.parametrize("attrs", CONFIGS[::2], ids=lambda a: a.coordinate_transformation_mode)
def test_onnxruntime_agrees_on_integral_scales_and_sizes(attrs):
    rng = fresh_rng()
    x = rng.standard_normal((2, 3, 6, 10)).astype(np.float32)
    for kwargs in ({"scales": [1.0, 1.0, 2.0, 0.5]}, {"sizes": [2, 3, 13, 4]}):
        model = single_resize_model(
            [2, 3, 6, 10],
            coordinate_transformation_mode=attrs.coordinate_transformation_mode,
            cubic_coeff_a=attrs.cubic_coeff_a,
            exclude_outside=attrs.exclude_outside,
            antialias=attrs.antialias,
            **kwargs,
        )
        want = run_onnxruntime(model, {"x": x})[0]
        scales = (2.0, 0.5) if "scales" in kwargs else None
        got = cubic_resize_reference(x, want.shape[-2:], attrs, scales)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=2e-5)


def test_pytorch_half_pixel_at_output_length_one_samples_coordinate_zero():
    x = fresh_rng().standard_normal((1, 1, 5, 7))
    attrs = CubicResizeAttributes("pytorch_half_pixel")
    got = cubic_resize_reference(x, (1, 7), attrs)
    np.testing.assert_allclose(got[..., 0, :], x[..., 0, :], rtol=0, atol=1e-12)
    model = single_resize_model(
        [1, 1, 5, 7], sizes=[1, 1, 1, 7], coordinate_transformation_mode="pytorch_half_pixel"
    )
    ort = run_onnxruntime(model, {"x": x.astype(np.float32)})[0]
    np.testing.assert_allclose(got, ort, rtol=1e-5, atol=1e-5)
    # ONNX's reference evaluator samples -0.5 here, against the specification text.
    onnx_ref = ReferenceEvaluator(model).run(None, {"x": x.astype(np.float32)})[0]
    assert not np.allclose(got, onnx_ref, atol=1e-3)


def test_align_corners_with_a_given_scale_uses_the_fractional_length():
    x = fresh_rng().standard_normal((1, 1, 4, 4))
    attrs = CubicResizeAttributes("align_corners")
    # 4 * 0.8 = 3.2: ONNX divides by 3.2 - 1, not by 3 - 1.
    with_scale = cubic_resize_reference(x, (3, 3), attrs, (0.8, 0.8))
    from_sizes = cubic_resize_reference(x, (3, 3), attrs)
    np.testing.assert_allclose(from_sizes[..., -1, -1], x[..., -1, -1], atol=1e-12)
    assert not np.allclose(with_scale, from_sizes, atol=1e-3)


# PyTorch's bicubic, transcribed from the algorithm of aten's upsample_bicubic2d (area_pixel_compute_scale,
# area_pixel_compute_source_index with cubic=True, 4 clamped taps, A = -0.75), one axis at a time.
def _torch_axis(n_in: int, n_out: int, align_corners: bool, scale: float | None) -> np.ndarray:
    if align_corners:
        ratio = (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
    else:
        ratio = 1.0 / scale if scale else n_in / n_out
    a = -0.75

    def near(t):
        return ((a + 2) * t - (a + 3)) * t * t + 1

    def far(t):
        return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a

    weights = np.zeros((n_out, n_in))
    for o in range(n_out):
        src = ratio * o if align_corners else ratio * (o + 0.5) - 0.5
        i0 = math.floor(src)
        t = src - i0
        for k, w in enumerate((far(t + 1), near(t), near(1 - t), far(2 - t))):
            weights[o, min(max(i0 - 1 + k, 0), n_in - 1)] += w
    return weights


def _torch_bicubic(x, out_hw, align_corners, scales=None):
    sh, sw = scales if scales else (None, None)
    wh = _torch_axis(x.shape[-2], out_hw[0], align_corners, sh)
    ww = _torch_axis(x.shape[-1], out_hw[1], align_corners, sw)
    return wh @ x @ ww.T


RESIZES = [((5, 7), (10, 14)), ((8, 9), (3, 4)), ((6, 6), (13, 5)), ((9, 4), (2, 11)), ((16, 16), (7, 29))]


@pytest.mark.parametrize("in_hw,out_hw", RESIZES)
@pytest.mark.parametrize("align_corners", [False, True])
def test_equals_pytorch_bicubic_from_sizes(in_hw, out_hw, align_corners):
    x = fresh_rng().standard_normal((2, 3, *in_hw))
    mode = "align_corners" if align_corners else "pytorch_half_pixel"
    got = cubic_resize_reference(x, out_hw, CubicResizeAttributes(mode))
    np.testing.assert_allclose(got, _torch_bicubic(x, out_hw, align_corners), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("scale", [2.0, 0.5, 1.7, 0.3, 3.0])
def test_equals_pytorch_bicubic_from_scale_factor(scale):
    x = fresh_rng().standard_normal((1, 2, 7, 9))
    out_hw = (math.floor(7 * scale), math.floor(9 * scale))
    got = cubic_resize_reference(x, out_hw, CubicResizeAttributes("pytorch_half_pixel"), (scale, scale))
    want = _torch_bicubic(x, out_hw, False, (scale, scale))
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


def test_pytorch_departs_at_output_length_one_without_align_corners():
    x = fresh_rng().standard_normal((1, 1, 5, 7))
    half = cubic_resize_reference(x, (1, 3), CubicResizeAttributes("pytorch_half_pixel"))
    assert not np.allclose(half, _torch_bicubic(x, (1, 3), False), atol=1e-3)
    corners = cubic_resize_reference(x, (1, 3), CubicResizeAttributes("align_corners"))
    np.testing.assert_allclose(corners, _torch_bicubic(x, (1, 3), True), atol=1e-12)


def test_equals_pytorch_itself_where_installed():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed; the transcription above stands in")
    functional = torch.nn.functional
    rng = fresh_rng()
    for in_hw, out_hw in [*RESIZES, ((5, 7), (1, 3))]:
        x = rng.standard_normal((2, 3, *in_hw))
        for align_corners in (False, True):
            want = functional.interpolate(
                torch.from_numpy(x), size=out_hw, mode="bicubic", align_corners=align_corners
            ).numpy()
            np.testing.assert_allclose(_torch_bicubic(x, out_hw, align_corners), want, rtol=1e-10, atol=1e-10)
            if min(out_hw) > 1 or align_corners:
                mode = "align_corners" if align_corners else "pytorch_half_pixel"
                got = cubic_resize_reference(x, out_hw, CubicResizeAttributes(mode))
                np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    for scale in (2.0, 0.5, 1.7, 0.3):
        x = rng.standard_normal((1, 2, 7, 9))
        want = functional.interpolate(torch.from_numpy(x), scale_factor=scale, mode="bicubic").numpy()
        got = cubic_resize_reference(
            x, want.shape[-2:], CubicResizeAttributes("pytorch_half_pixel"), (scale, scale)
        )
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("mode", COORDINATE_MODES)
def test_unchanged_axes_are_copied(mode):
    x = fresh_rng().standard_normal((2, 5, 6))
    got = cubic_resize_reference(x, (5, 6), CubicResizeAttributes(mode, antialias=1))
    np.testing.assert_array_equal(got, x)


@pytest.mark.parametrize(
    "attrs",
    CONFIGS,
    ids=lambda a: f"{a.coordinate_transformation_mode}-ex{a.exclude_outside}-aa{a.antialias}",
)
def test_weights_are_normalised_where_the_mode_renormalises(attrs):
    for n_in, n_out in ((7, 16), (16, 5), (3, 1)):
        sums = axis_weights(n_in, n_out, attrs).sum(axis=1)
        # Keys weights of 4 clamped taps sum to 1 by construction; antialias and exclude_outside divide by the sum.
        np.testing.assert_allclose(sums, 1.0, atol=1e-12)


def test_keys_kernel_values():
    np.testing.assert_allclose(keys_kernel(np.array([0.0, 1.0, 2.0, 2.5]), -0.75), [1.0, 0.0, 0.0, 0.0])
    np.testing.assert_allclose(keys_kernel(np.array([0.5, -0.5, 1.5]), -0.5), [0.5625, 0.5625, -0.0625])


def test_coordinate_mode_codes_follow_the_kernel_header():
    header = (REPO / "csrc" / "kernels" / "cubic_resize.h").read_text()
    enum = {name.lower(): int(value) for name, value in re.findall(r"TRTC_COORD_(\w+)\s*=\s*(\d+)", header)}
    assert enum == {mode: coordinate_mode_code(mode) for mode in COORDINATE_MODES}


def test_output_is_float64_for_any_input_type():
    x = fresh_rng().standard_normal((1, 3, 4, 4)).astype(np.float16)
    assert cubic_resize_reference(x, (8, 8), CubicResizeAttributes()).dtype == np.float64


@pytest.mark.parametrize(
    "kwargs",
    [
        {"coordinate_transformation_mode": "tf_crop_and_resize"},
        {"exclude_outside": 2},
        {"antialias": -1},
        {"cubic_coeff_a": float("nan")},
    ],
)
def test_bad_attributes_are_refused(kwargs):
    with pytest.raises(ValueError):
        CubicResizeAttributes(**kwargs)


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="rank >= 2"):
        cubic_resize_reference(np.ones(3), (2, 2), CubicResizeAttributes())
    with pytest.raises(ValueError, match="scale"):
        cubic_resize_reference(np.ones((3, 3)), (2, 2), CubicResizeAttributes(), (0.0, 1.0))


@pytest.mark.parametrize("n_in,scale", [(10, 0.7), (7, 2.3), (9, 1.6), (13, 0.45), (1000, 0.3), (5, 3.0)])
def test_output_length_from_scale_matches_onnx_shape_rules(n_in, scale):
    model = single_resize_model([1, 1, 1, n_in], scales=[1.0, 1.0, 1.0, scale])
    x = fresh_rng().standard_normal((1, 1, 1, n_in)).astype(np.float32)
    want = ReferenceEvaluator(model).run(None, {"x": x})[0].shape[-1]
    assert output_length_from_scale(n_in, scale) == want


def test_onnxruntime_rounds_output_length_differently_at_ten_times_point_seven():
    """onnxruntime multiplies in float32: 10 * 0.7f rounds up to 7, where ONNX's exact product floors to 6."""
    model = single_resize_model([1, 1, 1, 10], scales=[1.0, 1.0, 1.0, 0.7])
    x = fresh_rng().standard_normal((1, 1, 1, 10)).astype(np.float32)
    assert run_onnxruntime(model, {"x": x})[0].shape[-1] == 7
    assert output_length_from_scale(10, 0.7) == 6
