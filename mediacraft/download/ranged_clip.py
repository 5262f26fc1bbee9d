"""A time range of a direct MP4/MOV file: fetch only the bytes that cover it.

When a direct link is an ISO BMFF file of known size on a server that
honours ``Range``, :func:`plan_clip` reads the file's top-level boxes
(``mp4layout``: the first response while it is sequential, then small ranged
requests, so a ``moov`` after the ``mdat`` costs a few KiB), and from the
``moov`` the byte ranges of the samples the cut needs (``mp4index``).
:class:`ClipDownload` then fetches only those ranges with the direct
engine's parts (concurrent, retried, checkpointed, with the progress total
being the bytes needed) into a sparse file of the file's full size that
holds the boxes read and those samples at their own offsets, zeros
elsewhere: the usual cut (``clip.finish``, ffmpeg seeking to ``start``)
reads only bytes that are there.

Anything else falls back to fetching the whole file, with a log line saying
why: an unknown size, another container, a fragmented MP4, a server that
answers a ranged request with the whole file or another range, an index
that does not add up, or a range that covers most of the file anyway.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..progress import CancelToken, LogHook
from .clip import whole_file_cut
from .fetch import Body, ByteRange, Fetcher, Retryable
from .http import DirectDownload, RemoteFile
from .mp4index import NotIndexable, clip_index, merge
from .mp4layout import Box, LayoutError, read_layout
from .options import DownloadOptions
from .sniff import media_suffix
from .tracker import Tracker
from .watchdog import SpeedFloor

#: a ranged read of the layout asks for at least this much (the next box header is near)
READ_BLOCK = 64 * 1024
#: the first response is read on (not replaced by a ranged request) across gaps this small
READ_THROUGH = 64 * 1024
#: past this share of the file, fetching the whole file is as good
MOST_OF_THE_FILE = 0.8
#: the parts fetched at once never exceed this many
MAX_PARTS = 16
MiB = 1024 * 1024

_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


class Unsuitable(Exception):
    """The server's answers rule out ranged reads; ``str`` says why."""


@dataclass
class ClipPlan:
    blocks: list[tuple[int, bytes]]  # what the layout read: box headers, moov, ...
    ranges: list[tuple[int, int]]  # (offset, end) of the samples still to fetch
    keyframe: float
    duration: float | None

    @property
    def needed(self) -> int:
        return sum(end - offset for offset, end in self.ranges)


@dataclass
class ClipRemote(RemoteFile):
    """The remote file, with the ranges in its fingerprint (a checkpoint of another
    range, or of the whole file, is not resumed as this one)."""

    clip: str = ""

    def fingerprint(self) -> str:
        return hashlib.sha256((super().fingerprint() + "\n" + self.clip).encode()).hexdigest()


class _Source:
    """Reads of the remote file for the layout: from the open first response while the
    reads go forward, then by bounded ranged requests (each checked to be honoured)."""

    def __init__(self, fetcher: Fetcher, url: str, size: int, first: Body, head: bytes) -> None:
        self.fetcher = fetcher
        self.url = url
        self.size = size
        self.first: Body | None = first
        self.seen = bytearray(head)  # everything the first response gave, from byte 0
        self._block = (0, b"")  # the last ranged read
        self.whole: Body | None = None  # a ranged request answered with the whole file

    def read(self, offset: int, length: int) -> bytes:
        end = offset + length
        if end <= len(self.seen):
            return bytes(self.seen[offset:end])
        if self.first is not None and offset <= len(self.seen) + READ_THROUGH:
            try:
                self.first.read(self.seen.extend, until=end)
            except Retryable:  # the rest comes by ranged requests, with retries
                self.close_first()
            if len(self.seen) >= end:
                return bytes(self.seen[offset:end])
        self.close_first()
        start, data = self._block
        if start <= offset and end <= start + len(data):
            return data[offset - start : end - start]
        length_asked = min(max(length, READ_BLOCK), self.size - offset)
        data = self._ranged(offset, length_asked)
        self._block = (offset, data)
        return data[:length]

    def _ranged(self, offset: int, length: int) -> bytes:
        def attempt(_number: int) -> bytes:
            body = self.fetcher.open(self.url, ByteRange(offset, length))
            keep = False
            try:
                if body.status != 206:
                    # The whole file from byte 0: the whole-file download reads it on.
                    body.skip, body.want = 0, None
                    self.whole, keep = body, True
                    raise Unsuitable("the server ignored the byte range and sent the whole file")
                match = _CONTENT_RANGE.fullmatch(body.headers.get("Content-Range", "").strip())
                if not match or int(match[1]) != offset or int(match[2]) != offset + length - 1:
                    raise Unsuitable("the server answered a byte range other than the one asked")
                if match[3] != "*" and int(match[3]) != self.size:
                    raise Unsuitable("the file's size changed between requests")
                parts: list[bytes] = []
                body.read(parts.append)
                return b"".join(parts)
            finally:
                if not keep:
                    body.close()

        return self.fetcher.retrying("The file's index", attempt)

    def close_first(self) -> None:
        if self.first is not None:
            self.first.close()
            self.first = None

    def close(self) -> None:
        self.close_first()
        if self.whole is not None:
            self.whole.close()
            self.whole = None

    def leftover(self) -> tuple[Body | None, bytes]:
        """An open response the whole-file download can read on, and its bytes so far: the
        first response, or a ranged request's answer that was the whole file."""
        first, self.first = self.first, None
        if first is not None:
            return first, bytes(self.seen)
        whole, self.whole = self.whole, None
        return whole, b""


