"""``/healthz``: can storage be read *and written*, is there room, is the queue running.

With PostgreSQL it also shows the database's state: reachable, schema
version, round-trip time and this process's connection pool.

A check that only reads calls a full or read-only disk healthy; this one
writes (and removes) a small file in the data directory and measures the
free space. Any problem answers 503 with ``reason`` saying which.
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from ..diskspace import MiB, free_bytes, problem

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    ext = current_app.extensions["mediacraft"]
    checks: dict[str, object] = {}
    reasons: list[str] = []
    try:
        snapshot = ext.storage.queue_snapshot()
        checks["storage"] = "ok"
        checks["queued"] = len(snapshot.queued)
        checks["processing"] = len(snapshot.processing)
    except Exception as exc:  # report, don't raise: this is the health check
        checks["storage"] = f"error: {type(exc).__name__}"
        reasons.append(f"the task storage cannot be read ({type(exc).__name__})")
    try:
        database = ext.storage.database_state()
    except Exception as exc:  # the message says "unavailable", never where the database is
        database = {"database": f"error: {type(exc).__name__}"}
        reasons.append("the database cannot be reached")
    if database is not None:
        checks.update(database)
    disk = problem(ext.config.data_dir, ext.config.min_free_mb)
    checks["disk"] = disk or "ok"
    if disk:
        reasons.append(disk)
    else:
        checks["free_mb"] = free_bytes(ext.config.data_dir) // MiB
    if ext.queue is not None:
        checks["queue"] = "running" if ext.queue.running else "stopped"
        if not ext.queue.running:
            reasons.append("the task queue is stopped")
    if ext.streams is not None:
        checks["event_streams"] = f"{ext.streams.total}/{ext.streams.limit}"
    body: dict[str, object] = {"status": "unhealthy" if reasons else "ok", "checks": checks}
    if reasons:
        body["reason"] = "; ".join(reasons)
    return jsonify(body), 503 if reasons else 200
