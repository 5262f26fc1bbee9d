"""Batch benchmark: ``mediacraft batch`` at --parallel 1, 4, 8 against yt-dlp.

One command; everything on a loopback origin this script starts::

    python benchmarks/batch_bench.py            # 50 inputs, 40 ms latency (~3 minutes)
    python benchmarks/batch_bench.py --inputs 8 # smoke test of the script

The same 50 HLS streams (each its own playlist and segment paths, served from
memory; 12 one-second 320x240 segments) are downloaded by ``mediacraft batch``
(in-process engine, ``--profile stable`` = 8 threads per item) at ``--parallel``
1, 4 and 8, and one by one by ``yt-dlp -N 8 --ffmpeg-location <bundled ffmpeg>``
— the way a shell loop over a URL list runs it. Wall time covers the whole
command (process start-up included); every output is probed afterwards.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mediacraft.media import probe  # noqa: E402
from tests.support.batch_media import add_streams  # noqa: E402
from tests.support.media import FFMPEG, make_video  # noqa: E402
from tests.support.origin import Origin, package_hls  # noqa: E402


def build_stream(cache: Path, seconds: int) -> Path:
    playlist = cache / f"batch_{seconds}s_320x240" / "index.m3u8"
    if playlist.exists():
        return playlist
    source = make_video(playlist.parent.parent / f"batch_src_{seconds}s.mp4", seconds,
                        "320x240", 25, gop=25)  # fmt: skip
    return package_hls(source, playlist.parent, 1.0)


def check_outputs(paths: list[Path], seconds: float) -> str:
    good = 0
    for path in paths:
        try:
            if path.exists() and abs(probe(path).duration - seconds) < 0.5:
                good += 1
        except Exception:  # counted as bad
            pass
    return f"{good}/{len(paths)}"


def run_mediacraft(
    urls: list[str], work: Path, parallel: int, extra: list[str]
) -> tuple[float, str]:
    out = work / f"mc_p{parallel}"
    shutil.rmtree(out, ignore_errors=True)
    url_list = work / "urls.txt"
    url_list.write_text("\n".join(urls) + "\n")
    cmd = [sys.executable, "-m", "mediacraft.cli", "batch", "--url-list", str(url_list),
           "-o", str(out), "--parallel", str(parallel), "--allow-network", "127.0.0.1",
           "-q", *extra]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        print(proc.stdout[-2000:], proc.stderr[-2000:], file=sys.stderr)
    outputs = sorted(out.glob("*.mp4"))
    return wall, f"exit {proc.returncode}, {len(outputs)} files"


def run_ytdlp(urls: list[str], work: Path) -> tuple[float, str, list[Path]]:
    out = work / "ytdlp"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    exe = shutil.which("yt-dlp") or "yt-dlp"
    failures = 0
    outputs = []
    start = time.perf_counter()
    for number, url in enumerate(urls):
        target = out / f"v{number:02d}.mp4"
        outputs.append(target)
        cmd = [exe, "-N", "8", "--ffmpeg-location", FFMPEG, "--ignore-config", "--no-cache-dir",
               "--no-part", "--no-progress", "-q", "-o", str(target), url]  # fmt: skip
        if subprocess.run(cmd, capture_output=True).returncode != 0:
            failures += 1
    wall = time.perf_counter() - start
    return wall, f"{failures} failed", outputs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=50)
    parser.add_argument("--latency", type=float, default=0.04)
    parser.add_argument("--seconds", type=int, default=12, help="length of each stream")
    parser.add_argument("--parallel", default="1,4,8")
    parser.add_argument("--skip-ytdlp", action="store_true")
    args = parser.parse_args()
    cache = Path(tempfile.gettempdir()) / "mediacraft-bench"
    cache.mkdir(parents=True, exist_ok=True)
    playlist = build_stream(cache, args.seconds)
    segments = sum(1 for line in playlist.read_text().splitlines() if line.endswith(".ts"))
    size = sum(p.stat().st_size for p in playlist.parent.glob("*.ts"))
    rows: list[tuple[str, float, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="batch-bench-") as tmp, Origin() as origin:
        work = Path(tmp)
        origin.latency = args.latency
        urls = add_streams(origin, playlist, [f"s{i:02d}" for i in range(args.inputs)])
        print(f"{args.inputs} inputs x {segments} segments ({size / 1e6:.2f} MB each), "
              f"{args.latency * 1000:.0f} ms latency per request", flush=True)  # fmt: skip
        for parallel in (int(p) for p in args.parallel.split(",")):
            origin.clear_log()
            wall, note = run_mediacraft(urls, work, parallel, [])
            peak = origin.max_in_flight
            ok = check_outputs(sorted((work / f"mc_p{parallel}").glob("*.mp4")), args.seconds)
            label = f"mediacraft batch --parallel {parallel}"
            rows.append((label, wall, f"{note}; {ok} probed OK; peak {peak} requests", ""))
            print(f"{label}: {wall:.2f} s ({note}, {ok} OK, peak in-flight {peak})", flush=True)
        if not args.skip_ytdlp:
            origin.clear_log()
            wall, note, outputs = run_ytdlp(urls, work)
            ok = check_outputs(outputs, args.seconds)
            label = "yt-dlp -N 8, one input after another"
            rows.append((label, wall, f"{note}; {ok} probed OK", ""))
            print(f"{label}: {wall:.2f} s ({note}, {ok} OK)", flush=True)
    base = next((r[1] for r in rows if r[0].startswith("yt-dlp")), None)
    print("\n| command | wall (s) | vs yt-dlp loop | per input (s) | outputs |")
    print("|---|---:|---:|---:|---|")
    for label, wall, note, _ in rows:
        ratio = f"{wall / base:.2f}×" if base else "—"
        print(f"| {label} | {wall:.2f} | {ratio} | {wall / args.inputs:.2f} | {note} |")
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}; python {platform.python_version()}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
