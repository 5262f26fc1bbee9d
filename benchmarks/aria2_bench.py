"""aria2 benchmark: the aria2 engine against the built-in engine and curl, and draft batches.

Scenarios (all on a loopback origin started here):

* ``direct``: one direct MP4 (1 GiB by default) fetched by ``mediacraft download``
  with ``--engine aria2``, with ``--engine builtin``, and by ``curl -o``: wall time,
  peak RSS and CPU of each command, the results compared byte for byte;
* ``draft``: one ``jianying_draft`` job of 20 materials (downloaded four at once,
  probed, built into a draft and zipped), with the aria2 engine and with the
  built-in engine, and ``curl --parallel`` fetching the same 20 files as the
  tool a user would otherwise use (download only).

Run ``python benchmarks/aria2_bench.py`` (``--quick``: 128 MiB and 20 smaller
materials; ``--size-mib``, ``--materials``, ``--latency`` to vary them).
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.download_bench import MiB, Run, run_tool, say, table  # noqa: E402
from tests.support.media import FFMPEG  # noqa: E402
from tests.support.origin import Origin, bench_stream  # noqa: E402

ALLOWED = ("127.0.0.1",)


def sized_mp4(source: Path, target: Path, mib: int) -> Path:
    """``source`` looped by stream copy until the file is ``mib`` MiB (cached)."""
    if not target.exists():
        subprocess.run(
            [FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-stream_loop", "-1",
             "-i", str(source), "-c", "copy", "-fs", str(mib * MiB), str(target)],
            check=True, timeout=1800,
        )  # fmt: skip
    return target


def cli(url: str, out: Path, engine: str) -> list[str]:
    return [sys.executable, "-m", "mediacraft.cli", "download", url, "-o", str(out), "-q",
            "--engine", engine, "--allow-network", "127.0.0.1"]  # fmt: skip


def scenario_direct(ctx: dict) -> None:
    media, work, report, mib = ctx["media"], ctx["work"], ctx["report"], ctx["size_mib"]
    big = sized_mp4(media / "src.mp4", ctx["cache"] / f"direct_{mib}MiB.mp4", mib)
    size = big.stat().st_size
    os.environ["MEDIACRAFT_DATA_DIR"] = str(work / "data")  # the aria2 daemon's directory
    with Origin(big.parent) as origin:
        url = origin.url(big.name)
        a, b, c, d = (work / f"{n}.mp4" for n in ("aria2", "builtin", "curl", "plain"))
        plain = ["aria2c", "-q", "-x4", "-s4", "--file-allocation=none", "-d", str(work),
                 "-o", d.name, url]  # fmt: skip
        runs = [
            run_tool("MediaCraft, aria2 engine (4 connections)", cli(url, a, "aria2"), a),
            run_tool("MediaCraft, built-in engine (4 connections)", cli(url, b, "builtin"), b),
            run_tool("curl -o", ["curl", "-s", "-o", str(c), url], c),
            run_tool("aria2c -x4 -s4 alone (no guard)", plain, d),
        ]
    for run in runs:
        same = run.output.exists() and filecmp.cmp(run.output, big, shallow=False)
        run.correct = f"{size / run.wall / MiB:.0f} MiB/s, " + (
            "identical" if same else "DIFFERENT"
        )
        run.output.unlink(missing_ok=True)
    report.append(table(f"Direct file, {size / MiB:.0f} MiB", runs, runs[0].tool))
    curl = runs[2].wall
    say(report, f"\naria2 engine: **{curl / runs[0].wall:.0%}** of curl's throughput; "
                f"built-in engine: **{curl / runs[1].wall:.0%}**; aria2 vs built-in wall time "
                f"**{runs[0].wall / runs[1].wall:.2f}×**; aria2c alone takes "
                f"{runs[3].wall:.2f} s. The aria2 engine row's RSS and CPU are the command's "
                "own (aria2c runs as a daemon, not counted).")  # fmt: skip
    ctx["figures"]["direct"] = {r.tool: round(r.wall, 2) for r in runs}


def draft_once(urls: list[str], work: Path, engine: str) -> float:
    """One draft job in-process: fetch 20 materials, build, zip. Returns wall seconds."""
    from mediacraft.download import DownloadLimits, DownloadOptions
    from mediacraft.jianying.builder import build_draft, zip_draft
    from mediacraft.jianying.materials import MaterialFetcher
    from mediacraft.jianying.spec import parse_spec
    from mediacraft.progress import CancelToken

    spec = parse_spec({"videos": urls}, {"drafts_root": "/drafts", "name": "bench"}, ALLOWED)
    limits = DownloadLimits()
    options = DownloadOptions.from_dict({}, limits)
    direct = None
    if engine == "aria2":
        from mediacraft.aria2 import direct_engine

        direct = direct_engine("aria2", work / "data", options, allowed_networks=ALLOWED)
        assert direct is not None, "aria2c did not start"
    job = work / f"draft-{engine}"
    start = time.perf_counter()
    fetcher = MaterialFetcher(job, options, limits, ALLOWED, direct, lambda _line: None,
                              lambda _id: None)  # fmt: skip
    materials = fetcher.fetch_all(spec.materials, CancelToken(), lambda _p: None)
    folder = build_draft(spec.config, "bench", materials, job / "draft")
    zip_draft(folder, job / "bench.zip")
    wall = time.perf_counter() - start
    shutil.rmtree(job, ignore_errors=True)
    return wall


def scenario_draft(ctx: dict) -> None:
    media, work, report = ctx["media"], ctx["work"], ctx["report"]
    count, mib = ctx["materials"], ctx["material_mib"]
    clip = sized_mp4(media / "src.mp4", ctx["cache"] / f"material_{mib}MiB.mp4", mib)
    folder = work / "materials"
    folder.mkdir()
    for i in range(count):
        os.link(clip, folder / f"m{i:02d}.mp4")
    with Origin(folder, latency=ctx["latency"]) as origin:
        urls = [origin.url(f"m{i:02d}.mp4") for i in range(count)]
        aria2 = draft_once(urls, work, "aria2")
        builtin = draft_once(urls, work, "builtin")
        out = work / "curl"
        out.mkdir()
        cmd = ["curl", "-s", "-Z", "--parallel-max", "4"]
        for i, url in enumerate(urls):
            cmd += ["-o", str(out / f"m{i:02d}.mp4"), url]
        curl: Run = run_tool("curl --parallel (4 at once, download only)", cmd, out / "m00.mp4")
    from mediacraft.aria2 import daemon_for

    daemon_for(work / "data").stop()
    total = count * clip.stat().st_size
    lines = [
        f"\n### Draft of {count} materials ({total / MiB:.0f} MiB, {ctx['latency'] * 1000:.0f} ms "
        "per request)\n",
        "| run | wall (s) | vs aria2 engine | throughput |",
        "|---|---:|---:|---:|",
    ]
    for name, wall in (("jianying_draft, aria2 engine", aria2),
                       ("jianying_draft, built-in engine", builtin),
                       (curl.tool, curl.wall)):  # fmt: skip
        speed = total / wall / MiB
        lines.append(f"| {name} | {wall:.2f} | {wall / aria2:.2f}× | {speed:.0f} MiB/s |")
    text = "\n".join(lines)
    print(text, flush=True)
    report.append(text)
    ctx["figures"]["draft"] = {"aria2": round(aria2, 2), "builtin": round(builtin, 2),
                               "curl": round(curl.wall, 2)}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="128 MiB file, 4 MiB materials")
    parser.add_argument("--only", default="direct,draft", help="direct, draft or both")
    parser.add_argument("--size-mib", type=int, default=None, help="direct file size (1024)")
    parser.add_argument("--materials", type=int, default=20)
    parser.add_argument("--material-mib", type=int, default=None, help="each material (16)")
    parser.add_argument("--latency", type=float, default=0.05, help="draft origin, s/request")
    args = parser.parse_args()
    if shutil.which("aria2c") is None:
        parser.error("aria2c is not installed (apt-get install aria2)")
    media = bench_stream(seconds=60)
    work = Path(tempfile.mkdtemp(prefix="mediacraft-aria2-bench-"))
    ctx: dict = {
        "media": media, "cache": media.parent, "work": work, "figures": {},
        "size_mib": args.size_mib or (128 if args.quick else 1024),
        "materials": args.materials, "material_mib": args.material_mib or (4 if args.quick else 16),
        "latency": args.latency,
        "report": [f"Host: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, load average "
                   f"{os.getloadavg()[0]:.1f} at the start."],
    }  # fmt: skip
    try:
        for name in ("direct", "draft"):
            if name in args.only.split(","):
                print(f"\n== {name} ==", flush=True)
                globals()[f"scenario_{name}"](ctx)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("\n".join(["", "---- markdown ----", *ctx["report"]]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
