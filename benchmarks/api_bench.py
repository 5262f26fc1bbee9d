"""API benchmark: 10,000 stored tasks, 100 visitors.

1. In-process (Flask test client): p50/p99 of ``GET /api/tasks/{id}/status``
   and of a visitor's first page ``GET /api/user/tasks``.
2. Under gunicorn (``gunicorn.conf.py``, same workers/threads for both):
   requests per second of status polling against a bare Flask endpoint,
   measured with ``wrk`` (falls back to a Python client when wrk is absent).

Run: ``python benchmarks/api_bench.py`` (about a minute). Prints a table and
JSON; the figures go into benchmarks/README.md by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mediacraft import create_app  # noqa: E402
from mediacraft.model import Task, TaskStatus, User, new_id  # noqa: E402
from mediacraft.storage.files import FileStorage  # noqa: E402
from mediacraft.web.identity import COOKIE_NAME  # noqa: E402
from tests.support.server import free_port  # noqa: E402

SECRET = "benchmark-secret-key-0123456789abcdef-0123456789"
STATES = [TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED, TaskStatus.CREATED]


def seed(data_dir: Path, users: int, per_user: int) -> tuple[list[str], list[str]]:
    """Write users and tasks directly (not durable: seeding speed only)."""
    storage = FileStorage(data_dir, durable=False)
    user_ids, task_ids = [], []
    rng = random.Random(7)
    for u in range(users):
        user_id = new_id()
        storage.create_user(User(user_id=user_id))
        ids = []
        for n in range(per_user):
            task = Task.new(
                user_id,
                "download",
                name=f"video {u}-{n}",
                url=f"https://example.com/{u}/{n}/index.m3u8",
            )
            task.status = rng.choice(STATES)
            task.progress = 100.0 if task.status is TaskStatus.COMPLETED else 0.0
            task.progress_detail = {"segments_done": 150, "segments_total": 150}
            storage._write(storage._task_path(task.task_id), task.to_dict())
            ids.append(task.task_id)
        storage.update_user(user_id, lambda user, ids=ids: user.tasks.extend(ids))
        user_ids.append(user_id)
        task_ids.extend(ids)
    return user_ids, task_ids


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1)))))
    return ordered[k]


def in_process(data_dir: Path, user_ids: list[str], samples: int) -> dict:
    app = create_app({"data_dir": data_dir, "secret_key": SECRET, "run_queue": False})
    identity = app.extensions["mediacraft_identity"]
    storage = app.extensions["mediacraft"].storage
    clients = {}
    with app.app_context():
        for user_id in user_ids:
            client = app.test_client()
            client.set_cookie(COOKIE_NAME, identity.sign(user_id))
            clients[user_id] = client
    rng = random.Random(1)
    status_ms, page_ms = [], []
    for _ in range(samples):
        user_id = rng.choice(user_ids)
        task_id = rng.choice(storage.get_user(user_id).tasks)
        client = clients[user_id]
        start = time.perf_counter()
        response = client.get(f"/api/tasks/{task_id}/status")
        status_ms.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.json
        start = time.perf_counter()
        response = client.get("/api/user/tasks?page=1&per_page=20")
        page_ms.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200 and len(response.json["data"]["tasks"]) == 20
    return {
        "status_p50_ms": round(statistics.median(status_ms), 2),
        "status_p99_ms": round(percentile(status_ms, 99), 2),
        "first_page_p50_ms": round(statistics.median(page_ms), 2),
        "first_page_p99_ms": round(percentile(page_ms, 99), 2),
        "samples": samples,
    }


def start_gunicorn(module: str, data_dir: Path, port: int) -> subprocess.Popen:
    env = dict(os.environ)
    env.update(
        MEDIACRAFT_DATA_DIR=str(data_dir),
        MEDIACRAFT_SECRET_KEY=SECRET,
        MEDIACRAFT_BIND=f"127.0.0.1:{port}",
        MEDIACRAFT_LOG_LEVEL="WARNING",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", module],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import requests

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/ping", timeout=1)
            return proc
        except requests.RequestException:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("gunicorn did not start")


def wrk(url: str, cookie: str | None, seconds: int, connections: int) -> float:
    if shutil.which("wrk") is None:
        return python_load(url, cookie, seconds, connections)
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", url]
    if cookie:
        cmd[1:1] = ["-H", f"Cookie: {cookie}"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"{errors.group(1)} failed responses from {url}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def python_load(url: str, cookie: str | None, seconds: int, connections: int) -> float:
    import threading

    import requests

    count = 0
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker() -> None:
        nonlocal count
        with requests.Session() as session:
            headers = {"Cookie": cookie} if cookie else {}
            while time.monotonic() < deadline:
                session.get(url, headers=headers).raise_for_status()
                with lock:
                    count += 1

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return count / seconds


def under_gunicorn(data_dir: Path, user_id: str, task_id: str, seconds: int) -> dict:
    app = create_app({"data_dir": data_dir, "secret_key": SECRET, "run_queue": False})
    with app.app_context():
        cookie = f"{COOKIE_NAME}={app.extensions['mediacraft_identity'].sign(user_id)}"
    results = {}
    for label, module, path, cookie_header in (
        ("bare_flask_rps", "benchmarks.bare_app:app", "/ping", None),
        ("status_rps", "app:app", f"/api/tasks/{task_id}/status", cookie),
    ):
        port = free_port()
        proc = start_gunicorn(module, data_dir, port)
        try:
            url = f"http://127.0.0.1:{port}{path}"
            wrk(url, cookie_header, 2, 16)  # warm-up
            results[label] = round(wrk(url, cookie_header, seconds, 32), 1)
        finally:
            proc.terminate()
            proc.wait(30)
    results["ratio"] = round(results["status_rps"] / results["bare_flask_rps"], 3)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--per-user", type=int, default=100)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mediacraft-api-bench-"))
    try:
        data_dir = tmp / "data"
        started = time.monotonic()
        user_ids, task_ids = seed(data_dir, args.users, args.per_user)
        seeded = time.monotonic() - started
        report = {"tasks": len(task_ids), "users": len(user_ids), "seed_seconds": round(seeded, 1)}
        report["in_process"] = in_process(data_dir, user_ids, args.samples)
        report["gunicorn"] = under_gunicorn(data_dir, user_ids[0], task_ids[0], args.seconds)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ip, gu = report["in_process"], report["gunicorn"]
    print(f"tasks stored               {report['tasks']} ({report['users']} visitors)")
    print(
        f"status p50 / p99           {ip['status_p50_ms']} / {ip['status_p99_ms']} ms "
        "(target p99 < 20 ms)"
    )
    print(
        f"first page p50 / p99       {ip['first_page_p50_ms']} / {ip['first_page_p99_ms']} ms "
        "(target p99 < 20 ms)"
    )
    print(f"gunicorn status polling    {gu['status_rps']} req/s")
    print(f"gunicorn bare Flask        {gu['bare_flask_rps']} req/s")
    print(f"ratio                      {gu['ratio']} (target >= 0.5)")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
