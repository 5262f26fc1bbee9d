"""Live updates as Server-Sent Events (``mediacraft/events.py`` has the stream and its limits).

* ``GET /api/events``: one stream per visitor for all their tasks
  (``?task_id=a,b`` narrows it to those tasks) — what the pages use.
* ``GET /api/tasks/{id}/events``: one task, closing once it has ended
  (kept for API clients).

Both count against the per-visitor and per-process caps: past them the
answer is 429 in the envelope, before any thread is held.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, g, request

from ..events import peer_closed, task_events
from ..exceptions import ValidationError
from ..model import is_uuid

bp = Blueprint("events_api", __name__, url_prefix="/api")

MAX_WATCHED = 100


def _stream(body, release) -> Response:
    response = Response(body, mimetype="text/event-stream")
    response.call_on_close(release)  # also when the client left before the first byte
    response.headers["Cache-Control"] = "no-cache, private"
    response.headers["X-Accel-Buffering"] = "no"
    response.vary.add("Cookie")
    return response


def _client_gone():
    """A check for a vanished client, where the server hands over its socket (gunicorn)."""
    sock = request.environ.get("gunicorn.socket")
    return (lambda: peer_closed(sock)) if sock is not None else None


def _watched() -> list[str] | None:
    raw = request.args.get("task_id", "")
    if not raw:
        return None
    ids = list(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
    if len(ids) > MAX_WATCHED:
        raise ValidationError(f"task_id names at most {MAX_WATCHED} tasks")
    return [task_id for task_id in ids if is_uuid(task_id)]


@bp.get("/events")
def visitor_events() -> Response:
    ext = current_app.extensions["mediacraft"]
    only = _watched()
    release = ext.streams.open(g.user_id)
    body = task_events(ext.service, g.user_id, only, client_gone=_client_gone())
    return _stream(body, release)


@bp.get("/tasks/<task_id>/events")
def events(task_id: str) -> Response:
    ext = current_app.extensions["mediacraft"]
    ext.service.get_owned(g.user_id, task_id)  # 404 before the stream starts
    release = ext.streams.open(g.user_id)
    body = task_events(
        ext.service, g.user_id, [task_id], end_when_done=True, client_gone=_client_gone()
    )
    return _stream(body, release)
