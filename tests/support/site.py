"""A video site on the loopback origin, and the yt-dlp extractor written for it.

Like the sites yt-dlp has extractors for, its links are not media and not HTML:
``/site/watch/<id>`` answers JSON (as a site's API or player configuration
does) listing where the video is::

    {"title": "...", "formats": [{"kind": "file" | "hls" | "dash", "url": "...",
                                  "vcodec": "...", "acodec": "none", ...}]}

:class:`LoopbackSiteIE` is a real ``InfoExtractor``: it claims those URLs by
its ``_VALID_URL``, fetches the JSON with headers of its own (as site
extractors do, so a test can see the task's headers win), and lists the
formats; manifests are read by yt-dlp itself (``_extract_m3u8_formats``,
``_extract_mpd_formats``). Tests register it with :func:`registered`.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

from yt_dlp.extractor.common import InfoExtractor

from mediacraft.download import extract

from .origin import Origin

SITE_USER_AGENT = "LoopbackSiteApp/1.0"
SITE_REFERER = "http://site.invalid/player"
#: the fields of a listed format copied onto what the extractor returns
FORMAT_FIELDS = ("vcodec", "acodec", "width", "height", "tbr", "ext", "language")


class LoopbackSiteIE(InfoExtractor):
    """The loopback site's watch links, whatever the port."""

    IE_NAME = "loopbacksite"
    _VALID_URL = r"https?://127\.0\.0\.1:\d+/site/watch/(?P<id>[\w.-]+)"

    def _real_extract(self, url: str) -> dict[str, Any]:
        video_id = self._match_id(url)
        headers = {"User-Agent": SITE_USER_AGENT, "Referer": SITE_REFERER}
        data = self._download_json(url, video_id, headers=headers)
        formats: list[dict[str, Any]] = []
        for number, item in enumerate(data["formats"]):
            if item["kind"] == "hls":
                found = self._extract_m3u8_formats(
                    item["url"], video_id, "mp4", m3u8_id=f"hls{number}", headers=headers
                )
            elif item["kind"] == "dash":
                found = self._extract_mpd_formats(
                    item["url"], video_id, mpd_id=f"dash{number}", headers=headers
                )
            else:
                found = [{"url": item["url"], "format_id": f"file{number}", "ext": "mp4"}]
            for fmt in found:
                fmt.update({k: item[k] for k in FORMAT_FIELDS if k in item})
            formats += found
        return {"id": video_id, "title": data["title"], "formats": formats}


def add_video(origin: Origin, video_id: str, title: str, formats: list[dict[str, Any]]) -> str:
    """Publish a video's JSON on the site; returns its watch link."""
    body = json.dumps({"title": title, "formats": formats}).encode()
    return origin.add_file(f"site/watch/{video_id}", body)


@contextlib.contextmanager
def registered() -> Iterator[type[LoopbackSiteIE]]:
    """The site's extractor known to MediaCraft (``EXTRA_EXTRACTORS``) while in the block."""
    extract.EXTRA_EXTRACTORS.append(LoopbackSiteIE)
    try:
        yield LoopbackSiteIE
    finally:
        extract.EXTRA_EXTRACTORS.remove(LoopbackSiteIE)


__all__ = ["SITE_REFERER", "SITE_USER_AGENT", "LoopbackSiteIE", "add_video", "registered"]
