"""``GET /metrics``: Prometheus' text format, off unless ``MEDIACRAFT_METRICS=true``.

Two kinds of figure, each counted where it is right under many processes:

* The state of the whole installation (tasks by state and type, queue depth,
  the oldest waiting task's wait) is read from storage at scrape time, so any
  web process on any host answers the same.
* Events (claims, failures by reason, bytes downloaded, the wait of each
  claimed task) happen in whichever process ran the task. They are counted
  with ``prometheus_client``'s multiprocess mode: each process of a host
  (gunicorn workers and ``mediacraft worker`` processes alike) writes its own
  file in one directory of that host, and a scrape sums them. Scrape every
  host that runs workers, as for any multi-host service. The files outlive
  their processes, so the totals do not drop when a process restarts.
* Running ffmpeg processes are counted at scrape time among the children of
  this host's MediaCraft processes.

The endpoint asks for ``Authorization: Bearer <MEDIACRAFT_METRICS_TOKEN>``:
a visitor's browser, which has only its cookie, gets 401.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request

from .config import Config, export_library_setting
from .model import parse_time

log = logging.getLogger(__name__)

ENV = "PROMETHEUS_MULTIPROC_DIR"
_counters: dict[str, Any] = {}
_directory: str | None = None  # the multiprocess directory in force in this process


def metrics_dir(config: Config) -> Path:
    """This host's directory of per-process metric files (local disk: the files are mmapped)."""
    if config.metrics_dir:
        return Path(config.metrics_dir)
    key = hashlib.sha256(f"{config.data_dir.resolve()}|{config.node}".encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"mediacraft-metrics-{key}"


def enable(config: Config) -> None:
    """Turn on event counting in this process (before anything imports prometheus_client)."""
    global _directory
    if _counters or not config.metrics:
        return
    directory = Path(export_library_setting(ENV, str(metrics_dir(config))))
    directory.mkdir(parents=True, exist_ok=True)
    _directory = str(directory)
    from prometheus_client import Counter, Histogram

    _counters.update(
        claims=Counter("mediacraft_claims", "Tasks claimed by this host's workers", ["type"]),
        failures=Counter(
            "mediacraft_task_failures", "Task runs that failed, by reason", ["type", "reason"]
        ),
        download_bytes=Counter("mediacraft_download_bytes", "Bytes fetched by downloads"),
        wait=Histogram(
            "mediacraft_queue_wait_seconds", "Time claimed tasks waited in the queue",
            buckets=(0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, float("inf")),
        ),  # fmt: skip
    )


def count_claim(task_type: str, queued_at: str | None) -> None:
    if not _counters:
        return
    _counters["claims"].labels(type=task_type).inc()
    queued = parse_time(queued_at)
    if queued is not None:
        from datetime import datetime, timezone

        waited = (datetime.now(timezone.utc) - queued).total_seconds()
        _counters["wait"].observe(max(0.0, waited))


def count_failure(task_type: str, reason: str) -> None:
    if _counters:
        _counters["failures"].labels(type=task_type, reason=reason).inc()


def count_download_bytes(amount: int) -> None:
    if _counters and amount > 0:
        _counters["download_bytes"].inc(amount)


# --- scrape ------------------------------------------------------------------------
bp = Blueprint("metrics", __name__)


def _authorised() -> bool:
    token = current_app.config["MEDIACRAFT"].metrics_token
    given = request.headers.get("Authorization", "")
    scheme, _, value = given.partition(" ")
    return scheme.lower() == "bearer" and bool(token) and hmac.compare_digest(value, token)


@bp.get("/metrics")
def metrics() -> Response:
    if not _authorised():
        return Response("A bearer token is required\n", 401, {"WWW-Authenticate": "Bearer"},
                        mimetype="text/plain")  # fmt: skip
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    directory = _directory
    if directory and Path(directory).is_dir():
        from prometheus_client.multiprocess import MultiProcessCollector

        MultiProcessCollector(registry, path=directory)
    registry.register(_StateCollector(current_app.extensions["mediacraft"], directory))
    response = Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
    response.headers["Cache-Control"] = "no-store"
    return response


class _StateCollector:
    """Installation-wide gauges read from storage, and this host's running ffmpeg."""

    def __init__(self, ext: Any, directory: str | None) -> None:
        self.ext = ext
        self.directory = directory

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        tasks = GaugeMetricFamily("mediacraft_tasks", "Stored tasks by state and type",
                                  labels=["state", "type"])  # fmt: skip
        for (state, task_type), count in sorted(self.ext.storage.task_counts().items()):
            tasks.add_metric([state, task_type], count)
        yield tasks
        snapshot = self.ext.storage.queue_snapshot()
        yield GaugeMetricFamily("mediacraft_queue_depth", "Tasks waiting in the queue",
                                value=len(snapshot.queued))  # fmt: skip
        yield GaugeMetricFamily("mediacraft_processing", "Tasks being processed, all hosts",
                                value=len(snapshot.processing))  # fmt: skip
        oldest = min((e.queued_at for e in snapshot.queued if e.queued_at), default=None)
        wait = 0.0
        if oldest and (queued := parse_time(oldest)) is not None:
            wait = max(0.0, time.time() - queued.timestamp())
        yield GaugeMetricFamily("mediacraft_queue_oldest_wait_seconds",
                                "How long the longest-waiting task has waited", value=wait)
        yield GaugeMetricFamily("mediacraft_ffmpeg_processes",
                                "ffmpeg processes of this host's MediaCraft processes",
                                value=running_ffmpeg(self.directory))  # fmt: skip


def _metric_pids(directory: str | None) -> set[int]:
    pids = {os.getpid()}
    if directory:
        for path in Path(directory).glob("*.db"):
            match = re.search(r"_(\d+)\.db$", path.name)
            if match:
                pids.add(int(match.group(1)))
    return pids


def running_ffmpeg(directory: str | None) -> int:
    """ffmpeg processes whose parent is one of this host's MediaCraft processes."""
    parents = _metric_pids(directory)
    count = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="ascii", errors="replace") as handle:
                stat = handle.read()
        except OSError:
            continue
        name = stat[stat.find("(") + 1 : stat.rfind(")")]
        fields = stat.rpartition(")")[2].split()
        if name.startswith("ffmpeg") and len(fields) > 1 and int(fields[1]) in parents:
            count += 1
    return count


def init_app(app: Flask, config: Config) -> None:
    if config.metrics:
        enable(config)
        app.register_blueprint(bp)


__all__ = ["count_claim", "count_download_bytes", "count_failure", "enable", "init_app"]
