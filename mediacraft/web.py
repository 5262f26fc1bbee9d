"""The pages: create a task (``/``), my tasks (``/tasks``) and one task (``/tasks/<id>``).

The pages are thin: templates render the frame of each page and the strings
the scripts need (a JSON data block, allowed by the CSP because it is never
executed); ``static/js`` does the work through the JSON API.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, current_app, g, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import NotFound as HTTPNotFound

from .exceptions import NotFound

bp = Blueprint("web", __name__)

STATUS_LABELS = {
    "created": _l("Waiting for upload"),
    "uploaded": _l("Uploaded"),
    "queued": _l("Queued"),
    "processing": _l("Processing"),
    "completed": _l("Completed"),
    "failed": _l("Failed"),
    "cancelled": _l("Cancelled"),
}
TYPE_LABELS = {
    "download": _l("Download"),
    "watermark_removal": _l("Watermark removal"),
    "video_merge": _l("Merge clips"),
    "jianying_draft": _l("JianYing draft"),
}
STAGE_LABELS = {
    "connecting": _l("Connecting"),
    "downloading": _l("Downloading"),
    "recording": _l("Recording the live stream"),
    "remuxing": _l("Writing the MP4 file"),
    "finished": _l("Finishing"),
    "encoding": _l("Encoding"),
    "merging": _l("Merging"),
    "building": _l("Building the draft"),
    "packing": _l("Packing the draft"),
    "uploaded": _l("Uploaded"),
    "waiting": _l("Waiting in the queue"),
    "done": _l("Done"),
    "cancelled": _l("Cancelled"),
}
QUALITY_CHOICES = (
    ("best", _l("Best available")),
    ("1080p", _l("1080p")),
    ("720p", _l("720p")),
    ("480p", _l("480p")),
    ("360p", _l("360p")),
    ("worst", _l("Smallest")),
)
PROFILE_CHOICES = (
    ("stable", _l("Stable — 8 connections, patient retries")),
    ("fast", _l("Fast — 16 connections, few retries")),
    ("low_bandwidth", _l("Low bandwidth — 2 connections, small chunks")),
)


def client_strings() -> dict[str, Any]:
    """Every string the scripts show, in the visitor's language."""
    return {
        "status": {k: str(v) for k, v in STATUS_LABELS.items()},
        "type": {k: str(v) for k, v in TYPE_LABELS.items()},
        "stage": {k: str(v) for k, v in STAGE_LABELS.items()},
        "errors": {
            "generic": _("Something went wrong."),
            "network": _("The server could not be reached. Check your connection and try again."),
            "400": _("The request was not accepted."),
            "403": _("The request was refused."),
            "404": _("The task was not found. It may have been deleted."),
            "409": _("This action is not possible in the task's current state."),
            "413": _("The file is too large, or your storage quota is used up."),
            "415": _("The file type is not supported."),
            "429": _("You have too many waiting tasks. Wait for some to finish."),
            "500": _("The server had a problem. Try again later."),
            "502": _("The source could not be fetched."),
            "503": _("The server is busy. Try again in a few minutes."),
            "details": _("Server message:"),
        },
        "known": {
            "url is required": _("Enter the link of a video or HLS playlist."),
            "url must be an http or https link": _("The link must start with http:// or https://."),
            "is not allowed": _("This address is not allowed (private or local network)."),
            "the uploaded file is empty": _("The uploaded file is empty."),
            "is not a usable video": _("This file is not a video that can be processed."),
            "regions must be a non-empty list": _("Draw at least one rectangle on the frame."),
            "storage quota": _("Your storage quota is used up; delete old tasks."),
            "set record_seconds": _("This link is a live stream: give a recording length."),
            "not a live recording": _("Only a live recording can be stopped."),
            "a merge needs at least": _("Upload at least two clips to merge."),
        },
        "hints": {
            "expired": _("The link may have expired or needs a login. Copy a fresh link from "
                         "the page of the video and create a new task."),
            "network": _("The source was slow or unreachable. Retry the task; if it fails "
                         "again, try the “Stable” or “Low bandwidth” profile."),
            "blocked": _("Only public internet addresses can be downloaded."),
            "media": _("The video could not be processed. Check that the file plays in a "
                       "video player, or convert it to MP4 and try again."),
            "interrupted": _("The server restarted while the task was running. Retry it."),
            "quota": _("Delete old tasks to free space, then retry."),
            "live": _("This link is a live stream. Create the task again with a recording "
                      "length (More options)."),
            "disk": _("The server ran out of disk space or cannot write. Retry later: the "
                      "download resumes where it stopped."),
            "generic": _("Retry the task. If it fails again, create a new task with other "
                         "settings."),
        },
        "confirm_delete": _("Delete this task and its files?"),
        "confirm_delete_selected": _("Delete the selected tasks and their files?"),
        "confirm_cancel": _("Cancel this task?"),
        "confirm_stop": _("Stop the recording now and keep what has been recorded?"),
        "stopping": _("Stopping: the recording is being finished."),
        "audio_tracks": _("Audio"),
        "subtitle_tracks": _("Subtitles"),
        "language_unknown": _("unknown language"),
        "gaps": _("Gaps in the recording: %(count)s (%(segments)s segments missing)",
                  count="{count}", segments="{segments}"),
        "no_tasks": _("You have no tasks yet."),
        "no_match": _("No task matches these filters."),
        "loading": _("Loading…"),
        "page_of": _("Page %(page)s of %(pages)s", page="{page}", pages="{pages}"),
        "total": _("Tasks: %(total)s", total="{total}"),
        "cancel": _("Cancel"),
        "retry": _("Retry"),
        "delete": _("Delete"),
        "download": _("Download"),
        "details": _("Details"),
        "select_task": _("Select %(name)s", name="{name}"),
        "progress_of": _("Progress of %(name)s", name="{name}"),
        "speed": _("Speed"),
        "eta": _("Time left"),
        "segments": _("Segments"),
        "size": _("Size"),
        "queue_position": _("Position in queue"),
        "created_at": _("Created"),
        "deleted": _("Task deleted."),
        "cancelled": _("Task cancelled."),
        "retried": _("Task queued again."),
        "deleted_n": _("Tasks deleted: %(count)s", count="{count}"),
        "uploading": _("Uploading… %(percent)s%%", percent="{percent}"),
        "processing_upload": _("Checking the video…"),
        "uploaded": _("Upload complete."),
        "frame_n": _("Frame %(index)s of %(count)s", index="{index}", count="{count}"),
        "video_info": _("%(width)s×%(height)s, %(fps)s fps, %(duration)s s",
                        width="{width}", height="{height}", fps="{fps}", duration="{duration}"),
        "region": _("Region %(n)s: x %(x)s, y %(y)s, %(w)s×%(h)s",
                    n="{n}", x="{x}", y="{y}", w="{w}", h="{h}"),
        "no_regions": _("No region yet: drag on the frame to draw one."),
        "need_region": _("Draw at least one rectangle on the frame."),
        "need_file": _("Choose a video file first."),
        "need_two": _("Choose at least two clips."),
        "move_up": _("Move %(name)s up", name="{name}"),
        "move_down": _("Move %(name)s down", name="{name}"),
        "remove_region": _("Delete region %(n)s", n="{n}"),
        "creating": _("Creating the task…"),
        "submitting": _("Submitting…"),
        "created": _("Task created."),
        "clip_n": _("Clip %(n)s", n="{n}"),
        "live": _("Live"),
        "result_ready": _("The result is ready."),
        "seconds": _("%(n)s s", n="{n}"),
        "minutes": _("%(m)s min %(s)s s", m="{m}", s="{s}"),
        "hours": _("%(h)s h %(m)s min", h="{h}", m="{m}"),
    }


