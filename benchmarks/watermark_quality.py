"""Watermark removal quality: how much of the real picture each method brings back.

The benchmark generates its clips (``tests/support/logo_clips.py``): a pan over
scikit-image's bundled photographs and a still shot under slowly changing
light, each with a semi-transparent logo and with an opaque one, 1280x720 at
25 fps, 8 s, H.264 at CRF 12 with an AAC tone. For every method of
``remove_watermark`` and for the bare ``ffmpeg -vf delogo`` command with the
same encoder settings it records:

* PSNR and SSIM (luma) inside the logo's rectangle against the clean picture
  (mean over frames);
* PSNR outside the rectangle against the input (what the method costs the rest
  of the picture: one more encode);
* wall time and CPU time (this process and its children, ffmpeg included),
  each as a ratio to the bare delogo command on the same clip (median of
  ``--rounds`` runs, bare and MediaCraft alternating).

    python benchmarks/watermark_quality.py [--rounds 1] [--seconds 8] [--scale 1.0]
        [--cache /tmp/mediacraft-wq] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
from skimage.metrics import structural_similarity

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mediacraft.media import ffmpeg_exe, probe
from mediacraft.processors.watermark import remove_watermark, watermark_args
from tests.support.logo_clips import LogoClip

METHODS = ("auto", "unblend", "temporal", "inpaint", "delogo")
CLIPS = (("pan", "semi"), ("pan", "opaque"), ("static", "semi"), ("static", "opaque"))


def bare_delogo(src: Path, dst: Path, region: tuple[int, int, int, int]) -> None:
    info = probe(src)
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin"]
    subprocess.run(cmd + watermark_args(src, dst, [region], info), check=True)


def measure(clip: LogoClip, src: Path, out: Path) -> dict[str, float]:
    """Region PSNR/SSIM against the clean frames, outside PSNR against the input."""
    x, y, w, h = clip.region
    inside_psnr, inside_ssim, outside_psnr = [], [], []
    mask = np.ones((clip.size[1], clip.size[0]), bool)
    mask[y : y + h, x : x + w] = False
    with av.open(str(out)) as result, av.open(str(src)) as source:
        frames = zip(
            result.decode(result.streams.video[0]),
            source.decode(source.streams.video[0]),
            strict=True,
        )
        for i, (got_frame, src_frame) in enumerate(frames):
            got = got_frame.to_ndarray(format="yuv420p")[: clip.size[1]].astype(np.float32)
            given = src_frame.to_ndarray(format="yuv420p")[: clip.size[1]].astype(np.float32)
            clean = clip.clean_luma(i)
            patch, want = got[y : y + h, x : x + w], clean[y : y + h, x : x + w]
            inside_psnr.append(_psnr(patch, want))
            inside_ssim.append(structural_similarity(patch, want, data_range=255.0))
            outside_psnr.append(_psnr(got[mask], given[mask]))
    return {
        "psnr_in": float(np.mean(inside_psnr)),
        "ssim_in": float(np.mean(inside_ssim)),
        "psnr_out": float(np.mean(outside_psnr)),
        "frames": len(inside_psnr),
    }


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a - b) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


def _timed(run) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process and its children) of ``run()``.

    CPU time is the fairer figure on a shared machine: other load stretches the
    wall time of both sides, unevenly.
    """
    before = _cpu()
    start = time.perf_counter()
    run()
    return time.perf_counter() - start, _cpu() - before


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "mediacraft-wq")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    rows = []
    for scene, logo in CLIPS:
        clip = LogoClip(scene, logo, scale=args.scale, seconds=args.seconds)
        src = args.cache / f"{scene}-{logo}-{args.scale:g}-{args.seconds:g}.mp4"
        if not src.exists():
            clip.write(src)
        region = clip.region
        bare_out = args.cache / "bare-delogo.mp4"
        bare_times: list[tuple[float, float]] = []
        method_times: dict[str, list[tuple[float, float]]] = {m: [] for m in METHODS}
        notes: dict[str, list[str]] = {m: [] for m in METHODS}
        for _ in range(args.rounds):
            bare_times.append(_timed(lambda: bare_delogo(src, bare_out, region)))  # noqa: B023
            for method in METHODS:
                out = args.cache / f"out-{method}.mp4"
                notes[method].clear()
                method_times[method].append(_timed(
                    lambda: remove_watermark(src, out, [list(region)], method=method,  # noqa: B023
                                             log=notes[method].append)  # noqa: B023
                ))  # fmt: skip
        bare_time = statistics.median(t[0] for t in bare_times)
        bare_cpu = statistics.median(t[1] for t in bare_times)
        row = {"clip": f"{scene}/{logo}", "method": "ffmpeg delogo (bare)", "seconds": bare_time,
               "ratio": 1.0, "cpu": bare_cpu, "cpu_ratio": 1.0,
               **measure(clip, src, bare_out)}  # fmt: skip
        rows.append(row)
        for method in METHODS:
            seconds = statistics.median(t[0] for t in method_times[method])
            cpu = statistics.median(t[1] for t in method_times[method])
            out = args.cache / f"out-{method}.mp4"
            rows.append({"clip": f"{scene}/{logo}", "method": method, "seconds": seconds,
                         "ratio": seconds / bare_time, "cpu": cpu, "cpu_ratio": cpu / bare_cpu,
                         **measure(clip, src, out), "notes": notes[method]})  # fmt: skip
        for r in rows[-len(METHODS) - 1 :]:
            print(
                f"{r['clip']:14} {r['method']:22} in {r['psnr_in']:5.1f} dB  "
                f"SSIM {r['ssim_in']:.3f}  out {r['psnr_out']:5.1f} dB  "
                f"{r['seconds']:6.2f} s  {r['ratio']:4.2f}x  CPU {r['cpu']:6.2f} s  "
                f"{r['cpu_ratio']:4.2f}x", flush=True,
            )  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
