"""``mediacraft download URL -o out.mp4``: one download with its progress on stderr (--json:
JSON lines on stdout).

The result's suffix follows what was written: ``--container``, ``.m4a`` for a
stream without picture, a file's own container when its codecs do not fit MP4.

Work files live beside the output (``.out.mp4.download/``), so running the
same command again after an interruption or a crash resumes it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import ENGINES, Config
from ..download import politeness
from ..download.first import FirstRequest
from ..download.limits import DownloadLimits
from ..download.media_links import looks_like_media
from ..download.options import CONTAINERS, PROFILES, DownloadOptions, parse_rate, parse_time
from ..exceptions import MediaCraftError, ValidationError
from ..humanize import human_bytes

if TYPE_CHECKING:
    from ..download.engine import DirectFetch
    from .live import DownloadView, JsonLines


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "download",
        help="download a page's video, an HLS or DASH stream, or a video file",
        description="Download a web page's video, an HLS (M3U8) or DASH (MPD) stream, or a "
        "direct video file, to MP4 (or the --container asked for).",
    )
    parser.add_argument("url", help="http(s) URL of a page, a playlist or manifest, or a file")
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
        "--subtitles", "--subs", dest="subtitles", default=None,
        help="none (default), all, or a language such as en",
    )  # fmt: skip
    parser.add_argument(
        "--container", choices=CONTAINERS, default=None,
        help="mp4 (default), mkv, m4a (audio, copied) or mp3 (audio, re-encoded)",
    )  # fmt: skip
    parser.add_argument("--start", default=None, help="start of a time range: seconds or hh:mm:ss")
    parser.add_argument("--end", default=None, help="end of a time range: seconds or hh:mm:ss")
    parser.add_argument(
        "--precise-cut", action="store_true",
        help="cut the time range at the exact frames (re-encodes), not at keyframes",
    )  # fmt: skip
    parser.add_argument(
        "--cookies", type=Path, default=None, metavar="FILE",
        help="a Netscape cookies.txt; only the link's host gets its cookies",
    )  # fmt: skip
    parser.add_argument("--user-agent", default=None, help="the User-Agent of every request")
    parser.add_argument("--referer", default=None, help="the Referer of every request")
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
    parser.add_argument(
        "--engine", choices=ENGINES, default=None,
        help="direct files: builtin, aria2 (aria2c over JSON-RPC) or auto "
        "(default MEDIACRAFT_DOWNLOAD_ENGINE or builtin)",
    )  # fmt: skip
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--json", action="store_true",
        help="progress as JSON lines on stdout ('progress', then 'done' or 'error')",
    )  # fmt: skip
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
        container=args.container,
        start=parse_time(args.start, "--start"),
        end=parse_time(args.end, "--end"),
        precise_cut=args.precise_cut or None,
        user_agent=args.user_agent,
        referer=args.referer,
    )


def engine_for(
    engine: str, config: Config, options: DownloadOptions, allowed: tuple[str, ...]
) -> DirectFetch | None:
    """The direct-file engine of a command: the data directory's aria2c daemon when asked
    (the server's, if one runs; else one of its own, stopped when the command ends)."""
    if engine == "builtin":
        return None
    from ..aria2 import direct_engine

    return direct_engine(engine, config.data_dir, options, binary=config.aria2c,
                         allowed_networks=allowed, task_log=_print_log)  # fmt: skip


def _print_log(line: str) -> None:
    print(f"mediacraft: {line}", file=sys.stderr)


def send_first(
    url: str, options: DownloadOptions, limits: DownloadLimits, allowed: tuple[str, ...],
    plain: bool,
) -> FirstRequest | None:  # fmt: skip
    """The first request, sent now so that it travels while the engine loads (first.py).

    Only for the built-in engine with no cookies, proxy or rate limit (``plain``):
    those need the engine's session from the first byte.
    """
    if not plain or limits.proxy or options.limit_rate:
        return None
    if limits.extractors == "all" and not looks_like_media(url):
        return None  # a site extractor may claim it: yt-dlp makes the first request
    try:
        options.validated(limits)
    except ValidationError:
        return None  # the engine says what is wrong, before any request
    first = FirstRequest(url, options, allowed)
    return first.start() if first.usable() else None


def run(args: argparse.Namespace) -> int:
    bar: DownloadView | None = None
    events: JsonLines | None = None
    if args.json:
        from .live import JsonLines

        events = JsonLines(sys.stdout)
    first: FirstRequest | None = None
    try:
        config = Config.from_env()
        # A local user owns the machine: the server's caps apply, not the visitor floors.
        limits = DownloadLimits.from_config(config, visitor=False)
        politeness.configure(config.per_host_connections)
        options = build_options(args, limits)
        allowed = tuple(config.allowed_networks) + tuple(args.allow_network)
        output: Path = args.output
        cookies = None
        if args.cookies is not None:
            from ..download.cookies import load_for  # http.cookiejar: ~0.03 s

            cookies = load_for(args.cookies.read_text(encoding="utf-8", errors="replace"),
                               args.url)  # fmt: skip
        work_dir = output.with_name(f".{output.name}.download")
        engine = args.engine or config.download_engine
        plain = engine == "builtin" and cookies is None
        first = send_first(args.url, options, limits, allowed, plain)
        # What the first request does not need is imported while it is on its way.
        import shutil

        from ..download.engine import download  # requests, the engine: ~0.1 s
        from .live import download_view

        direct = engine_for(engine, config, options, allowed)
        bar = download_view(sys.stderr, sys.stdout, quiet=args.quiet, as_json=args.json)
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
            choose_suffix=True,
            cookies=cookies,
            direct=direct,
            first_request=first,
        )
        shutil.rmtree(work_dir, ignore_errors=True)
    except KeyboardInterrupt:
        if bar:
            bar.close()
        if events:
            events.emit("interrupted")
        print("mediacraft: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    except (MediaCraftError, ValueError, OSError) as exc:
        if bar:
            bar.close()
        message = " ".join(str(exc).split())
        if events:
            events.emit("error", message=message)
        print(f"mediacraft: error: {message}", file=sys.stderr)
        return 1
    finally:
        if first is not None:
            first.close()  # the engine closed it, unless it stopped before its first request
    if bar:
        bar.close()
    if events:
        events.emit("done", path=str(result.path), size=result.size, duration=result.duration,
                    width=result.width, height=result.height,
                    files=[str(f) for f in result.files[1:]], gaps=result.gaps)  # fmt: skip
    duration = f"{result.duration:.1f} s" if result.duration else "unknown duration"
    size = f"{result.width}x{result.height}" if result.width else "no video"
    print(f"{result.path}  {human_bytes(result.size)}  {duration}  {size}", file=sys.stderr)
    for extra in result.files[1:]:
        print(f"{extra}", file=sys.stderr)
    if result.gaps:
        missing = sum(g.get("segments", 0) for g in result.gaps)
        print(f"mediacraft: note: {len(result.gaps)} gap(s), {missing} segments missing",
              file=sys.stderr)  # fmt: skip
    # Done and closed: the process may end without the interpreter's teardown (cli.entry).
    # Not with the aria2 engine, whose daemon of this command is stopped at exit.
    args.quick_exit = direct is None
    return 0
