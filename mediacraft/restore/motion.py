"""Global camera motion by phase correlation, one offset per frame.

Frame ``t`` shows the scene point ``p + offset[t]`` at pixel ``p``: a pan to
the right makes the x offset grow. Each frame is correlated with an anchor
frame rather than with its predecessor, so errors do not add up frame after
frame; the anchor moves on when the overlap gets small. Frames are reduced to
at most :data:`WORK_WIDTH` pixels across (phase correlation still gives
sub-pixel shifts there), and the rectangles being restored are blanked out,
since a logo that stays put pulls the correlation towards "no motion".
"""

from __future__ import annotations

import math

import cv2
import numpy as np

WORK_WIDTH = 320
#: below this peak response the frame pair shares too little to trust the shift
MIN_RESPONSE = 0.04


class MotionTracker:
    """Feed luma planes in order with :meth:`add`; read :attr:`offsets` afterwards."""

    def __init__(self, width: int, height: int, mask: np.ndarray) -> None:
        self.factor = max(1, math.ceil(width / WORK_WIDTH))
        self.size = (max(16, width // self.factor), max(16, height // self.factor))
        small = cv2.resize(mask.astype(np.uint8), self.size, interpolation=cv2.INTER_AREA)
        self.mask = cv2.dilate(small, np.ones((5, 5), np.uint8)) > 0
        self.window = cv2.createHanningWindow(self.size, cv2.CV_32F)
        self._anchor: np.ndarray | None = None
        self._anchor_offset = np.zeros(2)
        self.offsets: list[tuple[float, float]] = []
        self.responses: list[float] = []

    def _prepare(self, luma: np.ndarray) -> np.ndarray:
        small = cv2.resize(luma, self.size, interpolation=cv2.INTER_AREA).astype(np.float32)
        if self.mask.any():
            small[self.mask] = float(small[~self.mask].mean()) if (~self.mask).any() else 0.0
        return small

    def add(self, luma: np.ndarray) -> None:
        small = self._prepare(luma)
        if self._anchor is None:
            self._anchor = small
            self.offsets.append((0.0, 0.0))
            self.responses.append(1.0)
            return
        (dx, dy), response = cv2.phaseCorrelate(self._anchor, small, self.window)
        if response < MIN_RESPONSE:
            dx = dy = 0.0  # a cut or a blank frame: start again from here
            self._anchor_offset = np.array(self.offsets[-1])
            self._anchor = small
        # the picture moved by (dx, dy): the scene point under p came from p - (dx, dy)
        offset = self._anchor_offset - np.array([dx, dy]) * self.factor
        self.offsets.append((float(offset[0]), float(offset[1])))
        self.responses.append(float(response))
        w, h = self.size
        if abs(dx) > w / 8 or abs(dy) > h / 8:
            self._anchor = small
            self._anchor_offset = offset

    def array(self) -> np.ndarray:
        return np.asarray(self.offsets, dtype=np.float64).reshape(-1, 2)
