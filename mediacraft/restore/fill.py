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


def _crop(plane: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    h, w = plane.shape
    return plane[max(0, y0) : min(h, y1), max(0, x0) : min(w, x1)]


def refine_shift(
    target: np.ndarray, source: np.ndarray, rect: Rect, mask: np.ndarray, shift: np.ndarray
) -> np.ndarray:
    """Correct the coarse ``shift`` (source pixel = target pixel + shift) around ``rect``.

    A few Gauss-Newton (Lucas-Kanade) steps for a translation and a brightness
    offset, on the clean pixels of the neighbourhood of the rectangle that
    both frames show: sub-pixel exact where the global track is off by a
    fraction of a pixel. A step that does not converge keeps the coarse shift.
    """
    x, y, w, h = rect
    m = ALIGN_MARGIN
    area = (x - m, y - m, w + 2 * m, h + 2 * m)
    height, width = target.shape
    ax0, ay0 = max(0, area[0]), max(0, area[1])
    ax1, ay1 = min(width, area[0] + area[2]), min(height, area[1] + area[3])
    area = (ax0, ay0, ax1 - ax0, ay1 - ay0)
    want = target[ay0:ay1, ax0:ax1].astype(np.float32)
    clean = ~mask[ay0:ay1, ax0:ax1]
    current = np.array(shift, dtype=np.float64)
    for _ in range(4):
        got = _sample(source, area, current)
        keep = clean & _valid(mask, area, current)
        if keep.sum() < 200:
            return np.array(shift, dtype=np.float64)
        gx = cv2.Sobel(got, cv2.CV_32F, 1, 0, ksize=3) / 8.0
        gy = cv2.Sobel(got, cv2.CV_32F, 0, 1, ksize=3) / 8.0
        keep &= cv2.erode(keep.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        jac = np.column_stack([gx[keep], gy[keep], np.ones(int(keep.sum()), np.float32)])
        err = (got - want)[keep]
        try:
            step = np.linalg.solve(jac.T @ jac + np.eye(3) * 1e-3, -(jac.T @ err))
        except np.linalg.LinAlgError:
            return np.array(shift, dtype=np.float64)
        current[:2] += step[:2]
        if np.abs(current - shift).max() > 3:
            return np.array(shift, dtype=np.float64)
        if np.abs(step[:2]).max() < 0.02:
            break
    return current


def _sample(plane: np.ndarray, rect: Rect, shift: np.ndarray) -> np.ndarray:
    """The pixels of ``plane`` at ``rect`` moved by ``shift`` (bilinear), float32."""
    x, y, w, h = rect
    gx, gy = np.meshgrid(
        np.arange(x, x + w, dtype=np.float32) + np.float32(shift[0]),
        np.arange(y, y + h, dtype=np.float32) + np.float32(shift[1]),
    )
    return cv2.remap(
        plane.astype(np.float32), gx, gy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def _valid(mask: np.ndarray, rect: Rect, shift: np.ndarray) -> np.ndarray:
    """Where ``rect`` moved by ``shift`` lands inside the frame and off every masked pixel."""
    x, y, w, h = rect
    height, width = mask.shape
    xs = np.arange(x, x + w) + shift[0]
    ys = np.arange(y, y + h) + shift[1]
    inside_x = (xs >= 0) & (xs <= width - 1)
    inside_y = (ys >= 0) & (ys <= height - 1)
    # a bilinear sample touches the floor and ceiling pixels: both must be clean
    fx = np.clip(np.floor(xs).astype(int), 0, width - 1)
    cx = np.clip(np.ceil(xs).astype(int), 0, width - 1)
    fy = np.clip(np.floor(ys).astype(int), 0, height - 1)
    cy = np.clip(np.ceil(ys).astype(int), 0, height - 1)
    bad = mask[np.ix_(fy, fx)] | mask[np.ix_(fy, cx)]
    bad |= mask[np.ix_(cy, fx)] | mask[np.ix_(cy, cx)]
    return ~bad & inside_y[:, None] & inside_x[None, :]


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
    masks: tuple[np.ndarray, np.ndarray],
    max_sources: int = 12,
) -> tuple[list[np.ndarray], np.ndarray]:
    """Fill ``rect`` of frame ``t`` from the nearest frames where its background shows.

    ``frames`` holds the decoded window around ``t``; ``offsets[i]`` is frame
    ``i``'s global offset; ``masks`` are the full- and half-resolution masks
    of every rectangle being restored (never a source). Returns the Y, U, V
    patches (float32; U and V at half resolution) and which Y pixels were
    filled. Each source frame is aligned locally (sub-pixel) and its
    brightness matched to frame ``t`` on the ring around the rectangle.
    """
    x, y, w, h = rect
    target = frames[t]
    mask, mask_c = masks
    crect = (x // 2, y // 2, w // 2, h // 2)
    out = [np.zeros((h, w), np.float32), np.zeros((h // 2, w // 2), np.float32)]
    out.append(np.zeros_like(out[1]))
    done = np.zeros((h, w), bool)
    done_c = np.zeros((h // 2, w // 2), bool)
    ring_rect, ring_ok = _ring(rect, mask.shape, mask)
    rx, ry, rw, rh = ring_rect
    ring_target = target[0][ry : ry + rh, rx : rx + rw].astype(np.float32)
    order = sorted((u for u in frames if u != t), key=lambda u: (abs(u - t), u))
    used = 0
    for u in order:
        coarse = offsets[t] - offsets[u]
        if abs(coarse[0]) < 1 and abs(coarse[1]) < 1:
            continue
        valid = _valid(mask, rect, coarse) & ~done
        gain = int(valid.sum())
        # the nearest frames show thin slivers only: wait for one that shows a good part
        # (or all that is left), so that a few aligned sources fill the rectangle
        left = int((~done).sum())
        if gain == 0 or gain < min(MIN_SOURCE_SHARE * w * h, 0.5 * left):
            continue
        source = frames[u]
        shift = refine_shift(target[0], source[0], rect, mask, coarse)
        valid = _valid(mask, rect, shift) & ~done
        if not valid.any():
            continue
        # brightness: the mean difference on the clean ring that both frames show
        ring_src = _sample(source[0], ring_rect, shift)
        ring_valid = ring_ok & _valid(mask, ring_rect, shift)
        bias = 0.0
        if ring_valid.sum() > 20:
            bias = float(np.median(ring_target[ring_valid] - ring_src[ring_valid]))
        out[0][valid] = _sample(source[0], rect, shift)[valid] + bias
        done |= valid
        half = shift / 2
        valid_c = _valid(mask_c, crect, half) & ~done_c
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
