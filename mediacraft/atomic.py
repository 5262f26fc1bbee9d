"""Crash-safe file writes: temp file in the same directory, fsync, ``os.replace``.

A process killed at any instant leaves either the old or the new content,
never a torn file. Leftover temp files (from a kill between create and
replace) carry the ``.tmp`` suffix and are swept by :func:`sweep_temp_files`.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

TEMP_SUFFIX = ".tmp"


def fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (no-op where unsupported)."""
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


def write_bytes_atomic(path: Path, data: bytes, *, durable: bool = True) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    if durable:
        fsync_dir(path.parent)


def write_json_atomic(path: Path, data: Any, *, durable: bool = True) -> None:
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    write_bytes_atomic(path, payload, durable=durable)


def read_json(path: Path) -> Any:
    """Parse a JSON file; raises FileNotFoundError or ValueError (damaged)."""
    with open(path, "rb") as handle:
        raw = handle.read()
    return json.loads(raw)


def sweep_temp_files(root: Path, older_than: float = 60.0) -> int:
    """Remove temp files left by killed writers under ``root``; return how many.

    Only files older than ``older_than`` seconds: another live process may be
    between creating its temp file and renaming it.
    """
    removed = 0
    if not root.exists():
        return 0
    cutoff = time.time() - older_than
    for directory, _dirs, files in os.walk(root):
        for name in files:
            if name.startswith(".") and name.endswith(TEMP_SUFFIX):
                path = os.path.join(directory, name)
                try:
                    if os.stat(path).st_mtime < cutoff:
                        os.unlink(path)
                        removed += 1
                except FileNotFoundError:
                    pass
    return removed
