"""A finished result's poster: one small JPEG frame from about a tenth of the way in.

Made once, when a task completes, next to the result (``poster.jpg`` in the
result directory, so it is counted in the visitor's quota and removed with
the task). The frame comes from PyAV (:func:`mediacraft.media.frames.extract_frame`),
not from a subprocess. A result without a video stream (an audio-only
download) gets no poster and ``has_video: false``, so the pages show a
neutral icon instead. A poster that cannot be made never fails the task.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import av

from .atomic import write_bytes_atomic
from .exceptions import MediaError
from .media.frames import extract_frame
from .media.probe import _video_stream, open_local

log = logging.getLogger(__name__)

POSTER_NAME = "poster.jpg"
POSTER_WIDTH = 320
POSTER_AT = 0.10  # fraction of the duration
POSTER_TIME_LIMIT = 20.0  # seconds of decoding at most (few keyframes, huge GOPs)


def video_duration(path: Path) -> tuple[bool, float]:
    """(has a video stream, duration in seconds) from the container header."""
    with open_local(path, None) as container:
        stream = _video_stream(container)
        duration = container.duration / av.time_base if container.duration else 0.0
        if stream is not None and stream.duration and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        return stream is not None, duration


def make_poster(result_file: Path, result_dir: Path) -> dict[str, Any]:
    """Write the poster of ``result_file`` into ``result_dir``; the fields for ``task.result``.

    Returns ``{"has_video": bool, "poster": name or None, "duration": seconds}``
    (``duration`` only when it could be read).
    """
    fields: dict[str, Any] = {"has_video": False, "poster": None}
    try:
        has_video, duration = video_duration(result_file)
    except (av.FFmpegError, OSError) as exc:
        log.warning("No poster for %s: %s", result_file.name, exc)
        return fields
    if duration > 0:
        fields["duration"] = round(duration, 3)
    fields["has_video"] = has_video
    if not has_video:
        return fields
    try:
        image = extract_frame(
            result_file,
            t=duration * POSTER_AT if duration > 0 else None,
            max_width=POSTER_WIDTH,
            time_limit=POSTER_TIME_LIMIT,
        )
    except (MediaError, av.FFmpegError, OSError) as exc:
        log.warning("No poster for %s: %s", result_file.name, getattr(exc, "message", exc))
        return fields
    try:
        write_bytes_atomic(result_dir / POSTER_NAME, image)
    except OSError as exc:  # a full disk fails no finished task over its poster
        log.warning("Could not write the poster of %s: %s", result_file.name, exc)
        return fields
    fields["poster"] = POSTER_NAME
    return fields


def attach_poster(result: dict[str, Any] | None, result_dir: Path) -> dict[str, Any] | None:
    """``result`` with its poster fields added (a processor's result, before it is recorded)."""
    if not result or not result.get("file_name"):
        return result
    path = result_dir / Path(str(result["file_name"])).name
    if not path.is_file():
        return result
    fields = make_poster(path, result_dir)
    if result.get("duration"):
        fields.pop("duration", None)  # the processor's own figure stays
    return {**result, **fields}


def poster_file(result_dir: Path, result: dict[str, Any] | None) -> Path | None:
    """The poster recorded in ``result``, if it is on disk (never a name from a request)."""
    if not result or result.get("poster") != POSTER_NAME:
        return None
    path = result_dir / POSTER_NAME
    return path if path.is_file() and os.path.getsize(path) > 0 else None
