"""Abuse suite, crashes and takeovers: no window strands a task, no stale run touches a new one."""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

import tests.support.sleeper  # noqa: F401 - registers test_sleep
from mediacraft.config import Config
from mediacraft.liveness import boot_id, pid_namespace, process_start, same_machine
from mediacraft.model import Task, TaskStatus, User, new_id, utcnow
from mediacraft.paths import TaskPaths
from mediacraft.queue import TaskQueue
from mediacraft.storage import FileStorage, queue_limits
from mediacraft.storage import files as file_storage
from tests.support.api import assert_error
from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]


def queued_task(storage: FileStorage, config: Config, seconds: float = 0.1) -> Task:
    user_id = new_id()
    storage.create_user(User(user_id=user_id))
    task = storage.create_task(Task.new(user_id, "test_sleep", options={"seconds": seconds}))
    storage.enqueue([task.task_id], queue_limits(config))
    return task


def run_to_completion(storage: FileStorage, config: Config, task_id: str) -> Task:
    queue = TaskQueue(storage, config)
    queue.start()
    try:
        return wait_for(
            lambda: (t := storage.get_task(task_id)).status is TaskStatus.COMPLETED and t,
            timeout=30,
            what="the task to complete",
        )
    finally:
        queue.shutdown(timeout=5)


CRASHER = textwrap.dedent(
    """
    import os, socket, sys
    from pathlib import Path
    from mediacraft.storage import files
    from mediacraft.storage.base import QueueLimits
    from mediacraft.liveness import this_process

    root, when = Path(sys.argv[1]), sys.argv[2]
    original = files.write_json_atomic

    def crashing(path, data, durable=True):
        if when == "before-record" and path.parent.name == "tasks":
            os._exit(9)  # killed between the index write and the record write
        original(path, data, durable=durable)
        if when == "after-record" and path.parent.name == "tasks":
            os._exit(9)  # killed after the record, before the index is finished

    files.write_json_atomic = crashing
    store = files.FileStorage(root)
    worker = {"id": "crasher", "run": "r1", **this_process()}
    store.claim_next(QueueLimits(1, 5, 20, 500), worker)
    raise SystemExit("the claim finished without crashing")
    """
)


@pytest.mark.parametrize("when", ["before-record", "after-record"])
def test_a_crash_inside_a_claim_leaves_a_task_that_runs_to_completion(
    tmp_path: Path, when: str
) -> None:
    config = Config(data_dir=tmp_path, poll_seconds=0.05)
    storage = FileStorage(tmp_path)
    task = queued_task(storage, config)
    crashed = subprocess.run(
        [sys.executable, "-c", CRASHER, str(tmp_path), when], cwd=ROOT, timeout=60
    )
    assert crashed.returncode == 9
    on_disk = storage.get_task(task.task_id).status
    assert on_disk is (TaskStatus.QUEUED if when == "before-record" else TaskStatus.PROCESSING)
    done = run_to_completion(storage, config, task.task_id)
    assert done.attempts == (1 if when == "before-record" else 2)


