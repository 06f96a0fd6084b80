"""`trtconvert fleet`: build a manifest of models on every GPU kind of a Dask cluster, into one store;
`trtconvert fleet worker`: offer this machine's GPUs to such a cluster."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import click

from trtconvert import log
from trtconvert.cli.options import (
    EPILOG_CODES,
    FiniteFloat,
    StrictGroup,
    echo_lines,
    emit,
    report_options,
    setup_logging,
)
from trtconvert.errors import MissingDependency

FLEET_EXTRA = "pip install 'trtconvert[fleet]'"
_FLEET_PACKAGES = ("dask", "distributed", "fsspec")


def _require_fleet_extra() -> None:
    """The fleet needs dask, distributed and fsspec; the rest of trtconvert does not (exit 3 naming the extra)."""
    import importlib

    for package in _FLEET_PACKAGES:
        try:
            importlib.import_module(package)
        except ImportError:
            raise MissingDependency(
                f"trtconvert fleet needs the '{package}' package, which is not installed; install the fleet "
                f"extra: {FLEET_EXTRA}"
            ) from None


class _FleetGroup(StrictGroup):
    """`fleet MANIFEST` runs a manifest; `fleet worker ADDRESS` starts a worker."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("-h", "--help")):
            args = ["run", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_FleetGroup, epilog=EPILOG_CODES)
def fleet() -> None:
    """Build many models on many GPU kinds from one manifest, on a Dask cluster, into one store.

    A plan runs only on the GPU kind and TensorRT version that built it, so every job of FLEET.yaml is built on
    every kind it lists; each (job, kind) is one Dask task that only a worker offering that kind (the resource
    gpu-KIND) runs. A job whose content key is already in the store is copied, not built. Needs the fleet
    extra: pip install 'trtconvert[fleet]'.

    \b
    FLEET.yaml:
      store: engines/                    # a folder or an fsspec URL (s3://bucket/prefix)
      gpus: [H100, A10G]                 # every job is built on every kind
      jobs:
        - config: configs/super_resolution.yaml   # keys here override the config's
          precision: [fp32, fp16]                  # a list: one job per value
        - model: models/det.onnx
          profiles: ["x=1x3x64x64:1x3x320x320:1x3x640x640"]
      triton: repo/                      # optional: export the plans as a Triton repository

    \b
    Example:
      trtconvert fleet benchmarks/fleet_example.yaml --dry-run     # the bundled manifest: its jobs, nothing built
      trtconvert fleet FLEET.yaml --dry-run
      trtconvert fleet FLEET.yaml                                  # a local cluster: one worker per local GPU
      trtconvert fleet FLEET.yaml --scheduler tcp://sched:8786 --json
      trtconvert fleet worker tcp://sched:8786                     # on each GPU machine
    """


@fleet.command("run", epilog=EPILOG_CODES)
@click.argument("manifest_path", metavar="FLEET.yaml", type=click.Path(path_type=Path))
@click.option(
    "--scheduler",
    default="local",
    show_default=True,
    metavar="local|tcp://HOST:PORT",
    help="'local' starts a Dask cluster here with one worker per local GPU; an address uses a running cluster.",
)
@click.option("--dry-run", is_flag=True, help="List the expanded jobs and their store paths; run nothing.")
@click.option(
    "--wait-for-workers",
    type=FiniteFloat(min=0, max=86400),
    default=0,
    metavar="SECONDS",
    help="Wait up to this long for a worker of each GPU kind before calling the kind's jobs unschedulable.",
)
@click.option(
    "--gpu-kind",
    metavar="KIND",
    default=None,
    help="With --scheduler local: the kind the local GPUs offer, instead of the one read from their names.",
)
@report_options
def run(
    manifest_path: Path,
    scheduler: str,
    dry_run: bool,
    wait_for_workers: float,
    gpu_kind: str | None,
    as_json: bool,
    verbose: int,
    quiet: bool,
    debug: bool,
) -> None:
    """Run FLEET.yaml (the same as `trtconvert fleet FLEET.yaml`).

    \b
    Example:
      trtconvert fleet run FLEET.yaml --scheduler tcp://sched:8786 --wait-for-workers 120
    """
    setup_logging(verbose, quiet)
    _require_fleet_extra()
    from trtconvert.fleet.cluster import checked_address
    from trtconvert.fleet.manifest import read_manifest
    from trtconvert.fleet.run import expanded_jobs, triton_models

    if scheduler != "local":
        checked_address(scheduler)

    manifest = read_manifest(manifest_path)
    if dry_run:
        jobs = expanded_jobs(manifest)
        for job in jobs:
            log.LOGGER.info("%s on %s: %s", job["name"], job["gpu"], job["plan"])
        triton = triton_models(manifest)
        if triton is not None:
            for job, model in triton["models"].items():
                log.LOGGER.info("%s -> Triton model %s in %s", job, model, triton["repository"])
        log.LOGGER.info("%d job(s) into %s; nothing was run", len(jobs), manifest.store)
        report = {"ok": True, "command": "fleet", "dry_run": True, "store": manifest.store, "jobs": jobs}
        if triton is not None:
            report["triton"] = triton
        emit(report, as_json)
        return
    entries, triton = _run_on_cluster(manifest, scheduler, wait_for_workers, gpu_kind)
    _finish(manifest, entries, triton, as_json)


