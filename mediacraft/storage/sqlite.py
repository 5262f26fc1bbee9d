"""``SQLiteStorage``: users and tasks in one SQLite file.

Each record is a JSON document (``Task.to_dict()`` / ``User.to_dict()``) plus
the columns the queries need, rewritten from the document on every write::

    tasks(task_id PK, user_id, status, priority, queued_at, created_at, doc)
    users(user_id PK, created_at, last_accessed, doc)
    queue_turns(user_id PK, served_at)   when each visitor with work in the queue was last served
    damaged(id, kind, record_id, doc, error, moved_at)   records that failed to parse

Why the shape differs from ``FileStorage`` while the behaviour does not:

* There is no separate queue index: ``status``/``priority``/``queued_at`` are
  columns of the task row, so the queue can never disagree with the records
  and ``reconcile_queue`` has nothing to repair.
* ``User.tasks`` and ``User.task_states`` (the per-user index) are not stored
  in the user document but read from ``tasks`` through the ``user_id`` index,
  in creation order; a mutation of either in :meth:`update_user` is ignored.
* Every read-modify-write and every queue operation is one ``BEGIN IMMEDIATE``
  transaction: SQLite's single writer lock serialises them across threads and
  processes (so the limits hold across gunicorn workers), and a ``mutate``
  callback that raises rolls everything back. WAL lets readers go on while a
  writer works; ``busy_timeout`` makes writers wait instead of failing.

Connections are opened lazily, one per (process, thread): a ``sqlite3``
connection must not be used from two threads at once nor carried across
``fork``. Connections inherited from a parent process are left untouched.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..exceptions import NotFound, StorageError, StorageFull
from ..model import Task, TaskStatus, User, is_uuid, utcnow
from .base import (
    QueueEntry,
    QueueLimits,
    QueueSnapshot,
    StorageInterface,
    TaskLimits,
    TaskMutation,
    TaskPage,
    TaskQuery,
    UserMutation,
    apply_query,
    check_new_task,
    check_task_limits,
    check_update,
    check_waiting_limits,
    fair_order,
    prepare_enqueue,
)

log = logging.getLogger(__name__)

BUSY_TIMEOUT = 30.0
SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    user_id       TEXT PRIMARY KEY,
    created_at    TEXT NOT NULL,
    last_accessed TEXT NOT NULL,
    doc           TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tasks (
    task_id    TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL,
    status     TEXT NOT NULL,
    priority   INTEGER NOT NULL DEFAULT 0,
    queued_at  TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    doc        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_user ON tasks (user_id);
CREATE INDEX IF NOT EXISTS tasks_queue ON tasks (status, priority DESC, queued_at);
CREATE TABLE IF NOT EXISTS queue_turns (
    user_id   TEXT PRIMARY KEY,
    served_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS damaged (
    id        INTEGER PRIMARY KEY,
    kind      TEXT NOT NULL,
    record_id TEXT NOT NULL,
    doc       TEXT,
    error     TEXT NOT NULL,
    moved_at  TEXT NOT NULL
);
"""

# Claim order is QueueEntry.order_key, (-priority, queued_at); rowid breaks ties
# in insertion order, as the stable sort of FileStorage's index does.
QUEUE_ORDER = "ORDER BY priority DESC, queued_at, rowid"

# Connections of a parent process seen in a forked child: never used, never
# closed (closing could checkpoint or unlink the parent's WAL), never freed.
_inherited: list[sqlite3.Connection] = []
_instances: weakref.WeakSet[SQLiteStorage] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    pid = os.getpid()
    for storage in list(_instances):
        storage._after_fork(pid)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _close_all(opened: list[tuple[threading.Thread, sqlite3.Connection]]) -> None:
    connections = [c for _, c in opened]
    opened.clear()
    for conn in connections:
        _close_quietly(conn)


def _close_quietly(conn: sqlite3.Connection) -> None:
    try:
        conn.close()
    except sqlite3.Error as exc:  # pragma: no cover - closing is best effort
        log.warning("Closing an SQLite connection: %s", exc)


class _Damaged(Exception):
    """A stored document that does not decode."""


def _database_error(exc: sqlite3.Error, what: str) -> StorageError:
    """A full or read-only database is the server's disk, said as such."""
    text = str(exc).lower()
    if "disk is full" in text or "database or disk is full" in text:
        return StorageFull("The task could not be saved: the server's disk is full")
    if "readonly" in text or "read-only" in text:
        return StorageFull("The task could not be saved: the server's storage is read-only")
    return StorageError(f"{what}: {exc}")


