"""The polygraphy loader chain built for a spec, read without TensorRT: what build would hand to TensorRT."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from polygraphy.backend.trt import (
    CreateConfig,
    EngineBytesFromNetwork,
    NetworkFromOnnxPath,
)

from trtconvert.engine.chain import EngineChain, EngineSettings, Timed, engine_loader_chain
from trtconvert.errors import BadInput
from trtconvert.model.profiles import parse_profile
from trtconvert.settings.request import parse_size, resolve
from trtconvert.settings.spec import Spec

TRT10 = "10.8"
TRT11 = "11.1"


def _spec(**fields) -> Spec:
    values = {
        "model": Path("model.onnx"),
        "output": Path("model.plan"),
        "profiles": [
            parse_profile(
                "input=1x3x64x64:1x3x256x256:4x3x512x512,factor=1x1x128x128:1x1x512x512:1x1x1024x1024"
            ),
            parse_profile("input=1x3x17x33,factor=1x1x34x66"),
        ],
    }
    values.update(fields)
    return Spec(**values)


def _chain(spec: Spec, prepared: Path, installed: str = TRT10, progress=None):
    """The chain for ``spec`` as a build on TensorRT ``installed`` would make it (plugin files must exist)."""
    return engine_loader_chain(resolve(spec, installed), prepared, progress=progress)


def _libraries(folder: Path, *names: str) -> list[Path]:
    for name in names:
        (folder / name).write_bytes(b"")
    return [folder / name for name in names]


def _parts(chain: EngineChain) -> EngineChain:
    """The chain's parts, asserting what each is: the build composes exactly these loaders."""
    assert isinstance(chain.network, NetworkFromOnnxPath)
    # The plugins stage loads the libraries before the chain runs: the chain itself loads none.
    assert (
        isinstance(chain.parse, Timed)
        and chain.parse.stage == "parse"
        and chain.parse.loader is chain.network
    )
    assert isinstance(chain.config, CreateConfig)
    assert isinstance(chain.settings, EngineSettings)
    assert isinstance(chain.engine, EngineBytesFromNetwork)
    return chain


def test_the_engine_loader_is_composed_of_the_named_parts(tmp_path: Path, monkeypatch) -> None:
    """What EngineBytesFromNetwork and PostprocessConfig are constructed with, recorded through their public
    constructors: the timed parse, the config post-processed by the settings, the timing cache to merge into."""
    import polygraphy.backend.trt as polygraphy_trt

    made: dict = {}

    def recorder(kind):
        def make(*args, **kwargs):
            made[kind] = (args, kwargs)
            return kind

        return make

    monkeypatch.setattr(polygraphy_trt, "EngineBytesFromNetwork", recorder("engine"))
    monkeypatch.setattr(polygraphy_trt, "PostprocessConfig", recorder("postprocess"))
    cache = tmp_path / "t.cache"
    chain = engine_loader_chain(resolve(_spec(timing_cache=cache), TRT10), tmp_path / "p.onnx")
    assert made["postprocess"] == ((chain.config, chain.settings), {})
    assert made["engine"] == ((chain.parse,), {"config": "postprocess", "save_timing_cache": str(cache)})
    assert chain.engine == "engine"


def test_profiles_are_handed_over_with_exact_shapes(tmp_path: Path) -> None:
    spec = _spec()
    parts = _parts(_chain(spec, tmp_path / "prepared.onnx"))
    profiles = parts.config.profiles
    assert len(profiles) == 2
    first, fixed = profiles
    assert list(first.keys()) == ["input", "factor"]
    assert (tuple(first["input"].min), tuple(first["input"].opt), tuple(first["input"].max)) == (
        (1, 3, 64, 64),
        (1, 3, 256, 256),
        (4, 3, 512, 512),
    )
    assert tuple(first["factor"].max) == (1, 1, 1024, 1024)
    # A single shape is a fixed profile: min, opt and max all equal it.
    assert {tuple(s) for s in fixed["input"]} == {(1, 3, 17, 33)}
    assert {tuple(s) for s in fixed["factor"]} == {(1, 1, 34, 66)}


def test_static_model_without_profiles_leaves_polygraphy_default(tmp_path: Path) -> None:
    parts = _parts(_chain(_spec(profiles=[]), tmp_path / "p.onnx", TRT10))
    # polygraphy's default is one profile filled from the network's own static shapes.
    assert len(parts.config.profiles) == 1 and len(parts.config.profiles[0]) == 0


def test_config_arguments(tmp_path: Path) -> None:
    cache = tmp_path / "ci" / "timing.cache"
    spec = _spec(
        workspace="1.5G",
        timing_cache=cache,
        opt_level=5,
        tf32=False,
        version_compatible=True,
        hardware_compatibility="ampere_plus",
        plugins=_libraries(tmp_path, "libplugins.so"),
    )
    plugin = tmp_path / "libplugins.so"
    parts = _parts(_chain(spec, tmp_path / "prepared.onnx"))
    assert parts.network.path == str(tmp_path / "prepared.onnx")
    assert parts.config.tf32 is False
    assert parts.config.builder_optimization_level == 5
    assert parts.config.version_compatible is True
    # The same file is loaded before the build and merged back after it.
    assert parts.config.timing_cache_path == str(cache)
    assert parts.engine.timing_cache_path == str(cache)
    assert parts.settings.workspace_bytes == 3 * 2**29
    assert parts.settings.hardware_compatibility == "ampere_plus"
    # Version-compatible engines carry their plugin libraries.
    assert parts.settings.plugins_to_serialize == (str(plugin),)


