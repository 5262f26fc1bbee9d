"""The ``mediacraft`` command: serve, worker, migrate, download, batch, cleanup.

Each subcommand lives in its own module exposing ``register(subparsers)``,
which adds its parser and sets ``func(args) -> int`` (the exit code). When
the command line names a subcommand, only that module is imported: the
others pull in the web app, storage or the batch engine, and a short
``mediacraft download`` should not wait for them.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ..config import ConfigError

#: subcommand -> the module of this package that registers it, in the help's order
SUBCOMMANDS = {
    "serve": "serve",
    "worker": "worker",
    "migrate": "migrate",
    "download": "download",
    "batch": "batch",
    "cleanup": "cleanup",
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser with every subcommand, or only ``only`` (one the command line names)."""
    parser = argparse.ArgumentParser(
        prog="mediacraft", description="Hand off long video jobs: download, clean up, merge."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in SUBCOMMANDS.items():
        if only is None or name == only:
            importlib.import_module(f".{module}", __name__).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    named = argv[0] if argv and argv[0] in SUBCOMMANDS else None
    parser = build_parser(named)
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
