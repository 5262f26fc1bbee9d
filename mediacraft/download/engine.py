"""One download from URL to MP4: detect HLS or a direct file, fetch, remux, probe.

This is the function the task processor, the CLI and batch call. Everything
it writes while working lives in ``work_dir`` (checkpoint included), so a
second call with the same ``work_dir`` after a crash resumes; the output is
written under a temporary name beside ``output`` and renamed into place.
"""

from __future__ import annotations

import glob
import os
import shutil
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from ..exceptions import Cancelled, DownloadError, Interrupted
from ..progress import CancelToken, ProgressHook
from . import playlist as hls_playlist
from .checkpoint import NAME as CHECKPOINT_NAME
from .fetch import Fetcher, Stopped
from .guard import check_url, guarded_session
from .hls import HlsDownload
from .http import PART_NAME, DirectDownload, RemoteFile
from .options import DownloadOptions
from .remux import is_mp4, probe, remux_to_mp4
from .tracker import Tracker


@dataclass(frozen=True)
class DownloadResult:
    path: Path
    size: int
    duration: float | None
    width: int | None
    height: int | None
    kind: str  # "hls" or "direct"
    segments: int | None = None

    def to_dict(self) -> dict:
        data = asdict(self)
        data["path"] = str(self.path)
        return data


class _Peeked(Exception):
    """Enough of a non-playlist body was seen to know it is a direct file."""


def _open(fetcher: Fetcher, url: str, options: DownloadOptions) -> tuple[str, bytes, RemoteFile]:
    """First request: returns (kind, playlist body or b"", remote file info)."""
    seen: dict = {}

    def attempt(_number: int) -> tuple[str, bytes, RemoteFile]:
        body = bytearray()
        seen.clear()

        def on_response(response: object) -> None:
            seen["url"] = response.url  # type: ignore[attr-defined]
            seen["status"] = response.status_code  # type: ignore[attr-defined]
            seen["headers"] = response.headers  # type: ignore[attr-defined]

        def sink(chunk: bytes) -> None:
            body.extend(chunk)
            if len(body) < 16:
                return
            if not hls_playlist.looks_like_playlist(bytes(body[:64])):
                raise _Peeked()
            if len(body) > options.max_playlist_bytes:
                limit = options.max_playlist_bytes // 1024
                raise DownloadError(f"The playlist is larger than the {limit} KiB limit")

        try:
            fetcher.stream(url, sink, on_response=on_response)
        except _Peeked:
            pass
        remote = RemoteFile.from_headers(seen["url"], seen["status"], dict(seen["headers"]))
        if hls_playlist.looks_like_playlist(
            bytes(body[:64]), seen["headers"].get("Content-Type", "")
        ):
            if not hls_playlist.looks_like_playlist(bytes(body[:64])):
                raise DownloadError("The URL answered with an empty or malformed playlist")
            return "hls", bytes(body), remote
        return "direct", b"", remote

    return fetcher.retrying("The URL", attempt)


def _resolve_media(
    fetcher: Fetcher, url: str, body: bytes, options: DownloadOptions
) -> tuple[str, list[hls_playlist.Segment]]:
    parsed = hls_playlist.parse(body.decode("utf-8-sig", "replace"), url)
    if parsed.is_variant:
        url = hls_playlist.choose_variant(parsed, options.quality)
        check_url(url)
        body, url = fetcher.get_bytes(
            url, "The variant playlist", max_bytes=options.max_playlist_bytes
        )
        parsed = hls_playlist.parse(body.decode("utf-8-sig", "replace"), url)
        if parsed.is_variant:
            raise DownloadError("The variant playlist is itself a master playlist")
    segments = hls_playlist.segments_of(parsed, options.max_segments)
    for seg in segments:
        check_url(seg.uri)
        if seg.key:
            check_url(seg.key.uri)
        if seg.init:
            check_url(seg.init.uri)
    return url, segments


def _preload_probe() -> None:
    try:
        import av  # noqa: F401
    except ImportError:  # probe() reports it
        pass


def clean_work_dir(work_dir: Path) -> None:
    """Remove everything this engine writes in ``work_dir`` (not the directory)."""
    shutil.rmtree(work_dir / "seg", ignore_errors=True)
    for pattern in ("group_*", PART_NAME, CHECKPOINT_NAME, "concat.txt", ".checkpoint.json.*"):
        for path in work_dir.glob(pattern):
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
) -> DownloadResult:
    """Download ``url`` (HLS playlist or direct file) to ``output`` as MP4.

    Raises DownloadError (BlockedAddress for the SSRF guard) with a user-facing
    message, Cancelled (temporary files removed) or Interrupted (checkpoint kept).
    """
    options = (options or DownloadOptions()).validated()
    output = Path(output)
    work_dir = Path(work_dir)
    cancel = cancel or CancelToken()
    check_url(url)
    work_dir.mkdir(parents=True, exist_ok=True)
    output.parent.mkdir(parents=True, exist_ok=True)
    # Per process: an ffmpeg orphaned by a killed earlier attempt may still be writing its own.
    temp_output = output.with_name(f".{output.name}.{os.getpid()}.part")
    tracker = Tracker(progress)
    session = guarded_session(
        allowed_networks,
        headers=options.headers,
        pool_maxsize=max(options.threads, options.connections) + 2,
        max_redirects=options.max_redirects,
    )
    fetcher = Fetcher(session, options)
    finished = threading.Event()

    def watch_cancel() -> None:  # wakes blocked reads the moment cancel is asked
        while not finished.is_set():
            if cancel.event.wait(0.05):
                fetcher.abort()
                return

    watcher = threading.Thread(target=watch_cancel, name="download-cancel", daemon=True)
    watcher.start()
    # PyAV takes ~0.2 s to import; load it while the network works, not after.
    threading.Thread(target=_preload_probe, name="download-preload", daemon=True).start()
    job: HlsDownload | DirectDownload | None = None
    try:
        kind, body, remote = _open(fetcher, url, options)
        cancel.check()
        segment_count = None
        if kind == "hls":
            media_url, segments = _resolve_media(fetcher, remote.url, body, options)
            segment_count = len(segments)
            job = HlsDownload(
                fetcher, media_url, segments, work_dir, options, tracker, cancel, temp_output
            )
            inputs = job.run()
            if inputs:  # not remuxed on the fly (discontinuities, fMP4)
                tracker.set_stage("remuxing")
                remux_to_mp4(inputs, temp_output, cancel.event)
        else:
            job = DirectDownload(fetcher, remote, work_dir, options, tracker, cancel)
            path = job.run()
            if is_mp4(path):
                os.replace(path, temp_output)
            else:
                tracker.set_stage("remuxing")
                remux_to_mp4([path], temp_output, cancel.event)
        cancel.check()
        info = probe(temp_output)
        os.replace(temp_output, output)
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
            segments=segment_count,
        )
    except Stopped:
        cancel.check()  # raises Cancelled or Interrupted when that is why we stopped
        raise DownloadError("The download stopped unexpectedly") from None
    except (Interrupted, DownloadError):
        if job is not None:  # keep what was fetched for the next attempt
            job.save_on_interrupt()
        raise
    except Cancelled:
        clean_work_dir(work_dir)
        raise
    finally:
        finished.set()
        watcher.join()
        session.close()
        temp_output.unlink(missing_ok=True)


__all__ = ["DownloadResult", "clean_work_dir", "download"]
