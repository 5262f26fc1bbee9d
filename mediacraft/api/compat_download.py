"""The older download API (``/api/download/*``), on top of tasks.

Request: ``{"url", "name"?, "quality"?, "output_dir"? (ignored: never a path)}``.
Its answers keep the shapes the first clients were written against, not the
envelope: that is their contract.
"""

from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, request

from ..exceptions import ValidationError
from ..model import Task, TaskStatus
from ..storage import TaskQuery

bp = Blueprint("compat_download", __name__, url_prefix="/api/download")

SEED_STATUS = {
    TaskStatus.CREATED: "pending",
    TaskStatus.UPLOADED: "pending",
    TaskStatus.QUEUED: "pending",
    TaskStatus.PROCESSING: "downloading",
    TaskStatus.COMPLETED: "completed",
    TaskStatus.FAILED: "failed",
    TaskStatus.CANCELLED: "cancelled",
}


def _service():
    return current_app.extensions["mediacraft"].service


def _human_speed(speed: float | None) -> str | None:
    if not speed:
        return None
    for unit in ("B/s", "KB/s", "MB/s", "GB/s"):
        if speed < 1024 or unit == "GB/s":
            return f"{speed:.1f} {unit}"
        speed /= 1024
    return None


def _hms(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    seconds = int(seconds)
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def seed_status(task: Task) -> dict:
    detail = task.progress_detail or {}
    return {
        "task_id": task.task_id,
        "name": task.name,
        "url": task.url,
        "status": SEED_STATUS[task.status],
        "progress": int(task.progress),
        "downloaded_segments": detail.get("segments_done"),
        "total_segments": detail.get("segments_total"),
        "current_file": detail.get("current_file"),
        "speed": _human_speed(detail.get("speed")),
        "eta": _hms(detail.get("eta")),
        "message": task.error_message or detail.get("message") or task.stage or "",
        "created_at": task.created_at,
        "started_at": task.started_at,
        "completed_at": task.completed_at,
        "output_path": f"/api/tasks/{task.task_id}/download"
        if task.status is TaskStatus.COMPLETED
        else None,
    }


@bp.post("/create")
def create():
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationError("The request body must be a JSON object with a url")
    options = dict(body.get("options") or {})
    if body.get("quality"):
        options["quality"] = body["quality"]
    payload = {"task_type": "download", "url": body.get("url"), "name": body.get("name")}
    payload["options"] = options
    task = _service().create(g.user_id, payload)
    return jsonify(
        {"task_id": task.task_id, "status": SEED_STATUS[task.status], "created_at": task.created_at}
    ), 201


@bp.get("/status/<task_id>")
def status(task_id: str):
    return jsonify(seed_status(_service().get_owned(g.user_id, task_id)))


@bp.get("/list")
def list_tasks():
    page = _service().list_tasks(g.user_id, TaskQuery(task_type="download", limit=1000))
    return jsonify({"tasks": [seed_status(t) for t in page.tasks], "total": page.total})


@bp.post("/cancel/<task_id>")
def cancel(task_id: str):
    task = _service().cancel(g.user_id, task_id)
    return jsonify({"task_id": task.task_id, "status": SEED_STATUS[task.status]})


@bp.post("/retry/<task_id>")
def retry(task_id: str):
    task = _service().retry(g.user_id, task_id)
    return jsonify({"task_id": task.task_id, "status": SEED_STATUS[task.status]})
