"""Run a manifest on a Dask cluster: one task per (job, GPU kind), the report, the Triton export.

A kind that no worker offers is reported `unschedulable` before anything is submitted (after waiting up to
--wait-for-workers for one), never left waiting. One job failing never stops the others: each task returns its
own report entry. Ctrl-C sets a Dask Event that every running task watches: it stops its build process (which
removes its staged files) and writes nothing to the store; tasks not started yet are cancelled.
"""

from __future__ import annotations

import json
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from distributed import Client, Event, as_completed

from trtconvert.errors import TrtConvertError
from trtconvert.fleet.cluster import resource_name, wait_for_kinds
from trtconvert.fleet.job_task import build_job
from trtconvert.fleet.manifest import Job, Manifest, triton_model_name, written
from trtconvert.fleet.store import Store

DONE_STATES = ("built", "cached")


class FleetIncomplete(TrtConvertError):
    """Some job did not build: the fleet exits with the largest job exit code, its report beside the error."""

    def __init__(self, message: str, exit_code: int, report: dict[str, Any]) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.measured = report


_DRAIN_SECONDS = 30.0


def expanded_jobs(manifest: Manifest) -> list[dict[str, Any]]:
    """What --dry-run lists: each job, its GPU kind, its settings and where its plan goes."""
    store = Store(manifest.store)
    return [
        {
            "name": job.name,
            "gpu": job.gpu,
            "plan": store.location(*job.store_parts),
            # A number that JSON would show otherwise than written (a version 10.10 as 10.1) is shown as text.
            "settings": {
                key: written(value) if written(value) != str(value) else value
                for key, value in job.settings.items()
            },
        }
        for job in manifest.jobs
    ]


def triton_models(manifest: Manifest) -> dict[str, Any] | None:
    """What --dry-run shows of triton: the repository and the model each job's plans are exported as."""
    if manifest.triton is None:
        return None
    names = dict.fromkeys(job.name for job in manifest.jobs)
    return {
        "repository": str(manifest.triton.repository),
        "models": {name: triton_model_name(name) for name in names},
    }


def _entry(job: Job, state: str, exit_code: int | None, error: str | None = None, **more: Any) -> dict:
    entry: dict[str, Any] = {"name": job.name, "gpu": job.gpu, "state": state, "exit_code": exit_code}
    entry.update({"worker": None, "plan": None, "seconds": 0.0, "cache_key": None, **more})
    if error is not None:
        entry["error"] = error
    return entry


def fleet_exit_code(entries: list[dict[str, Any]]) -> int:
    """0 when every job built or was cached, otherwise the largest job exit code (3 for no worker)."""
    if all(e["state"] in DONE_STATES for e in entries):
        return 0
    return max(int(e["exit_code"] or 1) for e in entries if e["state"] not in DONE_STATES)


