"""`trtconvert fleet` on a real Dask LocalCluster (threads of this process, talking tcp), no Dask mocks.

Workers advertise GPU kinds as resources (gpu-H100, ...). This machine has no TensorRT, so a job that really
builds runs `python -m trtconvert build`, which exits 3: a real `failed` state. Routing and the plan cache use a
store that already holds a plan pair under the job's content key: such a job is `cached` without a build. The
keyed workers are told a TensorRT version and compute capability (register_worker_machine), as a worker with
TensorRT would find them; that checks the key and the cache lookup at argument level, not a TensorRT build.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tensorrt_machine import NEEDS_TENSORRT_AND_GPU, TRT

distributed = pytest.importorskip("distributed")
fsspec = pytest.importorskip("fsspec")

from trtconvert.engine.machine import cuda_gpus  # noqa: E402
from trtconvert.engine.plan_files import SCHEMA, build_identity, read_sidecar  # noqa: E402
from trtconvert.errors import BadInput  # noqa: E402
from trtconvert.fleet.cluster import gpu_kind  # noqa: E402
from trtconvert.fleet.job_task import (  # noqa: E402
    WorkerMachine,
    build_job,
    content_key,
    register_worker_machine,
)
from trtconvert.fleet.manifest import read_manifest  # noqa: E402
from trtconvert.fleet.run import fleet_exit_code  # noqa: E402
from trtconvert.fleet.store import Store, cache_parts  # noqa: E402
from trtconvert.prepare.pipeline import preflight  # noqa: E402
from trtconvert.settings.request import resolve  # noqa: E402
from trtconvert.settings.spec import make_spec  # noqa: E402

PROFILE = "input=1x3x16x16:1x3x32x32:1x3x48x48,factor=1x1x32x32:1x1x64x64:1x1x96x96"
H100 = WorkerMachine("8.5.3.1", "9.0")
A10G = WorkerMachine("8.5.3.1", "8.6")
NO_TENSORRT = WorkerMachine(None, None)


@pytest.fixture(scope="module")
def scheduler() -> str:
    """A LocalCluster with one H100, one A10G (both keyed as above) and one T4 worker without TensorRT."""
    cluster = distributed.LocalCluster(
        n_workers=0, processes=False, protocol="tcp", threads_per_worker=1, dashboard_address=":0"
    )
    base = cluster.new_spec
    for count, (kind, machine) in enumerate([("H100", H100), ("A10G", A10G), ("T4", NO_TENSORRT)], start=1):
        cluster.new_spec = {
            "cls": base["cls"],
            "options": {**base["options"], "resources": {f"gpu-{kind}": 1}},
        }
        cluster.scale(count)
        cluster.wait_for_workers(count)
        register_worker_machine(count - 1, machine)
    yield cluster.scheduler_address
    cluster.close()


def _manifest(folder: Path, store: str, gpus: list[str], jobs: list[dict], **more) -> Path:
    path = folder / "FLEET.yaml"
    path.write_text(json.dumps({"store": store, "gpus": gpus, "jobs": jobs, **more}))  # JSON is YAML
    return path


def _fleet(run_cli, manifest: Path, *args: str) -> tuple[int, dict, str]:
    result = run_cli("fleet", manifest, "--json", *args)
    return result.code, json.loads(result.stdout), result.stderr


def _put_cached(store: Store, key: str, plan: bytes) -> None:
    """A plan pair under ``key`` in the store's plan cache, as a finished build leaves it."""
    sidecar = {
        "schema": SCHEMA,
        "cache_key": key,
        "plan": {"bytes": len(plan), "sha256": hashlib.sha256(plan).hexdigest()},
    }
    store.put_plan(plan, json.dumps(sidecar).encode(), *cache_parts(key))


def _key_of(manifest: Path, name: str, gpu: str, machine: WorkerMachine, tmp_path: Path) -> str:
    (job,) = [j for j in read_manifest(manifest).jobs if j.name == name and j.gpu == gpu]
    config = tmp_path / f"{name}-{gpu}.yaml"
    config.write_text(job.config_yaml(tmp_path / "unused.plan", None))
    return content_key(config, machine)


# --- the manifest -----------------------------------------------------------------------------------------


