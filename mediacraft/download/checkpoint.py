"""The resume checkpoint of one download: a small JSON file in the task's work dir.

Written atomically (temp file, fsync, ``os.replace``, fsync of the directory),
so a crash mid-write leaves the old or the new checkpoint, never a torn one.
A checkpoint that does not parse is ignored: the download starts over.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..atomic import write_bytes_atomic

NAME = "checkpoint.json"
VERSION = 1


class Checkpoint:
    """Load and save one download's state (a JSON object)."""

    def __init__(self, work_dir: Path) -> None:
        self.path = Path(work_dir) / NAME

    def load(self, kind: str, fingerprint: str) -> dict[str, Any] | None:
        """The saved state if it belongs to the same download, else None."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict):
            return None
        if data.get("version") != VERSION or data.get("kind") != kind:
            return None
        if data.get("fingerprint") != fingerprint:
            return None
        return data

    def save(self, kind: str, fingerprint: str, state: dict[str, Any]) -> None:
        record = {"version": VERSION, "kind": kind, "fingerprint": fingerprint, **state}
        write_bytes_atomic(self.path, json.dumps(record, separators=(",", ":")).encode())

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


__all__ = ["Checkpoint"]
