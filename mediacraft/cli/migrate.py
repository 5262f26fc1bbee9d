"""``mediacraft migrate``: apply the PostgreSQL schema's pending migrations now.

For operators who start processes with ``MEDIACRAFT_MIGRATE_ON_START=false``
and migrate as a deployment step of their own. Files and SQLite need none.
"""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("migrate", help="create or update the PostgreSQL schema")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mediacraft.config import Config
    from mediacraft.exceptions import StorageError

    try:
        config = Config.from_env(run_queue=False, migrate_on_start=False)
    except ValueError as exc:
        print(f"mediacraft migrate: {exc}", file=sys.stderr)
        return 2
    if not config.database_dsn:
        print(f"mediacraft migrate: nothing to do for {config.storage} storage")
        return 0
    from mediacraft.storage import pgmigrate
    from mediacraft.storage.postgres import PostgresStorage, describe

    try:
        storage = PostgresStorage.__new__(PostgresStorage)
        storage.__setstate__(
            {"dsn": config.database_dsn, "pool_min": 0, "pool_max": 1,
             "pool_timeout": config.db_pool_timeout, "connect_timeout": 5}
        )  # fmt: skip
        applied = storage.migrate()
    except StorageError as exc:
        print(f"mediacraft migrate: {exc}", file=sys.stderr)
        return 3
    where = describe(config.database_dsn)
    if applied:
        print(f"{where}: applied {', '.join(map(str, applied))}; now at version {applied[-1]}")
    else:
        print(f"{where}: up to date at version {pgmigrate.latest_version()}")
    return 0