def test_expansion_config_overrides_lists_and_gpu_kinds(tmp_path: Path, example_model: Path) -> None:
    config = tmp_path / "configs" / "sr.yaml"
    config.parent.mkdir()
    config.write_text(
        f"model: ../{example_model.name}\nprecision: fp32\nrewrite: all\ntarget_tensorrt: 10.10\n"
    )
    manifest = _manifest(
        tmp_path,
        "engines/",
        ["H100", "A10G"],
        [
            {"config": "configs/sr.yaml", "precision": ["fp32", "fp16"], "seed": [1, 2]},
            {"model": example_model.name, "name": "plain", "profiles": [PROFILE], "rewrite": "none"},
        ],
    )
    read = read_manifest(manifest)
    assert read.store == str(tmp_path / "engines")
    names = [(j.name, j.gpu) for j in read.jobs]
    assert names == [
        (f"sr-{p}-{s}", g) for p in ("fp32", "fp16") for s in (1, 2) for g in ("H100", "A10G")
    ] + [("plain", "H100"), ("plain", "A10G")]
    fp16 = next(j for j in read.jobs if j.name == "sr-fp16-2" and j.gpu == "A10G")
    assert fp16.settings["precision"] == "fp16" and fp16.settings["seed"] == 2
    assert fp16.settings["rewrite"] == "all"  # from the config, not overridden
    assert Path(fp16.settings["model"]).resolve() == example_model  # relative to the config's folder
    assert fp16.store_parts == ("sr-fp16-2", "A10G", "super_resolution.plan")
    # The generated build config reads back as the same spec, the version as written (10.10, not 10.1).
    generated = tmp_path / "job.yaml"
    generated.write_text(fp16.config_yaml(tmp_path / "out.plan", None))
    spec = make_spec(generated, {})
    assert (spec.precision, spec.seed, spec.target_tensorrt) == ("fp16", 2, "10.10")
    assert spec.model is not None and spec.model.resolve() == example_model
    plain = next(j for j in read.jobs if j.name == "plain")
    assert plain.settings["model"] == str(tmp_path / example_model.name)


def test_list_valued_keys_are_one_job_and_the_entry_overrides_the_config(
    tmp_path: Path, example_model: Path
) -> None:
    """keep_fp32, profiles and plugins take lists: a list there is one job's value, from the config or the entry."""
    config = tmp_path / "sr.yaml"
    config.write_text(
        f"model: {example_model.name}\nprecision: fp16\nkeep_fp32: ['op:Resize', 'conv*']\n"
        f"profiles: ['{PROFILE}']\natol: 0.01\n"
    )
    manifest = _manifest(
        tmp_path,
        "engines",
        ["H100"],
        [
            {"config": "sr.yaml"},
            {"config": "sr.yaml", "name": "mine", "keep-fp32": ["op:Conv"], "atol": 0.002},
        ],
    )
    by_name = {j.name: j.settings for j in read_manifest(manifest).jobs}
    assert list(by_name) == ["sr", "mine"]
    assert by_name["sr"]["keep_fp32"] == ["op:Resize", "conv*"] and by_name["sr"]["profiles"] == [PROFILE]
    assert by_name["mine"]["keep_fp32"] == ["op:Conv"] and by_name["mine"]["atol"] == 0.002
    assert by_name["mine"]["precision"] == "fp16"  # from the config


def test_a_list_of_lists_expands_a_list_valued_key(tmp_path: Path, example_model: Path) -> None:
    """profiles, plugins and keep_fp32 take lists: a list of them is one job per list, named by its place."""
    other = PROFILE.replace("1x3x48x48", "1x3x64x64")
    (tmp_path / "libs").mkdir()
    jobs = [
        {
            "model": example_model.name,
            "name": "sr",
            "precision": "fp16",
            "profiles": [[PROFILE], [PROFILE, other]],
            "keep_fp32": [["op:Resize"], ["op:Resize", "op:Conv"]],
            "plugins": [["libs/a.so"]],
        }
    ]
    read = read_manifest(_manifest(tmp_path, "s", ["H100"], jobs))
    by_name = {j.name: j.settings for j in read.jobs}
    assert list(by_name) == [f"sr-profiles-{p}-keep_fp32-{k}-plugins-1" for p in (1, 2) for k in (1, 2)]
    assert by_name["sr-profiles-2-keep_fp32-1-plugins-1"]["profiles"] == [PROFILE, other]
    assert by_name["sr-profiles-1-keep_fp32-2-plugins-1"]["keep_fp32"] == ["op:Resize", "op:Conv"]
    assert by_name["sr-profiles-1-keep_fp32-1-plugins-1"]["plugins"] == [str(tmp_path / "libs" / "a.so")]


def test_expanded_names_use_the_values_as_written_in_the_entry_order(
    run_cli, tmp_path: Path, example_model: Path
) -> None:
    """10.1 and 10.10 are two versions: two jobs, not one name twice; the first listed key names first."""
    jobs = [
        {"model": example_model.name, "profiles": [PROFILE], "target_tensorrt": [10.1, 10.10], "seed": [3, 4]}
    ]
    path = tmp_path / "FLEET.yaml"
    path.write_text(
        json.dumps({"store": "s", "gpus": ["H100"], "jobs": jobs}).replace("10.1, 10.1", "10.1, 10.10")
    )
    code, report, _ = _fleet(run_cli, path, "--dry-run")
    assert code == 0
    assert [(j["name"], j["settings"]["target_tensorrt"]) for j in report["jobs"]] == [
        ("super_resolution-10.1-3", 10.1),
        ("super_resolution-10.1-4", 10.1),
        ("super_resolution-10.10-3", "10.10"),
        ("super_resolution-10.10-4", "10.10"),
    ]


