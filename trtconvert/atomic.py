"""Outputs written whole or not at all: a temporary sibling, then a rename.

An existing output survives any failure byte-identical, because it is only ever replaced by os.replace.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import stat
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from trtconvert.errors import BadInput, clipped
from trtconvert.paths import same_file

MAX_NAME_BYTES = 255


def check_writable_file(path: Path, what: str) -> None:
    """Refuse a path that exists and is not a regular file (a folder, device, FIFO or socket): replacing it
    would destroy it, or the write would hang or fail late. Also refuse one whose folder cannot be created, or
    whose name no file system holds."""
    if len(os.fsencode(path.name)) > MAX_NAME_BYTES:  # the file system's bytes, whatever the name's encoding
        raise BadInput(
            f"{what} {clipped(path.name)}: a file name holds at most {MAX_NAME_BYTES} bytes; give a shorter name"
        )
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        mode = None
    except OSError as err:
        raise BadInput(f"{what} {path}: {err.strerror}; check the path and its permissions") from None
    if mode is not None and stat.S_ISDIR(mode):
        into = ", or end the path with '/' to write into the folder" if what == "-o" else ""
        raise BadInput(f"{what} {path} is a directory; give a file path{into}")
    if mode is not None and not stat.S_ISREG(mode):
        raise BadInput(f"{what} {path} exists and is not a regular file ({_kind(mode)}); give another path")
    folder = path.parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise BadInput(f"{what} {path}: {folder} is not a folder, so the output folder cannot be created")


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket")):  # fmt: skip
        if test(mode):
            return name
    return "not a regular file"


def check_output_path(output: Path, inputs: list[Path]) -> None:
    """Refuse an output that would overwrite an input, or that is not a plain file path; creates nothing."""
    for source in inputs:
        if same_file(output, source, "-o"):
            raise BadInput(f"-o {output} is the input file itself; write the output to a new path")
    check_writable_file(output, "-o")


@contextmanager
def created_folders(folder: Path) -> Iterator[None]:
    """Create ``folder`` (and missing parents) for the block; if the block fails, remove what was created,
    so that a failed run leaves no new folders behind."""
    missing = []
    current = folder
    while not current.exists():
        missing.append(current)
        current = current.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise BadInput(f"cannot create the folder {folder}: {err.strerror}") from None
    try:
        yield
    except BaseException:
        with unstoppable():
            for created in missing:  # deepest first
                try:
                    created.rmdir()
                except OSError:
                    break
        raise


# Ctrl-C, SIGTERM and SIGHUP unwind the main thread by an exception (cli.main); inside these sections it waits,
# because the steps there (making a staging folder and noting it, publishing by renames, removing what was
# staged) leave a partial output or none at all if cut in the middle. Signals are handled on the main thread,
# so the count is the main thread's.
_sections = threading.local()


@contextmanager
def unstoppable() -> Iterator[None]:
    """A few file operations that a stop signal must not cut in two: it is handled right after them."""
    _sections.depth = getattr(_sections, "depth", 0) + 1
    try:
        yield
    finally:
        _sections.depth -= 1


def stopping_deferred() -> bool:
    """Whether this thread is inside an `unstoppable` section (asked by the signal handler)."""
    return getattr(_sections, "depth", 0) > 0


# Staging folders are named .<output>.<pid>.<random>.partial beside the output: the pid tells a later run
# whether the run that made one is gone (killed), so that it can be cleaned up.
_STAGING_RE = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[^.]+\.partial$")


def _staging_name(output: Path) -> str:
    """The output's name as staging names carry it: a long name is cut and given a digest, because the staging
    name adds about 30 characters and file names end at 255 bytes."""
    name = output.name
    if len(os.fsencode(name)) <= 160:
        return name
    digest = hashlib.sha256(os.fsencode(name)).hexdigest()[:16]
    return os.fsencode(name)[:100].decode(errors="ignore") + "~" + digest


def process_alive(pid: int) -> bool:
    """Whether a process of this id runs on this machine (one of another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_staging(output: Path) -> list[Path]:
    """Remove staging folders of ``output`` left by runs that were killed; returns what was removed."""
    removed = []
    if not output.parent.is_dir():
        return removed
    for entry in output.parent.iterdir():
        match = _STAGING_RE.match(entry.name)
        if (
            match
            and match.group("name") == _staging_name(output)
            and not process_alive(int(match.group("pid")))
        ):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def _new_staging(output: Path) -> Path:
    """A private folder beside ``output`` for this process, after removing those that killed runs left."""
    remove_stale_staging(output)
    try:
        return Path(
            tempfile.mkdtemp(
                prefix=f".{_staging_name(output)}.{os.getpid()}.", suffix=".partial", dir=output.parent
            )
        )
    except OSError as err:  # name the folder the user gave, not the staging name that was never made
        raise OSError(err.errno, err.strerror, str(output.parent)) from None


# Errors of a write that names no file, because the writer (onnx, protobuf, a library) reports only the errno.
_UNNAMED_WRITE_ERRORS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}


