"""Download benchmark (SPEC §3): MediaCraft against ffmpeg's HLS reader, yt-dlp and curl.

One command, one run, everything on a loopback origin this script starts::

    python benchmarks/download_bench.py            # full run (~6 minutes, 2 cores)
    python benchmarks/download_bench.py --quick    # 60 s stream, smoke test of the script

Scenarios: 150 two-second 720p segments with 100 ms latency per request; the
same stream behind a total bandwidth cap; 20 % of segment requests failing
(503, reset mid-body, or stalling); a 256 MiB direct MP4 against curl. Each
tool runs as a child process; its peak memory is the child's ``ru_maxrss``
(``os.wait4``); outputs are checked by decoding every frame (``framemd5``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.media import FFMPEG  # noqa: E402
from tests.support.origin import Origin, bench_stream, frame_hashes  # noqa: E402

MiB = 1024 * 1024


@dataclass
class Run:
    tool: str
    wall: float
    maxrss_mb: float
    returncode: int
    output: Path
    note: str = ""
    correct: str = ""


def run_tool(tool: str, cmd: list[str], output: Path, timeout: float = 600.0) -> Run:
    """Run ``cmd`` as a child; wall time and its peak RSS (ru_maxrss, children included)."""
    output.unlink(missing_ok=True)
    errors = tempfile.TemporaryFile()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=errors, cwd=ROOT, env=env, start_new_session=True
    )
    timer = threading.Timer(timeout, lambda: os.killpg(proc.pid, signal.SIGKILL))
    timer.start()
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    errors.seek(0)
    tail = errors.read().decode("utf-8", "replace").strip().splitlines()
    errors.close()
    note = tail[-1][:120] if tail and proc.returncode else ""
    if proc.returncode and wall >= timeout:
        note = f"killed after {timeout:.0f} s"
    return Run(tool, wall, usage.ru_maxrss / 1024, proc.returncode, output, note)


def mediacraft(url: str, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "mediacraft.cli", "download", url, "-o", str(out),
            "--threads", "8", "--allow-network", "127.0.0.1", "-q", *extra]  # fmt: skip


def ffmpeg_reader(url: str, out: Path) -> list[str]:
    return [FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-i", url, "-c", "copy", str(out)]


def ytdlp(url: str, out: Path) -> list[str]:
    exe = shutil.which("yt-dlp") or "yt-dlp"
    return [exe, "-N", "8", "--ffmpeg-location", FFMPEG, "--ignore-config", "--no-cache-dir",
            "--no-part", "--no-progress", "-q", "-o", str(out), url]  # fmt: skip


def three_tools(url: str, work: Path) -> list[Run]:
    """MediaCraft, yt-dlp and ffmpeg's HLS reader on the same URL, one after another."""
    mc, yt, ff = work / "mc.mp4", work / "yt.mp4", work / "ff.mp4"
    return [
        run_tool("MediaCraft (8 threads)", mediacraft(url, mc), mc),
        run_tool("yt-dlp -N 8", ytdlp(url, yt), yt),
        run_tool("ffmpeg -i URL -c copy", ffmpeg_reader(url, ff), ff),
    ]


def check_frames(run: Run, reference: list[str]) -> None:
    if run.returncode != 0 or not run.output.exists():
        run.correct = "no output"
        return
    try:
        got = frame_hashes(run.output)
    except subprocess.CalledProcessError:
        run.correct = "undecodable"
        return
    if got == reference:
        run.correct = f"yes ({len(got)} frames identical)"
    else:
        same = sum(1 for a, b in zip(got, reference, strict=False) if a == b)
        run.correct = f"NO: {len(got)}/{len(reference)} frames, {same} identical"


def reference_frames(source: Path) -> list[str]:
    cache = source.with_suffix(".framemd5.json")
    if cache.exists():
        return json.loads(cache.read_text())
    hashes = frame_hashes(source)
    cache.write_text(json.dumps(hashes))
    return hashes


