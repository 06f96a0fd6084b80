"""The task a Dask worker runs for one (job, GPU kind): content key, plan cache, build, store.

The build itself runs as its own process, `python -m trtconvert build --config JOB.yaml --json`: its exit code
comes out exactly as the CLI contract states it, a crash stays in that process, and TensorRT's and
onnxruntime's process-wide state is never shared between builds on one worker.

The content key (`engine.plan_files.build_identity`, the key of `build --cache-dir`) needs the TensorRT version
and the GPU's compute capability, which only the worker knows: the task computes it on the worker, before the
build, and a job whose key is in the store is copied from the plan cache without building. A worker without
TensorRT or a GPU cannot key a job: its build runs, finds no TensorRT and exits 3 (a failed job).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from distributed import Event, get_worker

from trtconvert.engine.plan_files import build_identity, sidecar_path
from trtconvert.errors import TrtConvertError
from trtconvert.fleet.manifest import Job
from trtconvert.fleet.store import Store, cache_parts, timing_cache_parts

_POLL_SECONDS = 0.5
_PROBE = (
    "import json\n"
    "from trtconvert.engine.machine import cuda_gpu, import_tensorrt\n"
    "trt, _ = import_tensorrt()\n"
    "gpu, _ = cuda_gpu() if trt is not None else (None, '')\n"
    "print(json.dumps([getattr(trt, '__version__', None), getattr(gpu, 'compute_capability', None)]))\n"
)


@dataclass(frozen=True)
class WorkerMachine:
    """What one worker's builds run on."""

    tensorrt_version: str | None  # None: no TensorRT here, so builds exit 3
    compute_capability: str | None  # of the worker's GPU; None: no GPU
    device: str | None = None  # CUDA_VISIBLE_DEVICES for this worker's builds; None keeps the environment's

    @property
    def can_key(self) -> bool:
        return self.tensorrt_version is not None and self.compute_capability is not None


# Workers started by this process (`fleet worker`, the local cluster) say which GPU they own; a worker started
# another way (`dask worker`) probes its environment on its first task.
# The workers of one process are threads (the local cluster), so the registry is guarded.
_MACHINES: dict[str, WorkerMachine] = {}
_MACHINES_LOCK = threading.Lock()


def register_worker_machine(worker_name: object, machine: WorkerMachine) -> None:
    with _MACHINES_LOCK:
        _MACHINES[str(worker_name)] = machine


def probe_machine(device: str | None = None) -> WorkerMachine:
    """TensorRT's version and the GPU's compute capability, from a fresh process (so that this one never loads
    TensorRT or initialises CUDA)."""
    env = dict(os.environ, **({"CUDA_VISIBLE_DEVICES": device} if device is not None else {}))
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    try:
        version, capability = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        version, capability = None, None
    return WorkerMachine(version, capability, device)


def _machine_of(worker_name: object) -> WorkerMachine:
    name = str(worker_name)
    with _MACHINES_LOCK:
        known = _MACHINES.get(name)
    if known is not None:
        return known
    probed = probe_machine()  # a process start: outside the lock, so other workers' lookups do not wait
    with _MACHINES_LOCK:
        return _MACHINES.setdefault(name, probed)


def content_key(config: Path, machine: WorkerMachine) -> str:
    """The key `build --cache-dir` gives this job's plan on this machine (BadInput for a bad job)."""
    from trtconvert.prepare.pipeline import preflight
    from trtconvert.settings.request import resolve
    from trtconvert.settings.spec import make_spec

    assert machine.tensorrt_version is not None and machine.compute_capability is not None
    request = resolve(make_spec(config, {}), machine.tensorrt_version)
    checked = preflight(request)
    identity = build_identity(
        request,
        checked.model_path,
        checked.data_files,
        request.plugins,
        machine.tensorrt_version,
        machine.compute_capability,
    )
    return identity.key


def _error_line(stderr: str) -> str | None:
    errors = [line[len("error: ") :] for line in stderr.splitlines() if line.startswith("error: ")]
    return errors[-1] if errors else None


class _Cancelled(Exception):
    pass


def _cancelled(event_name: str | None) -> bool:
    return event_name is not None and Event(event_name).is_set()


