"""The resume checkpoint of one download: a small JSON file in the task's work dir.

Written atomically (temp file, fsync, ``os.replace``, fsync of the directory),
so a crash mid-write leaves the old or the new checkpoint, never a torn one.
A checkpoint that does not parse is ignored: the download starts over.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

NAME = "checkpoint.json"
VERSION = 1


def atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


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
        atomic_write_bytes(self.path, json.dumps(record, separators=(",", ":")).encode())

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


__all__ = ["Checkpoint", "atomic_write_bytes", "fsync_dir"]
