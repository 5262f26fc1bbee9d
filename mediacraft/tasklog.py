"""A short, bounded log per task, so "why did it fail / why is it slow" has an answer.

Each task's lines live in ``data/logs/<task_id>.log`` (one ``<UTC time> <text>``
per line), survive retries and restarts (a new attempt appends), and go away
with the task. The file never grows past :data:`MAX_LINES` lines: when it
doubles that, the oldest lines are dropped in one atomic rewrite.

Nothing secret is written: query strings (signed tokens) and user names and
passwords are cut from every URL, and header values such as cookies are
replaced, whatever the caller passed in.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

from .atomic import write_bytes_atomic
from .model import utcnow

MAX_LINES = 300
MAX_LINE_CHARS = 600

_QUERY = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s?#'\"<>]*)\?[^\s#'\"<>]*")
_USERINFO = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@'\"<>]+@")
_SECRET_HEADER = re.compile(
    r"\b(cookie|set-cookie|authorization|proxy-authorization|x-api-key)(\s*[:=]\s*)[^\r\n,;]*",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """``text`` without query strings, URL credentials or secret header values."""
    text = _USERINFO.sub(r"\1", text)
    text = _QUERY.sub(r"\1?…", text)
    return _SECRET_HEADER.sub(r"\1\2…", text)


class TaskLog:
    """Appends lines to one task's log file; thread-safe within a process."""

    def __init__(self, path: Path, max_lines: int = MAX_LINES) -> None:
        self.path = Path(path)
        self.max_lines = max_lines
        self._lock = threading.Lock()
        self._count: int | None = None

    def __call__(self, message: str) -> None:
        self.append(message)

    def append(self, message: str) -> None:
        """Add one line (secrets removed, cut to :data:`MAX_LINE_CHARS`); never raises."""
        text = " ".join(redact(str(message)).split())[:MAX_LINE_CHARS]
        line = f"{utcnow()} {text}\n".encode()
        with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                if self._count is None:
                    self._count = len(_read_lines(self.path))
                with open(self.path, "ab") as handle:
                    handle.write(line)
                self._count += 1
                if self._count > 2 * self.max_lines:
                    kept = _read_lines(self.path)[-self.max_lines :]
                    write_bytes_atomic(self.path, "".join(kept).encode(), durable=False)
                    self._count = len(kept)
            except OSError:
                pass  # a log line is never worth failing the task for


def read_log(path: Path, limit: int = MAX_LINES) -> dict[str, Any]:
    """``{"lines": [{"at", "message"}], "truncated"}``: the last ``limit`` lines."""
    lines = _read_lines(Path(path))
    shown = lines[-limit:]
    entries = []
    for raw in shown:
        at, _, message = raw.rstrip("\n").partition(" ")
        entries.append({"at": at, "message": message})
    return {"lines": entries, "truncated": len(lines) > len(shown)}


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)
    except FileNotFoundError:
        return []


__all__ = ["MAX_LINES", "TaskLog", "read_log", "redact"]
