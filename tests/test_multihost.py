"""Two hosts on one queue: web servers and worker processes with their own node ids,
one PostgreSQL database and one data directory."""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

import psycopg
import pytest
import requests

from mediacraft.download import DownloadOptions, download
from mediacraft.model import TaskStatus
from mediacraft.paths import TaskPaths
from mediacraft.storage.postgres import PostgresStorage
from tests.support.hosts import WebServer, WorkerProcess
from tests.support.origin import Origin, shared_media
from tests.support.waiting import wait_for


@pytest.fixture(scope="module")
def long_playlist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_media(tmp_path_factory, "long")  # type: ignore[return-value]


def submit(session: requests.Session, url: str, body: dict) -> str:
    response = session.post(url + "/api/tasks/create", json=body, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()["data"]["task_id"]


def test_limits_hold_across_two_hosts(postgres_url: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    limits = {"max_concurrent_tasks": 3, "max_tasks_per_user": 1}
    webs = [WebServer(data, postgres_url, node, **limits) for node in ("host-a", "host-b")]
    # two task threads each: reaching three at once needs both workers
    workers = [WorkerProcess(data, postgres_url, node, threads=2, **limits)
               for node in ("host-a", "host-b")]  # fmt: skip
    peaks = {"total": 0, "user": 0, "samples": 0}
    stop = threading.Event()

    def sample() -> None:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            while not stop.is_set():
                rows = conn.execute(
                    "SELECT user_id, count(*) FROM tasks WHERE status = 'processing'"
                    " GROUP BY user_id"
                ).fetchall()
                peaks["total"] = max(peaks["total"], sum(n for _, n in rows))
                peaks["user"] = max([peaks["user"], *(n for _, n in rows)])
                peaks["samples"] += 1
                time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    visitors = [requests.Session() for _ in range(6)]
    try:
        for server in (*webs, *workers):
            server.start()
        sampler.start()
        body = {"task_type": "test_sleep", "options": {"seconds": 0.6}}
        ids = [submit(s, webs[n % 2].url, body) for n, s in enumerate(visitors) for _ in range(3)]
        store = PostgresStorage(postgres_url)
        try:
            wait_for(
                lambda: all(store.get_task(i).status is TaskStatus.COMPLETED for i in ids),
                timeout=90, what="every task to complete",
            )  # fmt: skip
            pids = {store.get_task(i).result["pid"] for i in ids}
        finally:
            store.close()
        stop.set()
        sampler.join()
        assert peaks["samples"] > 20
        assert peaks["total"] == 3  # reached, never exceeded
        assert peaks["user"] == 1
        assert pids == {w.proc.pid for w in workers}  # both hosts' workers ran tasks
        # a visitor's task is theirs on either host, another visitor's is a 404 on both
        for web in webs:
            mine = visitors[0].get(f"{web.url}/api/tasks/{ids[0]}/status", timeout=10)
            assert mine.status_code == 200
            theirs = visitors[1].get(f"{web.url}/api/tasks/{ids[0]}/status", timeout=10)
            assert theirs.status_code == 404
    finally:
        stop.set()
        if sampler.is_alive():
            sampler.join()
        for session in visitors:
            session.close()
        for server in (*workers, *webs):
            server.stop()


def test_kill_9_of_a_host_and_the_other_completes_its_downloads(
    postgres_url: str, tmp_path: Path, long_playlist: Path
) -> None:
    media_root = long_playlist.parent.parent
    segments = sum(1 for line in long_playlist.read_text().splitlines() if line.endswith(".ts"))
    reference = tmp_path / "reference"
    with Origin(media_root) as plain:
        result = download(plain.url("long/index.m3u8"), reference / "ref.mp4", DownloadOptions(),
                          work_dir=reference / "w", allowed_networks=("127.0.0.1",))  # fmt: skip
        expected = hashlib.sha256(result.path.read_bytes()).hexdigest()

    data = tmp_path / "data"
    settings = {"max_concurrent_tasks": 4, "max_tasks_per_user": 2,
                "heartbeat_seconds": 0.5, "stale_after_seconds": 3}  # fmt: skip
    size = sum(p.stat().st_size for p in (media_root / "long").glob("*.ts"))
    store = PostgresStorage(postgres_url)
    # slow enough that both downloads are mid-way when host A dies
    with Origin(media_root, bandwidth=size / 5) as origin:
        web_a = WebServer(data, postgres_url, "host-a", **settings)
        web_b = WebServer(data, postgres_url, "host-b", **settings)
        worker_a = WorkerProcess(data, postgres_url, "host-a", threads=2, **settings)
        worker_b = WorkerProcess(data, postgres_url, "host-b", threads=2, **settings)
        session = requests.Session()
        try:
            web_a.start()
            web_b.start()
            worker_a.start()  # host B's worker joins later: both downloads go to host A
            body = {"task_type": "download", "url": origin.url("long/index.m3u8"),
                    "options": {"threads": 2}}  # fmt: skip
            ids = [submit(session, web_a.url, body) for _ in range(2)]

            def checkpointed() -> bool:
                tasks = [store.get_task(i) for i in ids]
                if not all(t.status is TaskStatus.PROCESSING for t in tasks):
                    return False
                return all(
                    (TaskPaths.of(data, t).work_dir / "checkpoint.json").exists() for t in tasks
                ) and all((t.progress or 0) >= 20 for t in tasks)

            wait_for(checkpointed, timeout=60, what="both downloads to be under way on host A")
            assert {store.get_task(i).worker["host"] for i in ids} == {"host-a"}
            worker_b.start()
            fetched_before = sum(1 for e in origin.log if e.path.endswith(".ts"))
            worker_a.kill()  # host A dies outright: its web server and its worker
            web_a.kill()
            done = wait_for(
                lambda: all(store.get_task(i).status is TaskStatus.COMPLETED for i in ids)
                and [store.get_task(i) for i in ids],
                timeout=120, what="host B to complete both downloads",
            )  # fmt: skip
        finally:
            session.close()
            for server in (worker_a, worker_b, web_a, web_b):
                server.stop()
            store.close()
        fetched_after = sum(1 for e in origin.log if e.path.endswith(".ts")) - fetched_before
    for task in done:
        assert task.attempts == 2  # the second attempt ran on host B
        assert "stopped" in task.metadata["last_interruption"]
        output = TaskPaths.of(data, task).result_dir / task.result["file_name"]
        assert hashlib.sha256(output.read_bytes()).hexdigest() == expected
    # resumed from the checkpoints: host B did not fetch both streams again from the start
    assert fetched_after < 2 * segments, (fetched_before, fetched_after, segments)
