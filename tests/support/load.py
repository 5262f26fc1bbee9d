"""A load of visitors against a running server: pollers, event streams, downloads.

Used by ``tests/abuse/test_abuse_load.py`` (a few seconds of it) and by
``benchmarks/load_bench.py`` (the full measurement). Every visitor is a
``requests.Session`` (its own cookie and keep-alive connections) in its own
thread:

* ``downloads`` visitors create one download each and poll its status;
* the other visitors create a task waiting for an upload and poll it;
* every fourth poll of a visitor is its task list instead of one status;
* ``streams`` of the visitors also hold ``GET /api/events`` open.

A request fails when it raises (connection refused or reset — including a
kept-alive connection the server closed while the request was sent — or a
timeout) or answers 5xx; a stream fails when it drops before the load ends.
A stream refused with 429 is counted apart: the pages poll instead.
A sampler reads the task records meanwhile to check the limits, and the
server's resident memory.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import requests

from mediacraft.model import TaskStatus
from mediacraft.storage import FileStorage, StorageInterface


@dataclass
class LoadReport:
    status_ms: list[float] = field(default_factory=list)
    list_ms: list[float] = field(default_factory=list)
    failures: Counter = field(default_factory=Counter)
    requests: int = 0
    streams_open: int = 0
    streams_refused: int = 0
    stream_events: int = 0
    downloads_completed: int = 0
    downloads_failed: list[str] = field(default_factory=list)
    peak_processing: int = 0
    peak_processing_per_user: int = 0
    peak_rss_mb: float = 0.0
    seconds: float = 0.0

    @property
    def failed(self) -> int:
        return sum(self.failures.values())

    def summary(self) -> dict:
        return {
            "seconds": round(self.seconds, 1),
            "requests": self.requests,
            "failed_requests": self.failed,
            "failures": dict(self.failures),
            "status_ms": percentiles(self.status_ms),
            "list_ms": percentiles(self.list_ms),
            "streams_open": self.streams_open,
            "streams_refused_429": self.streams_refused,
            "stream_events": self.stream_events,
            "downloads_completed": self.downloads_completed,
            "downloads_failed": self.downloads_failed,
            "peak_processing": self.peak_processing,
            "peak_processing_per_user": self.peak_processing_per_user,
            "peak_rss_mb": round(self.peak_rss_mb, 1),
        }


def percentiles(values: list[float]) -> dict:
    if not values:
        return {}
    ordered = sorted(values)

    def at(pct: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(pct / 100 * len(ordered)))], 1)

    return {"n": len(values), "p50": at(50), "p99": at(99), "max": round(ordered[-1], 1),
            "mean": round(statistics.fmean(values), 1)}  # fmt: skip


class Load:
    def __init__(
        self,
        url: str,
        data_dir: Path,
        download_url: str,
        *,
        visitors: int = 100,
        downloads: int = 20,
        streams: int = 50,
        interval: float = 0.25,
        min_seconds: float = 5.0,
        max_seconds: float = 300.0,
        server_pid: int | None = None,
        timeout: float = 30.0,
        storage: StorageInterface | None = None,
    ) -> None:
        self.url, self.data_dir, self.download_url = url, data_dir, download_url
        self.visitors, self.downloads, self.streams = visitors, downloads, streams
        self.interval, self.min_seconds, self.max_seconds = interval, min_seconds, max_seconds
        self.server_pid, self.timeout = server_pid, timeout
        self.storage = storage  # where the server keeps its tasks (default: files in data_dir)
        self.report = LoadReport()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._download_ids: list[str] = []

    # --- one visitor ---------------------------------------------------------------------
    def _visitor(self, number: int, ready: threading.Barrier) -> None:
        session = requests.Session()
        try:
            task_id = self._create(session, download=number < self.downloads)
            ready.wait()
            if task_id is None:
                return
            stream = threading.Thread(target=self._stream, args=(session,), daemon=True)
            if number < self.streams:
                stream.start()
            polls = 0
            while not self._stop.is_set():
                started = time.monotonic()
                listing = polls % 4 == 3
                path = "/api/user/tasks" if listing else f"/api/tasks/{task_id}/status"
                self._get(session, path, self.report.list_ms if listing else self.report.status_ms)
                polls += 1
                self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))
            if stream.is_alive():
                stream.join(self.timeout)
        finally:
            session.close()

    def _create(self, session: requests.Session, download: bool) -> str | None:
        if download:
            body = {"task_type": "download", "url": self.download_url}
        else:
            body = {"task_type": "watermark_removal", "name": "waiting for its upload"}
        try:
            answer = session.post(self.url + "/api/tasks/create", json=body, timeout=self.timeout)
        except requests.RequestException as exc:
            self._fail(f"create: {type(exc).__name__}")
            return None
        self._count()
        if answer.status_code != 201:
            self._fail(f"create: HTTP {answer.status_code} {answer.text[:120]}")
            return None
        task_id = answer.json()["data"]["task_id"]
        if download:
            with self._lock:
                self._download_ids.append(task_id)
        return task_id

    def _get(self, session: requests.Session, path: str, timings: list[float]) -> None:
        started = time.perf_counter()
        try:
            answer = session.get(self.url + path, timeout=self.timeout)
        except requests.RequestException as exc:
            self._fail(f"{path.split('/')[2]}: {type(exc).__name__}")
            return
        elapsed = (time.perf_counter() - started) * 1000
        self._count()
        if answer.status_code >= 500 or answer.status_code in (404, 429):
            self._fail(f"HTTP {answer.status_code}")
            return
        with self._lock:
            timings.append(elapsed)

    def _stream(self, session: requests.Session) -> None:
        try:
            answer = session.get(self.url + "/api/events", stream=True, timeout=self.timeout)
        except requests.RequestException as exc:
            self._fail(f"stream: {type(exc).__name__}")
            return
        if answer.status_code == 429:
            with self._lock:
                self.report.streams_refused += 1
            answer.close()
            return
        if answer.status_code != 200:
            self._fail(f"stream: HTTP {answer.status_code}")
            answer.close()
            return
        with self._lock:
            self.report.streams_open += 1
        try:
            for line in answer.iter_lines():
                if line.startswith(b"event: task"):
                    with self._lock:
                        self.report.stream_events += 1
                if self._stop.is_set():
                    break
        except requests.RequestException as exc:
            if not self._stop.is_set():
                self._fail(f"stream dropped: {type(exc).__name__}")
        finally:
            answer.close()

    def _count(self) -> None:
        with self._lock:
            self.report.requests += 1

    def _fail(self, reason: str) -> None:
        with self._lock:
            self.report.failures[reason] += 1

    # --- the run -----------------------------------------------------------------------
    def run(self) -> LoadReport:
        storage = self.storage or FileStorage(self.data_dir)
        ready = threading.Barrier(self.visitors + 1)
        threads = [
            threading.Thread(target=self._visitor, args=(n, ready), daemon=True)
            for n in range(self.visitors)
        ]
        for thread in threads:
            thread.start()
        ready.wait()
        started = time.monotonic()
        try:
            while time.monotonic() - started < self.max_seconds:
                self._sample(storage)
                done = self._downloads_done(storage)
                if done and time.monotonic() - started >= self.min_seconds:
                    break
                time.sleep(0.1)
        finally:
            self.report.seconds = time.monotonic() - started
            self._stop.set()
            for thread in threads:
                thread.join(self.timeout + 5)
        for task_id in self._download_ids:
            task = storage.get_task(task_id)
            if task is not None and task.status is TaskStatus.COMPLETED:
                self.report.downloads_completed += 1
            elif task is not None:
                self.report.downloads_failed.append(f"{task.status.value}: {task.error_message}")
        return self.report

    def _downloads_done(self, storage: StorageInterface) -> bool:
        with self._lock:
            ids = list(self._download_ids)
        return all(
            (t := storage.get_task(i)) is not None and t.status.is_terminal for i in ids
        )

    def _sample(self, storage: StorageInterface) -> None:
        per_user: Counter = Counter()
        for entry in storage.queue_snapshot().processing:
            task = storage.get_task(entry.task_id)
            if task is not None and task.status is TaskStatus.PROCESSING:
                per_user[task.user_id] += 1
        report = self.report
        report.peak_processing = max(report.peak_processing, sum(per_user.values()))
        report.peak_processing_per_user = max([report.peak_processing_per_user, *per_user.values()])
        if self.server_pid:
            report.peak_rss_mb = max(report.peak_rss_mb, tree_rss_mb(self.server_pid))


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (gunicorn master and workers), MiB."""
    total = 0
    for member in [pid, *children(pid)]:
        try:
            with open(f"/proc/{member}/status", encoding="ascii") as handle:
                for line in handle:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text(encoding="ascii", errors="replace")
        except OSError:
            continue
        if int(stat.rpartition(")")[2].split()[1]) == pid:
            found.append(int(entry.name))
    return found
