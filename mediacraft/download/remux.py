"""Remux local files to MP4 by stream copy with the bundled ffmpeg, and probe the result.

ffmpeg never touches the network here: it reads only files the downloader
wrote (``-protocol_whitelist file,crypto``), runs as an argument list in its
own process group (so cancel kills it whole), and its output is made
deterministic (bitexact, no metadata) so a resumed download is byte-identical
to an uninterrupted one.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from ..exceptions import DownloadError, MediaCraftError
from .copying import splice_into
from .fetch import Stopped

_FFMPEG: str | None = None


def ffmpeg_exe() -> str:
    global _FFMPEG
    if _FFMPEG is None:
        import imageio_ffmpeg

        _FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
    return _FFMPEG


BITEXACT = [
    "-map_metadata", "-1",
    "-fflags", "+bitexact",
    "-flags:v", "+bitexact",
    "-flags:a", "+bitexact",
]  # fmt: skip


def run_ffmpeg(
    args: list[str], cancel: threading.Event | None = None, timeout: float = 3600.0
) -> None:
    """Run ffmpeg with ``args``; kill its process group on cancel (raising Stopped) or timeout."""
    cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args]
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=errors,
            start_new_session=True,
        )
        waited = 0.0
        try:
            while True:
                try:
                    proc.wait(timeout=0.1)
                    break
                except subprocess.TimeoutExpired:
                    waited += 0.1
                    if (cancel is not None and cancel.is_set()) or waited > timeout:
                        _kill_group(proc)
                        if waited > timeout:
                            raise DownloadError(
                                f"ffmpeg took longer than {timeout:g} s", reason="timeout"
                            ) from None
                        raise Stopped() from None
        except BaseException:
            _kill_group(proc)
            raise
        if proc.returncode != 0:
            errors.seek(0)
            tail = errors.read()[-600:].decode("utf-8", "replace").strip().splitlines()
            detail = tail[-1] if tail else f"exit status {proc.returncode}"
            raise failure(detail, "\n".join(tail))


_DISK_ERRORS = {
    "No space left on device": errno.ENOSPC,
    "Read-only file system": errno.EROFS,
    "Disk quota exceeded": errno.EDQUOT,
}


def failure(detail: str, output: str = "") -> MediaCraftError:
    """ffmpeg's error (``detail``: its last line, ``output``: the lines before it too) as an
    exception: a full disk is a disk error, not a remux bug."""
    from .fetch import disk_error

    text_seen = output or detail
    for text, number in _DISK_ERRORS.items():
        if text in text_seen:
            return disk_error(OSError(number, text), "Writing the MP4 file")
    if "reserved_moov_size is too small" in text_seen:
        return MoovTooSmall(f"Remuxing to MP4 failed: {detail}")
    return DownloadError(f"Remuxing to MP4 failed: {detail}")


def _kill_group(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            proc.kill()
    proc.wait()


def remux_to_mp4(
    inputs: list[Path],
    output: Path,
    cancel: threading.Event | None = None,
) -> None:
    """Stream-copy ``inputs`` (played one after another) into ``output`` (MP4, faststart).

    Several inputs (HLS discontinuities) go through the concat demuxer, which
    shifts each file's timestamps to follow the previous one. The list holds
    only names this module generated, so the demuxer's safe mode stays on.
    """
    if not inputs:
        raise DownloadError("Nothing was downloaded")
    if len(inputs) == 1:
        source = ["-protocol_whitelist", "file,crypto", "-i", str(inputs[0])]
    else:
        directory = inputs[0].parent
        lines = []
        for path in inputs:
            if path.parent != directory:
                raise ValueError("concat inputs must share a directory")
            lines.append(f"file '{path.name}'\n")
        listing = directory / "concat.txt"
        listing.write_text("".join(lines), encoding="utf-8")
        source = ["-protocol_whitelist", "file,crypto", "-f", "concat", "-i", str(listing)]
    run_ffmpeg([*source, *mp4_output_args(output)], cancel)


#: room reserved for the MP4 index (moov) per second of media and track: measured indexes
#: take ~0.3-0.8 KiB/s per track (60 fps with B-frames is the high end); 2 KiB leaves margin
MOOV_BYTES_PER_SECOND = 2048
MOOV_BASE = 64 * 1024


class MoovTooSmall(DownloadError):
    """The room reserved for the index was not enough (the caller writes it again)."""


def faststart_args(duration: float | None = None, tracks: int = 2) -> list[str]:
    """How the MP4's index gets in front of its data (so players start at once).

    With the duration known, room for the index is reserved at the start of the
    file and ffmpeg writes it there at the end: no second pass over the whole
    file, which ``+faststart`` makes (about a second per GB). Without it, or if
    the room was too small (:class:`MoovTooSmall`), ``+faststart``.
    """
    if duration and duration > 0:
        size = MOOV_BASE + int(duration * MOOV_BYTES_PER_SECOND * max(1, tracks))
        return ["-moov_size", str(size)]
    return ["-movflags", "+faststart"]


def mp4_output_args(output: Path, duration: float | None = None) -> list[str]:
    return [
        "-map", "0:v?", "-map", "0:a?",
        "-c", "copy",
        *faststart_args(duration),
        *BITEXACT,
        "-f", "mp4",
        str(output),
    ]  # fmt: skip


class StreamingRemux:
    """Remux a growing MPEG-TS file while it is being assembled.

    A feeder thread copies the file into ffmpeg's stdin up to the size the
    downloader has announced with :meth:`advance`, so when the last segment
    lands only ffmpeg's final faststart pass is left. After a crash the new
    attempt feeds the same bytes from the start, so its output is identical.
    """

    def __init__(
        self,
        source: Path,
        output: Path,
        cancel: threading.Event | None = None,
        duration: float | None = None,
    ) -> None:
        self.source = source
        self.output = output
        self.cancel = cancel
        self._available = 0
        self._final = False
        self._cond = threading.Condition()
        self._error: BaseException | None = None
        self._errors = tempfile.TemporaryFile()
        args = ["-protocol_whitelist", "pipe", "-f", "mpegts", "-i", "pipe:0"]
        cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args]
        self.proc = subprocess.Popen(
            cmd + mp4_output_args(output, duration),
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=self._errors,
            start_new_session=True,
        )
        self._thread = threading.Thread(target=self._feed, name="remux-feed", daemon=True)
        self._thread.start()

    def advance(self, size: int) -> None:
        with self._cond:
            self._available = size
            self._cond.notify()

    def _feed(self) -> None:
        stdin = self.proc.stdin
        assert stdin is not None
        sent = 0
        try:
            with open(self.source, "rb", buffering=0) as handle:
                while True:
                    with self._cond:
                        while sent >= self._available and not self._final:
                            self._cond.wait()
                        limit, final = self._available, self._final
                    if sent < limit:
                        try:
                            splice_into(handle.fileno(), stdin.fileno(), limit - sent)
                        except OSError as exc:
                            if exc.errno == 0:  # the file ended before ``limit``
                                raise DownloadError(
                                    "The assembled stream is shorter than expected"
                                ) from None
                            raise
                        sent = limit
                    if final and sent >= limit:
                        break
        except BaseException as exc:  # reported by finish()
            self._error = exc
        finally:
            try:
                stdin.close()
            except OSError:
                pass

    def finish(self, size: int, timeout: float = 3600.0) -> None:
        """Announce the final size, wait for ffmpeg; raise DownloadError or Stopped."""
        with self._cond:
            self._available = size
            self._final = True
            self._cond.notify()
        waited = 0.0
        while True:
            try:
                self.proc.wait(timeout=0.1)
                break
            except subprocess.TimeoutExpired:
                waited += 0.1
                if (self.cancel is not None and self.cancel.is_set()) or waited > timeout:
                    self.abort()
                    if waited > timeout:
                        raise DownloadError(
                            "ffmpeg took too long to remux", reason="timeout"
                        ) from None
                    raise Stopped() from None
        self._thread.join()
        if self.proc.returncode != 0 or self._error is not None:
            self._errors.seek(0)
            tail = self._errors.read()[-600:].decode("utf-8", "replace").strip().splitlines()
            detail = tail[-1] if tail else f"{self._error or self.proc.returncode}"
            self._errors.close()
            raise failure(detail, "\n".join(tail))
        self._errors.close()

    def abort(self) -> None:
        """Kill ffmpeg (its whole process group) and stop feeding."""
        _kill_group(self.proc)
        with self._cond:
            self._final = True
            self._cond.notify()
        self._thread.join()
        self._errors.close()


@dataclass(frozen=True)
class MediaInfo:
    duration: float | None
    width: int | None
    height: int | None


def probe(path: Path) -> MediaInfo:
    """Duration and the first video stream's size, via PyAV; raise DownloadError if unreadable."""
    import av

    try:
        with av.open(str(path)) as container:
            duration = container.duration / 1_000_000 if container.duration else None
            video = next(iter(container.streams.video), None)
            width = video.codec_context.width if video else None
            height = video.codec_context.height if video else None
    except (av.FFmpegError, OSError) as exc:
        raise DownloadError(f"The downloaded file is not playable media ({exc})") from exc
    return MediaInfo(duration=duration, width=width, height=height)


