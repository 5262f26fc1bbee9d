"""One download from URL to MP4: detect HLS, DASH or a direct file, fetch, mux, probe.

This is the function the task processor, the CLI and batch call. Everything
it writes while working lives in ``work_dir`` (checkpoint included), so a
second call with the same ``work_dir`` after a crash resumes; the output is
written under a temporary name beside ``output`` and renamed into place.

Every HLS link either downloads completely and correctly or fails with a
message that says why: a live playlist is recorded (or refused when no
``record_seconds`` is given), never passed off as the whole video.
"""

from __future__ import annotations

import glob
import http.cookiejar
import os
import shutil
import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..exceptions import Cancelled, DownloadError, Interrupted, MediaCraftError, QuotaExceeded
from ..progress import CancelToken, LogHook, ProgressHook, ignore_log
from . import mpd
from . import playlist as hls_playlist
from .checkpoint import NAME as CHECKPOINT_NAME
from .clip import Cut, clip_tracks, drop_video, finish, needs_finish, output_path, whole_file_cut
from .extract import site_extractor
from .fetch import Body, Fatal, Fetcher, Retryable, Stopped, disk_error
from .guard import check_url, guarded_session
from .http import PART_NAME, DirectDownload, RemoteFile
from .limits import DownloadLimits
from .options import DownloadOptions
from .remux import is_mp4, remux_to_mp4
from .replay import Keeper, Kept, keepable
from .sniff import media_suffix, what_it_is
from .tracker import Tracker
from .watchdog import SpeedFloor

if TYPE_CHECKING:
    from .first import FirstRequest
    from .hls import HlsDownload

HEAD_BYTES = 16

#: fetches a direct file into ``work_dir`` and returns its path, instead of the built-in
#: :class:`DirectDownload` (the aria2 engine); ``(remote, work_dir, tracker, cancel, fetcher)``
DirectFetch = Callable[[RemoteFile, Path, Tracker, CancelToken, Fetcher], Path]


@dataclass(frozen=True)
class DownloadResult:
    path: Path
    size: int
    duration: float | None
    width: int | None
    height: int | None
    kind: str  # "hls", "dash" or "direct"
    segments: int | None = None
    tracks: list[dict[str, Any]] = field(default_factory=list)  # type, codec, language
    gaps: list[dict[str, Any]] = field(default_factory=list)  # media missing from the result
    live: dict[str, Any] | None = None  # recorded_seconds, ended_by (live recordings)
    files: list[Path] = field(default_factory=list)  # every file written (parts, subtitles)
    page: dict[str, Any] | None = None  # a page's video: title, extractor

    def to_dict(self) -> dict:
        data = asdict(self)
        data["path"] = str(self.path)
        data["files"] = [str(p) for p in self.files]
        return data


def _open(
    fetcher: Fetcher, url: str, limits: DownloadLimits, first_request: FirstRequest | None = None
) -> tuple[str, bytes, RemoteFile, Body | None]:
    """First request: (kind, playlist body or the file's first bytes, remote info, open body).

    For a direct file the response is left open (``Body``) for the download to
    read on; for a playlist the whole body is read (up to the server's cap).
    ``first_request``, already sent, is the first attempt when it got an answer.
    """

    def attempt(number: int) -> tuple[str, bytes, RemoteFile, Body | None]:
        head = bytearray()
        body = fetcher.adopt(first_request) if number == 1 and first_request is not None else None
        body = body or fetcher.open(url)
        try:
            body.read(head.extend, until=HEAD_BYTES)
            remote = RemoteFile.from_headers(body.final_url, body.status, dict(body.headers))
            content_type = body.headers.get("Content-Type", "")
            if looks_like_page(bytes(head), content_type):
                return "page", bytes(head), remote, body  # the page step may keep its body
            if mpd.looks_like_mpd(bytes(head), content_type) and not (
                hls_playlist.looks_like_playlist(bytes(head[:64]))
            ):
                body.max_bytes = limits.max_playlist_bytes  # the manifest is kept in memory
                body.read(head.extend)
                if not mpd.is_mpd_document(bytes(head)):
                    if b"<html" in bytes(head[:4096]).lower():
                        return "page", bytes(head), remote, body
                    raise DownloadError(
                        "The URL answered with an XML document that is not a DASH manifest "
                        "(not a video)"
                    )
                body.close()
                return "dash", bytes(head), remote, None
            if not hls_playlist.looks_like_playlist(bytes(head[:64]), content_type):
                return "direct", bytes(head), remote, body
            if not hls_playlist.looks_like_playlist(bytes(head[:64])):
                raise DownloadError("The URL answered with an empty or malformed playlist")
            body.max_bytes = limits.max_playlist_bytes  # the playlist is kept in memory
            body.read(head.extend)
        except BaseException:
            body.close()
            raise
        body.close()
        return "hls", bytes(head), remote, None

    return fetcher.retrying("The URL", attempt)


