"""Contract tests of ``StorageInterface``, run against every implementation.

Each test takes the ``storage`` fixture, parametrised over the
implementations; a new implementation joins by adding itself to ``IMPLEMENTATIONS``.
The damage and torn-write tests concern the JSON files and run on FileStorage
alone (the databases have their own in test_storage_sqlite/postgres.py).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mediacraft.exceptions import InvalidTransition, NotFound, QueueFull, StorageError, TooManyTasks
from mediacraft.model import Task, TaskStatus, User, new_id
from mediacraft.storage import FileStorage, QueueLimits, StorageInterface, TaskLimits, TaskQuery


def _file_storage(root: Path) -> StorageInterface:
    return FileStorage(root)


def _sqlite_storage(root: Path) -> StorageInterface:
    from mediacraft.storage.sqlite import SQLiteStorage

    return SQLiteStorage(root / "mediacraft.sqlite3")


def _postgres_storage(root: Path) -> StorageInterface:
    """A database of its own per test directory (children of the test find the same one)."""
    from mediacraft.storage.postgres import PostgresStorage
    from tests.support.postgres import database_for

    return PostgresStorage(database_for(root), pool_max=4)


IMPLEMENTATIONS = {"file": _file_storage, "sqlite": _sqlite_storage, "postgres": _postgres_storage}

LIMITS = QueueLimits(max_per_user=1, max_total=5, max_queued_per_user=20, max_queued_total=500)


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def kind(request) -> str:
    if request.param == "postgres":
        request.getfixturevalue("postgres_server")  # a throwaway cluster for the session
    return request.param


@pytest.fixture
def storage(kind: str, tmp_path: Path):
    store = IMPLEMENTATIONS[kind](tmp_path)
    yield store
    store.close()


def make_user(storage: StorageInterface) -> str:
    user_id = new_id()
    storage.create_user(User(user_id=user_id))
    return user_id


def make_task(storage: StorageInterface, user_id: str, **values) -> Task:
    task = Task.new(user_id, "test_sleep", **values)
    return storage.create_task(task)


def test_user_round_trip(storage: StorageInterface) -> None:
    user_id = make_user(storage)
    user = storage.get_user(user_id)
    assert user is not None and user.user_id == user_id and user.tasks == []
    storage.update_user(user_id, lambda u: u.metadata.update(plan="free"))
    assert storage.get_user(user_id).metadata == {"plan": "free"}
    assert user_id in storage.list_user_ids()
    storage.delete_user(user_id)
    assert storage.get_user(user_id) is None
    assert storage.get_user("not-a-uuid") is None


def test_task_round_trip_and_user_index(storage: StorageInterface) -> None:
    user_id = make_user(storage)
    task = make_task(storage, user_id, name="clip", options={"a": 1})
    loaded = storage.get_task(task.task_id)
    assert loaded == task
    assert storage.get_user(user_id).tasks == [task.task_id]
    storage.delete_task(task.task_id)
    assert storage.get_task(task.task_id) is None
    assert storage.get_user(user_id).tasks == []
    with pytest.raises(NotFound):
        storage.delete_task(task.task_id)


def test_a_new_task_cannot_start_in_the_queue(storage: StorageInterface) -> None:
    user_id = make_user(storage)
    for status in (TaskStatus.QUEUED, TaskStatus.PROCESSING):
        task = Task.new(user_id, "test_sleep", status=status)
        with pytest.raises(StorageError, match="use enqueue"):
            storage.create_task(task)
        assert storage.get_task(task.task_id) is None
    assert storage.user_task_states(user_id) == {}
    assert storage.queue_snapshot().queued == []


def test_update_task_is_read_modify_write_and_can_abort(storage: StorageInterface) -> None:
    user_id = make_user(storage)
    task = make_task(storage, user_id)
    storage.update_task(task.task_id, lambda t: setattr(t, "progress", 42.0))
    assert storage.get_task(task.task_id).progress == 42.0

    def refuse(t: Task) -> None:
        t.progress = 99.0
        raise InvalidTransition("no")

    with pytest.raises(InvalidTransition):
        storage.update_task(task.task_id, refuse)
    assert storage.get_task(task.task_id).progress == 42.0
    with pytest.raises(StorageError):  # only enqueue/claim may activate a task
        storage.update_task(task.task_id, lambda t: t.transition(TaskStatus.QUEUED))
    with pytest.raises(NotFound):
        storage.update_task(new_id(), lambda t: None)


def test_query_filters_search_sort_and_pages(storage: StorageInterface) -> None:
    user_id = make_user(storage)
    other = make_user(storage)
    names = ["alpha video", "beta clip", "gamma video", "delta", "epsilon video"]
    created = [make_task(storage, user_id, name=n) for n in names]
    make_task(storage, other, name="alpha video of someone else")
    storage.update_task(created[1].task_id, lambda t: t.transition(TaskStatus.CANCELLED))

    page = storage.query_user_tasks(user_id, TaskQuery(limit=2))
    assert page.total == 5 and len(page.tasks) == 2
    assert [t.name for t in page.tasks] == ["epsilon video", "delta"]  # newest first
    page2 = storage.query_user_tasks(user_id, TaskQuery(limit=2, offset=4))
    assert [t.name for t in page2.tasks] == ["alpha video"]

    videos = storage.query_user_tasks(user_id, TaskQuery(search="VIDEO", sort="name"))
    assert [t.name for t in videos.tasks] == ["alpha video", "epsilon video", "gamma video"]
    cancelled = storage.query_user_tasks(user_id, TaskQuery(status=("cancelled",)))
    assert [t.name for t in cancelled.tasks] == ["beta clip"]
    assert storage.query_user_tasks(user_id, TaskQuery(task_type="other")).total == 0


def test_enqueue_claim_respects_limits_and_priority(storage: StorageInterface) -> None:
    alice, bob = make_user(storage), make_user(storage)
    a1 = make_task(storage, alice)
    a2 = make_task(storage, alice, priority=5)
    b1 = make_task(storage, bob)
    for task in (a1, a2, b1):
        storage.enqueue([task.task_id], LIMITS)
    snapshot = storage.queue_snapshot()
    assert [e.task_id for e in snapshot.queued] == [a2.task_id, a1.task_id, b1.task_id]
    assert snapshot.position(b1.task_id) == 3

    worker = {"id": "w1", "pid": os.getpid(), "host": "h"}
    first = storage.claim_next(LIMITS, worker)
    assert first.task_id == a2.task_id and first.status is TaskStatus.PROCESSING
    assert first.attempts == 1 and first.worker["id"] == "w1"
    second = storage.claim_next(LIMITS, worker)  # alice is at her limit: bob's turn
    assert second.task_id == b1.task_id
    assert storage.claim_next(LIMITS, worker) is None
    storage.update_task(a2.task_id, lambda t: t.transition(TaskStatus.COMPLETED))
    third = storage.claim_next(LIMITS, worker)
    assert third.task_id == a1.task_id
    assert storage.tasks_by_status(TaskStatus.PROCESSING)[0].task_id in {a1.task_id, b1.task_id}


def test_total_limit_and_waiting_bounds(storage: StorageInterface) -> None:
    limits = QueueLimits(max_per_user=5, max_total=2, max_queued_per_user=3, max_queued_total=4)
    users = [make_user(storage) for _ in range(3)]
    tasks = [make_task(storage, users[0]) for _ in range(3)]
    storage.enqueue([t.task_id for t in tasks], limits)
    extra = make_task(storage, users[0])
    with pytest.raises(QueueFull) as per_user:
        storage.enqueue([extra.task_id], limits)
    assert per_user.value.status == 429
    assert storage.get_task(extra.task_id).status is TaskStatus.CREATED  # nothing half-done
    storage.enqueue([make_task(storage, users[1]).task_id], limits)
    with pytest.raises(QueueFull) as total:
        storage.enqueue([make_task(storage, users[2]).task_id], limits)
    assert total.value.status == 503
    worker = {"id": "w", "pid": 1, "host": "h"}
    assert storage.claim_next(limits, worker) and storage.claim_next(limits, worker)
    assert storage.claim_next(limits, worker) is None  # max_total = 2 processing


def test_batch_enqueue_is_all_or_nothing(storage: StorageInterface) -> None:
    limits = QueueLimits(max_per_user=1, max_total=5, max_queued_per_user=3, max_queued_total=500)
    user_id = make_user(storage)
    batch = [make_task(storage, user_id) for _ in range(4)]
    with pytest.raises(QueueFull):
        storage.enqueue([t.task_id for t in batch], limits)
    assert all(storage.get_task(t.task_id).status is TaskStatus.CREATED for t in batch)
    assert storage.queue_snapshot().queued == []


def test_cancel_removes_from_queue(storage: StorageInterface) -> None:
    user_id = make_user(storage)
    task = make_task(storage, user_id)
    storage.enqueue([task.task_id], LIMITS)
    storage.update_task(task.task_id, lambda t: t.transition(TaskStatus.CANCELLED))
    assert storage.queue_snapshot().queued == []
    assert storage.claim_next(LIMITS, {"id": "w", "pid": 1, "host": "h"}) is None


def test_damaged_record_is_moved_aside_and_listing_goes_on(tmp_path: Path) -> None:
    """JSON-file storage only: the damage is done to its files."""
    storage = FileStorage(tmp_path)
    user_id = make_user(storage)
    good = make_task(storage, user_id, name="good")
    bad = make_task(storage, user_id, name="bad")
    path = tmp_path / "tasks" / f"{bad.task_id}.json"
    path.write_bytes(b'{"task_id": "' + bad.task_id.encode() + b'", "stat')
    page = storage.query_user_tasks(user_id)
    assert [t.name for t in page.tasks] == ["good"]
    assert not path.exists()
    moved = list((tmp_path / "damaged").iterdir())
    assert len(moved) == 1 and moved[0].read_bytes().endswith(b'"stat')  # kept, not reset
    assert storage.get_task(good.task_id).name == "good"


def _hammer(kind: str, root: str, task_id: str, rounds: int) -> None:
    store = IMPLEMENTATIONS[kind](Path(root))

    def bump(task: Task) -> None:
        task.metadata["count"] = task.metadata.get("count", 0) + 1
        task.metadata.setdefault("pids", [])
        if os.getpid() not in task.metadata["pids"]:
            task.metadata["pids"].append(os.getpid())

    import threading

    threads = [
        threading.Thread(target=lambda: [store.update_task(task_id, bump) for _ in range(rounds)])
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    store.close()


def test_no_lost_update_across_processes_and_threads(kind: str, tmp_path: Path) -> None:
    storage = IMPLEMENTATIONS[kind](tmp_path)
    task = make_task(storage, make_user(storage))
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=_hammer, args=(kind, str(tmp_path), task.task_id, 25)) for _ in range(4)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
        assert proc.exitcode == 0
    final = storage.get_task(task.task_id)
    assert final.metadata["count"] == 4 * 3 * 25
    assert len(final.metadata["pids"]) == 4
    if kind == "file":
        for record in (tmp_path / "tasks").glob("*.json"):
            json.loads(record.read_text())
    storage.close()


WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from mediacraft.storage.files import FileStorage
    store = FileStorage(Path(sys.argv[1]))
    task_id = sys.argv[2]
    big = "x" * 200_000
    n = 0
    print("ready", flush=True)
    while True:
        n += 1
        store.update_task(task_id, lambda t: t.metadata.update(n=n, blob=big + str(n)))
    """
)