def _run_build(
    config: Path, folder: Path, machine: WorkerMachine, cancel: str | None
) -> tuple[int, str | None]:
    """Run the build process; its exit code and its error line. A cancelled fleet stops it (SIGTERM: the
    build removes its staged files on the way out)."""
    env = dict(os.environ)
    if machine.device is not None:
        env["CUDA_VISIBLE_DEVICES"] = machine.device
    argv = [sys.executable, "-m", "trtconvert", "build", "--config", str(config), "--json", "-q"]
    with open(folder / "stdout", "wb") as out, open(folder / "stderr", "wb") as err:
        process = subprocess.Popen(argv, stdout=out, stderr=err, env=env)
        while True:
            try:
                process.wait(timeout=_POLL_SECONDS)
                break
            except subprocess.TimeoutExpired:
                if _cancelled(cancel):
                    process.terminate()
                    process.wait()
                    raise _Cancelled from None
    stderr = (folder / "stderr").read_text(errors="replace")
    code = process.returncode
    if code < 0:
        return 1, f"the build process was killed by signal {-code}"
    return code, _error_line(stderr) or (None if code == 0 else f"the build exited {code}")


def build_job(job: Job, store_url: str, cancel: str | None = None) -> dict[str, Any]:
    """Build one job on this worker, or copy it from the plan cache; the report entry of the job.

    ``cancel`` names the fleet's run: the Dask Event that stops it, and the topic its progress goes to."""
    started = time.monotonic()
    worker = get_worker()
    machine = _machine_of(worker.name)
    store = Store(store_url)
    entry: dict[str, Any] = {
        "name": job.name,
        "gpu": job.gpu,
        "worker": worker.name if isinstance(worker.name, str) else worker.address,
        "plan": None,
        "cache_key": None,
    }

    def finish(state: str, exit_code: int, error: str | None = None) -> dict[str, Any]:
        if state in ("built", "cached"):
            entry["plan"] = store.location(*job.store_parts)
        entry.update(state=state, exit_code=exit_code, seconds=round(time.monotonic() - started, 3))
        if error is not None:
            entry["error"] = error
        return entry

    if cancel is not None:
        # The client prints a line for it: the job left the queue and runs on this worker.
        worker.log_event(cancel, {**entry, "state": "running", "exit_code": None, "seconds": 0.0})
    with tempfile.TemporaryDirectory(prefix="trtconvert-fleet-") as name:
        folder = Path(name)
        plan = folder / job.plan_name
        timing = folder / "timing.cache" if machine.tensorrt_version is not None else None
        config = folder / "job.yaml"
        config.write_text(job.config_yaml(plan, timing))
        try:
            if machine.can_key:
                try:
                    entry["cache_key"] = content_key(config, machine)
                except TrtConvertError as err:
                    return finish("failed", err.exit_code, str(err))
                pair = store.find_cached(entry["cache_key"])
                if pair is not None:
                    if _cancelled(cancel):
                        raise _Cancelled
                    store.put_plan(*pair, *job.store_parts)
                    return finish("cached", 0)
            if timing is not None and machine.tensorrt_version is not None:
                store.get_file(timing, *timing_cache_parts(machine.tensorrt_version, job.gpu))
            code, error = _run_build(config, folder, machine, cancel)
            if code != 0:
                return finish("failed", code, error)
            plan_bytes, sidecar_bytes = plan.read_bytes(), sidecar_path(plan).read_bytes()
            if _cancelled(cancel):
                raise _Cancelled
            store.put_plan(plan_bytes, sidecar_bytes, *job.store_parts)
            entry["cache_key"] = json.loads(sidecar_bytes)["cache_key"]
            store.put_plan(plan_bytes, sidecar_bytes, *cache_parts(entry["cache_key"]))
            if timing is not None and timing.is_file() and machine.tensorrt_version is not None:
                # The build loaded the store's cache and merged its own timings into it; two builds that end
                # together keep one's: a timing cache only speeds builds up, it never changes an engine.
                store.put_file(timing, *timing_cache_parts(machine.tensorrt_version, job.gpu))
            return finish("built", 0)
        except _Cancelled:
            return finish("cancelled", 130, "the fleet was interrupted")
        except OSError as err:
            return finish("failed", 2, f"store {store.url}: {err}; check the store's path or URL and access")
