"""``FileStorage``: users and tasks as JSON files under the data directory.

Layout (seed 002 §3.5.2)::

    data/users/{user_id}.json      user record; its "tasks" list is the per-user index
    data/tasks/{task_id}.json      task record
    data/index/queue.json          queued and processing task ids (the queue index)
    data/locks/...                 one .lock file per record, plus queue.lock
    data/damaged/...               records that failed to parse, moved aside

Every write is atomic (``atomic.py``); read-modify-write holds the record's
``filelock``. The queue index is a *superset* of the truth: entries are added
before a record moves into ``queued``/``processing`` and removed after it
leaves, and whoever reads an entry checks the record. A crash between the two
writes therefore never loses a task; at worst it leaves an entry that the
next claim or reconcile drops.

Lock order is always queue lock, then task lock; ``update_task`` releases the
task lock before it takes the queue lock to prune the index.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from ..atomic import read_json, sweep_temp_files, write_json_atomic
from ..exceptions import NotFound, StorageError
from ..tasks import Task, TaskStatus, User, is_uuid, utcnow
from .base import (
    QueueEntry,
    QueueLimits,
    QueueSnapshot,
    StorageInterface,
    TaskMutation,
    TaskPage,
    TaskQuery,
    UserMutation,
    apply_query,
    check_requeue_allowed,
    check_waiting_limits,
)

log = logging.getLogger(__name__)

LOCK_TIMEOUT = 30.0
ACTIVE = (TaskStatus.QUEUED, TaskStatus.PROCESSING)


class FileStorage(StorageInterface):
    def __init__(
        self, data_dir: Path, *, durable: bool = True, sweep_older_than: float = 60.0
    ) -> None:
        self.root = Path(data_dir)
        self.durable = durable
        self.users_dir = self.root / "users"
        self.tasks_dir = self.root / "tasks"
        self.index_dir = self.root / "index"
        self.locks_dir = self.root / "locks"
        self.damaged_dir = self.root / "damaged"
        for directory in (self.users_dir, self.tasks_dir, self.index_dir, self.locks_dir):
            directory.mkdir(parents=True, exist_ok=True)
        (self.locks_dir / "tasks").mkdir(exist_ok=True)
        (self.locks_dir / "users").mkdir(exist_ok=True)
        self.queue_path = self.index_dir / "queue.json"
        self._locks: dict[str, FileLock] = {}
        self._locks_guard = threading.Lock()
        for directory in (self.users_dir, self.tasks_dir, self.index_dir):
            sweep_temp_files(directory, sweep_older_than)

    # --- locks -------------------------------------------------------------
    def _lock(self, path: Path) -> FileLock:
        """One FileLock object per path (filelock locks are thread-local, reentrant)."""
        key = str(path)
        with self._locks_guard:
            lock = self._locks.get(key)
            if lock is None:
                if len(self._locks) > 4096:
                    self._locks.clear()
                lock = FileLock(key, timeout=LOCK_TIMEOUT)
                self._locks[key] = lock
            return lock

    @contextmanager
    def _locked(self, path: Path) -> Iterator[None]:
        try:
            with self._lock(path):
                yield
        except Timeout as exc:
            raise StorageError(f"Timed out waiting for the lock on {path.name}") from exc

    def _task_lock_path(self, task_id: str) -> Path:
        return self.locks_dir / "tasks" / f"{task_id}.lock"

    def _user_lock_path(self, user_id: str) -> Path:
        return self.locks_dir / "users" / f"{user_id}.lock"

    def _queue_lock_path(self) -> Path:
        return self.locks_dir / "queue.lock"

    # --- records -----------------------------------------------------------
    def _task_path(self, task_id: str) -> Path:
        if not is_uuid(task_id):
            raise NotFound("Task not found")
        return self.tasks_dir / f"{task_id}.json"

    def _user_path(self, user_id: str) -> Path:
        if not is_uuid(user_id):
            raise NotFound("User not found")
        return self.users_dir / f"{user_id}.json"

    def _read(self, path: Path) -> dict | None:
        try:
            data = read_json(path)
            if not isinstance(data, dict):
                raise ValueError("record is not a JSON object")
            return data
        except FileNotFoundError:
            return None
        except (ValueError, UnicodeDecodeError) as exc:
            self._quarantine(path, exc)
            return None

    def _quarantine(self, path: Path, error: Exception) -> None:
        """Move a damaged record aside (never reset it silently) and report it."""
        self.damaged_dir.mkdir(parents=True, exist_ok=True)
        target = self.damaged_dir / f"{path.parent.name}-{path.name}.{int(time.time() * 1000)}"
        try:
            os.replace(path, target)
        except FileNotFoundError:
            return
        log.error("Damaged record %s moved to %s: %s", path, target, error)

    def _write(self, path: Path, data: dict) -> None:
        write_json_atomic(path, data, durable=self.durable)

    # --- users -------------------------------------------------------------
    def get_user(self, user_id: str) -> User | None:
        try:
            data = self._read(self._user_path(user_id))
        except NotFound:
            return None
        return User.from_dict(data) if data else None

    def create_user(self, user: User) -> User:
        path = self._user_path(user.user_id)
        with self._locked(self._user_lock_path(user.user_id)):
            existing = self._read(path)
            if existing:
                return User.from_dict(existing)
            self._write(path, user.to_dict())
        return user

    def update_user(self, user_id: str, mutate: UserMutation) -> User:
        path = self._user_path(user_id)
        with self._locked(self._user_lock_path(user_id)):
            data = self._read(path)
            if data is None:
                raise NotFound("User not found")
            user = User.from_dict(data)
            mutate(user)
            self._write(path, user.to_dict())
            return user

    def delete_user(self, user_id: str) -> None:
        path = self._user_path(user_id)
        with self._locked(self._user_lock_path(user_id)):
            path.unlink(missing_ok=True)

    def list_user_ids(self) -> list[str]:
        return [p.stem for p in self.users_dir.glob("*.json") if is_uuid(p.stem)]

    # --- tasks -------------------------------------------------------------
    def get_task(self, task_id: str) -> Task | None:
        try:
            path = self._task_path(task_id)
        except NotFound:
            return None
        return self._parse_task(path, self._read(path))

    def _parse_task(self, path: Path, data: dict | None) -> Task | None:
        """A Task from a parsed record; a record that is JSON but no task is moved aside."""
        if data is None:
            return None
        try:
            return Task.from_dict(data)
        except (TypeError, ValueError) as exc:
            self._quarantine(path, exc)
            return None

    def create_task(self, task: Task) -> Task:
        path = self._task_path(task.task_id)
        if task.status in ACTIVE:
            raise StorageError("A new task cannot start queued or processing; use enqueue")
        if self.get_user(task.user_id) is None:
            raise NotFound("User not found")
        with self._locked(self._task_lock_path(task.task_id)):
            self._write(path, task.to_dict())

        def add(user: User) -> None:
            if task.task_id not in user.tasks:
                user.tasks.append(task.task_id)

        self.update_user(task.user_id, add)
        return task

    def update_task(self, task_id: str, mutate: TaskMutation) -> Task:
        path = self._task_path(task_id)
        with self._locked(self._task_lock_path(task_id)):
            task = self._load_task(path)
            before = task.status
            mutate(task)
            if task.status in ACTIVE and task.status is not before:
                raise StorageError(f"update_task cannot move a task into {task.status.value}")
            task.updated_at = utcnow()
            self._write(path, task.to_dict())
        if before in ACTIVE and task.status is not before:
            self._drop_from_index({task_id})
        return task

    def _load_task(self, path: Path) -> Task:
        task = self._parse_task(path, self._read(path))
        if task is None:
            raise NotFound("Task not found")
        return task

    def delete_task(self, task_id: str) -> None:
        path = self._task_path(task_id)
        with self._locked(self._task_lock_path(task_id)):
            data = self._read(path)
            if data is None:
                raise NotFound("Task not found")
            user_id = data.get("user_id", "")
            path.unlink(missing_ok=True)
        self._drop_from_index({task_id})
        if is_uuid(user_id):
            try:
                self.update_user(user_id, lambda u: _forget_task(u, task_id))
            except NotFound:
                pass
        self._task_lock_path(task_id).unlink(missing_ok=True)

    def query_user_tasks(self, user_id: str, query: TaskQuery | None = None) -> TaskPage:
        query = query or TaskQuery()
        user = self.get_user(user_id)
        if user is None:
            return TaskPage([], 0, query.offset, query.limit)
        tasks = []
        for task_id in user.tasks:
            task = self.get_task(task_id)
            if task is not None and task.user_id == user_id:
                tasks.append(task)
        return apply_query(tasks, query)

    def all_task_ids(self) -> list[str]:
        return [p.stem for p in self.tasks_dir.glob("*.json") if is_uuid(p.stem)]

    def tasks_by_status(self, *statuses: TaskStatus) -> list[Task]:
        wanted = set(statuses)
        if wanted and wanted <= set(ACTIVE):
            snapshot = self.queue_snapshot()
            ids = []
            if TaskStatus.QUEUED in wanted:
                ids += [e.task_id for e in snapshot.queued]
            if TaskStatus.PROCESSING in wanted:
                ids += [e.task_id for e in snapshot.processing]
        else:
            ids = self.all_task_ids()
        found = []
        for task_id in ids:
            task = self.get_task(task_id)
            if task is not None and (not wanted or task.status in wanted):
                found.append(task)
        return found

    # --- queue index ---------------------------------------------------------
    def _read_index(self) -> QueueSnapshot:
        data = self._read(self.queue_path) or {}
        return QueueSnapshot(
            queued=sorted(
                (QueueEntry(**e) for e in data.get("queued", [])), key=lambda e: e.order_key
            ),
            processing=[QueueEntry(**e) for e in data.get("processing", [])],
        )

    def _write_index(self, snapshot: QueueSnapshot) -> None:
        self._write(
            self.queue_path,
            {
                "queued": [vars(e) for e in snapshot.queued],
                "processing": [vars(e) for e in snapshot.processing],
            },
        )

    def queue_snapshot(self) -> QueueSnapshot:
        return self._read_index()

    def _drop_from_index(self, task_ids: set[str]) -> None:
        with self._locked(self._queue_lock_path()):
            snapshot = self._read_index()
            queued = [e for e in snapshot.queued if e.task_id not in task_ids]
            processing = [e for e in snapshot.processing if e.task_id not in task_ids]
            if len(queued) != len(snapshot.queued) or len(processing) != len(snapshot.processing):
                self._write_index(QueueSnapshot(queued, processing))

    def enqueue(
        self,
        task_ids: list[str],
        limits: QueueLimits | None,
        mutate: TaskMutation | None = None,
    ) -> list[Task]:
        with self._locked(self._queue_lock_path()):
            snapshot = self._read_index()
            tasks: list[Task] = []
            for task_id in task_ids:
                task = self._load_task(self._task_path(task_id))
                check_requeue_allowed(task, limits)
                if mutate:
                    mutate(task)
                task.transition(TaskStatus.QUEUED)
                tasks.append(task)
            if limits is not None:
                check_waiting_limits(snapshot, tasks, limits)
            ids = set(task_ids)
            snapshot.queued = [e for e in snapshot.queued if e.task_id not in ids]
            snapshot.processing = [e for e in snapshot.processing if e.task_id not in ids]
            for task in tasks:
                snapshot.queued.append(
                    QueueEntry(task.task_id, task.user_id, task.priority, task.queued_at or "")
                )
            snapshot.queued.sort(key=lambda e: e.order_key)
            self._write_index(snapshot)  # index first: it is a superset of the truth
            for task in tasks:
                with self._locked(self._task_lock_path(task.task_id)):
                    self._write(self._task_path(task.task_id), task.to_dict())
            return tasks

    def claim_next(self, limits: QueueLimits, worker: dict) -> Task | None:
        with self._locked(self._queue_lock_path()):
            snapshot = self._read_index()
            if len(snapshot.processing) >= limits.max_total or not snapshot.queued:
                return None
            running: dict[str, int] = {}
            for entry in snapshot.processing:
                running[entry.user_id] = running.get(entry.user_id, 0) + 1
            dropped: set[str] = set()
            claimed: Task | None = None
            for entry in snapshot.queued:
                if running.get(entry.user_id, 0) >= limits.max_per_user:
                    continue
                with self._locked(self._task_lock_path(entry.task_id)):
                    path = self._task_path(entry.task_id)
                    task = self._parse_task(path, self._read(path))
                    if task is None or task.status is not TaskStatus.QUEUED:
                        dropped.add(entry.task_id)  # stale entry left by a crash
                        continue
                    task.transition(TaskStatus.PROCESSING)
                    task.attempts += 1
                    task.worker = dict(worker, heartbeat_at=utcnow())
                    snapshot.queued = [e for e in snapshot.queued if e.task_id not in dropped]
                    snapshot.queued.remove(entry)
                    snapshot.processing.append(entry)
                    self._write_index(snapshot)
                    self._write(path, task.to_dict())
                    claimed = task
                    break
            if claimed is None and dropped:
                snapshot.queued = [e for e in snapshot.queued if e.task_id not in dropped]
                self._write_index(snapshot)
            return claimed

    def reconcile_queue(self) -> None:
        with self._locked(self._queue_lock_path()):
            snapshot = self._read_index()
            queued = []
            for entry in snapshot.queued:
                task = self.get_task(entry.task_id)
                if task is not None and task.status is TaskStatus.QUEUED:
                    queued.append(entry)
            processing = []
            for entry in snapshot.processing:
                task = self.get_task(entry.task_id)
                if task is not None and task.status is TaskStatus.PROCESSING:
                    processing.append(entry)
            if len(queued) != len(snapshot.queued) or len(processing) != len(snapshot.processing):
                self._write_index(QueueSnapshot(queued, processing))

    def rebuild_queue_index(self) -> None:
        """Rebuild the index from every task record (a full scan; used by repair)."""
        with self._locked(self._queue_lock_path()):
            snapshot = QueueSnapshot()
            for task_id in self.all_task_ids():
                task = self.get_task(task_id)
                if task is None:
                    continue
                entry = QueueEntry(task.task_id, task.user_id, task.priority, task.queued_at or "")
                if task.status is TaskStatus.QUEUED:
                    snapshot.queued.append(entry)
                elif task.status is TaskStatus.PROCESSING:
                    snapshot.processing.append(entry)
            snapshot.queued.sort(key=lambda e: e.order_key)
            self._write_index(snapshot)

    def remove_all(self) -> None:
        """Delete the whole data directory's records (tests only)."""
        shutil.rmtree(self.root, ignore_errors=True)


def _forget_task(user: User, task_id: str) -> None:
    if task_id in user.tasks:
        user.tasks.remove(task_id)
