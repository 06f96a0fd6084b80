"""Faults around a run rather than in its inputs, on every command that writes: the streams it reports on
(a stdout that is closed, full or a pipe whose reader left; a stderr likewise), the file size limit
(`ulimit -f`), a read-only or full repository for `export triton`, stop signals at random moments of
prepare, export and inspect (and one that the caller ignores, as nohup does), the environment (a non-UTF-8
locale with UTF-8 file names, PYTHONWARNINGS=error, odd HOME/XDG_CACHE_HOME/TMPDIR, COLUMNS=5) and two runs at
once on one output, one repository or one timing cache. Every run keeps the whole contract (tests/contract.py).

Each case runs in a fresh process (the faults are the process's own: its streams, limits, signals and
environment). Random moments come from the run's seed (TRTCONVERT_TEST_SEED replays them).
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import onnx
import pytest
from contract import CONTRACT_CODES, Run, assert_contract, digests, partial_files
from model_factories import conv_model
from seeds import fresh_rng
from test_fault_injection import _tmpfs, _weighty_model
from test_hardening_holdout import PROFILE, _pair

pytestmark = pytest.mark.fuzz

SECONDS = 60


def _popen(args: list, env: dict | None = None, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "trtconvert", *map(str, args)],
        env={**os.environ, **(env or {})},
        **{"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **kwargs},
    )


def _run(args: list, env: dict | None = None, **kwargs) -> Run:
    process = _popen(args, env, **kwargs)
    out, err = process.communicate(timeout=SECONDS)
    return Run(
        process.returncode, (out or b"").decode(errors="replace"), (err or b"").decode(errors="replace")
    )


def _model(folder: Path) -> Path:
    path = folder / "model.onnx"
    path.write_bytes(conv_model().SerializeToString())
    return path


def _error_line(run: Run) -> str:
    (line,) = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    return line


# ---- the streams a run reports on


@pytest.mark.parametrize(
    "args", [["inspect", "{model}", "--json"], ["inspect", "{model}"], ["doctor"], ["doctor", "--json"]]
)
def test_a_report_on_a_full_stdout_is_one_error_line(tmp_path: Path, args: list) -> None:
    model = _model(tmp_path)
    before = digests([model])
    args = [a.format(model=model) for a in args]
    with open("/dev/full", "wb") as full:
        run = _run(args, stdout=full)
    assert_contract(run, args, [model], before, tmp_path)
    assert run.code == 2 and "could not be written to stdout (No space left on device)" in _error_line(run)


def test_a_report_into_a_pipe_whose_reader_left(tmp_path: Path) -> None:
    """`trtconvert inspect m.onnx --json | head -c 10` where head has already gone: the write meets a closed
    pipe (EPIPE; Python ignores SIGPIPE), which is one error line, not a traceback at exit."""
    model = _model(tmp_path)
    before = digests([model])
    args = ["inspect", model, "--json"]
    read, write = os.pipe()
    os.close(read)
    try:
        run = _run(args, stdout=write)
    finally:
        os.close(write)
    assert_contract(run, args, [model], before, tmp_path)
    assert run.code == 2 and "its reader closed the pipe" in _error_line(run)


@pytest.mark.parametrize("command", ["inspect", "prepare"])
def test_a_closed_stdout_with_json_writes_nothing(tmp_path: Path, command: str) -> None:
    model = _model(tmp_path)
    before = digests([model])
    out = tmp_path / "out"
    args = [command, model, "--json"] + (["-o", out / "p.onnx"] if command == "prepare" else [])
    run = _run(args, pass_fds=(), preexec_fn=lambda: os.close(1), stdout=None)
    assert_contract(run, args, [model], before, tmp_path)
    # the report would have gone to stderr, or nowhere: refused before any work
    assert run.code == 2 and "stdout is closed" in _error_line(run)
    assert not out.exists()


@pytest.mark.parametrize("where", ["full", "closed"])
def test_a_stderr_that_takes_nothing_changes_no_outcome(tmp_path: Path, where: str) -> None:
    """Stage lines and the summary on stderr are diagnostics: the outputs and the exit code stay what the run
    made them, for a success (prepare, export triton) and for a failure."""
    model = _model(tmp_path)
    plan = _pair(tmp_path)
    inputs = [model, plan, Path(f"{plan}.json")]
    before = digests(inputs)
    sink = open("/dev/full", "wb") if where == "full" else None  # noqa: SIM115
    extra = {"stderr": sink} if sink else {"stderr": None, "preexec_fn": lambda: os.close(2)}
    try:
        for args, code in (
            (["prepare", model, "-o", tmp_path / "out" / "p.onnx"], 0),
            (["export", "triton", plan, "-o", tmp_path / "repo", "--name", "m"], 0),
            (["prepare", tmp_path / "missing.onnx", "-o", tmp_path / "out" / "q.onnx"], 2),
        ):
            run = _run(args, **extra)
            # the error line has nowhere to go: the rest of the contract holds
            assert run.code == code and digests(inputs) == before and partial_files(tmp_path) == [], args
    finally:
        if sink:
            sink.close()
    onnx.checker.check_model(str(tmp_path / "out" / "p.onnx"))
    assert (tmp_path / "repo" / "m" / "config.pbtxt").is_file()


# ---- the file size limit and read-only or full folders


def _limit_file_size(limit: int):
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_the_file_size_limit_is_named_for_prepare(tmp_path: Path) -> None:
    """`ulimit -f`: a write past it fails with EFBIG (Python ignores SIGXFSZ), which the writer reports without
    a file name: the error names the output's folder and the limit, and the old output stays."""
    model = _weighty_model(tmp_path / "m.onnx", megabytes=2)
    before = digests([model])
    out = tmp_path / "out"
    out.mkdir()
    (out / "p.onnx").write_bytes(b"the previous output")
    args = ["prepare", model, "-o", out / "p.onnx"]
    run = _run(args, preexec_fn=_limit_file_size(256 << 10))
    assert_contract(run, args, [model], before, out)
    line = _error_line(run)
    assert run.code == 2 and str(out) in line and "ulimit -f" in line, line
    assert (out / "p.onnx").read_bytes() == b"the previous output"
    assert sorted(p.name for p in out.iterdir()) == ["p.onnx"]


