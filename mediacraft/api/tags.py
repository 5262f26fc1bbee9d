"""``/api/tasks/{id}/tags``: add and remove the visitor's tags on a task."""

from __future__ import annotations

from flask import Blueprint, current_app, g

from ..tags import MAX_TAG_LENGTH, MAX_TAGS, add_tag, remove_tag
from .envelope import envelope, json_body
from .openapi import EXTRA_PATHS, TASK, TASK_ID, op

bp = Blueprint("tags_api", __name__, url_prefix="/api/tasks")


@bp.post("/<task_id>/tags")
def add(task_id: str):
    ext = current_app.extensions["mediacraft"]
    task = ext.service.get_owned(g.user_id, task_id)
    task = add_tag(ext.storage, task, json_body().get("tag"))
    return envelope(ext.service.describe(task), message="Tag added")


@bp.route("/<task_id>/tags/<path:tag>", methods=["DELETE"])
def remove(task_id: str, tag: str):
    ext = current_app.extensions["mediacraft"]
    task = ext.service.get_owned(g.user_id, task_id)
    task = remove_tag(ext.storage, task, tag)
    return envelope(ext.service.describe(task), message="Tag removed")


EXTRA_PATHS.update(
    {
        "/api/tasks/{task_id}/tags": {
            "post": op(
                f"Add a tag (1 to {MAX_TAG_LENGTH} characters, at most {MAX_TAGS} per task; "
                "adding one the task has, in any case, changes nothing)",
                "tasks",
                params=[TASK_ID],
                body={
                    "type": "object",
                    "required": ["tag"],
                    "properties": {"tag": {"type": "string", "maxLength": MAX_TAG_LENGTH}},
                },
                data=TASK,
            )
        },
        "/api/tasks/{task_id}/tags/{tag}": {
            "delete": op(
                "Remove a tag (compared without case)",
                "tasks",
                params=[
                    TASK_ID,
                    {"name": "tag", "in": "path", "required": True, "schema": {"type": "string"}},
                ],
                data=TASK,
            )
        },
    }
)
