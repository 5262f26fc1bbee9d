"""Two passes over the video: learn (motion, overlay), then rebuild each frame and encode.

Pass 1 decodes every frame once: the global motion track (two numbers a
frame) and, per rectangle, the crops of a few dozen sampled frames for the
overlay estimate. Then each rectangle gets a plan:

* ``temporal`` where the camera moves enough for the background under the
  rectangle to show within the frame window, pixel by pixel from the nearest
  frames that show it; what no frame shows goes to ``unblend`` where the
  overlay estimate is confident, else to ``inpaint``;
* ``unblend`` where the overlay could be estimated (a semi-transparent logo
  on a fixed camera), ``inpaint`` for the pixels it is unsure of;
* otherwise (an opaque logo on a fixed camera: the picture under it is
  nowhere in the video) ``delogo``, ffmpeg's filter, in the encoding run.

Pass 2 decodes again, keeps a window of frames around the one being rebuilt
(its length from the memory budget), writes the rebuilt frames to ffmpeg.
Memory is the window plus the samples, whatever the video's length.
"""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..exceptions import MediaError
from ..media import MediaInfo, atomic_output, probe
from ..progress import CancelToken, LogHook, Progress, ProgressHook, ignore_log, ignore_progress
from .fill import Blocked, feather, inpaint_planes, temporal_fill
from .methods import METHODS, validate_method  # noqa: F401 (re-exported)
from .motion import MotionTracker
from .overlay import Overlay, OverlaySampler
from .stream import Encoder, Planes, VideoShape, decode_planes, video_shape

Rect = tuple[int, int, int, int]
#: frames on each side of the rebuilt one that may lend it background
MAX_WINDOW = 48
MIN_WINDOW = 4
#: a rectangle is "moving" when this share of frames can be rebuilt from others
MIN_TEMPORAL_SHARE = 0.5
MIN_UNBLEND_SHARE = 0.6
DEFAULT_MEMORY_MB = 512


@dataclass
class RegionPlan:
    rect: Rect
    method: str  # what the rectangle gets: temporal, unblend, inpaint, delogo
    overlay: Overlay | None = None
    notes: list[str] = field(default_factory=list)
    corrections: dict[int, np.ndarray] = field(default_factory=dict)  # local alignment


@dataclass
class Analysis:
    shape: VideoShape
    offsets: np.ndarray
    plans: list[RegionPlan]
    window: int


def region_mask(rects: list[Rect], shape: tuple[int, int], grow: int = 2) -> np.ndarray:
    mask = np.zeros(shape, bool)
    height, width = shape
    for x, y, w, h in rects:
        rows = slice(max(0, y - grow), min(height, y + h + grow))
        mask[rows, max(0, x - grow) : min(width, x + w + grow)] = True
    return mask


def window_for(shape: VideoShape, memory_mb: int) -> int:
    """Frames on each side the memory budget allows (each frame 1.5 bytes a pixel)."""
    frame_bytes = shape.width * shape.height * 3 // 2
    fit = (memory_mb * 1024 * 1024) // max(1, frame_bytes) // 2 - 1
    return int(max(MIN_WINDOW, min(MAX_WINDOW, fit)))


def temporal_share(rect: Rect, offsets: np.ndarray, window: int) -> float:
    """Share of frames whose rectangle a frame within ``window`` shows entirely uncovered."""
    _, _, w, h = rect
    n = len(offsets)
    if n < 2:
        return 0.0
    good = 0
    for t in range(n):
        lo, hi = max(0, t - window), min(n, t + window + 1)
        d = np.abs(offsets[lo:hi] - offsets[t])
        if ((d[:, 0] >= w + 4) | (d[:, 1] >= h + 4)).any():
            good += 1
    return good / n


def plan_regions(
    rects: list[Rect],
    method: str,
    offsets: np.ndarray,
    overlays: list[Overlay],
    window: int,
) -> list[RegionPlan]:
    plans = []
    for rect, overlay in zip(rects, overlays, strict=True):
        share = temporal_share(rect, offsets, window)
        unblend_ok = overlay.usable and overlay.confident_share >= MIN_UNBLEND_SHARE
        plan = RegionPlan(rect, method, overlay if overlay.usable else None)
        label = f"region [{', '.join(map(str, rect))}]"
        if method == "auto":
            if share >= MIN_TEMPORAL_SHARE:
                plan.method = "temporal"
            elif unblend_ok:
                plan.method = "unblend"
            else:
                plan.method = "delogo"
            why = (
                f"{share:.0%} of frames see its background elsewhere"
                if plan.method == "temporal"
                else f"overlay estimated ({overlay.confident_share:.0%} of pixels confident)"
                if plan.method == "unblend"
                else f"nothing in the video shows the background ({overlay.reason or 'opaque'})"
            )
            plan.notes.append(f"{label}: auto chose {plan.method}: {why}")
        elif method == "unblend" and not overlay.usable:
            plan.notes.append(
                f"{label}: the overlay could not be estimated ({overlay.reason}); "
                "filled spatially instead"
            )
            plan.method = "inpaint"
        elif method == "temporal" and share < MIN_TEMPORAL_SHARE:
            plan.notes.append(
                f"{label}: only {share:.0%} of frames see its background in other frames; "
                "the rest is filled spatially"
            )
        plans.append(plan)
    return plans


