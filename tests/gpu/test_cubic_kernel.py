"""The CUDA cubic resize kernel against the float64 reference (trtconvert.ops.resize_reference).

Every run draws fresh random inputs and fills the output with NaN first, so an element the kernel fails to
write fails the test. Error is ||out - ref|| / ||ref|| with ref computed from the very values the kernel read
(inputs rounded to the tested type first); limits: 1e-5 in FP32, 1e-2 in FP16, 2e-2 in BF16.
"""

from __future__ import annotations

import ctypes
import math

import numpy as np
import pytest
from kernel_binding import ERRORS
from seeds import fresh_rng

from trtconvert.native.kernel_abi import DTYPE_CODES, CubicResizeParams
from trtconvert.ops.resize_reference import (
    COORDINATE_MODES,
    CubicResizeAttributes,
    coordinate_mode_code,
    cubic_resize_reference,
)

pytestmark = pytest.mark.gpu

TOLERANCE = {"float32": 1e-5, "float16": 1e-2, "bfloat16": 2e-2}
CUDA_ERROR_INVALID_VALUE = 1


def _params(attrs: CubicResizeAttributes, scales_hw: tuple[float, float] | None) -> CubicResizeParams:
    scale_h, scale_w = (0.0, 0.0) if scales_hw is None else scales_hw
    return CubicResizeParams(
        coordinate_mode_code(attrs.coordinate_transformation_mode),
        attrs.cubic_coeff_a,
        attrs.exclude_outside,
        attrs.antialias,
        scale_h,
        scale_w,
    )


def run_kernel(torch, lib, x, out_hw, attrs, scales_hw=None, stream=None):
    """Resize the CUDA tensor ``x`` with the kernel into a NaN-poisoned output; returns the output."""
    out = torch.full((*x.shape[:-2], *out_hw), float("nan"), dtype=x.dtype, device=x.device)
    stream = stream if stream is not None else torch.cuda.current_stream()
    params = _params(attrs, scales_hw)
    rc = lib.trtc_cubic_resize(
        x.data_ptr(),
        out.data_ptr(),
        DTYPE_CODES[str(x.dtype).removeprefix("torch.")],
        math.prod(x.shape[:-2]),
        x.shape[-2],
        x.shape[-1],
        out_hw[0],
        out_hw[1],
        ctypes.byref(params),
        stream.cuda_stream,
    )
    assert rc == 0, f"trtc_cubic_resize returned CUDA error {rc}"
    stream.synchronize()
    return out


def random_input(torch, shape, dtype_name):
    """Fresh standard-normal input on the GPU, and the float64 values the kernel will actually read."""
    values = fresh_rng().standard_normal(shape).astype(np.float32)
    x = torch.from_numpy(values).to(getattr(torch, dtype_name)).cuda()
    return x, x.float().cpu().numpy().astype(np.float64)


def relative_error(out: np.ndarray, ref: np.ndarray) -> float:
    return float(np.linalg.norm(out - ref) / np.linalg.norm(ref))


def check(torch, lib, shape, out_hw, attrs, dtype_name="float32", scales_hw=None) -> float:
    """Run kernel and reference on one fresh input; assert all outputs written and the error in tolerance."""
    if scales_hw is not None:
        # The ABI carries FP32 scales: hand the reference the same numbers.
        scales_hw = tuple(float(np.float32(s)) for s in scales_hw)
    x, x64 = random_input(torch, shape, dtype_name)
    ref = cubic_resize_reference(x64, out_hw, attrs, scales_hw)
    out = run_kernel(torch, lib, x, out_hw, attrs, scales_hw).float().cpu().numpy().astype(np.float64)
    assert out.shape == ref.shape
    written = np.isfinite(out)
    assert written.all(), f"{(~written).sum()} of {out.size} outputs unwritten or not finite"
    err = relative_error(out, ref)
    ERRORS.setdefault(dtype_name, []).append(err)
    assert err <= TOLERANCE[dtype_name], f"relative error {err:.3g} over {TOLERANCE[dtype_name]:g}"
    return err


