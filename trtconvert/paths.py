"""Every path the user names, checked in one place: no NUL byte, no symlink loop, and no file given two roles
where one of them is written (an output over an input, or two outputs on one file).

A path is only ever opened after it has been through here, so a bad one ends as one `error:` line, never as an
exception from deep inside a library.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Iterable
from pathlib import Path

from trtconvert.errors import BadInput, shown


def checked_path(path: str | os.PathLike[str], role: str) -> Path:
    """``path`` as given, refused when no file system could open it (a NUL byte, a symlink loop, a name too long)
    or when the libraries cannot take it (bytes that are not UTF-8)."""
    text = os.fspath(path)
    if "\x00" in text:
        raise BadInput(f"{role} {shown(text)}: a path cannot hold a NUL byte; give the path without it")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # Python keeps such bytes as surrogates, which onnx, onnxruntime and TensorRT cannot take as a path.
        if _utf8_under_another_locale(text):
            raise BadInput(
                f"{role} {shown(text)}: the name is UTF-8 but this process reads file names as "
                f"{sys.getfilesystemencoding()} (its locale); run it with a UTF-8 locale (LC_ALL=C.UTF-8) or "
                "PYTHONUTF8=1"
            ) from None
        raise BadInput(
            f"{role} {shown(text)}: the path holds bytes that are not UTF-8 (a name in another encoding); rename "
            "it in UTF-8"
        ) from None
    resolved_path(Path(text), role)
    return Path(text)


def _utf8_under_another_locale(text: str) -> bool:
    """A name whose bytes are valid UTF-8 that Python could not decode: the locale is not UTF-8 (LANG=C with
    UTF-8 mode off), not the name."""
    try:
        os.fsencode(text).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return sys.getfilesystemencoding().lower().replace("-", "") != "utf8"


def resolved_path(path: Path, role: str) -> Path:
    """The absolute path with every symlink followed; a loop of symlinks is refused by name."""
    try:
        return path.resolve()
    except RuntimeError:  # Python before 3.13 reports a loop this way
        pass
    except OSError as err:
        if err.errno != errno.ELOOP:
            raise BadInput(f"{role} {path}: {err.strerror}; check the path") from None
    raise BadInput(f"{role} {path}: its symlinks form a loop; point the link at a real file")


def file_identity(path: Path, role: str) -> tuple:
    """What makes two names one file: its device and inode where it exists (a hard link, a symlink or a path
    spelled with `..` is the same file), else its absolute path with every symlink followed."""
    resolved = resolved_path(path, role)
    try:
        found = os.stat(resolved)
    except OSError:
        return ("path", resolved)
    return ("inode", found.st_dev, found.st_ino)


def same_file(first: Path, second: Path, role: str = "path") -> bool:
    return file_identity(first, role) == file_identity(second, role)


def refuse_shared_paths(
    written: Iterable[tuple[str, Path | None]], read: Iterable[tuple[str, Path | None]] = ()
) -> None:
    """Refuse one file named for two roles when one of them writes it: an output over one of the run's inputs
    (the model, its external data, a plugin library, a value file) or two outputs over each other, however
    the two names reach it (a symlink, a hard link, `..`)."""
    outputs: dict[tuple, str] = {}
    for role, path in written:
        if path is None:
            continue
        resolved = file_identity(path, role)
        if resolved in outputs:
            raise BadInput(
                f"{outputs[resolved]} and {role} name the same file {path}; give each its own path"
            )
        outputs[resolved] = role
    for role, path in read:
        if path is None:
            continue
        resolved = file_identity(path, role)
        if resolved in outputs:
            raise BadInput(
                f"{outputs[resolved]} and {role} name the same file {path}, and writing it would destroy an input of "
                "this run; give the output its own path"
            )
