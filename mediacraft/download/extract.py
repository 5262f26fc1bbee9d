"""Videos on web pages, found by yt-dlp's extractors, with every request through the guard.

yt-dlp (a pinned dependency, used as a library) knows how thousands of sites
and the generic shapes of a page (``<video>``, ``og:video``, JSON-LD
``VideoObject``, embedded players) carry their video. Its networking layer
sends every request through a *request director* that picks one of the
registered request handlers; here the director holds a single handler: yt-dlp's
own requests-based handler whose session is MediaCraft's guarded one
(:func:`~mediacraft.download.guard.guarded_session`), so each connection and
each redirect hop is pinned and judged like any other fetch, and nothing
else (urllib, curl_cffi, websockets) is ever asked. A refused address ends
the extraction with MediaCraft's own :class:`BlockedAddress`.

The handler also sets the task's own headers (``User-Agent``, ``Referer``,
extra headers) over whatever yt-dlp or an extractor chose, answers a request
from a body the engine already read (the page itself), and keeps what yt-dlp
reads in full (the manifest) for the engine's download: see ``replay.py``.

Extraction runs with a time limit; when it is over (or the task is
cancelled) the handler refuses every further request, so the extraction
thread ends at its next one.

Routing: a link goes to yt-dlp when it answers with an HTML page, or, with
``all`` extractors, when one of yt-dlp's site extractors claims its URL
(:func:`site_extractor`; a watch page, a short link or an API URL that is not
HTML itself). That check runs on the URL alone, before any request, and is
skipped for links whose path ends like media or a manifest.

``MEDIACRAFT_EXTRACTORS``: ``all`` (every extractor), ``generic`` (the
generic page extractor only) or ``off``.
"""

from __future__ import annotations

import functools
import http.cookiejar
import io
import threading
from dataclasses import dataclass, field
from typing import Any

from ..exceptions import BlockedAddress, DownloadError, ValidationError
from ..progress import CancelToken, LogHook, ignore_log
from .guard import check_url, guarded_session
from .limits import DownloadLimits
from .media_links import looks_like_media
from .options import DownloadOptions
from .replay import Keeper, keepable

MODES = ("all", "generic", "off")
GENERIC_EXTRACTORS = ("generic", "html5")
#: extractor classes (yt-dlp ``InfoExtractor`` subclasses) used besides yt-dlp's own in
#: ``all`` mode, tried before them; a hook for deployments and tests
EXTRA_EXTRACTORS: list[type] = []


@dataclass
class _Guard:
    """What one extraction's handler shares with the caller."""

    allowed_networks: tuple[str, ...]
    proxy: str | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    blocked: list[BlockedAddress] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)  # URLs asked for, for the log
    headers: dict[str, str] = field(default_factory=dict)  # the task's: set on every request
    keeper: Keeper | None = None  # bodies shared with the engine


def _handler_class(guard: _Guard) -> type:
    from yt_dlp.networking._requests import RequestsRH
    from yt_dlp.networking.common import Response
    from yt_dlp.networking.exceptions import RequestError

    class KeepingResponse(Response):
        """A response read through, its body kept for the engine once read in full."""

        def __init__(self, inner: Any, asked: str, keeper: Keeper) -> None:
            super().__init__(fp=inner, url=inner.url, headers={}, status=inner.status,
                             reason=inner.reason, extensions=inner.extensions)  # fmt: skip
            self.headers = inner.headers
            self._asked = asked
            self._keeper = keeper
            self._chunks: list[bytes] | None = []
            self._size = 0

        def read(self, amt: int | None = None) -> bytes:
            data = self.fp.read(amt)  # errors are yt-dlp's own, raised by the inner adapter
            chunks = self._chunks
            if chunks is not None:
                self._size += len(data)
                if self._size > self._keeper.max_each:
                    self._chunks = None  # too large to keep: just read through
                else:
                    chunks.append(data)
                    if amt is None or not data or self.fp.closed:
                        self._chunks = None
                        self._keeper.keep(self._asked, self.url, self.status,
                                          dict(self.headers.items()), b"".join(chunks))  # fmt: skip
            if self.fp.closed:
                self.close()
            return data

    class MediaCraftGuardedRH(RequestsRH):
        """yt-dlp's requests handler on MediaCraft's guarded session."""

        RH_NAME = "mediacraft-guarded"

        def _create_instance(self, cookiejar: Any, legacy_ssl_support: Any = None) -> Any:
            import requests

            session = guarded_session(guard.allowed_networks, proxy=guard.proxy)
            session.headers = requests.structures.CaseInsensitiveDict()  # yt-dlp sets its own
            session.cookies = cookiejar
            return session

        def _send(self, request: Any) -> Any:
            if guard.stop.is_set():
                raise RequestError("the extraction was stopped")
            try:
                check_url(request.url)
                guard.requests.append(request.url)
                for name, value in guard.headers.items():  # the task's win over yt-dlp's
                    request.headers[name] = value
                ranged = "Range" in request.headers
                plain = request.method == "GET" and request.data is None and not ranged
                keeper = guard.keeper if plain else None
                kept = keeper.get(request.url) if keeper is not None else None
                if kept is None:
                    response = super()._send(request)
                    if keeper is None or not keepable(response.status, response.headers):
                        return response
                    if not _small(response, keeper.max_each):
                        return KeepingResponse(response, request.url, keeper)
                    with response:  # a manifest or a page: read now, kept for the next ask
                        body = response.read()
                    if not keeper.keep(request.url, response.url, response.status,
                                       dict(response.headers.items()), body):  # fmt: skip
                        return Response(io.BytesIO(body), url=response.url,
                                        headers=dict(response.headers.items()),
                                        status=response.status)  # fmt: skip
                    kept = keeper.get(request.url)
                    assert kept is not None
                return Response(io.BytesIO(kept.body), url=kept.final_url, headers=kept.headers,
                                status=kept.status)  # fmt: skip
            except BlockedAddress as exc:
                guard.blocked.append(exc)
                raise RequestError(str(exc)) from None

    return MediaCraftGuardedRH


