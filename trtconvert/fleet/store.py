"""The fleet's store: a folder or any fsspec URL holding plans, sidecars, timing caches and the plan cache.

Layout under the store's root:

    <job>/<gpu>/<model>.plan (+ .plan.json)    each job's result
    cache/<content key>.plan (+ .plan.json)    the plan cache, keyed as `build --cache-dir` keys it
    timing/tensorrt-<version>/<gpu>.cache      one TensorRT timing cache per TensorRT version and GPU kind

Every file is written under a temporary name beside its destination, then moved into place: a local rename is
atomic; on an object store the move is a copy, so a reader may see a plan whose sidecar is not there yet.
Plans are therefore written before their sidecars, and a plan counts as a result only with a sidecar that
records its size and sha256 (`find_cached`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import socket
import uuid
from pathlib import Path
from typing import Any

import fsspec

from trtconvert.atomic import process_alive
from trtconvert.engine.plan_files import Malformed, check_sidecar
from trtconvert.errors import BadInput, MissingDependency, clipped

_HOST = socket.gethostname()
_STAGED_RE = re.compile(r"(?P<name>.+)\.partial-(?P<pid>\d+)@(?P<host>.+)-[0-9a-f]{12}")


def timing_cache_parts(tensorrt_version: str, gpu: str) -> tuple[str, str, str]:
    return ("timing", f"tensorrt-{tensorrt_version}", f"{gpu}.cache")


def cache_parts(key: str) -> tuple[str, str]:
    return ("cache", f"{key}.plan")


class Store:
    """Atomic file access to the store through fsspec."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            self.fs, root = fsspec.core.url_to_fs(url)
        except ImportError as err:  # a known protocol whose package is not installed (s3fs, gcsfs)
            raise MissingDependency(f"store {clipped(url)}: {err}") from None
        except ValueError as err:  # a protocol fsspec does not know, or a URL it cannot read
            raise BadInput(
                f"store {clipped(url)}: {err}; give a folder or an fsspec URL such as s3://bucket/prefix"
            ) from None
        self.root = root.rstrip("/")

    def path(self, *parts: str) -> str:
        return "/".join([self.root, *parts])

    def location(self, *parts: str) -> str:
        """Where a file is, as a user would write it: a local path or a URL."""
        path = self.path(*parts)
        protocol = self.fs.protocol if isinstance(self.fs.protocol, str) else self.fs.protocol[0]
        return path if protocol in ("file", "local") else f"{protocol}://{path.lstrip('/')}"

    def exists(self, *parts: str) -> bool:
        return bool(self.fs.exists(self.path(*parts)))

    def read_bytes(self, *parts: str) -> bytes | None:
        try:
            return self.fs.cat_file(self.path(*parts))
        except FileNotFoundError:
            return None

    def write_bytes(self, data: bytes, *parts: str) -> None:
        self._move_into_place(lambda staged: self.fs.pipe_file(staged, data), parts)

    def put_file(self, local: Path, *parts: str) -> None:
        self._move_into_place(lambda staged: self.fs.put_file(str(local), staged), parts)

    def get_file(self, local: Path, *parts: str) -> bool:
        """Copy a store file to ``local``; False where the store has none."""
        data = self.read_bytes(*parts)
        if data is None:
            return False
        local.write_bytes(data)
        return True

    def _move_into_place(self, write: Any, parts: tuple[str, ...]) -> None:
        final = self.path(*parts)
        # Who stages it (pid@host) is in the name, so that a later write of the same file can tell a killed
        # writer's leftover from a file another worker is writing right now.
        staged = f"{final}.partial-{os.getpid()}@{_HOST}-{uuid.uuid4().hex[:12]}"
        parent = final.rsplit("/", 1)[0]
        with contextlib.suppress(FileExistsError):
            self.fs.makedirs(parent, exist_ok=True)
        self._remove_stale_staging(final)
        try:
            write(staged)
            self.fs.mv(staged, final)
        except BaseException:
            with contextlib.suppress(Exception):
                self.fs.rm(staged)
            raise

    def _remove_stale_staging(self, final: str) -> None:
        """Remove what writers of ``final`` on this host left when they were killed (their process is gone);
        another host's staged files are left alone, since nothing here can tell whether their writer lives."""
        try:
            siblings = self.fs.ls(final.rsplit("/", 1)[0], detail=False)
        except (FileNotFoundError, NotImplementedError):  # no folder yet, or a store that cannot list one
            return
        for sibling in siblings:
            match = _STAGED_RE.fullmatch(str(sibling).rsplit("/", 1)[-1])
            ours = match and match["name"] == final.rsplit("/", 1)[-1] and match["host"] == _HOST
            if ours and not process_alive(int(match["pid"])):
                with contextlib.suppress(FileNotFoundError):
                    self.fs.rm(str(sibling))

    def put_plan(self, plan: bytes, sidecar: bytes, *parts: str) -> None:
        """A plan and its sidecar: the plan first, so that a sidecar is never seen without its plan."""
        *folder, name = parts
        self.write_bytes(plan, *parts)
        self.write_bytes(sidecar, *folder, f"{name}.json")

    def read_plan(self, *parts: str) -> tuple[bytes, bytes] | None:
        """A plan and its sidecar, if both are there and the sidecar describes these plan bytes."""
        *folder, name = parts
        sidecar = self.read_bytes(*folder, f"{name}.json")
        plan = self.read_bytes(*parts) if sidecar is not None else None
        if plan is None or sidecar is None:
            return None
        document = _sidecar_document(sidecar)
        if document is None:
            return None
        recorded = document.get("plan", {})
        if recorded.get("bytes") != len(plan) or recorded.get("sha256") != hashlib.sha256(plan).hexdigest():
            return None
        return plan, sidecar

    def find_cached(self, key: str) -> tuple[bytes, bytes] | None:
        """The cached plan pair with this content key, or None (absent, incomplete, or another key's)."""
        pair = self.read_plan(*cache_parts(key))
        if pair is None:
            return None
        document = _sidecar_document(pair[1])
        return pair if document is not None and document.get("cache_key") == key else None


def _sidecar_document(data: bytes) -> dict[str, Any] | None:
    try:
        document = json.loads(data)
        check_sidecar(document)
    except (ValueError, RecursionError, Malformed):
        return None
    return document if isinstance(document, dict) else None