def analyse(
    src: str | os.PathLike[str],
    rects: list[Rect],
    method: str,
    shape: VideoShape,
    *,
    memory_mb: int = DEFAULT_MEMORY_MB,
    report: ProgressHook = ignore_progress,
    cancel: CancelToken | None = None,
    deadline: float | None = None,
) -> Analysis:
    """Pass 1: the motion track and the overlay samples, then the per-rectangle plan."""
    mask = region_mask(rects, (shape.height, shape.width))
    tracker = MotionTracker(shape.width, shape.height, mask)
    samplers = [OverlaySampler(r, (shape.height, shape.width), shape.frames) for r in rects]
    last_report = 0.0
    count = 0
    for index, planes in decode_planes(src, cancel):
        tracker.add(planes[0])
        for sampler in samplers:
            sampler.add(index, planes)
        count += 1
        _check_deadline(deadline)
        now = time.monotonic()
        if now - last_report > 0.5:
            last_report = now
            report(Progress(stage="analysing", percent=_percent(count, shape.frames)))
    offsets = tracker.array()
    window = window_for(shape, memory_mb)
    overlays = [sampler.estimate(mask) for sampler in samplers]
    plans = plan_regions(rects, method, offsets, overlays, window)
    return Analysis(shape, offsets, plans, window)


def _percent(done: int, total: int) -> float:
    return round(min(99.9, 100.0 * done / max(1, total)), 1)


def _check_deadline(deadline: float | None) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise MediaError("the restoration did not finish within its time limit")


def rebuild_frame(
    t: int,
    frames: OrderedDict[int, Planes] | dict[int, Planes],
    analysis: Analysis,
    masks: tuple[Blocked, Blocked],
) -> Planes:
    """Frame ``t`` with every planned rectangle rebuilt (``delogo`` ones left to ffmpeg)."""
    planes = frames[t]
    out = [p.copy() for p in planes]
    for plan in analysis.plans:
        if plan.method == "delogo":
            continue
        x, y, w, h = plan.rect
        cx, cy, cw, ch = x // 2, y // 2, w // 2, h // 2
        patch = [planes[0][y : y + h, x : x + w].astype(np.float32)]
        patch += [p[cy : cy + ch, cx : cx + cw].astype(np.float32) for p in planes[1:]]
        result = [np.array(p) for p in patch]
        todo = np.ones((h, w), bool)
        if plan.method == "temporal":
            filled, done = temporal_fill(
                t, plan.rect, frames, analysis.offsets, masks, corrections=plan.corrections
            )
            for gone in [u for u in plan.corrections if u not in frames]:
                del plan.corrections[gone]
            done_c = cv2.resize(done.astype(np.uint8), (cw, ch), interpolation=cv2.INTER_AREA) > 0
            result[0][done] = filled[0][done]
            for k in (1, 2):
                result[k][done_c] = filled[k][done_c]
            todo = ~done
        if plan.overlay is not None and plan.method in ("temporal", "unblend") and todo.any():
            unblended = plan.overlay.apply(patch)
            sure = todo & plan.overlay.confident  # type: ignore[operator]
            sure_c = cv2.resize(sure.astype(np.uint8), (cw, ch), interpolation=cv2.INTER_AREA) > 0
            result[0][sure] = unblended[0][sure]
            for k in (1, 2):
                result[k][sure_c] = unblended[k][sure_c]
            todo &= ~sure
        if todo.any():
            spatial = inpaint_planes(tuple(out), plan.rect, todo)  # type: ignore[arg-type]
            weight = feather(todo)
            weight_c = cv2.resize(weight, (cw, ch), interpolation=cv2.INTER_AREA)
            result[0] = weight * spatial[0] + (1 - weight) * result[0]
            for k in (1, 2):
                result[k] = weight_c * spatial[k] + (1 - weight_c) * result[k]
        out[0][y : y + h, x : x + w] = np.clip(np.round(result[0]), 0, 255)
        for k in (1, 2):
            out[k][cy : cy + ch, cx : cx + cw] = np.clip(np.round(result[k]), 0, 255)
    return out[0], out[1], out[2]


