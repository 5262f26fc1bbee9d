"""Abuse suite, queue: priorities, turns, how many tasks a visitor keeps, how long one runs."""

from __future__ import annotations

import types
from datetime import datetime, timedelta, timezone

import pytest

from mediacraft.cleanup import cleanup
from mediacraft.exceptions import MediaError
from mediacraft.media import run_ffmpeg
from mediacraft.model import Task, TaskStatus, parse_time
from mediacraft.paths import TaskPaths
from mediacraft.processors import get_processor
from tests.support.api import assert_error, multipart
from tests.support.media import make_video
from tests.support.waiting import wait_for


def sleep_task(client, seconds: float = 0.1, **options):
    body = {"task_type": "test_sleep", "options": {"seconds": seconds, **options}}
    return client.post("/api/tasks/create", json=body)


def record(app, task_id: str) -> Task:
    return app.extensions["mediacraft"].storage.get_task(task_id)


@pytest.fixture
def two_slots(app_config: dict) -> dict:
    """Two tasks at once, both may be one visitor's, and room for a long batch."""
    app_config.update(
        max_concurrent_tasks=2,
        max_tasks_per_user=2,
        max_queued_per_user=200,
        max_unfinished_per_user=200,
        workers=2,
    )
    return app_config


def test_a_long_batch_does_not_starve_another_visitors_single_task(
    two_slots, client, other_client, app
) -> None:
    inputs = [{"name": f"item {n}"} for n in range(60)]
    body = {"task_type": "test_sleep", "inputs": inputs, "options": {"seconds": 0.15}}
    batch = client.post("/api/batches", json=body)
    assert batch.status_code == 201, batch.json
    batch_ids = batch.json["data"]["task_ids"]
    single = sleep_task(other_client, 0.15).json["data"]["task_id"]
    wait_for(lambda: record(app, single).status is TaskStatus.COMPLETED, timeout=30)
    started = parse_time(record(app, single).started_at)
    ahead = [t for t in batch_ids if (s := record(app, t).started_at) and parse_time(s) < started]
    # the batch's first two took both slots; the single task had the next turn
    assert len(ahead) <= 3, f"{len(ahead)} batch tasks started before the single one"
    client.post(f"/api/batches/{batch.json['data']['batch_id']}/cancel")


def test_priority_only_lowers_the_visitors_own_tasks(client) -> None:
    def create(priority: int):
        body = {"task_type": "test_sleep", "priority": priority, "options": {"seconds": 0}}
        return client.post("/api/tasks/create", json=body)

    assert_error(create(5), 400, "priority must be between -100 and 0")
    body = {"task_type": "test_sleep", "inputs": [{"name": "a", "priority": 1}]}
    assert_error(client.post("/api/batches", json=body), 400, "priority must be between")
    assert create(-5).status_code == 201


def test_unfinished_and_stored_tasks_per_visitor_are_capped(app_config) -> None:
    from mediacraft import create_app

    app_config.update(max_unfinished_per_user=3, max_stored_tasks_per_user=5, run_queue=False)
    app = create_app(app_config)
    client = app.test_client()
    made = []
    for _ in range(3):  # tasks waiting for an upload are unfinished too
        answer = client.post("/api/tasks/create", json={"task_type": "watermark_removal"})
        made.append(answer.json["data"]["task_id"])
    refused = client.post("/api/tasks/create", json={"task_type": "watermark_removal"})
    assert_error(refused, 429, "3 unfinished tasks", "most allowed is 3")
    batch = {"task_type": "test_sleep", "inputs": [{"name": "x"}]}
    assert_error(client.post("/api/batches", json=batch), 429, "nothing of this batch")
    for task_id in made[:2]:
        client.post(f"/api/tasks/{task_id}/cancel")
    assert client.post("/api/tasks/create", json={"task_type": "video_merge"}).status_code == 201
    client.post("/api/tasks/create", json={"task_type": "video_merge"})
    stored = client.post("/api/tasks/create", json={"task_type": "video_merge"})
    assert_error(stored, 429, "You keep 5 tasks", "delete old tasks")
    assert len(app.extensions["mediacraft"].storage.user_task_states(_user(client))) == 5
    app.extensions["mediacraft"].storage.close()


def _user(client) -> str:
    return client.get("/api/user/info").json["data"]["user_id"]


def test_abandoned_unfinished_tasks_expire_with_their_files(client, app, tmp_path) -> None:
    ext = app.extensions["mediacraft"]
    clip = make_video(tmp_path / "clip.mp4", seconds=1, audio=False)
    abandoned = client.post("/api/tasks/create", json={"task_type": "watermark_removal"})
    abandoned_id = abandoned.json["data"]["task_id"]
    uploaded = multipart(client, f"/api/tasks/{abandoned_id}/upload", [(clip, "c.mp4")])
    assert uploaded.status_code == 200
    upload_dir = TaskPaths.of(ext.config.data_dir, record(app, abandoned_id)).upload_dir
    assert list(upload_dir.iterdir())
    running = sleep_task(client, 5).json["data"]["task_id"]
    wait_for(lambda: record(app, running).status is TaskStatus.PROCESSING)

    soon = datetime.now(timezone.utc) + timedelta(hours=ext.config.unfinished_ttl_hours - 1)
    assert abandoned_id not in cleanup(ext.storage, ext.config, now=soon).tasks_removed
    later = datetime.now(timezone.utc) + timedelta(hours=ext.config.unfinished_ttl_hours + 1)
    report = cleanup(ext.storage, ext.config, now=later)
    assert report.tasks_removed == [abandoned_id]  # the running task stays
    assert record(app, abandoned_id) is None and not upload_dir.exists()
    client.post(f"/api/tasks/{running}/cancel")


# --- every task ends ------------------------------------------------------------------
def test_a_task_running_past_its_time_limit_fails_with_the_limit(app_config) -> None:
    from mediacraft import create_app

    app_config.update(max_task_seconds=1)
    app = create_app(app_config)
    client = app.test_client()
    task_id = sleep_task(client, 60).json["data"]["task_id"]
    wait_for(lambda: record(app, task_id).status is TaskStatus.FAILED, timeout=20)
    task = record(app, task_id)
    assert task.error_message == "The task ran longer than its time limit (1 s) and was stopped"
    app.extensions["mediacraft"].queue.shutdown(timeout=5)
    app.extensions["mediacraft"].storage.close()


def test_time_limits_per_type_follow_the_work() -> None:
    config = types.SimpleNamespace(
        max_task_seconds=6 * 3600, processing_time_factor=10.0, max_record_seconds=4 * 3600
    )
    clip = {"media": {"duration": 90.0}}
    merge = Task.new("u", "video_merge", inputs=[clip, clip, {"media": {"duration": 30}}])
    assert get_processor("video_merge").time_limit(merge, config) == 300 + 10 * 210
    huge = Task.new("u", "watermark_removal", inputs=[{"media": {"duration": 10 * 3600}}])
    assert get_processor("watermark_removal").time_limit(huge, config) == 6 * 3600  # capped
    download = Task.new("u", "download")
    assert get_processor("download").time_limit(download, config) == 10 * 3600  # + recording


def test_ffmpeg_runs_end_at_their_timeout() -> None:
    args = ["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=3600", "-f", "null", "-"]
    with pytest.raises(MediaError, match="did not finish within 0.5 seconds"):
        run_ffmpeg(args, timeout=0.5)
