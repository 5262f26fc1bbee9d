"""Filling a rectangle: from other frames (motion-compensated), by un-blending, or spatially.

All functions work on one plane at a time (uint8 in, float32 out) and on the
rectangle's own pixels, never on the whole frame, so the cost is the
rectangle's size.
"""

from __future__ import annotations

from collections.abc import Mapping

import cv2
import numpy as np

from .stream import Planes

Rect = tuple[int, int, int, int]
#: pixels around a rectangle used to align and to match brightness
RING = 6
#: half-size of the neighbourhood used to refine the alignment of two frames
ALIGN_MARGIN = 16
#: share of the rectangle a source frame must show to be used
MIN_SOURCE_SHARE = 0.2


class Blocked:
    """The rectangles no source pixel may come from (grown a little), at one resolution.

    Kept as rectangles, so that "where does this shifted rectangle land on
    clean picture" is a few interval tests rather than a lookup per pixel;
    :attr:`bitmap` is the same as a boolean image.
    """

    def __init__(self, rects: list[Rect], shape: tuple[int, int]) -> None:
        self.rects = rects
        self.shape = shape
        self.bitmap = np.zeros(shape, bool)
        for x, y, w, h in rects:
            self.bitmap[max(0, y) : max(0, y + h), max(0, x) : max(0, x + w)] = True

    def valid(self, rect: Rect, shift: np.ndarray) -> np.ndarray:
        """Where ``rect`` moved by ``shift`` lands inside the frame and off every rectangle.

        A bilinear sample touches the floor and the ceiling pixel: both must be clean.
        """
        x, y, w, h = rect
        height, width = self.shape
        xs = np.arange(x, x + w) + shift[0]
        ys = np.arange(y, y + h) + shift[1]
        fx, cx = np.floor(xs), np.ceil(xs)
        fy, cy = np.floor(ys), np.ceil(ys)
        ok = ((fy >= 0) & (cy <= height - 1))[:, None] & ((fx >= 0) & (cx <= width - 1))[None, :]
        for bx, by, bw, bh in self.rects:
            hit_x = ((fx >= bx) & (fx < bx + bw)) | ((cx >= bx) & (cx < bx + bw))
            hit_y = ((fy >= by) & (fy < by + bh)) | ((cy >= by) & (cy < by + bh))
            if hit_x.any() and hit_y.any():
                ok &= ~(hit_y[:, None] & hit_x[None, :])
        return ok


