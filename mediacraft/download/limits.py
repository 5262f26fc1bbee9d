"""What the server allows one download: configuration, never a task option.

A visitor tunes a download with :class:`~mediacraft.download.options.DownloadOptions`
(threads, retries, timeouts, ...); those values are judged against these
limits, and the safety caps themselves (size, playlist size, segment count,
recording length) come only from here, so no payload can switch them off.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config import Config

MiB = 1024 * 1024
KiB = 1024


@dataclass(frozen=True)
class DownloadLimits:
    """Server-side bounds of one download. Sizes in bytes, times in seconds."""

    max_total_bytes: int = 20480 * MiB  # bytes fetched by one download
    max_playlist_bytes: int = 8 * MiB  # one playlist (master or media) in memory
    max_segments: int = 50_000  # segments of one media playlist
    max_record_seconds: float = 14_400.0  # longest live recording
    max_threads: int = 32  # concurrent segment fetches a visitor may ask for
    min_limit_rate: int = 256 * KiB  # slowest limit_rate a visitor may set
    lowest_speed: int = 10 * KiB  # slower than this on average over the window fails; 0: off
    lowest_speed_window: float = 60.0
    quota: int | None = None  # bytes left of the visitor's storage quota (None: no quota)
    extractors: str = "all"  # videos on web pages: all | generic | off (yt-dlp's extractors)
    extraction_seconds: float = 60.0  # longest look for the video on a page
    proxy: str | None = None  # the server's outbound proxy (http://, socks5://...)

    @classmethod
    def from_config(cls, config: Config, *, visitor: bool = True) -> DownloadLimits:
        """The limits of ``config``; ``visitor=False`` is a local user (the CLI), who owns
        the machine: no floor under ``limit_rate``.
        """
        return cls(
            max_total_bytes=config.max_download_mb * MiB,
            max_playlist_bytes=config.max_playlist_kb * KiB,
            max_segments=config.max_segments,
            max_record_seconds=float(config.max_record_seconds),
            max_threads=config.max_download_threads,
            min_limit_rate=config.min_limit_rate_kb * KiB if visitor else KiB,
            lowest_speed=config.lowest_speed_kb * KiB,
            lowest_speed_window=float(config.lowest_speed_seconds),
            extractors=config.extractors,
            extraction_seconds=float(config.extraction_seconds),
            proxy=config.proxy or None,
        )

    def with_quota(self, remaining: int | None) -> DownloadLimits:
        return replace(self, quota=None if remaining is None else max(0, remaining))


#: option names that used to be task options and are server settings now
SERVER_SETTINGS = {
    "max_total_bytes": "MEDIACRAFT_MAX_DOWNLOAD_MB",
    "max_playlist_bytes": "MEDIACRAFT_MAX_PLAYLIST_KB",
    "max_segments": "MEDIACRAFT_MAX_SEGMENTS",
}

__all__ = ["SERVER_SETTINGS", "DownloadLimits"]
