"""Regenerate screenshots/*.svg (and .png when rsvg-convert is installed) of every console screen.

The shots come from the seed lab (the drain screen: the smb-storage lab, console_scenes.LABS) in a temporary
lab dir at a fixed clock, with temporary config and data dirs: nothing of the user's profiles, journal or
keyring can appear. Run from the repository root:

    python scripts/screenshots.py [--out screenshots] [--size 120x36]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from textual.widgets import Input  # noqa: E402

from scripts import console_scenes as scenes  # noqa: E402
from scripts.console_scenes import make_app  # noqa: E402

SHOTS = ("nodes", "node", "findings", "fix-preview", "migrate", "journal", "help", "connect", "walkthrough",
         "matrix", "palette", "drain", "tour")


def no_secret_on_screen(app) -> None:
    """Refuse to shoot a screen with a typed password (masked or not)."""
    for box in app.screen.query(Input):
        if box.password and box.value:
            raise SystemExit(f"refusing to capture {type(app.screen).__name__}: a password field is filled")


async def shoot(name: str, out: Path, size: tuple[int, int], work: Path) -> Path:
    app = make_app(work / name / "lab", scenes.LABS.get(name, "seed"))
    async with app.run_test(size=size) as pilot:
        await scenes.SCENES[name](pilot)
        await pilot.pause()
        no_secret_on_screen(app)
        return Path(app.save_screenshot(filename=f"{name}.svg", path=str(out)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots")
    parser.add_argument("--size", default="120x36", help="terminal size COLSxROWS")
    parser.add_argument("names", nargs="*", default=list(SHOTS), help=f"which screens (default: {' '.join(SHOTS)})")
    args = parser.parse_args()
    cols, rows = (int(n) for n in args.size.lower().split("x"))
    unknown = sorted(set(args.names) - set(scenes.SCENES))
    if unknown:
        parser.error(f"unknown screen(s) {', '.join(unknown)}; known: {', '.join(sorted(scenes.SCENES))}")
    args.out.mkdir(parents=True, exist_ok=True)
    rsvg = shutil.which("rsvg-convert")
    with tempfile.TemporaryDirectory(prefix="lmdoctor-shots-") as tmp:
        work = Path(tmp)
        os.environ["LMDOCTOR_CONFIG_DIR"] = str(work / "config")
        os.environ["LMDOCTOR_DATA_DIR"] = str(work / "data")
        with scenes.frozen_clock():
            for name in args.names:
                svg = asyncio.run(shoot(name, args.out, (cols, rows), work))
                if rsvg:
                    subprocess.run([rsvg, str(svg), "-o", str(svg.with_suffix(".png"))], check=True, timeout=60)
                print(f"{svg}" + (" (+ .png)" if rsvg else ""))
    if not rsvg:
        print("rsvg-convert not found: SVGs only (Debian: apt-get install librsvg2-bin)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
