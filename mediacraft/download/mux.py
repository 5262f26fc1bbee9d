"""Join a download's tracks into one MP4 by stream copy, so that every frame decodes.

Each track (the variant, each audio rendition) is a list of group files, one
per discontinuity. Groups are probed: when their codec parameters match
(codec, picture size, pixel format, frame rate; audio codec, rate,
channels) they are joined by ffmpeg's concat demuxer as they are. A group
that differs (an inserted clip from another encode, a TS clip next to fMP4
ones with another layout) is re-encoded to the parameters of the track's
main group (its longest), so the joined stream stays decodable; with
``split_discontinuities`` the groups are written as separate files instead.

Tracks are lined up by their first timestamps (ffmpeg starts each input at
zero; ``-itsoffset`` restores the offsets the playlists had), audio tracks
carry their languages (ISO 639-2, as MP4 stores them) and subtitles become
``mov_text`` tracks. ffmpeg reads only the local files written here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..exceptions import DownloadError
from ..media.output import BITEXACT, mp4_args
from ..progress import LogHook, ignore_log
from .hls import TrackResult
from .remux import MoovTooSmall, run_ffmpeg
from .renditions import iso639_2
from .webvtt import shifted

ENCODERS = {"h264": "libx264", "hevc": "libx265"}
AUDIO_ENCODERS = {"aac": "aac", "mp3": "libmp3lame"}
RAW_FORMATS = {"aac": "aac", "mp3": "mp3", "ac3": "ac3"}


@dataclass(frozen=True)
class GroupInfo:
    path: Path
    kind: str
    start: float | None
    duration: float
    video: tuple[Any, ...] | None  # (codec, width, height, pix_fmt, fps)
    audio: tuple[Any, ...] | None  # (codec, sample rate, channels)

    @property
    def signature(self) -> tuple[Any, ...]:
        return (self.video, self.audio)


def probe_group(path: Path, kind: str) -> GroupInfo:
    """Codec parameters and first timestamp of one group file (local file only)."""
    import av

    options = {"protocol_whitelist": "file"}
    fmt = RAW_FORMATS.get(kind)
    try:
        with av.open(os.path.abspath(path), options=options, format=fmt) as container:
            video = next(iter(container.streams.video), None)
            audio = next(iter(container.streams.audio), None)
            v = a = None
            if video is not None:
                ctx = video.codec_context
                rate = video.average_rate or video.guessed_rate
                v = (ctx.name, ctx.width, ctx.height, ctx.pix_fmt,
                     round(float(rate), 2) if rate else None)  # fmt: skip
            if audio is not None:
                ctx = audio.codec_context
                a = (ctx.name, ctx.sample_rate, ctx.channels)
            start = container.start_time / 1_000_000 if container.start_time is not None else None
            duration = container.duration / 1_000_000 if container.duration else 0.0
    except (av.FFmpegError, OSError) as exc:
        raise DownloadError(
            f"A downloaded part of the stream is not playable media ({exc})"
        ) from exc
    return GroupInfo(path, kind, start, duration, v, a)


@dataclass
class Input:
    """One ffmpeg input made of a track's groups."""

    args: list[str]
    start: float | None
    has_video: bool
    has_audio: bool
    reencoded: int = 0


@dataclass
class MuxPlan:
    """How the tracks become the output: for the result's ``tracks`` list."""

    tracks: list[dict[str, Any]] = field(default_factory=list)
    reencoded_groups: int = 0
    side_files: list[tuple[Path, str]] = field(default_factory=list)  # (vtt, language)


def _input_args(path: Path, kind: str) -> list[str]:
    fmt = RAW_FORMATS.get(kind)
    return ["-protocol_whitelist", "file,crypto", *(["-f", fmt] if fmt else []), "-i", str(path)]


