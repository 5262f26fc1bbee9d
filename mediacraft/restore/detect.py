"""Suggest logo rectangles: what stays put while the picture changes.

A few dozen frames spread over the video are decoded (one keyframe each, so
the cost does not grow with the video's length) and reduced to at most
:data:`WORK_WIDTH` pixels across. Two cues, depending on the shot:

* a moving picture (the frames do not follow one brightness model): pixels
  that are an edge in nearly every frame, or that hardly change at all while
  the rest does, belong to something burned in;
* a fixed camera (every frame is a gain and offset of the mean frame): the
  burned-in pixels are those that do not follow the light like the rest, i.e.
  where ``I = c + b*(g*B0 + o)`` needs ``b < 1`` or ``c > 0`` (see
  :mod:`.overlay`).

The cue map is closed, split into connected parts, and each part's bounding
box (slightly grown) is a suggestion, scaled back to the video's pixels.
"""

from __future__ import annotations

import math
import os
import time
from fractions import Fraction

import av
import cv2
import numpy as np

from ..exceptions import MediaError
from ..media.probe import DEFAULT_BUDGET, DecodeBudget, _video_stream, decoder_options, open_local

WORK_WIDTH = 640
SAMPLES = 32
MIN_SAMPLES = 6
MAX_SUGGESTIONS = 8
LASTING_EDGE = 10.0  # median gradient (8-bit levels per pixel) of a burned-in edge
STILL_SPREAD = 2.0  # temporal spread (levels) of a pixel that does not change
MIN_AREA = 0.0002  # of the frame
MAX_AREA = 0.2
FIXED_CAMERA_FIT = 0.97
#: up to this many frames the video is decoded through rather than sought in
SEQUENTIAL_FRAMES = 1500


