"""Fetching a track's media playlist again: for live reloads and for fresh signed links.

Signed (tokenised) links expire: a segment answered 403 or 410 gets one new
copy of its playlist, and its new URL is found by media sequence number
(live) or position (VOD). When the media playlist's own link has expired
too and the track came from a master playlist, the master is fetched again
and the same variant or rendition is looked up in it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from ..exceptions import DownloadError
from ..progress import LogHook, ignore_log
from .fetch import Fetcher, LinkExpired
from .guard import check_url
from .playlist import MediaPlaylist, Segment, media_playlist, parse, short_name
from .tracks import Track

EXPIRED = frozenset({403, 410})


@dataclass
class Source:
    """Where a track's playlist comes from: its URL, or a master playlist and a picker."""

    master_url: str | None = None
    #: given a freshly parsed master and its URL, the track's media playlist URL
    pick: Callable[[object, str], str] | None = None


def check_segment_urls(segments: list[Segment]) -> None:
    """Refuse any segment, key or init URL that is not plain http(s) (data: keys aside)."""
    for seg in segments:
        check_url(seg.uri)
        if seg.key and not seg.key.uri.startswith("data:"):
            check_url(seg.key.uri)
        if seg.init:
            check_url(seg.init.uri)


class Refresher:
    """Loads playlists for tracks; one instance serves a whole download."""

    def __init__(
        self, fetcher: Fetcher, max_playlist_bytes: int, max_segments: int,
        log: LogHook | None = None,
    ) -> None:  # fmt: skip
        self.fetcher = fetcher
        self.max_playlist_bytes = max_playlist_bytes
        self.max_segments = max_segments
        self.log = log or ignore_log

    def fetch(self, url: str, what: str = "The playlist") -> tuple[str, str]:
        """(text, final URL) of a playlist; LinkExpired for 403/410."""
        body, final = self.fetcher.get_bytes(
            url, what, max_bytes=self.max_playlist_bytes, expired_status=EXPIRED
        )
        return body.decode("utf-8-sig", "replace"), final

    def load(self, track: Track) -> MediaPlaylist:
        """The track's media playlist as it is now, through the master if its link expired."""
        try:
            text, final = self.fetch(track.url, f"The playlist {short_name(track.url)}")
        except LinkExpired as exc:
            source = track.source
            if not isinstance(source, Source) or source.master_url is None or source.pick is None:
                raise DownloadError(
                    f"The playlist {short_name(track.url)} returned HTTP {exc.status}: the link "
                    "has expired or needs a login"
                ) from None
            self.log(f"The playlist returned HTTP {exc.status}: fetching the master playlist again")
            master_text, master_final = self.fetch(source.master_url, "The master playlist")
            master = parse(master_text, master_final)
            track.url = source.pick(master, master_final)
            check_url(track.url)
            try:
                text, final = self.fetch(track.url, f"The playlist {short_name(track.url)}")
            except LinkExpired as again:
                raise DownloadError(
                    f"The playlist returned HTTP {again.status} even from a fresh master "
                    "playlist: the link has expired or needs a login"
                ) from None
        playlist = media_playlist(parse(text, final), final, self.max_segments)
        check_segment_urls(playlist.segments)
        return playlist

    def refresh(self, track: Track, generation: int) -> None:
        """Give ``track`` fresh segment URLs, unless another worker already did."""
        with track.lock:
            if track.generation != generation:
                return
            fresh = self.load(track)
            by_sequence = {seg.sequence: seg for seg in fresh.segments}
            if not track.live and len(fresh.segments) != track.count():
                raise DownloadError(
                    f"The playlist changed while it was being downloaded ({track.count()} "
                    f"segments, now {len(fresh.segments)})"
                )
            updated = []
            for old in track.segments:
                new = fresh.segments[old.index] if not track.live else by_sequence.get(old.sequence)
                if new is None or abs(new.duration - old.duration) > 0.01:
                    updated.append(old)
                    continue
                updated.append(replace(old, uri=new.uri, key=new.key, init=new.init))
            track.segments[:] = updated
            track.generation += 1
        self.log(f"Fresh links for {track.count()} segments from {short_name(track.url)}")


__all__ = ["Refresher", "Source", "check_segment_urls"]