def test_the_file_size_limit_is_named_for_export(tmp_path: Path) -> None:
    plan = _pair(tmp_path)
    inputs = [plan, Path(f"{plan}.json")]
    before = digests(inputs)
    repository = tmp_path / "repo"
    args = ["export", "triton", plan, "-o", repository, "--name", "m"]
    run = _run(args, preexec_fn=_limit_file_size(512))  # the sidecar alone is larger
    assert_contract(run, args, inputs, before, tmp_path)
    line = _error_line(run)
    assert run.code == 2 and str(repository / "m") in line and "ulimit -f" in line, line
    assert not repository.exists()


def test_a_read_only_repository_is_named_not_a_staging_folder(tmp_path: Path) -> None:
    plan = _pair(tmp_path)
    inputs = [plan, Path(f"{plan}.json")]
    before = digests(inputs)
    with _tmpfs(tmp_path / "ro", "size=1m,ro") as read_only:
        for args in (
            ["export", "triton", plan, "-o", read_only, "--name", "m"],
            ["export", "triton", plan, "-o", read_only / "repo", "--name", "m"],
            ["prepare", tmp_path / "built_from.onnx", "-o", read_only / "p.onnx"],
        ):
            run = _run(args)
            assert_contract(run, args, inputs, before, read_only)
            line = _error_line(run)
            assert run.code == 2 and str(read_only) in line and ".partial" not in line, line
        assert list(read_only.iterdir()) == []


def test_a_full_repository_keeps_the_model_it_would_replace(tmp_path: Path) -> None:
    """A plugin library too large for what is left of the repository's file system: `--replace` fails, the
    model folder that was there is byte-identical, nothing staged is left."""
    (tmp_path / "small").mkdir()
    small = _pair(tmp_path / "small")
    library, plan = _plan_with_a_plugin(tmp_path, 3 << 20)
    inputs = [plan, Path(f"{plan}.json"), library]
    with _tmpfs(tmp_path / "full", "size=2m") as full:
        first = _run(["export", "triton", small, "-o", full, "--name", "m"])
        assert first.code == 0, first.stderr
        old = {p.relative_to(full): p.read_bytes() for p in full.rglob("*") if p.is_file()}
        before = digests(inputs)
        args = ["export", "triton", plan, "-o", full, "--name", "m", "--replace", "--plugin", library]
        run = _run(args)
        assert_contract(run, args, inputs, before, full)
        assert run.code == 2, run.stderr
        assert {p.relative_to(full): p.read_bytes() for p in full.rglob("*") if p.is_file()} == old