def test_kill_mid_write_leaves_old_or_new_record(tmp_path: Path) -> None:
    """JSON-file storage only: the damage is done to its files."""
    storage = FileStorage(tmp_path)
    task = make_task(storage, make_user(storage))
    for _ in range(5):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path), task.task_id],
            stdout=subprocess.PIPE,
            cwd=Path(__file__).resolve().parent.parent,
        )
        assert proc.stdout.readline().strip() == b"ready"
        import time

        time.sleep(0.3)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        record = json.loads((tmp_path / "tasks" / f"{task.task_id}.json").read_text())
        blob = record["metadata"].get("blob")
        assert blob is None or blob == "x" * 200_000 + str(record["metadata"]["n"])
    FileStorage(tmp_path, sweep_older_than=0)  # a new start sweeps killed writers' temp files
    assert not list((tmp_path / "tasks").glob(".*.tmp"))


def test_task_of_unknown_user_is_refused_without_leftovers(storage: StorageInterface) -> None:
    orphan = Task.new(new_id(), "test_sleep")
    with pytest.raises(NotFound):
        storage.create_task(orphan)
    assert storage.get_task(orphan.task_id) is None


def test_record_that_is_json_but_no_task_does_not_stop_the_queue(tmp_path: Path) -> None:
    """JSON-file storage only: the damage is done to its files."""
    storage = FileStorage(tmp_path)
    user_id = make_user(storage)
    broken, fine = make_task(storage, user_id), make_task(storage, make_user(storage))
    storage.enqueue([broken.task_id, fine.task_id], LIMITS)
    path = tmp_path / "tasks" / f"{broken.task_id}.json"
    record = json.loads(path.read_text())
    record["status"] = "exploded"
    path.write_text(json.dumps(record))
    claimed = storage.claim_next(LIMITS, {"id": "w", "pid": 1, "host": "h"})
    assert claimed is not None and claimed.task_id == fine.task_id
    assert not path.exists() and list((tmp_path / "damaged").iterdir())
    with pytest.raises(NotFound):
        storage.update_task(broken.task_id, lambda t: None)