class SQLiteStorage(StorageInterface):
    def __init__(
        self, path: Path, *, durable: bool = True, busy_timeout: float = BUSY_TIMEOUT
    ) -> None:
        self.path = Path(path)
        self.durable = durable
        self.busy_timeout = busy_timeout
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._setup_locals()
        self._init_schema()

    # --- pickling (spawn) ----------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "durable": self.durable, "busy_timeout": self.busy_timeout}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._setup_locals()

    # --- connections ---------------------------------------------------------
    def _setup_locals(self) -> None:
        self._local = threading.local()
        self._guard = threading.Lock()
        self._pid = os.getpid()
        self._generation = 0
        # Every connection this process opened, with the thread that owns it.
        # Changed in place only: the finalizer closes what it holds when the
        # storage is dropped without close() (no unclosed-connection warnings).
        self._opened: list[tuple[threading.Thread, sqlite3.Connection]] = []
        weakref.finalize(self, _close_all, self._opened)
        _instances.add(self)

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: no implicit BEGIN; transactions are explicit.
        # check_same_thread=False only so that close() and the pruning of dead
        # threads' connections may close them; each connection is otherwise
        # used by the thread that opened it alone.
        conn = sqlite3.connect(
            self.path,
            timeout=self.busy_timeout,
            isolation_level=None,
            check_same_thread=False,
        )
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        conn.execute(f"PRAGMA synchronous = {'FULL' if self.durable else 'NORMAL'}")
        return conn

    def _conn(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use in this process and thread."""
        pid = os.getpid()
        if pid != self._pid:  # forked without os.register_at_fork's hook running
            self._after_fork(pid)
        local = self._local
        conn = getattr(local, "conn", None)
        if conn is None or local.pid != pid or local.generation != self._generation:
            conn = self._connect()
            me = threading.current_thread()
            with self._guard:
                # Threads come and go (one per request in the dev server): close
                # the connections of those that ended instead of leaking them.
                dead = [c for t, c in self._opened if not t.is_alive()]
                self._opened[:] = [(t, c) for t, c in self._opened if t.is_alive()]
                self._opened.append((me, conn))
                local.generation = self._generation
            for old in dead:
                _close_quietly(old)
            local.conn = conn
            local.pid = pid
            local.depth = 0
            local.damage = []
        return conn

    def _after_fork(self, pid: int) -> None:
        """In a forked child: forget the parent's connections without touching them."""
        if self._pid == pid:
            return
        _inherited.extend(c for _, c in self._opened)
        self._opened.clear()
        self._guard = threading.Lock()  # the parent's may have been held at fork time
        self._local = threading.local()
        self._generation += 1
        self._pid = pid

    def close(self) -> None:
        """Close every connection this process opened.

        Call it when no thread is in the middle of an operation (shutdown, end
        of a test). A thread that uses the storage afterwards reconnects.
        """
        pid = os.getpid()
        if pid != self._pid:
            self._after_fork(pid)
            return
        with self._guard:
            self._generation += 1
            _close_all(self._opened)
        self._local.conn = None

    def _init_schema(self) -> None:
        """Create the tables; switch to WAL (a property of the file, kept across opens)."""
        conn = self._connect()
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                log.warning("SQLite journal mode is %s, not WAL, for %s", mode, self.path)
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                if version == 0:
                    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                elif version > SCHEMA_VERSION:
                    raise StorageError(
                        f"{self.path.name} has schema version {version}; "
                        f"this MediaCraft knows up to {SCHEMA_VERSION}"
                    )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise StorageError(f"Cannot open the database {self.path.name}: {exc}") from exc
        finally:
            conn.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction; a savepoint when nested (mutate callbacks)."""
        conn = self._conn()
        local = self._local
        depth = local.depth
        try:
            if depth == 0:
                conn.execute("BEGIN IMMEDIATE")
            else:
                conn.execute(f"SAVEPOINT sp{depth}")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc).lower() or "busy" in str(exc).lower():
                raise StorageError(f"The database is busy, please try again ({exc})") from exc
            raise _database_error(exc, "The database refused the change") from exc
        local.depth = depth + 1
        try:
            yield conn
        except BaseException:
            local.depth = depth
            if depth == 0:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                self._flush_damage()
            else:
                conn.execute(f"ROLLBACK TO sp{depth}")
                conn.execute(f"RELEASE sp{depth}")
            raise
        local.depth = depth
        try:
            if depth == 0:
                conn.execute("COMMIT")
            else:
                conn.execute(f"RELEASE sp{depth}")
        except sqlite3.Error as exc:
            if depth == 0 and conn.in_transaction:
                conn.execute("ROLLBACK")
            raise _database_error(exc, "Could not save the change") from exc
        if depth == 0:
            self._flush_damage()

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Report SQLite failures as StorageError, like FileStorage's lock timeouts."""
        try:
            yield
        except sqlite3.Error as exc:
            raise _database_error(exc, "Database error") from exc

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """A read transaction (one consistent view), or the caller's transaction if any."""
        with self._errors():
            conn = self._conn()
            if conn.in_transaction:
                yield conn
                return
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                if conn.in_transaction:
                    conn.execute("COMMIT")

    def _read(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._errors():
            return self._conn().execute(sql, params).fetchall()

    # --- damaged records -----------------------------------------------------
    def _decode_task(self, task_id: str, doc: str) -> Task:
        try:
            data = json.loads(doc)
            if not isinstance(data, dict):
                raise ValueError("record is not a JSON object")
            return Task.from_dict(data)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            self._quarantine("task", task_id, doc, exc)
            raise _Damaged(task_id) from exc

    def _decode_user(self, user_id: str, doc: str, states: dict[str, str]) -> User:
        try:
            data = json.loads(doc)
            if not isinstance(data, dict):
                raise ValueError("record is not a JSON object")
            data["tasks"] = list(states)
            data["task_states"] = states
            return User.from_dict(data)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            self._quarantine("user", user_id, doc, exc)
            raise _Damaged(user_id) from exc

    def _quarantine(self, kind: str, record_id: str, doc: str | None, error: Exception) -> None:
        """Move a damaged row to ``damaged`` (never reset it silently) and report it.

        Inside a transaction the move waits until it ends, so a rollback of the
        caller's work does not undo it.
        """
        self._conn()  # makes sure this thread's state exists
        self._local.damage.append((kind, record_id, doc, repr(error)))
        if self._local.depth == 0:
            self._flush_damage()

    def _flush_damage(self) -> None:
        pending, self._local.damage = self._local.damage, []
        for kind, record_id, doc, error in pending:
            table, key = ("tasks", "task_id") if kind == "task" else ("users", "user_id")
            try:
                with self._write() as conn:
                    # Delete the row only if it still holds the damaged document;
                    # keep one copy of that document either way.
                    moved = conn.execute(
                        f"DELETE FROM {table} WHERE {key} = ? AND doc IS ?", (record_id, doc)
                    ).rowcount
                    kept = conn.execute(
                        "SELECT 1 FROM damaged WHERE kind = ? AND record_id = ? AND doc IS ?",
                        (kind, record_id, doc),
                    ).fetchone()
                    if not kept:
                        conn.execute(
                            "INSERT INTO damaged (kind, record_id, doc, error, moved_at)"
                            " VALUES (?, ?, ?, ?, ?)",
                            (kind, record_id, doc, error, utcnow()),
                        )
            except (StorageError, sqlite3.Error) as exc:
                log.error("Could not move damaged %s %s aside: %s", kind, record_id, exc)
                continue
            if moved or not kept:
                log.error(
                    "Damaged %s record %s moved to the damaged table: %s", kind, record_id, error
                )

    # --- rows ----------------------------------------------------------------
    @staticmethod
    def _put_task(conn: sqlite3.Connection, task: Task) -> None:
        conn.execute(
            "INSERT INTO tasks (task_id, user_id, status, priority, queued_at, created_at, doc)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (task_id) DO UPDATE SET user_id = excluded.user_id,"
            " status = excluded.status, priority = excluded.priority,"
            " queued_at = excluded.queued_at, created_at = excluded.created_at,"
            " doc = excluded.doc",
            (
                task.task_id,
                task.user_id,
                task.status.value,
                int(task.priority),
                task.queued_at or "",
                task.created_at,
                json.dumps(task.to_dict(), ensure_ascii=False),
            ),
        )

    @staticmethod
    def _put_user(conn: sqlite3.Connection, user: User) -> None:
        data = user.to_dict()
        data.pop("tasks", None)  # derived from the tasks table
        data.pop("task_states", None)
        conn.execute(
            "INSERT INTO users (user_id, created_at, last_accessed, doc) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (user_id) DO UPDATE SET created_at = excluded.created_at,"
            " last_accessed = excluded.last_accessed, doc = excluded.doc",
            (
                user.user_id,
                user.created_at,
                user.last_accessed,
                json.dumps(data, ensure_ascii=False),
            ),
        )

    def _load_task(self, conn: sqlite3.Connection, task_id: str) -> Task:
        """The task for a read-modify-write; NotFound when missing or damaged."""
        if not is_uuid(task_id):
            raise NotFound("Task not found")
        row = conn.execute("SELECT doc FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
        if row is None:
            raise NotFound("Task not found")
        try:
            return self._decode_task(task_id, row[0])
        except _Damaged:
            raise NotFound("Task not found") from None

    @staticmethod
    def _user_states(conn: sqlite3.Connection, user_id: str) -> dict[str, str]:
        rows = conn.execute(
            "SELECT task_id, status FROM tasks WHERE user_id = ? ORDER BY rowid", (user_id,)
        ).fetchall()
        return {task_id: status for task_id, status in rows}

    def _tasks_from_rows(self, rows: list[tuple]) -> list[Task]:
        tasks = []
        for task_id, doc in rows:
            try:
                tasks.append(self._decode_task(task_id, doc))
            except _Damaged:
                continue
        return tasks

    # --- users ---------------------------------------------------------------
    def get_user(self, user_id: str) -> User | None:
        if not is_uuid(user_id):
            return None
        with self._reading() as conn:
            row = conn.execute("SELECT doc FROM users WHERE user_id = ?", (user_id,)).fetchone()
            if row is None:
                return None
            states = self._user_states(conn, user_id)
        try:
            return self._decode_user(user_id, row[0], states)
        except _Damaged:
            return None

    def create_user(self, user: User) -> User:
        if not is_uuid(user.user_id):
            raise NotFound("User not found")
        with self._errors(), self._write() as conn:
            row = conn.execute(
                "SELECT doc FROM users WHERE user_id = ?", (user.user_id,)
            ).fetchone()
            if row is not None:
                try:
                    return self._decode_user(
                        user.user_id, row[0], self._user_states(conn, user.user_id)
                    )
                except _Damaged:
                    pass  # copied aside when this transaction ends; replaced below
            self._put_user(conn, user)
        return user

    def update_user(self, user_id: str, mutate: UserMutation) -> User:
        if not is_uuid(user_id):
            raise NotFound("User not found")
        with self._errors(), self._write() as conn:
            row = conn.execute("SELECT doc FROM users WHERE user_id = ?", (user_id,)).fetchone()
            if row is None:
                raise NotFound("User not found")
            try:
                user = self._decode_user(user_id, row[0], self._user_states(conn, user_id))
            except _Damaged:
                raise NotFound("User not found") from None
            mutate(user)
            user.user_id = user_id
            self._put_user(conn, user)
            return user

    def delete_user(self, user_id: str) -> None:
        if not is_uuid(user_id):
            raise NotFound("User not found")
        with self._errors(), self._write() as conn:
            conn.execute("DELETE FROM users WHERE user_id = ?", (user_id,))

    def list_user_ids(self) -> list[str]:
        return [r[0] for r in self._read("SELECT user_id FROM users ORDER BY rowid")]

    # --- tasks ---------------------------------------------------------------
    def get_task(self, task_id: str) -> Task | None:
        if not is_uuid(task_id):
            return None
        rows = self._read("SELECT task_id, doc FROM tasks WHERE task_id = ?", (task_id,))
        tasks = self._tasks_from_rows(rows)
        return tasks[0] if tasks else None

    def create_task(self, task: Task, limits: TaskLimits | None = None) -> Task:
        """Store the task; its user must exist (NotFound otherwise, and nothing is stored)."""
        if not is_uuid(task.task_id):
            raise NotFound("Task not found")
        check_new_task(task)
        with self._errors(), self._write() as conn:
            if not is_uuid(task.user_id) or (
                conn.execute("SELECT 1 FROM users WHERE user_id = ?", (task.user_id,)).fetchone()
                is None
            ):
                raise NotFound("User not found")
            if limits is not None:
                states = self._user_states(conn, task.user_id)
                if task.task_id not in states:
                    check_task_limits(states, limits)
            self._put_task(conn, task)
        return task

    def update_task(self, task_id: str, mutate: TaskMutation) -> Task:
        with self._errors(), self._write() as conn:
            task = self._load_task(conn, task_id)
            before = task.status
            mutate(task)
            check_update(before, task)
            task.task_id = task_id
            task.updated_at = utcnow()
            self._put_task(conn, task)
            return task

    def delete_task(self, task_id: str) -> None:
        if not is_uuid(task_id):
            raise NotFound("Task not found")
        with self._errors(), self._write() as conn:
            deleted = conn.execute("DELETE FROM tasks WHERE task_id = ?", (task_id,)).rowcount
        if not deleted:
            raise NotFound("Task not found")

    def query_user_tasks(self, user_id: str, query: TaskQuery | None = None) -> TaskPage:
        query = query or TaskQuery()
        if not is_uuid(user_id):
            return TaskPage([], 0, query.offset, query.limit)
        with self._reading() as conn:
            known = conn.execute("SELECT 1 FROM users WHERE user_id = ?", (user_id,)).fetchone()
            rows = conn.execute(
                "SELECT task_id, doc FROM tasks WHERE user_id = ? ORDER BY rowid", (user_id,)
            ).fetchall()
        if known is None:
            return TaskPage([], 0, query.offset, query.limit)
        tasks = [t for t in self._tasks_from_rows(rows) if t.user_id == user_id]
        return apply_query(tasks, query)

    def all_task_ids(self) -> list[str]:
        return [r[0] for r in self._read("SELECT task_id FROM tasks ORDER BY rowid")]

    def user_task_states(self, user_id: str) -> dict[str, str]:
        if not is_uuid(user_id):
            return {}
        with self._reading() as conn:
            return self._user_states(conn, user_id)

    def tasks_by_status(self, *statuses: TaskStatus) -> list[Task]:
        if statuses:
            values = tuple(dict.fromkeys(TaskStatus(s).value for s in statuses))
            marks = ", ".join("?" * len(values))
            rows = self._read(
                f"SELECT task_id, doc FROM tasks WHERE status IN ({marks}) ORDER BY rowid", values
            )
        else:
            rows = self._read("SELECT task_id, doc FROM tasks ORDER BY rowid")
        wanted = set(statuses)
        return [t for t in self._tasks_from_rows(rows) if not wanted or t.status in wanted]

    # --- queue ---------------------------------------------------------------
    @staticmethod
    def _snapshot(conn: sqlite3.Connection) -> QueueSnapshot:
        columns = "SELECT task_id, user_id, priority, queued_at FROM tasks WHERE status = ?"
        queued = conn.execute(f"{columns} {QUEUE_ORDER}", (TaskStatus.QUEUED.value,)).fetchall()
        processing = conn.execute(
            f"{columns} ORDER BY rowid", (TaskStatus.PROCESSING.value,)
        ).fetchall()
        turns = dict(conn.execute("SELECT user_id, served_at FROM queue_turns").fetchall())
        return QueueSnapshot(
            queued=fair_order([QueueEntry(*row) for row in queued], turns),
            processing=[QueueEntry(*row) for row in processing],
            turns=turns,
        )

    def queue_snapshot(self) -> QueueSnapshot:
        with self._reading() as conn:
            return self._snapshot(conn)

    def enqueue(
        self,
        task_ids: list[str],
        limits: QueueLimits | None,
        mutate: TaskMutation | None = None,
    ) -> list[Task]:
        with self._errors(), self._write() as conn:
            snapshot = self._snapshot(conn)
            loaded = [self._load_task(conn, task_id) for task_id in task_ids]
            tasks = prepare_enqueue(loaded, limits, mutate)
            if limits is not None:
                check_waiting_limits(snapshot, tasks, limits)
            for task in tasks:
                self._put_task(conn, task)
            return tasks

    def claim_next(self, limits: QueueLimits, worker: dict) -> Task | None:
        with self._errors(), self._write() as conn:
            snapshot = self._snapshot(conn)
            if len(snapshot.processing) >= limits.max_total or limits.max_per_user <= 0:
                return None
            running: dict[str, int] = {}
            for entry in snapshot.processing:
                running[entry.user_id] = running.get(entry.user_id, 0) + 1
            for entry in snapshot.queued:  # already in fair claim order
                if running.get(entry.user_id, 0) >= limits.max_per_user:
                    continue
                row = conn.execute(
                    "SELECT doc FROM tasks WHERE task_id = ?", (entry.task_id,)
                ).fetchone()
                try:
                    task = self._decode_task(entry.task_id, row[0])
                except _Damaged:
                    continue
                task.transition(TaskStatus.PROCESSING)
                task.attempts += 1
                task.worker = dict(worker, heartbeat_at=utcnow())
                self._put_task(conn, task)
                conn.execute(
                    "INSERT INTO queue_turns (user_id, served_at) VALUES (?, ?)"
                    " ON CONFLICT (user_id) DO UPDATE SET served_at = excluded.served_at",
                    (task.user_id, utcnow()),
                )
                conn.execute(
                    "DELETE FROM queue_turns WHERE user_id NOT IN ("
                    " SELECT user_id FROM tasks WHERE status IN (?, ?))",
                    (TaskStatus.QUEUED.value, TaskStatus.PROCESSING.value),
                )
                return task
            return None

    def reconcile_queue(self) -> None:
        """Nothing to repair: the queue is the ``status`` column of the records themselves."""
        return None
