"""Media handling on the bundled ffmpeg and PyAV: probing, frames, running ffmpeg.

``__init__`` only re-exports, lazily: importing the package (or one of its
light modules, ``media.ffmpeg`` and ``media.output``) does not load PyAV,
which takes a fifth of a second; the download engine must start its first
request without waiting for it. A name is imported from its module the first
time it is asked for.
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

from ..lazy_exports import lazy_exports

#: public name -> the module of this package that defines it
_HOMES = {
    "FfmpegFailed": "ffmpeg",
    "FfmpegResult": "ffmpeg",
    "ffmpeg_exe": "ffmpeg",
    "kill_group": "ffmpeg",
    "run_ffmpeg": "ffmpeg",
    "extract_frame": "frames",
    "BITEXACT": "output",
    "atomic_output": "output",
    "faststart_args": "output",
    "mp4_args": "output",
    "ALLOWED_FORMATS": "probe",
    "DecodeBudget": "probe",
    "MediaInfo": "probe",
    "StreamsInfo": "probe",
    "media_metadata": "probe",
    "probe": "probe",
    "probe_streams": "probe",
    "probe_upload": "probe",
}

if TYPE_CHECKING:
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


class _Package(types.ModuleType):
    """Keeps ``media.probe`` the function when the ``probe`` submodule is loaded.

    The import system binds a loaded submodule to its package's attribute of
    the same name; ``probe`` is both, and callers mean the function.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and _HOMES.get(name) == name:
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


__getattr__ = lazy_exports(__name__, _HOMES)


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
