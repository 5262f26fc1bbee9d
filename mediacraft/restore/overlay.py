"""Estimating a constant semi-transparent overlay from many frames, and removing it.

A logo burned in the same way in every frame is ``I = c + b*B`` per pixel,
with ``c = alpha*L`` (the overlay's contribution) and ``b = 1 - alpha`` (how
much background shows through). One frame cannot separate ``c``, ``b`` and the
background ``B``; many frames can, when the background changes in a way the
pixels around the rectangle reveal. The model used here is a fixed camera under
changing light: the background of frame ``k`` is ``g_k*B0 + o_k`` (a gain and
an offset per frame, the same over the rectangle and the ring around it).
``g_k`` and ``o_k`` are measured on the ring; then, per pixel, a least-squares
fit of ``I_k = c + (b*B0)*g_k + b*o_k`` over the sampled frames gives ``c``
and ``b``, and the blend is inverted: ``B = (I - c) / b``.

Where the fit is unsure (``b``'s standard error is large, or little shows
through) the pixel is left to another method. When the light never changes,
or changes by a gain alone (then ``b`` and ``B0`` cannot be told apart), or
the ring does not follow the model (a moving camera), nothing is estimated and
the caller falls back.

U and V use the ``b`` of Y (alpha is one value per pixel) and fit ``c`` from
their own gain where the colour changes; where it does not, the overlay is
taken to be neutral in colour (white, grey or black), the usual case.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

#: sampled frames the estimate is made from (each keeps only the rectangle and its ring)
SAMPLES = 240
MIN_SAMPLES = 12
#: bytes the samples of one rectangle may take
SAMPLE_BYTES = 48 * 1024 * 1024
#: the ring fit must explain this share of the ring's variation in most frames
MIN_RING_FIT = 0.9
MIN_GAIN_SPREAD = 0.02
MIN_OFFSET_SPREAD = 2.0  # 8-bit levels
MAX_BETA_ERROR = 0.06
MIN_BETA = 0.12
RING = 8
UNTOUCHED_F = 30.0


@dataclass
class Overlay:
    """The estimate for one rectangle; ``usable`` False when it could not be made."""

    usable: bool
    reason: str = ""
    beta: np.ndarray | None = None  # h×w, share of background showing through
    offset: list[np.ndarray] = field(default_factory=list)  # c per plane (Y, U, V)
    confident: np.ndarray | None = None  # h×w bool, Y resolution

    @property
    def confident_share(self) -> float:
        return float(self.confident.mean()) if self.confident is not None else 0.0

    @property
    def opaque_share(self) -> float:
        """Share of the rectangle's pixels through which almost nothing shows."""
        if self.beta is None:
            return 1.0
        return float((self.beta < MIN_BETA).mean())

    def apply(self, planes_patch: list[np.ndarray]) -> list[np.ndarray]:
        """Un-blend the rectangle's Y, U, V patches (float32 in, float32 out)."""
        assert self.beta is not None
        beta_y = np.maximum(self.beta, MIN_BETA)
        beta_c = _half(beta_y)
        out = []
        for k, patch in enumerate(planes_patch):
            b = beta_y if k == 0 else beta_c
            out.append((patch - self.offset[k]) / b)
        return out


