"""Download benchmark: MediaCraft against ffmpeg's HLS reader, yt-dlp and curl.

One command, one run, everything on a loopback origin this script starts::

    python benchmarks/download_bench.py            # every scenario (~12 minutes, 2 cores)
    python benchmarks/download_bench.py --quick    # 60 s stream, short runs: checks the script
    python benchmarks/download_bench.py --only renditions,live

Scenarios (``--only`` takes their names):

* ``latency``: 150 two-second 720p segments, 100 ms latency per request;
* ``renditions``: the same content with its audio in a separate ``EXT-X-MEDIA``
  rendition (``-var_stream_map "v:0,agroup:aud a:0,agroup:aud"``), checked for
  audio *and* video of the right duration in every tool's output;
* ``capped``: behind a total bandwidth cap of 10, 40 and 80 MiB/s with 20 ms
  latency per request, end to end as a user's command (start-up, ramp-up and
  the remux tail count), on the stream looped four times (20 minutes, ~800 MiB)
  so the transfer outweighs the fixed cost, which is printed too;
* ``faults``: 20 % of segment requests failing (503, reset mid-body) or stalling;
* ``long``: a 10,000-segment VOD (and its first 1,000 segments): wall time,
  peak RSS and CPU seconds, to show memory and CPU flat in the length;
* ``live``: a live playlist published in real time, recorded for 60 s:
  recorded duration against wall time, and gaps;
* ``direct``: a 256 MiB direct MP4 against curl, and memory flatness;
* ``direct_capped``: an 80 MiB direct MP4 behind a 50 MiB/s cap against curl,
  end to end as a user's command;
* ``direct_clip``: a 10 % time range (``--start``/``--end``) of a 256 MiB direct
  MP4 behind a 50 MiB/s cap: the byte ranges that cover it against the whole
  file fetched and cut (the same origin ignoring Range), in one run;
* ``dash``: the same 5-minute content as a DASH manifest (ffmpeg's
  ``SegmentTemplate`` + ``SegmentTimeline``), 100 ms latency, against
  ``yt-dlp -N 8`` and ffmpeg's DASH reader, checked frame by frame;
* ``page``: a web page whose ``og:video`` is the HLS stream, against yt-dlp
  on the same page (extraction + download).

Each tool runs as a child process; its peak memory is the child's
``ru_maxrss`` and its CPU time ``ru_utime + ru_stime`` (``os.wait4``, children
included); video outputs are checked by decoding every frame (``framemd5``).
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import shutil
import signal
import statistics
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
from tests.support.origin import Origin, bench_stream, frame_hashes, package_hls  # noqa: E402
from tests.support.streams import LiveFeed  # noqa: E402

MiB = 1024 * 1024
SCENARIOS = ("latency", "renditions", "capped", "faults", "long", "live", "direct",
             "direct_capped", "direct_clip", "dash", "page")  # fmt: skip


@dataclass
class Run:
    tool: str
    wall: float
    maxrss_mb: float
    returncode: int
    output: Path
    note: str = ""
    correct: str = ""
    cpu: float = 0.0
    stderr: str = ""


GNU_TIME = "/usr/bin/time"


def run_tool(tool: str, cmd: list[str], output: Path, timeout: float = 900.0) -> Run:
    """Run ``cmd`` as a child; wall time, peak RSS and CPU time (children included).

    The child is started by GNU time when it is installed: a child forked straight
    from this (large) Python process would count this process's memory in its peak.
    """
    output.unlink(missing_ok=True)
    errors = tempfile.TemporaryFile()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    measured = Path(tempfile.mkstemp(prefix="bench-time-")[1])
    if os.access(GNU_TIME, os.X_OK):
        cmd = [GNU_TIME, "-q", "-f", "%M %U %S", "-o", str(measured), *cmd]
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
    text = errors.read().decode("utf-8", "replace")
    errors.close()
    tail = text.strip().splitlines()
    note = tail[-1][:120] if tail and proc.returncode else ""
    if proc.returncode and wall >= timeout:
        note = f"killed after {timeout:.0f} s"
    maxrss_kb, cpu = usage.ru_maxrss, usage.ru_utime + usage.ru_stime
    figures = measured.read_text().split() if measured.exists() else []
    measured.unlink(missing_ok=True)
    if len(figures) >= 3:  # GNU time's own figures for its child
        maxrss_kb, cpu = int(figures[-3]), float(figures[-2]) + float(figures[-1])
    return Run(tool, wall, maxrss_kb / 1024, proc.returncode, output, note, cpu=cpu,
               stderr=text)  # fmt: skip


def mediacraft(url: str, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "mediacraft.cli", "download", url, "-o", str(out),
            "--threads", "8", "--allow-network", "127.0.0.1", "-q", *extra]  # fmt: skip


def ffmpeg_reader(url: str, out: Path, *extra: str) -> list[str]:
    return [FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-i", url, *extra, "-c", "copy",
            str(out)]  # fmt: skip


def ytdlp(url: str, out: Path) -> list[str]:
    exe = shutil.which("yt-dlp") or str(Path(sys.executable).with_name("yt-dlp"))
    return [exe, "-N", "8", "--ffmpeg-location", FFMPEG, "--ignore-config", "--no-cache-dir",
            "--no-part", "--no-progress", "-q", "--merge-output-format", "mp4", "-o", str(out),
            url]  # fmt: skip


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


def stream_durations(path: Path) -> dict[str, float]:
    """Seconds of each stream type in ``path`` (longest stream of each type)."""
    import av

    out: dict[str, float] = {}
    with av.open(str(path)) as container:
        for stream in container.streams:
            if stream.duration is None:
                continue
            seconds = float(stream.duration * stream.time_base)
            out[stream.type] = max(out.get(stream.type, 0.0), seconds)
    return out


def check_av(run: Run, seconds: float, tolerance: float = 0.5) -> None:
    """Whether the output has audio and video, each of the expected duration."""
    if run.returncode != 0 or not run.output.exists():
        run.correct = "no output"
        return
    found = stream_durations(run.output)
    parts = []
    ok = True
    for kind in ("video", "audio"):
        if kind not in found:
            parts.append(f"NO {kind}")
            ok = False
        else:
            parts.append(f"{kind} {found[kind]:.1f} s")
            ok = ok and abs(found[kind] - seconds) <= tolerance
    run.correct = ("yes: " if ok else "NO: ") + ", ".join(parts)


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
        "| tool | wall (s) | vs MediaCraft | peak RSS (MiB) | CPU (s) | exit | output |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in runs:
        ratio = r.wall / base_wall
        info = r.correct or (extra or {}).get(r.tool, "") or r.note
        if r.note and r.note not in info:
            info = f"{info} {r.note}".strip()
        lines.append(
            f"| {r.tool} | {r.wall:.2f} | {ratio:.2f}× | {r.maxrss_mb:.0f} | {r.cpu:.1f} "
            f"| {r.returncode} | {info} |"
        )
    text = "\n".join(lines)
    print(text, flush=True)
    return text


def say(report: list[str], text: str) -> None:
    report.append(text)
    print(text, flush=True)


# -- media ------------------------------------------------------------------------------------
def rendition_stream(media: Path, segment: int = 2) -> Path:
    """The bench stream's content with its audio in a separate rendition (cached)."""
    root = media / "hls_rend"
    master = root / "master.m3u8"
    if master.exists():
        return master
    root.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-i", str(media / "src.mp4"),
         "-map", "0:v", "-map", "0:a", "-c", "copy", "-f", "hls", "-hls_time", str(segment),
         "-hls_playlist_type", "vod", "-master_pl_name", "master.m3u8",
         "-hls_segment_filename", "s%v_%03d.ts",
         "-var_stream_map", "v:0,agroup:aud a:0,agroup:aud,language:en,default:yes", "p%v.m3u8"],
        check=True, cwd=root,
    )  # fmt: skip
    return master


