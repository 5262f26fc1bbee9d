"""Retention: expire finished tasks, abandoned unfinished ones and idle users; sweep leftovers.

* finished tasks older than ``RETENTION_DAYS``, with their files;
* tasks left ``created``/``uploaded`` (never configured) for more than
  ``UNFINISHED_TTL_HOURS``, with their uploads: an abandoned upload holds
  quota and disk;
* users idle for ``RETENTION_DAYS`` with no task left;
* orphaned work/upload/result folders, directories detached into
  ``data/trash``, temp files of killed writers, and the per-record lock files
  of the earlier storage layout (locks are striped now).

Run by ``mediacraft cleanup`` (e.g. daily from cron) and at most hourly by
the task queue's dispatcher.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from .atomic import sweep_temp_files
from .config import Config
from .exceptions import NotFound
from .model import TERMINAL, TaskStatus, is_uuid, parse_time
from .paths import TaskPaths, dir_size
from .storage import StorageInterface

UNFINISHED = (TaskStatus.CREATED, TaskStatus.UPLOADED)

log = logging.getLogger(__name__)


@dataclass
class CleanupReport:
    tasks_removed: list[str] = field(default_factory=list)
    users_removed: list[str] = field(default_factory=list)
    orphans_removed: list[str] = field(default_factory=list)
    temp_files_removed: int = 0
    bytes_freed: int = 0

    def to_dict(self) -> dict:
        return {
            "tasks_removed": len(self.tasks_removed),
            "users_removed": len(self.users_removed),
            "orphans_removed": len(self.orphans_removed),
            "temp_files_removed": self.temp_files_removed,
            "bytes_freed": self.bytes_freed,
        }


def cleanup(
    storage: StorageInterface, config: Config, *, now: datetime | None = None, dry_run: bool = False
) -> CleanupReport:
    now = now or datetime.now(timezone.utc)
    cutoff = now - timedelta(days=config.retention_days)
    abandoned = now - timedelta(hours=config.unfinished_ttl_hours)
    report = CleanupReport()
    for user_id in storage.list_user_ids():
        user = storage.get_user(user_id)
        if user is None:
            continue
        live_tasks = 0
        for task_id in list(user.tasks):
            task = storage.get_task(task_id)
            if task is None:
                continue
            finished = parse_time(task.completed_at or task.updated_at)
            touched = parse_time(task.updated_at)
            expired = task.status in TERMINAL and finished and finished < cutoff
            stale = task.status in UNFINISHED and touched and touched < abandoned
            if expired or stale:
                paths = TaskPaths.of(config.data_dir, task)
                report.bytes_freed += sum(
                    dir_size(p) for p in (paths.upload_dir, paths.result_dir, paths.work_dir)
                )
                report.tasks_removed.append(task_id)
                if not dry_run:
                    try:
                        storage.delete_task(task_id)
                    except NotFound:
                        pass
                    paths.remove_all()
            else:
                live_tasks += 1
        idle = parse_time(user.last_accessed)
        if live_tasks == 0 and idle and idle < cutoff:
            report.users_removed.append(user_id)
            if not dry_run:
                storage.delete_user(user_id)
                for kind in ("uploads", "results"):
                    shutil.rmtree(config.data_dir / kind / user_id, ignore_errors=True)
    report.orphans_removed = _orphans(storage, config, dry_run)
    if not dry_run:
        report.temp_files_removed = sweep_temp_files(config.data_dir, older_than=3600)
        _sweep_trash(config)
        _sweep_legacy_locks(config)
    log.info("Cleanup: %s", report.to_dict())
    return report


def _orphans(storage: StorageInterface, config: Config, dry_run: bool) -> list[str]:
    """Work, upload and result folders whose task no longer exists (older than an hour)."""
    removed: list[str] = []
    old = time.time() - 3600
    candidates: list[tuple[str, Path]] = []
    work = config.data_dir / "work"
    if work.is_dir():
        candidates += [(p.name, p) for p in work.iterdir()]
    for kind in ("uploads", "results"):
        base = config.data_dir / kind
        if base.is_dir():
            for user_dir in base.iterdir():
                if user_dir.is_dir():
                    candidates += [(p.name, p) for p in user_dir.iterdir()]
    for task_id, path in candidates:
        if not is_uuid(task_id) or path.stat().st_mtime > old:
            continue
        task = storage.get_task(task_id)
        if task is None or (path.parent.name == "work" and task.status is TaskStatus.COMPLETED):
            removed.append(str(path))
            if not dry_run:
                shutil.rmtree(path, ignore_errors=True)
    return removed


def _sweep_trash(config: Config) -> None:
    """Directories detached from their task and not deleted (a process died meanwhile)."""
    trash = config.data_dir / "trash"
    if not trash.is_dir():
        return
    old = time.time() - 3600
    for path in trash.iterdir():
        try:
            if path.stat().st_mtime < old:
                shutil.rmtree(path, ignore_errors=True)
        except FileNotFoundError:
            continue


def _sweep_legacy_locks(config: Config) -> None:
    """Per-record lock files (``locks/tasks/<uuid>.lock``) of the layout before striping."""
    for kind in ("tasks", "users"):
        directory = config.data_dir / "locks" / kind
        if not directory.is_dir():
            continue
        for path in directory.glob("*.lock"):
            if is_uuid(path.stem):
                path.unlink(missing_ok=True)
