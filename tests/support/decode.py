"""Decode test outputs with PyAV: frames as arrays, packet hashes, durations."""

from __future__ import annotations

import hashlib
import io
import math
from pathlib import Path

import av
import numpy as np


def luma_frames(path: Path) -> list[np.ndarray]:
    """Every video frame's Y plane (uint8, height×width), in presentation order."""
    with av.open(str(path)) as container:
        return [
            frame.to_ndarray(format="gray")
            for frame in container.decode(container.streams.video[0])
        ]


def jpeg_luma(data: bytes) -> np.ndarray:
    """Decode a JPEG to its luma plane (range-corrected to video levels is not needed:
    comparisons use the same conversion on both sides)."""
    with av.open(io.BytesIO(data), format="jpeg_pipe") as container:
        frame = next(container.decode(video=0))
        return frame.to_ndarray(format="gray")


def packet_hashes(path: Path, kind: str) -> list[str]:
    """sha1 of every packet payload of the first ``kind`` ("video"/"audio") stream.

    For H.264 in MP4 (4-byte length-prefixed NAL units) the SPS/PPS units are left
    out: a stream-copy concat may repeat the parameter sets in-band at each clip's
    first keyframe, which changes no picture data.
    """
    with av.open(str(path)) as container:
        streams = getattr(container.streams, kind)
        if not streams:
            return []
        h264 = streams[0].codec_context.name == "h264"
        return [
            hashlib.sha1(_without_parameter_sets(bytes(p)) if h264 else bytes(p)).hexdigest()
            for p in container.demux(streams[0])
            if p.size
        ]


def _without_parameter_sets(data: bytes) -> bytes:
    kept = []
    pos = 0
    while pos + 4 <= len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        unit = data[pos + 4 : pos + 4 + size]
        if unit and unit[0] & 0x1F not in (7, 8):  # 7 = SPS, 8 = PPS
            kept.append(data[pos : pos + 4 + size])
        pos += 4 + size
    return b"".join(kept)


def decode_all(path: Path) -> dict[str, int]:
    """Decode every packet of every stream (raises on any decode error); frame counts."""
    counts = {"video": 0, "audio": 0}
    with av.open(str(path)) as container:
        for frame in container.decode(*container.streams.video, *container.streams.audio):
            kind = "video" if isinstance(frame, av.VideoFrame) else "audio"
            counts[kind] += 1
    return counts


def stream_duration(path: Path, kind: str) -> float:
    with av.open(str(path)) as container:
        stream = getattr(container.streams, kind)[0]
        return float(stream.duration * stream.time_base)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR (dB) between two equal-shaped arrays of 8-bit samples."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)
