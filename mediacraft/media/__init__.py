"""Media handling on the bundled ffmpeg and PyAV: probing, frames, running ffmpeg.

``__init__`` only re-exports; each module has one job.
"""

from __future__ import annotations

from .ffmpeg import FfmpegResult, ffmpeg_exe, run_ffmpeg
from .frames import extract_frame
from .output import atomic_output
from .probe import (
    ALLOWED_FORMATS,
    DecodeBudget,
    MediaInfo,
    media_metadata,
    probe,
    probe_upload,
)

__all__ = [
    "ALLOWED_FORMATS",
    "DecodeBudget",
    "FfmpegResult",
    "MediaInfo",
    "atomic_output",
    "extract_frame",
    "ffmpeg_exe",
    "media_metadata",
    "probe",
    "probe_upload",
    "run_ffmpeg",
]
