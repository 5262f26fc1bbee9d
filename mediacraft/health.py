"""``/healthz``: is storage writable and is the queue running."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():  # noqa: ANN201
    ext = current_app.extensions["mediacraft"]
    checks: dict[str, object] = {}
    healthy = True
    try:
        snapshot = ext.storage.queue_snapshot()
        checks["storage"] = "ok"
        checks["queued"] = len(snapshot.queued)
        checks["processing"] = len(snapshot.processing)
    except Exception as exc:  # report, don't raise: this is the health check
        checks["storage"] = f"error: {type(exc).__name__}"
        healthy = False
    if ext.queue is not None:
        checks["queue"] = "running" if ext.queue.running else "stopped"
        healthy = healthy and ext.queue.running
    status = "ok" if healthy else "unhealthy"
    return jsonify({"status": status, "checks": checks}), 200 if healthy else 503
