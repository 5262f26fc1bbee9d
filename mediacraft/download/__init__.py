"""The download engine: HLS (renditions, live) and direct files to MP4, guarded, resumable.

Public API::

    from mediacraft.download import DownloadOptions, download

    result = download(url, "out.mp4", DownloadOptions.from_profile("fast"),
                      work_dir=tmp, progress=hook, cancel=token, log=print,
                      limits=DownloadLimits(), allowed_networks=("127.0.0.1",))
"""

from __future__ import annotations

from .engine import DownloadResult, clean_work_dir, download
from .guard import blocked_reason, check_url, guarded_session
from .limits import DownloadLimits
from .options import DEFAULT_PROFILE, PROFILES, DownloadOptions, parse_rate

__all__ = [
    "DEFAULT_PROFILE",
    "PROFILES",
    "DownloadLimits",
    "DownloadOptions",
    "DownloadResult",
    "blocked_reason",
    "check_url",
    "clean_work_dir",
    "download",
    "guarded_session",
    "parse_rate",
]