def _page(template: str, **context: Any) -> str:
    return render_template(template, strings=client_strings(), **context)


@bp.get("/")
def index() -> str:
    config = current_app.config["MEDIACRAFT"]
    return _page(
        "index.html",
        qualities=QUALITY_CHOICES,
        profiles=PROFILE_CHOICES,
        max_upload_mb=config.max_upload_mb,
        max_clips=config.max_clips,
        max_record_minutes=max(1, config.max_record_seconds // 60),
    )


@bp.get("/tasks")
def tasks() -> str:
    return _page(
        "tasks.html",
        status_labels=STATUS_LABELS,
        type_labels=TYPE_LABELS,
        search=request.args.get("search", "")[:200],
        selected_status=request.args.get("status", ""),
        selected_type=request.args.get("type", ""),
    )


@bp.get("/tasks/<task_id>")
def task(task_id: str):  # noqa: ANN201
    service = current_app.extensions["mediacraft"].service
    try:
        record = service.get_owned(g.user_id, task_id)
    except NotFound:
        return not_found()
    return _page(
        "task.html",
        task=service.describe(record),
        type_label=TYPE_LABELS.get(record.task_type, record.task_type),
    )


def not_found(_exc: Exception | None = None):  # noqa: ANN201
    from .api import is_api_request

    if is_api_request():  # keep /api answers in the envelope, as the API's handler does
        from .api import HTTP_MESSAGES
        from .api.envelope import error

        return error(404, HTTP_MESSAGES[404])
    return _page("404.html"), 404


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.register_error_handler(HTTPNotFound, not_found)

    @app.context_processor
    def nav_context() -> dict:
        endpoint = request.endpoint or ""
        return {
            "active_page": endpoint,
            "retention_days": current_app.config["MEDIACRAFT"].retention_days,
        }