def probe_tracks(path: Path, planned: list[dict] | None = None) -> list[dict]:
    """The streams of ``path`` as ``{type, codec, language, ...}``, in file order.

    ``planned`` (from the mux, same order) gives each stream the language the
    playlist named (``en``, ``zh-Hans``); otherwise the file's own tag is used.
    """
    import av

    out = []
    try:
        with av.open(str(path)) as container:
            for number, stream in enumerate(container.streams):
                kind = {"subtitle": "subtitles"}.get(stream.type, stream.type)
                if kind not in ("video", "audio", "subtitles"):
                    continue
                entry = {
                    "type": kind,
                    "codec": stream.codec_context.name,
                    "language": stream.metadata.get("language"),
                }
                if planned and number < len(planned) and planned[number]["type"] == kind:
                    entry["language"] = planned[number].get("language") or entry["language"]
                    if planned[number].get("name"):
                        entry["name"] = planned[number]["name"]
                if entry["language"] == "und":
                    entry["language"] = None
                if kind == "video":
                    entry["width"] = stream.codec_context.width
                    entry["height"] = stream.codec_context.height
                out.append(entry)
    except (av.FFmpegError, OSError) as exc:
        raise DownloadError(f"The downloaded file is not playable media ({exc})") from exc
    return out


def is_mp4(path: Path) -> bool:
    """True when the file starts like an ISO BMFF file (``ftyp`` box)."""
    with open(path, "rb") as handle:
        head = handle.read(12)
    return len(head) >= 8 and head[4:8] == b"ftyp"


__all__ = [
    "BITEXACT",
    "MediaInfo",
    "MoovTooSmall",
    "StreamingRemux",
    "faststart_args",
    "ffmpeg_exe",
    "is_mp4",
    "probe",
    "probe_tracks",
    "remux_to_mp4",
    "run_ffmpeg",
]
