"""Plans of random bytes with the sidecar `build` would write for them (the real make_sidecar and write_plan), for
tests of what reads sidecars: export, bench's checks, inspect. No TensorRT: the plan bytes are not an engine."""

from __future__ import annotations

import os
from pathlib import Path

from trtconvert.engine.plan_files import build_identity, make_sidecar, write_plan
from trtconvert.model.profiles import parse_profile
from trtconvert.settings.request import resolve
from trtconvert.settings.spec import Spec


def plan_with_sidecar(
    folder: Path,
    file: str,
    io: dict,
    profiles: tuple[str, ...] | list[str] = (),
    *,
    precision: str = "fp32",
    compute_capability: str = "9.0",
    tensorrt: str = "10.8.0.43",
    plugins: tuple[Path, ...] = (),
    frozen: dict | None = None,
    **spec_options,
) -> Path:
    """``folder/file`` and its sidecar; ``io`` holds the sidecar's "inputs" and "outputs" lists. The model the
    sidecar names is random bytes in ``folder`` (one per folder)."""
    folder.mkdir(parents=True, exist_ok=True)
    model = folder / "model.onnx"
    if not model.exists():
        model.write_bytes(os.urandom(256))
    spec = Spec(
        model=model,
        output=folder / file,
        profiles=[parse_profile(p) for p in profiles],
        plugins=list(plugins),
        **spec_options,
    )
    target = ".".join(tensorrt.split(".")[:2])
    identity = build_identity(resolve(spec, target), model, [], list(plugins), tensorrt, compute_capability)
    data = os.urandom(1024)
    sidecar = make_sidecar(
        identity,
        data,
        model=str(model),
        inputs=io["inputs"],
        outputs=io["outputs"],
        precision={"precision": precision, "mode": "builder_flags", "converter": None},
        gpu={"name": f"GPU {compute_capability}", "compute_capability": compute_capability},
        strongly_typed=False,
        timings={},
        frozen=frozen,
    )
    plan = folder / file
    write_plan(plan, data, sidecar)
    return plan
