"""The TensorRT version a conversion targets, and what that version's ONNX parser does with cubic Resize and
with the element types of the model's inputs and outputs.

``--target-tensorrt VERSION`` picks the version; without it the installed TensorRT's version is used, else the
newest major this project knows. The capability table follows what each parser generation does with
``Resize(mode="cubic")``:

============  ==========================================================================================
TensorRT      cubic Resize in the ONNX parser
============  ==========================================================================================
<= 8.4        rejected
8.5 - 8.6     imported (cubic_coeff_a and exclude_outside passed through); opset 18+ attributes unknown;
              measured on 8.5.3 against ONNX's backend cases (benchmarks/results/tensorrt-8.5-h200-*.md):
              half_pixel_symmetric rejected, tf_half_pixel_for_nn crashes the builder, align_corners wrong
              where input length x scale is fractional; everything else matches ONNX
9.x           imported, but antialias, axes and keep_aspect_ratio_policy are silently ignored
10.0 - 11.x   rejected: antialias != 0, keep_aspect_ratio_policy != stretch, half_pixel_symmetric,
              tf_crop_and_resize, resizing an axis other than the two innermost, duplicate axes, axes other
              than all of them in order with runtime scales;
              imported but computed differently: tf_half_pixel_for_nn
============  ==========================================================================================

Every TensorRT resizes with cubic only over the two innermost axes (``InterpolationMode::kCUBIC``, "bicubic (2D)",
in NvInfer.h of 8.5.3, 10.x and 11.1); versions newer than the newest known major are assumed to behave like it.

Where the 10.0 - 11.x row comes from: it is read from the ONNX parser's sources, not measured (no TensorRT 10
or 11 engine has been built for it). The sources read are onnx/onnx-tensorrt at ``release/10.0-GA`` and
``release/10.1-GA``: the Resize checker in ``onnxOpCheckers.cpp`` (antialias, keep_aspect_ratio_policy, the
coordinate modes it knows, unique axes) and the Resize importer in ``onnxOpImporters.cpp`` (half_pixel_symmetric
and tf_crop_and_resize refused; constant scales may resize only the two innermost axes; a scales tensor only with
trivial axes; tf_half_pixel_for_nn imported as half_pixel, whose source coordinate is 0.5 below ONNX's). The
parser sources of 10.2 to 10.16 and 11.x were not available to check: the row assumes they keep this behaviour.
pytorch_half_pixel is imported as half_pixel with ``ResizeSelector::kUPPER`` at output length 1 (the first
pixel, ONNX's source coordinate 0), the same mapping as 8.5's ``builtin_op_importers.cpp``, which the 8.5.3
measurements found to match ONNX; so it is not rewritten. tests/test_tensorrt_target.py holds each fact to its
source line.

Element types (``convertDtype`` in onnx-tensorrt: ``onnx2trt_utils.cpp`` at release/8.5-GA, release/8.6-GA and
9.0-GA, ``importerUtils.cpp`` at release/10.0-GA and 10.1-GA): the parser binds an ONNX DOUBLE input as FLOAT on
every version (TensorRT has no 64-bit float) and INT64 as INT32 before 9.0, whose DataType gained INT64 (NVIDIA/
TensorRT ``python/src/infer/pyFoundationalTypes.cpp`` lists none at 8.5.3 and lists it at v9.1.0); the layers
and outputs computed from them follow. So an engine of a model with an int64 input takes int32 on 8.5 and 8.6,
and one with a float64 input takes float32 everywhere: what verify feeds it and what Triton's config declares.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
from dataclasses import dataclass, field
from pathlib import Path

from trtconvert.errors import BadInput, shown
from trtconvert.numbers import whole_number

NEWEST_MAJOR = 11
# The TensorRT versions trtconvert builds and runs engines with, and the oldest one's (major, minor).
OLDEST_SUPPORTED = (8, 5)
SUPPORTED_RANGE = "8.5 to 11.x"

# Builder features that arrived after the oldest supported version: (major, minor) it needs, and what the user
# asked for by it. Checked against the installed TensorRT before anything slow runs.
BUILDER_FEATURES = {
    "opt_level": ((8, 6), "--opt-level (the builder optimization level)"),
    "version_compatible": ((8, 6), "--version-compatible"),
    "hardware_compatibility": ((8, 6), "--hardware-compatibility"),
    "bf16": ((9, 0), "--precision bf16"),
    "strongly_typed": ((9, 0), "a strongly typed network"),
    "progress_monitor": ((10, 0), "TensorRT's build progress monitor"),
    "plugin_load_library": ((8, 6), "IPluginRegistry.load_library"),
    "plugin_shape_inputs": ((10, 1), "plugin shape inputs (tensorrt_plugin_shape_input_indices)"),
}


@dataclass(frozen=True)
class Evidence:
    """How trtconvert's support of a range of TensorRT versions was checked, layer by layer.

    ``measured``: real engines built and run; ``argument_level``: tests that check what trtconvert hands to
    polygraphy and TensorRT, on stand-ins, without TensorRT; ``compiled``: the plugin compiled against the
    headers and driven by a stand-in registry, no TensorRT library; ``sources``: facts read from TensorRT's
    sources, not run. The README's version table is these rows (tested), and `doctor` prints the installed
    version's.
    """

    versions: str
    first: tuple[int, int]
    last_major: int
    measured: str
    argument_level: str
    compiled: str
    sources: str

    def covers(self, target: TensorRTTarget) -> bool:
        return (target.major, target.minor) >= self.first and target.major <= self.last_major

    def summary(self) -> str:
        layers = [
            ("measured", self.measured),
            ("argument level", self.argument_level),
            ("compiled", self.compiled),
            ("from sources", self.sources),
        ]
        return "; ".join(f"{name}: {text}" for name, text in layers if text)


_NONE_MEASURED = "nothing (no engine has been built with it)"
EVIDENCE = (
    Evidence(
        "8.5 - 8.6",
        (8, 5),
        8,
        measured=(
            "8.5.3.1 on an H200 and an H100 (the tensorrt test suite: engines with and without the plugin, FP32, FP16 and INT8, "
            "plans in fresh processes, the shared real models, the cubic Resize cases; the bundled example end to "
            "end; bench, with --layers and --cuda-graph; export triton and fleet with real plans); not yet passed on "
            "a GPU: explicit INT8 from Q/DQ, int64 inputs, --keep-fp32 in If bodies, the layers of a two-profile plan "
            "(failed on 2026-12-08, fixed since); 8.6 has not been run"
        ),
        argument_level="",
        compiled="the plugin against the 8.5.3 and 8.6.1 headers, -Werror",
        sources="",
    ),
    Evidence(
        "9.x",
        (9, 0),
        9,
        measured=_NONE_MEASURED,
        argument_level="the version rules (what it lacks, its plugin interface), on stand-in tensorrt modules",
        compiled="the plugin against the 9.3 headers, -Werror, with a stand-in registry",
        sources="",
    ),
    Evidence(
        "10.x, 11.x",
        (10, 0),
        NEWEST_MAJOR,
        measured=_NONE_MEASURED,
        argument_level=(
            "what is handed to polygraphy and TensorRT's Python bindings on the paths that differ from 8.5 "
            "(strongly typed networks, the progress monitor, precision by ONNX conversion for 11, plugin loading), "
            "on stand-ins; the FP16 ONNX conversion itself is verified on the CPU against onnxruntime"
        ),
        compiled="the plugin against the 10.0 to 10.16 and 11.1 headers, -Werror, with a stand-in registry",
        sources=(
            "the cubic Resize table, from onnx-tensorrt's Resize checker and importer at release/10.0-GA and "
            "release/10.1-GA (later parsers assumed to match)"
        ),
    ),
)


def evidence_for(target: TensorRTTarget) -> Evidence | None:
    """The Evidence row of ``target``'s version; None outside the supported versions."""
    return next((row for row in EVIDENCE if row.covers(target)), None)