def test_a_full_disk_between_the_index_and_the_record_loses_no_task(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = Config(data_dir=tmp_path, poll_seconds=0.05)
    storage = FileStorage(tmp_path)
    task = queued_task(storage, config)
    original = file_storage.write_json_atomic
    failures = []

    def disk_full_once(path: Path, data: object, durable: bool = True) -> None:
        record = path.parent.name == "tasks"
        if record and data.get("status") == "processing" and not failures:  # type: ignore[union-attr]
            failures.append(path)
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        original(path, data, durable=durable)

    monkeypatch.setattr(file_storage, "write_json_atomic", disk_full_once)
    done = run_to_completion(storage, config, task.task_id)
    assert failures and done.attempts == 1
    snapshot = storage.queue_snapshot()
    assert snapshot.queued == [] and snapshot.processing == []


def test_a_damaged_queue_index_is_rebuilt_and_its_tasks_run(tmp_path: Path) -> None:
    config = Config(data_dir=tmp_path, poll_seconds=0.05, max_tasks_per_user=3)
    storage = FileStorage(tmp_path)
    tasks = [queued_task(storage, config) for _ in range(3)]
    (tmp_path / "index" / "queue.json").write_text('{"queued": [{"task_id": "', encoding="utf-8")
    for task in tasks:
        run_to_completion(storage, config, task.task_id)
    assert list((tmp_path / "damaged").iterdir())  # the damaged index was kept, not reset


def test_a_failed_enqueue_write_answers_503_and_leaves_no_task(client, app, monkeypatch) -> None:
    original = file_storage.write_json_atomic

    def disk_full(path: Path, data: object, durable: bool = True) -> None:
        if path.parent.name == "tasks" and data.get("status") == "queued":  # type: ignore[union-attr]
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        original(path, data, durable=durable)

    monkeypatch.setattr(file_storage, "write_json_atomic", disk_full)
    body = {"task_type": "test_sleep", "options": {"seconds": 0}}
    assert_error(client.post("/api/tasks/create", json=body), 503, "the server's disk is full")
    storage = app.extensions["mediacraft"].storage
    assert storage.all_task_ids() == []
    storage.reconcile_queue()
    assert storage.queue_snapshot().queued == []


# --- a run that lost its task touches nothing -------------------------------------------
@pytest.fixture
def fast_beats(app_config: dict) -> dict:
    app_config.update(heartbeat_seconds=0.2)
    return app_config


def _slow_to_stop(client, app, new_seconds: float):
    """A running task cancelled and retried at once, while its old run is still stopping."""
    storage = app.extensions["mediacraft"].storage
    body = {"task_type": "test_sleep", "options": {"seconds": 60, "slow_stop": 1.5}}
    task_id = client.post("/api/tasks/create", json=body).json["data"]["task_id"]
    wait_for(lambda: storage.get_task(task_id).status is TaskStatus.PROCESSING)
    old_run = storage.get_task(task_id).worker["run"]
    assert client.post(f"/api/tasks/{task_id}/cancel").status_code == 200

    def shorter(task: Task) -> None:  # the retried run is the short one
        task.options = dict(task.options, seconds=new_seconds, slow_stop=0)

    storage.update_task(task_id, shorter)
    assert client.post(f"/api/tasks/{task_id}/retry").status_code == 200
    return task_id, old_run


def _old_run_gone(app, old_run: str) -> bool:
    queue = app.extensions["mediacraft"].queue
    with queue._jobs_lock:
        return old_run not in queue._jobs


def test_a_stopping_run_does_not_delete_the_retried_runs_files(client, app) -> None:
    storage = app.extensions["mediacraft"].storage
    task_id, old_run = _slow_to_stop(client, app, new_seconds=0.2)
    done = wait_for(lambda: (t := storage.get_task(task_id)).status is TaskStatus.COMPLETED and t)
    assert done.worker is None and done.error_message is None
    wait_for(lambda: _old_run_gone(app, old_run), what="the cancelled run to stop")
    result = TaskPaths.of(app.extensions["mediacraft"].config.data_dir, done).result_file(done)
    assert result is not None and result.read_text().startswith(f"done {task_id}")
    answer = client.get(f"/api/tasks/{task_id}/download")
    assert answer.status_code == 200
    answer.close()


def test_a_stopping_run_does_not_forget_the_retried_runs_job(fast_beats, client, app) -> None:
    storage = app.extensions["mediacraft"].storage
    task_id, old_run = _slow_to_stop(client, app, new_seconds=4)
    wait_for(lambda: storage.get_task(task_id).status is TaskStatus.PROCESSING)
    wait_for(lambda: _old_run_gone(app, old_run), what="the cancelled run to stop")
    first = storage.get_task(task_id).worker
    assert first["run"] != old_run
    wait_for(  # the new run is still looked after: its heartbeat goes on
        lambda: (w := storage.get_task(task_id).worker) and w.get("beat", 0) > first.get("beat", 0)
    )
    done = wait_for(lambda: (t := storage.get_task(task_id)).status is TaskStatus.COMPLETED and t)
    assert done.attempts == 1  # it ran once, to the end, never recovered as abandoned


# --- liveness -----------------------------------------------------------------------
def _claimed_by(storage: FileStorage, config: Config, worker: dict) -> Task:
    task = queued_task(storage, config)
    claimed = storage.claim_next(queue_limits(config), worker)
    assert claimed.task_id == task.task_id
    return claimed


def test_a_clock_jump_does_not_recover_a_live_remote_task(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = Config(data_dir=tmp_path, stale_after_seconds=0.6)
    storage = FileStorage(tmp_path)
    worker = {"id": "remote", "host": "another-machine", "pid": 4242, "run": "r1"}
    task = _claimed_by(storage, config, worker)
    stop = threading.Event()

    def beat() -> None:  # the remote worker's heartbeat, written with its own clock
        while not stop.wait(0.1):
            storage.update_task(task.task_id, lambda t: t.worker.update(heartbeat_at=utcnow()))

    beater = threading.Thread(target=beat)
    beater.start()
    recoverer = TaskQueue(storage, config)
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 3600)  # this machine's clock jumps
    try:
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            assert recoverer.recover_abandoned() == 0
            time.sleep(0.1)
    finally:
        stop.set()
        beater.join()
    assert storage.get_task(task.task_id).status is TaskStatus.PROCESSING
    wait_for(lambda: recoverer.recover_abandoned(), timeout=5, what="recovery of a dead worker")
    assert storage.get_task(task.task_id).status is TaskStatus.QUEUED


def test_a_worker_on_this_machine_is_alive_exactly_when_its_process_is(tmp_path: Path) -> None:
    config = Config(data_dir=tmp_path, stale_after_seconds=0.1)
    storage = FileStorage(tmp_path)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        here = {"host": socket.gethostname(), "boot": boot_id(), "pid": sleeper.pid}
        live = {**here, "id": "busy", "run": "r1", "started": process_start(sleeper.pid)}
        reused = {**here, "id": "gone", "run": "r2", "started": "1"}  # same PID, other process
        busy = _claimed_by(storage, replace(config, max_tasks_per_user=1), live)
        old = _claimed_by(storage, config, reused)
        for task in (busy, old):  # heartbeats an hour old
            storage.update_task(
                task.task_id, lambda t: t.worker.update(heartbeat_at="2000-01-01T00:00:00.000000Z")
            )
        recoverer = TaskQueue(storage, config)
        assert recoverer.recover_abandoned() == 1
        assert storage.get_task(busy.task_id).status is TaskStatus.PROCESSING  # slow, not dead
        assert storage.get_task(old.task_id).status is TaskStatus.QUEUED  # its PID was reused
        sleeper.kill()
        sleeper.wait()
        assert recoverer.recover_abandoned() == 1
        assert storage.get_task(busy.task_id).status is TaskStatus.QUEUED
    finally:
        if sleeper.poll() is None:
            sleeper.kill()
            sleeper.wait()




def test_a_worker_in_another_pid_namespace_is_judged_by_its_heartbeat() -> None:
    """A container with the host's name but its own PIDs: its PID means nothing here."""
    here = {"host": socket.gethostname(), "boot": boot_id(), "pid": os.getpid()}
    assert same_machine({**here, "pidns": pid_namespace()})
    assert not same_machine({**here, "pidns": "pid:[1]"})
    assert not same_machine({**here, "boot": "another-boot"})
    assert not same_machine({**here, "host": "another-machine"})
