"""Processing benchmark: MediaCraft's media functions against bare ffmpeg.

One run measures:

* watermark removal through ``remove_watermark`` vs the bare ``ffmpeg -vf delogo``
  command with the same encoder settings, on the same file (target ≤ 1.1×);
* a compatible merge through ``merge_clips`` vs a bare ffmpeg stream-copy concat
  (target ≤ 1.1×);
* an incompatible merge (re-encode through the concat filter), for reference;
* frame extraction latency at the start, middle and end of a 10-minute video.

Inputs are generated with the bundled ffmpeg and cached (``--cache``).
Each timing is the median of ``--rounds`` runs, MediaCraft and bare runs
alternating so that disk caches favour neither.

    python benchmarks/process_bench.py [--rounds 5] [--cache /tmp/mediacraft-bench]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mediacraft.media import extract_frame, ffmpeg_exe, probe
from mediacraft.processors.merge import merge_clips
from mediacraft.processors.watermark import (
    X264_CRF,
    X264_PRESET,
    delogo_filter,
    remove_watermark,
)

BOX = (560, 40, 160, 60)  # a logo in the top-right corner of a 1280x720 picture


def generate(path: Path, seconds: int, size: str, fps: int, audio: bool, box=None) -> Path:
    """Test pattern (+ sine tone, + white box) encoded fast with x264; cached by name."""
    if path.exists():
        return path
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
    cmd += ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={fps}:duration={seconds}"]
    if audio:
        cmd += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"]
    if box:
        x, y, w, h = box
        cmd += ["-vf", f"drawbox=x={x}:y={y}:w={w}:h={h}:color=white:t=fill"]
    cmd += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    if audio:
        cmd += ["-c:a", "aac", "-b:a", "128k", "-shortest"]
    tmp = path.with_suffix(".part.mp4")
    subprocess.run([*cmd, str(tmp)], check=True)
    tmp.rename(path)
    return path


def bare(args: list[str]) -> Callable[[Path], None]:
    """The bare ffmpeg command; ``OUT`` in ``args`` stands for the output path."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", *args]
    return lambda dst: subprocess.run([str(dst) if a == "OUT" else a for a in cmd], check=True)


def durable(fn: Callable[[Path], object]) -> Callable[[Path], None]:
    """``fn``, then an fsync of its output: what a result must be before it is called done.

    MediaCraft fsyncs a result before it renames it into place (a crash never
    leaves a task "completed" with a file the disk has not got); a fair baseline
    pays for the same.
    """

    def run(dst: Path) -> None:
        fn(dst)
        with open(dst, "rb") as handle:
            os.fsync(handle.fileno())

    return run


def timed(fn: Callable[[Path], object], dst: Path) -> float:
    """Seconds ``fn(dst)`` takes writing a fresh ``dst``.

    Before the clock starts, dirty pages are flushed (``os.sync``) so one run's
    writeback does not land in the next run's time; afterwards ``dst`` is removed
    (outside the timing) so neither side pays for deleting the other's output.
    """
    os.sync()
    start = time.perf_counter()
    fn(dst)
    elapsed = time.perf_counter() - start
    dst.unlink()
    return elapsed


