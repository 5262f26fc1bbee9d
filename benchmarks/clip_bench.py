"""precise_cut benchmark: the smart cut (edges re-encoded) against the whole re-encode.

A 5-minute 720p H.264 source (25 fps, x264 ``veryfast`` with its default
keyframe interval of 250 frames and B-frames, AAC audio) is cut to 60 s
starting between keyframes, once through :func:`mediacraft.download.clip.finish`
(the smart cut) and once through the whole-clip libx264 re-encode it falls
back to, alternating, in one run. Both results are checked: the frame count
of the range, no decode error from ``ffmpeg -v error``.

    python benchmarks/clip_bench.py [--rounds 1] [--cache /tmp/mediacraft-bench]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import av

from mediacraft.download import clip
from mediacraft.download.options import DownloadOptions
from mediacraft.media import ffmpeg_exe

SECONDS, FPS, SIZE = 300, 25, "1280x720"
START, LENGTH = 100.48, 60.0  # keyframes every 10 s: a 9.52 s head and a 0.48 s tail


def generate(path: Path) -> Path:
    """The source, encoded like a typical download (cached by name)."""
    if path.exists():
        return path
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
           "-f", "lavfi", "-i", f"testsrc2=size={SIZE}:rate={FPS}:duration={SECONDS}",
           "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={SECONDS}",
           "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
           "-c:a", "aac", "-b:a", "128k", "-shortest", "-movflags", "+faststart"]  # fmt: skip
    tmp = path.with_suffix(".part.mp4")
    subprocess.run([*cmd, str(tmp)], check=True)
    os.replace(tmp, path)
    return path


def check(path: Path) -> str:
    """'N frames, clean' or what is wrong."""
    errors = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "null", "-"],
                            capture_output=True, text=True).stderr.strip()  # fmt: skip
    with av.open(str(path)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    return f"{frames} frames, " + ("clean" if not errors else f"errors: {errors[:80]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--cache", type=Path, default=Path(tempfile.gettempdir()) / "mediacraft-bench"
    )
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    source = generate(args.cache / f"clip-src-{SECONDS}s-720p.mp4")
    options = DownloadOptions.from_dict(
        {"start": START, "end": START + LENGTH, "precise_cut": True}
    )
    cut = clip.Cut(offset=START, duration=LENGTH)
    lines: list[str] = []
    ways = {
        "smart cut (edges re-encoded)": lambda out: clip.finish(
            source, out, options, cut, True, None, lines.append
        ),
        "whole re-encode (libx264 veryfast crf 18)": lambda out: clip._ffmpeg_finish(
            source, out, options, cut, None, lines.append
        ),
    }
    times: dict[str, list[float]] = {name: [] for name in ways}
    results: dict[str, str] = {}
    with tempfile.TemporaryDirectory(dir=args.cache) as work:
        for _ in range(args.rounds):
            for n, (name, run) in enumerate(ways.items()):
                out = Path(work) / f"out{n}.mp4"
                began = time.perf_counter()
                run(out)
                times[name].append(time.perf_counter() - began)
                results[name] = check(out) + f", {out.stat().st_size / 2**20:.1f} MiB"
    print(f"source: {SECONDS} s {SIZE} {FPS} fps; clip {START:g}-{START + LENGTH:g} s "
          f"({int(LENGTH * FPS)} frames); load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    print("| way | wall (s) | vs whole re-encode | output |")
    print("|---|---:|---:|---|")
    whole = statistics.median(times["whole re-encode (libx264 veryfast crf 18)"])
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.2f} | {median / whole:.2f}× | {results[name]} |")
    print("log:", *[line for line in lines if "frame-exact" in line or "whole" in line])


if __name__ == "__main__":
    main()
