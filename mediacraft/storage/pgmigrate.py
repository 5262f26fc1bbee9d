"""Versioned SQL migrations of the PostgreSQL schema.

Each file ``migrations/NNNN_name.sql`` is one version, applied once, in
order, each in its own transaction together with its row in
``schema_migrations``. The whole run holds a session advisory lock, so
processes starting at the same moment (gunicorn workers, task workers on
several hosts) apply each version exactly once: the second waits for the
first, then finds nothing left to do.

A database whose schema is newer than the code (a rollback of MediaCraft
after an upgrade) is refused rather than used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..exceptions import StorageError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# pg_advisory_lock key of the migration run: "mediacraft" spelled in ASCII, folded to 63 bits
MIGRATION_LOCK = 0x6D65646961637266

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class SchemaTooNew(StorageError):
    """The database was migrated by a newer MediaCraft."""


class SchemaOutdated(StorageError):
    """Migrations are pending and this process was told not to apply them."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def available() -> list[Migration]:
    found = []
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        match = _NAME.match(path.name)
        if match:
            found.append(Migration(int(match.group(1)), path.stem, path.read_text("utf-8")))
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise StorageError(f"Migration files are not numbered 1..n: {versions}")
    return found


def latest_version() -> int:
    return len(available())


def applied_version(conn) -> int:
    """The schema version of the database (0: none yet)."""
    exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()[0]
    if not exists:
        return 0
    row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
    return int(row[0])


def check_version(current: int) -> None:
    latest = latest_version()
    if current > latest:
        raise SchemaTooNew(
            f"The database schema is version {current}; this MediaCraft knows up to {latest}."
            " Run the newer MediaCraft, or restore a backup taken before the upgrade"
        )


def migrate(conn, *, apply: bool = True) -> list[int]:
    """Bring the schema up to date; returns the versions applied.

    ``conn`` must be in autocommit mode. With ``apply`` False pending
    versions raise :class:`SchemaOutdated` instead (``mediacraft migrate``
    is then the operator's step).
    """
    done: list[int] = []
    conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
    try:
        current = applied_version(conn)
        check_version(current)
        pending = [m for m in available() if m.version > current]
        if pending and not apply:
            raise SchemaOutdated(
                f"The database schema is version {current}, this MediaCraft needs "
                f"{latest_version()}: run `mediacraft migrate` first"
            )
        for migration in pending:
            with conn.transaction():
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations ("
                    " version integer PRIMARY KEY, name text NOT NULL,"
                    " applied_at timestamptz NOT NULL DEFAULT now())"
                )
                conn.execute(migration.sql)
                conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                    (migration.version, migration.name),
                )
            done.append(migration.version)
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
    return done


__all__ = [
    "Migration",
    "SchemaOutdated",
    "SchemaTooNew",
    "applied_version",
    "available",
    "latest_version",
    "migrate",
]
