"""Generate short test videos with the bundled ffmpeg (never committed)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import imageio_ffmpeg

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


def make_video(
    path: Path,
    seconds: float = 3.0,
    size: str = "320x240",
    fps: int = 25,
    audio: bool = True,
    box: tuple[int, int, int, int] | None = None,
    codec: str = "libx264",
    gop: int | None = None,
    extra: list[str] | None = None,
) -> Path:
    """Write a test pattern video (``testsrc2``) with an optional sine tone.

    ``box`` burns an opaque white rectangle ``(x, y, w, h)`` into every frame,
    standing in for a watermark. ``gop`` sets the keyframe interval (frames).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cmd = [FFMPEG, "-hide_banner", "-loglevel", "error", "-y"]
    cmd += ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={fps}:duration={seconds}"]
    if audio:
        cmd += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={seconds}"]
    vf = []
    if box:
        x, y, w, h = box
        vf.append(f"drawbox=x={x}:y={y}:w={w}:h={h}:color=white:t=fill")
    if vf:
        cmd += ["-vf", ",".join(vf)]
    cmd += ["-c:v", codec, "-pix_fmt", "yuv420p"]
    if codec == "libx264":
        cmd += ["-preset", "ultrafast"]
    if gop:
        cmd += ["-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0"]
    if audio:
        cmd += ["-c:a", "aac", "-b:a", "64k", "-shortest"]
    cmd += extra or []
    cmd.append(str(path))
    subprocess.run(cmd, check=True, timeout=300)
    return path