class AlignTarget:
    """The neighbourhood of a rectangle in the frame being rebuilt, ready for alignment.

    Gradients are taken once, on the target (the inverse-compositional form of
    Lucas-Kanade): each source frame then costs a resampling and a 3x3 solve
    per step.
    """

    def __init__(self, luma: np.ndarray, rect: Rect, blocked: Blocked) -> None:
        x, y, w, h = rect
        m = ALIGN_MARGIN
        height, width = luma.shape
        x0, y0 = max(0, x - m), max(0, y - m)
        x1, y1 = min(width, x + w + m), min(height, y + h + m)
        self.area: Rect = (x0, y0, x1 - x0, y1 - y0)
        self.values = luma[y0:y1, x0:x1].astype(np.float32)
        gx = cv2.Sobel(self.values, cv2.CV_32F, 1, 0, ksize=3) / 8.0
        gy = cv2.Sobel(self.values, cv2.CV_32F, 0, 1, ksize=3) / 8.0
        clean = ~blocked.bitmap[y0:y1, x0:x1]
        self.clean = cv2.erode(clean.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        self.gx, self.gy = gx, gy


def refine_shift(
    target: AlignTarget,
    source: np.ndarray,
    blocked: Blocked,
    shift: np.ndarray,
    start: np.ndarray | None = None,
) -> np.ndarray:
    """Correct the coarse ``shift`` (source pixel = target pixel + shift) around a rectangle.

    A few Gauss-Newton (Lucas-Kanade) steps for a translation and a brightness
    offset, on the clean pixels of the rectangle's neighbourhood that both
    frames show: sub-pixel exact where the global track is off by a pixel or
    two. ``start`` (default: the coarse shift) is where the steps begin. A
    result that runs away from the coarse shift keeps the coarse shift.
    """
    current = np.array(shift if start is None else start, dtype=np.float64)
    for _ in range(3):
        got = _sample(source, target.area, current)
        keep = target.clean & blocked.valid(target.area, current)
        count = int(keep.sum())
        if count < 200:
            return np.array(shift, dtype=np.float64)
        jac = np.column_stack([target.gx[keep], target.gy[keep], np.ones(count, np.float32)])
        err = (got - target.values)[keep]
        try:
            step = np.linalg.solve(jac.T @ jac + np.eye(3) * 1e-3, jac.T @ err)
        except np.linalg.LinAlgError:
            return np.array(shift, dtype=np.float64)
        # the source moved by the solved step relative to the target: undo it
        current[:2] -= step[:2]
        if np.abs(current - shift).max() > 3:
            return np.array(shift, dtype=np.float64)
        if np.abs(step[:2]).max() < 0.03:
            break
    return current


def _sample(plane: np.ndarray, rect: Rect, shift: np.ndarray) -> np.ndarray:
    """The pixels of ``plane`` at ``rect`` moved by ``shift`` (bilinear), float32.

    Only the part of the plane the samples touch is converted to float.
    """
    x, y, w, h = rect
    height, width = plane.shape
    x0 = int(np.clip(np.floor(x + shift[0]) - 1, 0, width - 1))
    y0 = int(np.clip(np.floor(y + shift[1]) - 1, 0, height - 1))
    x1 = int(np.clip(np.ceil(x + w + shift[0]) + 2, x0 + 1, width))
    y1 = int(np.clip(np.ceil(y + h + shift[1]) + 2, y0 + 1, height))
    part = plane[y0:y1, x0:x1].astype(np.float32)
    gx, gy = np.meshgrid(
        np.arange(x - x0, x - x0 + w, dtype=np.float32) + np.float32(shift[0]),
        np.arange(y - y0, y - y0 + h, dtype=np.float32) + np.float32(shift[1]),
    )
    return cv2.remap(part, gx, gy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _ring(rect: Rect, shape: tuple[int, int], mask: np.ndarray) -> tuple[Rect, np.ndarray]:
    """The rectangle grown by :data:`RING` (clipped) and which of its pixels are clean."""
    x, y, w, h = rect
    height, width = shape
    x0, y0 = max(0, x - RING), max(0, y - RING)
    x1, y1 = min(width, x + w + RING), min(height, y + h + RING)
    return (x0, y0, x1 - x0, y1 - y0), ~mask[y0:y1, x0:x1]


def temporal_fill(
    t: int,
    rect: Rect,
    frames: Mapping[int, Planes],
    offsets: np.ndarray,
    masks: tuple[Blocked, Blocked],
    max_sources: int = 12,
    corrections: dict[int, np.ndarray] | None = None,
) -> tuple[list[np.ndarray], np.ndarray]:
    """Fill ``rect`` of frame ``t`` from the nearest frames where its background shows.

    ``frames`` holds the decoded window around ``t``; ``offsets[i]`` is frame
    ``i``'s global offset; ``masks`` are the rectangles being restored (never a
    source) at full and half resolution. Returns the Y, U, V patches (float32;
    U and V at half resolution) and which Y pixels were filled. Each source
    frame is aligned locally (sub-pixel) and its brightness matched to frame
    ``t`` on the ring around the rectangle. ``corrections`` (source frame ->
    what the local alignment added to the global shift last time) starts the
    alignment close to where it ends, and is updated.
    """
    x, y, w, h = rect
    target = frames[t]
    mask, mask_c = masks
    crect = (x // 2, y // 2, w // 2, h // 2)
    out = [np.zeros((h, w), np.float32), np.zeros((h // 2, w // 2), np.float32)]
    out.append(np.zeros_like(out[1]))
    done = np.zeros((h, w), bool)
    done_c = np.zeros((h // 2, w // 2), bool)
    ring_rect, ring_ok = _ring(rect, mask.shape, mask.bitmap)
    align = AlignTarget(target[0], rect, mask)
    rx, ry, rw, rh = ring_rect
    ring_target = target[0][ry : ry + rh, rx : rx + rw].astype(np.float32)
    order = sorted((u for u in frames if u != t), key=lambda u: (abs(u - t), u))
    used = 0
    for u in order:
        coarse = offsets[t] - offsets[u]
        if abs(coarse[0]) < 1 and abs(coarse[1]) < 1:
            continue
        valid = mask.valid(rect, coarse) & ~done
        gain = int(valid.sum())
        # the nearest frames show thin slivers only: wait for one that shows a good part
        # (or all that is left), so that a few aligned sources fill the rectangle
        left = int((~done).sum())
        if gain == 0 or gain < min(MIN_SOURCE_SHARE * w * h, 0.5 * left):
            continue
        source = frames[u]
        known = corrections.get(u) if corrections is not None else None
        start = coarse if known is None else coarse + known
        shift = refine_shift(align, source[0], mask, coarse, start)
        if corrections is not None:
            corrections[u] = shift - coarse
        valid = mask.valid(rect, shift) & ~done
        if not valid.any():
            continue
        # brightness: the mean difference on the clean ring that both frames show
        ring_src = _sample(source[0], ring_rect, shift)
        ring_valid = ring_ok & mask.valid(ring_rect, shift)
        bias = 0.0
        if ring_valid.sum() > 20:
            bias = float(np.median(ring_target[ring_valid] - ring_src[ring_valid]))
        out[0][valid] = _sample(source[0], rect, shift)[valid] + bias
        done |= valid
        half = shift / 2
        valid_c = mask_c.valid(crect, half) & ~done_c
        for k in (1, 2):
            out[k][valid_c] = _sample(source[k], crect, half)[valid_c]
        done_c |= valid_c
        used += 1
        if done.all() or used >= max_sources:
            break
    return out, done


def inpaint_planes(planes: Planes, rect: Rect, todo: np.ndarray) -> list[np.ndarray]:
    """Spatial fill (OpenCV Telea) of the ``todo`` pixels of ``rect`` in each plane.

    Works on the rectangle plus a margin; U and V get the mask reduced to
    their resolution. Returns float32 patches shaped like the rectangle.
    """
    x, y, w, h = rect
    results = []
    for k, plane in enumerate(planes):
        f = 1 if k == 0 else 2
        rx, ry, rw, rh = x // f, y // f, w // f, h // f
        region_todo = todo if f == 1 else cv2.resize(
            todo.astype(np.uint8), (rw, rh), interpolation=cv2.INTER_AREA
        ) > 0
        margin = 12 // f + 2
        height, width = plane.shape
        x0, y0 = max(0, rx - margin), max(0, ry - margin)
        x1, y1 = min(width, rx + rw + margin), min(height, ry + rh + margin)
        patch = np.ascontiguousarray(plane[y0:y1, x0:x1])
        m = np.zeros(patch.shape, np.uint8)
        m[ry - y0 : ry - y0 + rh, rx - x0 : rx - x0 + rw] = region_todo
        m = cv2.dilate(m, np.ones((3, 3), np.uint8))
        filled = cv2.inpaint(patch, m, 3, cv2.INPAINT_TELEA)
        results.append(filled[ry - y0 : ry - y0 + rh, rx - x0 : rx - x0 + rw].astype(np.float32))
    return results


def feather(todo: np.ndarray, width: int = 2) -> np.ndarray:
    """Weights 0..1 that rise over ``width`` pixels inside the edge of ``todo``."""
    if width <= 0:
        return todo.astype(np.float32)
    distance = cv2.distanceTransform(todo.astype(np.uint8), cv2.DIST_L2, 3)
    return np.clip(distance / (width + 1), 0.0, 1.0).astype(np.float32)
