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
import os
import sys
from typing import NoReturn

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
    """Run the command line ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    return _run(argv)[0]


def entry() -> NoReturn:
    """The ``mediacraft`` command (console script and ``python -m mediacraft.cli``).

    A subcommand that sets ``quick_exit`` on its arguments (a download that
    succeeded: its files are written and closed, its threads joined, nothing
    registered at exit) ends the process with ``os._exit`` once stdout and
    stderr are flushed. The interpreter's own teardown (finalizing PyAV,
    requests and a few hundred modules) takes ~0.05 s and has nothing to save.
    """
    code, args = _run(None)
    if getattr(args, "quick_exit", False):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def _run(argv: list[str] | None) -> tuple[int, argparse.Namespace | None]:
    argv = sys.argv[1:] if argv is None else list(argv)
    named = argv[0] if argv and argv[0] in SUBCOMMANDS else None
    parser = build_parser(named)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2, args
    try:
        return int(args.func(args) or 0), args
    except ConfigError as exc:  # a bad MEDIACRAFT_* setting: say which, no traceback
        print(f"mediacraft {args.command}: error: {exc}", file=sys.stderr)
        return 2, None


if __name__ == "__main__":
    entry()
