"""The lab driven through the headless CLI as a subprocess, as an admin's script would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SEED_IDS = {"delegation.missing:HV01:HV02", "delegation.wrong_object:HV02:HV02"}


def lmdoctor(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run the CLI with no terminal on stdin; LMDOCTOR_* dirs come from the autouse fixture's environment."""
    env = env or os.environ.copy()
    assert env.get("LMDOCTOR_DATA_DIR") and env.get("LMDOCTOR_CONFIG_DIR"), "never run against the real home"
    return subprocess.run([sys.executable, "-m", "lmdoctor.cli.main", *args], cwd=REPO, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)


class Lab:
    def __init__(self, root: Path, env: dict[str, str] | None = None) -> None:
        self.root = root
        self.env = env

    def run(self, command: str, *args: str) -> subprocess.CompletedProcess:
        return lmdoctor(command, "--demo", "--lab-dir", str(self.root), *args, env=self.env)

    def reset(self, scenario: str = "seed") -> None:
        r = lmdoctor("lab", "reset", "--scenario", scenario, "--lab-dir", str(self.root), env=self.env)
        assert r.returncode == 0, r.stderr
        assert scenario in r.stdout

    def check(self) -> tuple[int, dict]:
        r = self.run("check", "--json")
        assert r.returncode in (0, 1), r.stderr
        return r.returncode, json.loads(r.stdout)

    def files(self) -> dict[str, bytes | None]:
        return {n: (self.root / n).read_bytes() if (self.root / n).exists() else None
                for n in ("directory.json", "hosts.json", "journal.jsonl")}


def ids(doc: dict) -> set[str]:
    return {f["id"] for f in doc["findings"]}


def vms(doc: dict) -> dict[str, list[str]]:
    return {n["name"]: n["vms"] for n in doc["nodes"]}