def compare(
    name: str,
    ours: Callable[[Path], object],
    theirs: Callable[[Path], object],
    rounds: int,
    out: Path,
) -> tuple[float, float, float]:
    """Median seconds of both, alternating which goes first; returns (ours, theirs, ratio)."""
    mine, base = [], []
    for number in range(rounds):
        pair = [(mine, ours), (base, theirs)]
        for samples, fn in pair[:: -1 if number % 2 else 1]:
            samples.append(timed(fn, out / f"run-{number}.mp4"))
    m, b = statistics.median(mine), statistics.median(base)
    print(f"{name:<28} mediacraft {m:7.2f} s   bare ffmpeg {b:7.2f} s   ratio {m / b:5.2f}x")
    return m, b, m / b


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--merge-only", action="store_true", help="only the compatible merge against its baseline"
    )
    parser.add_argument(
        "--cache", type=Path, default=Path(tempfile.gettempdir()) / "mediacraft-bench"
    )
    options = parser.parse_args()
    cache: Path = options.cache
    cache.mkdir(parents=True, exist_ok=True)
    out = Path(tempfile.mkdtemp(prefix="process-bench-"))
    print(f"ffmpeg: {ffmpeg_exe()}\ninputs cached in {cache}; outputs in {out}\n")

    wm: tuple[float, float, float] | None = None
    if not options.merge_only:
        # watermark removal: 30 s of 1280x720 at 30 fps with a logo, AAC audio
        logo = generate(cache / "logo_720p_30s.mp4", 30, "1280x720", 30, True, BOX)
        info = probe(logo)
        bare_wm = [
            "-y", "-i", str(logo), "-map", "0:v:0", "-map", "0:a:0?", "-map_metadata", "0",
            "-vf", delogo_filter([BOX], info.width, info.height),
            "-c:v", "libx264", "-preset", X264_PRESET, "-crf", str(X264_CRF), "-pix_fmt", "yuv420p",
            "-c:a", "copy", "-movflags", "+faststart", "OUT",
        ]  # fmt: skip
        print("bare watermark command: ffmpeg " + " ".join(bare_wm))
        wm = compare(
            "watermark removal (30 s 720p)",
            lambda dst: remove_watermark(logo, dst, [list(BOX)]),
            bare(bare_wm),
            options.rounds,
            out,
        )

    # compatible merge: three copies of the 10-minute clip (stream copy)
    long = generate(cache / "long_240p_10min.mp4", 600, "320x240", 25, True)
    long_copies = []
    for n in range(3):
        copy = cache / f"long_{n}.mp4"
        if not copy.exists():
            copy.write_bytes(long.read_bytes())
        long_copies.append(copy)
    listing = out / "bare_list.txt"
    listing.write_text("".join(f"file '{p}'\n" for p in long_copies))
    bare_concat = ["-y", "-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy"]
    bare_concat += ["-movflags", "+faststart", "OUT"]
    print(
        "bare concat command: ffmpeg -f concat -safe 0 -i LIST -c copy -movflags +faststart "
        "OUT.mp4, then fsync(OUT.mp4)"
    )
    cm = compare(
        "compatible merge (3x10 min)",
        lambda dst: merge_clips(long_copies, dst, work_dir=out),
        durable(bare(bare_concat)),
        options.rounds,
        out,
    )
    size_mb = sum(p.stat().st_size for p in long_copies) / 1e6
    print(f"{'':<28} ({size_mb:.0f} MB of clips, method: stream copy)")
    if options.merge_only:
        print(f"\ncompatible merge ratio {cm[2]:.2f}x  {'OK' if cm[2] <= 1.1 else 'MISSED'}")
        return

    # incompatible merge: three 20 s clips of different size, rate and audio
    mixed = [
        generate(cache / "mix_a.mp4", 20, "1280x720", 30, True),
        generate(cache / "mix_b.mp4", 20, "640x480", 25, False),
        generate(cache / "mix_c.mp4", 20, "720x1280", 24, True),
    ]
    start = time.perf_counter()
    result = merge_clips(mixed, out / "mixed.mp4")
    elapsed = time.perf_counter() - start
    merged = result.info
    print(
        f"{'incompatible merge (3x20 s)':<28} mediacraft {elapsed:7.2f} s   "
        f"method {result.method}, {merged.width}x{merged.height} {merged.fps:g} fps, "
        f"{merged.duration:.2f} s"
    )

    # frame extraction latency on the 10-minute video
    long_info = probe(long)
    print(f"\nframe extraction, 10-minute 320x240 video ({long_info.frame_count} frames, GOP 250):")
    latencies = {}
    for label, index in (("start", 0), ("middle", long_info.frame_count // 2),
                         ("end", long_info.frame_count - 1)):  # fmt: skip
        samples = []
        for _ in range(7):
            start = time.perf_counter()
            extract_frame(long, index=index)
            samples.append(time.perf_counter() - start)
        latencies[label] = statistics.median(samples) * 1000
        print(f"  {label:<6} frame {index:>6}: median {latencies[label]:6.1f} ms")

    print("\nsummary (targets: watermark <= 1.1x, compatible merge <= 1.1x):")
    assert wm is not None
    print(f"  watermark ratio {wm[2]:.2f}x  {'OK' if wm[2] <= 1.1 else 'MISSED'}")
    print(f"  compatible merge ratio {cm[2]:.2f}x  {'OK' if cm[2] <= 1.1 else 'MISSED'}")


if __name__ == "__main__":
    main()
