"""The `auto` rewrite policy measured on the installed TensorRT, not assumed.

Every cubic Resize case runs through the installed TensorRT's own Resize (no rewrite) and is compared with what
ONNX computes: ONNX's 11 backend test cases with their expected outputs, and cases of the other coordinate modes
and of output length 1 with the float64 reference of trtconvert.ops (which matches those backend cases to
1e-5) as the expected output. Then, for each case:

- `--rewrite auto` for this TensorRT keeps the Resize exactly where the native result matches, and rewrites it
  where TensorRT rejects it or computes something else;
- the model `auto` prepared, built with the plugin library where it holds a plugin node, matches ONNX.

"Matches" means within atol 1e-4 + rtol 1e-4 in float32 (TF32 off, polygraphy's default); a different
algorithm misses by far more. With TRTCONVERT_TEST_RECORD=DIR each case appends a row of the measured table to
DIR/cubic_cases.md.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import numpy as np
import onnx
import pytest
from resize_models import backend_case_model, onnx_backend_cubic_cases, single_resize_model
from tensorrt_machine import NEEDS_TENSORRT_AND_GPU, TARGET, TRT

from trtconvert.ops.resize_reference import CubicResizeAttributes, cubic_resize_reference

pytestmark = NEEDS_TENSORRT_AND_GPU

TOLERANCE = {"atol": 1e-4, "rtol": 1e-4}


def _reference_case(name: str, shape: list[int], out_hw: tuple[int, int], **attributes):
    """A Resize with constant sizes, expected output from the float64 reference on a fixed random input."""
    x = np.random.default_rng(zlib.crc32(name.encode())).standard_normal(shape).astype(np.float32)
    sizes = [*shape[:-2], *out_hw]
    model = single_resize_model(shape, sizes=sizes, opset=19, name=name, **attributes)
    attrs = CubicResizeAttributes(
        coordinate_transformation_mode=str(attributes.get("coordinate_transformation_mode", "half_pixel")),
        cubic_coeff_a=float(attributes.get("cubic_coeff_a", -0.75)),
        exclude_outside=int(attributes.get("exclude_outside", 0)),
        antialias=int(attributes.get("antialias", 0)),
    )
    expected = cubic_resize_reference(x.astype(np.float64), out_hw, attrs).astype(np.float32)
    return name, model, {"x": x}, expected


def _cases():
    cases = []
    for name, node, inputs, expected in onnx_backend_cubic_cases():
        model = backend_case_model(node, inputs)
        cases.append((name.removeprefix("test_"), model, {node.input[0]: inputs[0]}, expected))
    cases += [
        _reference_case("pytorch_half_pixel_up", [1, 2, 5, 7], (9, 12), coordinate_transformation_mode="pytorch_half_pixel"),
        _reference_case("pytorch_half_pixel_length_1", [1, 2, 6, 7], (1, 5), coordinate_transformation_mode="pytorch_half_pixel"),
        _reference_case("tf_half_pixel_for_nn", [1, 2, 5, 7], (9, 4), coordinate_transformation_mode="tf_half_pixel_for_nn"),
        _reference_case("half_pixel_symmetric", [1, 2, 5, 7], (9, 4), coordinate_transformation_mode="half_pixel_symmetric"),
        _reference_case("align_corners_down_A_n0p5", [1, 2, 9, 8], (4, 5), coordinate_transformation_mode="align_corners", cubic_coeff_a=-0.5),
        _reference_case("asymmetric_exclude_outside_up", [1, 2, 4, 5], (11, 9), coordinate_transformation_mode="asymmetric", exclude_outside=1),
        _reference_case("half_pixel_exclude_outside_down", [1, 2, 12, 11], (5, 4), exclude_outside=1),
    ]  # fmt: skip
    return cases


CASES = _cases() if TRT is not None else []


def _record(row: str) -> None:
    folder = os.environ.get("TRTCONVERT_TEST_RECORD")
    if folder:
        with open(Path(folder) / "cubic_cases.md", "a") as table:
            table.write(row + "\n")


def _build_and_run(
    model: onnx.ModelProto, feeds: dict[str, np.ndarray], folder: Path, plugins: list[Path]
) -> np.ndarray:
    from polygraphy.backend.trt import (
        CreateConfig,
        EngineBytesFromNetwork,
        EngineFromBytes,
        LoadPlugins,
        NetworkFromOnnxPath,
        TrtRunner,
    )

    path = folder / "case.onnx"
    onnx.save(model, path)
    network = LoadPlugins(plugins=[str(p) for p in plugins], obj=NetworkFromOnnxPath(str(path)))
    engine = EngineBytesFromNetwork(network, config=CreateConfig(tf32=False))()
    with TrtRunner(EngineFromBytes(engine)) as runner:
        return np.array(next(iter(runner.infer(feeds).values())))


_NATIVE = """
import sys
import numpy as np
sys.path.insert(0, sys.argv[4])
from test_cubic_on_tensorrt import _build_and_run
import onnx
from pathlib import Path
feeds = dict(np.load(sys.argv[2]))
np.save(sys.argv[3], _build_and_run(onnx.load(sys.argv[1]), feeds, Path(sys.argv[3]).parent, []))
"""


def _native(model, feeds, expected, folder) -> tuple[str, float | None]:
    """What the installed TensorRT's own Resize gives: ('match'|'differs'|'rejected'|'crashed', max abs error).

    In a fresh process: TensorRT 8.5's builder dies with a segmentation fault on some cubic Resize nodes.
    """
    import subprocess
    import sys

    onnx.save(model, folder / "native.onnx")
    np.savez(folder / "feeds.npz", **feeds)
    done = subprocess.run(
        [sys.executable, "-c", _NATIVE, str(folder / "native.onnx"), str(folder / "feeds.npz"),
         str(folder / "native_out.npy"), str(Path(__file__).parent)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if done.returncode < 0:
        return f"crashed (signal {-done.returncode})", None
    if done.returncode != 0:
        lines = [
            line for line in (done.stdout + done.stderr).splitlines() if "ERROR" in line or "Error" in line
        ]
        return f"rejected ({(lines or ['exit ' + str(done.returncode)])[0][-80:]})", None
    got = np.load(folder / "native_out.npy")
    if got.shape != expected.shape:
        return f"differs (shape {list(got.shape)})", None
    error = float(np.max(np.abs(got - expected)))
    return ("match" if np.allclose(got, expected, **TOLERANCE) else "differs"), error


@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
def test_auto_policy_agrees_with_the_measured_tensorrt(case, plugin_library: Path, tmp_path: Path) -> None:
    from trtconvert.prepare.rewrite.stage import rewrite_model

    name, model, feeds, expected = case
    native, native_error = _native(model, feeds, expected, tmp_path)
    prepared = rewrite_model(model, "auto", TARGET)
    (decision,) = prepared.decisions
    got = _build_and_run(prepared.model, feeds, tmp_path, [plugin_library] if prepared.rewritten else [])
    auto_error = float(np.max(np.abs(got - expected))) if got.shape == expected.shape else float("inf")
    shown = f"{native_error:.2g}" if native_error is not None else "-"
    _record(f"| {name} | {native} | {shown} | {decision.decision} | {auto_error:.2g} |")
    # Keep exactly where TensorRT computes what ONNX computes.
    assert (decision.decision == "keep") == native.startswith("match"), (
        f"TensorRT {TRT.__version__}: native {native} (max abs {shown}), auto decided {decision.decision}: "
        f"{decision.reason}"
    )
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, **TOLERANCE)
