"""Advisory file locks that serialise lmdoctor processes working on the same files."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def file_lock(path: Path, shared: bool = False) -> Iterator[None]:
    """Hold an advisory lock on `path` (POSIX flock; elsewhere nothing, callers keep their in-process locks).

    Exclusive by default, creating the file (0600) if needed; `shared` lets readers in together and
    does not create a missing file. The lock belongs to this open file: another open of the same
    path — another process or another thread of this one — waits until it is released."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    if shared and not path.exists():
        yield
        return
    if not shared:
        path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDONLY if shared else os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
