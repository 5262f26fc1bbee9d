"""Load benchmark: many visitors polling while downloads run and event streams are open.

Three measurements in one run, each against ``gunicorn -c gunicorn.conf.py``
started by the script on 127.0.0.1:

1. **Streams at their cap** — one worker with 8 threads; one visitor, then 20
   visitors, ask for 20 event streams (the worker serves 6); meanwhile
   ``/healthz`` and another visitor's status are timed (target: 200 ms).
2. **Polling, side by side** — 100 visitors polling every 250 ms for
   ``--poll-seconds``: a bare Flask endpoint (``benchmarks/bare_app.py``) on
   the same gunicorn configuration, then MediaCraft's status/list.
3. **The full load** — 100 visitors polling every 250 ms (status, every
   fourth poll the task list) while 20 downloads run (10 at a time, one per
   visitor) from a bandwidth-capped loopback origin and 50 event streams are
   open: p50/p99 of status and list, failed requests (including connections
   closed under a request), peak RSS of the server, limits.

Run: ``python benchmarks/load_bench.py`` (about two minutes; ``--quick`` for a
short check). Prints a table and JSON; figures go into benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.load import Load, percentiles, tree_rss_mb  # noqa: E402
from tests.support.media import make_video  # noqa: E402
from tests.support.origin import Origin  # noqa: E402
from tests.support.server import AppServer, free_port  # noqa: E402

MiB = 1024 * 1024


# --- 1. streams at their cap ----------------------------------------------------------
def streams_at_cap(work: Path, samples: int) -> dict:
    results = {}
    (work / "streams").mkdir(parents=True, exist_ok=True)
    with AppServer(work / "streams" / "data", workers=1, gunicorn_threads=8) as server:
        for visitors in (1, 20):
            sessions = [requests.Session() for _ in range(visitors)]
            other = requests.Session()
            body = {"task_type": "test_sleep", "options": {"seconds": 0}}
            task_id = other.post(server.url + "/api/tasks/create", json=body, timeout=10).json()
            task_id = task_id["data"]["task_id"]
            held, refused = [], 0
            for n in range(20):
                answer = sessions[n % visitors].get(
                    server.url + "/api/events", stream=True, timeout=10
                )
                if answer.status_code == 200:
                    held.append(answer)
                else:
                    refused += 1
                    answer.close()
            health, status = [], []
            for _ in range(samples):
                health.append(_timed(other, server.url + "/healthz"))
                status.append(_timed(other, f"{server.url}/api/tasks/{task_id}/status"))
            for answer in held:
                answer.close()
            for session in [*sessions, other]:
                session.close()
            results[f"{visitors}_visitor{'s' if visitors > 1 else ''}"] = {
                "streams_open": len(held),
                "streams_refused_429": refused,
                "healthz_ms": percentiles(health),
                "status_ms": percentiles(status),
            }
            time.sleep(2)  # the worker notices the closed streams
    return results


def _timed(session: requests.Session, url: str) -> float:
    started = time.perf_counter()
    session.get(url, timeout=30).raise_for_status()
    return (time.perf_counter() - started) * 1000


# --- 2. polling side by side ------------------------------------------------------------
def bare_polling(work: Path, visitors: int, seconds: float) -> dict:
    port = free_port()
    env = dict(os.environ, MEDIACRAFT_BIND=f"127.0.0.1:{port}", MEDIACRAFT_DATA_DIR=str(work))
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "benchmarks.bare_app:app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/ping"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(url, timeout=1)
                break
            except requests.RequestException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        timings: list[float] = []
        failures = 0
        lock = threading.Lock()
        stop = threading.Event()

        def poller() -> None:
            nonlocal failures
            with requests.Session() as session:
                while not stop.is_set():
                    started = time.perf_counter()
                    try:
                        session.get(url, timeout=30).raise_for_status()
                        with lock:
                            timings.append((time.perf_counter() - started) * 1000)
                    except requests.RequestException:
                        with lock:
                            failures += 1
                    stop.wait(max(0.0, 0.25 - (time.perf_counter() - started)))

        threads = [threading.Thread(target=poller) for _ in range(visitors)]
        for thread in threads:
            thread.start()
        peak = 0.0
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            peak = max(peak, tree_rss_mb(proc.pid))
            time.sleep(0.2)
        stop.set()
        for thread in threads:
            thread.join()
        return {"ping_ms": percentiles(timings), "failed_requests": failures,
                "peak_rss_mb": round(peak, 1)}  # fmt: skip
    finally:
        proc.terminate()
        proc.wait(30)


def mediacraft_load(
    work: Path, name: str, clip: Path, *, downloads: int, streams: int, seconds: float,
    bandwidth: float,
) -> dict:  # fmt: skip
    data = work / name / "data"
    data.parent.mkdir(parents=True, exist_ok=True)
    with Origin() as origin:
        origin.bandwidth = bandwidth
        url = origin.add_file("video.mp4", clip.read_bytes())
        settings = {"max_concurrent_tasks": 10, "max_tasks_per_user": 1, "log_level": "WARNING"}
        with AppServer(data, workers=2, **settings) as server:
            assert server.proc is not None
            load = Load(server.url, data, url, visitors=100, downloads=downloads,
                        streams=streams, min_seconds=seconds, max_seconds=900,
                        server_pid=server.proc.pid)  # fmt: skip
            return load.run().summary()


# --- output --------------------------------------------------------------------------
def table(results: dict) -> str:
    rows = ["| measurement | p50 (ms) | p99 (ms) | max (ms) | failed | notes |",
            "|---|---:|---:|---:|---:|---|"]  # fmt: skip
    for key, cap in results["streams_at_cap"].items():
        for what in ("healthz_ms", "status_ms"):
            p = cap[what]
            note = f"{cap['streams_open']} streams open, {cap['streams_refused_429']} refused (429)"
            rows.append(f"| streams at cap, {key.replace('_', ' ')}: {what[:-3]} | {p['p50']} | "
                        f"{p['p99']} | {p['max']} | 0 | {note} |")  # fmt: skip
    bare = results["bare_polling"]
    rows.append(f"| bare Flask /ping, 100 pollers | {bare['ping_ms']['p50']} | "
                f"{bare['ping_ms']['p99']} | {bare['ping_ms']['max']} | "
                f"{bare['failed_requests']} | peak RSS {bare['peak_rss_mb']} MiB |")  # fmt: skip
    for label in ("polling_only", "full_load"):
        run = results[label]
        for what in ("status_ms", "list_ms"):
            p = run[what]
            note = (f"{run['downloads_completed']} downloads, peak {run['peak_processing']} "
                    f"running, {run['streams_open']} streams, peak RSS {run['peak_rss_mb']} MiB")
            rows.append(f"| {label.replace('_', ' ')}: {what[:-3]} | {p['p50']} | {p['p99']} | "
                        f"{p['max']} | {run['failed_requests']} | {note} |")  # fmt: skip
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run that checks the script")
    parser.add_argument("--poll-seconds", type=float, default=30.0)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    seconds = 5.0 if args.quick else args.poll_seconds
    work = Path(tempfile.mkdtemp(prefix="mediacraft-load-"))
    try:
        clip = make_video(work / "video.mp4", seconds=8 if args.quick else 20, size="640x360")
        size = clip.stat().st_size
        # 20 downloads share the link: about `seconds` of transfer for all of them
        bandwidth = max(512 * 1024, 20 * size / seconds)
        results = {
            "machine": {"cpus": os.cpu_count(), "load_average": os.getloadavg()},
            "download_file_mib": round(size / MiB, 2),
            "origin_bandwidth_mib_s": round(bandwidth / MiB, 2),
            "streams_at_cap": streams_at_cap(work, 20 if args.quick else 100),
            "bare_polling": bare_polling(work / "bare", 100, seconds),
            "polling_only": mediacraft_load(work, "poll", clip, downloads=0, streams=0,
                                            seconds=seconds, bandwidth=bandwidth),
            "full_load": mediacraft_load(work, "full", clip, downloads=20, streams=50,
                                         seconds=seconds, bandwidth=bandwidth),
        }  # fmt: skip
        results["machine"]["load_average_after"] = os.getloadavg()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(table(results))
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    failed = results["full_load"]["failed_requests"] + results["polling_only"]["failed_requests"]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
