"""``PostgresStorage``: users, tasks and the queue in one PostgreSQL database.

The storage for more than one machine: every host's web and worker
processes share the database (and a data directory for the files). The
tables are those of ``SQLiteStorage`` (a JSON document per record plus the
columns the queries need; see ``migrations/``), and so is the behaviour.

Concurrency, in PostgreSQL's terms:

* A read-modify-write locks its row (``SELECT … FOR UPDATE``) for one
  transaction; a ``mutate`` callback that raises rolls it back.
* ``claim_next`` is one call of a PL/pgSQL function (one round trip, one
  transaction). The limits are counts over the rows in ``processing``, and
  two claimers counting at once would both see room for one more, so the
  counting step holds a transaction-scoped advisory lock (for the claim's
  few statements, not for the task's run). The chosen row is taken with
  ``FOR UPDATE SKIP LOCKED``: a claimer never waits on a waiting task that a
  cancel or an edit holds, it takes the next.
* Queueing (with limits) counts the waiting tasks under its own advisory
  lock, so the waiting bounds hold across processes as well.
* A commit that queues a task or ends a running one sends ``NOTIFY``;
  :meth:`PostgresStorage.subscribe` delivers it to idle dispatchers, which
  therefore start a queued task at once instead of at their next poll.
* Heartbeat ages are kept on the database's clock (``heartbeat_at`` is set
  to ``now()`` when a run's heartbeat changes), so hosts whose clocks
  disagree still agree on which worker went silent.

Connections come from a ``psycopg_pool`` pool, opened per process on first
use (a pool's sockets and threads do not survive ``fork``; a child never
touches its parent's).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool, PoolTimeout

from ..exceptions import NotFound, StorageError
from ..model import Task, TaskStatus, User, is_uuid, utcnow
from . import pgmigrate
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

CHANNEL = "mediacraft_queue"
# transaction-scoped advisory lock keys: counting waiting tasks (the claim lock,
# 0x6D63636C61696D00, is written in migrations/0002_claim_function.sql)
ENQUEUE_LOCK = 0x6D63_656E_7175_6500
QUEUED = TaskStatus.QUEUED.value
PROCESSING = TaskStatus.PROCESSING.value

# Pools of a parent process seen in a forked child: never used, never closed
# (closing would end the parent's sessions), kept so they are never freed.
_inherited: list[ConnectionPool] = []


class DatabaseUnavailable(StorageError):
    """The database cannot be reached (answered 503: try again)."""

    status = 503


class _Damaged(Exception):
    """A stored document that does not decode as a record."""


def describe(dsn: str) -> str:
    """``host:port/dbname`` of a DSN, without its password."""
    try:
        parts = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "(an invalid database URL)"
    host = parts.get("host") or parts.get("hostaddr") or "localhost"
    return f"{host}:{parts.get('port') or 5432}/{parts.get('dbname') or ''}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class PostgresStorage(StorageInterface):
    def __init__(
        self,
        dsn: str,
        *,
        pool_min: int = 1,
        pool_max: int = 10,
        pool_timeout: float = 10.0,
        connect_timeout: int = 5,
        migrate: bool = True,
    ) -> None:
        self.dsn = dsn
        self.pool_min = pool_min
        self.pool_max = pool_max
        self.pool_timeout = pool_timeout
        self.connect_timeout = connect_timeout
        self._setup_locals()
        self._check_schema(apply=migrate)

    # --- pickling (spawn) ----------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        keys = ("dsn", "pool_min", "pool_max", "pool_timeout", "connect_timeout")
        return {key: getattr(self, key) for key in keys}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._setup_locals()

    def _setup_locals(self) -> None:
        self._pid = os.getpid()
        self._pool_obj: ConnectionPool | None = None
        self._pool_lock = threading.Lock()
        self._local = threading.local()
        self._subscribers: list[Callable[[], None]] = []
        self._listener: threading.Thread | None = None
        self._closing = threading.Event()

    # --- connections ---------------------------------------------------------
    def _connect_kwargs(self) -> dict[str, Any]:
        return {"autocommit": True, "connect_timeout": self.connect_timeout}

    def unreachable(self, exc: BaseException) -> DatabaseUnavailable:
        """For operators at start-up: which database, and why."""
        return DatabaseUnavailable(
            f"Cannot reach the database at {describe(self.dsn)}: {_first_line(exc)}"
        )

    def unavailable(self, exc: BaseException) -> DatabaseUnavailable:
        """For a request or a task while running: said plainly, the details go to the log."""
        log.warning("Database %s unavailable: %s", describe(self.dsn), _first_line(exc))
        return DatabaseUnavailable("The database is unavailable, please try again shortly")

    def _check_schema(self, *, apply: bool) -> None:
        try:
            with psycopg.connect(self.dsn, **self._connect_kwargs()) as conn:
                applied = pgmigrate.migrate(conn, apply=apply)
        except psycopg.OperationalError as exc:
            raise self.unreachable(exc) from None
        if applied:
            log.info("Database %s migrated to version %d", describe(self.dsn), applied[-1])

    def migrate(self) -> list[int]:
        """Apply pending migrations now (``mediacraft migrate``)."""
        try:
            with psycopg.connect(self.dsn, **self._connect_kwargs()) as conn:
                return pgmigrate.migrate(conn, apply=True)
        except psycopg.OperationalError as exc:
            raise self.unreachable(exc) from None

    def _pool(self) -> ConnectionPool:
        pid = os.getpid()
        if pid != self._pid:  # forked: the parent's pool is not ours to use or close
            if self._pool_obj is not None:
                _inherited.append(self._pool_obj)
            self._setup_locals()
        pool = self._pool_obj
        if pool is not None:
            return pool
        with self._pool_lock:
            if self._pool_obj is None:
                self._pool_obj = ConnectionPool(
                    self.dsn,
                    min_size=self.pool_min,
                    max_size=max(self.pool_min, self.pool_max),
                    timeout=self.pool_timeout,
                    kwargs=self._connect_kwargs(),
                    name="mediacraft",
                    # the pool's reconnection backs off exponentially without
                    # bound; giving up after 10 s makes the next request start
                    # afresh, so service resumes within seconds of an outage
                    reconnect_timeout=10.0,
                    open=True,
                )
            return self._pool_obj

    @contextmanager
    def _conn(self) -> Iterator[psycopg.Connection]:
        """This thread's current connection (inside a transaction) or one from the pool."""
        current = getattr(self._local, "conn", None)
        if current is not None:
            yield current
            return
        try:
            with self._pool().connection() as conn:
                yield conn
        except PoolTimeout as exc:
            raise self.unavailable(exc) from None
        except psycopg.OperationalError as exc:
            raise self.unavailable(exc) from None
        except psycopg.errors.DiskFull as exc:
            from ..exceptions import StorageFull

            raise StorageFull("The task could not be saved: the database's disk is full") from exc
        except psycopg.Error as exc:
            raise StorageError(f"Database error: {_first_line(exc)}") from exc

    @contextmanager
    def _tx(self) -> Iterator[psycopg.Connection]:
        """One transaction (a savepoint when nested in a mutate callback)."""
        local = self._local
        outer = getattr(local, "conn", None) is None
        if not outer:
            with local.conn.transaction():
                yield local.conn
            return
        local.damage = []
        try:
            with self._conn() as conn:
                local.conn = conn
                try:
                    with conn.transaction():
                        yield conn
                finally:
                    local.conn = None
        finally:
            self._flush_damage()  # after the rollback too: the move is its own transaction

    def close(self) -> None:
        """Close this process's pool and listener (a later use opens a new pool)."""
        self._closing.set()
        if os.getpid() != self._pid:
            return
        with self._pool_lock:
            pool, self._pool_obj = self._pool_obj, None
        if pool is not None:
            pool.close()
        listener = self._listener
        if listener is not None:
            listener.join(timeout=5)
        self._listener = None
        self._closing = threading.Event()

    # --- notifications -------------------------------------------------------
    def subscribe(self, callback: Callable[[], None]) -> bool:
        """Call ``callback`` whenever any process queues a task or ends a running one."""
        self._pool()  # settles the fork check before the thread starts
        self._subscribers.append(callback)
        if self._listener is None:
            self._listener = threading.Thread(
                target=self._listen, name="mediacraft-pg-listen", daemon=True
            )
            self._listener.start()
        return True

    def _listen(self) -> None:
        closing = self._closing
        while not closing.is_set():
            try:
                with psycopg.connect(self.dsn, **self._connect_kwargs()) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._wake_subscribers()  # anything queued while not listening
                    while not closing.is_set():
                        for _ in conn.notifies(timeout=1.0):
                            self._wake_subscribers()
            except psycopg.Error as exc:
                if closing.is_set():
                    return
                log.warning("Listening for queued tasks failed, retrying: %s", _first_line(exc))
                closing.wait(1.0)

    def _wake_subscribers(self) -> None:
        for callback in list(self._subscribers):
            try:
                callback()
            except Exception:  # one subscriber's failure must not stop the others
                log.exception("Queue notification callback failed")

    @staticmethod
    def _notify(conn: psycopg.Connection) -> None:
        conn.execute("SELECT pg_notify(%s, '')", (CHANNEL,))

    # --- damaged records -----------------------------------------------------
    def _decode_task(self, task_id: str, doc: Any) -> Task:
        try:
            if not isinstance(doc, dict):
                raise ValueError("record is not a JSON object")
            return Task.from_dict(doc)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            self._quarantine("task", task_id, doc, exc)
            raise _Damaged(task_id) from exc

    def _decode_user(self, user_id: str, doc: Any, states: dict[str, str]) -> User:
        try:
            if not isinstance(doc, dict):
                raise ValueError("record is not a JSON object")
            data = dict(doc, tasks=list(states), task_states=states)
            return User.from_dict(data)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            self._quarantine("user", user_id, doc, exc)
            raise _Damaged(user_id) from exc

    def _quarantine(self, kind: str, record_id: str, doc: Any, error: Exception) -> None:
        """Move a damaged row to ``damaged`` once the current transaction ends."""
        import json

        text = json.dumps(doc, ensure_ascii=False) if doc is not None else None
        pending = getattr(self._local, "damage", None)
        if pending is None:
            self._local.damage = pending = []
        pending.append((kind, record_id, text, repr(error)))
        if getattr(self._local, "conn", None) is None:
            self._flush_damage()

    def _flush_damage(self) -> None:
        pending, self._local.damage = getattr(self._local, "damage", []), []
        for kind, record_id, text, error in pending:
            table, key = ("tasks", "task_id") if kind == "task" else ("users", "user_id")
            try:
                with self._tx() as conn:
                    moved = conn.execute(
                        f"DELETE FROM {table} WHERE {key} = %s AND doc::text = %s::jsonb::text",
                        (record_id, text),
                    ).rowcount
                    conn.execute(
                        "INSERT INTO damaged (kind, record_id, doc, error, moved_at)"
                        " VALUES (%s, %s, %s, %s, %s)",
                        (kind, record_id, text, error, utcnow()),
                    )
            except StorageError as exc:
                log.error("Could not move damaged %s %s aside: %s", kind, record_id, exc)
                continue
            if moved:
                log.error("Damaged %s record %s moved to the damaged table: %s",
                          kind, record_id, error)  # fmt: skip

    # --- rows ----------------------------------------------------------------
    @staticmethod
    def _put_task(conn: psycopg.Connection, task: Task, *, beat: bool = False) -> None:
        """Insert or rewrite a task row; ``beat`` stamps the heartbeat with the database's now()."""
        conn.execute(
            "INSERT INTO tasks (task_id, user_id, status, priority, queued_at, created_at,"
            " heartbeat_at, doc) VALUES (%s, %s, %s, %s, %s, %s,"
            " CASE WHEN %s THEN now() END, %s)"
            " ON CONFLICT (task_id) DO UPDATE SET user_id = excluded.user_id,"
            " status = excluded.status, priority = excluded.priority,"
            " queued_at = excluded.queued_at, created_at = excluded.created_at,"
            " heartbeat_at = CASE WHEN excluded.status <> 'processing' THEN NULL"
            "   WHEN %s THEN now() ELSE tasks.heartbeat_at END,"
            " doc = excluded.doc",
            (
                task.task_id,
                task.user_id,
                task.status.value,
                int(task.priority),
                task.queued_at or "",
                task.created_at,
                beat,
                Jsonb(task.to_dict()),
                beat,
            ),
        )

    @staticmethod
    def _put_user(conn: psycopg.Connection, user: User) -> None:
        data = user.to_dict()
        data.pop("tasks", None)  # derived from the tasks table
        data.pop("task_states", None)
        conn.execute(
            "INSERT INTO users (user_id, created_at, last_accessed, doc) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (user_id) DO UPDATE SET created_at = excluded.created_at,"
            " last_accessed = excluded.last_accessed, doc = excluded.doc",
            (user.user_id, user.created_at, user.last_accessed, Jsonb(data)),
        )

    def _load_task(self, conn: psycopg.Connection, task_id: str) -> Task:
        """The task, its row locked for this transaction; NotFound when missing or damaged."""
        if not is_uuid(task_id):
            raise NotFound("Task not found")
        row = conn.execute(
            "SELECT doc FROM tasks WHERE task_id = %s FOR UPDATE", (task_id,)
        ).fetchone()
        if row is None:
            raise NotFound("Task not found")
        try:
            return self._decode_task(task_id, row[0])
        except _Damaged:
            raise NotFound("Task not found") from None

    @staticmethod
    def _user_states(conn: psycopg.Connection, user_id: str) -> dict[str, str]:
        rows = conn.execute(
            "SELECT task_id, status FROM tasks WHERE user_id = %s ORDER BY seq", (user_id,)
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

    def _read(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._conn() as conn:
            return conn.execute(sql, params).fetchall()

    # --- users ---------------------------------------------------------------
    def get_user(self, user_id: str) -> User | None:
        if not is_uuid(user_id):
            return None
        with self._tx() as conn:
            row = conn.execute("SELECT doc FROM users WHERE user_id = %s", (user_id,)).fetchone()
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
        with self._tx() as conn:
            row = conn.execute(
                "SELECT doc FROM users WHERE user_id = %s FOR UPDATE", (user.user_id,)
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
        with self._tx() as conn:
            row = conn.execute(
                "SELECT doc FROM users WHERE user_id = %s FOR UPDATE", (user_id,)
            ).fetchone()
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
        with self._tx() as conn:
            conn.execute("DELETE FROM users WHERE user_id = %s", (user_id,))

    def list_user_ids(self) -> list[str]:
        return [r[0] for r in self._read("SELECT user_id FROM users ORDER BY seq")]

    # --- tasks ---------------------------------------------------------------
    def get_task(self, task_id: str) -> Task | None:
        """One indexed read, outside any transaction (a status poll's whole cost here)."""
        if not is_uuid(task_id):
            return None
        rows = self._read("SELECT task_id, doc FROM tasks WHERE task_id = %s", (task_id,))
        tasks = self._tasks_from_rows(rows)
        return tasks[0] if tasks else None

    def create_task(self, task: Task, limits: TaskLimits | None = None) -> Task:
        """Store the task; its user must exist (NotFound otherwise, and nothing is stored)."""
        if not is_uuid(task.task_id):
            raise NotFound("Task not found")
        check_new_task(task)
        if not is_uuid(task.user_id):
            raise NotFound("User not found")
        with self._tx() as conn:
            # the user's row lock serialises this visitor's concurrent creations,
            # so the count below cannot be passed by two of them at once
            lock = "FOR UPDATE" if limits is not None else "FOR KEY SHARE"
            if conn.execute(
                f"SELECT 1 FROM users WHERE user_id = %s {lock}", (task.user_id,)
            ).fetchone() is None:
                raise NotFound("User not found")
            if limits is not None:
                states = self._user_states(conn, task.user_id)
                if task.task_id not in states:
                    check_task_limits(states, limits)
            self._put_task(conn, task)
        return task

    def update_task(self, task_id: str, mutate: TaskMutation) -> Task:
        with self._tx() as conn:
            task = self._load_task(conn, task_id)
            before = task.status
            old_beat = _beat(task)
            mutate(task)
            check_update(before, task)
            task.task_id = task_id
            task.updated_at = utcnow()
            self._put_task(conn, task, beat=_beat(task) != old_beat)
            if before is TaskStatus.PROCESSING and task.status is not before:
                self._notify(conn)  # a place is free: idle dispatchers may claim
            return task

    def delete_task(self, task_id: str) -> None:
        if not is_uuid(task_id):
            raise NotFound("Task not found")
        with self._tx() as conn:
            row = conn.execute(
                "DELETE FROM tasks WHERE task_id = %s RETURNING status", (task_id,)
            ).fetchone()
            if row is None:
                raise NotFound("Task not found")
            if row[0] == PROCESSING:
                self._notify(conn)

    def query_user_tasks(self, user_id: str, query: TaskQuery | None = None) -> TaskPage:
        query = query or TaskQuery()
        if not is_uuid(user_id):
            return TaskPage([], 0, query.offset, query.limit)
        with self._tx() as conn:
            known = conn.execute("SELECT 1 FROM users WHERE user_id = %s", (user_id,)).fetchone()
            rows = conn.execute(
                "SELECT task_id, doc FROM tasks WHERE user_id = %s ORDER BY seq", (user_id,)
            ).fetchall()
        if known is None:
            return TaskPage([], 0, query.offset, query.limit)
        tasks = [t for t in self._tasks_from_rows(rows) if t.user_id == user_id]
        return apply_query(tasks, query)

    def all_task_ids(self) -> list[str]:
        return [r[0] for r in self._read("SELECT task_id FROM tasks ORDER BY seq")]

    def user_task_states(self, user_id: str) -> dict[str, str]:
        if not is_uuid(user_id):
            return {}
        with self._conn() as conn:
            return self._user_states(conn, user_id)

    def tasks_by_status(self, *statuses: TaskStatus) -> list[Task]:
        if statuses:
            values = list(dict.fromkeys(TaskStatus(s).value for s in statuses))
            rows = self._read(
                "SELECT task_id, doc FROM tasks WHERE status = ANY(%s) ORDER BY seq", (values,)
            )
        else:
            rows = self._read("SELECT task_id, doc FROM tasks ORDER BY seq")
        wanted = set(statuses)
        return [t for t in self._tasks_from_rows(rows) if not wanted or t.status in wanted]

    def heartbeat_ages(self) -> dict[str, float]:
        """Seconds since each running task's heartbeat last changed, on the database's clock."""
        rows = self._read(
            "SELECT task_id, extract(epoch FROM now() - heartbeat_at) FROM tasks"
            " WHERE status = %s AND heartbeat_at IS NOT NULL",
            (PROCESSING,),
        )
        return {task_id: float(age) for task_id, age in rows}

    def task_counts(self) -> dict[tuple[str, str], int]:
        rows = self._read(
            "SELECT status, doc->>'task_type', count(*) FROM tasks GROUP BY 1, 2"
        )
        return {(status, task_type or ""): int(n) for status, task_type, n in rows}

    def database_state(self) -> dict[str, object]:
        """What ``/healthz`` shows: reachable, schema version, pool use."""
        started = time.monotonic()
        with self._conn() as conn:
            version = pgmigrate.applied_version(conn)
        state: dict[str, object] = {
            "database": "ok",
            "schema_version": version,
            "latency_ms": round((time.monotonic() - started) * 1000, 1),
        }
        pool = self._pool_obj
        if pool is not None:
            stats = pool.get_stats()
            state["pool"] = {
                "size": stats.get("pool_size", 0),
                "available": stats.get("pool_available", 0),
                "max": pool.max_size,
            }
        return state

    # --- queue ---------------------------------------------------------------
    @staticmethod
    def _snapshot(conn: psycopg.Connection) -> QueueSnapshot:
        columns = "SELECT task_id, user_id, priority, queued_at FROM tasks WHERE status = %s"
        queued = conn.execute(
            f"{columns} ORDER BY priority DESC, queued_at, seq", (QUEUED,)
        ).fetchall()
        processing = conn.execute(f"{columns} ORDER BY seq", (PROCESSING,)).fetchall()
        active = {row[1] for row in queued} | {row[1] for row in processing}
        turns = {
            user_id: served
            for user_id, served in conn.execute("SELECT user_id, served_at FROM queue_turns")
            if user_id in active
        }
        return QueueSnapshot(
            queued=fair_order([QueueEntry(*row) for row in queued], turns),
            processing=[QueueEntry(*row) for row in processing],
            turns=turns,
        )

    def queue_snapshot(self) -> QueueSnapshot:
        with self._tx() as conn:
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            return self._snapshot(conn)

    def enqueue(
        self,
        task_ids: list[str],
        limits: QueueLimits | None,
        mutate: TaskMutation | None = None,
    ) -> list[Task]:
        with self._tx() as conn:
            if limits is not None:
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (ENQUEUE_LOCK,))
            loaded = [self._load_task(conn, task_id) for task_id in task_ids]
            tasks = prepare_enqueue(loaded, limits, mutate)
            if limits is not None:
                check_waiting_limits(self._waiting(conn), tasks, limits)
            for task in tasks:
                self._put_task(conn, task)
            self._notify(conn)
            return tasks

    @staticmethod
    def _waiting(conn: psycopg.Connection) -> QueueSnapshot:
        """The waiting tasks (unordered: the bounds only count them)."""
        rows = conn.execute(
            "SELECT task_id, user_id, priority, queued_at FROM tasks WHERE status = %s", (QUEUED,)
        ).fetchall()
        return QueueSnapshot(queued=[QueueEntry(*row) for row in rows])

    def claim_next(self, limits: QueueLimits, worker: dict) -> Task | None:
        """One call of ``mediacraft_claim`` (see ``migrations/0002_claim_function.sql``)."""
        if limits.max_per_user <= 0 or limits.max_total <= 0:
            return None
        with self._tx() as conn:
            for _ in range(3):  # a damaged document is moved aside; the next task is taken
                row = conn.execute(
                    "SELECT claimed_id, claimed_doc FROM mediacraft_claim(%s, %s, %s, %s)",
                    (limits.max_per_user, limits.max_total, Jsonb(worker), utcnow()),
                ).fetchone()
                if row is None:
                    return None
                try:
                    return self._decode_task(row[0], row[1])
                except _Damaged:
                    continue
            return None

    def reconcile_queue(self) -> None:
        """Forget the turns of visitors with nothing waiting or running.

        Nothing else to repair: the queue is the ``status`` column of the
        records themselves. (Claims leave this to the dispatchers' periodic
        call, so a claim does not scan the turns.)
        """
        with self._tx() as conn:
            conn.execute(
                "DELETE FROM queue_turns q WHERE NOT EXISTS (SELECT 1 FROM tasks t"
                " WHERE t.user_id = q.user_id AND t.status IN (%s, %s))",
                (QUEUED, PROCESSING),
            )


def _beat(task: Task) -> tuple[object, object]:
    worker = task.worker or {}
    return (worker.get("run"), worker.get("beat"))


__all__ = ["DatabaseUnavailable", "PostgresStorage", "describe"]
