"""Whether a link looks like media by its path alone (no request, no heavy imports).

A link whose path ends like a media file or a manifest is the engine's without
asking yt-dlp's site extractors whether one of them claims it; the command line
uses the same test to decide whether its first request may leave before the
engine (and yt-dlp's URL patterns) are loaded.
"""

from __future__ import annotations

from urllib.parse import urlsplit

MEDIA_SUFFIXES = (".mp4", ".m4v", ".m4a", ".m4s", ".mov", ".mkv", ".webm", ".ts", ".m2ts",
                  ".mp3", ".aac", ".flac", ".ogg", ".ogv", ".opus", ".wav", ".flv", ".avi",
                  ".m3u8", ".m3u", ".mpd", ".f4m", ".ism")  # fmt: skip


def looks_like_media(url: str) -> bool:
    """Whether the link's path ends like a media file or a manifest."""
    return urlsplit(url).path.lower().endswith(MEDIA_SUFFIXES)


__all__ = ["MEDIA_SUFFIXES", "looks_like_media"]
