"""The download engine: HLS (renditions, live) and direct files to MP4, guarded, resumable.

Public API::

    from mediacraft.download import DownloadOptions, download

    result = download(url, "out.mp4", DownloadOptions.from_profile("fast"),
                      work_dir=tmp, progress=hook, cancel=token, log=print,
                      limits=DownloadLimits(), allowed_networks=("127.0.0.1",))

The names are re-exported lazily: importing the package or one of its light
modules (``options``, ``limits``, ``addresses``, ``first``) does not load the
engine and requests, so ``mediacraft download`` can send its first request
before they are imported (first.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy_exports import lazy_exports

#: public name -> the module of this package that defines it
_HOMES = {
    "DownloadResult": "engine",
    "clean_work_dir": "engine",
    "download": "engine",
    "blocked_reason": "addresses",
    "check_url": "addresses",
    "guarded_session": "guard",
    "DownloadLimits": "limits",
    "DEFAULT_PROFILE": "options",
    "PROFILES": "options",
    "DownloadOptions": "options",
    "parse_rate": "options",
}

if TYPE_CHECKING:
    from .addresses import blocked_reason, check_url
    from .engine import DownloadResult, clean_work_dir, download
    from .guard import guarded_session
    from .limits import DownloadLimits
    from .options import DEFAULT_PROFILE, PROFILES, DownloadOptions, parse_rate


__getattr__ = lazy_exports(__name__, _HOMES)


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