def test_triton_settings_of_the_manifest(tmp_path: Path, example_model: Path) -> None:
    """max_batch_size 0 is export triton's full-dims form; two jobs that would be one Triton model are refused."""
    jobs = [{"model": example_model.name, "profiles": [PROFILE], "precision": ["fp16", "int8,fp16"]}]
    triton = {"repository": "repo", "max_batch_size": 0, "instances": 2}
    read = read_manifest(_manifest(tmp_path, "s", ["H100"], jobs, triton=triton))
    assert read.triton is not None and (read.triton.max_batch_size, read.triton.instances) == (0, 2)
    assert [j.name for j in read.jobs] == ["super_resolution-fp16", "super_resolution-int8+fp16"]
    jobs.append({"model": example_model.name, "profiles": [PROFILE], "name": "super_resolution-int8_fp16"})
    with pytest.raises(BadInput, match="would both be the Triton model 'super_resolution-int8_fp16'"):
        read_manifest(_manifest(tmp_path, "s", ["H100"], jobs, triton="repo"))
    read_manifest(
        _manifest(tmp_path, "s", ["H100"], jobs)
    )  # without triton: the names differ, which is enough


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        (
            {"store": "s", "gpus": ["H100"], "jobs": [{"model": "m.onnx"}], "gpu": ["A10G"]},
            "did you mean 'gpus'?",
        ),
        (
            {"store": "s", "gpus": ["H100"], "jobs": [{"model": "m.onnx", "precison": "fp16"}]},
            "did you mean 'precision'?",
        ),
        (
            {"store": "s", "gpus": ["H100"], "jobs": [{"model": "m.onnx", "output": "x.plan"}]},
            "'output' is set by the fleet",
        ),
        ({"store": "s", "gpus": ["H100"], "jobs": [{"model": "m.onnx", "precision": "fp8"}]}, "precision"),
        (
            {"store": "s", "gpus": ["H100"], "jobs": [{"model": "m.onnx", "precision": []}]},
            "an empty list expands into no job",
        ),
        (
            {"store": "s", "gpus": ["H100"], "jobs": [{"model": "m.onnx"}, {"model": "m.onnx"}]},
            "two jobs are named 'm'",
        ),
        ({"store": "s", "gpus": ["H 100"], "jobs": [{"model": "m.onnx"}]}, "not a usable name"),
        ({"store": "s", "gpus": ["H100", "H100"], "jobs": [{"model": "m.onnx"}]}, "listed twice"),
        ({"gpus": ["H100"], "jobs": [{"model": "m.onnx"}]}, "no 'store:'"),
        ({"store": "s", "gpus": ["H100"], "jobs": [{"precision": "fp16"}]}, "no model"),
        ({"store": "s", "gpus": ["H100"], "jobs": [{"config": "missing.yaml"}]}, "missing.yaml"),
        ({"store": "s", "gpus": ["H100"], "jobs": []}, "jobs: must be a list"),
        (
            {"store": "s", "gpus": ["H100"], "jobs": [{"model": "m.onnx", "calib_method": "entropy"}]},
            "--calib-method",
        ),
        (
            {"store": "s", "gpus": ["H100"], "jobs": [{"model": "m.onnx"}], "triton": {"repo": "r"}},
            "repository",
        ),
    ],
)
def test_bad_manifests_exit_2_naming_the_problem(
    run_cli, tmp_path: Path, manifest: dict, expected: str
) -> None:
    path = tmp_path / "FLEET.yaml"
    path.write_text(json.dumps(manifest))
    result = run_cli("fleet", path, "--dry-run")
    assert result.code == 2, result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert expected in line and "Traceback" not in result.stderr


def test_manifest_yaml_aliases_are_refused(run_cli, tmp_path: Path) -> None:
    path = tmp_path / "FLEET.yaml"
    path.write_text("store: &s engines\ngpus: [H100]\njobs:\n  - model: *s\n")
    result = run_cli("fleet", path, "--dry-run")
    assert result.code == 2 and "aliases" in result.stderr