def _check_direct(head: bytes, body: Body | None) -> None:
    """Refuse a direct link that is compressed or not media, on its first bytes."""
    encoding = (body.headers.get("Content-Encoding", "") if body is not None else "").lower()
    if encoding and encoding != "identity":
        raise DownloadError(
            f"The server sent the file compressed (Content-Encoding: {encoding}) although it "
            "was asked not to; it cannot be stored as media"
        )
    if not head:
        raise DownloadError("The link answered with an empty body, not a video")
    if media_suffix(head) is None:
        raise DownloadError(
            f"The link is not a video: its first bytes are {what_it_is(head)}",
            reason="not_a_video",
        )


def looks_like_page(head: bytes, content_type: str = "") -> bool:
    """An HTML page (where yt-dlp's extractors look for the video), not media."""
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind in ("text/html", "application/xhtml+xml"):
        return True
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return text.startswith((b"<!doctype html", b"<html"))


def _probe_result(path: Path, planned: list[dict] | None, header_only: bool = False) -> Any:
    """The result's duration, picture and tracks (one read of its header).

    ``header_only`` (an MP4) reads the ``moov`` alone, and reads packets as well
    only when that leaves the duration or a picture size unknown (fragmented).
    """
    from ..exceptions import MediaError
    from ..media.probe import probe_streams

    try:
        if header_only:
            info = probe_streams(path, planned, header_only=True)
            sized = all(t.get("width") for t in info.tracks if t["type"] == "video")
            if info.duration and sized:
                return info
        return probe_streams(path, planned)
    except MediaError as exc:
        raise DownloadError(f"The downloaded file is not playable media ({exc})") from exc


def _preload() -> None:
    """Import what comes later (the HLS modules, PyAV) while the first request is on its way."""
    from . import stream  # noqa: F401

    try:
        import av  # noqa: F401
    except ImportError:  # probe() reports it
        pass


def clean_work_dir(work_dir: Path) -> None:
    """Remove everything this engine writes in ``work_dir`` (not the directory)."""
    shutil.rmtree(work_dir / "seg", ignore_errors=True)
    patterns = ("*_g*", "*_r*.ts", "*_concat.txt", "*_final.vtt", "part*.mp4", "group_*",
                PART_NAME, CHECKPOINT_NAME, "concat.txt", ".checkpoint.json.*",
                "aria2.part", "aria2.part.aria2", "aria2.json")  # fmt: skip
    for pattern in patterns:
        for path in work_dir.glob(pattern):
            if path.is_file():
                path.unlink(missing_ok=True)


