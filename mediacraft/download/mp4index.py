"""Which bytes of an MP4/MOV file a time range needs, from its index alone.

The index (``moov``: stts, ctts, stss, stsc, stsz, stco/co64 and the edit
lists of every track) is read by libavformat through PyAV, the demuxer that
ffmpeg's cut uses afterwards, not by a second MP4 parser that could disagree
with it on an edge case. PyAV opens an in-memory view of the file made of
the top-level boxes read so far and zeros everywhere else (no local file,
no network), seeks to ``start`` as ``ffmpeg -ss`` does (the video keyframe
at or before it, the other tracks from that time), and demuxes without
decoding: each packet's ``pos`` and ``size`` are the byte range of one sample.

The ranges returned cover, for every track, the samples from a little before
that keyframe to a little after ``end`` (the margins absorb a different
rounding in ffmpeg's own seek), and the first samples of the file, which
ffmpeg and PyAV decode while probing the streams when they open it.
"""

from __future__ import annotations

import bisect
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

#: seconds of every track kept before the keyframe the cut starts at, and after ``end``
START_MARGIN = 0.25
END_MARGIN = 0.5
#: the first samples of each track, decoded when the file is opened (stream probing)
HEAD_SECONDS = 0.25
HEAD_PACKETS = 4
#: byte ranges this close together are fetched as one
MERGE_GAP = 64 * 1024


class NotIndexable(Exception):
    """The index does not give usable byte ranges; ``str`` says why."""


@dataclass(frozen=True)
class ClipIndex:
    duration: float | None  # of the whole file, seconds
    keyframe: float  # where the cut starts (seconds, the keyframe's presentation time)
    ranges: list[tuple[int, int]] = field(default_factory=list)  # (offset, end), merged

    @property
    def needed(self) -> int:
        return sum(end - offset for offset, end in self.ranges)


class SparseView(io.RawIOBase):
    """A read-only file of ``size`` bytes: ``blocks`` (offset, data) where known, else zeros."""

    def __init__(self, size: int, blocks: Iterable[tuple[int, bytes]]) -> None:
        super().__init__()
        self.size = size
        self.blocks = sorted((offset, data) for offset, data in blocks if data)
        self.starts = [offset for offset, _ in self.blocks]
        self.position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        self.position = max(0, base + offset)
        return self.position

    def readinto(self, buffer: Any) -> int:
        count = max(0, min(len(buffer), self.size - self.position))
        view = memoryview(buffer)[:count]
        view[:] = bytes(count)
        low, high = self.position, self.position + count
        number = max(0, bisect.bisect_right(self.starts, low) - 1)
        while number < len(self.blocks) and self.blocks[number][0] < high:
            offset, data = self.blocks[number]
            first, last = max(offset, low), min(offset + len(data), high)
            if first < last:
                view[first - low : last - low] = data[first - offset : last - offset]
            number += 1
        self.position = high
        return count


def merge(ranges: Iterable[tuple[int, int]], gap: int = MERGE_GAP) -> list[tuple[int, int]]:
    """Sorted, overlapping or ``gap``-close ranges joined into one."""
    merged: list[list[int]] = []
    for offset, end in sorted(ranges):
        if merged and offset <= merged[-1][1] + gap:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([offset, end])
    return [(offset, end) for offset, end in merged]


def _seconds(packet: Any) -> float | None:
    stamp = packet.dts if packet.dts is not None else packet.pts
    return None if stamp is None else float(stamp * packet.stream.time_base)


