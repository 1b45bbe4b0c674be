"""Crash-safe file writes, and reads that never block or run away: only regular files are replaced or read."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from lmdoctor.services.domain.errors import LmdoctorError


class RefusedFile(LmdoctorError, OSError):
    """Not a regular file (a symbolic link, device, FIFO, socket, directory), or too large to read:
    lmdoctor will not replace it or read it."""


def _kind(mode: int) -> str | None:
    """What a non-regular file is, in words; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    for test, name in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a directory"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def atomic_write(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so a crash never leaves half a file.

    Replaces only a regular file: a symbolic link (or a device, FIFO, directory) at `path` is refused,
    never replaced and never written through."""
    try:
        kind = _kind(os.lstat(path).st_mode)
    except FileNotFoundError:
        kind = None
    if kind:
        raise RefusedFile(f"refusing to write {path}: it is {kind}, not a regular file")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_small_file(path: Path, limit: int) -> bytes:
    """The bytes of a regular file (a symbolic link to one is followed) of at most `limit` bytes.

    Opened without blocking and checked on the open descriptor, so a FIFO or a device such as /dev/zero
    is refused (RefusedFile) instead of hanging or filling memory; a larger file is refused too."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    try:
        kind = _kind(os.fstat(fd).st_mode)
        if kind:
            raise RefusedFile(f"{path} is {kind}, not a regular file")
        data = b""
        while len(data) <= limit:
            chunk = os.read(fd, limit + 1 - len(data))
            if not chunk:
                break
            data += chunk
    finally:
        os.close(fd)
    if len(data) > limit:
        raise RefusedFile(f"{path} is larger than {limit // 1024} KiB")
    return data
