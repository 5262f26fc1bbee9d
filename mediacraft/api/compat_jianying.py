"""The JianYing draft server's task API on top of MediaCraft tasks.

Clients of that server submit ``{ruleGroup, materials: {videos, audios},
draft_config}`` to ``POST /api/tasks/submit`` and poll ``GET /api/tasks/<id>``
or ``GET /api/tasks?status=&limit=``; cancel is MediaCraft's own
``POST /api/tasks/<id>/cancel``. Answers use MediaCraft's envelope; ``data`` is
that server's task shape, its statuses mapped from MediaCraft's:

=========================  ===============
MediaCraft                 answered as
=========================  ===============
created, uploaded, queued  ``pending``
processing, downloading    ``downloading``
processing, other stages   ``processing``
completed/failed/cancelled the same
=========================  ===============

Only UUIDs match ``GET /api/tasks/<id>``, so every other ``/api/tasks/...``
path keeps the answer it had. Another visitor's task is a 404 like a missing one.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, g, request

from ..exceptions import ValidationError
from ..model import Task, TaskStatus
from ..storage import TaskQuery
from .envelope import envelope, json_body

bp = Blueprint("compat_jianying_api", __name__, url_prefix="/api/tasks")

SEED_STATUSES = ("pending", "downloading", "processing", "completed", "failed", "cancelled")
DOWNLOADING_STAGES = {"", "connecting", "downloading", "waiting"}
MAX_LIMIT = 100


def _service():
    return current_app.extensions["mediacraft"].service


def seed_status(task: Task) -> str:
    if task.status in (TaskStatus.CREATED, TaskStatus.UPLOADED, TaskStatus.QUEUED):
        return "pending"
    if task.status is TaskStatus.PROCESSING:
        return "downloading" if task.stage in DOWNLOADING_STAGES else "processing"
    return task.status.value


def seed_task(task: Task) -> dict[str, Any]:
    """A task in the draft server's shape (any task type; drafts carry their materials)."""
    detail = task.progress_detail or {}
    progress = detail.get("materials")
    result = task.result or {}
    draft = result.get("draft") or {}
    return {
        "task_id": task.task_id,
        "task_type": task.task_type,
        "name": task.name,
        "status": seed_status(task),
        "ruleGroup": task.metadata.get("rule_group"),
        "progress": progress,
        "files": detail.get("files"),
        "draft_path": draft.get("path"),
        "error_message": task.error_message,
        "error_reason": task.error_reason,
        "created_at": task.created_at,
        "updated_at": task.updated_at,
        "completed_at": task.completed_at,
        "download_url": (
            f"/api/tasks/{task.task_id}/download" if task.status is TaskStatus.COMPLETED else None
        ),
    }


@bp.post("/submit")
def submit():
    body = json_body()
    payload: dict[str, Any] = {
        "task_type": "jianying_draft",
        "materials": body.get("materials"),
        "draft_config": body.get("draft_config") if "draft_config" in body else {},
    }
    rule_group = body.get("ruleGroup")
    if rule_group is not None:
        if not isinstance(rule_group, dict):
            raise ValidationError("ruleGroup must be an object")
        payload["ruleGroup"] = rule_group
        title = rule_group.get("title")
        if isinstance(title, str) and title.strip():
            payload["name"] = title.strip()[:200]
    if isinstance(body.get("name"), str):
        payload["name"] = body["name"]
    task = _service().create(g.user_id, payload)
    return envelope(
        {"task_id": task.task_id, "status": seed_status(task)}, message="Task submitted"
    )


@bp.get("/<uuid:task_id>")
def show(task_id: object):
    return envelope(seed_task(_service().get_owned(g.user_id, str(task_id))))


@bp.get("")
def listing():
    wanted = request.args.get("status", "")
    if wanted and wanted not in SEED_STATUSES:
        raise ValidationError(f"status must be one of {', '.join(SEED_STATUSES)}")
    try:
        limit = int(request.args.get("limit", 20))
    except ValueError:
        raise ValidationError("limit must be a whole number") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationError(f"limit must be between 1 and {MAX_LIMIT}")
    statuses = {
        "pending": ("created", "uploaded", "queued"),
        "downloading": ("processing",),
        "processing": ("processing",),
    }.get(wanted, (wanted,) if wanted else ())
    fetch = MAX_LIMIT if wanted in ("downloading", "processing") else limit
    page = _service().list_tasks(g.user_id, TaskQuery(status=statuses, limit=fetch))
    tasks = [t for t in page.tasks if not wanted or seed_status(t) == wanted][:limit]
    return envelope({"tasks": [seed_task(t) for t in tasks], "total": len(tasks)})


__all__ = ["bp", "seed_status", "seed_task"]
