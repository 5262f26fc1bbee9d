"""Video merge (task type ``video_merge``).

Compatible clips (same codec and codec parameters, resolution, frame rate,
pixel format and audio layout) are joined by ffmpeg's concat demuxer with
stream copy: no quality loss, disk speed. The concat list only ever names
links the app made in its own work directory (``clip000.mp4`` …), relative to
the list, so the demuxer's safe mode stays on (never ``-safe 0``) and
``-protocol_whitelist file`` keeps it to local files.

Anything else is re-encoded through the concat *filter*: every clip scaled and
padded (aspect kept, ``setsar=1``) to the largest clip's size, converted to a
common frame rate, audio resampled to stereo AAC, silence for clips without
audio, each clip trimmed/padded to its own video duration so that the result
lasts the sum of the clips.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..config import Config
from ..exceptions import MediaError, ValidationError
from ..media import MediaInfo, atomic_output, mp4_args, probe, run_ffmpeg
from ..media.codecs import MP4_AUDIO_COPY, MP4_VIDEO_COPY
from ..model import Task
from ..progress import CancelToken, ProgressHook
from . import JobContext, Processor, register
from .base import processing_time_limit

MIN_CLIPS = 2
MAX_FPS = Fraction(60)
X264_PRESET = "veryfast"
X264_CRF = 20
AUDIO_BITRATE = "160k"
OUTPUT_NAME = "output.mp4"


@dataclass
class MergeResult:
    """The merged file's info and how it was made: ``"copy"`` or ``"reencode"``."""

    info: MediaInfo
    method: str


def clip_signature(info: MediaInfo) -> tuple[Any, ...]:
    """What must be equal between clips for a stream-copy concat to be valid.

    The codec extradata hash stands for the codec parameters (H.264 SPS/PPS,
    AAC config): clips that differ there decode wrongly after a copy.
    """
    return (
        info.video_codec,
        info.width,
        info.height,
        info.fps_fraction,
        info.pix_fmt,
        info.video_extradata_hash,
        info.audio_codec,
        info.audio_sample_rate,
        info.audio_channels,
    )


def can_stream_copy(infos: list[MediaInfo]) -> bool:
    """True when all clips share one signature and the codecs fit in MP4 as they are."""
    first = infos[0]
    if first.video_codec not in MP4_VIDEO_COPY:
        return False
    if first.audio_codec is not None and first.audio_codec not in MP4_AUDIO_COPY:
        return False
    return all(clip_signature(info) == clip_signature(first) for info in infos)


def merge_clips(
    srcs: list[str | os.PathLike[str]],
    dst: str | os.PathLike[str],
    *,
    progress: ProgressHook | None = None,
    cancel: CancelToken | None = None,
    work_dir: str | os.PathLike[str] | None = None,
    timeout: float | None = None,
    max_output_bytes: int | None = None,
    force_reencode: bool = False,
) -> MergeResult:
    """Join ``srcs`` in order into ``dst`` (MP4); stream copy when the clips allow it."""
    if len(srcs) < MIN_CLIPS:
        raise ValidationError(
            f"a merge needs at least {MIN_CLIPS} clips, {len(srcs)} given", reason="too_few_clips"
        )
    infos = [probe(src) for src in srcs]
    total = sum(info.duration for info in infos)
    copy = not force_reencode and can_stream_copy(infos)
    with atomic_output(dst) as tmp:
        if copy:
            with _scratch_dir(work_dir, Path(dst).parent) as scratch:
                args = concat_copy_args(link_clips(srcs, scratch), tmp)
                run_ffmpeg(
                    args, progress, cancel, total, timeout, max_output_bytes, stage="merging"
                )
        else:
            args = concat_reencode_args(srcs, infos, tmp)
            run_ffmpeg(args, progress, cancel, total, timeout, max_output_bytes, stage="encoding")
    if copy:  # the clips' headers already say what the copy is: no read of the result
        return MergeResult(info=_copied_info(infos, Path(dst)), method="copy")
    return MergeResult(info=probe(dst), method="reencode")