def download(
    url: str,
    output: Path | str,
    options: DownloadOptions | None = None,
    *,
    work_dir: Path | str,
    progress: ProgressHook | None = None,
    cancel: CancelToken | None = None,
    allowed_networks: Iterable[str] = (),
    limits: DownloadLimits | None = None,
    log: LogHook | None = None,
    choose_suffix: bool = False,
    cookies: http.cookiejar.CookieJar | None = None,
    _from_page: bool = False,
    _replay: Keeper | None = None,
    direct: DirectFetch | None = None,
    first_request: FirstRequest | None = None,
) -> DownloadResult:
    """Download ``url`` (HLS playlist, DASH manifest or direct file) to ``output`` as MP4.

    ``limits`` are the server's (size caps, recording length, quota); ``log``
    receives the lines of the task's log; with ``choose_suffix`` an audio-only
    result is written as ``.m4a`` beside ``output``; ``cookies`` (the task's,
    already limited to its host) go with every request they match. Raises DownloadError
    (BlockedAddress for the SSRF guard, PlaylistError for a bad playlist) with
    a user-facing message, QuotaExceeded, StorageFull, ValidationError (a
    live link without ``record_seconds``), Cancelled (temporary files removed)
    or Interrupted (checkpoint kept). ``direct``, when given, fetches a direct
    file (HLS stays with the built-in engine). ``first_request`` is the request
    for ``url`` a command sent while this module loaded (first.py): its answer
    is the first response, as if this function had asked.
    """
    limits = limits or DownloadLimits()
    options = (options or DownloadOptions()).validated(limits)
    log = log or ignore_log
    output = Path(output)
    work_dir = Path(work_dir)
    cancel = cancel or CancelToken()
    check_url(url)
    work_dir.mkdir(parents=True, exist_ok=True)
    output.parent.mkdir(parents=True, exist_ok=True)
    tracker = Tracker(progress)
    session = guarded_session(
        allowed_networks,
        headers=options.request_headers,
        pool_maxsize=max(options.threads, options.connections) + 2,
        max_redirects=options.max_redirects,
        cookies=cookies,
        proxy=limits.proxy,
    )
    fetcher = Fetcher(
        session, options, max_bytes=limits.max_total_bytes, quota=limits.quota, log=log
    )
    finished = threading.Event()

    def watch_cancel() -> None:  # wakes blocked reads the moment cancel is asked
        # Not joined: it ends by itself within one poll of ``finished`` (a join would add
        # up to that poll to every download); a late abort of a finished fetcher is a no-op.
        while not finished.is_set():
            if cancel.event.wait(0.05):
                fetcher.abort()
                return

    watcher = threading.Thread(target=watch_cancel, name="download-cancel", daemon=True)
    watcher.start()
    # PyAV takes ~0.2 s to import, the HLS modules ~0.05 s: load them while the network works.
    threading.Thread(target=_preload, name="download-preload", daemon=True).start()
    job: HlsDownload | DirectDownload | None = None
    temp_output = output
    cut: Cut | None = None
    first: Body | None = None
    try:
        site = None if _from_page else site_extractor(url, limits.extractors)
        if site is not None:
            log(f"yt-dlp's {site} extractor knows this link: looking for its video")
            return _page(url, output, options, work_dir, progress, cancel, allowed_networks,
                         limits, log, choose_suffix, cookies, None)  # fmt: skip
        replayed = _replayed(_replay.take(url) if _replay else None, limits)
        kind, body, remote, first = replayed or _open(fetcher, url, limits, first_request)
        cancel.check()
        if kind == "page":
            if _from_page:
                raise DownloadError("The page's video link answered with another web page")
            page_body, first = first, None
            return _page(url, output, options, work_dir, progress, cancel, allowed_networks,
                         limits, log, choose_suffix, cookies, page_body, body)  # fmt: skip
        floor = SpeedFloor(limits.lowest_speed, limits.lowest_speed_window)
        # Per process: an ffmpeg orphaned by a killed earlier attempt may still write its own.
        temp_output = output.with_name(f".{output.name}.{os.getpid()}.part")
        if kind in ("hls", "dash"):
            from .stream import plan_hls, record_and_mux

            if kind == "dash":
                from .dash import plan_dash

                plan = plan_dash(fetcher, remote.url, body, options, limits, log)
            else:
                plan = plan_hls(fetcher, remote.url, body, options, limits, log)
            if options.audio_only:
                plan.tracks = drop_video(plan.tracks, plan.variant_audio, log)
            if not plan.live:
                cut = clip_tracks(plan.tracks, options, log)
            outcome = record_and_mux(
                plan, fetcher, work_dir, temp_output, output, options, tracker, cancel, log,
                None if plan.live else floor,
            )  # fmt: skip
            job = outcome.job
        else:
            clipping = options.clipped and direct is None and first is not None
            if remote.size is not None and not clipping:
                fetcher.budget.check(remote.size)  # before anything else is said of the file
            _check_direct(body, first)
            clip_plan = None
            head = body
            if clipping:
                from .ranged_clip import plan_clip

                clip_plan, first, head = plan_clip(fetcher, remote, first, body, options, log)
                if remote.size is not None:  # only the byte ranges count when they are known
                    fetcher.budget.check(clip_plan.needed if clip_plan else remote.size)
            if direct is not None:
                first.close()  # the other engine makes its own requests
                first = None
                path = direct(remote, work_dir, tracker, cancel, fetcher)
            elif clip_plan is not None:
                from .ranged_clip import ClipDownload

                job = ClipDownload(fetcher, remote, work_dir, options, tracker, cancel,
                                   clip_plan, speed_floor=floor)  # fmt: skip
                path = job.run()
            else:
                job = DirectDownload(
                    fetcher, remote, work_dir, options, tracker, cancel,
                    first=first, head=head, speed_floor=floor,
                )  # fmt: skip
                first = None
                path = job.run()
            if is_mp4(path):
                os.replace(path, temp_output)
            else:
                tracker.set_stage("remuxing")
                try:
                    remux_to_mp4([path], temp_output, cancel.event)
                except DownloadError as exc:
                    if options.container != "mp4" or not choose_suffix:
                        raise
                    # codecs MP4 cannot hold: the file is kept in its own container
                    suffix = media_suffix(body) or ".bin"
                    log(f"The file's codecs do not fit in MP4 ({exc.message[:120]}): "
                        f"keeping it as {suffix}")  # fmt: skip
                    os.replace(path, temp_output)
                    output = output.with_suffix(suffix)
            outcome = None
        cancel.check()
        planned = outcome.tracks if outcome else None
        info = _probe_result(temp_output, planned, kind == "direct" and is_mp4(temp_output))
        if kind == "direct":
            cut = whole_file_cut(options, info.duration)
        if needs_finish(options, cut):
            tracker.set_stage("remuxing")
            output = output_path(output, options)
            has_audio = any(t["type"] == "audio" for t in info.tracks)
            finished_temp = temp_output.with_name(temp_output.name + ".out")
            try:
                finish(temp_output, finished_temp, options, cut, has_audio, cancel.event, log)
                os.replace(finished_temp, temp_output)
            finally:
                finished_temp.unlink(missing_ok=True)
            keep = planned if not (options.audio_only or cut is not None) else None
            info = _probe_result(temp_output, keep)
        tracks = info.tracks
        if choose_suffix and info.width is None and output.suffix.lower() == ".mp4":
            output = output.with_suffix(".m4a")  # no picture: an audio file
            log("The stream has no video: the result is an M4A audio file")
        os.replace(temp_output, output)
        files = [output]
        if outcome is not None:
            files += outcome.place_files(output)
        clean_work_dir(work_dir)
        for stale in output.parent.glob(f".{glob.escape(output.name)}.*.part"):
            stale.unlink(missing_ok=True)
        tracker.set_stage("finished")
        return DownloadResult(
            path=output,
            size=output.stat().st_size,
            duration=info.duration,
            width=info.width,
            height=info.height,
            kind=kind,
            segments=outcome.segments if outcome else None,
            tracks=tracks,
            gaps=outcome.gaps if outcome else [],
            live=outcome.live if outcome else None,
            files=files,
        )
    except Stopped:
        cancel.check()  # raises Cancelled or Interrupted when that is why we stopped
        raise DownloadError("The download stopped unexpectedly") from None
    except Cancelled:
        clean_work_dir(work_dir)
        raise
    except OSError as exc:  # writing the work files or the result
        if job is not None:
            job.save_on_interrupt()
        raise disk_error(exc) from exc
    except QuotaExceeded:
        raise
    except (Interrupted, MediaCraftError):
        if job is not None:  # keep what was fetched for the next attempt
            job.save_on_interrupt()
        raise
    finally:
        if first is not None:
            first.close()
        if first_request is not None:
            first_request.close()  # when it was not adopted
        finished.set()
        session.close()
        if temp_output != output:
            temp_output.unlink(missing_ok=True)


