"""``/api/tasks``: create, inspect, configure, cancel, retry, delete, download."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

from flask import Blueprint, current_app, g, request, send_file

from ..exceptions import NotFound
from ..model import TaskStatus
from ..paths import TaskPaths
from ..tasklog import read_log
from .envelope import envelope, json_body

bp = Blueprint("tasks_api", __name__, url_prefix="/api/tasks")


def _service():
    return current_app.extensions["mediacraft"].service


@bp.post("/create")
def create():
    service = _service()
    task = service.create(g.user_id, json_body())
    return envelope(
        {"task_id": task.task_id, "task": service.describe(task)},
        code=201,
        message="Task created",
    )


@bp.get("/<task_id>/status")
def status(task_id: str):
    service = _service()
    return envelope(service.describe(service.get_owned(g.user_id, task_id)))


@bp.post("/<task_id>/config")
def config(task_id: str):
    service = _service()
    task = service.configure(g.user_id, task_id, json_body())
    return envelope(service.describe(task), message="Task queued")


@bp.post("/<task_id>/cancel")
def cancel(task_id: str):
    service = _service()
    return envelope(service.describe(service.cancel(g.user_id, task_id)), message="Task cancelled")


@bp.post("/<task_id>/stop")
def stop(task_id: str):
    service = _service()
    task = service.stop(g.user_id, task_id)
    return envelope(service.describe(task), message="Stopping: the recording is being finished")


@bp.get("/<task_id>/log")
def task_log(task_id: str):
    service = _service()
    task = service.get_owned(g.user_id, task_id)
    return envelope(read_log(TaskPaths.of(service.config.data_dir, task).log_file))


@bp.post("/<task_id>/retry")
def retry(task_id: str):
    service = _service()
    return envelope(service.describe(service.retry(g.user_id, task_id)), message="Task queued")


@bp.route("/<task_id>", methods=["DELETE"])
@bp.post("/<task_id>/delete")
def delete(task_id: str):
    _service().delete(g.user_id, task_id)
    return envelope({"task_id": task_id, "deleted": True}, message="Task deleted")


MIMETYPES = {".mp4": "video/mp4", ".m4a": "audio/mp4", ".vtt": "text/vtt"}


@bp.get("/<task_id>/download")
def download(task_id: str):
    service = _service()
    task = service.get_owned(g.user_id, task_id)
    path = None
    if task.status is TaskStatus.COMPLETED:
        paths = TaskPaths.of(service.config.data_dir, task)
        wanted = request.args.get("file")
        path = paths.extra_file(task, wanted) if wanted else paths.result_file(task)
    if path is None:
        raise NotFound("This task has no result to download")
    mimetype = MIMETYPES.get(path.suffix.lower(), "application/octet-stream")
    response = send_file(path, mimetype=mimetype, conditional=True, max_age=0)
    name = download_name(task.name, path.suffix or ".mp4")
    if path.name != (task.result or {}).get("file_name"):  # a further part or subtitles
        tail = path.name.split(".", 1)[1] if "." in path.name else path.name
        name = download_name(task.name, "." + tail)
    response.headers["Content-Disposition"] = content_disposition(name)
    response.headers["Cache-Control"] = "private, max-age=0"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.vary.add("Cookie")
    return response


def content_disposition(name: str) -> str:
    """``attachment`` with an ASCII ``filename`` fallback and the UTF-8 ``filename*``.

    Werkzeug's fallback drops non-ASCII letters, which turns ``视频.mp4`` into
    the hidden-file name ``.mp4`` for clients that only read ``filename``.
    """
    stem, dot, suffix = name.rpartition(".")
    ascii_stem = (
        unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode().strip(" ._")
    )
    ascii_stem = re.sub(r'["\\;]+', "_", ascii_stem) or "mediacraft-result"
    fallback = f"{ascii_stem}{dot}{suffix}"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')


def download_name(name: str, suffix: str) -> str:
    """A file name for Content-Disposition derived from the task's display name.

    Only display text: path separators, control and reserved characters are
    replaced; non-ASCII stays (werkzeug adds an RFC 5987 ``filename*``).
    """
    base = unicodedata.normalize("NFC", name or "")
    base = _UNSAFE.sub("_", base).strip(" ._")[:120]
    if base.lower().endswith(suffix.lower()):
        base = base[: -len(suffix)]
    return f"{base or 'mediacraft-result'}{suffix}"
