"""``/api/tasks/{id}/upload`` and ``/api/tasks/{id}/frame``."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, g, request

from ..exceptions import ValidationError
from ..uploads import accept_uploads, receiving
from .envelope import envelope

bp = Blueprint("media_api", __name__, url_prefix="/api/tasks")


@bp.post("/<task_id>/upload")
def upload(task_id: str):
    ext = current_app.extensions["mediacraft"]
    task = ext.service.get_owned(g.user_id, task_id)  # 404 before the body is read
    with receiving(ext.config, g.user_id, request):
        files = request.files.getlist("file")
        task = accept_uploads(ext.storage, ext.config, task, files)
    return envelope(ext.service.describe(task), message="Upload accepted")


def int_arg(name: str, minimum: int = 0, default: int | None = None) -> int | None:
    """An integer query parameter (``default`` when absent); a 400 naming it when malformed."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError(f"{name} must be an integer") from None
    if value < minimum:
        raise ValidationError(f"{name} must be at least {minimum}")
    return value


@bp.get("/<task_id>/frame")
def frame(task_id: str) -> Response:
    ext = current_app.extensions["mediacraft"]
    task = ext.service.get_owned(g.user_id, task_id)
    if not task.inputs:
        raise ValidationError("This task has no uploaded video yet")
    clip = int_arg("clip") or 0
    if clip >= len(task.inputs):
        raise ValidationError(f"clip must be between 0 and {len(task.inputs) - 1}")
    index = int_arg("index")
    t_raw = request.args.get("t")
    t = None
    if t_raw not in (None, ""):
        try:
            t = float(t_raw)
        except ValueError:
            raise ValidationError("t must be a number of seconds") from None
        if not t >= 0:
            raise ValidationError("t must be at least 0")
    max_width = int_arg("max_width", minimum=16)
    jpeg = ext.frames.frame(
        g.user_id, task.inputs[clip]["path"], index=index, t=t, max_width=max_width
    )
    response = Response(jpeg, mimetype="image/jpeg")
    response.headers["Cache-Control"] = "private, max-age=3600"
    response.vary.add("Cookie")
    return response
