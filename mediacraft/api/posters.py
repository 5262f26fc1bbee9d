"""``/api/tasks/{id}/poster``: the finished result's poster frame (owner only)."""

from __future__ import annotations

from flask import Blueprint, current_app, g, send_file

from ..exceptions import NotFound
from ..model import TaskStatus
from ..paths import TaskPaths
from ..posters import poster_file
from .openapi import EXTRA_PATHS, JPEG, TASK_ID, op, query

bp = Blueprint("posters_api", __name__, url_prefix="/api/tasks")

# A poster never changes for a result (a retry makes a new one, and the URL
# carries the completion time), so the browser may keep it for a day; it is
# private to the visitor, so no shared cache may.
POSTER_MAX_AGE = 86400


@bp.get("/<task_id>/poster")
def poster(task_id: str):
    service = current_app.extensions["mediacraft"].service
    task = service.get_owned(g.user_id, task_id)
    path = None
    if task.status is TaskStatus.COMPLETED:
        path = poster_file(TaskPaths.of(service.config.data_dir, task).result_dir, task.result)
    if path is None:
        raise NotFound("This task has no poster")
    response = send_file(path, mimetype="image/jpeg", conditional=True, etag=True)
    response.headers["Cache-Control"] = f"private, max-age={POSTER_MAX_AGE}"
    response.vary.add("Cookie")
    return response


EXTRA_PATHS.update(
    {
        "/api/tasks/{task_id}/poster": {
            "get": op(
                "The finished result's poster (JPEG, ~320 px wide, a frame from about 10 % in); "
                "404 for an unfinished task or a result without video (result.has_video false)",
                "tasks",
                params=[TASK_ID, query("v", {"type": "string"}, "cache key from poster_url")],
                raw=JPEG,
            )
        }
    }
)
