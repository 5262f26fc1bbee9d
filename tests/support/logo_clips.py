"""Clips with a burned-in logo over a natural picture, and the clean picture to compare with.

The picture is built from scikit-image's bundled photographs (no download).
Two scenes:

* ``pan``: the camera pans across a wide strip of photographs (sub-pixel
  motion, mostly horizontal), so the background under the logo moves out from
  under it;
* ``static``: one photograph, still, with slow lighting changes (a gain and an
  offset drifting on different periods, like clouds and haze on a fixed camera).

Two logos, both ``LOGO_SIZE`` at full scale in the top-right corner:
``semi`` (white text and frame blended at about 55 %, anti-aliased edges) and
``opaque`` (a solid plate with text). ``clean_luma(i)`` gives the Y plane the
clean frame ``i`` has after the RGB -> BT.601 conversion the encoder does.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np
from skimage import data as skdata

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
FULL_SIZE = (1280, 720)
LOGO_SIZE = (140, 50)
LOGO_POS = (1100, 36)  # top-left corner at full scale


def _strip(height: int) -> np.ndarray:
    """Photographs side by side, all scaled to ``height`` (RGB uint8)."""
    parts = []
    for image in (skdata.astronaut(), skdata.coffee(), skdata.rocket(), skdata.chelsea()):
        h, w = image.shape[:2]
        parts.append(cv2.resize(image, (round(w * height / h), height), cv2.INTER_CUBIC))
    return np.ascontiguousarray(np.concatenate(parts, axis=1))


def rgb_to_luma(rgb: np.ndarray) -> np.ndarray:
    """BT.601 limited-range Y of an RGB picture (float)."""
    r, g, b = (rgb[..., i].astype(np.float32) for i in range(3))
    return 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0


@dataclass
class LogoClip:
    scene: str  # "pan" or "static"
    logo: str  # "semi" or "opaque"
    scale: float = 1.0  # 1.0: 1280x720
    seconds: float = 8.0
    fps: int = 25
    lighting: bool = True  # static scene: the light changes (else the shot is frozen)

    @property
    def size(self) -> tuple[int, int]:
        w, h = FULL_SIZE
        return int(round(w * self.scale / 2)) * 2, int(round(h * self.scale / 2)) * 2

    @property
    def frames(self) -> int:
        return int(round(self.seconds * self.fps))

    @property
    def region(self) -> tuple[int, int, int, int]:
        """The logo's rectangle ``(x, y, w, h)`` in the clip's pixels."""
        s = self.scale
        return (
            round(LOGO_POS[0] * s),
            round(LOGO_POS[1] * s),
            round(LOGO_SIZE[0] * s),
            round(LOGO_SIZE[1] * s),
        )

    @cached_property
    def _canvas(self) -> np.ndarray:
        w, h = self.size
        if self.scene == "pan":
            return _strip(int(h * 1.15))
        image = skdata.coffee()
        ih, iw = image.shape[:2]
        scale = max(w / iw, h / ih)
        big = cv2.resize(image, (round(iw * scale) + 1, round(ih * scale) + 1), cv2.INTER_CUBIC)
        return np.ascontiguousarray(big[:h, :w])

    def clean_rgb(self, i: int) -> np.ndarray:
        w, h = self.size
        t = i / self.fps
        if self.scene == "pan":
            # about 6 px a frame across at full scale, drifting slowly up and down
            dx = 8.0 * self.scale + 6.3 * self.scale * i
            dy = 0.06 * self.size[1] * (1 + np.sin(2 * np.pi * t / 7.0))
            matrix = np.float32([[1, 0, -dx], [0, 1, -dy]])
            return cv2.warpAffine(self._canvas, matrix, (w, h), flags=cv2.INTER_LINEAR)
        if not self.lighting:
            return self._canvas.copy()
        gain = 1.0 + 0.18 * np.sin(2 * np.pi * t / 5.0)
        offset = 14.0 * np.sin(2 * np.pi * t / 3.1 + 1.0)
        frame = self._canvas.astype(np.float32) * gain + offset
        return np.clip(frame, 0, 255).astype(np.uint8)

    @cached_property
    def _overlay(self) -> tuple[np.ndarray, np.ndarray]:
        """(alpha HxW float, colour HxWx3 float) of the logo over the whole frame."""
        w, h = self.size
        x, y, lw, lh = self.region
        alpha = np.zeros((h, w), np.float32)
        colour = np.zeros((h, w, 3), np.float32)
        # drawn at 4x and reduced: anti-aliased edges, fractional alpha
        big = np.zeros((lh * 4, lw * 4), np.uint8)
        font = max(0.5, 1.05 * lw / 140 * 4 / 2.2)
        if self.logo == "semi":
            cv2.rectangle(big, (4, 4), (lw * 4 - 5, lh * 4 - 5), 255, max(2, lw // 20))
            cv2.putText(big, "MC", (lw * 4 // 6, lh * 4 * 3 // 4), cv2.FONT_HERSHEY_DUPLEX,
                        font * 1.6, 255, max(2, lw // 14), cv2.LINE_AA)  # fmt: skip
            cv2.putText(big, "tv", (lw * 4 * 3 // 5, lh * 4 * 3 // 4), cv2.FONT_HERSHEY_SIMPLEX,
                        font * 1.2, 255, max(2, lw // 16), cv2.LINE_AA)  # fmt: skip
            small = cv2.resize(big, (lw, lh), interpolation=cv2.INTER_AREA)
            alpha[y : y + lh, x : x + lw] = 0.55 * small / 255.0
            colour[y : y + lh, x : x + lw] = (250, 250, 245)
        else:
            alpha[y : y + lh, x : x + lw] = 1.0
            plate = np.empty((lh * 4, lw * 4, 3), np.uint8)
            plate[:] = (30, 90, 200)
            cv2.putText(plate, "MediaCraft", (lw * 4 // 14, lh * 4 * 2 // 3),
                        cv2.FONT_HERSHEY_SIMPLEX, font, (255, 255, 255), max(2, lw // 20),
                        cv2.LINE_AA)  # fmt: skip
            colour[y : y + lh, x : x + lw] = cv2.resize(plate, (lw, lh), cv2.INTER_AREA)
        return alpha, colour

    def input_rgb(self, i: int) -> np.ndarray:
        alpha, colour = self._overlay
        x, y, lw, lh = self.region
        frame = self.clean_rgb(i)
        box = frame[y : y + lh, x : x + lw].astype(np.float32)
        a = alpha[y : y + lh, x : x + lw, None]
        blended = a * colour[y : y + lh, x : x + lw] + (1 - a) * box
        frame[y : y + lh, x : x + lw] = np.clip(np.round(blended), 0, 255).astype(np.uint8)
        return frame

    def clean_luma(self, i: int) -> np.ndarray:
        return rgb_to_luma(self.clean_rgb(i))

    def write(self, path: Path, *, audio: bool = True, crf: int = 12) -> Path:
        """Encode the clip with the logo (H.264 yuv420p, AAC tone) to ``path``."""
        w, h = self.size
        cmd = [FFMPEG, "-hide_banner", "-loglevel", "error", "-y"]
        cmd += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}"]
        cmd += ["-framerate", str(self.fps), "-i", "pipe:0"]
        if audio:
            tone = f"sine=frequency=330:sample_rate=44100:duration={self.seconds}"
            cmd += ["-f", "lavfi", "-i", tone]
        cmd += ["-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf), "-pix_fmt", "yuv420p"]
        if audio:
            cmd += ["-c:a", "aac", "-b:a", "64k", "-shortest"]
        cmd.append(str(path))
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
        assert proc.stdin is not None
        for i in range(self.frames):
            proc.stdin.write(self.input_rgb(i).tobytes())
        proc.stdin.close()
        if proc.wait(timeout=600) != 0:
            raise RuntimeError("ffmpeg could not encode the test clip")
        return path


def _lumas(path: Path, height: int):
    import av

    with av.open(str(path)) as container:
        for frame in container.decode(container.streams.video[0]):
            yield frame.to_ndarray(format="yuv420p")[:height].astype(np.float32)


def _psnr(got: np.ndarray, want: np.ndarray) -> float:
    mse = float(np.mean((got - want) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


def region_psnr(
    clip: LogoClip, path: Path, inside: bool = True, reference: Path | None = None
) -> tuple[float, int]:
    """Mean PSNR (Y, over frames) of ``path`` inside the logo's rectangle (``inside``)
    or outside it, against the clean picture or the frames of ``reference``;
    and the frame count."""
    x, y, w, h = clip.region
    values = []
    references = _lumas(reference, clip.size[1]) if reference is not None else None
    for i, got in enumerate(_lumas(path, clip.size[1])):
        want = next(references) if references is not None else clip.clean_luma(i)
        if inside:
            values.append(_psnr(got[y : y + h, x : x + w], want[y : y + h, x : x + w]))
        else:
            mask = np.ones(got.shape, bool)
            mask[y : y + h, x : x + w] = False
            values.append(_psnr(got[mask], want[mask]))
    return float(np.mean(values)), len(values)


def region_errors(clip: LogoClip, path: Path) -> tuple[list[float], list[float]]:
    """Frame by frame inside the rectangle against the clean picture: PSNR (Y) and the
    mean error (how much brighter the result is)."""
    x, y, w, h = clip.region
    psnrs, biases = [], []
    for i, got in enumerate(_lumas(path, clip.size[1])):
        patch = got[y : y + h, x : x + w]
        want = clip.clean_luma(i)[y : y + h, x : x + w]
        psnrs.append(_psnr(patch, want))
        biases.append(float((patch - want).mean()))
    return psnrs, biases
