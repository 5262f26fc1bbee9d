"""Storage of users and tasks; the implementation is chosen by configuration."""

from __future__ import annotations

from ..config import Config
from .base import QueueLimits, QueueSnapshot, StorageInterface, TaskLimits, TaskPage, TaskQuery
from .files import FileStorage


def open_storage(config: Config) -> StorageInterface:
    """The storage ``MEDIACRAFT_STORAGE`` names: ``file`` (default), ``sqlite`` or PostgreSQL.

    PostgreSQL (a ``postgresql://`` URL in ``MEDIACRAFT_STORAGE`` or
    ``MEDIACRAFT_DATABASE_URL``) is reached and migrated here: an unreachable
    server raises :class:`~mediacraft.exceptions.StorageError` naming it.
    """
    if config.database_dsn:
        from .postgres import PostgresStorage

        return PostgresStorage(
            config.database_dsn,
            pool_min=config.db_pool_min,
            pool_max=config.db_pool_max,
            pool_timeout=config.db_pool_timeout,
            migrate=config.migrate_on_start,
        )
    if config.storage == "sqlite":
        from .sqlite import SQLiteStorage

        return SQLiteStorage(config.data_dir / "mediacraft.sqlite3")
    return FileStorage(config.data_dir)


def queue_limits(config: Config) -> QueueLimits:
    return QueueLimits(
        max_per_user=config.max_tasks_per_user,
        max_total=config.max_concurrent_tasks,
        max_queued_per_user=config.max_queued_per_user,
        max_queued_total=config.max_queued_total,
    )


def task_limits(config: Config) -> TaskLimits:
    return TaskLimits(
        max_unfinished_per_user=config.max_unfinished_per_user,
        max_stored_per_user=config.max_stored_tasks_per_user,
    )


__all__ = [
    "FileStorage",
    "QueueLimits",
    "QueueSnapshot",
    "StorageInterface",
    "TaskLimits",
    "TaskPage",
    "TaskQuery",
    "open_storage",
    "queue_limits",
    "task_limits",
]
