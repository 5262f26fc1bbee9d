"""The queue under gunicorn with several workers: limits, kill -9 recovery, SIGTERM."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import requests

from mediacraft.model import TaskStatus
from mediacraft.storage import FileStorage
from tests.support.server import AppServer
from tests.support.waiting import wait_for


def submit(session: requests.Session, url: str, seconds: float, **options) -> str:
    body = {"task_type": "test_sleep", "options": {"seconds": seconds, **options}}
    response = session.post(url + "/api/tasks/create", json=body, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()["data"]["task_id"]


def task_status(session: requests.Session, url: str, task_id: str) -> dict:
    response = session.get(f"{url}/api/tasks/{task_id}/status", timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def test_limits_hold_across_gunicorn_workers(tmp_path: Path) -> None:
    data = tmp_path / "data"
    # two task threads per process: reaching 3 at once needs both processes
    settings = {"max_concurrent_tasks": 3, "max_tasks_per_user": 1, "threads_per_process": 2}
    with AppServer(data, workers=2, **settings) as server:
        visitors = [requests.Session() for _ in range(6)]
        ids = [submit(s, server.url, 0.4) for s in visitors for _ in range(3)]
        storage = FileStorage(data)
        peak_total, peak_user, samples = 0, 0, 0
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak_total, peak_user, samples
            while not stop.is_set():
                per_user: dict[str, int] = {}
                for task_id in ids:
                    task = storage.get_task(task_id)
                    if task and task.status is TaskStatus.PROCESSING:
                        per_user[task.user_id] = per_user.get(task.user_id, 0) + 1
                peak_total = max(peak_total, sum(per_user.values()))
                peak_user = max([peak_user, *per_user.values()])
                samples += 1
                time.sleep(0.01)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            wait_for(
                lambda: all(
                    (t := storage.get_task(i)) and t.status is TaskStatus.COMPLETED for i in ids
                ),
                timeout=60,
                what="all tasks to complete",
            )
        finally:
            stop.set()
            sampler.join()
        assert samples > 20
        assert peak_total == 3  # the limit was reached, and never exceeded
        assert peak_user == 1
        pids = {storage.get_task(i).result["pid"] for i in ids}
        assert len(pids) == 2, "both gunicorn workers should have run tasks"
        for session in visitors:
            session.close()


def test_kill_9_requeues_then_fails_after_max_attempts(tmp_path: Path) -> None:
    data = tmp_path / "data"
    marker = tmp_path / "attempts.txt"
    server = AppServer(data, workers=1, max_attempts=2)
    session = requests.Session()
    try:
        server.start()
        survivor = submit(session, server.url, 1.0)
        wait_for(lambda: task_status(session, server.url, survivor)["status"] == "processing")
        server.kill()
        server.start()  # recovers the task left processing by the dead process
        done = wait_for(
            lambda: (s := task_status(session, server.url, survivor))["status"] == "completed"
            and s,
            timeout=30,
        )
        assert done["attempts"] == 2

        doomed = submit(session, server.url, 60, marker=str(marker))
        for attempt in (1, 2):
            wait_for(
                lambda a=attempt: (s := task_status(session, server.url, doomed))["status"]
                == "processing"
                and s["attempts"] == a
            )
            wait_for(  # the work itself has started (not only the claim)
                lambda a=attempt: marker.exists() and f"attempt {a}" in marker.read_text()
            )
            server.kill()
            server.start()
        failed = wait_for(
            lambda: (s := task_status(session, server.url, doomed))["status"] == "failed" and s,
            timeout=30,
        )
        assert "interrupted 2 times" in failed["error_message"]
        assert len(marker.read_text().splitlines()) == 2  # it really ran twice, no more
    finally:
        session.close()
        server.stop()


def test_sigterm_returns_running_task_to_queue(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = AppServer(data, workers=1)
    session = requests.Session()
    try:
        server.start()
        marker = tmp_path / "attempts.txt"
        task_id = submit(session, server.url, 8, marker=str(marker))
        # "processing" is set when the task is claimed; wait for the work itself to have
        # started, or the signal may land between the claim and the run (not the case
        # under test: that one gives the attempt back)
        wait_for(lambda: marker.exists() and "attempt 1" in marker.read_text())
        assert server.terminate(30) == 0
        task = FileStorage(data).get_task(task_id)
        assert task.status is TaskStatus.QUEUED and task.attempts == 1
        assert "restarted" in task.metadata["last_interruption"]
        server.start()
        done = wait_for(
            lambda: (s := task_status(session, server.url, task_id))["status"] == "completed"
            and s,
            timeout=30,
        )
        assert done["attempts"] == 2
    finally:
        session.close()
        server.stop()