def _replayed(
    kept: Kept | None, limits: DownloadLimits
) -> tuple[str, bytes, RemoteFile, Body | None] | None:
    """A playlist or manifest yt-dlp already read in full, as the first request's answer."""
    if kept is None or len(kept.body) > limits.max_playlist_bytes:
        return None
    remote = RemoteFile.from_headers(kept.final_url, kept.status, kept.headers)
    if hls_playlist.looks_like_playlist(kept.body[:64]):
        return "hls", kept.body, remote, None
    if mpd.is_mpd_document(kept.body):
        return "dash", kept.body, remote, None
    return None  # anything else is asked for again


def _keep_page(keeper: Keeper, url: str, body: Body | None, head: bytes) -> None:
    """Read the rest of the page the first request opened, for yt-dlp to extract from."""
    if body is None:
        return
    try:
        encoding = body.headers.get("Content-Encoding", "identity").lower()
        if encoding != "identity" or not keepable(body.status, body.headers):
            return  # yt-dlp asks for it itself (decoded, its cookies set)
        data = bytearray(head)
        body.max_bytes = keeper.max_each
        try:
            body.read(data.extend)
        except (Fatal, Retryable):  # larger than the cap, or cut off: yt-dlp asks again
            return
        keeper.keep(url, body.final_url, body.status, body.headers, bytes(data))
    finally:
        body.close()


