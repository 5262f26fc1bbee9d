"""``mediacraft worker`` next to request-only gunicorn (``MEDIACRAFT_RUN_QUEUE=false``) on one
machine, with the default file storage: who runs tasks, and SIGTERM."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import requests

from mediacraft.model import TaskStatus
from mediacraft.storage import FileStorage
from tests.support.hosts import WebServer, WorkerProcess
from tests.support.server import ROOT
from tests.support.waiting import wait_for


def test_web_only_processes_leave_tasks_to_the_worker_and_sigterm_requeues(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    web = WebServer(data, "file", "solo")
    worker = WorkerProcess(data, "file", "solo", threads=2, poll_seconds=0.1)
    session = requests.Session()
    try:
        web.start()
        health = session.get(web.url + "/healthz", timeout=10).json()
        assert "queue" not in health["checks"]  # no task threads in the web processes
        body = {"task_type": "test_sleep", "options": {"seconds": 30}}
        created = session.post(web.url + "/api/tasks/create", json=body, timeout=10)
        assert created.status_code == 201, created.text
        task_id = created.json()["data"]["task_id"]
        storage = FileStorage(data)
        time.sleep(1.0)  # web processes alone: nobody claims it
        assert storage.get_task(task_id).status is TaskStatus.QUEUED

        worker.start()
        wait_for(lambda: storage.get_task(task_id).status is TaskStatus.PROCESSING,
                 timeout=30, what="the worker to claim the task")  # fmt: skip
        # Claimed is not yet started: a SIGTERM between the claim and the task's start
        # requeues it without counting an attempt. Wait for the task's own progress.
        wait_for(lambda: storage.get_task(task_id).progress > 0,
                 timeout=30, what="the task to start")  # fmt: skip
        task = storage.get_task(task_id)
        assert task.worker["pid"] == worker.proc.pid and task.worker["host"] == "solo"
        started = time.monotonic()
        assert worker.terminate(30) == 0
        assert time.monotonic() - started < 15  # interrupted, not waited out
        task = storage.get_task(task_id)
        assert task.status is TaskStatus.QUEUED and task.attempts == 1
        assert "restarted" in task.metadata["last_interruption"]
    finally:
        session.close()
        worker.stop()
        web.stop()


def test_worker_refuses_bad_settings_with_one_line(tmp_path: Path) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIACRAFT_")}
    env.update(MEDIACRAFT_DATA_DIR=str(tmp_path / "data"), MEDIACRAFT_STORAGE="mysql://x")
    result = subprocess.run([sys.executable, "-m", "mediacraft.cli", "worker"], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 2
    assert "MEDIACRAFT_STORAGE" in result.stderr and "Traceback" not in result.stderr
    bad_threads = subprocess.run(
        [sys.executable, "-m", "mediacraft.cli", "worker", "--threads", "-1"],
        env={**env, "MEDIACRAFT_STORAGE": "file"}, cwd=ROOT, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert bad_threads.returncode == 2 and "--threads" in bad_threads.stderr
