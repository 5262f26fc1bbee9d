"""Named locks held in PostgreSQL, for what the shared data directory must not lock.

With PostgreSQL storage every host shares the data directory over NFS, EFS
or CephFS, where file locks are unreliable or absent. A lock that guards a
read-modify-write of a file there (a visitor's quota ledger) is therefore
taken in the database instead: a transaction-scoped advisory lock, held for
the block and released by the commit, or by the server if the process
holding it dies.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from ..exceptions import StorageError

_pools: dict[tuple[int, str], ConnectionPool] = {}
_guard = threading.Lock()


def _pool(dsn: str) -> ConnectionPool:
    key = (os.getpid(), dsn)  # a forked child opens its own
    with _guard:
        pool = _pools.get(key)
        if pool is None:
            pool = _pools[key] = ConnectionPool(
                dsn, min_size=0, max_size=4, timeout=30.0, name="mediacraft-locks",
                kwargs={"autocommit": True, "connect_timeout": 5}, open=True,
            )  # fmt: skip
    return pool


@contextmanager
def advisory_lock(dsn: str, name: str, timeout: float = 30.0) -> Iterator[None]:
    """Hold the lock ``name`` (any string) for the block, across every host."""
    try:
        with _pool(dsn).connection() as conn, conn.transaction():
            conn.execute(f"SET LOCAL lock_timeout = '{int(timeout * 1000)}ms'")
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (name,))
            yield
    except psycopg.errors.LockNotAvailable as exc:
        raise StorageError(f"Timed out waiting for the lock {name}") from exc
    except (psycopg.OperationalError, PoolTimeout) as exc:
        raise StorageError(f"The database is unavailable: {exc}") from exc


__all__ = ["advisory_lock"]
