"""The output a visitor asks for: a time range, and a container other than MP4.

A time range (``start``/``end``) on a segmented stream is applied twice:
before the download, only the segments that overlap the range are kept in
every track (so nothing outside it is fetched), and after the mux the
result is cut to the range. By default that cut is a stream copy from the
keyframe at or before ``start`` (nothing re-encoded, the clip may begin a
little early); with ``precise_cut`` it starts and ends on the exact frames:
for H.264 only the partial GOPs at the edges are re-encoded and the whole
GOPs between them are copied (:mod:`.smartcut`), anything else is re-encoded
whole.

Containers: ``mp4`` (the engine's own result), ``mkv`` (stream copy, text
subtitles as SubRip), ``m4a`` (the audio by stream copy) and ``mp3`` (the
audio re-encoded by LAME). ffmpeg reads only the local file written here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..exceptions import DownloadError, StorageFull, ValidationError
from ..media.output import BITEXACT, faststart_args
from ..progress import LogHook
from .options import DownloadOptions
from .remux import run_ffmpeg
from .tracks import Track

SUFFIXES = {"mp4": ".mp4", "mkv": ".mkv", "m4a": ".m4a", "mp3": ".mp3"}


@dataclass(frozen=True)
class Cut:
    """Where the fetched media must still be cut: seconds into it, and how long."""

    offset: float
    duration: float | None


def _window(segments: list[Any], start: float, end: float | None) -> tuple[int, int, float]:
    """(first, last + 1, start time of first) of the segments overlapping [start, end)."""
    clock = 0.0
    first = last = None
    first_time = 0.0
    for position, seg in enumerate(segments):
        seg_end = clock + seg.duration
        if seg_end > start + 1e-6 and (end is None or clock < end - 1e-6):
            if first is None:
                first, first_time = position, clock
            last = position
        clock = seg_end
    if first is None or last is None:
        return 0, 0, 0.0
    return first, last + 1, first_time


def drop_video(tracks: list[Track], variant_audio: bool, log: LogHook) -> list[Track]:
    """For an audio container: leave out the video track when the audio is fetched apart."""
    if variant_audio or not any(t.kind == "audio" for t in tracks):
        return tracks
    log("Audio only: the video track is not fetched")
    return [t for t in tracks if t.kind != "main"]


def clip_tracks(tracks: list[Track], options: DownloadOptions, log: LogHook) -> Cut | None:
    """Keep only the segments of each VOD track that overlap the range; None without one."""
    if not options.clipped:
        return None
    start = options.start or 0.0
    end = options.end
    main = tracks[0]
    total = sum(s.duration for s in main.segments)
    if start >= total - 1e-6:
        raise ValidationError(f"start ({start:g} s) is past the video's end ({total:.1f} s)")
    if end is not None and end > total + 0.5:
        raise ValidationError(f"end ({end:g} s) is past the video's duration ({total:.1f} s)")
    offset = 0.0
    for number, track in enumerate(tracks):
        first, stop, first_time = _window(track.segments, start, end)
        if stop <= first:
            continue
        kept = [replace(seg, index=n, discontinuity=seg.discontinuity and n > 0)
                for n, seg in enumerate(track.segments[first:stop])]  # fmt: skip
        if number == 0:
            offset = start - first_time
            log(f"Time range {start:g}-{end if end is not None else total:g} s: fetching "
                f"{len(kept)} of {len(track.segments)} segments")  # fmt: skip
        track.segments = kept
    duration = None if end is None else end - start
    return Cut(offset=max(0.0, offset), duration=duration)


def whole_file_cut(options: DownloadOptions, duration: float | None) -> Cut | None:
    """The cut of a file fetched whole (a direct link)."""
    if not options.clipped:
        return None
    start = options.start or 0.0
    if duration is not None:
        if start >= duration:
            raise ValidationError(f"start ({start:g} s) is past the video's end ({duration:.1f} s)")
        if options.end is not None and options.end > duration + 0.5:
            raise ValidationError(
                f"end ({options.end:g} s) is past the video's duration ({duration:.1f} s)"
            )
    return Cut(offset=start, duration=None if options.end is None else options.end - start)


def output_path(output: Path, options: DownloadOptions) -> Path:
    """``output`` with the suffix of the container asked for."""
    if options.container == "mp4":
        return output
    return output.with_suffix(SUFFIXES[options.container])


def finish(
    source: Path,
    target: Path,
    options: DownloadOptions,
    cut: Cut | None,
    has_audio: bool,
    cancel: Any,
    log: LogHook,
) -> None:
    """Write ``target`` from the engine's MP4 ``source``: cut, and in the container asked for.

    A precise cut of H.264 video re-encodes only the edges (:mod:`.smartcut`); what that
    cannot join is re-encoded whole, with a line in the log saying why."""
    container = options.container
    if container in ("m4a", "mp3") and not has_audio:
        raise DownloadError(f"The video has no audio track to write as {container}")
    if cut is not None and options.precise_cut and container in ("mp4", "mkv"):
        if _smart_finish(source, target, container, cut, cancel, log):
            return
    _ffmpeg_finish(source, target, options, cut, cancel, log)


def _smart_finish(
    source: Path, target: Path, container: str, cut: Cut, cancel: Any, log: LogHook
) -> bool:
    """The smart cut: the video joined by :func:`.smartcut.smart_cut`, then muxed by ffmpeg
    with the audio and subtitles of the range. False (logged) when it cannot be done.

    The audio is re-encoded (AAC, 192 kb/s) rather than copied: an AAC packet holds
    1024 samples, so a copy starts up to 23 ms off unless the MP4 gets an edit list
    that trims inside the first packet, and the two edges would each need one;
    re-encoding the audio of the range costs little next to video and lands on the
    exact sample."""
    from .smartcut import NotSmart, joins_decode_cleanly, smart_cut

    video = target.with_name(target.name + ".video.mp4")
    try:
        try:
            done = smart_cut(source, video, cut.offset, cut.duration, cancel)
        except NotSmart as exc:
            log(f"Precise cut: {exc}; re-encoding the whole clip instead")
            return False
        except Exception as exc:  # a PyAV/libx264 failure: the whole re-encode still works
            if cancel is not None and cancel.is_set():
                raise
            log(f"Precise cut: joining the edges failed ({type(exc).__name__}: "
                f"{str(exc)[:160]}); re-encoding the whole clip instead")  # fmt: skip
            return False
        if cancel is not None and cancel.is_set():
            return False
        complaint = joins_decode_cleanly(video, done)
        if complaint is not None:
            log(f"Precise cut: the joined video does not decode cleanly ({complaint[:160]}); "
                "re-encoding the whole clip instead")  # fmt: skip
            return False
        log(f"Cutting the time range: frame-exact, {done.head_frames} + {done.tail_frames} "
            f"frames re-encoded at the edges, {done.copied_packets} copied")  # fmt: skip
        args = ["-protocol_whitelist", "file", "-i", str(video)]
        if cut.offset > 0.0005:
            args += ["-ss", f"{cut.offset:.6f}"]
        args += ["-protocol_whitelist", "file", "-i", str(source)]
        if cut.duration is not None:
            args += ["-t", f"{cut.duration:.6f}"]
        args += ["-map", "0:v", "-map", "1:a?", "-map", "1:s?", "-c:v", "copy",
                 "-c:a", "aac", "-b:a", "192k"]  # fmt: skip
        if container == "mkv":
            args += ["-c:s", "srt", "-f", "matroska"]
            log("Writing the result as MKV")
        else:
            args += ["-c:s", "mov_text", *faststart_args(), "-f", "mp4"]
        try:
            run_ffmpeg([*args, *_EXACT, str(target)], cancel)
        except StorageFull:
            raise  # a full disk fails the re-encode too
        except DownloadError as exc:
            log(f"Precise cut: muxing the joined video failed ({exc.message[:160]}); "
                "re-encoding the whole clip instead")  # fmt: skip
            target.unlink(missing_ok=True)
            return False
        return True
    finally:
        video.unlink(missing_ok=True)


# Bit-exact output, but the streams' metadata (languages) kept from the engine's MP4.
_EXACT = [a for a in BITEXACT if a not in ("-map_metadata", "-1")]


def _ffmpeg_finish(
    source: Path,
    target: Path,
    options: DownloadOptions,
    cut: Cut | None,
    cancel: Any,
    log: LogHook,
) -> None:
    """One ffmpeg run: a stream-copy cut at keyframes, or the whole clip re-encoded."""
    container = options.container
    args: list[str] = []
    if cut is not None and cut.offset > 0.0005:
        args += ["-ss", f"{cut.offset:.6f}"]
    args += ["-protocol_whitelist", "file", "-i", str(source)]
    if cut is not None and cut.duration is not None:
        args += ["-t", f"{cut.duration:.6f}"]
    precise = cut is not None and options.precise_cut
    if container == "mp3":  # one audio stream: the first (default) one
        args += ["-map", "0:a:0", "-c:a", "libmp3lame", "-q:a", "2", "-f", "mp3"]
    elif container == "m4a":
        args += ["-map", "0:a"]
        args += ["-c:a", "aac", "-b:a", "192k"] if precise else ["-c", "copy"]
        args += [*faststart_args(), "-f", "ipod"]
    else:
        args += ["-map", "0"]
        if precise:
            args += ["-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-c:a", "aac",
                     "-b:a", "192k"]  # fmt: skip
        else:
            args += ["-c", "copy"]
        if container == "mkv":
            args += ["-c:s", "srt", "-f", "matroska"]
        else:
            args += ["-c:s", "mov_text", *faststart_args(), "-f", "mp4"]
    if cut is not None:
        how = "re-encoded to the exact frames" if precise else "cut at keyframes (stream copy)"
        log(f"Cutting the time range: {how}")
    if container != "mp4":
        log(f"Writing the result as {container.upper()}")
    run_ffmpeg([*args, *_EXACT, str(target)], cancel)


def needs_finish(options: DownloadOptions, cut: Cut | None) -> bool:
    return cut is not None or options.container != "mp4"


__all__ = ["Cut", "clip_tracks", "drop_video", "finish", "needs_finish", "output_path",
           "whole_file_cut"]  # fmt: skip
