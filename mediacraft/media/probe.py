"""Probe media files with PyAV, and refuse uploads that are not plain local videos.

Safety: files are opened with ``format_whitelist`` and
``protocol_whitelist=file``. The whitelist is applied by libavformat right
after format detection and *before* the demuxer reads its header, so an HLS
playlist, an ffconcat script or an image renamed ``.mp4`` is refused without
any of the files or URLs it names ever being opened.

Decoding has a budget (:class:`DecodeBudget`): a tiny file can announce a
frame of 10000x10000 pixels (half a gigabyte to decode), hundreds of
streams, or millions of frames. The header's figures are checked before any
frame is decoded, and the decoder itself is opened with ``max_pixels`` so a
picture larger than its header said is refused by libavcodec.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from ..exceptions import MediaError


@dataclass(frozen=True)
class DecodeBudget:
    """What the server agrees to decode of one upload."""

    max_pixels: int = 7680 * 4320  # one frame: 8K UHD
    max_streams: int = 16
    max_frames: int = 10_000_000

    @classmethod
    def from_config(cls, config: Any) -> DecodeBudget:
        return cls(
            max_pixels=int(config.max_video_pixels),
            max_streams=int(config.max_video_streams),
            max_frames=int(config.max_video_frames),
        )


DEFAULT_BUDGET = DecodeBudget()


def decoder_options(budget: DecodeBudget = DEFAULT_BUDGET) -> dict[str, str]:
    """Options for a decoder opened on untrusted input (libavcodec checks each picture)."""
    return {"max_pixels": str(budget.max_pixels)}


#: demuxers an upload may use (libavformat short names)
ALLOWED_FORMATS: tuple[str, ...] = (
    "mov",
    "mp4",
    "m4a",
    "3gp",
    "3g2",
    "mj2",
    "matroska",
    "webm",
    "mpegts",
    "avi",
    "flv",
)

ALLOWED_DESCRIPTION = "MP4/MOV, Matroska/WebM, MPEG-TS, AVI or FLV"


def open_options(formats: tuple[str, ...] | None = ALLOWED_FORMATS) -> dict[str, str]:
    """libavformat options that keep PyAV to local files (and to ``formats``)."""
    options = {"protocol_whitelist": "file"}
    if formats:
        options["format_whitelist"] = ",".join(formats)
    return options


def open_local(path: str | os.PathLike[str], formats: tuple[str, ...] | None = ALLOWED_FORMATS):
    """Open a local file for demuxing; never follows another protocol.

    The path is made absolute so that a name like ``concat:a|b`` or ``http:x``
    is read as a file name, not a protocol.
    """
    return av.open(os.path.abspath(path), mode="r", options=open_options(formats))


@dataclass
class MediaInfo:
    """What a video file is made of. Durations in seconds; ``bit_rate`` in bit/s."""

    path: str
    format_name: str
    duration: float
    fps: float
    fps_fraction: str  # exact rate as "num/den", e.g. "30000/1001"
    width: int
    height: int
    frame_count: int
    frame_count_estimated: bool
    video_codec: str
    pix_fmt: str | None
    video_extradata_hash: str | None
    audio_codec: str | None
    audio_sample_rate: int | None
    audio_channels: int | None
    audio_layout: str | None
    bit_rate: int | None
    size: int

    @property
    def has_audio(self) -> bool:
        return self.audio_codec is not None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def media_metadata(info: MediaInfo) -> dict[str, Any]:
    """The JSON-safe metadata a task keeps (``task.metadata["media"]``); no server path."""
    data = info.to_dict()
    data.pop("path")
    data.pop("video_extradata_hash")
    data["duration"] = round(info.duration, 3)
    data["fps"] = round(info.fps, 3)
    data["has_audio"] = info.has_audio
    return data


def probe(path: str | os.PathLike[str]) -> MediaInfo:
    """Describe a local video file; :class:`MediaError` if it is not a usable video.

    Only the container header is read (no decoding), so this is fast on any size.
    """
    return _probe(path, formats=ALLOWED_FORMATS)


def probe_upload(path: str | os.PathLike[str], budget: DecodeBudget = DEFAULT_BUDGET) -> MediaInfo:
    """Probe an uploaded file, accepting only :data:`ALLOWED_FORMATS` with a video stream
    within ``budget`` whose first frame decodes.
    """
    info = _probe(path, formats=ALLOWED_FORMATS, budget=budget)
    _check_first_frame(path, budget)
    return info


def _probe(
    path: str | os.PathLike[str],
    formats: tuple[str, ...] | None,
    budget: DecodeBudget | None = None,
) -> MediaInfo:
    path = Path(path)
    if not path.is_file():
        raise MediaError("uploaded file is missing")
    try:
        container = open_local(path, formats)
    except av.FFmpegError:
        raise MediaError(
            f"uploaded file is not a video (expected {ALLOWED_DESCRIPTION})", reason="not_a_video"
        ) from None
    with container:
        video = _video_stream(container)
        if video is None:
            raise MediaError(
                "uploaded file is not a video: it has no video stream", reason="not_a_video"
            )
        audio = container.streams.audio[0] if container.streams.audio else None
        info = _describe(path, container, video, audio)
        if budget is not None:
            check_budget(info, len(container.streams), budget)
        return info


def check_budget(info: MediaInfo, streams: int, budget: DecodeBudget) -> None:
    """Refuse a video whose header promises more than the server decodes."""
    pixels = info.width * info.height
    if pixels > budget.max_pixels:
        raise MediaError(
            f"the video's frames are too large: {info.width}x{info.height} is "
            f"{pixels:,} pixels, the limit is {budget.max_pixels:,} (8K is 7680x4320)"
        )
    if streams > budget.max_streams:
        raise MediaError(
            f"the file has {streams} streams; at most {budget.max_streams} are accepted"
        )
    if info.frame_count > budget.max_frames:
        raise MediaError(
            f"the video claims {info.frame_count:,} frames; at most {budget.max_frames:,} "
            "are accepted"
        )


def _video_stream(container: Any) -> Any:
    for stream in container.streams.video:
        if stream.disposition & av.stream.Disposition.attached_pic:
            continue  # cover art is not a video
        if stream.codec_context.width and stream.codec_context.height:
            return stream
    return None


def _describe(path: Path, container: Any, video: Any, audio: Any) -> MediaInfo:
    ctx = video.codec_context
    rate: Fraction | None = video.average_rate or video.guessed_rate or video.base_rate
    fps = float(rate) if rate else 0.0
    duration = _duration(container, video)
    estimated = not video.frames
    frame_count = int(video.frames) if video.frames else int(round(duration * fps))
    extradata = ctx.extradata
    audio_ctx = audio.codec_context if audio is not None else None
    return MediaInfo(
        path=str(path),
        format_name=container.format.name,
        duration=duration,
        fps=fps,
        fps_fraction=f"{rate.numerator}/{rate.denominator}" if rate else "0/1",
        width=int(ctx.width),
        height=int(ctx.height),
        frame_count=max(frame_count, 1),
        frame_count_estimated=estimated,
        video_codec=ctx.name,
        pix_fmt=ctx.pix_fmt,
        video_extradata_hash=_hash(extradata) if extradata else None,
        audio_codec=audio_ctx.name if audio_ctx is not None else None,
        audio_sample_rate=int(audio_ctx.sample_rate) if audio_ctx is not None else None,
        audio_channels=int(audio_ctx.channels) if audio_ctx is not None else None,
        audio_layout=audio_ctx.layout.name if audio_ctx is not None else None,
        bit_rate=int(container.bit_rate) if container.bit_rate else None,
        size=path.stat().st_size,
    )


def _duration(container: Any, video: Any) -> float:
    """Video stream duration if stored, else the container's (both in seconds)."""
    if video.duration and video.time_base:
        return float(video.duration * video.time_base)
    if container.duration:
        return container.duration / av.time_base
    return 0.0