_VERSION_LINE_RE = re.compile(r"^__version__\s*=\s*[\"']([0-9][^\"']*)[\"']", re.M)
_VERSION_RE = re.compile(r"^(\d+)(?:\.(\d+))?(?:\.\d+){0,2}$")


@dataclass(frozen=True)
class CubicResizeFacts:
    """What the parser's decision depends on, for one cubic Resize.

    ``outer_axes_resized`` and ``output_length_one`` are True or False where the graph proves it and None where
    only runtime values decide. No parser generation is known to decide by ``output_length_one`` (see the
    module docstring on pytorch_half_pixel); it stays a fact so that a measured difference can use it.
    """

    name: str = ""
    coordinate_transformation_mode: str = "half_pixel"
    cubic_coeff_a: float = -0.75
    exclude_outside: int = 0
    antialias: int = 0
    keep_aspect_ratio_policy: str = "stretch"
    axes: tuple[int, ...] | None = None
    rank: int | None = None
    outer_axes_resized: bool | None = False
    output_length_one: bool | None = False
    # Constant scales with which input length times scale is not a whole number on a resized axis.
    scale_inexact: bool | None = False
    # The scales are a runtime tensor (not constant, not sizes).
    runtime_scales: bool = False

    @property
    def axes_trivial(self) -> bool:
        """True when ``axes`` is absent or lists every axis once, in order (what parsers that ignore it assume)."""
        if self.axes is None:
            return True
        if self.rank is None:
            return False
        return [a % self.rank for a in self.axes] == list(range(self.rank))

    @property
    def duplicate_axes(self) -> bool:
        if self.axes is None:
            return False
        normalised = [a % self.rank for a in self.axes] if self.rank else list(self.axes)
        return len(set(normalised)) != len(normalised)


