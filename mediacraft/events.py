"""Live task updates as Server-Sent Events, within a budget of request threads.

An open stream holds one request thread for as long as it lasts (a WSGI
server's thread cannot be given back mid-response). So streams are counted
per process and per visitor (:class:`StreamLimiter`): past either cap the
answer is 429 at once and the page polls instead, and under gunicorn the cap
leaves a quarter of the threads to the API and ``/healthz``
(:attr:`Config.event_stream_limit`). A stream ends after
:data:`STREAM_SECONDS` (EventSource reconnects by itself) and writes a
keep-alive every few seconds, which is how a vanished client is noticed and
its slot freed.

:func:`task_events` is the stream body: one per visitor for all their tasks.
Each tick reads the visitor's status map (one small read, no task records),
then the records of the tasks that are unfinished or just changed state.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from .config import Config
from .exceptions import RateLimited
from .model import Task, TaskStatus
from .storage.base import QueueSnapshot

TICK_SECONDS = 1.0
KEEPALIVE_SECONDS = 5.0
STREAM_SECONDS = 300.0
RETRY_MS = 2000

#: set when the server is stopping: open streams end at their next tick, so a
#: graceful shutdown does not wait for them (clients reconnect elsewhere)
STOPPING = threading.Event()


class StreamLimiter:
    """Open event streams of this process, in total and per visitor."""

    def __init__(self, config: Config) -> None:
        self.limit = config.event_stream_limit
        self.per_user = config.max_event_streams_per_user
        self._open: dict[str, int] = {}
        self._total = 0
        self._lock = threading.Lock()

    @property
    def total(self) -> int:
        return self._total

    def open(self, user_id: str) -> Callable[[], None]:
        """Take a slot for ``user_id`` or raise :class:`RateLimited`; returns its release."""
        with self._lock:
            if self._open.get(user_id, 0) >= self.per_user:
                raise RateLimited(
                    f"You already have {self.per_user} live update streams open; "
                    "close a tab or let the page refresh by itself"
                )
            if self._total >= self.limit:
                raise RateLimited(
                    "The server has as many live update streams open as it serves; "
                    "the page refreshes by itself instead"
                )
            self._open[user_id] = self._open.get(user_id, 0) + 1
            self._total += 1
        released = False

        def release() -> None:
            nonlocal released
            with self._lock:
                if released:
                    return
                released = True
                self._total -= 1
                left = self._open.get(user_id, 1) - 1
                if left > 0:
                    self._open[user_id] = left
                else:
                    self._open.pop(user_id, None)

        return release


def task_events(
    service: Any,
    user_id: str,
    only: list[str] | None = None,
    *,
    end_when_done: bool = False,
    tick: float = TICK_SECONDS,
    duration: float = STREAM_SECONDS,
    client_gone: Callable[[], bool] | None = None,
) -> Iterator[str]:
    """SSE text for the visitor's tasks (or the ``only`` ones) as they change.

    Events: ``task`` (the task as ``/status`` shows it) when a task's state,
    progress or queue position changes; ``gone`` (``{"task_id"}``) when a task
    was deleted or is not the visitor's; with ``end_when_done``, ``end`` once
    every watched task has ended, then the stream closes. On connect, the
    unfinished tasks are sent (and every ``only`` task, whatever its state).
    ``client_gone`` is asked every tick, so a closed connection frees its
    slot at once rather than at the next failed write.
    """
    storage = service.storage
    sent: dict[str, tuple] = {}
    statuses: dict[str, str] = {}  # as the status map last showed them
    # The status of the record last sent, per task: the status map may be
    # written before the record, so a terminal status there is news until a
    # record in that status has actually gone out.
    delivered: dict[str, str] = {}
    started = last_write = time.monotonic()
    yield f"retry: {RETRY_MS}\n\n"
    first = True
    while time.monotonic() - started < duration and not STOPPING.is_set():
        if client_gone is not None and client_gone():
            return
        states = storage.user_task_states(user_id)
        watched = list(only) if only is not None else list(states)
        snapshot: QueueSnapshot | None = None
        chunks: list[str] = []
        for task_id in watched:
            status = states.get(task_id)
            previous = statuses.pop(task_id, None)
            if status is None:  # deleted, or never the visitor's
                if previous is not None or (first and only is not None):
                    chunks.append(_event("gone", {"task_id": task_id}))
                continue
            statuses[task_id] = status
            if TaskStatus(status).is_terminal:
                if first and only is None:  # ended before the stream opened: not news
                    delivered[task_id] = status
                if delivered.get(task_id) == status:
                    continue
            task = storage.get_task(task_id)
            if task is None or task.user_id != user_id:
                continue  # deleted between the two reads: "gone" on the next tick
            if task.status is TaskStatus.QUEUED and snapshot is None:
                snapshot = storage.queue_snapshot()
            view = service.describe(task, snapshot)
            stamp = _stamp(task, view)
            if sent.get(task_id) != stamp:
                sent[task_id] = stamp
                delivered[task_id] = task.status.value
                chunks.append(_event("task", view))
        if only is None:
            for task_id in [t for t in statuses if t not in states]:
                statuses.pop(task_id)
                chunks.append(_event("gone", {"task_id": task_id}))
        first = False
        if end_when_done and all(
            TaskStatus(s).is_terminal and delivered.get(t) == s for t, s in statuses.items()
        ):
            chunks.append(_event("end", {}))
            yield "".join(chunks)
            return
        now = time.monotonic()
        if chunks:
            last_write = now
            yield "".join(chunks)
        elif now - last_write >= KEEPALIVE_SECONDS:
            last_write = now
            yield ": keep-alive\n\n"
        STOPPING.wait(tick)


def peer_closed(sock: socket.socket) -> bool:
    """True once the client has closed its end (a peek at the socket, nothing consumed)."""
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except (BlockingIOError, InterruptedError):
        return False  # open, nothing sent: the usual case
    except OSError:
        return True


def _stamp(task: Task, view: dict[str, Any]) -> tuple:
    return (task.updated_at, task.status, task.progress, view.get("queue_position"))


def _event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


__all__ = ["STREAM_SECONDS", "StreamLimiter", "peer_closed", "task_events"]