def test_visitors_take_turns_within_a_priority(storage: StorageInterface) -> None:
    """One visitor's long batch does not starve another visitor's single task."""
    limits = QueueLimits(max_per_user=3, max_total=3, max_queued_per_user=50, max_queued_total=500)
    batcher, single, late = make_user(storage), make_user(storage), make_user(storage)
    batch = [make_task(storage, batcher) for _ in range(12)]
    storage.enqueue([t.task_id for t in batch], limits)
    lone = make_task(storage, single)
    storage.enqueue([lone.task_id], limits)
    worker = {"id": "w", "pid": 1, "host": "h"}

    first = [storage.claim_next(limits, worker) for _ in range(2)]
    assert [t.user_id for t in first] == [batcher, single]  # the single task's turn comes 2nd
    storage.enqueue([make_task(storage, late).task_id], limits)
    lowered = make_task(storage, late, priority=-1)  # a visitor lowering their own task
    storage.enqueue([lowered.task_id], limits)
    snapshot = storage.queue_snapshot()
    assert snapshot.queued[0].user_id == late  # never served: before the batcher's next
    assert snapshot.queued[-1].task_id == lowered.task_id  # lower priority waits for all
    assert snapshot.position(lowered.task_id) == len(snapshot.queued)

    third = storage.claim_next(limits, worker)
    assert third.user_id == late
    for task in (*first, third):
        storage.update_task(task.task_id, lambda t: t.transition(TaskStatus.COMPLETED))
    rest = []
    while (task := storage.claim_next(limits, worker)) is not None:
        rest.append(task)
        storage.update_task(task.task_id, lambda t: t.transition(TaskStatus.COMPLETED))
    assert [t.task_id for t in rest[:-1]] == [t.task_id for t in batch[1:]]  # oldest first
    assert rest[-1].task_id == lowered.task_id


