"""The Dask side: GPU kinds as worker resources, the local cluster, `fleet worker`, and which kinds are offered.

A worker offers one GPU of kind K as the resource `gpu-K: 1`; each job's task asks for `gpu-K: 1`, so the
scheduler runs it only on a worker of that kind, one build per GPU at a time. A worker owns one GPU: this
module starts one worker per GPU and gives each the device it builds on (CUDA_VISIBLE_DEVICES of its builds).
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import time
from collections.abc import Iterable

from distributed import Client, LocalCluster, Worker

from trtconvert.engine.machine import Gpu, cuda_gpus
from trtconvert.errors import BadInput, MissingDependency, shown
from trtconvert.fleet.job_task import probe_machine, register_worker_machine

RESOURCE_PREFIX = "gpu-"
_VENDOR_WORDS = {"NVIDIA", "TESLA", "GEFORCE", "QUADRO"}
_SERIES_WORDS = {"RTX", "GTX", "TITAN"}


def resource_name(kind: str) -> str:
    return f"{RESOURCE_PREFIX}{kind}"


def gpu_kind(gpu_name: str) -> str:
    """The kind a GPU's name stands for: 'NVIDIA H100 80GB HBM3' -> H100, 'NVIDIA A10G' -> A10G,
    'NVIDIA GeForce RTX 4090' -> RTX4090. Plans depend on the compute capability and TensorRT, not on the
    memory size or the form factor, so those words are left out."""
    words = [w for w in re.split(r"[\s_]+", gpu_name) if w and w.upper() not in _VENDOR_WORDS]
    if not words:
        return "GPU"
    kind = words[0] + (words[1] if words[0].upper() in _SERIES_WORDS and len(words) > 1 else "")
    return re.sub(r"[^A-Za-z0-9_.+-]", "", kind) or "GPU"


def _device_ids(count: int) -> list[str]:
    """The CUDA_VISIBLE_DEVICES value that selects each visible GPU, keeping an existing selection."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = [d.strip() for d in visible.split(",") if d.strip()] if visible else []
    return ids[:count] if len(ids) >= count else [str(i) for i in range(count)]


def local_gpus(kind: str | None = None) -> list[tuple[str, str]]:
    """(kind, CUDA device id) of every GPU of this machine; ``kind`` overrides the kind read from the names."""
    gpus: list[Gpu] = cuda_gpus()
    return [
        (kind or gpu_kind(gpu.name), device) for gpu, device in zip(gpus, _device_ids(len(gpus)), strict=True)
    ]


def worker_name(host: str, device: str) -> str:
    """The name of the worker of one GPU: unique in a cluster, and the key of the device its builds get."""
    return f"{host}-gpu{device}"


def start_local_cluster(gpus: Iterable[tuple[str, str]]) -> LocalCluster:
    """A LocalCluster on this machine with one single-threaded worker per GPU, advertising its kind. Workers
    are threads of this process (the builds are processes of their own)."""
    cluster = LocalCluster(n_workers=0, processes=False, threads_per_worker=1, dashboard_address=":0")
    base = cluster.new_spec
    host = socket.gethostname()
    for count, (kind, device) in enumerate(gpus, start=1):
        name = worker_name(host, device)
        register_worker_machine(name, probe_machine(device))
        # Each worker gets its own options: SpecCluster copies new_spec for every worker it adds.
        options = {**base["options"], "resources": {resource_name(kind): 1}, "name": name}
        cluster.new_spec = {"cls": base["cls"], "options": options}
        cluster.scale(count)
        cluster.wait_for_workers(count)
    return cluster


# The protocols a scheduler serves other machines on with distributed alone (ucx needs ucx-py, inproc is
# one process).
SCHEDULER_PROTOCOLS = ("tcp", "tls")


def checked_address(address: str) -> str:
    """A scheduler address the user gave, checked before Dask parses it (a local cluster's own address may be
    inproc://): Dask's parser raises
    ValueError or TypeError on a missing or non-numeric port, a bare IPv6 host or a protocol it lacks."""
    from distributed.comm.addressing import parse_address, parse_host_port

    try:
        protocol, location = parse_address(address)
        port = parse_host_port(location)[1]
        usable = protocol in SCHEDULER_PROTOCOLS and 0 < int(port) < 65536
    except (ValueError, TypeError):
        usable = False
    if not usable:
        raise BadInput(
            f"{shown(address)} is not a Dask scheduler address; give tcp://HOST:PORT (tcp://sched:8786, "
            "tcp://[::1]:8786 for IPv6), as `dask scheduler` prints it"
        )
    return address


def connect(address: str, timeout_seconds: float = 20) -> Client:
    try:
        return Client(address, timeout=f"{timeout_seconds}s")
    except (OSError, TimeoutError) as err:
        raise BadInput(
            f"no Dask scheduler answers at {address} ({type(err).__name__}); start one with `dask scheduler` "
            "and give its tcp://HOST:PORT, or use --scheduler local"
        ) from None


def offered_kinds(client: Client) -> set[str]:
    """The GPU kinds that at least one worker of the scheduler offers now."""
    kinds = set()
    for worker in client.scheduler_info(n_workers=-1)["workers"].values():
        for resource, amount in (worker.get("resources") or {}).items():
            if resource.startswith(RESOURCE_PREFIX) and amount >= 1:
                kinds.add(resource[len(RESOURCE_PREFIX) :])
    return kinds


def wait_for_kinds(client: Client, kinds: set[str], seconds: float) -> set[str]:
    """The wanted kinds that some worker offers, after waiting up to ``seconds`` for the missing ones."""
    deadline = time.monotonic() + seconds
    while True:
        offered = offered_kinds(client) & kinds
        if offered == kinds or time.monotonic() >= deadline:
            return offered
        time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))


async def _serve(address: str, gpus: list[tuple[str, str]], host: str) -> None:
    workers = []
    for kind, device in gpus:
        name = worker_name(host, device)
        register_worker_machine(name, probe_machine(device))
        workers.append(Worker(address, nthreads=1, resources={resource_name(kind): 1}, name=name))
    await asyncio.gather(*workers)
    await asyncio.gather(*(worker.finished() for worker in workers))


def serve_workers(address: str, gpus: list[tuple[str, str]]) -> None:
    """Run one Dask worker per GPU (kind, device), connected to ``address``, until they are stopped."""
    if not gpus:
        raise MissingDependency(
            "this machine has no NVIDIA GPU the driver can see, so it has nothing to offer the fleet; run "
            "`trtconvert fleet worker` on a GPU machine"
        )
    asyncio.run(_serve(address, gpus, socket.gethostname()))
