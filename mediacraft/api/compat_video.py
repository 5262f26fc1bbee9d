"""``/api/video/*``: the older synchronous-looking video API, as thin adapters over tasks.

The endpoints keep the shape older clients were written against, but every
one of them works on a task. A "video" is a ``watermark_removal`` task
(``video_id`` is its ``task_id``); quick operations (metadata, a frame)
answer synchronously, long ones (watermark removal, merge) queue the task and
the client polls ``/api/video/status/{task_id}``.

Answers use the envelope; ownership is the task API's (another visitor's id
is a 404 exactly like a missing one).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, g, request

from ..exceptions import InvalidTransition, ValidationError
from ..model import Task, TaskStatus
from ..uploads import accept_uploads, receiving
from . import media as media_api
from . import tasks as tasks_api
from .envelope import envelope, json_body

bp = Blueprint("compat_video", __name__, url_prefix="/api/video")

METADATA_FIELDS = ("duration", "fps", "width", "height", "frame_count")


def _ext():
    return current_app.extensions["mediacraft"]


def _files() -> list:
    """The multipart ``file`` parts (reading the form enforces the size limit: 413)."""
    return [f for f in request.files.getlist("file") if f and (f.filename or f.content_length)]


def _create_with_uploads(task_type: str, files: list, configure: dict[str, Any] | None) -> Task:
    """Create a task, store ``files`` on it and optionally configure it; all or nothing.

    If any step fails (not a video, quota, queue full, bad order …) the task
    and its files are deleted before the error is answered.
    """
    ext = _ext()
    name = request.form.get("name", "")
    task = ext.service.create(g.user_id, {"task_type": task_type, "name": name})
    try:
        task = accept_uploads(ext.storage, ext.config, task, files)
        if configure is not None:
            task = ext.service.configure(g.user_id, task.task_id, configure)
    except BaseException:
        try:
            ext.service.delete(g.user_id, task.task_id)
        except Exception:  # the original error matters more
            current_app.logger.exception("could not remove task %s", task.task_id)
        raise
    return task


def _video(video_id: str) -> Task:
    """The caller's task that holds an uploaded video (404 / 400 otherwise)."""
    task = _ext().service.get_owned(g.user_id, video_id)
    if not task.inputs or not task.metadata.get("media"):
        raise ValidationError("This task has no uploaded video yet")
    return task


def video_metadata(task: Task) -> dict[str, Any]:
    media = task.metadata.get("media") or {}
    return {name: media.get(name) for name in METADATA_FIELDS}


def video_status(task: Task) -> dict[str, Any]:
    """The status shape of the older API (plus the queue position while waiting)."""
    described = _ext().service.describe(task)
    return {
        "task_id": task.task_id,
        "status": task.status.value,
        "progress": task.progress,
        "stage": task.stage,
        "error_message": task.error_message,
        "queue_position": described["queue_position"],
        "result_url": f"/api/video/result/{task.task_id}"
        if task.status is TaskStatus.COMPLETED
        else None,
    }


@bp.post("/upload")
def upload():
    with receiving(_ext().config, g.user_id, request):
        files = _files()
        if not files:
            raise ValidationError("Send the video in the multipart field 'file'")
        if len(files) > 1:
            raise ValidationError("Send one video; use /api/video/merge for several clips")
        task = _create_with_uploads("watermark_removal", files, None)
    return envelope(
        {
            "video_id": task.task_id,
            "task_id": task.task_id,
            "filename": task.original_filename,
            "status": task.status.value,
            "metadata": video_metadata(task),
        },
        message="Video uploaded",
    )


@bp.get("/<video_id>/info")
def info(video_id: str):
    task = _video(video_id)
    return envelope(
        {
            "video_id": task.task_id,
            "task_id": task.task_id,
            "filename": task.original_filename,
            "status": task.status.value,
            "metadata": video_metadata(task),
        }
    )


@bp.get("/<video_id>/frame")
def frame_by_query(video_id: str) -> Response:
    """``?index=N`` or ``?t=seconds``: the task API's frame endpoint."""
    return media_api.frame(video_id)


@bp.get("/<video_id>/frame/<int:index>")
def frame(video_id: str, index: int) -> Response:
    task = _video(video_id)
    t = request.args.get("t")
    if t not in (None, ""):
        return media_api.frame(video_id)  # ?t= wins over the index in the path
    jpeg = _ext().frames.frame(g.user_id, task.inputs[0]["path"], index=index)
    response = Response(jpeg, mimetype="image/jpeg")
    response.headers["Cache-Control"] = "private, max-age=3600"
    response.vary.add("Cookie")
    return response


def _region(value: Any) -> Any:
    """``[x, y, w, h]`` as is; ``{x, y, w|width, h|height}`` (older clients) as a list."""
    if isinstance(value, dict):
        try:
            return [
                value["x"],
                value["y"],
                value["w"] if "w" in value else value["width"],
                value["h"] if "h" in value else value["height"],
            ]
        except KeyError:
            return value  # validation names the region
    return value


@bp.post("/<video_id>/remove-watermark")
def remove_watermark(video_id: str):
    ext = _ext()
    body = json_body()
    task = ext.service.get_owned(g.user_id, video_id)
    if task.task_type != "watermark_removal":
        raise InvalidTransition(f"This is a {task.task_type} task, not a watermark removal")
    regions = body.get("regions")
    if isinstance(regions, list):
        regions = [_region(region) for region in regions]
    payload = {"selected_frame": body.get("selected_frame", 0), "regions": regions}
    task = ext.service.configure(g.user_id, video_id, payload)
    return envelope(video_status(task), message="Watermark removal queued")


def _order(raw: str | None, count: int) -> list[int] | None:
    if raw is None or not raw.strip():
        return None
    try:
        order = [int(part) for part in raw.replace(" ", "").split(",")]
    except ValueError:
        raise ValidationError("order must be comma-separated clip indexes, e.g. 2,0,1") from None
    if sorted(order) != list(range(count)):
        raise ValidationError(f"order must list each clip index from 0 to {count - 1} exactly once")
    return order


@bp.post("/merge")
def merge():
    with receiving(_ext().config, g.user_id, request):
        files = _files()
        if len(files) < 2:
            raise ValidationError(
                "A merge needs at least 2 clips in the multipart field 'file'",
                reason="too_few_clips",
            )
        limit = _ext().config.max_clips
        if len(files) > limit:
            raise ValidationError(f"A merge takes at most {limit} clips; {len(files)} sent")
        order = _order(request.form.get("order"), len(files))
        payload: dict[str, Any] = {} if order is None else {"order": order}
        task = _create_with_uploads("video_merge", files, payload)
    return envelope(video_status(task), message="Merge queued")


@bp.get("/status/<task_id>")
def status(task_id: str):
    return envelope(video_status(_ext().service.get_owned(g.user_id, task_id)))


@bp.get("/result/<task_id>")
def result(task_id: str) -> Response:
    return tasks_api.download(task_id)
