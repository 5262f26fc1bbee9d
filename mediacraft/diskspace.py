"""The data directory's disk: free space, a real write test, write errors named as such.

A full or read-only disk is a fault of the server, not of the visitor's
input nor of the network: it is reported as :class:`StorageFull` ("the
server's disk is full") and never retried as if a connection had dropped.
"""

from __future__ import annotations

import errno
import os
import uuid
from pathlib import Path

from .exceptions import StorageFull

MiB = 1024 * 1024

_MEANINGS = {
    errno.ENOSPC: "the server's disk is full",
    errno.EDQUOT: "the server's disk quota is used up",
    errno.EROFS: "the server's storage is read-only",
}
# How ffmpeg (and other tools) print the same conditions on stderr.
_TOOL_MESSAGES = {
    "no space left on device": errno.ENOSPC,
    "disk quota exceeded": errno.EDQUOT,
    "read-only file system": errno.EROFS,
}


def storage_failure(exc: BaseException) -> StorageFull | None:
    """A :class:`StorageFull` for an error that means the disk takes no writes, else None."""
    if isinstance(exc, StorageFull):
        return exc
    if isinstance(exc, OSError) and exc.errno in _MEANINGS:
        return StorageFull(f"The task could not be saved: {_MEANINGS[exc.errno]}")
    return None


def tool_storage_failure(output: str) -> StorageFull | None:
    """The same, recognised in a tool's error output (ffmpeg writing its result)."""
    lowered = output.lower()
    for text, code in _TOOL_MESSAGES.items():
        if text in lowered:
            return StorageFull(f"The result could not be written: {_MEANINGS[code]}")
    return None


def free_bytes(directory: Path) -> int:
    """Bytes an unprivileged writer may still use on ``directory``'s file system."""
    stats = os.statvfs(directory)
    return stats.f_bavail * stats.f_frsize


def write_probe(directory: Path) -> None:
    """Create, write, fsync and remove a small file in ``directory``; raises OSError.

    A health check that only reads would call a read-only or full disk
    healthy. The name is a temp-file name (``.….tmp``) so a probe left by a
    killed process is swept like any other.
    """
    path = Path(directory) / f".healthz-{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            os.write(fd, b"mediacraft health probe\n")
            os.fsync(fd)
        finally:
            os.close(fd)
    finally:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def problem(directory: Path, min_free_mb: int) -> str | None:
    """Why ``directory`` cannot take work now (not writable, nearly full), or None."""
    try:
        write_probe(directory)
    except OSError as exc:
        reason = _MEANINGS.get(exc.errno or 0, exc.strerror or type(exc).__name__)
        return f"the data directory is not writable: {reason}"
    try:
        free = free_bytes(directory)
    except OSError as exc:
        return f"the free space of the data directory is unknown: {exc.strerror}"
    if free < min_free_mb * MiB:
        return (
            f"the data directory is nearly full: {free // MiB} MB free, "
            f"at least {min_free_mb} MB needed"
        )
    return None


__all__ = ["free_bytes", "problem", "storage_failure", "tool_storage_failure", "write_probe"]
