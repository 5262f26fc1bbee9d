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

from ..exceptions import NotFound
from ..processors.merge import MIN_CLIPS
from ..processors.watermark import MAX_REGIONS, MIN_REGION_SIZE

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
}
STAGE_LABELS = {
    "connecting": _l("Connecting"),
    "downloading": _l("Downloading"),
    "recording": _l("Recording the live stream"),
    "remuxing": _l("Writing the MP4 file"),
    "finished": _l("Finishing"),
    "encoding": _l("Encoding"),
    "merging": _l("Merging"),
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

REASON_MESSAGES = {
    "url_required": _l("Enter a link: a page with a video, a playlist or a video file."),
    "bad_url": _l("The link must start with http:// or https://."),
    "blocked_address": _l("This address is not allowed (private or local network)."),
    "empty_file": _l("The uploaded file is empty."),
    "not_a_video": _l("This file is not a video that can be processed."),
    "no_regions": _l("Draw at least one rectangle on the frame."),
    "quota": _l("Your storage quota is used up; delete old tasks."),
    "live_needs_length": _l("This link is a live stream: give a recording length."),
    "not_live": _l("Only a live recording can be stopped."),
    "too_few_clips": _l("Upload at least two clips to merge."),
    "bad_tag": _l("A tag has 1 to 40 characters."),
    "too_many_tags": _l("A task has at most 20 tags; remove one first."),
}
_EXPIRED = _l("The link may have expired or needs a login. Copy a fresh link from the page "
              "of the video and create a new task.")  # fmt: skip
_NETWORK = _l("The source was slow or unreachable. Retry the task; if it fails again, try "
              "the “Stable” or “Low bandwidth” profile.")  # fmt: skip
_MEDIA = _l("The video could not be processed. Check that the file plays in a video player, "
            "or convert it to MP4 and try again.")  # fmt: skip
FAILURE_HINTS = {
    "http_error": _EXPIRED,
    "network": _NETWORK,
    "timeout": _NETWORK,
    "blocked_address": _l("Only public internet addresses can be downloaded."),
    "bad_url": _l("Only public internet addresses can be downloaded."),
    "media_failed": _MEDIA,
    "not_a_video": _MEDIA,
    "interrupted": _l("The server restarted while the task was running. Retry it."),
    "quota": _l("Delete old tasks to free space, then retry."),
    "live_needs_length": _l("This link is a live stream. Create the task again with a "
                            "recording length (More options)."),  # fmt: skip
    "disk": _l("The server ran out of disk space or cannot write. Retry later: the download "
               "resumes where it stopped."),  # fmt: skip
    "drm": _l("This stream is protected (DRM) and cannot be downloaded."),
    "no_video": _l("No video was found on this page. Paste the link of the video itself, or "
                   "of its playlist."),
    "generic": _l("Retry the task. If it fails again, create a new task with other settings."),
}


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
        # what the page says for an API refusal, by the error's reason
        "reasons": {k: str(v) for k, v in REASON_MESSAGES.items()},
        # the hint under a failed task, by its error_reason ("generic" for any other)
        "hints": {k: str(v) for k, v in FAILURE_HINTS.items()},
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


def _page(template: str, data: dict[str, Any] | None = None, **context: Any) -> str:
    """Render ``template``; ``data`` joins the strings in the page's JSON data block."""
    return render_template(template, strings={**client_strings(), **(data or {})}, **context)


@bp.get("/")
def index() -> str:
    config = current_app.config["MEDIACRAFT"]
    limits = {  # what the server enforces, so the page need not repeat it
        "max_regions": MAX_REGIONS,
        "min_region_size": MIN_REGION_SIZE,
        "min_clips": MIN_CLIPS,
        "max_clips": config.max_clips,
    }
    return _page(
        "index.html",
        {"limits": limits},
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
def task(task_id: str):
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


def not_found(_exc: Exception | None = None):
    from ..api import is_api_request

    if is_api_request():  # keep /api answers in the envelope, as the API's handler does
        from ..api import HTTP_MESSAGES
        from ..api.envelope import error

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
