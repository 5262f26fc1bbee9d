"""Media handling on the bundled ffmpeg and PyAV: probing, frames, running ffmpeg.

``__init__`` only re-exports; each module has one job. Importing the package
loads PyAV: the download engine, which must start without it, imports
``media.ffmpeg`` and ``media.output`` where it first runs ffmpeg.
"""

from __future__ import annotations

from .ffmpeg import FfmpegFailed, FfmpegResult, ffmpeg_exe, kill_group, run_ffmpeg
from .frames import extract_frame
from .output import BITEXACT, atomic_output, faststart_args, mp4_args
from .probe import (
    ALLOWED_FORMATS,
    DecodeBudget,
    MediaInfo,
    StreamsInfo,
    media_metadata,
    probe,
    probe_streams,
    probe_upload,
)

__all__ = [
    "ALLOWED_FORMATS",
    "BITEXACT",
    "DecodeBudget",
    "FfmpegFailed",
    "FfmpegResult",
    "MediaInfo",
    "StreamsInfo",
    "atomic_output",
    "extract_frame",
    "faststart_args",
    "ffmpeg_exe",
    "kill_group",
    "media_metadata",
    "mp4_args",
    "probe",
    "probe_streams",
    "probe_upload",
    "run_ffmpeg",
]
