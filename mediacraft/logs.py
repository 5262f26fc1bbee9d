"""Log lines as text or as one JSON object a line (``MEDIACRAFT_LOG_FORMAT=json``).

Every line carries the request id (``-`` outside a request) and the id of
the task whose run logged it (``-`` elsewhere), so a log collector can join
a visitor's request, the task it created and that task's run on any host.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone

from .web.security import RequestIdFilter, StderrHandler

current_task: contextvars.ContextVar[str] = contextvars.ContextVar("task_id", default="-")

TEXT_FORMAT = "%(asctime)s %(levelname)s [%(request_id)s] [task %(task_id)s] %(name)s: %(message)s"


@contextmanager
def task_logging(task_id: str) -> Iterator[None]:
    """Within the block, log lines of this thread name ``task_id``."""
    token = current_task.set(task_id)
    try:
        yield
    finally:
        current_task.reset(token)


class TaskIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "task_id"):
            record.task_id = current_task.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, ids, process, host."""

    def __init__(self, node: str = "") -> None:
        super().__init__()
        self.node = node or socket.gethostname()

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
            "task_id": getattr(record, "task_id", "-"),
            "node": self.node,
            "pid": os.getpid(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str, log_format: str = "text", node: str = "") -> None:
    """Install one handler on the root logger (once per process)."""
    root = logging.getLogger()
    if any(isinstance(f, TaskIdFilter) for h in root.handlers for f in h.filters):
        return
    handler = StderrHandler()
    handler.addFilter(RequestIdFilter())
    handler.addFilter(TaskIdFilter())
    if log_format == "json":
        handler.setFormatter(JsonFormatter(node))
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(level.upper())


__all__ = ["JsonFormatter", "configure_logging", "current_task", "task_logging"]
