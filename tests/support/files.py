"""Every file under some folders with its bytes: what a refused or read-only command must leave as it was."""

from __future__ import annotations

from pathlib import Path


def files_under(*roots: Path) -> dict[str, bytes]:
    """Each file under `roots` (missing roots are empty), by path, with its bytes."""
    return {str(p): p.read_bytes() for root in roots if root.exists() for p in sorted(root.rglob("*")) if p.is_file()}
