"""The `lmdoctor` entry point: the console without a sub-command, the headless CLI with one."""

from __future__ import annotations

import argparse
import sys

from lmdoctor.cli import commands as cli


def launch(args: argparse.Namespace) -> int:
    from lmdoctor.tui.app import run_app

    return run_app(args)


def main() -> None:
    sys.exit(cli.main(tui=launch))


if __name__ == "__main__":
    main()