def _plan_with_a_plugin(folder: Path, size: int) -> tuple[Path, Path]:
    """A plan whose sidecar records a plugin library of ``size`` bytes, as `build --plugin` writes it."""
    from test_export_triton import _plan

    library = folder / "lib" / "libplugins.so"
    library.parent.mkdir(parents=True)
    library.write_bytes(os.urandom(size))
    return library, _plan(folder / "plans", "m.plan", plugins=(library,))


# ---- stop signals


STOPS = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}


def _commands(folder: Path) -> dict[str, tuple[list, list[Path], Path]]:
    model = _weighty_model(folder / "m.onnx", megabytes=4)
    plan = _pair(folder)
    return {
        "prepare": (
            [
                "prepare",
                model,
                "-o",
                folder / "out" / "p.onnx",
                "--profile",
                "x=1x1024:2x1024:4x1024",
                "--verify",
            ],
            [model],
            folder / "out",
        ),
        "export": (
            ["export", "triton", plan, "-o", folder / "repo", "--name", "m", "--replace"],
            [plan, Path(f"{plan}.json")],
            folder / "repo",
        ),
        "inspect": (["inspect", model, "--json"], [model], folder),
    }


@pytest.mark.slow
@pytest.mark.parametrize("command", ["prepare", "export", "inspect"])
def test_stop_signals_at_random_moments(tmp_path: Path, command: str) -> None:
    """Ctrl-C, SIGTERM and SIGHUP from the first import to the last rename: the run ends with its code (130,
    143, 129) and one error line, or finishes (0); nothing partial either way, the inputs byte-identical, and
    an output that exists is whole."""
    args, inputs, outputs = _commands(tmp_path)[command]
    before = digests(inputs)
    rng = fresh_rng(f"stop-{command}")
    for stop, code in STOPS.items():
        for delay in rng.uniform(0.02, 1.2, size=3):
            process = _popen(args)
            time.sleep(float(delay))
            process.send_signal(stop)
            out, err = process.communicate(timeout=SECONDS)
            run = Run(process.returncode, out.decode(errors="replace"), err.decode(errors="replace"))
            if run.code == -stop and not run.stderr and not run.stdout:
                continue  # it came while the interpreter started, before any of trtconvert ran
            assert run.code in (0, code), f"{stop.name} after {delay:.2f} s: exit {run.code}\n{run.stderr}"
            assert_contract(run, args, inputs, before, outputs, CONTRACT_CODES | {code})
            if run.code:
                assert "nothing was written" in _error_line(run)
            prepared = tmp_path / "out" / "p.onnx"
            if command == "prepare" and prepared.exists():
                onnx.checker.check_model(str(prepared))
            if command == "export" and (tmp_path / "repo").exists():
                assert sorted(p.name for p in (tmp_path / "repo").iterdir()) == ["m"]
                assert (tmp_path / "repo" / "m" / "config.pbtxt").is_file()