def _drain(client: Client, seconds: float) -> None:
    """Give running tasks the time to see the cancel Event and stop their builds."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(client.processing().values()):
        time.sleep(0.2)


def run_fleet(
    manifest: Manifest,
    client: Client,
    wait_seconds: float = 0.0,
    on_change: Callable[[dict[str, Any]], None] = lambda entry: None,
) -> list[dict[str, Any]]:
    """Run every job of the manifest; one report entry per (job, GPU kind), in manifest order."""
    offered = wait_for_kinds(client, set(manifest.gpus), wait_seconds)
    entries: dict[tuple[str, str], dict[str, Any]] = {}
    futures = {}
    # One name for this run: the Event that cancels its tasks and the topic of their "running" events.
    cancel = f"trtconvert-fleet-{uuid.uuid4().hex}"
    client.subscribe_topic(cancel, lambda event: on_change(event[1]))
    for job in manifest.jobs:
        if job.gpu not in offered:
            entry = _entry(
                job,
                "unschedulable",
                3,
                f"no worker of the cluster offers {resource_name(job.gpu)}; start one on a machine with a "
                f"{job.gpu} GPU (trtconvert fleet worker SCHEDULER) or add --wait-for-workers SECONDS",
            )
            entries[(job.name, job.gpu)] = entry
            on_change(entry)
            continue
        future = client.submit(
            build_job,
            job,
            manifest.store,
            cancel,
            resources={resource_name(job.gpu): 1},
            pure=False,
            key=f"trtconvert-fleet-{job.name}-{job.gpu}-{uuid.uuid4().hex[:8]}",
        )
        futures[future] = job
        on_change(_entry(job, "queued", None))
    try:
        for future in as_completed(list(futures)) if futures else ():
            job = futures[future]
            try:
                entry = future.result()
            # The task itself broke (a bug, or its worker died): this job alone fails.
            except Exception as err:
                entry = _entry(job, "failed", 1, f"the task failed: {type(err).__name__}: {err}")
            entries[(job.name, job.gpu)] = entry
            on_change(entry)
    except BaseException:  # Ctrl-C, SIGTERM or SIGHUP: stop what runs, write nothing more
        Event(cancel, client=client).set()
        client.cancel(list(futures))
        _drain(client, _DRAIN_SECONDS)
        raise
    finally:
        client.unsubscribe_topic(cancel)
    return [entries[(job.name, job.gpu)] for job in manifest.jobs]


def export_to_triton(manifest: Manifest, entries: list[dict[str, Any]]) -> dict[str, Any]:
    """Export each job's plans (one per GPU kind that built it) as one Triton model named after the job
    (triton_model_name); the result is keyed by job name."""
    assert manifest.triton is not None
    try:
        from trtconvert.deploy.triton import export_triton
    except ImportError as err:
        reason = f"this trtconvert has no Triton export ({err}); update trtconvert, or remove triton: from the manifest"
        return {
            name: {"exported": False, "reason": reason, "exit_code": 3}
            for name in dict.fromkeys(j.name for j in manifest.jobs)
        }
    store = Store(manifest.store)
    done = {(e["name"], e["gpu"]) for e in entries if e["state"] in DONE_STATES}
    states = {(e["name"], e["gpu"]): e["state"] for e in entries}
    exported: dict[str, Any] = {}
    names = list(dict.fromkeys(job.name for job in manifest.jobs))
    with tempfile.TemporaryDirectory(prefix="trtconvert-fleet-triton-") as folder:
        for name in names:
            missing = [
                f"{j.gpu} ({states.get((j.name, j.gpu), 'not run')})"
                for j in manifest.jobs
                if j.name == name and (j.name, j.gpu) not in done
            ]
            if missing:
                # A model without some kind's plan would replace one that has it: the GPUs of that kind would
                # then load the default plan, built for another compute capability, and fail.
                exported[name] = {
                    "exported": False,
                    "reason": f"not built on {', '.join(missing)}; the model in the repository is left as it was",
                }
                continue
            plans = []
            # Triton picks a plan by compute capability: of GPU kinds that share one (L4 and L40S, say), the
            # first in gpus: serves it, and the others' plans stay in the store.
            capabilities: dict[str, str] = {}
            same_capability = []
            for job in (j for j in manifest.jobs if j.name == name and (j.name, j.gpu) in done):
                pair = store.read_plan(*job.store_parts)
                if pair is None:
                    continue
                gpu = json.loads(pair[1]).get("gpu")
                capability = str(gpu.get("compute_capability") if isinstance(gpu, dict) else None)
                if capability in capabilities:
                    same_capability.append(
                        f"{job.gpu} (compute capability {capability}, served by the {capabilities[capability]} plan)"
                    )
                    continue
                capabilities[capability] = job.gpu
                local = Path(folder) / name / job.gpu / job.plan_name
                local.parent.mkdir(parents=True)
                local.write_bytes(pair[0])
                local.with_name(local.name + ".json").write_bytes(pair[1])
                plans.append(local)
            if not plans:
                exported[name] = {"exported": False, "reason": "the store holds none of its plans"}
                continue
            # The plans' plugin libraries, where the job names them: Triton loads them beside the model.
            plugins = [
                Path(p) for j in manifest.jobs if j.name == name for p in j.settings.get("plugins", [])
            ]
            try:
                result = export_triton(
                    plans,
                    manifest.triton.repository,
                    triton_model_name(name),
                    max_batch_size=manifest.triton.max_batch_size,
                    instances=manifest.triton.instances,
                    replace=manifest.triton.replace,
                    **({"plugins": list(dict.fromkeys(plugins))} if plugins else {}),
                )
            except TrtConvertError as err:
                exported[name] = {"exported": False, "reason": str(err), "exit_code": err.exit_code}
                continue
            exported[name] = {"exported": True, **(result or {})}
            if same_capability:
                exported[name]["left_out"] = same_capability
    return exported
