"""``SQLiteStorage`` beyond the shared contract: the configuration switch, damaged
rows, nested calls from a ``mutate`` callback, reconnecting after close and fork."""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from mediacraft import create_app
from mediacraft.model import Task, TaskStatus, User, new_id
from mediacraft.storage.sqlite import SQLiteStorage

from .conftest import TEST_PLUGINS


@pytest.fixture
def storage(tmp_path: Path):
    store = SQLiteStorage(tmp_path / "mediacraft.sqlite3")
    yield store
    store.close()


def _make_task(storage: SQLiteStorage, **values) -> Task:
    user_id = new_id()
    storage.create_user(User(user_id=user_id))
    return storage.create_task(Task.new(user_id, "test_sleep", **values))


def _rows(db: Path, sql: str, params: tuple = ()) -> list[tuple]:
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute(sql, params).fetchall()


def test_configuration_selects_sqlite(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    app = create_app(
        {
            "data_dir": data_dir,
            "storage": "sqlite",
            "run_queue": False,
            "secret_key": "x" * 40,
            "plugins": TEST_PLUGINS,
        }
    )
    storage = app.extensions["mediacraft"].storage
    try:
        assert isinstance(storage, SQLiteStorage)
        response = app.test_client().post("/api/tasks/create", json={"task_type": "test_sleep"})
        assert response.status_code in (200, 201), response.json
        task_id = response.json["data"]["task_id"]
        db = data_dir / "mediacraft.sqlite3"
        rows = _rows(db, "SELECT user_id, status, doc FROM tasks WHERE task_id = ?", (task_id,))
        assert len(rows) == 1
        user_id, status, doc = rows[0]
        assert status == "queued" and json.loads(doc)["task_id"] == task_id  # no upload needed
        assert storage.queue_snapshot().position(task_id) == 1
        assert _rows(db, "SELECT 1 FROM users WHERE user_id = ?", (user_id,))
        assert not list((data_dir / "tasks").glob("*.json"))
        assert storage.get_task(task_id).user_id == user_id
    finally:
        storage.close()


def test_damaged_row_is_moved_aside_and_listing_goes_on(storage: SQLiteStorage) -> None:
    good = _make_task(storage, name="good")
    bad = storage.create_task(Task.new(good.user_id, "test_sleep", name="bad"))
    with closing(sqlite3.connect(storage.path)) as conn, conn:
        conn.execute("UPDATE tasks SET doc = ? WHERE task_id = ?", ('{"stat', bad.task_id))
    page = storage.query_user_tasks(good.user_id)
    assert [t.name for t in page.tasks] == ["good"]
    assert storage.get_task(bad.task_id) is None
    assert bad.task_id not in storage.all_task_ids()
    moved = _rows(storage.path, "SELECT kind, record_id, doc FROM damaged")
    assert moved == [("task", bad.task_id, '{"stat')]  # kept, not reset


def test_mutate_may_read_the_storage(storage: SQLiteStorage) -> None:
    """A callback runs inside the transaction: reads through the same connection work."""
    task = _make_task(storage)

    def mutate(t: Task) -> None:
        t.metadata["seen"] = storage.get_task(t.task_id).progress
        t.progress = 5.0

    storage.update_task(task.task_id, mutate)
    assert storage.get_task(task.task_id).metadata == {"seen": 0.0}


def test_close_then_reuse_reconnects(storage: SQLiteStorage) -> None:
    task = _make_task(storage)
    storage.close()
    assert storage.get_task(task.task_id) == task


def _bump_in_child(storage: SQLiteStorage, task_id: str) -> None:
    storage.update_task(task_id, lambda t: t.metadata.update(child=os.getpid()))
    storage.close()


@pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(), reason="needs the fork start method"
)
def test_forked_child_opens_its_own_connection(storage: SQLiteStorage) -> None:
    task = _make_task(storage)
    storage.update_task(task.task_id, lambda t: setattr(t, "progress", 1.0))  # parent connected
    child = multiprocessing.get_context("fork").Process(
        target=_bump_in_child, args=(storage, task.task_id)
    )
    child.start()
    child.join(60)
    assert child.exitcode == 0
    assert storage.get_task(task.task_id).metadata["child"] == child.pid
    storage.update_task(task.task_id, lambda t: setattr(t, "progress", 2.0))  # parent still fine
    assert storage.get_task(task.task_id).status is TaskStatus.CREATED