def _page(
    url: str,
    output: Path,
    options: DownloadOptions,
    work_dir: Path,
    progress: ProgressHook | None,
    cancel: CancelToken,
    allowed_networks: Iterable[str],
    limits: DownloadLimits,
    log: LogHook,
    choose_suffix: bool,
    cookies: http.cookiejar.CookieJar | None,
    page_body: Body | None,
    head: bytes = b"",
) -> DownloadResult:
    """A web page: yt-dlp finds the video, this engine downloads it.

    The page as the first request opened it (``page_body``, its first bytes
    ``head``) is read on and handed to yt-dlp, and the manifest yt-dlp reads is
    handed back for the download: each is asked for once.
    """
    from .pages import download_page

    networks = tuple(allowed_networks)
    keeper = Keeper(limits.max_playlist_bytes, 4 * limits.max_playlist_bytes)
    _keep_page(keeper, url, page_body, head)

    def fetch(media_url: str, target: Path, media_options: DownloadOptions, *,
              work_dir: Path) -> DownloadResult:  # fmt: skip
        return download(
            media_url, target, media_options, work_dir=work_dir, progress=progress,
            cancel=cancel, allowed_networks=networks, limits=limits, log=log,
            choose_suffix=choose_suffix, cookies=cookies, _from_page=True, _replay=keeper,
        )  # fmt: skip

    inner, found = download_page(
        url, output, options, work_dir=work_dir, fetch=fetch, allowed_networks=networks,
        limits=limits, cancel=cancel, log=log, cookies=cookies, keeper=keeper,
    )  # fmt: skip
    return DownloadResult(
        path=Path(inner.path), size=inner.size, duration=inner.duration, width=inner.width,
        height=inner.height, kind=inner.kind, segments=inner.segments, tracks=inner.tracks,
        gaps=inner.gaps, live=inner.live, files=list(inner.files),
        page={"title": found.title, "extractor": found.extractor},
    )  # fmt: skip


__all__ = ["DownloadResult", "clean_work_dir", "download", "looks_like_page"]