def table(title: str, runs: list[Run], base: str, extra: dict[str, str] | None = None) -> str:
    base_wall = next(r.wall for r in runs if r.tool == base)
    lines = [
        f"\n### {title}\n",
        "| tool | wall (s) | vs MediaCraft | peak RSS (MiB) | exit | output |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for r in runs:
        ratio = r.wall / base_wall
        info = r.correct or (extra or {}).get(r.tool, "") or r.note
        if r.note and r.note not in info:
            info = f"{info} {r.note}".strip()
        lines.append(
            f"| {r.tool} | {r.wall:.2f} | {ratio:.2f}× | {r.maxrss_mb:.0f} | {r.returncode} "
            f"| {info} |"
        )
    text = "\n".join(lines)
    print(text, flush=True)
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="60 s stream, 32 MiB file")
    parser.add_argument("--cap", type=float, default=25.0, help="bandwidth cap, MiB/s")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = parser.parse_args()
    seconds = 60 if args.quick else 300
    print(f"preparing media ({seconds} s of 720p, 2 s segments; cached) ...", flush=True)
    media = bench_stream(seconds=seconds)
    hls_bytes = sum(p.stat().st_size for p in (media / "hls").glob("*.ts"))
    segments = len(list((media / "hls").glob("*.ts")))
    reference = reference_frames(media / "src.mp4")
    work = Path(tempfile.mkdtemp(prefix="mediacraft-bench-"))
    report: list[str] = [
        f"Stream: {segments} segments, {hls_bytes / MiB:.0f} MiB, {seconds} s of 1280x720 H.264 "
        "+ AAC; host: " + f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}."
    ]
    figures: dict[str, object] = {"segments": segments, "hls_bytes": hls_bytes}
    try:
        # 1. latency 100 ms per request
        with Origin(media, latency=0.1) as origin:
            url = origin.url("hls/index.m3u8")
            runs = three_tools(url, work)
        for r in runs:
            check_frames(r, reference)
        report.append(table("HLS, 100 ms latency per request", runs, runs[0].tool))
        mc, yt, ff = runs
        figures["latency"] = {r.tool: [round(r.wall, 2), round(r.maxrss_mb)] for r in runs}
        report.append(
            f"\nMediaCraft / yt-dlp = **{mc.wall / yt.wall:.2f}×** (target ≤ 0.8×); "
            f"ffmpeg / MediaCraft = **{ff.wall / mc.wall:.1f}×** faster (target ≥ 4×)."
        )
        print(report[-1], flush=True)

        # 2. total bandwidth cap
        cap = args.cap * MiB
        with Origin(media, bandwidth=cap) as origin:
            url = origin.url("hls/index.m3u8")
            runs = three_tools(url, work)
        ideal = hls_bytes / cap
        shares = {r.tool: f"{ideal / r.wall:.1%} of the link" for r in runs}
        report.append(
            table(
                f"HLS behind a {args.cap:g} MiB/s total cap (ideal {ideal:.2f} s)",
                runs,
                runs[0].tool,
                shares,
            )  # fmt: skip
        )
        figures["capped"] = {r.tool: round(ideal / r.wall, 4) for r in runs}
        report.append(
            f"\nMediaCraft end to end (start-up, transfer, remux, probe): "
            f"**{ideal / runs[0].wall:.1%}** of the link (target ≥ 95%)."
        )
        print(report[-1], flush=True)

        # 3. 20 % of segment requests fail (503, reset mid-body) or stall
        with Origin(media, seed=20) as origin:
            is_ts = lambda p: p.endswith(".ts")  # noqa: E731
            p = 1 - 0.8 ** (1 / 3)  # three independent faults: 20 % of requests in all
            origin.add_fault(is_ts, "status", status=503, probability=p)
            origin.add_fault(is_ts, "reset", after=256 * 1024, probability=p)
            origin.add_fault(is_ts, "stall", after=128 * 1024, seconds=6, probability=p)
            url = origin.url("hls/index.m3u8")
            runs = three_tools(url, work)
            faulty = sum(1 for e in origin.log if e.fault)
            total = sum(1 for e in origin.log if e.path.endswith(".ts"))
        for r in runs:
            check_frames(r, reference)
        report.append(
            table(
                f"20 % of segment requests failing or stalling ({faulty} of {total} "
                "segment requests faulted)",
                runs,
                runs[0].tool,
            )  # fmt: skip
        )
        figures["faults"] = {r.tool: r.correct for r in runs}

        # 4. direct file vs curl, and memory flatness
        big = media.parent / f"direct_{'32' if args.quick else '256'}MiB.mp4"
        small = media.parent / "direct_64MiB.mp4"
        size_mib = 32 if args.quick else 256
        for path, mib in ((big, size_mib), (small, 64)):
            if not path.exists():
                subprocess.run(
                    [FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-stream_loop", "3",
                     "-i", str(media / "src.mp4"), "-c", "copy", "-fs", str(mib * MiB), str(path)],
                    check=True,
                )  # fmt: skip
        with Origin(media.parent) as origin:
            url = origin.url(big.name)
            d4, d1, c, sm = work / "d.mp4", work / "d1.mp4", work / "c.bin", work / "s.mp4"
            runs = [
                run_tool("MediaCraft (4 connections)", mediacraft(url, d4), d4),
                run_tool(
                    "MediaCraft (1 connection)", mediacraft(url, d1, "--connections", "1"), d1
                ),
                run_tool("curl", ["curl", "-s", "-o", str(c), url], c),
                run_tool("MediaCraft, 64 MiB file", mediacraft(origin.url(small.name), sm), sm),
            ]
        size = big.stat().st_size
        speeds = {r.tool: f"{size / r.wall / MiB:.0f} MiB/s" for r in runs[:3]}
        report.append(table(f"Direct file, {size / MiB:.0f} MiB", runs, runs[0].tool, speeds))
        curl_wall = runs[2].wall
        report.append(
            f"\nMediaCraft throughput = **{curl_wall / runs[0].wall:.0%}** of curl's "
            f"(1 connection: {curl_wall / runs[1].wall:.0%}; target ≥ 90%). Peak RSS "
            f"{runs[0].maxrss_mb:.0f} MiB for {size / MiB:.0f} MiB vs {runs[3].maxrss_mb:.0f} MiB "
            "for 64 MiB: memory does not grow with the file."
        )
        print(report[-1], flush=True)
        figures["direct"] = {r.tool: [round(r.wall, 2), round(r.maxrss_mb)] for r in runs}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    print("\n".join(["", "---- markdown ----", *report]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