#: PyAV's name of the MP4 container family, as a probe of the result reports it
MP4_FORMAT_NAME = "mov,mp4,m4a,3gp,3g2,mj2"


def _copied_info(infos: list[MediaInfo], dst: Path) -> MediaInfo:
    """The stream-copied result's info, from its clips' (they share every stream format)."""
    duration = sum(info.duration for info in infos)
    size = dst.stat().st_size
    return dataclasses.replace(
        infos[0],
        path=str(dst),
        format_name=MP4_FORMAT_NAME,
        duration=duration,
        frame_count=sum(info.frame_count for info in infos),
        frame_count_estimated=any(info.frame_count_estimated for info in infos),
        bit_rate=int(size * 8 / duration) if duration > 0 else None,
        size=size,
    )


@contextlib.contextmanager
def _scratch_dir(work_dir: str | os.PathLike[str] | None, beside: Path):
    """A fresh directory for the links and the concat list, removed afterwards."""
    parent = Path(work_dir) if work_dir is not None else beside
    parent.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="concat-", dir=parent))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def link_clips(srcs: list[str | os.PathLike[str]], scratch: Path) -> Path:
    """Link each clip into ``scratch`` as ``clipNNN.ext`` and write ``list.ffconcat``.

    Hard links cost nothing; across file systems a symlink is used, and a copy
    as the last resort. Returns the list's path.
    """
    lines = ["ffconcat version 1.0"]
    for number, src in enumerate(srcs):
        suffix = Path(src).suffix.lower()
        if not re.fullmatch(r"\.[a-z0-9]{1,5}", suffix):
            suffix = ".mp4"
        name = f"clip{number:03d}{suffix}"
        _link(Path(src).resolve(), scratch / name)
        lines.append(f"file {name}")
    listing = scratch / "list.ffconcat"
    listing.write_text("\n".join(lines) + "\n", encoding="ascii")
    return listing


def _link(src: Path, link: Path) -> None:
    try:
        os.link(src, link)
    except OSError:
        try:
            os.symlink(src, link)
        except OSError:
            shutil.copyfile(src, link)


def concat_copy_args(listing: Path, dst: str | os.PathLike[str]) -> list[str]:
    """Concat demuxer, safe mode on, local files only, every stream copied."""
    args = ["-y", "-f", "concat", "-safe", "1", "-protocol_whitelist", "file"]
    args += ["-i", str(listing), "-map", "0:v:0", "-map", "0:a:0?", "-c", "copy"]
    args += [*mp4_args(), os.fspath(dst)]
    return args


def common_format(infos: list[MediaInfo]) -> tuple[int, int, Fraction, int]:
    """(width, height, fps, sample rate) the re-encoded result uses.

    Size: the largest clip's (by area), so nothing is scaled down; fps: the
    highest clip rate up to 60; audio: 48 kHz if any clip is above 44.1 kHz.
    """
    largest = max(infos, key=lambda info: info.width * info.height)
    width, height = largest.width - largest.width % 2, largest.height - largest.height % 2
    rates = [Fraction(info.fps_fraction) for info in infos if info.fps > 0]
    fps = min(max(rates), MAX_FPS) if rates else Fraction(25)
    sample_rates = [info.audio_sample_rate or 0 for info in infos]
    sample_rate = 48000 if max(sample_rates) > 44100 else 44100
    return width, height, fps, sample_rate