def _small(response: Any, cap: int) -> bool:
    """An answer worth reading at once: not audio or video (a manifest, a page, JSON), sent
    as is (not compressed), its announced length within ``cap``.

    Media is left to be read as far as yt-dlp reads it (an extractor may look at a file's
    first bytes); manifests served as ``application/octet-stream`` are read at once.
    """
    length = response.headers.get("Content-Length", "")
    encoding = response.headers.get("Content-Encoding", "identity").lower()
    kind = response.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    media = kind.startswith(("video/", "audio/")) and "mpegurl" not in kind
    return not media and encoding == "identity" and length.isdigit() and int(length) <= cap


def _ydl_class(handler: type) -> type:
    from yt_dlp import YoutubeDL

    class GuardedYoutubeDL(YoutubeDL):
        @functools.cached_property
        def _request_director(self) -> Any:
            return self.build_request_director([handler])

    return GuardedYoutubeDL


class _Logger:
    """yt-dlp's messages: warnings and errors to the task's log, the rest dropped."""

    def __init__(self, log: LogHook) -> None:
        self.log = log

    def debug(self, message: str) -> None:
        pass

    def info(self, message: str) -> None:
        pass

    def warning(self, message: str) -> None:
        self.log(f"yt-dlp: {message}")

    def error(self, message: str) -> None:
        self.log(f"yt-dlp: {message}")


def format_spec(options: DownloadOptions) -> str:
    """yt-dlp's format selection for the task's ``quality`` and ``audio_lang``."""
    quality = options.quality.strip().lower()
    audio = "ba"
    if options.audio_lang and options.audio_lang.lower() != "all":
        audio = f"ba[language^={options.audio_lang.split('-')[0]}]/ba"
    if options.audio_only:  # an audio container: the best audio alone (or with its video)
        return f"{audio}/b" if quality != "worst" else "wa/w"
    if quality == "worst":
        return "wv*+wa/w"
    if quality.endswith("p"):
        height = int(quality[:-1])
        return (f"bv*[height<={height}]+{audio}/b[height<={height}]/"
                f"wv*+{audio}/w")  # fmt: skip
    if quality.isdigit():
        kbit = int(quality) // 1000
        return f"bv*[tbr<={kbit}]+{audio}/b[tbr<={kbit}]/wv*+{audio}/w"
    return f"bv*+{audio}/b"


@functools.cache
def _site_classes() -> tuple[type, ...]:
    """yt-dlp's site extractors, loaded once per process (their URL patterns compile on use).

    Those yt-dlp leaves out by default (``_ENABLED`` false) are left out here too: the
    extraction would not use them.
    """
    from yt_dlp.extractor import gen_extractor_classes

    return tuple(ie for ie in gen_extractor_classes()
                 if ie.ie_key() != "Generic" and getattr(ie, "_ENABLED", True))  # fmt: skip


def site_extractor(url: str, mode: str) -> str | None:
    """The extractor (not the generic one) that claims ``url`` in ``mode``, if any.

    Only ``all`` looks; a link whose path ends like media or a manifest is the
    engine's without looking (the first look loads and compiles yt-dlp's URL
    patterns, about half a second once per process).
    """
    if mode != "all" or looks_like_media(url):
        return None
    for ie in (*EXTRA_EXTRACTORS, *_site_classes()):
        if ie.suitable(url):
            return str(ie.ie_key())
    return None


@dataclass
class Extracted:
    """The video yt-dlp found: its chosen formats and how to name it."""

    title: str
    extractor: str
    formats: list[dict[str, Any]]  # one (muxed) or two (video, audio)
    requests: list[str]