def _reencode_args(info: GroupInfo, main: GroupInfo, out: Path) -> list[str]:
    """ffmpeg arguments that turn ``info``'s group into MPEG-TS with ``main``'s parameters."""
    args = _input_args(info.path, info.kind)
    maps: list[str] = []
    codec_args: list[str] = []
    if main.video is not None:
        if info.video is None:
            raise DownloadError("A part of the stream has no picture; it cannot be joined")
        codec, width, height, pix_fmt, fps = main.video
        chain = (
            f"scale={width}:{height}:force_original_aspect_ratio=decrease,"
            f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2,setsar=1"
        )
        if fps:
            chain += f",fps={fps}"
        chain += f",format={pix_fmt or 'yuv420p'}"
        maps += ["-map", "0:v:0"]
        codec_args += ["-vf", chain, "-c:v", ENCODERS.get(codec, "libx264"), "-preset", "veryfast"]
        codec_args += ["-crf", "20"]
    if main.audio is not None:
        codec, rate, channels = main.audio
        if info.audio is None:
            layout = "mono" if channels == 1 else "stereo"
            args += ["-f", "lavfi", "-i", f"anullsrc=r={rate}:cl={layout}"]
            maps += ["-map", "1:a:0", "-shortest"]
        else:
            maps += ["-map", "0:a:0"]
        codec_args += ["-c:a", AUDIO_ENCODERS.get(codec, "aac"), "-ar", str(rate)]
        codec_args += ["-ac", str(channels)]
    return [*args, *maps, *codec_args, *BITEXACT, "-f", "mpegts", str(out)]


def prepare(result: TrackResult, work_dir: Path, cancel: Any, log: LogHook) -> Input:
    """The ffmpeg input for one audio/video track: a file, or a concat list of its groups."""
    files = result.files
    if not files:
        raise DownloadError(f"Nothing was downloaded for the {result.track.kind} track")
    infos = [probe_group(path, kind) for path, kind in files]
    first = infos[0]
    start = result.audio_start if result.audio_start is not None else first.start
    has_video = any(i.video for i in infos)
    has_audio = any(i.audio for i in infos)
    if len(infos) == 1:
        return Input(_input_args(first.path, first.kind), start, has_video, has_audio)
    main = max(infos, key=lambda i: i.duration)
    encodable = (
        (main.video is None or main.video[0] in ENCODERS)
        and (main.audio is None or main.audio[0] in AUDIO_ENCODERS)
    )
    parts: list[Path] = []
    reencoded = 0
    # Packets differ between containers (H.264 and AAC framing): mixed groups become TS.
    mixed = len({i.kind for i in infos}) > 1
    for number, info in enumerate(infos):
        if info.signature == main.signature and encodable:
            if mixed and info.kind != "ts":
                out = work_dir / f"{result.track.id}_r{number:05d}.ts"
                run_ffmpeg([*_input_args(info.path, info.kind), "-map", "0", "-c", "copy",
                            *BITEXACT, "-f", "mpegts", str(out)], cancel)  # fmt: skip
                parts.append(out)
            else:
                parts.append(info.path)
            continue
        out = work_dir / f"{result.track.id}_r{number:05d}.ts"
        log(
            f"Discontinuity group {number + 1} of the {result.track.kind} track has other codec "
            f"parameters ({_describe(info)} vs {_describe(main)}): re-encoding it"
        )
        run_ffmpeg(_reencode_args(info, main, out), cancel)
        parts.append(out)
        reencoded += 1
    listing = work_dir / f"{result.track.id}_concat.txt"
    listing.write_text("".join(f"file '{p.name}'\n" for p in parts), encoding="utf-8")
    args = ["-protocol_whitelist", "file,crypto", "-f", "concat", "-safe", "1", "-i", str(listing)]
    return Input(args, start, has_video, has_audio, reencoded)


def _describe(info: GroupInfo) -> str:
    parts = []
    if info.video:
        codec, width, height, _pix, fps = info.video
        parts.append(f"{codec} {width}x{height}" + (f" {fps:g} fps" if fps else ""))
    if info.audio:
        codec, rate, channels = info.audio
        parts.append(f"{codec} {rate} Hz {channels} ch")
    return ", ".join(parts) or "no media"


