"""``mediacraft download URL -o out.mp4``: one download with a progress bar on stderr.

Work files live beside the output (``.out.mp4.download/``), so running the
same command again after an interruption or a crash resumes it.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path
from typing import TextIO

from ..config import Config
from ..download import DownloadLimits, DownloadOptions, download, parse_rate, politeness
from ..download.options import PROFILES
from ..exceptions import MediaCraftError, ValidationError
from ..humanize import human_bytes, human_eta
from ..progress import Progress


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "download",
        help="download an HLS stream or a video file to MP4",
        description="Download an HLS (M3U8) stream or a direct video file to an MP4 file.",
    )
    parser.add_argument("url", help="http(s) URL of an HLS playlist or a video file")
    parser.add_argument("-o", "--output", required=True, type=Path, help="the MP4 to write")
    parser.add_argument("--quality", default=None, help="best (default), worst, 720p, or bits/s")
    parser.add_argument("--profile", choices=sorted(PROFILES), default=None)
    parser.add_argument("--threads", type=int, default=None, help="concurrent segment fetches")
    parser.add_argument("--retries", type=int, default=None, help="retries per request")
    parser.add_argument("--retry-delay", type=float, default=None, help="backoff base, seconds")
    parser.add_argument(
        "--timeout", "--first-byte-timeout", dest="timeout", type=float, default=None,
        help="seconds to wait for a server's first answer (default 20)",
    )  # fmt: skip
    parser.add_argument("--stall-timeout", type=float, default=None, help="no data for this long")
    parser.add_argument(
        "--record-seconds", type=float, default=None,
        help="record a live stream for this long (required for live links)",
    )  # fmt: skip
    parser.add_argument(
        "--audio-lang", default=None,
        help="audio rendition: a language such as en, or all (default: the stream's default)",
    )  # fmt: skip
    parser.add_argument(
        "--subtitles", default=None, help="none (default), all, or a language such as en"
    )
    parser.add_argument(
        "--split-discontinuities", action="store_true",
        help="write each discontinuity group as its own file instead of joining them",
    )  # fmt: skip
    parser.add_argument("--connections", type=int, default=None, help="per direct file")
    parser.add_argument(
        "--header", action="append", default=[], metavar="'Name: value'",
        help="extra request header, e.g. 'Referer: https://example.com/' (repeatable)",
    )  # fmt: skip
    parser.add_argument("--limit-rate", default=None, help="bytes per second, e.g. 500K or 2M")
    parser.add_argument(
        "--allow-network", action="append", default=[], metavar="CIDR|HOST",
        help="exempt a host or network from the private-address guard (repeatable)",
    )  # fmt: skip
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "-v", "--verbose", action="store_true",
        help="print the download's log (variant, renditions, retries, reloads)",
    )  # fmt: skip
    parser.set_defaults(func=run)


def _headers(values: list[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for value in values:
        name, sep, content = value.partition(":")
        if not sep or not name.strip():
            raise ValidationError(f"--header {value!r} must look like 'Name: value'")
        headers[name.strip()] = content.strip()
    return headers


class ProgressBar:
    """A single ``\\r``-updated line on a text stream."""

    def __init__(self, stream: TextIO, interval: float = 0.2) -> None:
        self.stream = stream
        self.interval = interval if stream.isatty() else max(interval, 1.0)
        self._last = 0.0
        self._width = 0

    def __call__(self, progress: Progress) -> None:
        now = time.monotonic()
        if now - self._last < self.interval and progress.stage == "downloading":
            return
        self._last = now
        filled = int(progress.percent / 5)
        parts = [f"{progress.stage:<11}", f"[{'#' * filled}{'.' * (20 - filled)}]"]
        parts.append(f"{progress.percent:5.1f}%")
        if progress.segments_total:
            parts.append(f"{progress.segments_done or 0}/{progress.segments_total} seg")
        parts.append(f"{human_bytes(progress.bytes_done)}/{human_bytes(progress.bytes_total)}")
        if progress.speed is not None:
            parts.append(f"{human_bytes(progress.speed)}/s")
        parts.append(f"ETA {human_eta(progress.eta)}")
        line = "  ".join(parts)
        pad = " " * max(0, self._width - len(line))
        self._width = len(line)
        self.stream.write("\r" + line + pad)
        self.stream.flush()

    def close(self) -> None:
        if self._width:
            self.stream.write("\n")
            self.stream.flush()


def build_options(args: argparse.Namespace, limits: DownloadLimits) -> DownloadOptions:
    return DownloadOptions.from_profile(
        args.profile,
        limits,
        quality=args.quality,
        threads=args.threads,
        retries=args.retries,
        retry_delay=args.retry_delay,
        first_byte_timeout=args.timeout,
        stall_timeout=args.stall_timeout,
        connections=args.connections,
        headers=_headers(args.header) or None,
        limit_rate=parse_rate(args.limit_rate) if args.limit_rate else None,
        record_seconds=args.record_seconds,
        audio_lang=args.audio_lang,
        subtitles=args.subtitles,
        split_discontinuities=args.split_discontinuities or None,
    )


def _print_log(line: str) -> None:
    print(f"mediacraft: {line}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    bar: ProgressBar | None = None
    try:
        config = Config.from_env()
        # A local user owns the machine: the server's caps apply, not the visitor floors.
        limits = DownloadLimits.from_config(config, visitor=False)
        politeness.configure(config.per_host_connections)
        options = build_options(args, limits)
        allowed = tuple(config.allowed_networks) + tuple(args.allow_network)
        output: Path = args.output
        work_dir = output.with_name(f".{output.name}.download")
        bar = None if args.quiet else ProgressBar(sys.stderr)
        result = download(
            args.url,
            output,
            options,
            work_dir=work_dir,
            progress=bar,
            cancel=None,
            allowed_networks=allowed,
            limits=limits,
            log=_print_log if args.verbose else None,
        )
        shutil.rmtree(work_dir, ignore_errors=True)
    except KeyboardInterrupt:
        if bar:
            bar.close()
        print("mediacraft: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    except (MediaCraftError, ValueError, OSError) as exc:
        if bar:
            bar.close()
        message = " ".join(str(exc).split())
        print(f"mediacraft: error: {message}", file=sys.stderr)
        return 1
    if bar:
        bar.close()
    duration = f"{result.duration:.1f} s" if result.duration else "unknown duration"
    size = f"{result.width}x{result.height}" if result.width else "no video"
    print(f"{result.path}  {human_bytes(result.size)}  {duration}  {size}", file=sys.stderr)
    for extra in result.files[1:]:
        print(f"{extra}", file=sys.stderr)
    if result.gaps:
        missing = sum(g.get("segments", 0) for g in result.gaps)
        print(f"mediacraft: note: {len(result.gaps)} gap(s), {missing} segments missing",
              file=sys.stderr)  # fmt: skip
    return 0
