"""A fault injector: the machine fails under a run (a full file system, a read-only folder, the output folder
removed mid-run, SIGKILL at a random moment followed by a re-run) and every run keeps the whole contract
(tests/contract.py): a contract exit code, one error line naming the path, no traceback, inputs byte-identical,
nothing partial left behind by any run that ended by itself.

File systems are private tmpfs mounts (root only; skipped elsewhere). Random moments come from the run's seed
(TRTCONVERT_TEST_SEED replays them); TRTCONVERT_FUZZ_EXAMPLES raises the number of kill points for a long run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import onnx
import pytest
from contract import Run, assert_contract, digests, partial_files, trtconvert
from onnx import TensorProto, helper, numpy_helper
from seeds import fresh_rng

pytestmark = [pytest.mark.fuzz, pytest.mark.slow]

KILL_POINTS = int(os.environ.get("TRTCONVERT_FUZZ_EXAMPLES", "3"))


def _weighty_model(path: Path, megabytes: int = 2) -> Path:
    """A MatMul by a weight of ``megabytes``: an output that a tiny file system cannot hold, and a run that
    takes long enough to be interrupted inside."""
    side = int((megabytes * 2**20 / 4) ** 0.5)
    weight = numpy_helper.from_array(fresh_rng("weight").normal(size=(side, side)).astype(np.float32), "w")
    info = helper.make_tensor_value_info
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Relu", ["m"], ["y"])],
        "weighty",
        [info("x", TensorProto.FLOAT, ["n", side])],
        [info("y", TensorProto.FLOAT, ["n", side])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


@contextmanager
def _tmpfs(folder: Path, options: str) -> Iterator[Path]:
    folder.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a private tmpfs needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode(errors='replace').strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def test_a_full_file_system_is_named_and_left_as_it_was(tmp_path: Path) -> None:
    model = _weighty_model(tmp_path / "m.onnx")
    before = digests([model])
    with _tmpfs(tmp_path / "full", "size=256k") as full:
        (full / "old.onnx").write_bytes(b"the previous output")
        args = ["prepare", model, "-o", full / "old.onnx"]
        run = trtconvert(args)
        assert_contract(run, args, [model], before, full)
        assert run.code == 2 and "No space left on device" in run.stderr and str(full) in run.stderr
        assert (full / "old.onnx").read_bytes() == b"the previous output"
        assert sorted(p.name for p in full.iterdir()) == ["old.onnx"]


def test_a_full_temporary_folder_is_named(tmp_path: Path) -> None:
    model = _weighty_model(tmp_path / "m.onnx")
    before = digests([model])
    with _tmpfs(tmp_path / "tmp", "size=64k") as full_tmp:
        filler = (full_tmp / "filler").open("wb", buffering=0)  # filled to the last byte
        with contextlib.suppress(OSError):
            while True:
                filler.write(b"\0" * 4096)
        filler.close()
        env = {**os.environ, "TMPDIR": str(full_tmp)}
        args = ["prepare", model, "-o", tmp_path / "out" / "m.onnx", "--profile", "x=1x724", "--verify"]
        done = subprocess.run(
            [sys.executable, "-m", "trtconvert", *map(str, args)], capture_output=True, env=env, timeout=120
        )
        run = Run(done.returncode, done.stdout.decode(), done.stderr.decode())
        assert_contract(run, args, [model], before, tmp_path / "out")


def test_a_read_only_folder_is_named(tmp_path: Path) -> None:
    model = _weighty_model(tmp_path / "m.onnx", megabytes=1)
    before = digests([model])
    with _tmpfs(tmp_path / "ro", "size=1m,ro") as read_only:
        for args in (
            ["prepare", model, "-o", read_only / "m.onnx"],
            ["prepare", model, "-o", read_only / "new" / "m.onnx"],
        ):
            run = trtconvert(args)
            assert_contract(run, args, [model], before, read_only)
            assert run.code == 2 and str(read_only) in run.stderr
        assert list(read_only.iterdir()) == []


def test_the_output_folder_removed_mid_run(tmp_path: Path) -> None:
    model = _weighty_model(tmp_path / "m.onnx", megabytes=8)
    before = digests([model])
    out = tmp_path / "out"
    delay = float(fresh_rng("remove").uniform(0.5, 3.0))

    def remove_later() -> None:
        time.sleep(delay)
        shutil.rmtree(out, ignore_errors=True)

    remover = threading.Thread(target=remove_later)
    remover.start()
    args = ["prepare", model, "-o", out / "m.onnx", "--profile", "x=1x1448:2x1448:4x1448", "--verify"]
    run = trtconvert(args)
    remover.join()
    assert_contract(run, args, [model], before, out)
    if run.code == 0 and (out / "m.onnx").exists():
        onnx.checker.check_model(str(out / "m.onnx"))


@pytest.mark.parametrize("point", range(KILL_POINTS))
def test_sigkill_at_a_random_moment_then_a_rerun(tmp_path: Path, point: int) -> None:
    model = _weighty_model(tmp_path / "m.onnx", megabytes=8)
    before = digests([model])
    out = tmp_path / "out"
    out.mkdir()
    old = out / "m.onnx"
    old.write_bytes(b"the previous output")
    args = ["prepare", model, "-o", old, "--profile", "x=1x1448:2x1448:4x1448", "--verify"]
    delay = float(fresh_rng(f"kill{point}").uniform(0.2, 6.0))
    process = subprocess.Popen(
        [sys.executable, "-m", "trtconvert", *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        process.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    process.communicate()
    # Killed or not, the output is the old one or a whole new one, never a part.
    if old.read_bytes() != b"the previous output":
        onnx.checker.check_model(str(old))
    assert digests([model]) == before
    rerun = trtconvert(args)
    assert_contract(rerun, args, [model], before, out)
    assert rerun.code == 0, rerun.stderr
    onnx.checker.check_model(str(old))
    assert partial_files(out) == [] and sorted(p.name for p in out.iterdir()) == ["m.onnx"]
