"""``/api/tasks/{id}/uploads``: resumable uploads in chunks (see ``mediacraft/resumable.py``)."""

from __future__ import annotations

from flask import Blueprint, current_app, g, request

from .. import resumable
from .envelope import envelope, json_body
from .openapi import EXTRA_PATHS, TASK, TASK_ID, op

bp = Blueprint("resumable_api", __name__, url_prefix="/api/tasks")


def _context(task_id: str):
    ext = current_app.extensions["mediacraft"]
    return ext, ext.service.get_owned(g.user_id, task_id)


def _with_offset(response, state: dict):
    response.headers["Upload-Offset"] = str(state["offset"])
    response.headers["Upload-Length"] = str(state["size"])
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/<task_id>/uploads")
def start(task_id: str):
    ext, task = _context(task_id)
    state = resumable.start(ext.storage, ext.config, task, json_body())
    state["url"] = f"/api/tasks/{task_id}/uploads/{state['upload_id']}"
    response = envelope(state, code=201, message="Upload opened")
    response.headers["Location"] = state["url"]
    return _with_offset(response, state)


@bp.get("/<task_id>/uploads/<upload_id>")
def status(task_id: str, upload_id: str):
    ext, task = _context(task_id)
    state = resumable.describe(ext.config, task, upload_id)
    return _with_offset(envelope(state), state)


@bp.route("/<task_id>/uploads/<upload_id>", methods=["PATCH"])
def append(task_id: str, upload_id: str):
    ext, task = _context(task_id)
    state, finished = resumable.append(
        ext.storage,
        ext.config,
        task,
        upload_id,
        offset_header=request.headers.get("Upload-Offset"),
        content_type=request.headers.get("Content-Type"),
        length=request.content_length,
        stream=request.stream,
    )
    if finished is not None:
        state["task"] = ext.service.describe(finished)
        return _with_offset(envelope(state, message="Upload accepted"), state)
    return _with_offset(envelope(state, message="Chunk stored"), state)


@bp.route("/<task_id>/uploads/<upload_id>", methods=["DELETE"])
def abort(task_id: str, upload_id: str):
    ext, task = _context(task_id)
    resumable.abort(ext.storage, ext.config, task, upload_id)
    return envelope({"upload_id": upload_id, "cancelled": True}, message="Upload cancelled")


UPLOAD = {
    "type": "object",
    "properties": {
        "upload_id": {"type": "string"},
        "size": {"type": "integer"},
        "offset": {"type": "integer", "description": "bytes received so far"},
        "filename": {"type": "string"},
        "complete": {"type": "boolean"},
        "receiving": {
            "type": "boolean",
            "description": "a chunk is being written now (after a cut: wait, then resume)",
        },
        "url": {"type": "string"},
        "task": TASK,
    },
}
UPLOAD_ID = {
    "name": "upload_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "The upload's id (from POST /uploads)",
}
EXTRA_PATHS.update(
    {
        "/api/tasks/{task_id}/uploads": {
            "post": op(
                "Open a resumable upload of a file of `size` bytes (within the upload limit "
                "and the visitor's quota)",
                "uploads",
                ok="201",
                params=[TASK_ID],
                body={
                    "type": "object",
                    "required": ["size"],
                    "properties": {
                        "size": {"type": "integer", "minimum": 1},
                        "filename": {"type": "string"},
                    },
                },
                data=UPLOAD,
            )
        },
        "/api/tasks/{task_id}/uploads/{upload_id}": {
            "get": op(
                "How far an open upload got (offset; also the Upload-Offset header)",
                "uploads",
                params=[TASK_ID, UPLOAD_ID],
                data=UPLOAD,
            ),
            "patch": {
                **op(
                    "Append a chunk at the Upload-Offset header (409 when it is not where the "
                    "upload is, 400 past the declared size, 411 without Content-Length); the "
                    "last chunk probes and records the file, and the answer has `task`",
                    "uploads",
                    params=[
                        TASK_ID,
                        UPLOAD_ID,
                        {
                            "name": "Upload-Offset",
                            "in": "header",
                            "required": True,
                            "schema": {"type": "integer", "minimum": 0},
                        },
                    ],
                    data=UPLOAD,
                ),
                "responses": {
                    **op("", "uploads", data=UPLOAD)["responses"],
                    "411": {
                        "description": "No Content-Length",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/ErrorEnvelope"}
                            }
                        },
                    },
                },
                "requestBody": {
                    "required": True,
                    "content": {
                        resumable.CHUNK_CONTENT_TYPE: {
                            "schema": {"type": "string", "format": "binary"}
                        }
                    },
                },
            },
            "delete": op(
                "Cancel an open upload and remove its bytes",
                "uploads",
                params=[TASK_ID, UPLOAD_ID],
                data={"type": "object"},
            ),
        },
    }
)