@dataclass(frozen=True)
class TensorRTTarget:
    """A TensorRT version and its parser's capabilities; ``source`` says where the version came from."""

    major: int
    minor: int = 0
    source: str = field(default="flag", compare=False)

    @property
    def version(self) -> str:
        return f"{self.major}.{self.minor}"

    def __str__(self) -> str:
        return self.version

    @property
    def supported(self) -> bool:
        """Whether trtconvert builds engines with this version (8.5 and newer)."""
        return (self.major, self.minor) >= OLDEST_SUPPORTED

    def has(self, feature: str) -> bool:
        """Whether this version has a builder feature of BUILDER_FEATURES."""
        return (self.major, self.minor) >= BUILDER_FEATURES[feature][0]

    def lacks_message(self, feature: str) -> str:
        """One line for a feature this version lacks: what needs which version."""
        (major, minor), what = BUILDER_FEATURES[feature]
        return (
            f"{what} needs TensorRT {major}.{minor} or newer, and TensorRT {self.version} builds this engine"
        )

    @property
    def supports_plugin_v3(self) -> bool:
        """IPluginV3 exists from TensorRT 10.0; the bundled plugin library uses it there."""
        return self.major >= 10

    @property
    def has_bundled_plugin(self) -> bool:
        """The bundled DynamicTRTResize plugin builds for this version: IPluginV2DynamicExt from 8.5, V3 from 10."""
        return self.supported

    @property
    def plugin_interface(self) -> str:
        return "IPluginV3" if self.supports_plugin_v3 else "IPluginV2DynamicExt"

    @property
    def supports_shape_inputs(self) -> bool:
        """Plugin shape inputs (node attribute ``tensorrt_plugin_shape_input_indices``) exist from TensorRT 10.1."""
        return self.has("plugin_shape_inputs")

    @property
    def maps_plugin_domain(self) -> bool:
        """From TensorRT 10.10 the parser also finds a plugin by the node's domain; before, by op_type only."""
        return (self.major, self.minor) >= (10, 10)

    def accepts_cubic_resize(self, node: CubicResizeFacts) -> tuple[bool, str]:
        """Whether this version's ONNX parser imports the Resize and computes what ONNX computes, and why."""
        trt = f"TensorRT {self.version}"
        v = (self.major, self.minor)
        if v <= (8, 4):
            return False, f"{trt}'s ONNX parser rejects cubic Resize"
        era = "old" if self.major == 8 else ("ignores" if self.major == 9 else "rejects")
        # An opset-18/19 attribute means nothing to an 8.x parser, is dropped by 9.x and refused by 10+.
        verb = {"old": "predates", "ignores": "silently ignores", "rejects": "rejects"}[era]

        if node.keep_aspect_ratio_policy != "stretch":
            return False, f"{trt} {verb} keep_aspect_ratio_policy={node.keep_aspect_ratio_policy}"
        mode = node.coordinate_transformation_mode
        if mode == "tf_crop_and_resize":
            return False, f"{trt} rejects coordinate_transformation_mode=tf_crop_and_resize with cubic"
        if mode == "half_pixel_symmetric":
            word = "rejects" if era == "rejects" else "predates"
            return False, f"{trt} {word} coordinate_transformation_mode=half_pixel_symmetric"
        if node.antialias:
            return False, f"{trt} {verb} antialias=1"
        if node.duplicate_axes:
            return False, f"{trt} rejects duplicate axes {list(node.axes or ())}"
        if not node.axes_trivial and era != "rejects":
            return False, f"{trt} {verb} axes={list(node.axes or ())}"
        if not node.axes_trivial and node.runtime_scales:
            return False, f"{trt} rejects axes={list(node.axes or ())} with runtime scales"
        if node.outer_axes_resized:
            return False, f"{trt} resizes with cubic only over the two innermost axes"
        if mode == "tf_half_pixel_for_nn":
            if self.major == 8:  # measured on 8.5.3: the engine build dies with a segmentation fault
                return (
                    False,
                    f"{trt}'s builder crashes on coordinate_transformation_mode=tf_half_pixel_for_nn",
                )
            return (
                False,
                f"{trt} computes coordinate_transformation_mode=tf_half_pixel_for_nn differently from ONNX",
            )
        # Measured on 8.5.3: align_corners follows the scale, not the lengths, when in * scale is fractional.
        if self.major == 8 and mode == "align_corners" and node.scale_inexact:
            return (
                False,
                f"{trt} computes align_corners differently from ONNX when input length x scale is fractional",
            )
        notes = []
        if self.major == 8 and mode == "align_corners" and node.scale_inexact is None:
            notes.append("provided input length x scale is a whole number at runtime")
        if node.outer_axes_resized is None:
            notes.append("provided the runtime sizes or scales leave the outer axes alone")
        reason = f"{trt} imports it and computes what ONNX computes"
        return True, reason + (f" ({'; '.join(notes)})" if notes else "")