def test_dry_run_lists_jobs_and_store_paths_and_runs_nothing(
    run_cli, tmp_path: Path, example_model: Path
) -> None:
    manifest = _manifest(
        tmp_path, "engines", ["H100", "L4"], [{"model": example_model.name, "profiles": [PROFILE]}]
    )
    code, report, _ = _fleet(run_cli, manifest, "--dry-run")
    assert code == 0 and report["dry_run"] is True
    assert [(j["name"], j["gpu"], j["plan"]) for j in report["jobs"]] == [
        (
            "super_resolution",
            kind,
            str(tmp_path / "engines" / "super_resolution" / kind / "super_resolution.plan"),
        )
        for kind in ("H100", "L4")
    ]
    assert not (tmp_path / "engines").exists()


def test_gpu_kinds_from_device_names() -> None:
    assert gpu_kind("NVIDIA H100 80GB HBM3") == "H100"
    assert gpu_kind("NVIDIA A10G") == "A10G"
    assert gpu_kind("Tesla T4") == "T4"
    assert gpu_kind("NVIDIA GeForce RTX 4090") == "RTX4090"
    assert gpu_kind("NVIDIA H200") == "H200"


def test_fleet_exit_code_is_the_largest_job_code() -> None:
    done = {"state": "built", "exit_code": 0}
    assert fleet_exit_code([done, {"state": "cached", "exit_code": 0}]) == 0
    assert (
        fleet_exit_code(
            [done, {"state": "failed", "exit_code": 2}, {"state": "unschedulable", "exit_code": 3}]
        )
        == 3
    )
    assert fleet_exit_code([{"state": "failed", "exit_code": 4}, {"state": "failed", "exit_code": 5}]) == 5


# --- the content key -----------------------------------------------------------------------------------------


def test_the_fleet_key_is_the_key_of_build_cache_dir(tmp_path: Path, example_model: Path) -> None:
    """The same model and settings give the key `trtconvert build --cache-dir` computes; another GPU or
    precision another key."""
    manifest = _manifest(
        tmp_path,
        "s",
        ["H100", "A10G"],
        [{"model": example_model.name, "profiles": [PROFILE], "precision": ["fp32", "fp16"]}],
    )
    key = _key_of(manifest, "super_resolution-fp32", "H100", H100, tmp_path)
    from trtconvert.model.profiles import parse_profile

    request = resolve(
        make_spec(None, {"model": example_model, "profiles": [parse_profile(PROFILE)]}), "8.5.3.1"
    )
    checked = preflight(request)
    expected = build_identity(request, checked.model_path, checked.data_files, [], "8.5.3.1", "9.0").key
    assert key == expected
    assert _sidecar_as_built(example_model, H100, "H100", b"plan")["cache_key"] == key
    assert _key_of(manifest, "super_resolution-fp32", "A10G", A10G, tmp_path) != key
    assert _key_of(manifest, "super_resolution-fp16", "H100", H100, tmp_path) != key


# --- the store -------------------------------------------------------------------------------------------------


@pytest.fixture(params=["folder", "memory"])
def store_url(request, tmp_path: Path) -> str:
    if request.param == "folder":
        yield str(tmp_path / "store")
        return
    url = f"memory://fleet-{os.getpid()}-{time.monotonic_ns()}"
    yield url
    fs = fsspec.filesystem("memory")
    if fs.exists(url):
        fs.rm(url, recursive=True)


def test_store_pairs_are_whole_or_not_results(store_url: str) -> None:
    store = Store(store_url)
    plan = os.urandom(64)
    _put_cached(store, "k1", plan)
    assert store.find_cached("k1") == (plan, store.read_bytes("cache", "k1.plan.json"))
    assert store.find_cached("k2") is None
    # A plan without its sidecar (an object store between the two writes) is not a result.
    store.write_bytes(plan, "cache", "k2.plan")
    assert store.find_cached("k2") is None
    # Nor is a plan whose bytes differ from what its sidecar records.
    store.write_bytes(os.urandom(64), "cache", "k1.plan")
    assert store.find_cached("k1") is None
    # No temporary names are left behind.
    assert not [p for p in store.fs.find(store.root) if ".partial-" in p]


