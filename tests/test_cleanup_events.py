"""Retention cleanup and the Server-Sent Events stream."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from mediacraft.cleanup import cleanup
from mediacraft.paths import TaskPaths
from tests.support.waiting import wait_for


def _run(client, seconds: float = 0.05) -> str:
    body = {"task_type": "test_sleep", "options": {"seconds": seconds}}
    return client.post("/api/tasks/create", json=body).json["data"]["task_id"]


def test_cleanup_removes_expired_tasks_users_and_files(client, other_client, app) -> None:
    ext = app.extensions["mediacraft"]
    done = _run(client)
    wait_for(lambda: ext.storage.get_task(done).status.value == "completed")
    passer_by = other_client.get("/api/user/info").json["data"]["user_id"]
    assert ext.storage.get_user(passer_by) is None  # a visit alone leaves no record
    task = ext.storage.get_task(done)
    result_dir = TaskPaths.of(ext.config.data_dir, task).result_dir
    assert (result_dir / "result.txt").exists()

    report = cleanup(ext.storage, ext.config)  # nothing is old yet
    assert report.tasks_removed == [] and report.users_removed == []

    later = datetime.now(timezone.utc) + timedelta(days=ext.config.retention_days + 1)
    dry = cleanup(ext.storage, ext.config, now=later, dry_run=True)
    assert dry.tasks_removed == [done] and ext.storage.get_task(done) is not None
    report = cleanup(ext.storage, ext.config, now=later)
    assert report.tasks_removed == [done]
    assert ext.storage.get_task(done) is None and not result_dir.exists()
    assert report.users_removed == [task.user_id]
    assert report.bytes_freed > 0


def test_cleanup_keeps_unfinished_work(client, app) -> None:
    ext = app.extensions["mediacraft"]
    running = _run(client, seconds=3)
    wait_for(lambda: ext.storage.get_task(running).status.value == "processing")
    later = datetime.now(timezone.utc) + timedelta(days=30)
    report = cleanup(ext.storage, ext.config, now=later)
    assert running not in report.tasks_removed and ext.storage.get_task(running) is not None
    client.post(f"/api/tasks/{running}/cancel")


def test_event_stream_follows_a_task_to_its_end(client) -> None:
    task_id = _run(client, seconds=1.0)
    response = client.get(f"/api/tasks/{task_id}/events")
    assert response.mimetype == "text/event-stream"
    events = []
    for chunk in response.response:
        text = chunk.decode() if isinstance(chunk, bytes) else chunk
        for block in text.split("\n\n"):
            lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
            if lines.get("event") == "task":
                events.append(json.loads(lines["data"]))
    response.close()
    statuses = [e["status"] for e in events]
    assert statuses[-1] == "completed"
    assert len(events) >= 2 and len(set(e["progress"] for e in events)) >= 2  # live progress


def test_event_stream_of_foreign_task_is_404(client, other_client) -> None:
    task_id = _run(client)
    response = other_client.get(f"/api/tasks/{task_id}/events")
    assert response.status_code == 404 and response.json["success"] is False


class _LaggingRecords:
    """Storage as seen in the window where the status map already shows a task's
    new status but its record file still holds the previous state."""

    def __init__(self, storage, stale, reads: int) -> None:
        self._storage = storage
        self._stale = stale
        self._reads = reads

    def __getattr__(self, name: str):
        return getattr(self._storage, name)

    def get_task(self, task_id: str):
        task = self._storage.get_task(task_id)
        if task is not None and task.status.is_terminal and self._reads > 0:
            self._reads -= 1
            return self._stale
        return task


def test_event_stream_sends_the_end_even_when_the_record_lags(client, app) -> None:
    from types import SimpleNamespace

    from mediacraft.events import task_events

    ext = app.extensions["mediacraft"]
    user_id = client.get("/api/user/info").json["data"]["user_id"]
    task_id = _run(client, seconds=0.5)
    wait_for(lambda: ext.storage.get_task(task_id).status.value == "processing")
    stale = ext.storage.get_task(task_id)
    wait_for(lambda: ext.storage.get_task(task_id).status.value == "completed")

    service = SimpleNamespace(
        storage=_LaggingRecords(ext.storage, stale, reads=3), describe=ext.service.describe
    )
    names, statuses = [], []
    for chunk in task_events(service, user_id, [task_id], end_when_done=True, tick=0.01):
        for block in chunk.split("\n\n"):
            lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
            if "event" in lines:
                names.append(lines["event"])
            if lines.get("event") == "task":
                statuses.append(json.loads(lines["data"])["status"])
    assert names[-1] == "end"
    assert statuses[0] == "processing" and statuses[-1] == "completed"
