"""MP4 results: the output arguments every writer uses, and the atomic rename.

:func:`mp4_args` is the one place that says how an MP4 is written: the index
in front of the data (players start at once) and the metadata policy. The
download remux, the watermark and merge processors and ``mediacraft batch``
all end their ffmpeg command with it.

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
from typing import Literal

#: no metadata and no encoder tags: the same input always gives the same bytes (a
#: resumed download is byte-identical to an uninterrupted one)
BITEXACT = [
    "-map_metadata", "-1",
    "-fflags", "+bitexact",
    "-flags:v", "+bitexact",
    "-flags:a", "+bitexact",
]  # fmt: skip
#: room reserved for the MP4 index (moov) per second of media and track: measured indexes
#: take ~0.3-0.8 KiB/s per track (60 fps with B-frames is the high end); 2 KiB leaves margin
MOOV_BYTES_PER_SECOND = 2048
MOOV_BASE = 64 * 1024


def faststart_args(duration: float | None = None, tracks: int = 2) -> list[str]:
    """How the MP4's index gets in front of its data (so players start at once).

    With the duration known, room for the index is reserved at the start of the
    file and ffmpeg writes it there at the end: no second pass over the whole
    file, which ``+faststart`` makes (about a second per GB). Without it, or if
    the room was too small (the download remux then writes again), ``+faststart``.
    """
    if duration and duration > 0:
        size = MOOV_BASE + int(duration * MOOV_BYTES_PER_SECOND * max(1, tracks))
        return ["-moov_size", str(size)]
    return ["-movflags", "+faststart"]


def mp4_args(
    *,
    metadata: Literal["keep", "strip"] = "keep",
    duration: float | None = None,
    tracks: int = 2,
) -> list[str]:
    """The output options of an MP4 result, to go right before its file name.

    ``metadata="keep"`` copies the (first) input's title, dates and tags, as a
    processed video should; ``"strip"`` writes none and makes the bytes
    deterministic (:data:`BITEXACT`), as a download's result is. ``duration``
    (with ``tracks``) reserves the index's room up front instead of a second
    ``+faststart`` pass; leave it out when the length is not known for sure.
    """
    policy = BITEXACT if metadata == "strip" else ["-map_metadata", "0"]
    return [*faststart_args(duration, tracks), *policy, "-f", "mp4"]


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