def sample_frames(
    path: str | os.PathLike[str],
    samples: int = SAMPLES,
    *,
    deadline: float | None = None,
    budget: DecodeBudget = DEFAULT_BUDGET,
) -> tuple[list[np.ndarray], tuple[int, int]]:
    """Up to ``samples`` reduced luma frames spread over the video, and its (width, height).

    Each sample is the keyframe at or before its time (duplicates dropped).
    Stops early, with what it has, when ``deadline`` passes.
    """
    try:
        container = open_local(path)
    except av.FFmpegError:
        raise MediaError("the video could not be opened") from None
    with container:
        stream = _video_stream(container)
        if stream is None:
            raise MediaError("the file has no video stream")
        width, height = stream.codec_context.width, stream.codec_context.height
        if width * height > budget.max_pixels:
            raise MediaError("the video's frames are larger than the server decodes")
        stream.codec_context.options = decoder_options(budget)
        duration = 0.0
        if stream.duration and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        elif container.duration:
            duration = container.duration / av.time_base
        factor = max(1, math.ceil(width / WORK_WIDTH))
        size = (max(16, width // factor), max(16, height // factor))
        rate = float(stream.average_rate or stream.guessed_rate or 25)
        total = int(stream.frames or 0) or int(duration * rate)
        if total <= SEQUENTIAL_FRAMES:
            frames = _sequential(container, stream, samples, total, size, deadline)
        else:
            frames = _seeking(container, stream, samples, duration, size, deadline)
        return frames, (width, height)


def _reduce(frame: av.VideoFrame, size: tuple[int, int]) -> np.ndarray:
    gray = frame.reformat(width=size[0], height=size[1], format="gray")
    rows = np.frombuffer(gray.planes[0], np.uint8).reshape(size[1], -1)
    return rows[:, : size[0]].astype(np.float32)


def _sequential(container, stream, samples, total, size, deadline) -> list[np.ndarray]:
    """A short video: decode it through, keep every n-th frame."""
    stride = max(1, total // samples)
    frames = []
    try:
        for index, frame in enumerate(container.decode(stream)):
            if deadline is not None and time.monotonic() > deadline:
                break
            if index % stride == 0:
                frames.append(_reduce(frame, size))
    except av.FFmpegError:
        pass
    return frames


def _seeking(container, stream, samples, duration, size, deadline) -> list[np.ndarray]:
    """A long video: one frame near each sample time (the keyframe before it)."""
    tb: Fraction = stream.time_base
    start = stream.start_time or 0
    frames: list[np.ndarray] = []
    seen: set[int] = set()
    for k in range(samples):
        if deadline is not None and time.monotonic() > deadline:
            break
        t = duration * (k + 0.5) / samples
        try:
            container.seek(start + int(t / tb), stream=stream, backward=True)
            frame = next(container.decode(stream), None)
        except (av.FFmpegError, StopIteration):
            continue
        if frame is None or frame.pts in seen:
            continue
        seen.add(frame.pts)
        frames.append(_reduce(frame, size))
    return frames


def _light_model(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per frame ``frame ≈ g*mean + o`` (gains, offsets, share explained), fitted twice:
    the second time without the pixels the first fit explained worst (a logo,
    burned-out highlights), so that they do not bend the model."""
    k = len(flat)
    mean = flat.mean(axis=0)
    use = np.ones(flat.shape[1], bool)
    for _ in range(2):
        m = mean[use]
        centred = m - m.mean()
        spread = float((centred**2).sum()) or 1.0
        part = flat[:, use]
        gains = (part - part.mean(axis=1, keepdims=True)) @ centred / spread
        offsets = part.mean(axis=1) - gains * m.mean()
        residual = flat - (gains[:, None] * mean[None] + offsets[:, None])
        worst = (residual**2).sum(axis=0)
        use = worst <= np.quantile(worst, 0.7)
    total = ((flat - flat.mean(axis=1, keepdims=True)) ** 2).sum(axis=1) + 1e-6
    fit = 1.0 - (residual**2).sum(axis=1) / total
    return gains, offsets, fit if k else np.zeros(0)


def cue_map(frames: list[np.ndarray]) -> np.ndarray:
    """Per pixel, whether it looks burned in (bool map at the frames' size)."""
    stack = np.stack(frames)
    flat = stack.reshape(len(stack), -1)
    gains, offsets, fit = _light_model(flat)
    if np.median(fit) >= FIXED_CAMERA_FIT and np.std(gains) + np.std(offsets) / 50 > 0.01:
        return _light_cue(flat, gains, offsets).reshape(stack.shape[1:])
    return _motion_cue(stack)


def _light_cue(flat: np.ndarray, gains: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Fixed camera: pixels whose response to the light change is not the picture's.

    Every pixel is fitted as ``I = c + s*g + b*o``; the picture's own pixels
    share ``c`` = 0 and ``b`` = 1 (with a gain and offset that move together,
    only the fit on ``[1, g]`` is defined, and its intercept is the same for
    all of the picture's pixels). A burned-in pixel stands out from that and
    follows its own fit closely (a clipped highlight follows it only piecewise).
    """
    k = len(flat)
    collinear = abs(float(np.corrcoef(gains, offsets)[0, 1])) > 0.95
    columns = [np.ones(k), gains] if collinear else [np.ones(k), gains, offsets]
    design = np.column_stack(columns)
    coef = np.linalg.pinv(design.T @ design) @ design.T @ flat
    residual = np.sqrt(((flat - design @ coef) ** 2).sum(axis=0) / k)
    clipped = (flat.max(axis=0) >= 250) | (flat.min(axis=0) <= 5)
    steady = (residual < 2.0) & ~clipped
    intercept = coef[0] - float(np.median(coef[0][steady])) if steady.any() else coef[0]
    if collinear:
        return steady & (np.abs(intercept) > 8.0)
    return steady & (np.abs(coef[2] - 1.0) > 0.15) & (np.abs(intercept) > 8.0)


def _motion_cue(stack: np.ndarray) -> np.ndarray:
    """Moving picture: edges that keep their direction, and pixels that stay still.

    The median over frames of each gradient component is near zero where the
    picture moves (its edges come and go, either way round) and keeps the
    burned-in edges, whose sign holds whatever is behind them (as in Dekel et
    al., "On the Effectiveness of Visible Watermarks", CVPR 2017).
    """
    gx = np.stack([cv2.Sobel(f, cv2.CV_32F, 1, 0, ksize=3) / 4.0 for f in stack])
    gy = np.stack([cv2.Sobel(f, cv2.CV_32F, 0, 1, ksize=3) / 4.0 for f in stack])
    lasting = np.hypot(np.median(gx, axis=0), np.median(gy, axis=0)) > LASTING_EDGE
    spread = stack.std(axis=0)
    still = spread < max(STILL_SPREAD, 0.1 * float(np.median(spread)))
    if float(np.median(spread)) < 4 * STILL_SPREAD:
        still[:] = False  # the picture itself hardly changes: stillness says nothing
    return lasting | still


def boxes_from_cue(
    cue: np.ndarray, mean: np.ndarray, scale: float, frame_size: tuple[int, int]
) -> list[list[int]]:
    """Bounding boxes of the cue's connected parts, in video pixels, biggest first."""
    h, w = cue.shape
    close = max(3, int(round(w / 80)) | 1)
    mask = cv2.morphologyEx(cue.astype(np.uint8), cv2.MORPH_OPEN, np.ones((2, 2), np.uint8))
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((close, close), np.uint8))
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    width, height = frame_size
    found = []
    for label in range(1, count):
        x, y, bw, bh, area = (int(v) for v in stats[label])
        if bw * bh < MIN_AREA * w * h or bw * bh > MAX_AREA * w * h or area < 0.25 * bw * bh:
            continue
        if bw < 3 or bh < 3:
            continue
        if float(mean[y : y + bh, x : x + bw].std()) < 3.0:
            continue  # uniform (a black bar, a flat sky): nothing to remove
        x0 = max(0, int(math.floor(x * scale)) - 1)
        y0 = max(0, int(math.floor(y * scale)) - 1)
        x1 = min(width, int(math.ceil((x + bw) * scale)) + 1)
        y1 = min(height, int(math.ceil((y + bh) * scale)) + 1)
        found.append((area, [x0, y0, x1 - x0, y1 - y0]))
    found.sort(key=lambda item: -item[0])
    return [box for _, box in found[:MAX_SUGGESTIONS]]


def suggest_regions(
    path: str | os.PathLike[str],
    *,
    time_limit: float | None = None,
    budget: DecodeBudget = DEFAULT_BUDGET,
) -> list[list[int]]:
    """Rectangles ``[x, y, w, h]`` that look like burned-in logos (may be empty)."""
    deadline = None if time_limit is None else time.monotonic() + time_limit
    frames, size = sample_frames(path, deadline=deadline, budget=budget)
    if len(frames) < MIN_SAMPLES:
        return []
    cue = cue_map(frames)
    scale = size[0] / frames[0].shape[1]
    return boxes_from_cue(cue, np.mean(frames, axis=0), scale, size)
