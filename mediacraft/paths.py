"""Where a task's files live. Every path is built from server-issued UUIDs only."""

from __future__ import annotations

import os
import shutil
import stat
import uuid
from dataclasses import dataclass
from pathlib import Path

from .exceptions import NotFound
from .model import Task, is_uuid


@dataclass(frozen=True)
class TaskPaths:
    upload_dir: Path  # data/uploads/{user_id}/{task_id}
    result_dir: Path  # data/results/{user_id}/{task_id}
    work_dir: Path  # data/work/{task_id}: checkpoints and temporary files
    trash_dir: Path  # data/trash: directories detached from their task, to be deleted
    log_file: Path  # data/logs/{task_id}.log: the task's short log (tasklog.py)

    @classmethod
    def of(cls, data_dir: Path, task: Task) -> TaskPaths:
        if not (is_uuid(task.user_id) and is_uuid(task.task_id)):
            raise NotFound("Task not found")
        data_dir = Path(data_dir).resolve()
        return cls(
            upload_dir=data_dir / "uploads" / task.user_id / task.task_id,
            result_dir=data_dir / "results" / task.user_id / task.task_id,
            work_dir=data_dir / "work" / task.task_id,
            trash_dir=data_dir / "trash",
            log_file=data_dir / "logs" / f"{task.task_id}.log",
        )

    def remove_work(self) -> None:
        shutil.rmtree(self.work_dir, ignore_errors=True)

    def remove_results(self) -> None:
        shutil.rmtree(self.result_dir, ignore_errors=True)

    def remove_all(self) -> None:
        for directory in (self.upload_dir, self.result_dir, self.work_dir):
            shutil.rmtree(directory, ignore_errors=True)
        self.log_file.unlink(missing_ok=True)

    def detach(self, *, work: bool = False, results: bool = False) -> list[Path]:
        """Move the task's work and/or result directory out of its way, at once.

        A rename is instant, so it can happen while the task's record is
        locked: a new attempt that claims the task afterwards starts with
        empty directories, and the old ones are deleted (:func:`remove_detached`)
        after the lock is released. Returns the detached directories.
        """
        detached = []
        for wanted, directory in ((work, self.work_dir), (results, self.result_dir)):
            if not wanted:
                continue
            self.trash_dir.mkdir(parents=True, exist_ok=True)
            target = self.trash_dir / f"{directory.name}-{uuid.uuid4().hex[:8]}"
            try:
                os.rename(directory, target)
            except FileNotFoundError:
                continue
            detached.append(target)
        return detached

    def result_file(self, task: Task) -> Path | None:
        """The finished result of ``task``, if it exists (never a partial file)."""
        if not task.result or not task.result.get("file_name"):
            return None
        name = Path(str(task.result["file_name"])).name  # server-generated, but be strict
        path = self.result_dir / name
        return path if path.is_file() else None

    def extra_file(self, task: Task, name: str) -> Path | None:
        """One of the result's further files (``result["files"]``), by its listed name only."""
        listed = (task.result or {}).get("files") or []
        if name not in listed:
            return None
        path = self.result_dir / Path(name).name
        return path if path.is_file() else None


def dir_size(path: Path) -> int:
    """Bytes of the regular files under ``path`` (0 when it does not exist).

    Other tasks create and remove their directories while this walks (a
    finished attempt sweeping its work files), so an entry that vanishes
    under the walk is skipped rather than failing the caller.
    """
    total = 0
    for root, _dirs, files in os.walk(path):  # os.walk skips directories it can't list
        for name in files:
            try:
                info = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                total += info.st_size
    return total


def remove_detached(directories: list[Path]) -> None:
    for directory in directories:
        shutil.rmtree(directory, ignore_errors=True)
