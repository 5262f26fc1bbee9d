"""Remux what the downloader wrote into the MP4 result by stream copy, streaming or not.

Finding ffmpeg, running it (argument lists, its own process group, so
cancel kills it whole), the MP4 output options and probing are
:mod:`mediacraft.media`'s; this module holds the download's use of them: the
streaming remux fed while segments arrive, the remux of finished files, and
the translation of ffmpeg's failures into the engine's errors (a full disk
is a disk error). ffmpeg never touches the network here: it reads only files
the downloader wrote (``-protocol_whitelist file,crypto``), and its output is
deterministic (bitexact, no metadata) so a resumed download is
byte-identical to an uninterrupted one.
"""

from __future__ import annotations

import errno
import subprocess
import tempfile
import threading
from pathlib import Path

from ..exceptions import Cancelled, DownloadError, MediaCraftError, MediaError
from .copying import splice_into
from .fetch import Stopped


def run_ffmpeg(
    args: list[str], cancel: threading.Event | None = None, timeout: float = 3600.0
) -> None:
    """Run ffmpeg with ``args`` through :func:`mediacraft.media.run_ffmpeg`, in the
    download engine's terms: a cancel raises :class:`Stopped`, a failure says whether
    the disk was full (:func:`failure`), a timeout is a :class:`DownloadError`."""
    from ..media import ffmpeg as media_ffmpeg  # PyAV and all: not before the first remux

    try:
        media_ffmpeg.run_ffmpeg(["-y", *args], cancel=cancel, timeout=timeout, stage="remuxing")
    except Cancelled:
        raise Stopped() from None
    except media_ffmpeg.FfmpegFailed as exc:
        lines = exc.stderr_tail.strip().splitlines()
        detail = lines[-1] if lines else f"exit status {exc.returncode}"
        raise failure(detail, "\n".join(lines)) from None
    except MediaError as exc:
        if exc.reason == "timeout":
            message = f"ffmpeg took longer than {timeout:g} s"
            raise DownloadError(message, reason="timeout") from None
        raise


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


class MoovTooSmall(DownloadError):
    """The room reserved for the index was not enough (the caller writes it again)."""


def mp4_output_args(output: Path, duration: float | None = None) -> list[str]:
    """Stream copy of the first video and audio into ``output``, deterministic bytes."""
    from ..media.output import mp4_args

    maps = ["-map", "0:v?", "-map", "0:a?", "-c", "copy"]
    return [*maps, *mp4_args(metadata="strip", duration=duration), str(output)]


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
        from ..media.ffmpeg import ffmpeg_exe

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
        from ..media.ffmpeg import kill_group

        kill_group(self.proc)
        with self._cond:
            self._final = True
            self._cond.notify()
        self._thread.join()
        self._errors.close()


def is_mp4(path: Path) -> bool:
    """True when the file starts like an ISO BMFF file (``ftyp`` box)."""
    with open(path, "rb") as handle:
        head = handle.read(12)
    return len(head) >= 8 and head[4:8] == b"ftyp"


__all__ = ["MoovTooSmall", "StreamingRemux", "is_mp4", "remux_to_mp4", "run_ffmpeg"]
