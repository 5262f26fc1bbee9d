"""Abuse suite, disk: a full or read-only disk is reported as what it is, never as a crash
or a network error; health checks write; nothing new starts on a nearly full disk."""

from __future__ import annotations

import errno
import os
import sqlite3
import time
from dataclasses import replace
from pathlib import Path

import pytest

from mediacraft import create_app
from mediacraft.exceptions import StorageFull
from mediacraft.model import TaskStatus
from mediacraft.paths import TaskPaths
from mediacraft.storage import files as file_storage
from mediacraft.storage.sqlite import _database_error
from tests.support.api import assert_error, multipart
from tests.support.media import make_video
from tests.support.waiting import wait_for


def sleep_body(**options) -> dict:
    return {"task_type": "test_sleep", "options": {"seconds": 0.1, **options}}


@pytest.mark.parametrize(
    ("code", "message"),
    [(errno.ENOSPC, "the server's disk is full"), (errno.EROFS, "storage is read-only")],
)
def test_a_storage_write_error_is_a_503_that_says_so(client, monkeypatch, code, message) -> None:
    def refuse(path: Path, data: object, durable: bool = True) -> None:
        raise OSError(code, os.strerror(code), str(path))

    monkeypatch.setattr(file_storage, "write_json_atomic", refuse)
    assert_error(client.post("/api/tasks/create", json=sleep_body()), 503, message)


def test_healthz_writes_and_answers_503_when_the_data_directory_is_read_only(
    client, monkeypatch
) -> None:
    assert client.get("/healthz").json["checks"]["disk"] == "ok"
    real_open = os.open

    def read_only(path, flags, *args):
        if ".healthz-" in os.fspath(path):
            raise OSError(errno.EROFS, "Read-only file system", path)
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", read_only)
    answer = client.get("/healthz")
    assert answer.status_code == 503
    assert answer.json["reason"] == (
        "the data directory is not writable: the server's storage is read-only"
    )


def test_healthz_answers_503_when_the_disk_is_nearly_full(app_config) -> None:
    app_config.update(min_free_mb=1 << 40, run_queue=False)  # more than any disk has
    client = create_app(app_config).test_client()
    answer = client.get("/healthz")
    assert answer.status_code == 503
    assert "the data directory is nearly full" in answer.json["reason"]
    assert "MB needed" in answer.json["reason"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"fail_errno": errno.ENOSPC}, "The task could not be saved: the server's disk is full"),
        (
            {"fail_errno": errno.EROFS},
            "The task could not be saved: the server's storage is read-only",
        ),
        (
            {"fail": "ffmpeg failed (exit code 1): write_frame(): No space left on device"},
            "The result could not be written: the server's disk is full",
        ),
    ],
)
def test_a_task_that_cannot_write_fails_as_a_storage_failure_and_keeps_its_checkpoint(
    client, app, options, message
) -> None:
    storage = app.extensions["mediacraft"].storage
    task_id = client.post("/api/tasks/create", json=sleep_body(**options)).json["data"]["task_id"]
    task = wait_for(lambda: (t := storage.get_task(task_id)).status is TaskStatus.FAILED and t)
    assert task.error_message == message
    work = TaskPaths.of(app.extensions["mediacraft"].config.data_dir, task).work_dir
    assert list(work.glob("checkpoint-*.txt"))  # a retry resumes from here


def test_no_task_starts_and_no_upload_is_taken_on_a_nearly_full_disk(app_config, tmp_path) -> None:
    app_config.update(min_free_mb=1 << 40)
    app = create_app(app_config)
    ext = app.extensions["mediacraft"]
    client = app.test_client()
    try:
        task_id = client.post("/api/tasks/create", json=sleep_body()).json["data"]["task_id"]
        time.sleep(1.0)  # several dispatcher rounds
        assert ext.storage.get_task(task_id).status is TaskStatus.QUEUED  # waits, does not fail
        clip = make_video(tmp_path / "c.mp4", seconds=1, audio=False)
        upload_task = client.post("/api/tasks/create", json={"task_type": "watermark_removal"})
        url = f"/api/tasks/{upload_task.json['data']['task_id']}/upload"
        assert_error(multipart(client, url, [(clip, "c.mp4")]), 503, "disk is nearly full")
        ext.queue.config = replace(ext.queue.config, min_free_mb=0)  # room again
        ext.queue.notify()
        wait_for(lambda: ext.storage.get_task(task_id).status is TaskStatus.COMPLETED)
    finally:
        ext.queue.shutdown(timeout=5)
        ext.storage.close()


def test_a_full_database_is_a_storage_failure() -> None:
    error = sqlite3.OperationalError
    full = _database_error(error("database or disk is full"), "x")
    read_only = _database_error(error("attempt to write a readonly database"), "x")
    other = _database_error(error("no such table: tasks"), "x")
    assert isinstance(full, StorageFull) and "disk is full" in full.message
    assert isinstance(read_only, StorageFull) and "read-only" in read_only.message
    assert not isinstance(other, StorageFull) and full.status == 503
