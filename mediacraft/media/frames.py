"""One frame of a video as JPEG, fast at any position (for the region picker).

The frame is found by seeking to the keyframe at or before the wanted time and
decoding forward from there, so the cost depends on the keyframe interval, not
on the position in the video. ``index`` maps to time as ``index / fps`` from the
stream's first timestamp, exact for constant-frame-rate video (what cameras,
screen recorders and encoders produce) and the nearest frame otherwise.
"""

from __future__ import annotations

import os
import time
from fractions import Fraction
from typing import Any

import av

from ..exceptions import MediaError, ValidationError
from .probe import DEFAULT_BUDGET, DecodeBudget, _video_stream, decoder_options, open_local

JPEG_QUALITY = ("2", "4")  # qmin, qmax of the mjpeg encoder (lower is better)


def extract_frame(
    path: str | os.PathLike[str],
    index: int | None = None,
    t: float | None = None,
    max_width: int | None = None,
    *,
    time_limit: float | None = None,
    budget: DecodeBudget = DEFAULT_BUDGET,
) -> bytes:
    """Frame number ``index`` (0-based) or the frame shown at ``t`` seconds, as JPEG bytes.

    Exactly one of ``index`` / ``t`` may be given (neither: the first frame).
    ``max_width`` scales the picture down (aspect kept); coordinates picked on
    a scaled frame must be scaled back by the caller. ``time_limit`` (seconds)
    bounds the decoding: a file with keyframes far apart may need every frame
    from the last keyframe decoded; past the limit the search gives up.
    """
    deadline = None if time_limit is None else time.monotonic() + time_limit
    if index is not None and t is not None:
        raise ValidationError("give either a frame index or a time, not both")
    if max_width is not None and (not isinstance(max_width, int) or max_width < 16):
        raise ValidationError("max_width must be an integer of at least 16")
    try:
        container = open_local(path)
    except av.FFmpegError:
        raise MediaError("the video could not be opened") from None
    with container:
        stream = _video_stream(container)
        if stream is None:
            raise MediaError("the file has no video stream")
        if stream.codec_context.width * stream.codec_context.height > budget.max_pixels:
            raise MediaError("the video's frames are larger than the server decodes")
        stream.codec_context.options = decoder_options(budget)
        target = _target_time(container, stream, index, t)
        frame = _find_frame(container, stream, target, deadline, time_limit)
        return encode_jpeg(frame, max_width)


def _target_time(container: Any, stream: Any, index: int | None, t: float | None) -> float:
    """Seconds after the stream start of the wanted frame; validates index/t."""
    rate = stream.average_rate or stream.guessed_rate
    fps = float(rate) if rate else 25.0
    duration = _duration(container, stream)
    frames = int(stream.frames) if stream.frames else max(1, int(round(duration * fps)))
    if index is not None:
        if isinstance(index, bool) or not isinstance(index, int):
            raise ValidationError("frame index must be an integer")
        if not 0 <= index < frames:
            raise ValidationError(f"frame index {index} is out of range (0 to {frames - 1})")
        return index / fps
    if t is not None:
        if isinstance(t, bool) or not isinstance(t, int | float) or t != t:
            raise ValidationError("time must be a number of seconds")
        if not 0 <= t <= duration:
            raise ValidationError(f"time {t:g} s is outside the video (0 to {duration:.3f} s)")
        return min(float(t), max(0.0, duration - 0.5 / fps))
    return 0.0


def _duration(container: Any, stream: Any) -> float:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return 0.0


def _find_frame(
    container: Any,
    stream: Any,
    seconds: float,
    deadline: float | None = None,
    time_limit: float | None = None,
) -> av.VideoFrame:
    """Decode forward from the keyframe before ``seconds``; the first frame at/after it.

    If the demuxer landed after the wanted time (imprecise seeking, e.g. in
    MPEG-TS), seek further back and try again; finally from the start.
    """
    tb: Fraction = stream.time_base
    start = stream.start_time or 0
    rate = stream.average_rate or stream.guessed_rate or 25
    half_frame = int(Fraction(1, 2) / Fraction(rate) / tb)
    target = start + int(round(Fraction(seconds).limit_denominator(1_000_000) / tb))
    for back in (0.0, 2.0, 10.0, None):
        if back is None:
            container.seek(0, stream=stream, backward=True)
        else:
            seek_to = max(start, target - int(back / tb))
            container.seek(seek_to, stream=stream, backward=True, any_frame=False)
        frame = _decode_until(container, stream, target - half_frame, deadline, time_limit)
        if frame is not None and (frame[1] or back is None):
            return frame[0]
    raise MediaError("the frame could not be decoded")


def _decode_until(
    container: Any,
    stream: Any,
    threshold: int,
    deadline: float | None = None,
    time_limit: float | None = None,
) -> tuple[Any, bool] | None:
    """(frame, landed_before) for the first frame with pts >= threshold.

    ``landed_before`` says the first decoded frame was at or before the target, i.e.
    the seek did not overshoot. At the end of the stream the last frame is returned.
    """
    first_pts: int | None = None
    last = None
    try:
        for frame in container.decode(stream):
            if frame.pts is None:
                continue
            if first_pts is None:
                first_pts = frame.pts
            last = frame
            if frame.pts >= threshold:
                return frame, first_pts <= threshold
            if deadline is not None and time.monotonic() > deadline:
                raise MediaError(
                    f"finding this frame took longer than {time_limit:g} s (the video has "
                    "few keyframes); choose a frame nearer the start"
                )
    except av.FFmpegError:
        if last is None:
            raise MediaError("the frame could not be decoded") from None
    if last is None:
        return None
    return last, True


def encode_jpeg(frame: av.VideoFrame, max_width: int | None = None) -> bytes:
    """Encode one decoded frame as a JPEG with PyAV's mjpeg encoder (no Pillow needed)."""
    width, height = frame.width, frame.height
    if max_width and width > max_width:
        height = max(2, int(round(height * max_width / width / 2)) * 2)
        width = max_width - max_width % 2
    picture = frame.reformat(width=width, height=height, format="yuvj420p")
    codec = av.CodecContext.create("mjpeg", "w")
    codec.width = width
    codec.height = height
    codec.pix_fmt = "yuvj420p"
    codec.time_base = Fraction(1, 25)
    codec.options = {"qmin": JPEG_QUALITY[0], "qmax": JPEG_QUALITY[1]}
    packets = codec.encode(picture) + codec.encode(None)
    return b"".join(bytes(packet) for packet in packets)
