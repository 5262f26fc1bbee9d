"""What PostgreSQL storage adds to the contract: migrations, bad databases, claims
across processes, notifications, the database clock, outages."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import threading
from pathlib import Path

import psycopg
import pytest

from mediacraft.exceptions import StorageError
from mediacraft.model import Task, TaskStatus, User, new_id
from mediacraft.storage import QueueLimits, pgmigrate
from mediacraft.storage.postgres import DatabaseUnavailable, PostgresStorage
from tests.support.postgres import database_for
from tests.support.server import ROOT, free_port
from tests.support.waiting import wait_for

pytestmark = pytest.mark.usefixtures("postgres_server")

WORKER = {"id": "w", "pid": 1, "host": "elsewhere"}


def _env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIACRAFT_")}
    env.update(values)
    env["MEDIACRAFT_TEST_POSTGRES"] = os.environ["MEDIACRAFT_TEST_POSTGRES"]
    return env


def _start(dsn: str) -> None:
    PostgresStorage(dsn).close()


def test_processes_starting_at_once_migrate_exactly_once(tmp_path: Path) -> None:
    dsn = database_for(tmp_path)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_start, args=(dsn,)) for _ in range(4)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    assert [r[0] for r in rows] == list(range(1, pgmigrate.latest_version() + 1))


def test_a_schema_newer_than_the_code_refuses_to_start(tmp_path: Path) -> None:
    dsn = database_for(tmp_path)
    _start(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO schema_migrations (version, name) VALUES (999, 'future')")
    with pytest.raises(pgmigrate.SchemaTooNew, match="version 999"):
        PostgresStorage(dsn)
    result = subprocess.run(
        [sys.executable, "-m", "mediacraft.cli", "worker"],
        env=_env(MEDIACRAFT_STORAGE=dsn, MEDIACRAFT_DATA_DIR=str(tmp_path / "data")),
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 3
    assert "version 999" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_an_unreachable_database_stops_the_start_with_one_line(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    url = f"postgresql://mediacraft:secret@127.0.0.1:{port}/mediacraft"
    for command in (["app.py"], ["-m", "mediacraft.cli", "worker"]):
        result = subprocess.run(
            [sys.executable, *command],
            env=_env(MEDIACRAFT_DATABASE_URL=url, MEDIACRAFT_DATA_DIR=str(tmp_path / "data")),
            cwd=ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 3, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert f"127.0.0.1:{port}" in lines[0] and "Traceback" not in result.stderr
        assert "secret" not in lines[0]  # the password is not printed


def test_migrate_command_when_start_up_migration_is_off(tmp_path: Path) -> None:
    dsn = database_for(tmp_path)
    with pytest.raises(pgmigrate.SchemaOutdated, match="mediacraft migrate"):
        PostgresStorage(dsn, migrate=False)
    env = _env(MEDIACRAFT_STORAGE=dsn, MEDIACRAFT_DATA_DIR=str(tmp_path / "data"))
    command = [sys.executable, "-m", "mediacraft.cli", "migrate"]
    first = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0 and "applied 1" in first.stdout, first.stderr
    again = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "up to date" in again.stdout
    PostgresStorage(dsn, migrate=False).close()  # now it starts


def _claimer(dsn: str, ready, out: multiprocessing.Queue) -> None:
    import time

    store = PostgresStorage(dsn, pool_max=8)
    store.list_user_ids()  # connected before the race starts
    ready.wait(60)  # every process starts claiming at once
    limits = QueueLimits(max_per_user=1, max_total=3, max_queued_per_user=500,
                         max_queued_total=5000)  # fmt: skip
    claimed: list[str] = []

    def loop() -> None:
        idle = 0
        while idle < 20:
            task = store.claim_next(limits, dict(WORKER, pid=os.getpid()))
            if task is None:
                idle += 1
                time.sleep(0.02)
                continue
            idle = 0
            claimed.append(task.task_id)
            time.sleep(0.01)
            store.update_task(task.task_id, lambda t: t.transition(TaskStatus.COMPLETED))

    threads = [threading.Thread(target=loop) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.put(claimed)
    store.close()


def test_claims_from_many_processes_keep_the_limits(tmp_path: Path) -> None:
    dsn = database_for(tmp_path)
    store = PostgresStorage(dsn)
    users = [new_id() for _ in range(6)]
    tasks = []
    for user_id in users:
        store.create_user(User(user_id=user_id))
        for _ in range(10):
            tasks.append(store.create_task(Task.new(user_id, "test_sleep")).task_id)
    store.enqueue(tasks, None)
    peaks = {"total": 0, "user": 0, "samples": 0}
    stop = threading.Event()

    def sample() -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            while not stop.is_set():
                rows = conn.execute(
                    "SELECT user_id, count(*) FROM tasks WHERE status = 'processing'"
                    " GROUP BY user_id"
                ).fetchall()
                peaks["total"] = max(peaks["total"], sum(n for _, n in rows))
                peaks["user"] = max([peaks["user"], *(n for _, n in rows)])
                peaks["samples"] += 1

    sampler = threading.Thread(target=sample)
    sampler.start()
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    ready = ctx.Barrier(4)
    procs = [ctx.Process(target=_claimer, args=(dsn, ready, out)) for _ in range(4)]
    for proc in procs:
        proc.start()
    claimed = [out.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(30)
    stop.set()
    sampler.join()
    every = [task_id for part in claimed for task_id in part]
    assert sorted(every) == sorted(tasks)  # each task claimed exactly once
    assert sum(1 for part in claimed if part) >= 2  # more than one process took part
    assert peaks["samples"] > 10
    assert peaks["total"] <= 3 and peaks["user"] <= 1
    assert all(t.attempts == 1 for t in store.tasks_by_status(TaskStatus.COMPLETED))
    store.close()


def test_a_queued_task_wakes_subscribers_of_other_processes(tmp_path: Path) -> None:
    dsn = database_for(tmp_path)
    listener, writer = PostgresStorage(dsn), PostgresStorage(dsn)
    woken = threading.Event()
    assert listener.subscribe(woken.set)
    wait_for(woken.is_set, timeout=10, what="the first wake-up after LISTEN")
    woken.clear()
    user_id = new_id()
    writer.create_user(User(user_id=user_id))
    task = writer.create_task(Task.new(user_id, "test_sleep"))
    assert not woken.is_set()  # creating is not queueing
    writer.enqueue([task.task_id], None)
    assert woken.wait(10)
    woken.clear()
    writer.claim_next(QueueLimits(1, 1, 10, 10), WORKER)
    writer.update_task(task.task_id, lambda t: t.transition(TaskStatus.COMPLETED))
    assert woken.wait(10)  # a place became free
    listener.close()
    writer.close()


def test_heartbeat_ages_follow_the_database_clock(tmp_path: Path) -> None:
    dsn = database_for(tmp_path)
    store = PostgresStorage(dsn)
    user_id = new_id()
    store.create_user(User(user_id=user_id))
    task = store.create_task(Task.new(user_id, "test_sleep"))
    store.enqueue([task.task_id], None)
    store.claim_next(QueueLimits(1, 1, 10, 10), WORKER)
    with psycopg.connect(dsn, autocommit=True) as conn:  # as if the beat was a minute ago
        conn.execute("UPDATE tasks SET heartbeat_at = now() - interval '60 seconds'")
    assert store.heartbeat_ages()[task.task_id] >= 60
    store.update_task(task.task_id, lambda t: t.metadata.update(note="no beat"))
    assert store.heartbeat_ages()[task.task_id] >= 60  # only a new beat counts

    def beat(record: Task) -> None:
        record.worker["beat"] = 1

    store.update_task(task.task_id, beat)
    assert store.heartbeat_ages()[task.task_id] < 60
    store.update_task(task.task_id, lambda t: t.transition(TaskStatus.FAILED))
    assert store.heartbeat_ages() == {}
    store.close()


def test_a_damaged_row_is_moved_aside_and_the_queue_goes_on(tmp_path: Path) -> None:
    dsn = database_for(tmp_path)
    store = PostgresStorage(dsn)
    user_id, other = new_id(), new_id()
    for uid in (user_id, other):
        store.create_user(User(user_id=uid))
    broken = store.create_task(Task.new(user_id, "test_sleep"))
    fine = store.create_task(Task.new(other, "test_sleep"))
    store.enqueue([broken.task_id, fine.task_id], None)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "UPDATE tasks SET doc = doc - 'task_type' || '{\"exploded\": true}' WHERE task_id = %s",
            (broken.task_id,),
        )
    claimed = store.claim_next(QueueLimits(1, 5, 10, 10), WORKER)
    assert claimed is not None and claimed.task_id == fine.task_id
    assert store.get_task(broken.task_id) is None
    with psycopg.connect(dsn) as conn:
        kept = conn.execute("SELECT record_id, doc FROM damaged").fetchall()
    assert [k[0] for k in kept] == [broken.task_id] and '"exploded": true' in kept[0][1]
    assert store.get_task(fine.task_id).status is TaskStatus.PROCESSING
    store.close()


def _block_connections(dsn: str, blocked: bool) -> None:
    name = dsn.rsplit("/", 1)[1]
    admin = os.environ["MEDIACRAFT_TEST_POSTGRES"]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(not blocked).lower()}')
        if blocked:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )


def test_a_database_outage_answers_503_and_loses_no_task(tmp_path: Path) -> None:
    from mediacraft import create_app

    dsn = database_for(tmp_path)
    app = create_app({
        "data_dir": tmp_path / "data", "storage": dsn, "plugins": ("tests.support.sleeper",),
        "secret_key": "test-secret-key-that-is-long-enough-0123456789", "poll_seconds": 0.1,
        "heartbeat_seconds": 0.2, "db_pool_timeout": 2.0,
    })  # fmt: skip
    ext = app.extensions["mediacraft"]
    client = app.test_client()
    try:
        created = client.post(
            "/api/tasks/create", json={"task_type": "test_sleep", "options": {"seconds": 1.5}}
        )
        assert created.status_code == 201, created.get_json()
        task_id = created.get_json()["data"]["task_id"]
        wait_for(lambda: ext.storage.get_task(task_id).status is TaskStatus.PROCESSING,
                 timeout=20, what="the task to start")  # fmt: skip
        _block_connections(dsn, True)
        try:
            answer = client.get(f"/api/tasks/{task_id}/status")
            assert answer.status_code == 503
            message = answer.get_json()["message"]
            assert "database is unavailable" in message and "127.0.0.1" not in message
            health = client.get("/healthz")
            assert health.status_code == 503
            with pytest.raises(DatabaseUnavailable):
                ext.storage.get_task(task_id)
            import time

            time.sleep(2.0)  # the run ends meanwhile and cannot record it
        finally:
            _block_connections(dsn, False)
        def completed() -> bool:
            try:
                return ext.storage.get_task(task_id).status is TaskStatus.COMPLETED
            except DatabaseUnavailable:  # the pool is still reconnecting
                return False

        wait_for(completed, timeout=90, what="the task to complete after the outage")
        assert client.get(f"/api/tasks/{task_id}/status").status_code == 200
        assert client.get("/healthz").get_json()["checks"]["database"] == "ok"
    finally:
        if ext.queue is not None:
            ext.queue.shutdown(timeout=5)
        ext.storage.close()


def test_storage_errors_are_storage_errors() -> None:
    assert issubclass(DatabaseUnavailable, StorageError) and DatabaseUnavailable.status == 503


def test_quota_reservations_lock_in_the_database_not_the_shared_directory(
    tmp_path: Path,
) -> None:
    from mediacraft import quota
    from mediacraft.config import Config
    from mediacraft.exceptions import QuotaExceeded
    from mediacraft.storage.pglocks import advisory_lock

    dsn = database_for(tmp_path)
    config = Config(data_dir=tmp_path / "data", storage=dsn, user_quota_mb=1)
    user_id = new_id()
    first = quota.reserve(config, user_id, 600 * 1024)
    with pytest.raises(QuotaExceeded):
        quota.reserve(config, user_id, 600 * 1024)  # the first one's bytes are held
    first.release()
    quota.reserve(config, user_id, 600 * 1024).release()
    assert not (tmp_path / "data" / "locks").exists()  # no lock file on the shared volume

    held, go = threading.Event(), threading.Event()

    def holder() -> None:
        with advisory_lock(dsn, f"quota:{user_id}"):
            held.set()
            go.wait(30)

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert held.wait(30)
        with pytest.raises(StorageError, match="Timed out"):
            with advisory_lock(dsn, f"quota:{user_id}", timeout=0.2):
                pass
        with advisory_lock(dsn, f"quota:{new_id()}", timeout=5):  # another visitor's is free
            pass
    finally:
        go.set()
        thread.join()