def test_defaults_follow_trtexec_not_polygraphy(tmp_path: Path) -> None:
    parts = _parts(_chain(_spec(), tmp_path / "p.onnx"))
    assert parts.config.tf32 is True  # polygraphy's own default is False
    assert parts.config.builder_optimization_level is None
    assert parts.config.timing_cache_path is None and parts.engine.timing_cache_path is None
    assert not parts.config.version_compatible
    assert parts.settings.workspace_bytes is None
    assert parts.settings.hardware_compatibility == "none"
    assert parts.settings.plugins_to_serialize == ()


def test_version_compatible_plans_carry_their_libraries_in_the_given_order(tmp_path: Path) -> None:
    libs = _libraries(tmp_path, "z.so", "a.so")
    parts = _parts(_chain(_spec(plugins=libs, version_compatible=True), tmp_path / "p.onnx"))
    assert parts.settings.plugins_to_serialize == (str(tmp_path / "z.so"), str(tmp_path / "a.so"))


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_tensorrt_10_precision_is_builder_flags(tmp_path: Path, precision: str) -> None:
    parts = _parts(_chain(_spec(precision=precision), tmp_path / "p.onnx", TRT10))
    assert parts.config.fp16 is (precision == "fp16")
    assert parts.config.bf16 is (precision == "bf16")
    assert parts.network.strongly_typed is False


@pytest.mark.parametrize("precision", ["fp32", "fp16", "bf16"])
def test_tensorrt_11_is_strongly_typed_without_precision_flags(tmp_path: Path, precision: str) -> None:
    parts = _parts(_chain(_spec(precision=precision), tmp_path / "p.onnx", TRT11))
    assert parts.config.fp16 is False and parts.config.bf16 is False
    assert parts.network.strongly_typed is True


def test_fp32_on_tensorrt_10_sets_no_precision_flag(tmp_path: Path) -> None:
    parts = _parts(_chain(_spec(), tmp_path / "p.onnx", TRT10))
    assert parts.config.fp16 is False and parts.config.bf16 is False


def test_building_the_chain_imports_no_tensorrt(tmp_path: Path) -> None:
    # A fresh interpreter, so that no other test's imports can hide an eager one.
    code = f"""
import sys
from pathlib import Path
from types import SimpleNamespace
from trtconvert.engine.chain import engine_loader_chain
from trtconvert.settings.request import resolve
from trtconvert.engine.tensorrt_log import TensorRTLog
from trtconvert.model.profiles import parse_profile
from trtconvert.settings.spec import Spec
spec = Spec(model=Path("m.onnx"), output=Path("m.plan"), profiles=[parse_profile("x=1x3:2x3:4x3")],
            workspace="1G", timing_cache=Path({str(tmp_path / "t.cache")!r}), opt_level=2,
            hardware_compatibility="ampere_plus", version_compatible=True, precision="fp16")
chain = engine_loader_chain(resolve(spec, "10.0"), Path("p.onnx"), progress=TensorRTLog())
assert "tensorrt" not in sys.modules, "building the chain imported tensorrt"
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


class _FakeConfig:
    def __init__(self) -> None:
        self.pools: dict[object, int] = {}

    def set_memory_pool_limit(self, pool: object, size: int) -> None:
        self.pools[pool] = size


def test_engine_settings_apply_names_to_tensorrt_enums() -> None:
    # Stand-ins carry only the enum members the settings look up by name; the real mapping runs in the
    # tensorrt-marked tests.
    trt = SimpleNamespace(
        __version__="10.8.0",
        MemoryPoolType=SimpleNamespace(WORKSPACE="workspace-pool"),
        HardwareCompatibilityLevel=SimpleNamespace(AMPERE_PLUS="ampere+", SAME_COMPUTE_CAPABILITY="same-cc"),
    )
    config = _FakeConfig()
    EngineSettings(
        workspace_bytes=2**30,
        hardware_compatibility="same_compute_capability",
        plugins_to_serialize=("/x/lib.so",),
    ).apply(trt, config)
    assert config.pools == {"workspace-pool": 2**30}
    assert config.hardware_compatibility_level == "same-cc"
    assert config.plugins_to_serialize == ["/x/lib.so"]


def test_engine_settings_name_the_levels_this_tensorrt_offers() -> None:
    trt = SimpleNamespace(
        __version__="10.0.1",
        MemoryPoolType=SimpleNamespace(WORKSPACE=0),
        HardwareCompatibilityLevel=SimpleNamespace(AMPERE_PLUS=1),
    )
    with pytest.raises(
        BadInput, match="same_compute_capability is not offered by TensorRT 10.0.1.*ampere_plus"
    ):
        EngineSettings(hardware_compatibility="same_compute_capability").apply(trt, _FakeConfig())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4G", 4 * 2**30),
        ("512M", 512 * 2**20),
        ("512m", 512 * 2**20),
        ("1.5GiB", 3 * 2**29),
        ("2GB", 2 * 2**30),
        ("64K", 65536),
        ("4096", 4096 * 2**20),  # a bare number is MiB, as trtexec reads it
        ("1048576B", 1048576),
        ("1T", 2**40),
        ("1P", 2**50),  # the limit that the refusal below names is itself a size that parses
    ],
)
def test_parse_size(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "4X", "G", "-1G", "0", "1.5B", "4 G B", "0.1K"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(BadInput, match="--workspace"):
        parse_size(text)


def test_parse_size_names_a_limit_it_accepts() -> None:
    with pytest.raises(BadInput, match="at most 1P"):
        parse_size("1025T")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"opt_level": 6}, "--opt-level 6 is out of range"),
        ({"opt_level": -1}, "--opt-level -1 is out of range"),
        ({"workspace": "lots"}, "--workspace 'lots' is not a size"),
    ],
)
def test_build_settings_from_a_config_are_checked(fields: dict, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        resolve(_spec(**fields), TRT10)
