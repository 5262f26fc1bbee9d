"""Write a media file under a temporary name and rename it into place.

A reader (the download endpoint, a preview) never sees a half-written file:
ffmpeg writes ``.<name>.<random>.part.mp4`` in the destination's directory and
the finished file is moved over ``dst`` with ``os.replace``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_output(dst: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``dst``; on success rename it to ``dst``.

    The temporary name keeps the ``.mp4`` suffix so players can recognise a
    leftover, but callers pass ``-f mp4`` to ffmpeg anyway. On any exception
    (including cancel) the temporary file is removed.
    """
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.stem}.{secrets.token_hex(4)}.part{dst.suffix}")
    try:
        yield tmp
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, dst)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