def _half(a: np.ndarray) -> np.ndarray:
    h, w = a.shape
    return cv2.resize(a, (w // 2, h // 2), interpolation=cv2.INTER_AREA)


class OverlaySampler:
    """Keeps the rectangle-plus-ring crops of every ``stride``-th frame (bounded memory)."""

    def __init__(self, rect: tuple[int, int, int, int], shape: tuple[int, int], frames: int):
        x, y, w, h = rect
        height, width = shape
        # even corners so that the U and V crops line up with the Y crop
        self.x0, self.y0 = max(0, (x - RING) // 2 * 2), max(0, (y - RING) // 2 * 2)
        self.x1 = min(width, (x + w + RING + 1) // 2 * 2)
        self.y1 = min(height, (y + h + RING + 1) // 2 * 2)
        self.rect = rect
        crop_bytes = (self.x1 - self.x0) * (self.y1 - self.y0) * 3 // 2
        self.samples = max(MIN_SAMPLES, min(SAMPLES, SAMPLE_BYTES // max(1, crop_bytes)))
        self.stride = max(1, -(-frames // self.samples))
        self.crops: list[list[np.ndarray]] = []

    def add(self, index: int, planes: tuple[np.ndarray, ...]) -> None:
        if index % self.stride or len(self.crops) >= self.samples:
            return
        x0, y0, x1, y1 = self.x0, self.y0, self.x1, self.y1
        crop = [planes[0][y0:y1, x0:x1].copy()]
        crop += [p[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2].copy() for p in planes[1:]]
        self.crops.append(crop)

    def estimate(self, mask: np.ndarray) -> Overlay:
        """Fit the model; ``mask`` is the full-frame mask of all rectangles."""
        if len(self.crops) < MIN_SAMPLES:
            return Overlay(False, f"only {len(self.crops)} frames to learn the overlay from")
        x, y, w, h = self.rect
        x0, y0, x1, y1 = self.x0, self.y0, self.x1, self.y1
        ring = cv2.dilate(mask[y0:y1, x0:x1].astype(np.uint8), np.ones((3, 3), np.uint8)) == 0
        ring_c = _half(ring.astype(np.float32)) > 0.99
        inner = (slice(y - y0, y - y0 + h), slice(x - x0, x - x0 + w))
        inner_c = (slice((y - y0) // 2, (y - y0) // 2 + h // 2),
                   slice((x - x0) // 2, (x - x0) // 2 + w // 2))  # fmt: skip
        if ring.sum() < 50:
            return Overlay(False, "the rectangle has too little picture around it")
        stack = np.stack([c[0] for c in self.crops]).astype(np.float32)  # K×H×W
        gains, offsets, fit = _ring_model(stack[:, ring])
        if np.median(fit) < MIN_RING_FIT:
            return Overlay(False, "the picture around the rectangle moves or changes unevenly")
        if np.std(gains) < MIN_GAIN_SPREAD or np.std(offsets) < MIN_OFFSET_SPREAD:
            return Overlay(False, "the picture around the rectangle never changes enough")
        design = np.column_stack([np.ones_like(gains), gains, offsets])
        if abs(np.corrcoef(gains, offsets)[0, 1]) > 0.97:
            return Overlay(False, "the light changes by a gain alone; the overlay is ambiguous")
        values = stack[:, inner[0], inner[1]].reshape(len(self.crops), -1)
        coef, beta_error = _least_squares(design, values)
        beta = coef[2].reshape(h, w)
        offset_y = coef[0].reshape(h, w)
        error = beta_error.reshape(h, w)
        # a pixel the logo does not touch fits as well with b = 1 and c = 0: keep it as it is
        clear = _untouched(values, gains, offsets, design, coef).reshape(h, w)
        # most logos have one colour: c = (1 - b)*L with L the same over the rectangle,
        # which leaves two unknowns a pixel and a much steadier b
        touched = ~clear.ravel() & (coef[2] < 0.9)
        if touched.sum() >= 8:
            weight = 1.0 - coef[2][touched]
            colour = float((coef[0][touched] * weight).sum() / (weight**2).sum())
            fixed, fixed_error, better = _one_colour(values, gains, offsets, colour, design, coef)
            beta = np.where(better, fixed, coef[2]).reshape(h, w)
            offset_y = np.where(better, (1.0 - fixed) * colour, coef[0]).reshape(h, w)
            error = np.where(better, fixed_error, beta_error).reshape(h, w)
        beta = np.where(clear, 1.0, beta)
        offset_y = np.where(clear, 0.0, offset_y)
        confident = clear | ((error < MAX_BETA_ERROR) & (beta >= MIN_BETA) & (beta < 1.2))
        beta = np.clip(beta, 0.0, 1.0)
        offsets_c = [offset_y]
        beta_c = _half(np.maximum(beta, MIN_BETA))
        for k in (1, 2):
            chroma = np.stack([c[k] for c in self.crops]).astype(np.float32)
            ring_values = chroma[:, ring_c] if ring_c.any() else chroma.reshape(len(chroma), -1)
            g_c, o_c, _ = _ring_model(ring_values)
            values_c = chroma[:, inner_c[0], inner_c[1]]
            if np.std(g_c) >= MIN_GAIN_SPREAD:
                # with b known: I - b*o = c + (b*B0)*g
                adjusted = values_c - beta_c[None] * o_c[:, None, None]
                coef_c, _ = _least_squares(
                    np.column_stack([np.ones_like(g_c), g_c]),
                    adjusted.reshape(len(chroma), -1),
                )
                offsets_c.append(coef_c[0].reshape(beta_c.shape))
            else:
                offsets_c.append((1.0 - beta_c) * 128.0)
        return Overlay(True, beta=beta, offset=offsets_c, confident=confident)


def _ring_model(ring: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per frame ``ring_k ≈ g_k*mean + o_k``: (gains, offsets, share of variance explained)."""
    mean = ring.mean(axis=0)
    centred = mean - mean.mean()
    spread = float((centred**2).sum()) or 1.0
    gains = (ring - ring.mean(axis=1, keepdims=True)) @ centred / spread
    offsets = ring.mean(axis=1) - gains * mean.mean()
    predicted = gains[:, None] * mean[None] + offsets[:, None]
    residual = ((ring - predicted) ** 2).sum(axis=1)
    total = ((ring - ring.mean(axis=1, keepdims=True)) ** 2).sum(axis=1) + 1e-6
    return gains, offsets, 1.0 - residual / total


def _one_colour(
    values: np.ndarray,
    gains: np.ndarray,
    offsets: np.ndarray,
    colour: float,
    design: np.ndarray,
    coef: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``b`` per pixel with the overlay colour fixed: ``I - L = (b*B0)*g + b*(o - L)``.

    Returns b, its standard error, and where this fit is not significantly
    worse than the free one (there it is used).
    """
    k = len(values)
    design2 = np.column_stack([gains, offsets - colour])
    coef2, error2 = _least_squares(design2, values - colour)
    restricted = ((values - colour - design2 @ coef2) ** 2).sum(axis=0)
    full = ((values - design @ coef) ** 2).sum(axis=0) + 1e-6
    f_stat = (restricted - full) / (full / max(1, k - 3))
    return coef2[1], error2, f_stat < 10.0


def _untouched(
    values: np.ndarray,
    gains: np.ndarray,
    offsets: np.ndarray,
    design: np.ndarray,
    coef: np.ndarray,
) -> np.ndarray:
    """Pixels where "no overlay" (``I = B0*g + o``) explains the frames nearly as well.

    An F-test of the one-parameter model against the full three-parameter
    fit, at a strict level (the full model always fits a little better).
    """
    k = len(values)
    adjusted = values - offsets[:, None]
    b0 = (gains @ adjusted) / float(gains @ gains)
    restricted = ((adjusted - gains[:, None] * b0[None]) ** 2).sum(axis=0)
    full = ((values - design @ coef) ** 2).sum(axis=0) + 1e-6
    f_stat = (restricted - full) / 2 / (full / max(1, k - 3))
    return f_stat < UNTOUCHED_F


def _least_squares(design: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients (n×P) of ``values`` (K×P) on ``design`` (K×n) and the last one's error."""
    gram_inv = np.linalg.pinv(design.T @ design)
    coef = gram_inv @ design.T @ values
    residual = values - design @ coef
    dof = max(1, design.shape[0] - design.shape[1])
    sigma2 = (residual**2).sum(axis=0) / dof
    return coef, np.sqrt(sigma2 * max(gram_inv[-1, -1], 0.0))