def concat_reencode_args(
    srcs: list[str | os.PathLike[str]], infos: list[MediaInfo], dst: str | os.PathLike[str]
) -> list[str]:
    """Concat filter over normalised clips, H.264 + stereo AAC."""
    width, height, fps, rate = common_format(infos)
    args = ["-y"]
    for src in srcs:
        args += ["-protocol_whitelist", "file", "-i", os.path.abspath(src)]
    chains = []
    pairs = []
    for i, info in enumerate(infos):
        duration = f"{info.duration:.6f}"
        chains.append(
            f"[{i}:v:0]setpts=PTS-STARTPTS,"
            f"scale={width}:{height}:force_original_aspect_ratio=decrease:force_divisible_by=2,"
            f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2,setsar=1,"
            f"fps={fps.numerator}/{fps.denominator},format=yuv420p,"
            f"trim=duration={duration},setpts=PTS-STARTPTS[v{i}]"
        )
        if info.has_audio:
            chains.append(
                f"[{i}:a:0]asetpts=PTS-STARTPTS,aresample={rate},"
                f"aformat=sample_fmts=fltp:channel_layouts=stereo,"
                f"apad,atrim=duration={duration},asetpts=PTS-STARTPTS[a{i}]"
            )
        else:
            chains.append(
                f"anullsrc=channel_layout=stereo:sample_rate={rate},"
                f"atrim=duration={duration},aformat=sample_fmts=fltp[a{i}]"
            )
        pairs.append(f"[v{i}][a{i}]")
    chains.append(f"{''.join(pairs)}concat=n={len(infos)}:v=1:a=1[v][a]")
    args += ["-filter_complex", ";".join(chains), "-map", "[v]", "-map", "[a]"]
    args += ["-c:v", "libx264", "-preset", X264_PRESET, "-crf", str(X264_CRF)]
    args += ["-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", AUDIO_BITRATE, "-ar", str(rate)]
    args += ["-ac", "2", *mp4_args(), os.fspath(dst)]
    return args


def ordered_inputs(task: Task) -> list[Path]:
    """The clips' paths in merge order (``config["order"]`` or upload order)."""
    paths = [Path(item["path"]) for item in task.inputs if item.get("path")]
    if len(paths) != len(task.inputs):
        raise MediaError("an uploaded clip is missing")
    order = task.config.get("order")
    return [paths[i] for i in order] if order else paths


@register
class MergeProcessor(Processor):
    """Join 2–20 uploaded clips, in order, into one MP4."""

    task_type = "video_merge"
    label = "Video merge"

    def validate_config(self, task: Task, payload: dict[str, Any], config: Config) -> None:
        count = len(task.inputs)
        limit = config.max_clips
        if count < MIN_CLIPS:
            raise ValidationError(
                f"a merge needs at least {MIN_CLIPS} clips; {count} uploaded",
                reason="too_few_clips",
            )
        if count > limit:
            raise ValidationError(f"a merge takes at most {limit} clips; {count} uploaded")
        order = payload.get("order")
        if order is None:
            task.config.pop("order", None)
            return
        if not isinstance(order, list) or not all(
            isinstance(i, int) and not isinstance(i, bool) for i in order
        ):
            raise ValidationError("order must be a list of clip indexes, e.g. [2, 0, 1]")
        if sorted(order) != list(range(count)):
            raise ValidationError(
                f"order must list each clip index from 0 to {count - 1} exactly once"
            )
        task.config["order"] = list(order)

    def time_limit(self, task: Task, config: Config) -> float:
        return processing_time_limit(task, config)

    def run(self, ctx: JobContext) -> dict[str, Any]:
        srcs = ordered_inputs(ctx.task)
        dst = ctx.result_dir / OUTPUT_NAME
        ctx.progress(stage="merging", percent=0.0)
        merged = merge_clips(
            srcs,
            dst,
            progress=ctx.report,
            cancel=ctx.cancel,
            work_dir=ctx.work_dir,
            timeout=ctx.time_left(),
            max_output_bytes=ctx.config.user_quota_mb * 1024 * 1024,
        )
        info = merged.info
        return {
            "file_name": dst.name,
            "size": dst.stat().st_size,
            "duration": round(info.duration, 3),
            "width": info.width,
            "height": info.height,
            "method": merged.method,
        }