def _run_on_cluster(
    manifest: Any, scheduler: str, wait_seconds: float, kind: str | None
) -> tuple[list[dict], dict | None]:
    from trtconvert.fleet.cluster import connect, local_gpus, start_local_cluster
    from trtconvert.fleet.run import export_to_triton, run_fleet

    cluster = None
    if scheduler == "local":
        gpus = local_gpus(kind)
        log.LOGGER.info(
            f"local cluster: {len(gpus)} worker(s)"
            + (
                f" ({', '.join(f'{k} on device {d}' for k, d in gpus)})"
                if gpus
                else ", this machine shows no GPU"
            )
        )
        cluster = start_local_cluster(gpus)
        address = cluster.scheduler_address
    else:
        address = scheduler
    client = connect(address)
    try:
        entries = run_fleet(manifest, client, wait_seconds, on_change=_show_change)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    triton = export_to_triton(manifest, entries) if manifest.triton is not None else None
    return entries, triton


def _show_change(entry: dict) -> None:
    where = f" [{entry['worker']}]" if entry.get("worker") else ""
    seconds = f" {entry['seconds']:.1f} s" if entry.get("seconds") else ""
    detail = entry.get("plan") or entry.get("error") or ""
    log.LOGGER.info(
        f"{entry['state']:<13} {entry['name']} on {entry['gpu']}{where}{seconds}  {detail}".rstrip()
    )


def _table(entries: list[dict]) -> list[str]:
    rows = [("job", "gpu", "state", "exit", "seconds", "plan or error")]
    for e in entries:
        rows.append(
            (
                e["name"],
                e["gpu"],
                e["state"],
                str(e["exit_code"]),
                f"{e['seconds']:.1f}",
                e.get("plan") or e.get("error") or "",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:5], widths, strict=True)) + "  " + row[5]
        for row in rows
    ]


def _finish(manifest: Any, entries: list[dict], triton: dict | None, as_json: bool) -> None:
    from trtconvert.fleet.run import FleetIncomplete, fleet_exit_code

    code = fleet_exit_code(entries)
    if triton is not None:
        failed_exports = [
            e.get("exit_code", 2) for e in triton.values() if not e["exported"] and "exit_code" in e
        ]
        code = max([code, *failed_exports])
    counts: dict[str, int] = {}
    for entry in entries:
        counts[entry["state"]] = counts.get(entry["state"], 0) + 1
    if sys.stderr.isatty() and log.LOGGER.isEnabledFor(logging.INFO):
        echo_lines(_table(entries), err=True)
    summary = ", ".join(f"{n} {state}" for state, n in counts.items())
    report: dict[str, Any] = {
        "ok": code == 0,
        "command": "fleet",
        "exit_code": code,
        "store": manifest.store,
        "summary": counts,
        "jobs": entries,
    }
    if triton is not None:
        report["triton"] = {"repository": str(manifest.triton.repository), "models": triton}
    if code == 0:
        log.LOGGER.info(f"fleet: {summary}; plans in {manifest.store}")
        emit(report, as_json)
        return
    if fleet_exit_code(entries) == 0:
        message = f"every job built ({summary}), but the Triton export failed; see the report's 'triton'"
    else:
        message = f"not every job built ({summary}); the report names each job's exit code and error"
    raise FleetIncomplete(message, code, report)


@fleet.command(epilog=EPILOG_CODES)
@click.argument("scheduler", metavar="tcp://HOST:PORT")
@click.option(
    "--gpu-kind",
    metavar="KIND",
    default=None,
    help="The kind to offer instead of the one read from the GPU names.",
)
@report_options
def worker(
    scheduler: str, gpu_kind: str | None, as_json: bool, verbose: int, quiet: bool, debug: bool
) -> None:
    """Offer this machine's GPUs to a fleet's Dask cluster: one worker per GPU, each advertising the resource
    gpu-KIND (e.g. gpu-H100 from 'NVIDIA H100 80GB HBM3'), until stopped (Ctrl-C).

    \b
    Example:
      dask scheduler                          # on any machine: prints tcp://HOST:8786
      trtconvert fleet worker tcp://HOST:8786 # on each GPU machine
    The same with plain Dask, one worker per GPU:
      CUDA_VISIBLE_DEVICES=0 dask worker tcp://HOST:8786 --nthreads 1 --resources gpu-H100=1
    """
    setup_logging(verbose, quiet)
    _require_fleet_extra()
    from trtconvert.fleet.cluster import checked_address, local_gpus, serve_workers

    checked_address(scheduler)
    gpus = local_gpus(gpu_kind)
    if gpus:
        log.LOGGER.info(f"offering {', '.join(f'gpu-{k} (device {d})' for k, d in gpus)} to {scheduler}")
    serve_workers(scheduler, gpus)
