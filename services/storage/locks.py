"""Advisory file locks that serialise lmdoctor processes working on the same files."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock


@contextmanager
def file_lock(path: Path, shared: bool = False) -> Iterator[None]:
    """Hold an exclusive lock for `path` across processes (filelock: flock on POSIX, LockFileEx on Windows).

    Exclusive, creating `path` (0600) if needed. The lock file is `path` itself when it ends in `.lock`, else `<path>.lock` beside it (filelock never
    opens a data file). `shared` is for readers: they take no lock when `path` does not exist, else wait
    like writers. The lock belongs to this call: another call for the same path — another process or
    another thread of this one — waits until it is released."""
    if shared and not path.exists():
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))  # writers create the file, private
    lock = path if path.suffix == ".lock" else path.with_name(path.name + ".lock")
    with FileLock(lock, mode=0o600):
        yield
