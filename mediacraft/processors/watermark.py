"""Watermark / logo removal (task type ``watermark_removal``).

ffmpeg's ``delogo`` filter, one per rectangle, repaints each region from the
pixels around it. Audio is copied, video re-encoded as H.264 in an MP4 with
``+faststart``; duration and resolution are unchanged.

``delogo`` needs a one-pixel border of real picture around each rectangle to
interpolate from, and refuses a rectangle that touches the frame edge. A region
the user drew up to an edge is therefore shrunk by one pixel on that side; the
outermost row/column of pixels there keeps its original value.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..config import Config
from ..exceptions import ValidationError
from ..media import MediaInfo, atomic_output, mp4_args, probe, run_ffmpeg
from ..media.codecs import audio_args_for_mp4
from ..model import Task
from ..progress import CancelToken, ProgressHook
from . import JobContext, Processor, register
from .base import processing_time_limit

MAX_REGIONS = 20
MIN_REGION_SIZE = 4
#: libx264 settings of the result (also used by the benchmark's bare command)
X264_PRESET = "veryfast"
X264_CRF = 18
OUTPUT_NAME = "output.mp4"

Region = tuple[int, int, int, int]


def validate_regions(regions: Any, width: int, height: int) -> list[Region]:
    """Check ``[[x, y, w, h], …]`` against a ``width``×``height`` frame.

    Errors name the region by its 1-based position and its values, e.g.
    "region 2 [300, 10, 80, 40] extends past the frame width 320".
    """
    if not isinstance(regions, list) or not regions:
        raise ValidationError(
            "regions must be a non-empty list of [x, y, w, h] rectangles", reason="no_regions"
        )
    if len(regions) > MAX_REGIONS:
        raise ValidationError(f"at most {MAX_REGIONS} regions are allowed, {len(regions)} given")
    checked: list[Region] = []
    for number, region in enumerate(regions, start=1):
        if (
            not isinstance(region, list | tuple)
            or len(region) != 4
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in region)
        ):
            raise ValidationError(f"region {number} must be four integers [x, y, w, h]")
        x, y, w, h = region
        label = f"region {number} [{x}, {y}, {w}, {h}]"
        if x < 0 or y < 0:
            raise ValidationError(f"{label} starts outside the frame (x and y must be >= 0)")
        if w < MIN_REGION_SIZE or h < MIN_REGION_SIZE:
            raise ValidationError(
                f"{label} is too small (width and height must be at least {MIN_REGION_SIZE})"
            )
        if x + w > width:
            raise ValidationError(f"{label} extends past the frame width {width}")
        if y + h > height:
            raise ValidationError(f"{label} extends past the frame height {height}")
        checked.append((x, y, w, h))
    return checked


def delogo_filter(regions: list[Region], width: int, height: int) -> str:
    """The ``-vf`` chain: one ``delogo`` per region, kept one pixel inside the frame."""
    parts = []
    for x, y, w, h in regions:
        x1, y1 = max(x, 1), max(y, 1)
        x2, y2 = min(x + w, width - 1), min(y + h, height - 1)
        parts.append(f"delogo=x={x1}:y={y1}:w={x2 - x1}:h={y2 - y1}")
    return ",".join(parts)


def watermark_args(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    regions: list[Region],
    info: MediaInfo,
    *,
    preset: str = X264_PRESET,
    crf: int = X264_CRF,
) -> list[str]:
    """ffmpeg arguments (without the program) removing ``regions`` from ``src``."""
    # -noautorotate: regions are in stored pixels (what probe and extract_frame see),
    # so the filter must see the stored picture, not one turned by rotation metadata
    args = ["-y", "-noautorotate", "-protocol_whitelist", "file", "-i", os.path.abspath(src)]
    args += ["-map", "0:v:0", "-map", "0:a:0?"]
    args += ["-vf", delogo_filter(regions, info.width, info.height)]
    args += ["-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p"]
    args += audio_args_for_mp4(info.audio_codec)
    args += [*mp4_args(), os.fspath(dst)]
    return args


def remove_watermark(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    regions: list[Region] | list[list[int]],
    *,
    progress: ProgressHook | None = None,
    cancel: CancelToken | None = None,
    timeout: float | None = None,
    max_output_bytes: int | None = None,
    preset: str = X264_PRESET,
    crf: int = X264_CRF,
) -> MediaInfo:
    """Write ``src`` without the ``regions`` to ``dst`` (MP4) and return the result's info."""
    info = probe(src)
    checked = validate_regions(list(regions), info.width, info.height)
    with atomic_output(dst) as tmp:
        run_ffmpeg(
            watermark_args(src, tmp, checked, info, preset=preset, crf=crf),
            progress,
            cancel,
            duration=info.duration,
            timeout=timeout,
            max_output_bytes=max_output_bytes,
        )
    return probe(dst)


def input_path(task: Task) -> Path:
    """The task's uploaded video (``inputs[0]["path"]``, else ``input_file_path``)."""
    if task.inputs and task.inputs[0].get("path"):
        return Path(task.inputs[0]["path"])
    if task.input_file_path:
        return Path(task.input_file_path)
    raise ValidationError("upload a video first")


def result_dict(path: Path, info: MediaInfo) -> dict[str, Any]:
    """The ``result`` a processor returns for the file it wrote."""
    return {
        "file_name": path.name,
        "size": path.stat().st_size,
        "duration": round(info.duration, 3),
        "width": info.width,
        "height": info.height,
    }


@register
class WatermarkProcessor(Processor):
    """Remove rectangles (logos, watermarks) from one uploaded video."""

    task_type = "watermark_removal"
    label = "Watermark removal"

    def validate_config(self, task: Task, payload: dict[str, Any], config: Config) -> None:
        media = task.metadata.get("media") or (task.inputs[0].get("media") if task.inputs else None)
        if not media:
            raise ValidationError("upload a video first")
        frame = payload.get("selected_frame", 0)
        if isinstance(frame, bool) or not isinstance(frame, int):
            raise ValidationError("selected_frame must be an integer frame index")
        count = int(media["frame_count"])
        if not 0 <= frame < count:
            raise ValidationError(f"selected_frame {frame} is out of range (0 to {count - 1})")
        regions = validate_regions(payload.get("regions"), media["width"], media["height"])
        task.config["selected_frame"] = frame
        task.config["regions"] = [list(region) for region in regions]

    def time_limit(self, task: Task, config: Config) -> float:
        return processing_time_limit(task, config)

    def run(self, ctx: JobContext) -> dict[str, Any]:
        src = input_path(ctx.task)
        dst = ctx.result_dir / OUTPUT_NAME
        ctx.progress(stage="encoding", percent=0.0)
        info = remove_watermark(
            src,
            dst,
            ctx.task.config.get("regions") or [],
            progress=ctx.report,
            cancel=ctx.cancel,
            timeout=ctx.time_left(),
            max_output_bytes=ctx.config.user_quota_mb * 1024 * 1024,
        )
        return result_dict(dst, info)