def looped_stream(media: Path, times: int) -> Path:
    """The bench stream's source played ``times`` times in a row as one HLS VOD (stream
    copy: continuous timestamps, no discontinuity), for transfers long enough that a
    capped link's share is not dominated by a fixed start-up cost. Returns its root."""
    root = media.parent / f"{media.name}_x{times}"
    playlist = root / "hls" / "index.m3u8"
    if playlist.exists():
        return root
    root.mkdir(parents=True, exist_ok=True)
    looped = root / "src.mp4"
    subprocess.run(
        [FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-stream_loop", str(times - 1),
         "-i", str(media / "src.mp4"), "-c", "copy", str(looped)],
        check=True,
    )  # fmt: skip
    package_hls(looped, root / "hls", 2.0)
    return root


def sized_file(media: Path, path: Path, mib: int) -> Path:
    """``path``: the source looped and cut at ``mib`` MiB by stream copy (cached)."""
    if not path.exists():
        subprocess.run(
            [FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-stream_loop", "3",
             "-i", str(media / "src.mp4"), "-c", "copy", "-fs", str(mib * MiB), str(path)],
            check=True,
        )  # fmt: skip
    return path


def long_stream(cache: Path, count: int = 10_000, segment: float = 0.5) -> Path:
    """A VOD of ``count`` half-second segments of small video (cached); returns its root."""
    root = cache / f"long_{count}x{segment:g}s"
    playlist = root / "hls" / "index.m3u8"
    if playlist.exists():
        return root
    source = root / "src.mp4"
    root.mkdir(parents=True, exist_ok=True)
    seconds = count * segment
    subprocess.run(
        [FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
         "-i", f"testsrc2=size=96x64:rate=10:duration={seconds}",
         "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=22050:duration={seconds}",
         "-c:v", "libx264", "-preset", "ultrafast", "-g", str(int(10 * segment)),
         "-c:a", "aac", "-b:a", "24k", "-shortest", str(source)],
        check=True,
    )  # fmt: skip
    package_hls(source, root / "hls", segment)
    return root


