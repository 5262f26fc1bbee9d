"""A web page's video, downloaded by MediaCraft's own engine.

yt-dlp finds the video and picks its formats (``extract.py``); the transfer
is this engine's: an HLS or DASH format is fetched from its manifest (the
engine chooses the rendition by the task's options, as for a pasted
manifest), a direct file as a direct file, and a page whose best video and
audio are separate files gets both, joined by stream copy. Headers the
extractor says the media needs (``Referer``, ``User-Agent``) are sent with
it; the task's own headers win.
"""

from __future__ import annotations

import http.cookiejar
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..exceptions import DownloadError
from ..media.output import BITEXACT, faststart_args
from ..progress import CancelToken, LogHook, ignore_log
from .extract import Extracted, extract
from .limits import DownloadLimits
from .options import DownloadOptions
from .remux import run_ffmpeg

MANIFEST_PROTOCOLS = {"m3u8": "hls", "m3u8_native": "hls", "http_dash_segments": "dash"}
DIRECT_PROTOCOLS = frozenset({"http", "https"})
#: headers an extractor may ask for that are safe to pass on
PASSED_HEADERS = ("Referer", "User-Agent", "Origin")


def _source(fmt: dict[str, Any]) -> tuple[str, str]:
    """(kind, URL) of one chosen format: its manifest for HLS/DASH, else the file."""
    protocol = str(fmt.get("protocol") or "https")
    if protocol in MANIFEST_PROTOCOLS:
        url = fmt.get("manifest_url") or fmt.get("url")
        return MANIFEST_PROTOCOLS[protocol], str(url)
    if protocol in DIRECT_PROTOCOLS:
        return "direct", str(fmt["url"])
    raise DownloadError(
        f"The page's video is delivered as {protocol}, which MediaCraft does not download"
    )


def _with_headers(options: DownloadOptions, formats: list[dict[str, Any]]) -> DownloadOptions:
    wanted: dict[str, str] = {}
    for fmt in formats:
        for name, value in (fmt.get("http_headers") or {}).items():
            if name in PASSED_HEADERS and isinstance(value, str):
                wanted.setdefault(name, value)
    present = {name.lower() for name in options.request_headers}
    extra = {k: v for k, v in wanted.items() if k.lower() not in present}
    return options.with_changes(headers={**extra, **options.headers}) if extra else options


def download_page(
    url: str,
    output: Path,
    options: DownloadOptions,
    *,
    work_dir: Path,
    fetch: Callable[..., Any],
    allowed_networks: tuple[str, ...],
    limits: DownloadLimits,
    cancel: CancelToken,
    log: LogHook | None = None,
    cookies: http.cookiejar.CookieJar | None = None,
) -> tuple[Any, Extracted]:
    """Extract the page's video and download it; returns (inner result, what was found).

    ``fetch(url, output, options, work_dir=...)`` is the engine's download of a
    media link (the page step is not repeated for it).
    """
    log = log or ignore_log
    log("The link is a web page: looking for its video")
    from ..media.ffmpeg import ffmpeg_exe

    found = extract(url, options, limits, allowed_networks, log, cancel, ffmpeg=ffmpeg_exe(),
                    cookies=cookies)  # fmt: skip
    sources = [_source(f) for f in found.formats]
    options = _with_headers(options, found.formats)
    manifests = {u for kind, u in sources if kind != "direct"}
    if len(manifests) == 1 and all(kind != "direct" for kind, _u in sources):
        target = manifests.pop()
        log(f"The page's video is {sources[0][0].upper()}: downloading its manifest")
        return fetch(target, output, options, work_dir=work_dir), found
    if len(sources) == 1:
        log("The page's video is a file: downloading it")
        return fetch(sources[0][1], output, options, work_dir=work_dir), found
    log(f"The page's best video and audio are {len(sources)} separate streams: fetching each")
    parts: list[Path] = []
    for number, (_kind, part_url) in enumerate(sources):
        part = work_dir / f"page_part{number}.mp4"
        result = fetch(part_url, part, options, work_dir=work_dir / f"page{number}")
        parts.append(Path(result.path))
    temp = output.with_name(f".{output.name}.{os.getpid()}.join.part")
    try:
        args: list[str] = []
        for part in parts:
            args += ["-protocol_whitelist", "file", "-i", str(part)]
        maps = ["-map", "0:v:0?", "-map", "1:a:0?"] if len(parts) == 2 else []
        for number in range(len(parts)):
            if len(parts) != 2:
                maps += ["-map", str(number)]
        run_ffmpeg([*args, *maps, "-c", "copy", *faststart_args(), *BITEXACT, "-f", "mp4",
                    str(temp)], cancel.event)  # fmt: skip
        os.replace(temp, output)
    finally:
        temp.unlink(missing_ok=True)
        for part in parts:
            part.unlink(missing_ok=True)
    from ..media.probe import probe_streams

    joined = _Joined(output, probe_streams(output))
    return joined, found


class _Joined:
    """The result of a page whose video and audio were fetched apart."""

    kind = "direct"
    segments = None
    gaps: list[dict[str, Any]] = []
    live = None

    def __init__(self, path: Path, info: Any) -> None:
        self.path = path
        self.size = path.stat().st_size
        self.duration = info.duration
        self.width = info.width
        self.height = info.height
        self.tracks = list(info.tracks)
        self.files = [path]


__all__ = ["download_page"]
