"""``/api/tasks/{id}/suggested-regions`` and ``/api/tasks/{id}/preview``.

Both look at the uploaded video synchronously, like a frame extraction, and
share its time limit and rate limit (``FRAME_SECONDS``, ``FRAMES_PER_MINUTE``).
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, current_app, g, request

from ..exceptions import ValidationError
from ..processors.watermark import validate_regions
from ..restore import validate_method
from .envelope import envelope
from .media import int_arg

bp = Blueprint("restore_api", __name__, url_prefix="/api/tasks")


def _watermark_input(task_id: str):
    ext = current_app.extensions["mediacraft"]
    task = ext.service.get_owned(g.user_id, task_id)
    if task.task_type != "watermark_removal":
        raise ValidationError("Only a watermark removal task has logo regions and previews")
    if not task.inputs:
        raise ValidationError("This task has no uploaded video yet")
    return ext, task, task.inputs[0]


@bp.get("/<task_id>/suggested-regions")
def suggested_regions(task_id: str):
    ext, _, item = _watermark_input(task_id)
    regions = ext.frames.suggestions(g.user_id, item["path"])
    return envelope({"regions": regions})


def _regions_arg(raw: str | None, fallback: object) -> object:
    """``regions`` as JSON (``[[x,y,w,h],…]``) or ``x,y,w,h;x,y,w,h``; else the config's."""
    if raw is None or raw == "":
        return fallback
    try:
        if raw.lstrip().startswith("["):
            return json.loads(raw)
        return [[int(v) for v in part.split(",")] for part in raw.split(";") if part.strip()]
    except ValueError:
        raise ValidationError("regions must be [[x, y, w, h], …] or x,y,w,h;x,y,w,h") from None


@bp.get("/<task_id>/preview")
def preview(task_id: str) -> Response:
    ext, task, item = _watermark_input(task_id)
    media = item.get("media") or {}
    index = int_arg("frame", default=task.config.get("selected_frame", 0))
    regions = validate_regions(
        _regions_arg(request.args.get("regions"), task.config.get("regions")),
        int(media.get("width") or 0),
        int(media.get("height") or 0),
    )
    method = validate_method(request.args.get("method") or task.config.get("method"))
    max_width = int_arg("max_width", minimum=16)
    jpeg = ext.frames.preview(
        g.user_id, item["path"], index=index, regions=regions, method=method, max_width=max_width
    )
    response = Response(jpeg, mimetype="image/jpeg")
    response.headers["Cache-Control"] = "private, max-age=600"
    response.vary.add("Cookie")
    return response