def test_task_limits_are_checked_when_a_task_is_created(storage: StorageInterface) -> None:
    limits = TaskLimits(max_unfinished_per_user=2, max_stored_per_user=3)
    user_id = make_user(storage)
    first = storage.create_task(Task.new(user_id, "test_sleep"), limits)
    storage.create_task(Task.new(user_id, "test_sleep"), limits)
    refused = Task.new(user_id, "test_sleep")
    with pytest.raises(TooManyTasks) as unfinished:
        storage.create_task(refused, limits)
    assert unfinished.value.status == 429 and "unfinished" in unfinished.value.message
    assert storage.get_task(refused.task_id) is None
    storage.update_task(first.task_id, lambda t: t.transition(TaskStatus.CANCELLED))
    storage.create_task(Task.new(user_id, "test_sleep"), limits)  # an ended task frees a place
    with pytest.raises(TooManyTasks) as stored:
        storage.create_task(Task.new(user_id, "test_sleep"), limits)
    assert "delete old tasks" in stored.value.message
    assert len(storage.user_task_states(user_id)) == 3


def test_user_task_states_follow_every_transition(storage: StorageInterface) -> None:
    user_id = make_user(storage)
    a, b = make_task(storage, user_id), make_task(storage, user_id)
    assert storage.user_task_states(user_id) == {a.task_id: "created", b.task_id: "created"}
    storage.enqueue([a.task_id, b.task_id], LIMITS)
    claimed = storage.claim_next(LIMITS, {"id": "w", "pid": 1, "host": "h"})
    storage.update_task(claimed.task_id, lambda t: t.transition(TaskStatus.FAILED))
    other = b if claimed.task_id == a.task_id else a
    assert storage.user_task_states(user_id) == {claimed.task_id: "failed", other.task_id: "queued"}
    storage.delete_task(claimed.task_id)
    assert storage.user_task_states(user_id) == {other.task_id: "queued"}
    assert storage.get_user(user_id).task_states == {other.task_id: "queued"}
    assert storage.user_task_states(new_id()) == {}