def _blocks(boxes: list[Box]) -> list[tuple[int, bytes]]:
    return [(box.offset, box.data if box.data is not None else box.header) for box in boxes]


def plan_clip(
    fetcher: Fetcher,
    remote: RemoteFile,
    first: Body,
    head: bytes,
    options: DownloadOptions,
    log: LogHook,
) -> tuple[ClipPlan | None, Body | None, bytes]:
    """(plan, first response, its bytes read): a plan when ranged reads work, else None
    with the first response still open when it can be read on (or None and ``b""``).

    Raises ValidationError when the range lies outside the video (known from its index).
    """
    size = remote.size
    if size is None:
        log("Time range: the server did not give the file's size; fetching the whole file")
        return None, first, head
    if media_suffix(head) != ".mp4":
        log("Time range: the file is not MP4/MOV; fetching the whole file, then cutting it")
        return None, first, head
    source = _Source(fetcher, remote.url, size, first, head)
    try:
        boxes = read_layout(source.read, size)
        media = [(box.offset + len(box.header), box.end) for box in boxes if box.kind == b"mdat"]
        blocks = _blocks(boxes)
        index = clip_index(size, blocks, media, options.start or 0.0, options.end)
        whole_file_cut(options, index.duration)  # a range outside the video is refused now
        known = merge((offset, offset + len(data)) for offset, data in blocks)
        ranges = _subtract(index.ranges, known)
        plan = ClipPlan(blocks, ranges, index.keyframe, index.duration)
        if plan.needed > MOST_OF_THE_FILE * size:
            raise Unsuitable(f"the range needs {plan.needed * 100 // size} % of the file")
    except (LayoutError, NotIndexable, Unsuitable) as exc:
        first_left, seen = source.leftover()
        log(f"Time range: fetching the whole file, then cutting it ({exc})")
        return None, first_left, seen
    except BaseException:
        source.close()
        raise
    source.close()
    end = f"{options.end:g}" if options.end is not None else "the end"
    log(f"Time range {options.start or 0:g}-{end} s of a {size / MiB:.1f} MiB file: fetching "
        f"{plan.needed / MiB:.2f} MiB in {len(plan.ranges)} byte range(s), from the keyframe "
        f"at {max(0.0, plan.keyframe):.2f} s")  # fmt: skip
    return plan, None, b""


def _subtract(ranges: list[tuple[int, int]], known: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``ranges`` less the bytes already read (the layout's boxes)."""
    left: list[tuple[int, int]] = []
    for offset, end in ranges:
        pieces = [(offset, end)]
        for low, high in known:
            cut = []
            for a, b in pieces:
                cut += [p for p in ((a, min(b, low)), (max(a, high), b)) if p[0] < p[1]]
            pieces = cut
        left += pieces
    return left


def split_parts(ranges: list[tuple[int, int]], options: DownloadOptions) -> list[list[int]]:
    """The parts fetched at once: the ranges, a large total cut into ``connections``."""
    gap = 4 * READ_THROUGH
    while len(ranges) > MAX_PARTS:  # many small ranges: join across larger gaps
        ranges, gap = merge(ranges, gap), gap * 4
    total = sum(end - offset for offset, end in ranges)
    if total < options.split_threshold or options.connections <= 1:
        return [[offset, end, 0] for offset, end in ranges]
    piece = max(MiB, -(-total // options.connections))
    parts = []
    for offset, end in ranges:
        parts += [[low, min(low + piece, end), 0] for low in range(offset, end, piece)]
    if len(parts) > MAX_PARTS:
        return [[offset, end, 0] for offset, end in ranges]
    return parts


class ClipDownload(DirectDownload):
    """The direct engine fetching only the plan's ranges into a sparse file of the full size."""

    def __init__(
        self,
        fetcher: Fetcher,
        remote: RemoteFile,
        work_dir: Path,
        options: DownloadOptions,
        tracker: Tracker,
        cancel: CancelToken,
        plan: ClipPlan,
        *,
        speed_floor: SpeedFloor | None = None,
    ) -> None:
        key = ",".join(f"{offset}-{end}" for offset, end in plan.ranges)
        clip_remote = ClipRemote(**vars(remote), clip=key)
        super().__init__(fetcher, clip_remote, work_dir, options, tracker, cancel,
                         speed_floor=speed_floor)  # fmt: skip
        self.plan = plan

    def bytes_wanted(self) -> int | None:
        return self.plan.needed

    def _plan(self) -> list[list[int]]:
        return split_parts(self.plan.ranges, self.options) or [[0, 0, 0]]

    def _restore(self) -> None:
        super()._restore()
        for offset, data in self.plan.blocks:  # the boxes read for the index, in place
            view = memoryview(data)
            while view:
                written = os.pwrite(self._fd, view, offset)
                view, offset = view[written:], offset + written


__all__ = ["ClipDownload", "ClipPlan", "Unsuitable", "plan_clip", "split_parts"]