def truncated_playlist(playlist: Path, count: int) -> bytes:
    """The first ``count`` segments of ``playlist`` as a VOD playlist."""
    out, taken = [], 0
    for line in playlist.read_text().splitlines():
        if line.startswith("#EXT-X-ENDLIST"):
            break
        if line and not line.startswith("#"):
            taken += 1
        out.append(line)
        if taken >= count and line and not line.startswith("#"):
            break
    return ("\n".join(out) + "\n#EXT-X-ENDLIST\n").encode()


# -- scenarios ------------------------------------------------------------------------------------
def scenario_latency(ctx: dict) -> None:
    media, work, report, reference = ctx["media"], ctx["work"], ctx["report"], ctx["reference"]
    with Origin(media, latency=0.1) as origin:
        runs = three_tools(origin.url("hls/index.m3u8"), work)
    for r in runs:
        check_frames(r, reference)
    report.append(table("HLS, 100 ms latency per request", runs, runs[0].tool))
    mc, yt, ff = runs
    ctx["figures"]["latency"] = {r.tool: [round(r.wall, 2), round(r.maxrss_mb)] for r in runs}
    say(report, f"\nMediaCraft / yt-dlp = **{mc.wall / yt.wall:.2f}×** (target ≤ 0.8×); "
                f"ffmpeg / MediaCraft = **{ff.wall / mc.wall:.1f}×** faster (target ≥ 4×).")


def scenario_renditions(ctx: dict) -> None:
    media, work, report = ctx["media"], ctx["work"], ctx["report"]
    master = rendition_stream(media)
    seconds = ctx["seconds"]
    with Origin(media, latency=0.1) as origin:
        runs = three_tools(origin.url(f"{master.parent.name}/master.m3u8"), work)
    for r in runs:
        check_av(r, seconds)
    report.append(
        table(f"HLS with a separate audio rendition (EXT-X-MEDIA), 100 ms latency; "
              f"{seconds} s expected", runs, runs[0].tool)  # fmt: skip
    )
    mc, yt, _ff = runs
    ctx["figures"]["renditions"] = {r.tool: [round(r.wall, 2), r.correct] for r in runs}
    say(report, f"\nMediaCraft / yt-dlp = **{mc.wall / yt.wall:.2f}×** (target ≤ 1×).")


def scenario_capped(ctx: dict) -> None:
    work, report = ctx["work"], ctx["report"]
    root = looped_stream(ctx["media"], ctx["loops"])
    hls_bytes = sum(p.stat().st_size for p in (root / "hls").glob("*.ts"))
    seconds = ctx["seconds"] * ctx["loops"]
    lines = [f"\n### HLS behind a total bandwidth cap, 20 ms latency per request, end to end "
             f"({seconds} s of the same 720p, {hls_bytes / MiB:.0f} MiB)\n",
             "| cap (MiB/s) | ideal (s) | MediaCraft wall (s) | share of the link | "
             "fixed cost (s) | peak RSS (MiB) | output |",
             "|---:|---:|---:|---:|---:|---:|---|"]  # fmt: skip
    shares = {}
    for cap in ctx["caps"]:
        with Origin(root, bandwidth=cap * MiB, latency=0.02) as origin:
            out = work / "cap.mp4"
            run = run_tool("MediaCraft", mediacraft(origin.url("hls/index.m3u8"), out), out)
        check_av(run, seconds, tolerance=1.0)
        ideal = hls_bytes / (cap * MiB)
        shares[cap] = ideal / run.wall
        lines.append(f"| {cap:g} | {ideal:.2f} | {run.wall:.2f} | {ideal / run.wall:.1%} | "
                     f"{run.wall - ideal:.2f} | {run.maxrss_mb:.0f} | {run.correct} |")  # fmt: skip
    text = "\n".join(lines)
    print(text, flush=True)
    report.append(text)
    ctx["figures"]["capped"] = {str(k): round(v, 4) for k, v in shares.items()}
    worst = min(shares.values())
    say(report, f"\nLowest share over the caps: **{worst:.1%}** of the link (target ≥ 95%).")


