"""The ``mediacraft`` command: serve, worker, migrate, download, batch, cleanup.

Each subcommand lives in its own module exposing ``register(subparsers)``,
which adds its parser and sets ``func(args) -> int`` (the exit code).
"""

from __future__ import annotations

import argparse
import sys

from ..config import ConfigError
from . import batch, cleanup, download, migrate, serve, worker

SUBCOMMANDS = (serve, worker, migrate, download, batch, cleanup)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mediacraft", description="Hand off long video jobs: download, clean up, merge."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in SUBCOMMANDS:
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:  # a bad MEDIACRAFT_* setting: say which, no traceback
        print(f"mediacraft {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
