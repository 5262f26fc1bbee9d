"""Queue benchmark: the three storages at 100,000 tasks, claim rates, and the API under
download load with embedded task threads vs separate worker processes.

1. **Reads at 100,000 tasks** (1,000 visitors × 100 tasks), for files, SQLite
   and PostgreSQL: p50/p99 of ``GET /api/tasks/{id}/status`` and of a
   visitor's first page ``GET /api/user/tasks``, in process (Flask's test
   client, as ``api_bench.py``).
2. **Claims per second**: 4 processes × 16 threads, each claiming a task
   and ending it at once, for each storage (``max_concurrent_tasks`` 64, tasks
   spread over 500 visitors).
3. **Status under 20 downloads**, PostgreSQL both times: gunicorn
   (2 × 64 threads) running the task threads itself, then gunicorn with
   ``MEDIACRAFT_RUN_QUEUE=false`` plus one ``mediacraft worker`` process;
   100 visitors polling every 250 ms while 20 downloads (10 at a time) come
   from a bandwidth-capped loopback origin (``tests/support/load.py``).
4. **From queued to started**: an idle worker (polling every 5 s) and a task
   queued by another connection: the time until it is claimed, which is the
   ``LISTEN``/``NOTIFY`` wake-up.

PostgreSQL is a throwaway cluster the script starts with Debian's binaries
(as the tests do). Run: ``python benchmarks/queue_bench.py`` (several minutes;
``--quick`` for a short check). Prints a table and JSON.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mediacraft import create_app  # noqa: E402
from mediacraft.model import Task, TaskStatus, User, new_id  # noqa: E402
from mediacraft.storage import QueueLimits, StorageInterface  # noqa: E402
from mediacraft.web.identity import COOKIE_NAME  # noqa: E402

SECRET = "benchmark-secret-key-0123456789abcdef-0123456789"
ENDED = [TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED, TaskStatus.CREATED]


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1)))))
    return ordered[k]


def _tasks_for(user_id: str, per_user: int, rng: random.Random, u: int) -> list[Task]:
    tasks = []
    for n in range(per_user):
        task = Task.new(user_id, "download", name=f"video {u}-{n}",
                        url=f"https://example.com/{u}/{n}/index.m3u8")  # fmt: skip
        task.status = rng.choice(ENDED)
        task.progress = 100.0 if task.status is TaskStatus.COMPLETED else 0.0
        task.progress_detail = {"segments_done": 150, "segments_total": 150}
        tasks.append(task)
    return tasks


def seed(kind: str, config: dict, users: int, per_user: int) -> list[str]:
    """Write users and tasks in bulk (seeding speed is not what is measured)."""
    rng = random.Random(7)
    user_ids = [new_id() for _ in range(users)]
    if kind == "file":
        from mediacraft.storage.files import FileStorage

        store = FileStorage(config["data_dir"], durable=False)
        for u, user_id in enumerate(user_ids):
            store.create_user(User(user_id=user_id))
            tasks = _tasks_for(user_id, per_user, rng, u)
            for task in tasks:
                store._write(store._task_path(task.task_id), task.to_dict())
            ids = [t.task_id for t in tasks]
            store.update_user(user_id, lambda user, ids=ids: user.tasks.extend(ids))
        return user_ids
    if kind == "sqlite":
        from mediacraft.storage.sqlite import SQLiteStorage

        store = SQLiteStorage(Path(config["data_dir"]) / "mediacraft.sqlite3", durable=False)
        with store._write() as conn:
            for u, user_id in enumerate(user_ids):
                store._put_user(conn, User(user_id=user_id))
                for task in _tasks_for(user_id, per_user, rng, u):
                    store._put_task(conn, task)
        store.close()
        return user_ids
    import psycopg
    from psycopg.types.json import Jsonb

    from mediacraft.storage.postgres import PostgresStorage

    PostgresStorage(config["storage"]).close()  # creates the schema
    with psycopg.connect(config["storage"]) as conn:
        with conn.cursor().copy("COPY users (user_id, created_at, last_accessed, doc)"
                                " FROM STDIN") as copy:  # fmt: skip
            for user_id in user_ids:
                user = User(user_id=user_id)
                data = {k: v for k, v in user.to_dict().items() if k not in ("tasks",
                        "task_states")}  # fmt: skip
                copy.write_row((user_id, user.created_at, user.last_accessed, Jsonb(data)))
        with conn.cursor().copy("COPY tasks (task_id, user_id, status, priority, queued_at,"
                                " created_at, doc) FROM STDIN") as copy:  # fmt: skip
            for u, user_id in enumerate(user_ids):
                for t in _tasks_for(user_id, per_user, rng, u):
                    copy.write_row((t.task_id, t.user_id, t.status.value, 0, "", t.created_at,
                                    Jsonb(t.to_dict())))  # fmt: skip
        conn.execute("ANALYZE")
    return user_ids


def reads(kind: str, config: dict, users: int, per_user: int, samples: int) -> dict:
    started = time.monotonic()
    user_ids = seed(kind, config, users, per_user)
    seeded = time.monotonic() - started
    app = create_app({**config, "secret_key": SECRET, "run_queue": False})
    ext = app.extensions["mediacraft"]
    identity = app.extensions["mediacraft_identity"]
    rng = random.Random(1)
    chosen = [rng.choice(user_ids) for _ in range(samples)]
    clients = {}
    with app.app_context():
        for user_id in set(chosen):
            client = app.test_client()
            client.set_cookie(COOKIE_NAME, identity.sign(user_id))
            clients[user_id] = client
    status_ms, page_ms = [], []
    for user_id in chosen:
        task_id = rng.choice(list(ext.storage.user_task_states(user_id)))
        client = clients[user_id]
        t0 = time.perf_counter()
        response = client.get(f"/api/tasks/{task_id}/status")
        status_ms.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200, response.json
        t0 = time.perf_counter()
        response = client.get("/api/user/tasks?page=1&per_page=20")
        page_ms.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200 and len(response.json["data"]["tasks"]) == 20
    ext.storage.close()
    return {
        "tasks": users * per_user, "seed_seconds": round(seeded, 1),
        "status_p50_ms": round(statistics.median(status_ms), 2),
        "status_p99_ms": round(percentile(status_ms, 99), 2),
        "first_page_p50_ms": round(statistics.median(page_ms), 2),
        "first_page_p99_ms": round(percentile(page_ms, 99), 2),
    }  # fmt: skip


# --- 2. claims per second -----------------------------------------------------------
def open_store(kind: str, config: dict) -> StorageInterface:
    from mediacraft.config import Config
    from mediacraft.storage import open_storage

    return open_storage(Config(**{k: v for k, v in config.items() if k != "plugins"}))


def _claimer(kind: str, config: dict, threads: int, seconds: float, start_at: float,
             out: multiprocessing.Queue) -> None:  # fmt: skip
    store = open_store(kind, config)
    limits = QueueLimits(max_per_user=4, max_total=64, max_queued_per_user=10**6,
                         max_queued_total=10**7)  # fmt: skip
    worker = {"id": f"bench:{os.getpid()}", "pid": os.getpid(), "host": "bench"}
    counts = [0] * threads

    def loop(slot: int) -> None:
        while time.time() < start_at:
            time.sleep(0.001)
        end = start_at + seconds
        while time.time() < end:
            task = store.claim_next(limits, worker)
            if task is None:
                time.sleep(0.005)
                continue
            store.update_task(task.task_id, lambda t: t.transition(TaskStatus.COMPLETED))
            counts[slot] += 1

    pool = [threading.Thread(target=loop, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    store.close()
    out.put(sum(counts))


def claims(kind: str, config: dict, tasks: int, seconds: float) -> dict:
    store = open_store(kind, config)
    users = [new_id() for _ in range(500)]
    ids = []
    for user_id in users:
        store.create_user(User(user_id=user_id))
    for n in range(tasks):
        ids.append(store.create_task(Task.new(users[n % len(users)], "test_sleep")).task_id)
    for start in range(0, len(ids), 500):
        store.enqueue(ids[start : start + 500], None)
    store.close()
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    start_at = time.time() + 3.0  # every process connected before the clock starts
    procs = [ctx.Process(target=_claimer, args=(kind, config, 16, seconds, start_at, out))
             for _ in range(4)]  # fmt: skip
    for proc in procs:
        proc.start()
    done = sum(out.get(timeout=seconds + 120) for _ in procs)
    for proc in procs:
        proc.join(30)
    return {"claimed": done, "seconds": seconds, "claims_per_second": round(done / seconds, 1),
            "queued_at_start": tasks}  # fmt: skip


# --- 3. status under download load ----------------------------------------------------
def under_downloads(work: Path, dsn_for, seconds: float, quick: bool) -> dict:
    from mediacraft.storage.postgres import PostgresStorage
    from tests.support.hosts import WorkerProcess
    from tests.support.load import Load
    from tests.support.media import make_video
    from tests.support.origin import Origin
    from tests.support.server import AppServer

    clip = make_video(work / "video.mp4", seconds=8 if quick else 20, size="640x360")
    size = clip.stat().st_size
    bandwidth = max(512 * 1024, 20 * size / seconds)
    results = {"download_file_mib": round(size / 2**20, 2),
               "origin_bandwidth_mib_s": round(bandwidth / 2**20, 2)}  # fmt: skip
    for layout in ("embedded", "separate"):
        data = work / layout / "data"
        data.parent.mkdir(parents=True, exist_ok=True)
        dsn = dsn_for(work / layout)
        settings = {"storage": dsn, "max_concurrent_tasks": 10, "max_tasks_per_user": 1,
                    "log_level": "WARNING"}  # fmt: skip
        worker = None
        with Origin() as origin:
            origin.bandwidth = bandwidth
            url = origin.add_file("video.mp4", clip.read_bytes())
            web_settings = dict(settings, run_queue="false") if layout == "separate" else settings
            with AppServer(data, workers=2, **web_settings) as server:
                if layout == "separate":
                    worker = WorkerProcess(data, dsn, "bench-worker", threads=10,
                                           **{k: v for k, v in settings.items()
                                              if k != "storage"}).start()  # fmt: skip
                store = PostgresStorage(dsn)
                try:
                    load = Load(server.url, data, url, visitors=100, downloads=20, streams=0,
                                min_seconds=seconds, max_seconds=900,
                                server_pid=server.proc.pid, storage=store)  # fmt: skip
                    results[layout] = load.run().summary()
                finally:
                    store.close()
                    if worker is not None:
                        worker.stop()
    return results


# --- 4. from queued to started --------------------------------------------------------
def wake_latency(where: Path, dsn: str, rounds: int) -> dict:
    """Time from enqueue (another process's storage) to the idle worker's claim.

    The worker polls only every 5 s: anything faster is the NOTIFY wake-up.
    """
    from mediacraft.config import Config
    from mediacraft.processors import load_processors
    from mediacraft.queue import TaskQueue
    from mediacraft.storage.postgres import PostgresStorage

    config = Config(data_dir=where / "data", storage=dsn, poll_seconds=5.0,
                    plugins=("tests.support.sleeper",), max_concurrent_tasks=2)  # fmt: skip
    load_processors(config.plugins)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    worker_store, client = PostgresStorage(dsn), PostgresStorage(dsn)
    queue = TaskQueue(worker_store, config)
    queue.start()
    user_id = new_id()
    client.create_user(User(user_id=user_id))
    waits = []
    try:
        time.sleep(1.0)  # the listener is connected
        for _ in range(rounds):
            task = client.create_task(Task.new(user_id, "test_sleep", options={"seconds": 0}))
            t0 = time.perf_counter()
            client.enqueue([task.task_id], None)
            while client.get_task(task.task_id).status is TaskStatus.QUEUED:
                time.sleep(0.001)
            waits.append((time.perf_counter() - t0) * 1000)
            while not client.get_task(task.task_id).status.is_terminal:
                time.sleep(0.01)
            time.sleep(0.2)  # idle again
    finally:
        queue.shutdown(timeout=5)
        worker_store.close()
        client.close()
    return {"rounds": rounds, "p50_ms": round(statistics.median(waits), 1),
            "p99_ms": round(percentile(waits, 99), 1), "max_ms": round(max(waits), 1),
            "poll_seconds": 5.0}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run that checks the script")
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--per-user", type=int, default=100)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--claim-seconds", type=float, default=10.0)
    parser.add_argument("--poll-seconds", type=float, default=30.0)
    parser.add_argument("--only", choices=("reads", "claims", "load", "wake"), action="append")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if args.quick:
        args.users, args.per_user, args.samples = 50, 40, 200
        args.claim_seconds, args.poll_seconds = 3.0, 5.0
    parts = set(args.only or ("reads", "claims", "load", "wake"))

    from tests.support.postgres import Cluster, database_for

    cluster = Cluster()
    server = cluster.start()
    os.environ["MEDIACRAFT_TEST_POSTGRES"] = server.dsn()
    work = Path(tempfile.mkdtemp(prefix="mediacraft-queue-bench-"))
    results: dict = {"machine": {"cpus": os.cpu_count(), "load_average": os.getloadavg()}}
    try:
        def config_for(kind: str, where: Path) -> dict:
            config: dict = {"data_dir": where / "data", "storage": kind}
            if kind == "postgres":
                config["storage"] = database_for(where)
            return config

        kinds = ("file", "sqlite", "postgres")
        if "reads" in parts:
            results["reads"] = {
                kind: reads(kind, config_for(kind, work / f"reads-{kind}"), args.users,
                            args.per_user, args.samples)
                for kind in kinds
            }  # fmt: skip
        if "claims" in parts:
            results["claims"] = {
                kind: claims(kind, config_for(kind, work / f"claims-{kind}"),
                             5_000 if not args.quick else 2_000, args.claim_seconds)
                for kind in kinds
            }  # fmt: skip
        if "wake" in parts:
            results["wake"] = wake_latency(work / "wake", database_for(work / "wake"),
                                           10 if args.quick else 50)  # fmt: skip
        if "load" in parts:
            results["load"] = under_downloads(work / "load", database_for, args.poll_seconds,
                                              args.quick)  # fmt: skip
        results["machine"]["load_average_after"] = os.getloadavg()
    finally:
        shutil.rmtree(work, ignore_errors=True)
        cluster.stop()
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