def mux(
    results: list[TrackResult],
    output: Path,
    work_dir: Path,
    *,
    variant_audio: bool = True,
    cancel: Any = None,
    log: LogHook | None = None,
) -> MuxPlan:
    """Write ``output`` (MP4) from the tracks' group files; returns what went in."""
    log = log or ignore_log
    plan = MuxPlan()
    media = [r for r in results if r.track.kind != "subtitles"]
    subtitles = [r for r in results if r.track.kind == "subtitles" and r.files]
    inputs = [prepare(r, work_dir, cancel, log) for r in media]
    plan.reencoded_groups = sum(i.reencoded for i in inputs)
    starts = [i.start for i in inputs if i.start is not None]
    base = min(starts) if starts else 0.0
    args: list[str] = []
    for item in inputs:
        offset = (item.start - base) if item.start is not None else 0.0
        if offset > 0.0005:
            args += ["-itsoffset", f"{offset:.6f}"]
        args += item.args
    maps: list[str] = []
    metadata: list[str] = []
    audio_index = 0
    separate_audio = any(r.track.kind == "audio" for r in media)
    for number, (result, item) in enumerate(zip(media, inputs, strict=True)):
        if result.track.kind == "main":
            if item.has_video:
                maps += ["-map", f"{number}:v:0"]
                plan.tracks.append({"type": "video", "language": None})
            if item.has_audio and (variant_audio or not separate_audio):
                maps += ["-map", f"{number}:a:0"]
                plan.tracks.append({"type": "audio", "language": result.track.language,
                                    "name": result.track.name or None})  # fmt: skip
                metadata += _language(audio_index, "a", result.track.language)
                audio_index += 1
        elif item.has_audio:
            maps += ["-map", f"{number}:a:0"]
            plan.tracks.append({"type": "audio", "language": result.track.language,
                                "name": result.track.name or None})  # fmt: skip
            metadata += _language(audio_index, "a", result.track.language)
            audio_index += 1
    if audio_index > 1:
        metadata += ["-disposition:a:0", "default"]
        metadata += [item for n in range(1, audio_index) for item in (f"-disposition:a:{n}", "0")]
    subtitle_args: list[str] = []
    subtitle_tracks: list[dict[str, Any]] = []
    for number, result in enumerate(subtitles):
        source, _kind = result.files[0]
        target = work_dir / f"{result.track.id}_final.vtt"
        shifted(source, target, -base if result.vtt_mapped else 0.0)
        index = len(inputs) + number
        subtitle_args += ["-protocol_whitelist", "file", "-f", "webvtt", "-i", str(target)]
        maps_sub = ["-map", f"{index}:s:0"]
        subtitle_tracks.append({"type": "subtitles", "language": result.track.language,
                                "name": result.track.name or None, "file": target,
                                "maps": maps_sub, "number": number})  # fmt: skip
    if not maps:
        raise DownloadError("The stream has neither video nor audio to write")
    duration = max((r.duration for r in media), default=0.0)
    tracks = len(maps) // 2 + len(subtitle_tracks)

    def tail(reserve: bool = True) -> list[str]:
        mp4 = mp4_args(metadata="strip", duration=duration if reserve else None, tracks=tracks)
        return ["-c", "copy", "-c:s", "mov_text", *mp4, str(output)]

    sub_maps = [m for t in subtitle_tracks for m in t["maps"]]
    sub_meta = [m for t in subtitle_tracks for m in _language(t["number"], "s", t["language"])]
    def write(inputs: list[str], more_maps: list[str]) -> None:
        command = [*args, *inputs, *maps, *more_maps, *metadata]
        try:
            run_ffmpeg([*command, *tail()], cancel)
        except MoovTooSmall:
            log("The MP4 index needed more room than reserved: writing it again")
            run_ffmpeg([*command, *tail(reserve=False)], cancel)

    try:
        write(subtitle_args, [*sub_maps, *sub_meta])
        for track in subtitle_tracks:
            plan.tracks.append({k: track[k] for k in ("type", "language", "name")})
    except DownloadError:
        if not subtitle_tracks:
            raise
        log("The subtitles could not be put in the MP4: writing them beside it as .vtt files")
        write([], [])
        for track in subtitle_tracks:
            plan.side_files.append((track["file"], track["language"] or "und"))
    return plan


def _language(index: int, kind: str, language: str | None) -> list[str]:
    return [f"-metadata:s:{kind}:{index}", f"language={iso639_2(language)}"]


__all__ = ["GroupInfo", "MuxPlan", "mux", "prepare", "probe_group"]