def _lose_index(kind: str, storage: StorageInterface, root: Path) -> None:
    """Damage whatever the implementation keeps as its queue index."""
    if kind == "file":
        (root / "index" / "queue.json").write_bytes(b'{"queued": [{"task_id": ')
    elif kind == "postgres":
        import psycopg

        from tests.support.postgres import database_for

        with psycopg.connect(database_for(root), autocommit=True) as conn:
            conn.execute("DROP INDEX tasks_queue")
            conn.execute("DELETE FROM queue_turns")
    else:
        import sqlite3
        from contextlib import closing

        with closing(sqlite3.connect(root / "mediacraft.sqlite3")) as conn, conn:
            conn.execute("DROP INDEX tasks_queue")
            conn.execute("DELETE FROM queue_turns")


def test_a_lost_queue_index_loses_no_task(
    kind: str, storage: StorageInterface, tmp_path: Path
) -> None:
    user_id, other = make_user(storage), make_user(storage)
    waiting = [make_task(storage, user_id), make_task(storage, other)]
    running = make_task(storage, other, name="running")
    storage.enqueue([running.task_id], LIMITS)
    assert storage.claim_next(LIMITS, {"id": "w", "pid": 1, "host": "h"}).task_id == running.task_id
    storage.enqueue([t.task_id for t in waiting], LIMITS)
    _lose_index(kind, storage, tmp_path)

    snapshot = storage.queue_snapshot()  # rebuilt from the records, not read as empty
    assert {e.task_id for e in snapshot.queued} == {t.task_id for t in waiting}
    assert [e.task_id for e in snapshot.processing] == [running.task_id]
    worker = {"id": "w2", "pid": 1, "host": "h"}
    assert storage.claim_next(LIMITS, worker).task_id == waiting[0].task_id
    assert storage.claim_next(LIMITS, worker) is None  # the other visitor is at their limit
    storage.rebuild_queue_index()  # an explicit rebuild keeps the same truth
    assert [e.task_id for e in storage.queue_snapshot().queued] == [waiting[1].task_id]
