"""One frame restored as the chosen method would, within a request's time limit.

The full run learns from the whole video; a preview cannot. It decodes the
frames around the wanted one (for the motion and the temporal fill) and a
few dozen frames spread over the video (for the overlay estimate), then
rebuilds the one frame with the same code as the full run. Rectangles planned
as ``delogo`` go through the bundled ffmpeg's filter on that one frame.
"""

from __future__ import annotations

import io
import os
import subprocess
import time
from collections import OrderedDict
from fractions import Fraction

import av
import numpy as np

from ..exceptions import MediaError, ValidationError
from ..media import probe
from ..media.ffmpeg import ffmpeg_exe, summarise
from ..media.frames import encode_jpeg
from ..media.probe import DEFAULT_BUDGET, DecodeBudget
from .motion import MotionTracker
from .overlay import OverlaySampler
from .pipeline import Analysis, masks_for, plan_regions, rebuild_frame, region_mask
from .stream import Planes, decode_planes, video_shape

#: frames on each side of the previewed one
WINDOW = 24
#: frames spread over the video for the overlay estimate
OVERLAY_SAMPLES = 32
JPEG_QUALITY = "3"


def planes_to_frame(planes: Planes) -> av.VideoFrame:
    y, u, v = planes
    h, w = y.shape
    packed = np.empty((h * 3 // 2, w), np.uint8)
    packed[:h] = y
    packed[h : h + h // 4] = u.reshape(h // 4, w)
    packed[h + h // 4 :] = v.reshape(h // 4, w)
    return av.VideoFrame.from_ndarray(packed, format="yuv420p")


def _spread_samples(
    path: str | os.PathLike[str], shape, count: int, deadline: float
) -> list[tuple[int, Planes]]:
    """About ``count`` frames spread over the video (keyframes when it is long)."""
    step = max(1, shape.frames // count)
    found: list[tuple[int, Planes]] = []
    if shape.frames <= 600:
        for index, planes in decode_planes(path):
            if index % step == 0:
                found.append((index, planes))
            if time.monotonic() > deadline:
                break
        return found
    for k in range(count):
        if time.monotonic() > deadline:
            break
        start = k * step
        for index, planes in decode_planes(path, start_frame=start, rate=shape.rate):
            found.append((index, planes))
            break
    return found


def _delogo_jpeg(planes: Planes, rects: list[tuple[int, int, int, int]], timeout: float) -> bytes:
    """The frame through ffmpeg's delogo (one per rectangle), as JPEG."""
    y = planes[0]
    height, width = y.shape
    chain = []
    for x, top, w, h in rects:
        x1, y1 = max(x, 1), max(top, 1)
        x2, y2 = min(x + w, width - 1), min(top + h, height - 1)
        chain.append(f"delogo=x={x1}:y={y1}:w={x2 - x1}:h={y2 - y1}")
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error"]
    cmd += ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{width}x{height}", "-i", "pipe:0"]
    cmd += ["-vf", ",".join(chain), "-frames:v", "1", "-c:v", "mjpeg", "-q:v", JPEG_QUALITY]
    cmd += ["-f", "image2pipe", "pipe:1"]
    raw = b"".join(np.ascontiguousarray(p).tobytes() for p in planes)
    try:
        done = subprocess.run(cmd, input=raw, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise MediaError(f"the preview took longer than {timeout:g} s") from None
    if done.returncode != 0 or not done.stdout:
        raise MediaError(f"the preview failed: {summarise(done.stderr.decode('utf-8', 'replace'))}")
    return done.stdout


def preview_frame(
    path: str | os.PathLike[str],
    index: int,
    rects: list[tuple[int, int, int, int]],
    method: str,
    *,
    time_limit: float,
    budget: DecodeBudget = DEFAULT_BUDGET,
    max_width: int | None = None,
) -> bytes:
    """Frame ``index`` with ``rects`` restored by ``method``, as JPEG bytes."""
    start = time.monotonic()
    deadline = start + time_limit
    info = probe(path)
    if info.width * info.height > budget.max_pixels:
        raise MediaError("the video's frames are larger than the server decodes")
    shape = video_shape(path, info)
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < shape.frames:
        raise ValidationError(f"frame {index} is out of range (0 to {shape.frames - 1})")
    mask = region_mask(rects, (shape.height, shape.width))
    first = max(0, index - WINDOW)
    frames: OrderedDict[int, Planes] = OrderedDict()
    tracker = MotionTracker(shape.width, shape.height, mask)
    for i, planes in decode_planes(path, start_frame=first, rate=shape.rate):
        frames[i] = planes
        tracker.add(planes[0])
        if i >= index + WINDOW or time.monotonic() > deadline:
            break
    if index not in frames:
        raise MediaError(
            f"the preview took longer than {time_limit:g} s; try a frame nearer the start"
        )
    offsets = np.zeros((max(frames) + 1, 2))
    offsets[min(frames) :] = tracker.array()[: len(frames)]
    samplers = [OverlaySampler(r, (shape.height, shape.width), shape.frames) for r in rects]
    budget_left = deadline - time.monotonic()
    if method in ("auto", "unblend", "temporal") and budget_left > 0.3 * time_limit:
        spread = _spread_samples(path, shape, OVERLAY_SAMPLES, deadline - 0.25 * time_limit)
        for sampler in samplers:
            sampler.stride = 1  # every sample taken here is wanted
            for k, (_, planes) in enumerate(spread):
                sampler.add(k, planes)
    overlays = [sampler.estimate(mask) for sampler in samplers]
    plans = plan_regions(rects, method, offsets, overlays, WINDOW)
    analysis = Analysis(shape, offsets, plans, WINDOW)
    rebuilt = rebuild_frame(index, frames, analysis, masks_for(analysis))
    delogo = [p.rect for p in plans if p.method == "delogo"]
    if delogo:
        left = max(1.0, deadline - time.monotonic())
        jpeg = _delogo_jpeg(rebuilt, delogo, left)
        if max_width is None or max_width >= shape.width:
            return jpeg
        with av.open(io.BytesIO(jpeg), format="jpeg_pipe") as container:
            frame = next(container.decode(video=0))
        return encode_jpeg(frame, max_width)
    frame = planes_to_frame(rebuilt)
    frame.time_base = Fraction(1, 25)
    return encode_jpeg(frame, max_width)