# (input H, W) -> (output H, W): lengths 1, 2, 3 and 7 up and down, non-square, and a 13x17 case that
# downscales enough for antialias to widen the kernel on one axis while the other upscales.
SMALL_CASES = [
    ((1, 1), (1, 1)),
    ((1, 1), (3, 7)),
    ((2, 3), (1, 1)),
    ((3, 2), (7, 3)),
    ((7, 7), (2, 3)),
    ((7, 3), (3, 7)),
    ((2, 7), (7, 2)),
    ((13, 17), (29, 6)),
]


@pytest.mark.parametrize("antialias", [0, 1])
@pytest.mark.parametrize("exclude_outside", [0, 1])
@pytest.mark.parametrize("mode", COORDINATE_MODES)
@pytest.mark.parametrize(("in_hw", "out_hw"), SMALL_CASES, ids=lambda v: "x".join(map(str, v)))
def test_modes_and_options(torch_cuda, kernel_lib, in_hw, out_hw, mode, exclude_outside, antialias):
    attrs = CubicResizeAttributes(mode, -0.75, exclude_outside, antialias)
    check(torch_cuda, kernel_lib, (2, 3, *in_hw), out_hw, attrs)


@pytest.mark.parametrize("dtype_name", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("mode", COORDINATE_MODES)
@pytest.mark.parametrize(
    ("out_hw", "antialias"),
    [((75, 106), 0), ((18, 26), 0), ((18, 26), 1), ((9, 150), 1)],
    ids=["up", "down", "down-antialias", "mixed-antialias"],
)
def test_dtypes(torch_cuda, kernel_lib, dtype_name, mode, out_hw, antialias):
    attrs = CubicResizeAttributes(mode, -0.75, 0, antialias)
    check(torch_cuda, kernel_lib, (2, 3, 37, 53), out_hw, attrs, dtype_name)


@pytest.mark.parametrize("dtype_name", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize(
    ("in_hw", "out_hw", "antialias"),
    [
        ((3, 4097), (7, 4111), 0),
        ((2, 4097), (3, 1023), 0),
        ((2, 4097), (3, 1023), 1),
        ((4097, 2), (8194, 3), 0),
        ((4097, 3), (1025, 2), 1),
    ],
    ids=["wide-up", "wide-down", "wide-down-antialias", "tall-up", "tall-down-antialias"],
)
def test_length_4097(torch_cuda, kernel_lib, dtype_name, in_hw, out_hw, antialias):
    attrs = CubicResizeAttributes("half_pixel", -0.75, 0, antialias)
    check(torch_cuda, kernel_lib, (1, 2, *in_hw), out_hw, attrs, dtype_name)


@pytest.mark.parametrize("exclude_outside", [0, 1])
@pytest.mark.parametrize("dtype_name", ["float32", "float16"])
def test_extreme_antialias_downscale(torch_cuda, kernel_lib, dtype_name, exclude_outside):
    """4097 -> 3 with antialias: thousands of taps per output, more than the weight tables can hold."""
    attrs = CubicResizeAttributes("half_pixel", -0.75, exclude_outside, 1)
    check(torch_cuda, kernel_lib, (1, 2, 5, 4097), (2, 3), attrs, dtype_name)


@pytest.mark.parametrize("antialias", [0, 1])
@pytest.mark.parametrize("exclude_outside", [0, 1])
@pytest.mark.parametrize("mode", COORDINATE_MODES)
@pytest.mark.parametrize(
    ("in_hw", "out_hw", "scales_hw"),
    [((5, 9), (12, 5), (2.5, 0.6)), ((5, 9), (9, 4), (1.7, 0.45)), ((6, 8), (3, 20), (0.5, 2.5))],
    ids=["floor-of-scaled", "fractional-length", "exact"],
)
def test_given_scales(torch_cuda, kernel_lib, in_hw, out_hw, scales_hw, mode, exclude_outside, antialias):
    attrs = CubicResizeAttributes(mode, -0.75, exclude_outside, antialias)
    check(torch_cuda, kernel_lib, (2, *in_hw), out_hw, attrs, scales_hw=scales_hw)


# An axis whose length and scale are unchanged is copied (reference docstring); without that rule,
# tf_half_pixel_for_nn would move it by half a pixel (relative error about 0.7 on these inputs). (input H, W),
# (output H, W), given scales or None: four-tap cases (quads, pairs), many-tap cases (an input under 4 long,
# antialias on downscale), and the on-the-fly path (4097 -> 3 with antialias).
COPIED_AXIS_CASES = [
    ((37, 53), (37, 106), None),
    ((37, 53), (75, 53), None),
    ((37, 53), (37, 53), None),
    ((37, 53), (37, 18), None),
    ((3, 53), (3, 20), None),
    ((37, 2), (80, 2), None),
    ((9, 12), (9, 30), (1.0, 2.5)),
    ((5, 4097), (5, 3), None),
]


def _case_id(case) -> str:
    (ih, iw), (oh, ow), scales = case
    return f"{ih}x{iw}-{oh}x{ow}" + ("" if scales is None else f"-scales{scales[0]:g},{scales[1]:g}")


@pytest.mark.parametrize("antialias", [0, 1])
@pytest.mark.parametrize("exclude_outside", [0, 1])
@pytest.mark.parametrize("dtype_name", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("case", COPIED_AXIS_CASES, ids=_case_id)
def test_copied_axis_tf_half_pixel_for_nn(
    torch_cuda, kernel_lib, case, dtype_name, exclude_outside, antialias
):
    in_hw, out_hw, scales_hw = case
    attrs = CubicResizeAttributes("tf_half_pixel_for_nn", -0.75, exclude_outside, antialias)
    check(torch_cuda, kernel_lib, (2, 3, *in_hw), out_hw, attrs, dtype_name, scales_hw)


@pytest.mark.parametrize("antialias", [0, 1])
@pytest.mark.parametrize("mode", COORDINATE_MODES)
@pytest.mark.parametrize("case", [COPIED_AXIS_CASES[i] for i in (0, 1, 4, 6)], ids=_case_id)
def test_copied_axis_every_mode(torch_cuda, kernel_lib, case, mode, antialias):
    in_hw, out_hw, scales_hw = case
    attrs = CubicResizeAttributes(mode, -0.6, 1, antialias)
    check(torch_cuda, kernel_lib, (2, *in_hw), out_hw, attrs, scales_hw=scales_hw)


@pytest.mark.parametrize(("exclude_outside", "antialias"), [(0, 0), (1, 1)])
@pytest.mark.parametrize("dtype_name", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("mode", COORDINATE_MODES)
@pytest.mark.parametrize("in_hw", [(37, 53), (3, 5)], ids=lambda v: "x".join(map(str, v)))
def test_unchanged_shape_is_an_exact_copy(
    torch_cuda, kernel_lib, in_hw, mode, dtype_name, exclude_outside, antialias
):
    """Both axes unchanged: every element comes back bit for bit. At A = -0.5601893 the Keys polynomial
    evaluated in FP32 gives 1 - 2^-24, not 1, at distance 0, so only weights set exactly to 0 1 0 0 pass."""
    torch = torch_cuda
    x, _ = random_input(torch, (2, 3, *in_hw), dtype_name)
    attrs = CubicResizeAttributes(mode, -0.5601893, exclude_outside, antialias)
    out = run_kernel(torch, kernel_lib, x, in_hw, attrs)
    assert torch.equal(out, x), f"{(out != x).sum().item()} of {x.numel()} elements differ from the input"


# Width downscaled by 2 to 3 (column pairs whose windows span 7 inputs): 16-bit rows of even length from a
# 4-byte aligned start are loaded as 32-bit words, in runs starting at an even input and clamped to the row's
# end. The offset input (start 2 bytes past an aligned address) takes the element-wise path instead. Lengths 8
# and 10 put every run against the clamp.
WORD_RUN_CASES = [((21, 64), (9, 26)), ((12, 8), (5, 3)), ((12, 10), (5, 4))]


@pytest.mark.parametrize("offset", [0, 1], ids=["aligned", "offset"])
@pytest.mark.parametrize("exclude_outside", [0, 1])
@pytest.mark.parametrize("mode", COORDINATE_MODES)
@pytest.mark.parametrize("dtype_name", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize(("in_hw", "out_hw"), WORD_RUN_CASES, ids=lambda v: "x".join(map(str, v)))
def test_downscale_word_runs(
    torch_cuda, kernel_lib, in_hw, out_hw, dtype_name, mode, exclude_outside, offset
):
    torch = torch_cuda
    shape = (2, 3, *in_hw)
    x, x64 = random_input(torch, shape, dtype_name)
    if offset:
        storage = torch.empty(x.numel() + offset, dtype=x.dtype, device=x.device)
        storage[offset:].copy_(x.flatten())
        x = storage[offset:].view(shape)
    attrs = CubicResizeAttributes(mode, -0.75, exclude_outside, 0)
    ref = cubic_resize_reference(x64, out_hw, attrs)
    out = run_kernel(torch, kernel_lib, x, out_hw, attrs).float().cpu().numpy().astype(np.float64)
    assert np.isfinite(out).all(), "outputs unwritten or not finite"
    err = relative_error(out, ref)
    ERRORS.setdefault(dtype_name, []).append(err)
    assert err <= TOLERANCE[dtype_name], f"relative error {err:.3g} over {TOLERANCE[dtype_name]:g}"


# Staged input (16-bit data whose rows are a whole number of 16-byte copies from a 16-byte aligned start, in
# launches large enough to fill the GPU with full strips): each warp copies its row segments into a ring in
# shared memory several rows ahead, on across the planes of its block. The same values one element past an
# aligned address take the register path, with the same arithmetic, so the two outputs must be equal, besides
# matching the reference. Every case but the last launches at least 1000 blocks of full strips (more than any
# GPU holds at once). Cases: 2x upscale over two column groups (the second partial); scale just over 1 (the
# widest segment of quads); 8 columns (one copy per row); 5 input rows per plane (the prefetch crosses several
# planes); downscale by 2.13 (pairs, two copies per lane); downscale by 2.56 (segments too wide: the register
# path both times).
STAGED_CASES = [
    ((1000, 24, 64), (50, 130)),
    ((1000, 8, 128), (9, 130)),
    ((2000, 5, 8), (9, 16)),
    ((4000, 5, 16), (9, 40)),
    ((600, 12, 512), (5, 240)),
    ((2, 20, 256), (9, 100)),
]
STAGED_IDS = ["up2-two-groups", "up1.016", "eight-columns", "planes-across", "down2.13", "down2.56"]


@pytest.mark.parametrize("exclude_outside", [0, 1])
@pytest.mark.parametrize("mode", COORDINATE_MODES)
@pytest.mark.parametrize("dtype_name", ["float16", "bfloat16"])
@pytest.mark.parametrize(("shape", "out_hw"), STAGED_CASES, ids=STAGED_IDS)
def test_staged_rows_match_the_register_path(
    torch_cuda, kernel_lib, shape, out_hw, dtype_name, mode, exclude_outside
):
    torch = torch_cuda
    x, x64 = random_input(torch, shape, dtype_name)
    assert x.data_ptr() % 16 == 0
    storage = torch.empty(x.numel() + 1, dtype=x.dtype, device=x.device)
    storage[1:].copy_(x.flatten())
    shifted = storage[1:].view(shape)
    attrs = CubicResizeAttributes(mode, -0.75, exclude_outside, 0)
    staged = run_kernel(torch, kernel_lib, x, out_hw, attrs)
    unstaged = run_kernel(torch, kernel_lib, shifted, out_hw, attrs)
    assert torch.equal(staged, unstaged), (
        f"{(staged != unstaged).sum().item()} outputs differ between the paths"
    )
    ref = cubic_resize_reference(x64, out_hw, attrs)
    out = staged.float().cpu().numpy().astype(np.float64)
    assert np.isfinite(out).all(), "outputs unwritten or not finite"
    err = relative_error(out, ref)
    ERRORS.setdefault(dtype_name, []).append(err)
    assert err <= TOLERANCE[dtype_name], f"relative error {err:.3g} over {TOLERANCE[dtype_name]:g}"


@pytest.mark.parametrize("exclude_outside", [0, 1])
@pytest.mark.parametrize("cubic_coeff_a", [-0.5, -0.75, -1.0])
def test_cubic_coeff_a(torch_cuda, kernel_lib, cubic_coeff_a, exclude_outside):
    attrs = CubicResizeAttributes("asymmetric", cubic_coeff_a, exclude_outside, 0)
    check(torch_cuda, kernel_lib, (3, 19, 23), (41, 11), attrs)


@pytest.mark.parametrize("shape", [(9, 10), (3, 9, 10), (2, 1, 3, 9, 10), (70000, 1, 3)], ids=str)
def test_ranks_and_many_planes(torch_cuda, kernel_lib, shape):
    out_hw = (17, 4) if shape[-1] > 3 else (2, 5)
    check(torch_cuda, kernel_lib, shape, out_hw, CubicResizeAttributes("half_pixel"))


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize(
    ("in_hw", "out_hw"), [((64, 48), (128, 97)), ((64, 48), (31, 20))], ids=["up", "down"]
)
def test_matches_pytorch_bicubic(torch_cuda, kernel_lib, in_hw, out_hw, align_corners):
    """PyTorch's bicubic is pytorch_half_pixel / align_corners with A = -0.75 and clamped taps."""
    torch = torch_cuda
    mode = "align_corners" if align_corners else "pytorch_half_pixel"
    x, _ = random_input(torch, (2, 3, *in_hw), "float32")
    ours = run_kernel(torch, kernel_lib, x, out_hw, CubicResizeAttributes(mode))
    theirs = torch.nn.functional.interpolate(x, size=out_hw, mode="bicubic", align_corners=align_corners)
    err = relative_error(ours.double().cpu().numpy(), theirs.double().cpu().numpy())
    assert err <= 1e-5, f"relative error against PyTorch {err:.3g}"


def test_runs_on_the_given_stream(torch_cuda, kernel_lib):
    """The kernel must wait for earlier work on its stream: here a slow write of the input on a side stream."""
    torch = torch_cuda
    side = torch.cuda.Stream()
    x, _ = random_input(torch, (4, 256, 256), "float32")
    fresh, fresh64 = random_input(torch, (4, 256, 256), "float32")
    torch.cuda.synchronize()
    with torch.cuda.stream(side):
        torch.cuda._sleep(50_000_000)  # tens of milliseconds of GPU time before the input changes
        x.copy_(fresh)
    attrs = CubicResizeAttributes("half_pixel")
    out = run_kernel(torch, kernel_lib, x, (300, 200), attrs, stream=side)
    ref = cubic_resize_reference(fresh64, (300, 200), attrs)
    assert relative_error(out.double().cpu().numpy(), ref) <= TOLERANCE["float32"]


def test_zero_sized_output_writes_nothing(torch_cuda, kernel_lib):
    torch = torch_cuda
    x, _ = random_input(torch, (2, 5, 5), "float32")
    out = torch.full((8,), float("nan"), device="cuda")
    params = _params(CubicResizeAttributes(), None)
    stream = torch.cuda.current_stream().cuda_stream
    for planes, out_h, out_w in [(0, 2, 2), (2, 0, 4), (2, 4, 0)]:
        rc = kernel_lib.trtc_cubic_resize(
            x.data_ptr(), out.data_ptr(), 0, planes, 5, 5, out_h, out_w, ctypes.byref(params), stream
        )
        assert rc == 0
    torch.cuda.synchronize()
    assert torch.isnan(out).all()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("dtype", 3),
        ("in_h", 0),
        ("out_w", -1),
        ("coordinate_mode", 6),
        ("exclude_outside", 2),
        ("antialias", -1),
    ],
)
def test_invalid_arguments(torch_cuda, kernel_lib, field, value):
    torch = torch_cuda
    x, _ = random_input(torch, (1, 5, 5), "float32")
    out = torch.full((1, 4, 4), float("nan"), device="cuda")
    args = {"dtype": 0, "in_h": 5, "out_w": 4}
    params = _params(CubicResizeAttributes(), None)
    if field in args:
        args[field] = value
    else:
        setattr(params, field, value)
    rc = kernel_lib.trtc_cubic_resize(
        x.data_ptr(),
        out.data_ptr(),
        args["dtype"],
        1,
        args["in_h"],
        5,
        4,
        args["out_w"],
        ctypes.byref(params),
        torch.cuda.current_stream().cuda_stream,
    )
    assert rc == CUDA_ERROR_INVALID_VALUE


# Candidate builds (TRTCONVERT_KERNEL_VARIANTS) against the default library, bit for bit: every candidate keeps
# the arithmetic. The cases reach each path a candidate changes: staged quads with full and partial groups of
# 256 columns (wide quads; rows of a multiple of 8 outputs), a scale just over 1 (quads of span 7, the widest
# segments), 5 input rows per plane (the ring across planes), pairs with two copies per lane, the register
# kernel on small launches (fuller blocks, deep quads), and small downscales; aligned and one element off.
VARIANT_CASES = [
    ((600, 32, 256), (64, 512)),
    ((1200, 24, 64), (50, 136)),
    ((2000, 8, 128), (9, 136)),
    ((4000, 5, 16), (9, 40)),
    ((600, 12, 512), (5, 240)),
    ((3, 256, 256), (1024, 1024)),
    ((3, 64, 96), (301, 200)),
    ((70, 33, 64), (15, 26)),
]


@pytest.mark.parametrize("offset", [0, 1], ids=["aligned", "offset"])
@pytest.mark.parametrize("exclude_outside", [0, 1])
@pytest.mark.parametrize("mode", ["half_pixel", "tf_half_pixel_for_nn"])
@pytest.mark.parametrize("dtype_name", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize(("shape", "out_hw"), VARIANT_CASES, ids=lambda v: "x".join(map(str, v)))
def test_variant_matches_the_default_bit_for_bit(
    torch_cuda, kernel_lib, default_kernel_lib, shape, out_hw, dtype_name, mode, exclude_outside, offset
):
    if kernel_lib is default_kernel_lib:
        pytest.skip("no candidate build: set TRTCONVERT_KERNEL_VARIANTS=NAME=PATH,...")
    # The default build's accuracy is what the rest of this file checks; here only the bits are compared
    # (a float64 reference of these sizes would take most of the run).
    torch = torch_cuda
    seed = int(fresh_rng(f"variant {shape} {dtype_name} {mode} {exclude_outside}").integers(1 << 62))
    x = torch.randn(shape, generator=torch.Generator().manual_seed(seed)).to(getattr(torch, dtype_name))
    storage = torch.empty(x.numel() + offset, dtype=x.dtype, device="cuda")
    storage[offset:].copy_(x.flatten())
    x = storage[offset:].view(shape)
    attrs = CubicResizeAttributes(mode, -0.75, exclude_outside, 0)
    ours = run_kernel(torch, kernel_lib, x, out_hw, attrs)
    default = run_kernel(torch, default_kernel_lib, x, out_hw, attrs)
    assert bool(torch.isfinite(ours).all()), "outputs unwritten or not finite"
    bits = torch.int32 if dtype_name == "float32" else torch.int16
    same = ours.view(bits) == default.view(bits)
    assert bool(same.all()), f"{int((~same).sum())} of {same.numel()} outputs differ from the default build"
