"""``GET /api/tasks/{id}/events``: a task's progress as Server-Sent Events.

Sends the task (as ``/status`` shows it) whenever its record changes, a
comment line as keep-alive, and closes once the task has ended or after
``STREAM_SECONDS`` (EventSource reconnects by itself). Reads are cheap: one
record read per tick.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

from flask import Blueprint, Response, current_app, g, stream_with_context

bp = Blueprint("events_api", __name__, url_prefix="/api/tasks")

TICK_SECONDS = 0.5
KEEPALIVE_SECONDS = 15.0
STREAM_SECONDS = 300.0


@bp.get("/<task_id>/events")
def events(task_id: str) -> Response:
    service = current_app.extensions["mediacraft"].service
    user_id = g.user_id
    service.get_owned(user_id, task_id)  # 404 before the stream starts

    def stream() -> Iterator[str]:
        last_seen = None
        last_sent = time.monotonic()
        started = last_sent
        yield "retry: 2000\n\n"
        while time.monotonic() - started < STREAM_SECONDS:
            task = service.storage.get_task(task_id)
            if task is None or task.user_id != user_id:
                yield "event: gone\ndata: {}\n\n"
                return
            stamp = (task.updated_at, task.status, task.progress)
            if stamp != last_seen:
                last_seen = stamp
                last_sent = time.monotonic()
                payload = json.dumps(service.describe(task), ensure_ascii=False)
                yield f"event: task\ndata: {payload}\n\n"
                if task.status.is_terminal:
                    yield "event: end\ndata: {}\n\n"
                    return
            elif time.monotonic() - last_sent > KEEPALIVE_SECONDS:
                last_sent = time.monotonic()
                yield ": keep-alive\n\n"
            time.sleep(TICK_SECONDS)

    response = Response(stream_with_context(stream()), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache, private"
    response.headers["X-Accel-Buffering"] = "no"
    return response