def scenario_faults(ctx: dict) -> None:
    media, work, report, reference = ctx["media"], ctx["work"], ctx["report"], ctx["reference"]
    with Origin(media, seed=20) as origin:
        is_ts = lambda p: p.endswith(".ts")  # noqa: E731
        p = 1 - 0.8 ** (1 / 3)  # three independent faults: 20 % of requests in all
        origin.add_fault(is_ts, "status", status=503, probability=p)
        origin.add_fault(is_ts, "reset", after=256 * 1024, probability=p)
        origin.add_fault(is_ts, "stall", after=128 * 1024, seconds=6, probability=p)
        runs = three_tools(origin.url("hls/index.m3u8"), work)
        faulty = sum(1 for e in origin.log if e.fault)
        total = sum(1 for e in origin.log if e.path.endswith(".ts"))
    for r in runs:
        check_frames(r, reference)
    report.append(
        table(f"20 % of segment requests failing or stalling ({faulty} of {total} segment "
              "requests faulted)", runs, runs[0].tool)  # fmt: skip
    )
    ctx["figures"]["faults"] = {r.tool: r.correct for r in runs}


def scenario_long(ctx: dict) -> None:
    work, report = ctx["work"], ctx["report"]
    count = ctx["long_segments"]
    root = long_stream(ctx["cache"], count)
    playlist = root / "hls" / "index.m3u8"
    runs = []
    with Origin(root, latency=0.002) as origin:
        origin.add_file("hls/first.m3u8", truncated_playlist(playlist, count // 10))
        for name, label, segments in (("first.m3u8", "MediaCraft", count // 10),
                                      ("index.m3u8", "MediaCraft", count)):  # fmt: skip
            out = work / f"long{segments}.mp4"
            run = run_tool(f"{label}, {segments:,} segments",
                           mediacraft(origin.url(f"hls/{name}"), out), out)  # fmt: skip
            seconds = segments * 0.5
            check_av(run, seconds, tolerance=1.0)
            runs.append(run)
        if ctx["long_compare"]:
            out = work / "long_yt.mp4"
            run = run_tool(f"yt-dlp -N 8, {count:,} segments",
                           ytdlp(origin.url("hls/index.m3u8"), out), out)  # fmt: skip
            check_av(run, count * 0.5, tolerance=1.0)
            runs.append(run)
    report.append(table(f"A {count:,}-segment VOD (half-second segments, 2 ms latency)",
                        runs, runs[0].tool))  # fmt: skip
    small, big = runs[0], runs[1]
    ctx["figures"]["long"] = {r.tool: [round(r.wall, 2), round(r.maxrss_mb), round(r.cpu, 1)]
                              for r in runs}  # fmt: skip
    say(report, f"\n10× the segments: peak RSS {small.maxrss_mb:.0f} → {big.maxrss_mb:.0f} MiB, "
                f"CPU per segment {small.cpu / (count // 10) * 1000:.2f} → "
                f"{big.cpu / count * 1000:.2f} ms.")


def scenario_live(ctx: dict) -> None:
    media, work, report = ctx["media"], ctx["work"], ctx["report"]
    record = ctx["record_seconds"]
    with Origin(media) as origin:
        LiveFeed.from_vod(origin, media / "hls" / "index.m3u8", "hls/live.m3u8",
                          window=6, initial=6, target=2)  # fmt: skip
        out = work / "live.mp4"
        run = run_tool(f"MediaCraft --record-seconds {record}",
                       mediacraft(origin.url("hls/live.m3u8"), out, "--record-seconds",
                                  str(record)), out)  # fmt: skip
    recorded = stream_durations(out).get("video", 0.0) if run.returncode == 0 else 0.0
    gaps = [line for line in run.stderr.splitlines() if "gap(s)" in line]
    lines = ["\n### A live playlist (2 s segments, window of 6) recorded for "
             f"{record} s\n", "| tool | wall (s) | recorded video (s) | gaps | peak RSS (MiB) "
             "| exit |", "|---|---:|---:|---|---:|---:|",
             f"| {run.tool} | {run.wall:.2f} | {recorded:.2f} | "
             f"{gaps[0].split('note: ', 1)[-1] if gaps else 'none'} | {run.maxrss_mb:.0f} "
             f"| {run.returncode} |"]  # fmt: skip
    text = "\n".join(lines)
    print(text, flush=True)
    report.append(text)
    ctx["figures"]["live"] = {"wall": round(run.wall, 2), "recorded": round(recorded, 2),
                              "gaps": len(gaps)}  # fmt: skip


def scenario_direct(ctx: dict) -> None:
    media, work, report = ctx["media"], ctx["work"], ctx["report"]
    size_mib = 32 if ctx["quick"] else 256
    big = media.parent / f"direct_{size_mib}MiB.mp4"
    small = media.parent / "direct_64MiB.mp4"
    for path, mib in ((big, size_mib), (small, 64)):
        sized_file(media, path, mib)
    with Origin(media.parent) as origin:
        url = origin.url(big.name)
        d4, d1, c, sm = work / "d.mp4", work / "d1.mp4", work / "c.bin", work / "s.mp4"
        runs = [
            run_tool("MediaCraft (4 connections)", mediacraft(url, d4), d4),
            run_tool("MediaCraft (1 connection)", mediacraft(url, d1, "--connections", "1"), d1),
            run_tool("curl", ["curl", "-s", "-o", str(c), url], c),
            run_tool("MediaCraft, 64 MiB file", mediacraft(origin.url(small.name), sm), sm),
        ]
    size = big.stat().st_size
    speeds = {r.tool: f"{size / r.wall / MiB:.0f} MiB/s" for r in runs[:3]}
    report.append(table(f"Direct file, {size / MiB:.0f} MiB", runs, runs[0].tool, speeds))
    curl_wall = runs[2].wall
    say(report, f"\nMediaCraft throughput = **{curl_wall / runs[0].wall:.0%}** of curl's "
                f"(1 connection: {curl_wall / runs[1].wall:.0%}; target ≥ 90%). Peak RSS "
                f"{runs[0].maxrss_mb:.0f} MiB for {size / MiB:.0f} MiB vs "
                f"{runs[3].maxrss_mb:.0f} MiB for 64 MiB: memory does not grow with the file.")
    ctx["figures"]["direct"] = {r.tool: [round(r.wall, 2), round(r.maxrss_mb)] for r in runs}


def dash_stream(media: Path, segment: int = 2) -> Path:
    """The bench stream's content as a DASH manifest (stream copy, cached)."""
    manifest = media / "dash" / "manifest.mpd"
    if manifest.exists():
        return manifest
    manifest.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-i", str(media / "src.mp4"),
         "-map", "0", "-c", "copy", "-f", "dash", "-seg_duration", str(segment),
         str(manifest)],
        check=True,
    )  # fmt: skip
    return manifest


def scenario_dash(ctx: dict) -> None:
    media, work, report = ctx["media"], ctx["work"], ctx["report"]
    reference = ctx["reference"] or reference_frames(media / "src.mp4")
    dash_stream(media)
    with Origin(media, latency=0.1) as origin:
        runs = three_tools(origin.url("dash/manifest.mpd"), work)
    runs[2].tool = "ffmpeg -i MPD -c copy"
    for r in runs:
        check_frames(r, reference)
    report.append(table("DASH (SegmentTemplate + SegmentTimeline), 100 ms latency per request",
                        runs, runs[0].tool))  # fmt: skip
    mc, yt, ff = runs
    ctx["figures"]["dash"] = {r.tool: [round(r.wall, 2), round(r.maxrss_mb), r.correct]
                              for r in runs}  # fmt: skip
    say(report, f"\nMediaCraft / yt-dlp = **{mc.wall / yt.wall:.2f}×**; "
                f"ffmpeg / MediaCraft = **{ff.wall / mc.wall:.1f}×** slower.")


def scenario_page(ctx: dict) -> None:
    media, work, report = ctx["media"], ctx["work"], ctx["report"]
    reference = ctx["reference"] or reference_frames(media / "src.mp4")
    with Origin(media, latency=0.1) as origin:
        html = ("<!doctype html><html><head><title>Bench clip</title>"
                f'<meta property="og:video" content="{origin.url("hls/index.m3u8")}">'
                "</head><body><p>A page with a video.</p></body></html>")  # fmt: skip
        url = origin.add_file("watch.html", html.encode())
        mc, yt = work / "page_mc.mp4", work / "page_yt.mp4"
        runs = [run_tool("MediaCraft (8 threads)", mediacraft(url, mc), mc),
                run_tool("yt-dlp -N 8", ytdlp(url, yt), yt)]  # fmt: skip
    for r in runs:
        check_frames(r, reference)
    report.append(table("A web page whose og:video is the HLS stream, 100 ms latency "
                        "(extraction + download)", runs, runs[0].tool))  # fmt: skip
    ctx["figures"]["page"] = {r.tool: [round(r.wall, 2), r.correct] for r in runs}
    say(report, f"\nMediaCraft / yt-dlp = **{runs[0].wall / runs[1].wall:.2f}×** on the page.")


def scenario_direct_capped(ctx: dict) -> None:
    media, work, report = ctx["media"], ctx["work"], ctx["report"]
    mib = 20 if ctx["quick"] else 80
    cap = 50
    path = sized_file(media, media.parent / f"direct_{mib}MiB.mp4", mib)
    size = path.stat().st_size
    ideal = size / (cap * MiB)
    runs: list[Run] = []
    for _round in range(ctx["rounds"]):
        with Origin(media.parent, bandwidth=cap * MiB) as origin:
            url = origin.url(path.name)
            d, c = work / "dc.mp4", work / "cc.bin"
            for run in (run_tool("MediaCraft", mediacraft(url, d), d),
                        run_tool("curl", ["curl", "-s", "-o", str(c), url], c)):  # fmt: skip
                same = run.returncode == 0 and filecmp.cmp(run.output, path, shallow=False)
                run.correct = "yes (the source's bytes)" if same else "NO"
                runs.append(run)
    tools = ("MediaCraft", "curl")
    walls = {tool: sorted(r.wall for r in runs if r.tool == tool) for tool in tools}
    best = {tool: walls[tool][0] for tool in tools}
    median = {tool: statistics.median(walls[tool]) for tool in tools}
    lines = [f"\n### Direct file, {size / MiB:.0f} MiB behind a {cap} MiB/s cap, end to end "
             f"(ideal {ideal:.2f} s; {ctx['rounds']} rounds)\n",
             "| tool | best wall (s) | median (s) | share of the link | peak RSS (MiB) | CPU (s) "
             "| exit | output (every round) |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]  # fmt: skip
    for tool in tools:
        run = min((r for r in runs if r.tool == tool), key=lambda r: r.wall)
        correct = {r.correct for r in runs if r.tool == tool}
        lines.append(f"| {tool} | {run.wall:.2f} | {median[tool]:.2f} | {ideal / run.wall:.1%} | "
                     f"{run.maxrss_mb:.0f} | {run.cpu:.1f} | {run.returncode} | "
                     f"{' / '.join(sorted(correct))} |")  # fmt: skip
    text = "\n".join(lines)
    print(text, flush=True)
    report.append(text)
    ratio = best["curl"] / best["MediaCraft"]
    ratio_median = median["curl"] / median["MediaCraft"]
    ctx["figures"]["direct_capped"] = {"ratio": round(ratio, 3),
                                       "ratio_median": round(ratio_median, 3),
                                       **{k: round(v, 3) for k, v in best.items()}}  # fmt: skip
    say(report, f"\nMediaCraft throughput = **{ratio:.1%}** of curl's, best against best "
                f"({ratio_median:.1%} median against median; target ≥ 95%).")  # fmt: skip


def scenario_direct_clip(ctx: dict) -> None:
    import av

    media, work, report = ctx["media"], ctx["work"], ctx["report"]
    mib = 32 if ctx["quick"] else 256
    cap = 50
    path = sized_file(media, media.parent / f"direct_clip_{mib}MiB.mp4", mib)
    with av.open(str(path)) as container:
        duration = container.duration / 1_000_000
    start, end = 0.45 * duration, 0.55 * duration
    clip = ["--start", f"{start:.3f}", "--end", f"{end:.3f}"]
    runs: list[Run] = []
    served: dict[str, list[int]] = {}
    for _round in range(ctx["rounds"]):
        for tool, ignore in (("MediaCraft, byte ranges", False),
                             ("MediaCraft, whole file (Range ignored)", True)):  # fmt: skip
            with Origin(media.parent, bandwidth=cap * MiB) as origin:
                origin.ignore_ranges = ignore
                out = work / "clip.mp4"
                run = run_tool(tool, mediacraft(origin.url(path.name), out, *clip), out)
                check_av(run, end - start, tolerance=2.1)  # keyframe cut: up to one 2 s GOP
                runs.append(run)
                served.setdefault(tool, []).append(sum(e.sent for e in origin.log))
    size = path.stat().st_size
    best = [min((r for r in runs if r.tool == t), key=lambda r: r.wall) for t in served]
    extra = {t: f"{min(v) / MiB:.1f} MiB served" for t, v in served.items()}
    for run in best:
        run.correct = f"{run.correct}; {extra[run.tool]}"
    report.append(table(f"Direct file, {size / MiB:.0f} MiB ({duration:.0f} s) behind a {cap} "
                        f"MiB/s cap, clip {start:.0f}-{end:.0f} s (best of {ctx['rounds']})",
                        best, best[0].tool))  # fmt: skip
    ratio = best[1].wall / best[0].wall
    ctx["figures"]["direct_clip"] = {"ranged": round(best[0].wall, 3),
                                     "whole": round(best[1].wall, 3), "ratio": round(ratio, 2),
                                     "served_mib": {t: round(min(v) / MiB, 1)
                                                    for t, v in served.items()}}  # fmt: skip
    say(report, f"\nThe byte ranges take **{1 / ratio:.0%}** of the whole file's time "
                f"({ratio:.1f}× faster).")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="60 s stream, 2,000 segments, 15 s recording, one cap")
    parser.add_argument("--only", default=",".join(SCENARIOS),
                        help=f"comma-separated scenarios: {', '.join(SCENARIOS)}")
    parser.add_argument("--caps", default="10,40,80", help="bandwidth caps, MiB/s")
    parser.add_argument("--long-compare", action="store_true",
                        help="also run yt-dlp on the 10,000-segment VOD")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    parser.add_argument("--rounds", type=int, default=3,
                        help="runs of each tool in direct_capped (best and median shown)")
    args = parser.parse_args()  # fmt: skip
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(chosen) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")
    seconds = 60 if args.quick else 300
    # An installed MediaCraft has its bytecode compiled by pip; this checkout may not
    # (PYTHONDONTWRITEBYTECODE), and compiling ~100 modules would count as start-up.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "mediacraft")],
                   check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    print(f"preparing media ({seconds} s of 720p, 2 s segments; cached) ...", flush=True)
    media = bench_stream(seconds=seconds)
    hls_bytes = sum(p.stat().st_size for p in (media / "hls").glob("*.ts"))
    segments = len(list((media / "hls").glob("*.ts")))
    work = Path(tempfile.mkdtemp(prefix="mediacraft-bench-"))
    load = os.getloadavg()[0]
    report: list[str] = [
        f"Stream: {segments} segments, {hls_bytes / MiB:.0f} MiB, {seconds} s of 1280x720 H.264 "
        f"+ AAC; host: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, load average "
        f"{load:.1f} at the start."
    ]
    ctx: dict = {
        "media": media, "work": work, "report": report, "figures": {"segments": segments},
        "hls_bytes": hls_bytes, "seconds": seconds, "quick": args.quick,
        "cache": media.parent, "long_segments": 2_000 if args.quick else 10_000,
        "long_compare": args.long_compare, "record_seconds": 15 if args.quick else 60,
        "caps": [40.0] if args.quick else [float(c) for c in args.caps.split(",")],
        "loops": 2 if args.quick else 4, "rounds": max(1, args.rounds),
        "reference": reference_frames(media / "src.mp4")
        if {"latency", "faults"} & set(chosen) else [],
    }  # fmt: skip
    try:
        for name in SCENARIOS:
            if name in chosen:
                print(f"\n== {name} ==", flush=True)
                globals()[f"scenario_{name}"](ctx)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(ctx["figures"], indent=2))
    print("\n".join(["", "---- markdown ----", *report]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