def _hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _check_first_frame(path: str | os.PathLike[str], budget: DecodeBudget) -> None:
    """Decode one frame: a file whose header looks right but holds no picture is refused."""
    try:
        with open_local(path) as container:
            video = _video_stream(container)
            video.codec_context.options = decoder_options(budget)
            for _frame in container.decode(video):
                return
    except av.FFmpegError:
        pass
    raise MediaError(
        "uploaded file is not a playable video: its first frame does not decode",
        reason="not_a_video",
    )


@dataclass(frozen=True)
class StreamsInfo:
    """The streams of any media file (audio-only too), from one read of its header."""

    duration: float | None
    width: int | None  # of the first video stream; None: no picture
    height: int | None
    tracks: list[dict[str, Any]]  # {type, codec, language, name?, width?, height?}, in file order


#: open options that read a file's header and no packet (nothing is decoded)
HEADER_ONLY = {"probesize": "32", "analyzeduration": "0"}


def probe_streams(
    path: str | os.PathLike[str],
    planned: list[dict[str, Any]] | None = None,
    *,
    header_only: bool = False,
) -> StreamsInfo:
    """Describe a finished result: its duration, picture size and tracks.

    ``planned`` (what the writer meant each stream to be, same order) gives each
    track the language and name it was given (``en``, ``zh-Hans``); otherwise
    the file's own tag is used. ``header_only`` reads no packet: enough for a
    non-fragmented MP4, whose ``moov`` describes every stream (~1 ms instead of
    ~5, the first frame is not decoded). Raises :class:`MediaError` if it cannot
    be read.
    """
    tracks: list[dict[str, Any]] = []
    try:
        with av.open(os.fspath(path), options=HEADER_ONLY if header_only else None) as container:
            duration = container.duration / 1_000_000 if container.duration else None
            video = next(iter(container.streams.video), None)
            width = video.codec_context.width if video else None
            height = video.codec_context.height if video else None
            for number, stream in enumerate(container.streams):
                meant = planned[number] if planned and number < len(planned) else None
                entry = _track(stream, meant)
                if entry is not None:
                    tracks.append(entry)
    except (av.FFmpegError, OSError) as exc:
        raise MediaError(f"the file is not playable media ({exc})") from exc
    return StreamsInfo(duration=duration, width=width, height=height, tracks=tracks)


def _track(stream: Any, planned: dict[str, Any] | None) -> dict[str, Any] | None:
    kind = {"subtitle": "subtitles"}.get(stream.type, stream.type)
    if kind not in ("video", "audio", "subtitles"):
        return None
    entry = {
        "type": kind,
        "codec": stream.codec_context.name,
        "language": stream.metadata.get("language"),
    }
    if planned and planned["type"] == kind:
        entry["language"] = planned.get("language") or entry["language"]
        if planned.get("name"):
            entry["name"] = planned["name"]
    if entry["language"] == "und":
        entry["language"] = None
    if kind == "video":
        entry["width"] = stream.codec_context.width
        entry["height"] = stream.codec_context.height
    return entry