def masks_for(analysis: Analysis) -> tuple[Blocked, Blocked]:
    """The restored rectangles, grown a little, at full and at half resolution."""
    shape = (analysis.shape.height, analysis.shape.width)
    rects = [p.rect for p in analysis.plans]
    grow = 2
    full = [(x - grow, y - grow, w + 2 * grow, h + 2 * grow) for x, y, w, h in rects]
    half = [(x // 2 - 1, y // 2 - 1, (w + 1) // 2 + 2, (h + 1) // 2 + 2) for x, y, w, h in rects]
    return Blocked(full, shape), Blocked(half, (shape[0] // 2, shape[1] // 2))


def restore(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    rects: list[Rect],
    method: str = "auto",
    *,
    delogo_filter: Callable[[list[Rect]], str],
    progress: ProgressHook | None = None,
    cancel: CancelToken | None = None,
    log: LogHook | None = None,
    timeout: float | None = None,
    max_output_bytes: int | None = None,
    memory_mb: int = DEFAULT_MEMORY_MB,
    preset: str = "veryfast",
    crf: int = 18,
    info: MediaInfo | None = None,
) -> MediaInfo:
    """Write ``src`` with ``rects`` restored to ``dst`` (MP4, audio copied); the result's info.

    ``delogo_filter`` builds the ffmpeg filter for rectangles planned as
    ``delogo``. Notes on the choices made (and fallbacks) go to ``log``.
    """
    report = progress or ignore_progress
    note = log or ignore_log
    info = info or probe(src)
    shape = video_shape(src, info)
    deadline = None if timeout is None else time.monotonic() + timeout
    analysis = analyse(
        src, rects, method, shape, memory_mb=memory_mb, report=report, cancel=cancel,
        deadline=deadline,
    )  # fmt: skip
    for plan in analysis.plans:
        for line in plan.notes:
            note(line)
    delogo_rects = [p.rect for p in analysis.plans if p.method == "delogo"]
    window = analysis.window if any(p.method == "temporal" for p in analysis.plans) else 0
    masks = masks_for(analysis)
    with atomic_output(dst) as tmp:
        encoder = Encoder(
            src, Path(tmp), shape, info, preset=preset, crf=crf,
            video_filter=delogo_filter(delogo_rects) if delogo_rects else "",
        )  # fmt: skip
        try:
            _rebuild_all(src, analysis, masks, window, encoder, report, cancel, deadline,
                         max_output_bytes)  # fmt: skip
            left = None if deadline is None else max(1.0, deadline - time.monotonic())
            encoder.close(timeout=left)
        except BaseException:
            encoder.kill()
            raise
    report(Progress(stage="encoding", percent=100.0))
    return probe(dst)


def _rebuild_all(
    src: str | os.PathLike[str],
    analysis: Analysis,
    masks: tuple[Blocked, Blocked],
    window: int,
    encoder: Encoder,
    report: ProgressHook,
    cancel: CancelToken | None,
    deadline: float | None,
    max_output_bytes: int | None,
) -> None:
    """Pass 2: decode with a window of ``window`` frames on each side; write in order."""
    frames: OrderedDict[int, Planes] = OrderedDict()
    next_out = 0
    last_report = 0.0
    total = analysis.shape.frames
    offsets = analysis.offsets

    def emit(t: int) -> None:
        encoder.write(rebuild_frame(t, frames, analysis, masks))

    for index, planes in decode_planes(src, cancel):
        if index >= len(offsets):
            # more frames than pass 1 saw (it cannot happen with the same decoder): no motion
            analysis.offsets = offsets = np.vstack([offsets, offsets[-1:]])
        frames[index] = planes
        while next_out in frames and index - next_out >= window:
            emit(next_out)
            next_out += 1
            while frames and next(iter(frames)) < next_out - window:
                frames.popitem(last=False)
        _check_deadline(deadline)
        if max_output_bytes is not None and encoder.output_size() > max_output_bytes:
            raise MediaError(f"the output grew past the limit of {max_output_bytes} bytes")
        now = time.monotonic()
        if now - last_report > 0.5:
            last_report = now
            report(Progress(stage="encoding", percent=_percent(next_out, total)))
    while next_out in frames:
        if cancel is not None:
            cancel.check()
        emit(next_out)
        next_out += 1
        while frames and next(iter(frames)) < next_out - window:
            frames.popitem(last=False)