def test_a_hangup_the_caller_ignores_stays_ignored(tmp_path: Path) -> None:
    """`nohup trtconvert ...`: SIGHUP is ignored when the run starts, so the terminal closing must not stop it."""
    model = _weighty_model(tmp_path / "m.onnx", megabytes=4)
    before = digests([model])
    args = ["prepare", model, "-o", tmp_path / "out" / "p.onnx", "--profile", "x=1x1024", "--verify"]
    process = _popen(args, preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    for delay in (0.05, 0.3, 0.6):
        time.sleep(delay)
        if process.poll() is None:
            process.send_signal(signal.SIGHUP)
    out, err = process.communicate(timeout=SECONDS)
    run = Run(process.returncode, out.decode(), err.decode())
    assert_contract(run, args, [model], before, tmp_path / "out")
    assert run.code == 0, run.stderr
    onnx.checker.check_model(str(tmp_path / "out" / "p.onnx"))


@pytest.mark.slow
def test_sigkill_mid_export_then_a_rerun(tmp_path: Path) -> None:
    """SIGKILL while the plans and a plugin library are copied into a model that replaces another: the model
    folder is the old one or the new one, whole; the re-run removes what the killed run staged."""
    library, plan = _plan_with_a_plugin(tmp_path, 64 << 20)
    inputs = [plan, Path(f"{plan}.json"), library]
    before = digests(inputs)
    repository = tmp_path / "repo"
    args = ["export", "triton", plan, "-o", repository, "--name", "m", "--replace", "--plugin", library]
    assert _run(args).code == 0
    for point, delay in enumerate(fresh_rng("kill-export").uniform(0.2, 1.5, size=3)):
        process = _popen(args)
        try:
            process.wait(timeout=float(delay))
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
        process.communicate(timeout=SECONDS)
        assert sorted(p.name for p in repository.iterdir() if not p.name.startswith(".")) == ["m"], point
        assert (repository / "m" / "plugins" / library.name).read_bytes() == library.read_bytes()
        assert digests(inputs) == before
        rerun = _run(args)
        assert_contract(rerun, args, inputs, before, repository)
        assert rerun.code == 0 and sorted(p.name for p in repository.iterdir()) == ["m"], rerun.stderr


@pytest.mark.slow
def test_the_repository_removed_mid_export(tmp_path: Path) -> None:
    library, plan = _plan_with_a_plugin(tmp_path, 32 << 20)
    inputs = [plan, Path(f"{plan}.json"), library]
    before = digests(inputs)
    repository = tmp_path / "repo"
    args = ["export", "triton", plan, "-o", repository, "--name", "m", "--plugin", library]
    for delay in fresh_rng("remove-export").uniform(0.3, 1.5, size=2):
        remover = threading.Timer(float(delay), shutil.rmtree, (repository,), {"ignore_errors": True})
        remover.start()
        run = _run(args)
        remover.join()
        assert_contract(run, args, inputs, before, repository)
        if run.code == 0 and (repository / "m").exists():
            assert (repository / "m" / "config.pbtxt").is_file()
        shutil.rmtree(repository, ignore_errors=True)


# ---- the environment


@pytest.mark.parametrize(
    "env",
    [
        {"PYTHONWARNINGS": "error"},
        {"HOME": "/nonexistent", "XDG_CACHE_HOME": "/dev/null"},
        {"HOME": "/dev/null", "XDG_CACHE_HOME": "/proc/1"},
        {"TMPDIR": "/nonexistent"},
        {"COLUMNS": "5", "LINES": "1", "TERM": "dumb"},
        {"LC_ALL": "POSIX", "LANG": "C"},
    ],
    ids=lambda env: ",".join(env),
)
def test_every_writing_command_keeps_the_contract_in_an_odd_environment(tmp_path: Path, env: dict) -> None:
    model = tmp_path / "modèle.onnx"  # a UTF-8 name: under LC_ALL=POSIX Python's UTF-8 mode still takes it
    model.write_bytes(conv_model().SerializeToString())
    plan = _pair(tmp_path)
    inputs = [model, plan, Path(f"{plan}.json")]
    before = digests(inputs)
    for args in (
        ["prepare", model, "-o", tmp_path / "sortie" / "préparé.onnx", "--profile", PROFILE, "--verify"],
        ["export", "triton", plan, "-o", tmp_path / "dépôt", "--name", "m"],
        ["inspect", model],
        ["doctor"],
    ):
        run = _run(args, env)
        assert_contract(run, args, inputs, before, tmp_path)
        assert run.code == 0, f"{args}: {run.stderr}"
    onnx.checker.check_model(str(tmp_path / "sortie" / "préparé.onnx"))
    assert (tmp_path / "dépôt" / "m" / "config.pbtxt").is_file()


def test_a_utf8_name_under_a_locale_that_is_not_utf8_blames_the_locale(tmp_path: Path) -> None:
    model = tmp_path / "modèle.onnx"
    model.write_bytes(conv_model().SerializeToString())
    before = digests([model])
    args = ["prepare", model, "-o", tmp_path / "out" / "p.onnx"]
    run = _run(args, {"LC_ALL": "POSIX", "PYTHONUTF8": "0", "PYTHONIOENCODING": ""})
    assert_contract(run, args, [model], before, tmp_path)
    line = _error_line(run)
    assert run.code == 2 and "LC_ALL=C.UTF-8" in line and "not UTF-8 (a name" not in line, line
    assert not (tmp_path / "out").exists()


# ---- two runs at once


def _together(*argss: list) -> list[Run]:
    processes = [_popen(args) for args in argss]
    runs = []
    for process in processes:
        out, err = process.communicate(timeout=SECONDS)
        runs.append(Run(process.returncode, out.decode(errors="replace"), err.decode(errors="replace")))
    return runs


def test_two_prepares_writing_one_output(tmp_path: Path) -> None:
    model = _weighty_model(tmp_path / "m.onnx", megabytes=4)
    before = digests([model])
    args = ["prepare", model, "-o", tmp_path / "out" / "p.onnx"]
    for run in _together(args, args):
        assert_contract(run, args, [model], before, tmp_path / "out")
        assert run.code == 0, run.stderr
    onnx.checker.check_model(str(tmp_path / "out" / "p.onnx"))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["p.onnx"]


def test_two_exports_into_one_repository(tmp_path: Path) -> None:
    plan = _pair(tmp_path)
    inputs = [plan, Path(f"{plan}.json")]
    before = digests(inputs)
    repository = tmp_path / "repo"
    two_names = [["export", "triton", plan, "-o", repository, "--name", name] for name in ("a", "b")]
    for args, run in zip(two_names, _together(*two_names), strict=True):
        assert_contract(run, args, inputs, before, repository)
        assert run.code == 0, run.stderr
    one_name = ["export", "triton", plan, "-o", tmp_path / "repo2", "--name", "a"]
    codes = sorted(run.code for run in _together(one_name, one_name))
    assert codes == [0, 2], codes  # one model; the other run says it exists (or appeared meanwhile)
    for name, repo in (("a", repository), ("b", repository), ("a", tmp_path / "repo2")):
        assert (repo / name / "config.pbtxt").is_file() and (repo / name / "1").is_dir()
    assert partial_files(tmp_path) == []


def test_two_builds_sharing_one_timing_cache_without_tensorrt(tmp_path: Path) -> None:
    """Where TensorRT is missing both stop at exit 3 before touching the shared cache: no cache file, no lock
    file, no plan."""
    model = _model(tmp_path)
    cache = tmp_path / "shared" / "timing.cache"
    before = digests([model])
    runs = [
        [
            "build",
            model,
            "-o",
            tmp_path / "out" / f"{name}.plan",
            "--profile",
            PROFILE,
            "--timing-cache",
            cache,
        ]
        for name in ("a", "b")
    ]
    for args, run in zip(runs, _together(*runs), strict=True):
        assert_contract(run, args, [model], before, tmp_path)
        if run.code != 0:  # a machine with TensorRT builds both, merging into the cache under its lock
            assert run.code == 3, run.stderr
            assert not (tmp_path / "out").exists() and not cache.parent.exists()


def test_a_full_temporary_folder_is_named_as_tmpdir(tmp_path: Path, monkeypatch) -> None:
    """A model over 2 GB reaches onnxruntime and shape inference through a copy in one of our folders in the
    temporary folder; a write failing there names TMPDIR, which the user never gave on the command line, and a
    file of the user's in the same folder is named as it is. (Argument level: the message for the error that
    write raises; a 2 GB model is out of this suite's bounds.)"""
    import errno
    import tempfile

    from trtconvert.cli.main import os_error_message

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    ours = tmp_path / "trtconvert-ort-abc" / "model.onnx.data"
    said = os_error_message(OSError(errno.ENOSPC, "No space left on device", str(ours)))
    assert str(ours) in said and "set by TMPDIR" in said
    theirs = tmp_path / "p.onnx"
    said = os_error_message(OSError(errno.ENOSPC, "No space left on device", str(theirs)))
    assert str(theirs) in said and "TMPDIR" not in said


# ---- the fleet's store


def test_a_store_write_killed_midway_is_cleaned_by_the_next_write(tmp_path: Path) -> None:
    """SIGKILL of a process while it stages a plan in a local-folder store (the fleet's), then the same plan
    written again: the killed writer's staged file is removed, a staged file of a writer that still runs and
    one from another host are left, and the plan is in place whole."""
    pytest.importorskip("fsspec")
    from trtconvert.fleet.store import Store

    store_root = tmp_path / "store"
    writer = (
        "import sys, time\n"
        "from trtconvert.fleet.store import Store\n"
        "def stage(path):\n"
        "    open(path, 'wb').write(b'half a plan')\n"
        "    print('staged', flush=True)\n"
        "    time.sleep(120)\n"
        f"Store({str(store_root)!r})._move_into_place(stage, ('job', 'H100', 'm.plan'))\n"
    )
    killed = subprocess.Popen([sys.executable, "-c", writer], stdout=subprocess.PIPE)
    living = subprocess.Popen([sys.executable, "-c", writer], stdout=subprocess.PIPE)
    try:
        assert killed.stdout.readline() == b"staged\n" and living.stdout.readline() == b"staged\n"
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=SECONDS)
        folder = store_root / "job" / "H100"
        elsewhere = folder / "m.plan.partial-1@another-host-0123456789ab"
        elsewhere.write_bytes(b"another host's write")
        assert len(list(folder.glob("m.plan.partial-*"))) == 3
        Store(str(store_root)).put_plan(b"the whole plan", b"{}", "job", "H100", "m.plan")
        left = sorted(p.name for p in folder.glob("m.plan.partial-*"))
        assert left == sorted(
            [elsewhere.name, *(p.name for p in folder.glob(f"m.plan.partial-{living.pid}@*"))]
        )
        assert len(left) == 2
        assert (folder / "m.plan").read_bytes() == b"the whole plan" and (
            folder / "m.plan.json"
        ).read_bytes() == b"{}"
    finally:
        for process in (killed, living):
            if process.poll() is None:
                process.kill()
                process.wait()


