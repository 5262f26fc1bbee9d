"""The tracks of one HLS download: the variant and each rendition, with their segments.

A track's segment list grows while a live recording runs and its URLs change
when the playlist is fetched again for fresh (signed) links; both happen under
the track's lock, while workers read single entries.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from .playlist import Grouping, Segment


@dataclass(eq=False)
class Track:
    """One media playlist being downloaded."""

    id: str  # short and stable across attempts: names its files ("v", "a1", "s1")
    kind: str  # "main" (the variant), "audio" or "subtitles"
    url: str  # the media playlist's URL as last fetched (it may carry a token)
    segments: list[Segment]  # the segments from index ``base`` on
    language: str | None = None
    name: str = ""
    live: bool = False
    finished: bool = True  # no segment will be added (VOD, or a recording that ended)
    target_duration: float = 0.0
    grouping: Grouping = field(default_factory=Grouping)
    source: object | None = None  # how to fetch the playlist again (a refresh.Source)
    generation: int = 0  # bumped each time the URLs are refreshed
    base: int = 0  # index of segments[0] (a resumed recording keeps only what is new)
    lock: threading.RLock = field(default_factory=threading.RLock)

    @property
    def label(self) -> str:
        """How messages name a segment of this track ("Segment", "Audio segment", ...)."""
        if self.kind == "audio":
            return "Audio segment" if not self.language else f"Audio ({self.language}) segment"
        if self.kind == "subtitles":
            return "Subtitle segment"
        return "Segment"

    def segment(self, index: int) -> Segment:
        with self.lock:
            return self.segments[index - self.base]

    def count(self) -> int:
        """The index after the last known segment."""
        with self.lock:
            return self.base + len(self.segments)


__all__ = ["Track"]
