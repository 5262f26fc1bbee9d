"""``FileStorage``: users and tasks as JSON files under the data directory.

Layout::

    data/users/{user_id}.json      user record; "tasks" and "task_states" are the per-user index
    data/tasks/{task_id}.json      task record
    data/index/queue.json          queued and processing task ids, visitors' turns (the queue index)
    data/locks/{tasks,users}/NN.lock   256 lock files per kind, shared by records (see below)
    data/locks/queue.lock
    data/damaged/...               records that failed to parse, moved aside

Every write is atomic (``atomic.py``); read-modify-write holds the record's
``filelock``. Locks are striped: a record's lock is the file named by the
first two hex digits of its id. Their number is fixed, so creating and
deleting records never leaves lock files behind, and no lock file is ever
unlinked (unlinking one another process waits on would let two processes
hold "the" lock at once).

The queue index is a superset of the truth, list by list: a task whose
record is ``queued`` is in ``queued``, one whose record is ``processing`` is
in ``processing``. Moving a task between the lists is therefore three
writes — add it to the new list, write the record, remove it from the old
list — so a crash or a write error between any two of them leaves an entry
too many, never one too few; whoever reads an entry checks the record, and
:meth:`FileStorage.reconcile_queue` (the recovery pass) makes the lists agree
with the records. A damaged or missing index is rebuilt from the records.

The per-user status map (``User.task_states``) is written just before the
task record, while the task is locked: a reader that sees a task's new
status in its record finds it in the map too. After a crash between the two
writes the map may be ahead of the record until the task's next change; the
unfinished-task limit re-reads the records it counts before refusing.

Lock order: queue lock, then task locks, then a user lock. Creating a task
takes the user lock (limits, index) and then, released, the task lock.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from ..atomic import read_json, sweep_temp_files, write_json_atomic
from ..diskspace import storage_failure
from ..exceptions import NotFound, StorageError, TooManyTasks
from ..model import TERMINAL, Task, TaskStatus, User, is_uuid, utcnow
from .base import (
    ACTIVE,
    QueueEntry,
    QueueLimits,
    QueueSnapshot,
    StorageInterface,
    TaskLimits,
    TaskMutation,
    TaskPage,
    TaskQuery,
    UserMutation,
    active_users,
    apply_query,
    check_new_task,
    check_task_limits,
    check_update,
    check_waiting_limits,
    fair_order,
    prepare_enqueue,
)

log = logging.getLogger(__name__)

LOCK_TIMEOUT = 30.0
LOCK_STRIPES = 256  # lock files per record kind: the first two hex digits of an id


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

    @staticmethod
    def _stripe(record_id: str) -> str:
        return f"{record_id[:2]}.lock"

    def _task_lock_path(self, task_id: str) -> Path:
        return self.locks_dir / "tasks" / self._stripe(task_id)

    def _user_lock_path(self, user_id: str) -> Path:
        return self.locks_dir / "users" / self._stripe(user_id)

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
        try:
            write_json_atomic(path, data, durable=self.durable)
        except OSError as exc:
            failure = storage_failure(exc)
            if failure is not None:
                raise failure from exc
            reason = exc.strerror or type(exc).__name__
            raise StorageError(f"Could not save {path.parent.name}/{path.name}: {reason}") from exc

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

    def _note_states(self, tasks: list[Task]) -> None:
        """Record the tasks' statuses in their users' status maps (just before the records)."""
        by_user: dict[str, dict[str, str]] = {}
        for task in tasks:
            by_user.setdefault(task.user_id, {})[task.task_id] = task.status.value

        for user_id, states in by_user.items():

            def note(user: User, states: dict[str, str] = states) -> None:
                for task_id, status in states.items():
                    if task_id in user.tasks:
                        user.task_states[task_id] = status

            try:
                self.update_user(user_id, note)
            except NotFound:
                continue

    def _known_states(self, user: User) -> tuple[dict[str, str], bool]:
        """The user's status map, completed from the records for ids it lacks.

        Returns the map and whether anything had to be read (records written
        before the map existed, or a task the map missed in a crash).
        """
        states = {tid: user.task_states[tid] for tid in user.tasks if tid in user.task_states}
        filled = False
        for task_id in user.tasks:
            if task_id not in states:
                task = self.get_task(task_id)
                if task is not None:
                    states[task_id] = task.status.value
                filled = True
        return states, filled

    def _verify_unfinished(self, states: dict[str, str]) -> dict[str, str]:
        """Re-read the records the map calls unfinished (the map may lag after a crash)."""
        fresh = dict(states)
        for task_id, status in states.items():
            if TaskStatus(status) in TERMINAL:
                continue
            task = self.get_task(task_id)
            if task is None:
                fresh.pop(task_id)
            else:
                fresh[task_id] = task.status.value
        return fresh

    def user_task_states(self, user_id: str) -> dict[str, str]:
        user = self.get_user(user_id)
        if user is None:
            return {}
        states, filled = self._known_states(user)
        if filled:

            def store(record: User) -> None:
                record.task_states = {t: s for t, s in states.items() if t in record.tasks}

            try:
                self.update_user(user_id, store)
            except NotFound:
                return {}
        return states

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

    def create_task(self, task: Task, limits: TaskLimits | None = None) -> Task:
        path = self._task_path(task.task_id)
        check_new_task(task)
        user_path = self._user_path(task.user_id)
        with self._locked(self._user_lock_path(task.user_id)):  # 1. the user's index
            data = self._read(user_path)
            if data is None:
                raise NotFound("User not found")
            user = User.from_dict(data)
            states, _ = self._known_states(user)
            if limits is not None and task.task_id not in states:
                try:
                    check_task_limits(states, limits)
                except TooManyTasks:
                    states = self._verify_unfinished(states)
                    user.task_states = states
                    check_task_limits(states, limits)  # still refused: the map was right
            if task.task_id not in user.tasks:
                user.tasks.append(task.task_id)
            states[task.task_id] = task.status.value
            user.task_states = states
            self._write(user_path, user.to_dict())
        try:
            with self._locked(self._task_lock_path(task.task_id)):  # 2. the record
                self._write(path, task.to_dict())
        except BaseException:
            try:
                self.update_user(task.user_id, lambda u: _forget_task(u, task.task_id))
            except NotFound:
                pass
            raise
        return task

    def update_task(self, task_id: str, mutate: TaskMutation) -> Task:
        path = self._task_path(task_id)
        with self._locked(self._task_lock_path(task_id)):
            task = self._load_task(path)
            before = task.status
            mutate(task)
            check_update(before, task)
            task.updated_at = utcnow()
            if task.status is not before:
                self._note_states([task])
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
            ids = list(dict.fromkeys(ids))  # a task between two lists is named twice
        else:
            ids = self.all_task_ids()
        found = []
        for task_id in ids:
            task = self.get_task(task_id)
            if task is not None and (not wanted or task.status in wanted):
                found.append(task)
        return found

    # --- queue index ---------------------------------------------------------
    def _parse_index(self) -> QueueSnapshot | None:
        """The stored index, or None when it is missing or damaged (then moved aside)."""
        try:
            data = read_json(self.queue_path)
        except FileNotFoundError:
            return None
        except (ValueError, UnicodeDecodeError) as exc:
            self._quarantine(self.queue_path, exc)
            return None
        try:
            turns = data.get("turns") or {}
            snapshot = QueueSnapshot(
                queued=sorted(
                    (QueueEntry(**e) for e in data["queued"]), key=lambda e: e.order_key
                ),
                processing=[QueueEntry(**e) for e in data["processing"]],
                turns={str(k): str(v) for k, v in turns.items()},
            )
        except (AttributeError, KeyError, TypeError) as exc:
            self._quarantine(self.queue_path, exc)
            return None
        return snapshot

    def _read_index(self) -> QueueSnapshot:
        """The index as stored (waiting tasks in priority order), rebuilt if it was lost."""
        snapshot = self._parse_index()
        if snapshot is not None:
            return snapshot
        with self._locked(self._queue_lock_path()):
            snapshot = self._parse_index()  # another process may have rebuilt it meanwhile
            return snapshot if snapshot is not None else self._rebuild_index()

    def _write_index(self, snapshot: QueueSnapshot) -> None:
        self._write(
            self.queue_path,
            {
                "queued": [vars(e) for e in sorted(snapshot.queued, key=lambda e: e.order_key)],
                "processing": [vars(e) for e in snapshot.processing],
                "turns": snapshot.turns,
            },
        )

    def queue_snapshot(self) -> QueueSnapshot:
        snapshot = self._read_index()
        snapshot.queued = fair_order(snapshot.queued, snapshot.turns)
        return snapshot

    def _drop_from_index(self, task_ids: set[str]) -> None:
        with self._locked(self._queue_lock_path()):
            snapshot = self._read_index()
            queued = [e for e in snapshot.queued if e.task_id not in task_ids]
            processing = [e for e in snapshot.processing if e.task_id not in task_ids]
            if len(queued) != len(snapshot.queued) or len(processing) != len(snapshot.processing):
                self._write_index(QueueSnapshot(queued, processing, snapshot.turns))

    @contextmanager
    def _task_locks(self, task_ids: list[str]) -> Iterator[None]:
        """Hold the locks of several tasks (in stripe order, so two holders never deadlock)."""
        with ExitStack() as stack:
            for stripe in sorted({self._task_lock_path(t) for t in task_ids}):
                stack.enter_context(self._locked(stripe))
            yield

    def enqueue(
        self,
        task_ids: list[str],
        limits: QueueLimits | None,
        mutate: TaskMutation | None = None,
    ) -> list[Task]:
        ids = set(task_ids)
        with self._locked(self._queue_lock_path()):
            snapshot = self._read_index()
            with self._task_locks(task_ids):
                loaded = [self._load_task(self._task_path(task_id)) for task_id in task_ids]
                tasks = prepare_enqueue(loaded, limits, mutate)
                if limits is not None:
                    check_waiting_limits(snapshot, tasks, limits)
                # 1. the list the tasks move to, 2. the records, 3. the list they leave
                snapshot.queued = [e for e in snapshot.queued if e.task_id not in ids]
                for task in tasks:
                    snapshot.queued.append(
                        QueueEntry(task.task_id, task.user_id, task.priority, task.queued_at or "")
                    )
                self._write_index(snapshot)
                self._note_states(tasks)
                for task in tasks:
                    self._write(self._task_path(task.task_id), task.to_dict())
            if any(e.task_id in ids for e in snapshot.processing):
                snapshot.processing = [e for e in snapshot.processing if e.task_id not in ids]
                self._write_index(snapshot)
        return tasks

    def claim_next(self, limits: QueueLimits, worker: dict) -> Task | None:
        with self._locked(self._queue_lock_path()):
            snapshot = self._read_index()
            if len(snapshot.processing) >= limits.max_total or not snapshot.queued:
                return None
            running: dict[str, int] = {}
            for entry in snapshot.processing:
                running[entry.user_id] = running.get(entry.user_id, 0) + 1
            stale: dict[str, Task | None] = {}  # entries left by a crash, with their record
            claimed: Task | None = None
            for entry in fair_order(snapshot.queued, snapshot.turns):
                if running.get(entry.user_id, 0) >= limits.max_per_user:
                    continue
                with self._locked(self._task_lock_path(entry.task_id)):
                    path = self._task_path(entry.task_id)
                    task = self._parse_task(path, self._read(path))
                    if task is None or task.status is not TaskStatus.QUEUED:
                        stale[entry.task_id] = task
                        continue
                    task.transition(TaskStatus.PROCESSING)
                    task.attempts += 1
                    task.worker = dict(worker, heartbeat_at=utcnow())
                    # 1. the processing list (stale entries dropped on the way), 2. the record
                    self._drop_stale(snapshot, stale)
                    snapshot.processing = [  # a listing left by an interrupted claim
                        e for e in snapshot.processing if e.task_id != entry.task_id
                    ] + [entry]
                    self._write_index(snapshot)
                    self._note_states([task])
                    self._write(path, task.to_dict())
                    claimed = task
                    break
            if claimed is None:
                if stale:
                    self._drop_stale(snapshot, stale)
                    self._write_index(snapshot)
                return None
            # 3. the waiting list, and the visitor's turn
            snapshot.queued = [e for e in snapshot.queued if e.task_id != claimed.task_id]
            snapshot.turns[claimed.user_id] = utcnow()
            keep = active_users(snapshot)
            snapshot.turns = {u: t for u, t in snapshot.turns.items() if u in keep}
            self._write_index(snapshot)
        return claimed

    @staticmethod
    def _drop_stale(snapshot: QueueSnapshot, stale: dict[str, Task | None]) -> None:
        """Remove waiting entries whose record is not queued; keep a processing one listed."""
        if not stale:
            return
        listed = {e.task_id for e in snapshot.processing}
        for task_id, task in stale.items():
            if task is not None and task.status is TaskStatus.PROCESSING and task_id not in listed:
                snapshot.processing.append(_entry(task))
        snapshot.queued = [e for e in snapshot.queued if e.task_id not in stale]

    def reconcile_queue(self) -> None:
        """Make both lists agree with the records: drop extras, move misplaced entries."""
        with self._locked(self._queue_lock_path()):
            snapshot = self._read_index()
            records: dict[str, Task | None] = {}
            for entry in snapshot.queued + snapshot.processing:
                if entry.task_id not in records:
                    records[entry.task_id] = self.get_task(entry.task_id)
            queued = [e for e in snapshot.queued if _has(records, e, TaskStatus.QUEUED)]
            processing = [e for e in snapshot.processing if _has(records, e, TaskStatus.PROCESSING)]
            waiting = {e.task_id for e in queued}
            running = {e.task_id for e in processing}
            for task_id, task in records.items():
                if task is None:
                    continue
                if task.status is TaskStatus.QUEUED and task_id not in waiting:
                    queued.append(_entry(task))
                elif task.status is TaskStatus.PROCESSING and task_id not in running:
                    processing.append(_entry(task))
            if [e.task_id for e in queued] != [e.task_id for e in snapshot.queued] or [
                e.task_id for e in processing
            ] != [e.task_id for e in snapshot.processing]:
                self._write_index(QueueSnapshot(queued, processing, snapshot.turns))

    def rebuild_queue_index(self) -> None:
        """Rebuild the index from every task record (a full scan; used by repair)."""
        with self._locked(self._queue_lock_path()):
            self._rebuild_index()

    def _rebuild_index(self) -> QueueSnapshot:
        """Scan every task record for the waiting and running ones; caller holds the queue lock."""
        snapshot = QueueSnapshot()
        for task_id in self.all_task_ids():
            task = self.get_task(task_id)
            if task is None:
                continue
            if task.status is TaskStatus.QUEUED:
                snapshot.queued.append(_entry(task))
            elif task.status is TaskStatus.PROCESSING:
                snapshot.processing.append(_entry(task))
        snapshot.queued.sort(key=lambda e: e.order_key)
        self._write_index(snapshot)
        if snapshot.queued or snapshot.processing:
            log.warning(
                "Queue index rebuilt from the task records: %d waiting, %d running",
                len(snapshot.queued),
                len(snapshot.processing),
            )
        return snapshot

    def remove_all(self) -> None:
        """Delete the whole data directory's records (tests only)."""
        shutil.rmtree(self.root, ignore_errors=True)


def _entry(task: Task) -> QueueEntry:
    return QueueEntry(task.task_id, task.user_id, task.priority, task.queued_at or "")


def _has(records: dict[str, Task | None], entry: QueueEntry, status: TaskStatus) -> bool:
    task = records.get(entry.task_id)
    return task is not None and task.status is status


def _forget_task(user: User, task_id: str) -> None:
    if task_id in user.tasks:
        user.tasks.remove(task_id)
    user.task_states.pop(task_id, None)