def test_a_failed_write_leaves_nothing(store_url: str) -> None:
    store = Store(store_url)

    def broken(staged: str) -> None:
        store.fs.pipe_file(staged, b"half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        store._move_into_place(broken, ("a", "x.plan"))
    assert not store.exists("a", "x.plan")
    assert not [p for p in store.fs.find(store.root) if ".partial-" in p]


# --- on the cluster ----------------------------------------------------------------------------------------------


def test_routing_and_plan_cache(
    run_cli, scheduler: str, tmp_path: Path, example_model: Path, store_url: str
) -> None:
    """Every job runs on a worker of its kind, and a job whose key the store holds is cached, not built."""
    manifest = _manifest(
        tmp_path,
        store_url,
        ["H100", "A10G"],
        [{"model": example_model.name, "profiles": [PROFILE], "precision": ["fp32", "fp16"]}],
    )
    store = Store(store_url)
    plans = {}
    for name in ("super_resolution-fp32", "super_resolution-fp16"):
        for gpu, machine in (("H100", H100), ("A10G", A10G)):
            plans[(name, gpu)] = os.urandom(128)
            _put_cached(store, _key_of(manifest, name, gpu, machine, tmp_path), plans[(name, gpu)])
    code, report, stderr = _fleet(run_cli, manifest, "--scheduler", scheduler)
    assert code == 0, stderr
    with distributed.Client(scheduler) as client:
        workers = client.scheduler_info(n_workers=-1)["workers"]
    offered = {address: worker["resources"] for address, worker in workers.items()}
    for entry in report["jobs"]:
        assert entry["state"] == "cached" and entry["exit_code"] == 0
        # The worker it ran on offers exactly its kind.
        assert offered[entry["worker"]] == {f"gpu-{entry['gpu']}": 1}
        pair = store.read_plan(entry["name"], entry["gpu"], "super_resolution.plan")
        assert pair is not None and pair[0] == plans[(entry["name"], entry["gpu"])]
        assert entry["plan"] == store.location(entry["name"], entry["gpu"], "super_resolution.plan")
    assert report["summary"] == {"cached": 4}


@pytest.mark.skipif(bool(cuda_gpus()), reason="this machine has a GPU: the local cluster would offer it")
def test_local_scheduler_without_a_gpu_finds_every_kind_unschedulable(run_cli, tmp_path: Path) -> None:
    manifest = _manifest(tmp_path, str(tmp_path / "s"), ["H100"], [{"model": "m.onnx"}])
    code, report, stderr = _fleet(run_cli, manifest)
    assert code == 3 and [e["state"] for e in report["jobs"]] == ["unschedulable"]
    assert "local cluster: 0 worker(s), this machine shows no GPU" in stderr


def test_the_local_cluster_has_one_worker_per_gpu_offering_its_kind() -> None:
    """Given two GPUs (kind, device), the local cluster starts two single-threaded workers, each offering its
    kind once; each worker's builds get its device (here without TensorRT, so no key)."""
    import socket

    from trtconvert.fleet.cluster import start_local_cluster
    from trtconvert.fleet.job_task import _MACHINES

    cluster = start_local_cluster([("H100", "0"), ("A10G", "1")])
    try:
        with distributed.Client(cluster.scheduler_address) as client:
            workers = client.scheduler_info(n_workers=-1)["workers"].values()
            offered = sorted((w["name"], w["nthreads"], tuple(w["resources"].items())) for w in workers)
    finally:
        cluster.close()
    host = socket.gethostname()
    assert offered == [(f"{host}-gpu0", 1, (("gpu-H100", 1),)), (f"{host}-gpu1", 1, (("gpu-A10G", 1),))]
    assert [_MACHINES[f"{host}-gpu0"].device, _MACHINES[f"{host}-gpu1"].device] == ["0", "1"]


def test_unschedulable_kind_is_reported_at_once(
    run_cli, scheduler: str, tmp_path: Path, example_model: Path
) -> None:
    store = str(tmp_path / "store")
    manifest = _manifest(
        tmp_path, store, ["H100", "V100"], [{"model": example_model.name, "profiles": [PROFILE]}]
    )
    _put_cached(Store(store), _key_of(manifest, "super_resolution", "H100", H100, tmp_path), b"plan")
    started = time.monotonic()
    code, report, stderr = _fleet(run_cli, manifest, "--scheduler", scheduler)
    assert time.monotonic() - started < 30
    assert code == 3
    by_gpu = {e["gpu"]: e for e in report["jobs"]}
    assert by_gpu["H100"]["state"] == "cached"
    assert by_gpu["V100"]["state"] == "unschedulable" and by_gpu["V100"]["exit_code"] == 3
    assert "gpu-V100" in by_gpu["V100"]["error"]
    assert report["ok"] is False and "unschedulable" in stderr


def test_wait_for_workers_waits_then_gives_up(
    run_cli, scheduler: str, tmp_path: Path, example_model: Path
) -> None:
    manifest = _manifest(
        tmp_path, str(tmp_path / "s"), ["V100"], [{"model": example_model.name, "profiles": [PROFILE]}]
    )
    started = time.monotonic()
    code, report, _ = _fleet(run_cli, manifest, "--scheduler", scheduler, "--wait-for-workers", "2")
    assert time.monotonic() - started >= 2
    assert code == 3 and report["jobs"][0]["state"] == "unschedulable"


@pytest.mark.skipif(TRT is not None, reason="TensorRT is installed here, so the build would not exit 3")
def test_a_worker_that_arrives_while_waiting_gets_the_job(tmp_path: Path, example_model: Path) -> None:
    """--wait-for-workers: a kind offered by a worker that joins during the wait is scheduled, not unschedulable
    (its worker has no TensorRT, so the build itself exits 3: a real `failed`)."""
    import threading

    from trtconvert.fleet.run import run_fleet

    manifest = read_manifest(
        _manifest(
            tmp_path, str(tmp_path / "s"), ["P100"], [{"model": example_model.name, "profiles": [PROFILE]}]
        )
    )
    cluster = distributed.LocalCluster(
        n_workers=0, processes=False, protocol="tcp", threads_per_worker=1, dashboard_address=":0"
    )
    try:
        base = cluster.new_spec

        def join_later() -> None:
            time.sleep(1.5)
            register_worker_machine("late-p100", NO_TENSORRT)
            options = {**base["options"], "resources": {"gpu-P100": 1}, "name": "late-p100"}
            cluster.new_spec = {"cls": base["cls"], "options": options}
            cluster.scale(1)

        joiner = threading.Thread(target=join_later)
        client = distributed.Client(cluster.scheduler_address)
        try:
            joiner.start()
            started = time.monotonic()
            (entry,) = run_fleet(manifest, client, wait_seconds=60)
            joiner.join()
        finally:
            client.close()
        assert time.monotonic() - started < 60
        assert entry["state"] == "failed" and entry["exit_code"] == 3, entry
        assert entry["worker"] is not None
    finally:
        cluster.close()


def test_a_bad_job_fails_alone(run_cli, scheduler: str, tmp_path: Path, example_model: Path) -> None:
    """A job whose model is missing fails with the build's exit code 2; the other job is unaffected."""
    store = str(tmp_path / "store")
    jobs = [
        {"model": example_model.name, "profiles": [PROFILE]},
        {"model": "missing.onnx", "name": "missing"},
    ]
    manifest = _manifest(tmp_path, store, ["H100"], jobs)
    _put_cached(Store(store), _key_of(manifest, "super_resolution", "H100", H100, tmp_path), b"plan")
    code, report, _ = _fleet(run_cli, manifest, "--scheduler", scheduler)
    assert code == 2
    by_name = {e["name"]: e for e in report["jobs"]}
    assert by_name["super_resolution"]["state"] == "cached"
    assert by_name["missing"]["state"] == "failed" and by_name["missing"]["exit_code"] == 2
    assert "missing.onnx" in by_name["missing"]["error"]
    assert not Store(store).exists("missing")


@pytest.mark.skipif(TRT is not None, reason="TensorRT is installed here, so the build would not exit 3")
def test_a_real_build_without_tensorrt_fails_with_exit_3(
    run_cli, scheduler: str, tmp_path: Path, example_model: Path
) -> None:
    """On the T4 worker (no TensorRT here) the build process runs its CPU stages and exits 3; nothing is stored."""
    store = str(tmp_path / "store")
    manifest = _manifest(
        tmp_path, store, ["T4"], [{"model": example_model.name, "profiles": [PROFILE], "rewrite": "none"}]
    )
    code, report, stderr = _fleet(run_cli, manifest, "--scheduler", scheduler)
    (entry,) = report["jobs"]
    assert code == 3, stderr
    assert entry["state"] == "failed" and entry["exit_code"] == 3 and entry["cache_key"] is None
    assert "TensorRT" in entry["error"] and entry["seconds"] > 0
    # A line when the job started on the worker, from the worker's event, then the line of its end.
    assert re.search(r"running +super_resolution on T4 \[", stderr)
    assert re.search(r"failed +super_resolution on T4 \[", stderr)
    assert not Path(store).exists() or not list(Path(store).rglob("*.plan"))


@pytest.mark.skipif(TRT is not None, reason="TensorRT is installed here: the build could finish first")
def test_cancel_stops_a_running_build_and_stores_nothing(
    scheduler: str, tmp_path: Path, example_model: Path
) -> None:
    """The Event that Ctrl-C sets stops a running build process; the task reports `cancelled`."""
    store = str(tmp_path / "store")
    # Large shapes and --verify: the build's CPU check alone takes several seconds, far past the cancel, so the
    # build cannot end (with exit 3, no TensorRT here) before it is stopped.
    slow = "input=1x3x512x512:1x3x768x768:1x3x1024x1024,factor=1x1x1024x1024:1x1x1536x1536:1x1x2048x2048"
    manifest = _manifest(
        tmp_path, store, ["T4"], [{"model": example_model.name, "profiles": [slow], "verify": True}]
    )
    (job,) = read_manifest(manifest).jobs
    with distributed.Client(scheduler) as client:
        cancel = f"test-cancel-{time.monotonic_ns()}"
        future = client.submit(build_job, job, store, cancel, resources={"gpu-T4": 1}, pure=False)
        time.sleep(1.0)  # the build process is starting (it takes seconds to load its modules)
        distributed.Event(cancel, client=client).set()
        entry = future.result(timeout=60)
    # Had the build run to its end it would have failed with exit 3 (no TensorRT): 130 means it was stopped.
    assert entry["state"] == "cancelled" and entry["exit_code"] == 130
    assert not Path(store).exists()


def _sidecar_as_built(model: Path, machine: WorkerMachine, gpu: str, plan: bytes) -> dict:
    """The sidecar a build of ``model`` at PROFILE on ``machine`` writes (the plan bytes are not an engine)."""
    from trtconvert.engine.plan_files import make_sidecar
    from trtconvert.model.info import graph_inputs, graph_outputs
    from trtconvert.model.load import read_graph
    from trtconvert.model.profiles import parse_profile

    request = resolve(
        make_spec(None, {"model": model, "profiles": [parse_profile(PROFILE)]}), machine.tensorrt_version
    )
    checked = preflight(request)
    assert machine.tensorrt_version is not None and machine.compute_capability is not None
    identity = build_identity(
        request, checked.model_path, [], [], machine.tensorrt_version, machine.compute_capability
    )
    graph = read_graph(model)
    return make_sidecar(
        identity,
        plan,
        model=str(model),
        inputs=[i.to_json() for i in graph_inputs(graph)],
        outputs=[o.to_json() for o in graph_outputs(graph)],
        precision={"precision": "fp32", "mode": "builder_flags", "builder_flags": [], "converter": None},
        gpu={
            "name": f"NVIDIA {gpu}",
            "compute_capability": machine.compute_capability,
        },
        strongly_typed=False,
        timings={},
    )


def test_triton_export_of_the_fleet(run_cli, scheduler: str, tmp_path: Path, example_model: Path) -> None:
    """With triton: set, each job's plans (one per GPU kind) are handed to the Triton export as one model."""
    pytest.importorskip("trtconvert.deploy.triton")
    store = Store(str(tmp_path / "store"))
    jobs = [{"model": example_model.name, "profiles": [PROFILE]}]
    manifest = _manifest(tmp_path, store.url, ["H100", "A10G"], jobs, triton="repo")
    for gpu, machine in (("H100", H100), ("A10G", A10G)):
        plan = os.urandom(64)
        sidecar = _sidecar_as_built(example_model, machine, gpu, plan)
        store.put_plan(plan, json.dumps(sidecar).encode(), *cache_parts(sidecar["cache_key"]))
    code, report, stderr = _fleet(run_cli, manifest, "--scheduler", scheduler)
    assert code == 0, stderr
    assert [e["state"] for e in report["jobs"]] == ["cached", "cached"]
    assert report["triton"]["repository"] == str(tmp_path / "repo")
    assert report["triton"]["models"]["super_resolution"]["exported"] is True
    assert (tmp_path / "repo" / "super_resolution").is_dir()


def test_triton_export_takes_one_plan_per_compute_capability(tmp_path: Path, example_model: Path) -> None:
    """A10G and A40 are both compute capability 8.6: Triton serves one plan per capability, so the first kind of
    gpus: is exported and the other is reported as left out, not a failed export."""
    from trtconvert.fleet.run import export_to_triton

    store = Store(str(tmp_path / "store"))
    jobs = [{"model": example_model.name, "profiles": [PROFILE]}]
    manifest = read_manifest(_manifest(tmp_path, store.url, ["A10G", "A40", "H100"], jobs, triton="repo"))
    entries = []
    for job, machine in zip(manifest.jobs, (A10G, A10G, H100), strict=True):
        plan = os.urandom(64)
        store.put_plan(
            plan,
            json.dumps(_sidecar_as_built(example_model, machine, job.gpu, plan)).encode(),
            *job.store_parts,
        )
        entries.append({"name": job.name, "gpu": job.gpu, "state": "built"})
    exported = export_to_triton(manifest, entries)["super_resolution"]
    assert exported["exported"] is True, exported
    assert sorted(p["compute_capability"] for p in exported["plans"]) == ["8.6", "9.0"]
    assert exported["left_out"] == ["A40 (compute capability 8.6, served by the A10G plan)"]


def test_triton_export_of_an_expanded_int8_fp16_job(
    run_cli, scheduler: str, tmp_path: Path, example_model: Path
) -> None:
    """A job named by "int8,fp16" holds a '+', which a Triton model name may not: its model is named with '_'."""
    store = Store(str(tmp_path / "store"))
    jobs = [{"model": example_model.name, "profiles": [PROFILE], "name": "sr+int8"}]
    triton = {"repository": "repo", "max_batch_size": 0}
    manifest = _manifest(tmp_path, store.url, ["H100"], jobs, triton=triton)
    plan = os.urandom(64)
    sidecar = _sidecar_as_built(example_model, H100, "H100", plan)
    store.put_plan(plan, json.dumps(sidecar).encode(), *cache_parts(sidecar["cache_key"]))
    code, report, stderr = _fleet(run_cli, manifest, "--scheduler", scheduler)
    assert code == 0, stderr
    model = report["triton"]["models"]["sr+int8"]
    assert model["exported"] is True and model["model"] == "sr_int8" and model["max_batch_size"] == 0
    assert (tmp_path / "repo" / "sr_int8" / "config.pbtxt").is_file()


# --- without the extra -----------------------------------------------------------------------------------------


def test_without_the_fleet_extra_the_cli_works_and_fleet_exits_3(tmp_path: Path) -> None:
    hide = "import sys\nfor name in ('dask', 'distributed', 'fsspec'):\n    sys.modules[name] = None\n"
    run = "from trtconvert.cli.main import main\nmain(sys.argv[1:])\n"
    script = tmp_path / "hidden.py"
    script.write_text(hide + run)

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(script), *args], capture_output=True, text=True, timeout=120
        )

    manifest = _manifest(tmp_path, "s", ["H100"], [{"model": "m.onnx"}])
    fleet = cli("fleet", str(manifest), "--dry-run")
    assert fleet.returncode == 3
    assert "pip install 'trtconvert[fleet]'" in fleet.stderr and "Traceback" not in fleet.stderr
    # Every other command still loads: build runs its checks and refuses the missing model (exit 2, not 3).
    build = cli("build", str(tmp_path / "missing.onnx"), "-o", str(tmp_path / "m.plan"))
    assert build.returncode == 2 and "missing.onnx" in build.stderr