def extract(
    url: str,
    options: DownloadOptions,
    limits: DownloadLimits,
    allowed_networks: tuple[str, ...] | list[str] = (),
    log: LogHook | None = None,
    cancel: CancelToken | None = None,
    ffmpeg: str | None = None,
    cookies: http.cookiejar.CookieJar | None = None,
    keeper: Keeper | None = None,
) -> Extracted:
    """Run yt-dlp's extraction on ``url`` within the server's time limit.

    ``keeper`` holds bodies the engine already read (answered from there) and
    receives those yt-dlp reads in full (for the engine's download).
    """
    log = log or ignore_log
    if limits.extractors == "off":
        raise DownloadError(
            "The link is a web page, not a video, and this server does not look for videos "
            "on pages (MEDIACRAFT_EXTRACTORS=off)"
        )
    if limits.extractors not in MODES:
        raise ValidationError(f"MEDIACRAFT_EXTRACTORS must be one of {', '.join(MODES)}")
    guard = _Guard(tuple(allowed_networks), proxy=limits.proxy,
                   headers=dict(options.request_headers), keeper=keeper)  # fmt: skip
    params: dict[str, Any] = {
        "quiet": True,
        "no_warnings": False,
        "noprogress": True,
        "skip_download": True,
        "noplaylist": True,
        "cachedir": False,
        "socket_timeout": options.first_byte_timeout,
        "format": format_spec(options),
        "logger": _Logger(log),
        "extract_flat": False,
        "playlist_items": "1",
        # the server's proxy or none: never the environment's (yt-dlp would read *_proxy)
        "proxy": limits.proxy or "",
    }
    if ffmpeg:
        params["ffmpeg_location"] = ffmpeg
    if limits.extractors == "generic":
        # the generic page extractor and the <video>/<audio> reader it hands pages to
        params["allowed_extractors"] = list(GENERIC_EXTRACTORS)
    if options.request_headers:
        params["http_headers"] = dict(options.request_headers)
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            with _ydl_class(_handler_class(guard))(params, auto_init=False) as ydl:
                if limits.extractors == "all":
                    for extra in EXTRA_EXTRACTORS:  # before yt-dlp's (its generic one is last)
                        ydl.add_info_extractor(extra())
                ydl.add_default_info_extractors()
                for cookie in cookies or ():
                    ydl.cookiejar.set_cookie(cookie)
                if limits.extractors == "generic":
                    outcome["info"] = ydl.extract_info(url, download=False, ie_key="Generic")
                else:
                    outcome["info"] = ydl.extract_info(url, download=False)
        except BaseException as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=run, name="extract", daemon=True)
    worker.start()
    cancel = cancel or CancelToken()
    deadline = limits.extraction_seconds
    waited = 0.0
    while worker.is_alive() and waited < deadline:
        worker.join(0.1)
        waited += 0.1
        if cancel.event.is_set():
            guard.stop.set()
            cancel.check()
    if worker.is_alive():
        guard.stop.set()
        raise DownloadError(
            f"Looking for the video on the page took longer than {deadline:g} s (the server's "
            "limit)"
        )
    if guard.blocked:
        raise guard.blocked[0]
    error = outcome.get("error")
    if error is not None:
        raise _explain(error) from None
    return _chosen(outcome["info"], guard, log)


def _explain(error: BaseException) -> DownloadError:
    from yt_dlp.utils import DownloadError as YtdlpError
    from yt_dlp.utils import UnsupportedError

    cause = error.exc_info[1] if isinstance(error, YtdlpError) and error.exc_info else error
    if isinstance(cause, UnsupportedError) or "Unsupported URL" in str(error):
        return DownloadError("No video found on this page", reason="no_video")
    text = str(cause or error).replace("ERROR: ", "").strip()
    if "Requested format is not available" in text:
        return DownloadError("No video on the page matches the task's quality and audio_lang")
    return DownloadError(f"Could not get the video from the page: {text[:300]}")


def _chosen(info: dict[str, Any], guard: _Guard, log: LogHook) -> Extracted:
    if info.get("_type") == "playlist":
        entries = [e for e in info.get("entries") or [] if e]
        if not entries:
            raise DownloadError("No video found on this page", reason="no_video")
        log(f"The page has more than one video: downloading the first ({len(entries)} found)")
        info = entries[0]
    formats = list(info.get("requested_formats") or [])
    if not formats:
        if not info.get("url"):
            raise DownloadError("No video found on this page", reason="no_video")
        formats = [info]
    title = str(info.get("title") or "video")
    extractor = str(info.get("extractor_key") or info.get("extractor") or "generic")
    log(f"Found by yt-dlp's {extractor} extractor: {title[:120]}")
    return Extracted(title, extractor, formats, list(guard.requests))


__all__ = ["EXTRA_EXTRACTORS", "MODES", "Extracted", "extract", "format_spec",
           "looks_like_media", "site_extractor"]  # fmt: skip