@contextmanager
def _naming_the_folder(folder: Path) -> Iterator[None]:
    """A full disk, a quota or the file size limit (`ulimit -f`) met while writing a staged file: the writer's
    own error names no file, so name the folder that was being written."""
    try:
        yield
    except OSError as err:
        if err.errno in _UNNAMED_WRITE_ERRORS and not err.filename:
            raise OSError(err.errno, err.strerror, str(folder)) from err
        raise


@contextmanager
def staged_files(output: Path) -> Iterator[Path]:
    """Yield a private folder beside ``output``; files written there move into output's folder on success.

    A missing output folder is created, and removed again if the run fails; stale staging folders of the same
    output (from killed runs) are removed first.
    """
    with created_folders(output.parent):
        staging: Path | None = None
        try:
            with unstoppable():
                staging = _new_staging(output)
            with _naming_the_folder(output.parent):
                yield staging
            # Move companions (external data) first and the main file last, so the main file never names
            # data that is not there yet.
            with unstoppable():
                for item in sorted(staging.iterdir(), key=lambda p: p.name == output.name):
                    os.replace(item, output.parent / item.name)
        finally:
            if staging is not None:
                with unstoppable():
                    shutil.rmtree(staging, ignore_errors=True)


def write_synced(path: Path, data: bytes | memoryview | str) -> None:
    """Write a staged file and flush it to disk, so that the rename that publishes it never exposes an empty or
    partial file after a crash."""
    with open(path, "w" if isinstance(data, str) else "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


@contextmanager
def staged_folder(output: Path, replace: bool = False) -> Iterator[Path]:
    """Yield an empty private folder beside ``output``; on success it becomes ``output`` by one rename.

    A folder already at ``output`` is refused unless ``replace``; then it is moved aside, the new one renamed into
    place and the old one removed, and if that rename fails the old folder is moved back. A missing parent is
    created, and removed again if the run fails; stale staging folders of the same output are removed first.
    """
    with created_folders(output.parent):
        staging: Path | None = None
        try:
            with unstoppable():
                staging = _new_staging(output)
            content = staging / "content"
            content.mkdir()
            with _naming_the_folder(output):
                yield content
            with unstoppable():  # a stop between the two renames would leave no model folder at all
                if not output.exists() and not output.is_symlink():
                    os.rename(content, output)
                    return
                if not replace:
                    raise BadInput(f"{output} appeared while it was being written; run again")
                previous = staging / "previous"
                os.rename(output, previous)
                try:
                    os.rename(content, output)
                except BaseException:
                    os.rename(previous, output)
                    raise
        finally:
            if staging is not None:
                with unstoppable():
                    shutil.rmtree(staging, ignore_errors=True)


def copy_synced(source: Path, target: Path) -> str:
    """Copy a file into a staging folder, flushed to disk; returns the sha256 of the bytes written, so that the
    caller can check that they are the bytes it expected."""
    digest = hashlib.sha256()
    with open(source, "rb") as reader, open(target, "wb") as writer:
        for chunk in iter(lambda: reader.read(1 << 20), b""):
            digest.update(chunk)
            writer.write(chunk)
        writer.flush()
        os.fsync(writer.fileno())
    return digest.hexdigest()