@pytest.mark.skipif(bool(cuda_gpus()), reason="this machine has a GPU, so fleet worker would serve it")
def test_fleet_worker_without_a_gpu_exits_3(run_cli) -> None:
    result = run_cli("fleet", "worker", "tcp://127.0.0.1:9")
    assert result.code == 3 and "no NVIDIA GPU" in result.stderr


def test_fleet_help_teaches_the_manifest(run_cli) -> None:
    result = run_cli("fleet", "--help")
    assert result.code == 0
    for text in ("store:", "gpus:", "jobs:", "precision: [fp32, fp16]", "trtconvert fleet worker tcp://"):
        assert text in result.stdout
    missing = run_cli("fleet")
    assert missing.code == 2 and "Missing argument 'FLEET.yaml'" in missing.stderr


# --- on a GPU machine with TensorRT --------------------------------------------------------------------------


def _needs_tensorrt_and_gpu(test):
    for mark in NEEDS_TENSORRT_AND_GPU:
        test = mark(test)
    return test


@_needs_tensorrt_and_gpu
def test_local_fleet_builds_the_example_then_finds_it_cached(
    run_cli, tmp_path: Path, example_model: Path, plugin_library: Path
) -> None:
    """A real local cluster on this machine's GPU: the example in FP32 and FP16 with the plugin is built and
    verified by TensorRT, stored with its timing cache; the same manifest again is all cached."""
    store = tmp_path / "store"
    job = {
        "model": example_model.name,
        "profiles": [PROFILE],
        "rewrite": "all",
        "plugins": [str(plugin_library)],
        "precision": ["fp32", "fp16"],
        "verify": True,
    }
    manifest = _manifest(tmp_path, str(store), ["FLEETGPU"], [job])
    code, report, stderr = _fleet(run_cli, manifest, "--gpu-kind", "FLEETGPU")
    assert code == 0, stderr
    assert [(e["name"], e["state"]) for e in report["jobs"]] == [
        ("super_resolution-fp32", "built"),
        ("super_resolution-fp16", "built"),
    ]
    for entry in report["jobs"]:
        plan = store / entry["name"] / "FLEETGPU" / "super_resolution.plan"
        sidecar = read_sidecar(plan)  # checks the plan's size and sha256
        assert sidecar["cache_key"] == entry["cache_key"]
        assert (store / "cache" / f"{entry['cache_key']}.plan").read_bytes() == plan.read_bytes()
    assert list((store / "timing").glob("tensorrt-*/FLEETGPU.cache"))
    code, again, stderr = _fleet(run_cli, manifest, "--gpu-kind", "FLEETGPU")
    assert code == 0, stderr
    assert [e["state"] for e in again["jobs"]] == ["cached", "cached"]
    assert [e["cache_key"] for e in again["jobs"]] == [e["cache_key"] for e in report["jobs"]]
