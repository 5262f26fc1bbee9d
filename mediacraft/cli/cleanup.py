"""``mediacraft cleanup``: remove expired tasks, idle users and orphaned files."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "cleanup", help="remove finished tasks and idle users past MEDIACRAFT_RETENTION_DAYS"
    )
    parser.add_argument("--dry-run", action="store_true", help="report, delete nothing")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mediacraft.cleanup import cleanup
    from mediacraft.config import Config
    from mediacraft.storage import open_storage

    config = Config.from_env(run_queue=False)
    storage = open_storage(config)
    try:
        report = cleanup(storage, config, dry_run=args.dry_run)
    finally:
        storage.close()
    print(json.dumps({"dry_run": args.dry_run, **report.to_dict()}))
    return 0
