"""``GET /api/openapi.json``: the API described in OpenAPI 3.1.

Every ``/api`` route must appear here; ``tests/test_openapi.py`` compares this
document with the app's URL map, so an endpoint added without a description
fails the suite.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify

from .. import __version__
from ..exceptions import REASONS
from ..model import TaskStatus
from ..processors import task_types

bp = Blueprint("openapi", __name__, url_prefix="/api")

TASK_ID = {
    "name": "task_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "Task UUID",
}
BATCH_ID = {**TASK_ID, "name": "batch_id", "description": "Batch UUID"}

ENVELOPE_ERRORS = ("400", "404", "405", "409", "413", "415", "429", "500", "503")


def _envelope(data_schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["success", "code", "message", "data", "meta"],
        "properties": {
            "success": {"type": "boolean"},
            "code": {"type": "integer"},
            "message": {"type": "string"},
            "data": data_schema or {},
            "meta": {"$ref": "#/components/schemas/Meta"},
        },
    }


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def op(
    summary: str,
    tag: str,
    *,
    data: dict[str, Any] | None = None,
    body: dict[str, Any] | None = None,
    params: list[dict[str, Any]] | None = None,
    ok: str = "200",
    raw: dict[str, Any] | None = None,
    multipart: bool = False,
) -> dict[str, Any]:
    """One operation: success answer in the envelope (or ``raw``), envelope errors."""
    operation: dict[str, Any] = {"summary": summary, "tags": [tag]}
    if params:
        operation["parameters"] = params
    if body is not None:
        content_type = "multipart/form-data" if multipart else "application/json"
        operation["requestBody"] = {
            "required": True,
            "content": {content_type: {"schema": body}},
        }
    responses: dict[str, Any] = {}
    responses[ok] = {"description": summary, **(raw or _json(_envelope(data)))}
    for code in ENVELOPE_ERRORS:
        responses[code] = {
            "description": "Error",
            **_json({"$ref": "#/components/schemas/ErrorEnvelope"}),
        }
    operation["responses"] = responses
    return operation


def obj(properties: dict[str, Any]) -> dict[str, Any]:
    """A JSON object schema with these ``properties``."""
    return {"type": "object", "properties": properties}


def query(name: str, schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


TASK = {"$ref": "#/components/schemas/Task"}
EVENT_STREAM = {"content": {"text/event-stream": {"schema": {"type": "string"}}}}
LANGUAGE = {"type": "string", "description": "a language tag such as en or zh-Hans"}
DOWNLOAD_OPTIONS = {
    "type": "object",
    "description": "Download options. Each is checked against the server's range (out of "
    "range: 400 naming the field and the range); size caps are server settings "
    "(MEDIACRAFT_MAX_DOWNLOAD_MB, ...), not options.",
    "properties": {
        "quality": {"type": "string", "description": "best, worst, a height (720p) or bits/s"},
        "profile": {"type": "string", "enum": ["fast", "stable", "low_bandwidth"]},
        "threads": {"type": "integer", "minimum": 1,
                    "description": "at most MEDIACRAFT_MAX_DOWNLOAD_THREADS (32)"},
        "retries": {"type": "integer", "minimum": 0, "maximum": 20},
        "retry_delay": {"type": "number", "minimum": 0, "maximum": 60},
        "max_retry_delay": {"type": "number", "minimum": 0, "maximum": 300},
        "connect_timeout": {"type": "number", "minimum": 0.1, "maximum": 300},
        "first_byte_timeout": {"type": "number", "minimum": 0.1, "maximum": 300,
                               "description": "seconds until a server's headers (alias timeout)"},
        "stall_timeout": {"type": "number", "minimum": 0.1, "maximum": 300},
        "limit_rate": {"type": ["string", "integer"],
                       "description": "bytes/s such as 2M; at least MEDIACRAFT_MIN_LIMIT_RATE_KB"},
        "connections": {"type": "integer", "minimum": 1, "maximum": 16},
        "max_redirects": {"type": "integer", "minimum": 0, "maximum": 20},
        "headers": {"type": "object", "additionalProperties": {"type": "string"},
                    "description": "extra request headers (Referer, User-Agent, Cookie)"},
        "record_seconds": {"type": "number", "minimum": 1,
                           "description": "length of a live recording (required for a live "
                           "link); at most MEDIACRAFT_MAX_RECORD_SECONDS"},
        "audio_lang": {**LANGUAGE, "description": "audio rendition: a language, or all; "
                       "default: the stream's DEFAULT/AUTOSELECT rendition"},
        "subtitles": {**LANGUAGE, "description": "none (default), all, or a language"},
        "split_discontinuities": {"type": "boolean",
                                  "description": "one file per discontinuity group"},
        "user_agent": {"type": "string", "description": "User-Agent of every request"},
        "referer": {"type": "string", "description": "Referer of every request"},
        "container": {"type": "string", "enum": ["mp4", "mkv", "m4a", "mp3"],
                      "description": "m4a/mp3: audio only (mp3 re-encoded)"},
        "start": {"type": ["number", "string"],
                  "description": "start of a time range: seconds or hh:mm:ss"},
        "end": {"type": ["number", "string"],
                "description": "end of a time range (after start): seconds or hh:mm:ss"},
        "precise_cut": {"type": "boolean",
                        "description": "cut at the exact frames (re-encodes the clip)"},
    },
}  # fmt: skip
DOWNLOAD_RESULT = {
    "type": "object",
    "description": "A download's result",
    "properties": {
        "file_name": {"type": "string"},
        "size": {"type": "integer"},
        "duration": {"type": ["number", "null"]},
        "width": {"type": ["integer", "null"]},
        "height": {"type": ["integer", "null"]},
        "tracks": {
            "type": "array",
            "items": obj(
                {
                    "type": {"type": "string", "enum": ["video", "audio", "subtitles"]},
                    "codec": {"type": "string"},
                    "language": {"type": ["string", "null"]},
                }
            ),
        },
        "gaps": {
            "type": "array",
            "description": "media missing from the result (EXT-X-GAP, lost in an outage "
            "or a restart of a live recording)",
            "items": obj(
                {
                    "at": {"type": "number", "description": "seconds into the result"},
                    "segments": {"type": "integer"},
                    "duration": {"type": "number"},
                    "cause": {"type": "string"},
                    "track": {"type": "string"},
                }
            ),
        },
        "live": obj(
            {
                "recorded_seconds": {"type": "number"},
                "record_seconds": {"type": "number"},
                "ended_by": {"type": "string"},
            }
        ),
        "files": {
            "type": "array",
            "items": {"type": "string"},
            "description": "further files (parts, subtitles): GET download?file=<name>",
        },
        "page": {
            "type": "object",
            "description": "a web page's video: what yt-dlp found",
            "properties": {"title": {"type": "string"}, "extractor": {"type": "string"}},
        },
    },
}
LOG = obj(
    {
        "lines": {
            "type": "array",
            "items": obj({"at": {"type": "string"}, "message": {"type": "string"}}),
        },
        "truncated": {"type": "boolean"},
    }
)
CREATE_BODY = {
    "type": "object",
    "required": ["task_type"],
    "properties": {
        "task_type": {"type": "string"},  # enum: the registered processors, at request time
        "name": {"type": "string", "maxLength": 200},
        "url": {"type": "string",
                "description": "http(s) URL (download): a page, a playlist or manifest, a file"},
        "cookies": {"type": "string", "description": "download: the text of a Netscape "
                    "cookies.txt, kept with the task, sent to the URL's host only"},
        "priority": {"type": "integer", "minimum": -100, "maximum": 100},
        "options": DOWNLOAD_OPTIONS,
    },
}
LIST_PARAMS = [
    query(
        "status",
        {"type": "string"},
        "comma-separated statuses: " + ", ".join(s.value for s in TaskStatus),
    ),  # fmt: skip
    query("type", {"type": "string"}, "task type"),
    query("search", {"type": "string"}, "substring of name or URL"),
    query("batch_id", {"type": "string"}),
    query("tag", {"type": "string", "maxLength": 40}, "tasks with this tag (any case)"),
    query(
        "resolution",
        {"type": "string", "enum": ["480p", "720p", "1080p", "4k"]},
        "by the picture's shorter side: up to 480, 481-720, 721-1080, above 1080",
    ),
    query("duration", {"type": "string"}, "seconds, from-to: 0-60, 60-600, 3600-"),
    query(
        "sort",
        {"type": "string"},
        "created_at, updated_at, name, status, progress, "
        "priority, task_type, size or duration; prefix - for descending",
    ),
    query("page", {"type": "integer", "minimum": 1}),
    query("per_page", {"type": "integer", "minimum": 1, "maximum": 100}),
]
FRAME_QUERY = [
    query("index", {"type": "integer", "minimum": 0}, "frame number (0-based)"),
    query("t", {"type": "number", "minimum": 0}, "time in seconds"),
]
JPEG = {"content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}}}
VIDEO_ID = {**TASK_ID, "name": "video_id", "description": "Video id (the task's UUID)"}
VIDEO_INFO = obj(
    {
        "video_id": {"type": "string"},
        "task_id": {"type": "string"},
        "filename": {"type": ["string", "null"]},
        "status": {"type": "string"},
        "metadata": obj(
            {
                "duration": {"type": "number"},
                "fps": {"type": "number"},
                "width": {"type": "integer"},
                "height": {"type": "integer"},
                "frame_count": {"type": "integer"},
            }
        ),
    }
)
#: a task as the /api/video endpoints report it
VIDEO_STATUS = obj(
    {
        "task_id": {"type": "string"},
        "status": {"type": "string"},
        "progress": {"type": "number"},
        "stage": {"type": ["string", "null"]},
        "error_message": {"type": ["string", "null"]},
        "queue_position": {"type": ["integer", "null"]},
        "result_url": {"type": ["string", "null"]},
    }
)
SEED_TASK = obj({"task_id": {"type": "string"}, "status": {"type": "string"}})

BATCH_BODY = {
    "type": "object",
    "required": ["inputs"],
    "properties": {
        "task_type": {"type": "string", "enum": ["download"], "default": "download"},
        "inputs": {
            "type": "array",
            "minItems": 1,
            "maxItems": 1000,
            "items": {
                "type": "object",
                "required": ["url"],
                "properties": {
                    "url": {"type": "string"},
                    "name": {"type": "string", "maxLength": 200},
                    "options": {"type": "object", "description": "overrides the batch options"},
                    "priority": {"type": "integer", "minimum": -100, "maximum": 0},
                },
            },
        },
        "options": {"type": "object", "description": "download options for every input"},
        "priority": {"type": "integer", "minimum": -100, "maximum": 0},
    },
}
BATCH_COUNTS = {
    "type": "object",
    "properties": {
        name: {"type": "integer"}
        for name in ("total", "queued", "running", "completed", "failed", "cancelled")
    }
    | {
        "batch_id": {"type": "string"},
        "state": {"type": "string", "enum": ["active", "finished"]},
        "created_at": {"type": "string"},
    },
}
BATCH_SUMMARY = obj(
    {
        **BATCH_COUNTS["properties"],
        "bytes_done": {"type": "integer"},
        "bytes_total": {"type": "integer"},
        "progress": {"type": "number", "description": "0..100 over all tasks"},
        "eta_seconds": {"type": ["number", "null"]},
        "tasks": {"type": "array", "items": {"type": "object"}},
    }
)


def _create_body() -> dict[str, Any]:
    """The create body, its ``task_type`` listing the processors this app registered."""
    task_type = {"type": "string", "enum": task_types()}
    return {**CREATE_BODY, "properties": {**CREATE_BODY["properties"], "task_type": task_type}}


def paths() -> dict[str, Any]:
    """The documented paths (Flask rule syntax converted to OpenAPI's)."""
    return {
        "/api/user/info": {"get": op("Current visitor and task counts", "user")},
        "/api/user/tasks": {
            "get": op(
                "The visitor's tasks: filter, search, sort, pages",
                "user",
                params=LIST_PARAMS,
                data=obj(
                    {
                        "tasks": {"type": "array", "items": TASK},
                        "pagination": {"type": "object"},
                    }
                ),
            )
        },
        "/api/tasks/create": {
            "post": op(
                "Create a task (a download is queued at once)",
                "tasks",
                body=_create_body(),
                ok="201",
                data=obj({"task_id": {"type": "string"}, "task": TASK}),
            )
        },
        "/api/tasks/{task_id}/status": {
            "get": op("A task's state and progress", "tasks", params=[TASK_ID], data=TASK)
        },
        "/api/tasks/{task_id}/upload": {
            "post": op(
                "Upload a video (field 'file', repeated for merge clips)",
                "tasks",
                params=[TASK_ID],
                data=TASK,
                multipart=True,
                body=obj(
                    {"file": {"type": "array", "items": {"type": "string", "format": "binary"}}}
                ),
            )
        },
        "/api/tasks/{task_id}/config": {
            "post": op(
                "Configure and queue an uploaded task",
                "tasks",
                params=[TASK_ID],
                data=TASK,
                body=obj(
                    {
                        "selected_frame": {"type": "integer"},
                        "regions": {
                            "type": "array",
                            "items": {
                                "type": "array",
                                "items": {"type": "integer"},
                                "minItems": 4,
                                "maxItems": 4,
                            },
                        },
                        "order": {"type": "array", "items": {"type": "integer"}},
                    }
                ),
            )
        },
        "/api/tasks/{task_id}/frame": {
            "get": op(
                "One frame of the uploaded video as JPEG",
                "tasks",
                params=[
                    TASK_ID,
                    *FRAME_QUERY,
                ],
                raw=JPEG,
            )
        },
        "/api/tasks/{task_id}/events": {
            "get": op(
                "Server-Sent Events with the task's progress until it ends "
                "(429 past the per-visitor or per-process stream cap)",
                "tasks",
                params=[TASK_ID],
                raw=EVENT_STREAM,
            )
        },
        "/api/events": {
            "get": op(
                "Server-Sent Events for all the visitor's tasks: 'task' when one changes, "
                "'gone' when one is deleted (429 past the stream caps: poll instead)",
                "tasks",
                params=[
                    query(
                        "task_id",
                        {"type": "string"},
                        "comma-separated task ids to follow (default: all the visitor's tasks)",
                    )
                ],
                raw=EVENT_STREAM,
            )
        },
        "/api/tasks/{task_id}/cancel": {
            "post": op("Cancel a task that has not ended", "tasks", params=[TASK_ID], data=TASK)
        },
        "/api/tasks/{task_id}/stop": {
            "post": op(
                "Stop a live recording now and keep what it recorded (cancel discards it)",
                "tasks",
                params=[TASK_ID],
                data=TASK,
            )
        },
        "/api/tasks/{task_id}/log": {
            "get": op(
                "The task's short log: variant and renditions, retries and their causes, "
                "playlist reloads, gaps, remux steps (no tokens or cookies)",
                "tasks",
                params=[TASK_ID],
                data=LOG,
            )
        },
        "/api/tasks/{task_id}/retry": {
            "post": op(
                "Queue a failed or cancelled task again", "tasks", params=[TASK_ID], data=TASK
            )
        },
        "/api/tasks/{task_id}/delete": {
            "post": op(
                "Delete a task and its files (not while processing)", "tasks", params=[TASK_ID]
            )
        },
        "/api/tasks/{task_id}": {
            "delete": op(
                "Delete a task and its files (not while processing)", "tasks", params=[TASK_ID]
            )
        },
        "/api/tasks/{task_id}/download": {
            "get": op(
                "The result file (HTTP Range supported); ?file= one of result.files",
                "tasks",
                params=[TASK_ID, query("file", {"type": "string"}, "a name from result.files")],
                raw={
                    "content": {
                        kind: {"schema": {"type": "string", "format": "binary"}}
                        for kind in ("video/mp4", "audio/mp4", "text/vtt")
                    }
                },
            )
        },
        "/api/download/create": {
            "post": op(
                "Older download API: create a download",
                "compat-download",
                ok="201",
                body={
                    "type": "object",
                    "required": ["url"],
                    "properties": {
                        "url": {"type": "string"},
                        "name": {"type": "string"},
                        "quality": {"type": "string"},
                    },
                },
                raw=_json(SEED_TASK),
            )
        },
        "/api/download/status/{task_id}": {
            "get": op(
                "Older download API: a download's status",
                "compat-download",
                params=[TASK_ID],
                raw=_json(SEED_TASK),
            )
        },
        "/api/download/list": {
            "get": op(
                "Older download API: the visitor's downloads",
                "compat-download",
                raw=_json(
                    obj(
                        {
                            "tasks": {"type": "array", "items": SEED_TASK},
                            "total": {"type": "integer"},
                        }
                    )
                ),
            )
        },
        "/api/download/cancel/{task_id}": {
            "post": op(
                "Older download API: cancel a download",
                "compat-download",
                params=[TASK_ID],
                raw=_json(SEED_TASK),
            )
        },
        "/api/download/retry/{task_id}": {
            "post": op(
                "Older download API: retry a download",
                "compat-download",
                params=[TASK_ID],
                raw=_json(SEED_TASK),
            )
        },
        "/api/video/upload": {
            "post": op(
                "Compat: upload one video (creates a watermark_removal task)",
                "compat-video",
                data=VIDEO_INFO,
                multipart=True,
                body={
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "name": {"type": "string", "description": "task name (display)"},
                    },
                },
            )
        },
        "/api/video/{video_id}/info": {
            "get": op(
                "Compat: the uploaded video's metadata",
                "compat-video",
                params=[VIDEO_ID],
                data=VIDEO_INFO,
            )
        },
        "/api/video/{video_id}/frame": {
            "get": op(
                "Compat: one frame as JPEG (?index=N or ?t=seconds)",
                "compat-video",
                params=[
                    VIDEO_ID,
                    *FRAME_QUERY,
                ],
                raw=JPEG,
            )
        },
        "/api/video/{video_id}/frame/{index}": {
            "get": op(
                "Compat: frame number {index} as JPEG (?t=seconds takes precedence)",
                "compat-video",
                params=[
                    VIDEO_ID,
                    {
                        "name": "index",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer", "minimum": 0},
                        "description": "0-based frame index",
                    },
                    query("t", {"type": "number", "minimum": 0}),
                ],
                raw=JPEG,
            )
        },
        "/api/video/{video_id}/remove-watermark": {
            "post": op(
                "Compat: configure and queue the watermark removal; poll the status",
                "compat-video",
                params=[VIDEO_ID],
                data=VIDEO_STATUS,
                body={
                    "type": "object",
                    "required": ["regions"],
                    "properties": {
                        "selected_frame": {"type": "integer", "minimum": 0},
                        "regions": {
                            "type": "array",
                            "description": "[x, y, w, h] in video pixels "
                            "(or {x, y, width, height})",
                            "items": {"type": ["array", "object"]},
                        },
                    },
                },
            )
        },
        "/api/video/merge": {
            "post": op(
                "Compat: upload 2-20 clips and queue their merge; poll the status",
                "compat-video",
                data=VIDEO_STATUS,
                multipart=True,
                body={
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "array", "items": {"type": "string", "format": "binary"}},
                        "order": {
                            "type": "string",
                            "description": "comma-separated clip indexes, e.g. 2,0,1",
                        },
                        "name": {"type": "string"},
                    },
                },
            )
        },
        "/api/video/status/{task_id}": {
            "get": op(
                "Compat: a video task's state and progress",
                "compat-video",
                params=[TASK_ID],
                data=VIDEO_STATUS,
            )
        },
        "/api/video/result/{task_id}": {
            "get": op(
                "Compat: the result file (as /api/tasks/{task_id}/download)",
                "compat-video",
                params=[TASK_ID],
                raw={"content": {"video/mp4": {"schema": {"type": "string", "format": "binary"}}}},
            )
        },
        "/api/batches": {
            "post": op(
                "Submit a batch: one task per input, sharing a batch_id (all or nothing)",
                "batches",
                body=BATCH_BODY,
                ok="201",
                data=obj(
                    {
                        "batch_id": {"type": "string"},
                        "task_ids": {"type": "array", "items": {"type": "string"}},
                        "summary": BATCH_SUMMARY,
                    }
                ),
            ),
            "get": op(
                "The visitor's batches with their counts",
                "batches",
                data=obj(
                    {
                        "batches": {"type": "array", "items": BATCH_COUNTS},
                        "total": {"type": "integer"},
                    }
                ),
            ),
        },
        "/api/batches/{batch_id}": {
            "get": op(
                "A batch's counts, bytes, progress, ETA and tasks",
                "batches",
                params=[BATCH_ID],
                data=BATCH_SUMMARY,
            )
        },
        "/api/batches/{batch_id}/cancel": {
            "post": op(
                "Cancel every task of the batch that has not ended",
                "batches",
                params=[BATCH_ID],
                data=BATCH_SUMMARY,
            )
        },
        "/api/batches/{batch_id}/retry": {
            "post": op(
                "Queue the batch's failed tasks again",
                "batches",
                params=[BATCH_ID],
                data=BATCH_SUMMARY,
            )
        },
        **EXTRA_PATHS,
    }