def _installed_version() -> str | None:
    """Version of the importable ``tensorrt`` module, without importing it (that loads libnvinfer, and is the
    TensorRT layer's job): from the package metadata, else from the ``__version__ = "..."`` line that
    TensorRT's packaging writes into ``tensorrt/__init__.py``."""
    spec = importlib.util.find_spec("tensorrt")
    if spec is None:
        return None
    for dist in importlib.metadata.packages_distributions().get("tensorrt", []):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    if spec.origin and spec.origin.endswith(".py"):
        try:
            match = _VERSION_LINE_RE.search(Path(spec.origin).read_text(errors="replace"))
        except OSError:
            return None
        return match.group(1) if match else None
    return None


def parse_target(value: str | None) -> TensorRTTarget:
    """``--target-tensorrt`` as a target: ``"10"``, ``"8.4"``, ``"10.13.0.35"``; None means the installed version."""
    source = "flag"
    if value is None:
        value = _installed_version()
        if value is None:
            return TensorRTTarget(NEWEST_MAJOR, 0, source="newest known (TensorRT not installed)")
        source = "installed"
    text = str(value).strip()
    match = _VERSION_RE.match(text)
    if not match:
        raise BadInput(
            f"--target-tensorrt {shown(value)} is not a version; write MAJOR or MAJOR.MINOR, e.g. 10 or 8.6"
        )
    where = f"--target-tensorrt {shown(value)}"
    major, minor = whole_number(match.group(1), where, 4), whole_number(match.group(2) or "0", where, 4)
    if major < 1:
        raise BadInput(
            f"--target-tensorrt {shown(value)}: there is no TensorRT {major}; write e.g. 10 or 8.6"
        )
    return TensorRTTarget(major, minor, source=source)


def wanted_target(value: str | None) -> TensorRTTarget:
    """``--target-tensorrt`` as the user gave it (None: the installed or newest version), refused outside the
    versions trtconvert targets. A later minor of a known major is taken as that major: features are known by
    the version they came in."""
    target = parse_target(value)
    if value is not None and not (target.supported and target.major <= NEWEST_MAJOR):
        raise BadInput(
            f"--target-tensorrt {shown(value)}: trtconvert targets TensorRT {SUPPORTED_RANGE}; give a version in "
            "that range, e.g. 10 or 8.6"
        )
    return target


# ONNX element type (numpy's name) -> (the first (major, minor) whose parser keeps it, else None, and the type the
# parser binds it as before that); see the module docstring.
_NARROWED_IO_TYPES = {
    "float64": (None, "float32"),
    "int64": ((9, 0), "int32"),
}


def engine_dtype(onnx_dtype: str, tensorrt_version: str) -> str:
    """The element type (numpy's name) of an engine input or output whose ONNX type is ``onnx_dtype``, as the
    parser of ``tensorrt_version`` ("8.5.3.1") binds it; a version that cannot be read keeps the ONNX type."""
    narrowed = _NARROWED_IO_TYPES.get(onnx_dtype)
    match = _VERSION_RE.match(str(tensorrt_version).strip())
    if narrowed is None or match is None:
        return onnx_dtype
    kept_from, becomes = narrowed
    version = (int(match.group(1)), int(match.group(2) or 0))
    return onnx_dtype if kept_from is not None and version >= kept_from else becomes
