"""Share links of a result: ``/api/tasks/{id}/shares`` for its owner, ``/s/{id}/{token}`` for
anyone holding a link (no identity cookie needed, none given)."""

from __future__ import annotations

import time
from datetime import datetime, timezone

from flask import Blueprint, current_app, g, request, send_file

from ..exceptions import NotFound
from ..links import LinkRefused, refused_page
from ..model import Task
from ..paths import TaskPaths
from ..shares import (
    MAX_SECONDS,
    MIN_SECONDS,
    create_share,
    live_shares,
    make_token,
    parse_expires_in,
    read_token,
    revoke_share,
    shared_task,
)
from ..web.identity import COOKIELESS_ENDPOINTS
from .envelope import envelope, json_body
from .openapi import EXTRA_PATHS, TASK_ID, op
from .tasks import MIMETYPES, content_disposition, download_name

bp = Blueprint("shares_api", __name__, url_prefix="/api/tasks")
public_bp = Blueprint("shares_public", __name__)
COOKIELESS_ENDPOINTS.add("shares_public.shared_download")


@bp.record_once
def _register_public(state) -> None:  # state: BlueprintSetupState
    state.app.register_blueprint(public_bp)


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _describe(task: Task, share_id: str, entry: dict) -> dict:
    token = make_token(current_app.secret_key, task.task_id, share_id, int(entry["expires_at"]))
    path = f"/s/{task.task_id}/{token}"
    return {
        "share_id": share_id,
        "path": path,
        "url": request.host_url.rstrip("/") + path,
        "created_at": _iso(int(entry["created_at"])),
        "expires_at": _iso(int(entry["expires_at"])),
    }


def _owned(task_id: str) -> Task:
    return current_app.extensions["mediacraft"].service.get_owned(g.user_id, task_id)


@bp.post("/<task_id>/shares")
def create(task_id: str):
    task = _owned(task_id)
    expires_in = parse_expires_in(json_body())
    storage = current_app.extensions["mediacraft"].storage
    task, share_id = create_share(storage, task, expires_in)
    entry = live_shares(task)[share_id]
    return envelope(_describe(task, share_id, entry), code=201, message="Share link created")


@bp.get("/<task_id>/shares")
def listing(task_id: str):
    task = _owned(task_id)
    shares = sorted(live_shares(task).items(), key=lambda item: item[1]["created_at"])
    return envelope({"shares": [_describe(task, sid, entry) for sid, entry in shares]})


@bp.route("/<task_id>/shares/<share_id>", methods=["DELETE"])
def revoke(task_id: str, share_id: str):
    task = _owned(task_id)
    revoke_share(current_app.extensions["mediacraft"].storage, task, share_id)
    return envelope({"share_id": share_id, "revoked": True}, message="Share link revoked")


@public_bp.get("/s/<task_id>/<token>")
def shared_download(task_id: str, token: str):
    ext = current_app.extensions["mediacraft"]
    try:
        claim = read_token(current_app.secret_key, task_id, token)
        task = shared_task(ext.storage, claim)
        path = TaskPaths.of(ext.config.data_dir, task).result_file(task)
        if path is None:
            raise LinkRefused("The shared result is no longer available", "deleted")
    except (LinkRefused, NotFound) as exc:
        refused = exc if isinstance(exc, LinkRefused) else LinkRefused(exc.message, "invalid", 404)
        return refused_page(refused)
    response = send_file(
        path,
        mimetype=MIMETYPES.get(path.suffix.lower(), "application/octet-stream"),
        conditional=True,
        max_age=0,
    )
    response.headers["Content-Disposition"] = content_disposition(
        download_name(task.name, path.suffix or ".mp4")
    )
    # a revoked link must stop at once: nothing may keep a copy to answer with
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex"
    remaining = max(0, claim.expires_at - int(time.time()))
    response.headers["X-Share-Expires-In"] = str(remaining)
    return response


SHARE = {
    "type": "object",
    "properties": {
        "share_id": {"type": "string"},
        "path": {"type": "string"},
        "url": {"type": "string"},
        "created_at": {"type": "string"},
        "expires_at": {"type": "string"},
    },
}
SHARE_ID = {
    "name": "share_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "A share's id (from the list)",
}
EXTRA_PATHS.update(
    {
        "/api/tasks/{task_id}/shares": {
            "post": op(
                "Create a share link of the completed result: anyone with it downloads that "
                f"one file, until it expires ({MIN_SECONDS} s to {MAX_SECONDS} s, default one "
                "day), is revoked or the task is deleted",
                "shares",
                ok="201",
                params=[TASK_ID],
                body={
                    "type": "object",
                    "properties": {
                        "expires_in": {
                            "type": "integer",
                            "minimum": MIN_SECONDS,
                            "maximum": MAX_SECONDS,
                        }
                    },
                },
                data=SHARE,
            ),
            "get": op(
                "The task's share links that have not expired",
                "shares",
                params=[TASK_ID],
                data={
                    "type": "object",
                    "properties": {"shares": {"type": "array", "items": SHARE}},
                },
            ),
        },
        "/api/tasks/{task_id}/shares/{share_id}": {
            "delete": op(
                "Revoke a share link (it stops working at once)",
                "shares",
                params=[TASK_ID, SHARE_ID],
                data={"type": "object"},
            )
        },
    }
)
