"""A web page's video, downloaded by MediaCraft's own engine.

yt-dlp finds the video and picks its formats (``extract.py``); the transfer
is this engine's: an HLS or DASH format is fetched from its manifest (the
engine chooses the rendition by the task's options, as for a pasted
manifest), a direct file as a direct file, and a page whose best video and
audio are separate files gets both, joined by stream copy (the task's time
range and container are then applied to the joined file). Headers the
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
from .clip import finish, needs_finish, output_path, whole_file_cut
from .extract import Extracted, extract
from .limits import DownloadLimits
from .options import DownloadOptions
from .remux import run_ffmpeg
from .replay import Keeper

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
    keeper: Keeper | None = None,
) -> tuple[Any, Extracted]:
    """Extract the page's video and download it; returns (inner result, what was found).

    ``fetch(url, output, options, work_dir=...)`` is the engine's download of a
    media link (the page step is not repeated for it); ``keeper`` carries the
    bodies read once between yt-dlp and the engine (``replay.py``).
    """
    log = log or ignore_log
    log("The link is a web page: looking for its video")
    from ..media.ffmpeg import ffmpeg_exe

    found = extract(url, options, limits, allowed_networks, log, cancel, ffmpeg=ffmpeg_exe(),
                    cookies=cookies, keeper=keeper)  # fmt: skip
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
    # Each stream whole and as MP4; the range and the container apply to the joined file
    # (streams cut apart would start at their own keyframes, out of step with each other).
    whole = options.with_changes(container="mp4", start=None, end=None)
    parts: list[Path] = []
    temp = output.with_name(f".{output.name}.{os.getpid()}.join.part")
    finished = temp.with_name(temp.name + ".out")
    try:
        for number, (_kind, part_url) in enumerate(sources):
            part = work_dir / f"page_part{number}.mp4"
            result = fetch(part_url, part, whole, work_dir=work_dir / f"page{number}")
            parts.append(Path(result.path))
        _join(parts, temp, cancel)
        from ..media.probe import probe_streams

        info = probe_streams(temp)
        cut = whole_file_cut(options, info.duration)
        if needs_finish(options, cut):
            output = output_path(output, options)
            has_audio = any(t["type"] == "audio" for t in info.tracks)
            finish(temp, finished, options, cut, has_audio, cancel.event, log)
            os.replace(finished, temp)
            info = probe_streams(temp)
        os.replace(temp, output)
    finally:
        temp.unlink(missing_ok=True)
        finished.unlink(missing_ok=True)
        for part in parts:
            part.unlink(missing_ok=True)
    return _Joined(output, info), found


def _join(parts: list[Path], target: Path, cancel: CancelToken) -> None:
    """Stream-copy the separate streams into one MP4: the first's video, the second's audio."""
    args: list[str] = []
    for part in parts:
        args += ["-protocol_whitelist", "file", "-i", str(part)]
    if len(parts) == 2:
        maps = ["-map", "0:v:0?", "-map", "1:a:0?"]
    else:
        maps = [item for number in range(len(parts)) for item in ("-map", str(number))]
    run_ffmpeg([*args, *maps, "-c", "copy", *faststart_args(), *BITEXACT, "-f", "mp4",
                str(target)], cancel.event)  # fmt: skip


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