def clip_index(
    size: int,
    blocks: Iterable[tuple[int, bytes]],
    media: list[tuple[int, int]],
    start: float,
    end: float | None,
) -> ClipIndex:
    """The byte ranges of ``[start, end)`` (``end`` None: to the end) in every track.

    ``blocks`` are the bytes known (the top-level boxes read), ``media`` the
    (offset, end) spans of the ``mdat`` boxes: every sample must lie in one.
    Raises :class:`NotIndexable`.
    """
    import av

    view = SparseView(size, blocks)
    try:
        # No probing of the (absent) media: the index is all that is read here.
        with av.open(view, format="mov", options={
            "probesize": "32", "analyzeduration": "0", "fflags": "+noparse",
        }) as container:  # fmt: skip
            streams = [s for s in container.streams if s.type in ("video", "audio", "subtitle")]
            if not streams:
                raise NotIndexable("it has no video or audio track")
            duration = container.duration / 1_000_000 if container.duration else None
            origin = container.start_time or 0
            wanted = {s.index for s in streams}
            timed = {s.index for s in streams if s.type != "subtitle"}  # subtitles are sparse
            ranges = _head(container, timed)
            main = next((s for s in streams if s.type == "video"), streams[0])
            found = _keyframe(container, main, origin + int(start * 1_000_000))
            if found is None:
                raise NotIndexable(f"no sample at or after {start:g} s")
            decoded, keyframe = found
            ranges += _window(container, wanted, timed, decoded - START_MARGIN, end)
    except NotIndexable:
        raise
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise NotIndexable(f"its index could not be read ({exc})") from exc
    for offset, length in ranges:
        if not any(low <= offset and offset + length <= high for low, high in media):
            raise NotIndexable(f"a sample at byte {offset} lies outside the media data")
    merged = merge((offset, offset + length) for offset, length in ranges)
    return ClipIndex(duration=duration, keyframe=keyframe, ranges=merged)


def _collect(packet: Any, ranges: list[tuple[int, int]]) -> None:
    if packet.size <= 0:
        return
    if packet.pos is None or packet.pos < 0:
        raise NotIndexable("a sample has no position in the file")
    ranges.append((int(packet.pos), int(packet.size)))


def _head(container: Any, wanted: set[int]) -> list[tuple[int, int]]:
    """The first samples of every track (what opening the file decodes)."""
    ranges: list[tuple[int, int]] = []
    first: dict[int, float] = {}
    count: dict[int, int] = {}
    satisfied: set[int] = set()
    for number, packet in enumerate(container.demux()):
        index = packet.stream.index
        when = _seconds(packet)
        if index not in wanted or when is None:
            continue
        first.setdefault(index, when)
        count[index] = count.get(index, 0) + 1
        if count[index] > HEAD_PACKETS and when >= first[index] + HEAD_SECONDS:
            satisfied.add(index)
        else:
            _collect(packet, ranges)
        if satisfied >= wanted or number > 20000:
            break
    return ranges


def _keyframe(container: Any, main: Any, timestamp: int) -> tuple[float, float] | None:
    """Where ``ffmpeg -ss`` starts: (decode, presentation) time of the main track's first
    packet after a backward seek to ``timestamp`` (microseconds, the container's clock)."""
    container.seek(timestamp, backward=True)
    for packet in container.demux(main):
        when = _seconds(packet)
        if when is not None:
            shown = when if packet.pts is None else float(packet.pts * packet.stream.time_base)
            return when, shown
    return None


def _window(container: Any, wanted: set[int], timed: set[int], begin: float,
            end: float | None) -> list[tuple[int, int]]:  # fmt: skip
    """Every sample of the tracks in ``wanted`` from ``begin`` (seconds on the tracks'
    clock) to past ``end``; the demux stops once every track in ``timed`` is past it."""
    container.seek(max(0, int(begin * 1_000_000)), backward=True)
    ranges: list[tuple[int, int]] = []
    finished: set[int] = set()
    stop = None if end is None else end + END_MARGIN
    for packet in container.demux():
        index = packet.stream.index
        when = _seconds(packet)
        if index not in wanted or when is None or index in finished:
            continue
        if when < begin:
            continue
        if stop is not None and when > stop:
            finished.add(index)
            if finished >= timed:
                break
            continue
        _collect(packet, ranges)
    return ranges


__all__ = ["ClipIndex", "NotIndexable", "SparseView", "clip_index", "merge"]