# ---- memory checks where /proc says too much or nothing


def _cgroup(root: Path, limit: str, usage: int, monkeypatch) -> None:
    from trtconvert.checks import compare

    (root / "job").mkdir(parents=True)
    (root / "job" / "memory.max").write_text(f"{limit}\n")
    (root / "job" / "memory.current").write_text(f"{usage}\n")
    (root / "self_cgroup").write_text("0::/job\n")
    monkeypatch.setattr(compare, "CGROUP_ROOT", root)
    monkeypatch.setattr(compare, "SELF_CGROUP", root / "self_cgroup")


def test_a_container_memory_limit_bounds_what_verify_may_allocate(
    run_cli, tmp_path: Path, monkeypatch
) -> None:
    """Inside a container /proc/meminfo shows the whole machine: a cgroup v2 limit (256 MiB left here) is what
    the kernel kills at, so an input of 1 GiB is refused before anything is allocated."""
    from trtconvert.checks import compare

    _cgroup(tmp_path / "cgroup", str(1 << 30), 768 << 20, monkeypatch)
    assert compare.available_memory_bytes() == 256 << 20
    model = _model(tmp_path)
    before = digests([model])
    args = ["prepare", model, "-o", tmp_path / "out" / "p.onnx", "--profile", "x=1x3x8x8:4x3x8192x2048:4x3x8192x2048",
            "--verify"]  # fmt: skip
    run = run_cli(*args)
    assert_contract(run, args, [model], before, tmp_path / "out")
    assert run.code == 2 and "of memory left" in _error_line(run)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("limit", ["max", str((1 << 63) - 4096), "garbage"])
def test_no_cgroup_limit_leaves_the_system_figure(tmp_path: Path, monkeypatch, limit: str) -> None:
    from trtconvert.checks import compare

    _cgroup(tmp_path / "cgroup", limit, 1 << 20, monkeypatch)
    assert compare.available_memory_bytes() == compare._system_available()


def test_no_proc_meminfo_still_gives_a_bound(monkeypatch) -> None:
    """Without a readable /proc/meminfo (a sandbox), the free pages from sysconf still bound a feed."""
    import builtins

    from trtconvert.checks import compare

    real_open = builtins.open

    def without_meminfo(file, *args, **kwargs):
        if str(file) == "/proc/meminfo":
            raise PermissionError(13, "Permission denied", file)
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", without_meminfo)
    free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert compare._system_available() is not None
    assert abs(compare._system_available() - free) < (256 << 20)  # pages come and go between the two reads
