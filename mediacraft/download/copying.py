"""Copies the kernel makes: segment files into group files, group files into ffmpeg's pipe.

Every byte of an HLS download is moved twice more after it arrives (into the
assembled stream, then to the remuxing ffmpeg); ``copy_file_range`` and
``splice`` do it without passing the data through Python, which matters on a
fast link where the download is bound by CPU. Where the kernel or the file
system does not offer them, a plain read/write loop does the same.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable

CHUNK = 1024 * 1024


def copy_into(source: int, target: int, count: int) -> None:
    """Copy ``count`` bytes from ``source``'s position to ``target``'s position (both fds)."""
    _move(lambda n: os.copy_file_range(source, target, n), source, target, count, 1 << 30)


def splice_into(source: int, pipe: int, count: int) -> None:
    """Move ``count`` bytes from ``source``'s position into ``pipe`` (blocking)."""
    _move(lambda n: os.splice(source, pipe, n), source, pipe, count, CHUNK)


def _move(kernel: Callable[[int], int], source: int, target: int, count: int, step: int) -> None:
    remaining = count
    while remaining > 0:
        try:
            moved = kernel(min(remaining, step))
        except (AttributeError, OSError) as exc:
            if isinstance(exc, OSError) and exc.errno not in _FALLBACK:
                raise
            _copy_plain(source, target, remaining)
            return
        if moved == 0:
            raise OSError(0, f"source ended {remaining} bytes early")
        remaining -= moved


def _copy_plain(source: int, target: int, count: int) -> None:
    remaining = count
    while remaining > 0:
        data = os.read(source, min(remaining, CHUNK))
        if not data:
            raise OSError(0, f"source ended {remaining} bytes early")
        view = memoryview(data)
        while view:
            written = os.write(target, view)
            view = view[written:]
        remaining -= len(data)


# copy_file_range/splice not offered here (old kernel, other file system, sandbox)
_FALLBACK = {errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EPERM}

__all__ = ["copy_into", "splice_into"]