#: paths described by optional modules (batches, /api/video) as they register
EXTRA_PATHS: dict[str, Any] = {}


def document() -> dict[str, Any]:
    documented = paths()
    served = {_openapi_path(rule.rule) for rule in current_app.url_map.iter_rules()}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "MediaCraft API",
            "version": __version__,
            "description": "Every answer (errors included) is the envelope "
            "{success, code, message, data, meta}, except the older "
            "/api/download shapes, files, frames and event streams.",
        },
        "paths": {p: v for p, v in documented.items() if p in served or p == "/api/openapi.json"},
        "components": {
            "schemas": {
                "Meta": obj(
                    {
                        "timestamp": {"type": "string"},
                        "version": {"type": "string"},
                        "request_id": {"type": ["string", "null"]},
                    }
                ),
                "ErrorEnvelope": _envelope(
                    {
                        "type": "object",
                        "required": ["reason"],
                        "properties": {
                            "reason": {
                                "type": "string",
                                "enum": sorted(REASONS),
                                "description": "The failure's stable reason: "
                                + "; ".join(f"{k}: {v}" for k, v in sorted(REASONS.items())),
                            }
                        },
                    }
                ),
                "Task": {
                    "type": "object",
                    "required": ["task_id", "task_type", "status", "progress"],
                    "properties": {
                        "task_id": {"type": "string"},
                        "task_type": {"type": "string", "enum": task_types()},
                        "name": {"type": "string"},
                        "status": {"type": "string", "enum": [s.value for s in TaskStatus]},
                        "stage": {"type": "string"},
                        "progress": {"type": "number"},
                        "progress_detail": {"type": "object"},
                        "queue_position": {"type": ["integer", "null"]},
                        "attempts": {"type": "integer"},
                        "priority": {"type": "integer"},
                        "batch_id": {"type": ["string", "null"]},
                        "result": {
                            "anyOf": [DOWNLOAD_RESULT, {"type": "object"}, {"type": "null"}]
                        },
                        "error_message": {"type": ["string", "null"]},
                        "error_reason": {
                            "anyOf": [
                                {"type": "string", "enum": sorted(REASONS)},
                                {"type": "null"},
                            ],
                            "description": "Why a failed task failed (the same words "
                            "as an error envelope's data.reason)",
                        },
                        "download_url": {"type": ["string", "null"]},
                        "poster_url": {
                            "type": ["string", "null"],
                            "description": "the result's poster (JPEG), when it has one",
                        },
                        "tags": {"type": "array", "items": {"type": "string"}},
                    },
                },
            }
        },
    }


def _openapi_path(rule: str) -> str:
    import re

    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


@bp.get("/openapi.json")
def openapi_json():
    return jsonify(document())
