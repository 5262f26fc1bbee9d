"""Direct files: streamed to disk in chunks, resumed with HTTP Range, optionally split.

The response to the first request (the one that told the engine this is a
file, not a playlist) is read on as the file's first part: one request for a
small file, and a one-time link works. A large file on a server that honours
Range is cut into ``connections`` parts fetched at once, each written in
place with ``os.pwrite``; memory stays a few chunks per connection whatever
the size. The checkpoint records each part's progress (saved after the data
it describes is on disk) and the validators (size, ETag, Last-Modified) so
a changed file starts over.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from ..exceptions import DownloadError
from ..progress import CancelToken
from .checkpoint import Checkpoint
from .fetch import Body, ByteRange, Fetcher
from .options import DownloadOptions
from .tracker import Tracker
from .watchdog import SpeedFloor

KIND = "direct"
PART_NAME = "direct.part"


@dataclass
class RemoteFile:
    url: str
    size: int | None
    ranges: bool
    etag: str = ""
    last_modified: str = ""

    @classmethod
    def from_headers(cls, url: str, status: int, headers: dict) -> RemoteFile:
        length = headers.get("Content-Length", "")
        size = int(length) if status == 200 and length.isdigit() else None
        return cls(
            url=url,
            size=size,
            ranges=headers.get("Accept-Ranges", "").lower() == "bytes",
            etag=headers.get("ETag", ""),
            last_modified=headers.get("Last-Modified", ""),
        )

    def fingerprint(self) -> str:
        text = "\n".join([self.url, str(self.size), self.etag, self.last_modified])
        return hashlib.sha256(text.encode()).hexdigest()


class RangeIgnored(Exception):
    """A ranged request answered 200 with the whole file."""


class DirectDownload:
    """Download ``remote`` to ``work_dir/direct.part``; :meth:`run` returns the path."""

    def __init__(
        self,
        fetcher: Fetcher,
        remote: RemoteFile,
        work_dir: Path,
        options: DownloadOptions,
        tracker: Tracker,
        cancel: CancelToken,
        *,
        first: Body | None = None,
        head: bytes = b"",
        speed_floor: SpeedFloor | None = None,
    ) -> None:
        self.fetcher = fetcher
        self.remote = remote
        self.path = work_dir / PART_NAME
        self.options = options
        self.tracker = tracker
        self.cancel = cancel
        self.checkpoint = Checkpoint(work_dir)
        self.parts: list[list[int]] = []  # [start, end (exclusive), done]
        self.speed_floor = speed_floor
        self._first = first  # the open first response, read from ``len(head)`` on
        self._head = head
        self._fd = -1
        self._lock = threading.Lock()
        self._last_save = 0.0

    def _plan(self) -> list[list[int]]:
        size = self.remote.size
        if size is None or not self.remote.ranges:
            return [[0, -1, 0]]
        count = 1
        if size >= self.options.split_threshold:
            count = self.options.connections
        step = -(-size // count)
        return [[start, min(start + step, size), 0] for start in range(0, size, step)] or [
            [0, 0, 0]
        ]

    def bytes_wanted(self) -> int | None:
        """The bytes this download fetches (the progress total): the whole file here."""
        return self.remote.size

    def _restore(self) -> None:
        resumable = self.remote.ranges and self.remote.size is not None
        state = self.checkpoint.load(KIND, self.remote.fingerprint()) if resumable else None
        parts = state.get("parts") if state else None
        valid = (
            isinstance(parts, list)
            and self.path.exists()
            and all(isinstance(p, list) and len(p) == 3 for p in parts)
        )
        if valid:
            self.parts = [[int(a), int(b), int(c)] for a, b, c in parts]  # type: ignore[union-attr]
        else:
            self.parts = self._plan()
            self.path.unlink(missing_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        if self.remote.size is not None:
            os.ftruncate(self._fd, self.remote.size)
        first_part = self.parts[0]
        if self._first is not None and not (first_part[0] == 0 and first_part[2] == 0):
            self._release_first()  # resuming: Range requests from where the parts stopped

    def _release_first(self) -> None:
        if self._first is not None:
            self._first.close()
            self._first = None

    def save(self) -> None:
        if self._fd >= 0:
            os.fdatasync(self._fd)
        with self._lock:
            parts = [list(p) for p in self.parts]
        self.checkpoint.save(KIND, self.remote.fingerprint(), {"parts": parts})
        self._last_save = time.monotonic()

    def _sink(self, part: list[int]):
        def sink(chunk: bytes) -> None:
            offset = part[0] + part[2]
            end = part[1]
            if end >= 0:
                chunk = chunk[: max(0, end - offset)]
            view = memoryview(chunk)
            while view:
                written = os.pwrite(self._fd, view, offset)
                view, offset = view[written:], offset + written
            with self._lock:
                part[2] += len(chunk)
            self.tracker.add_bytes(len(chunk))

        return sink

    def _read_first(self, part: list[int]) -> None:
        """Part 0 from the response that is already open (it starts at byte 0)."""
        first = self._first
        assert first is not None
        self._first = None
        try:
            sink = self._sink(part)
            if self._head:
                sink(self._head)
            end = part[1]
            if end >= 0:
                first.read(sink, until=end)
                while part[1] > end and not first.ended:  # the other parts were merged in
                    end = part[1]
                    first.read(sink, until=end)
            else:
                first.read(sink)
        finally:
            first.close()

    def _fetch_part(self, number: int) -> None:
        with self._lock:
            if number >= len(self.parts):
                return  # merged into the first part
            part = self.parts[number]

        def attempt(_attempt: int) -> None:
            start, end, done = part
            if end >= 0 and start + done >= end:
                return
            if number == 0 and self._first is not None:
                self._read_first(part)
                return
            position = start + done
            if end >= 0:
                byterange = ByteRange(position, end - position)
            elif done:
                byterange = ByteRange(position)
            else:
                byterange = None
            body = self.fetcher.open(self.remote.url, byterange)
            try:
                if byterange is not None and body.status == 200 and number > 0:
                    # The server sends the whole file whatever the Range: N parts would
                    # fetch N copies. The first part goes on alone (see run).
                    raise RangeIgnored()
                # A resumed single part on such a server: fetch skips ahead to the offset.
                body.read(self._sink(part))
            finally:
                body.close()

        label = "The file" if len(self.parts) == 1 else f"Part {number + 1} of the file"
        self.fetcher.retrying(label, attempt)

    def run(self) -> Path:
        try:
            self._restore()
        except BaseException:
            self._release_first()
            raise
        tracker = self.tracker
        tracker.bytes_total = self.bytes_wanted()
        kept = sum(p[2] for p in self.parts)
        tracker.add_bytes(kept)
        self.fetcher.budget.hold(kept)  # a resumed attempt's bytes count against the quota
        tracker.set_stage("downloading")
        executor = ThreadPoolExecutor(len(self.parts), thread_name_prefix="http")
        pending: dict[Future[None], int] = {}
        try:
            for number in range(len(self.parts)):
                pending[executor.submit(self._fetch_part, number)] = number
            while pending:
                finished, _ = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
                self.cancel.check()
                for future in finished:
                    number = pending.pop(future)
                    try:
                        future.result()
                    except RangeIgnored:
                        self._one_connection(number)
                first = self.parts[0]
                if (len(self.parts) == 1 and first[1] >= 0 and first[0] + first[2] < first[1]
                        and 0 not in pending.values()):  # fmt: skip
                    # the parts were merged after the first one's request ended: the rest
                    # comes in one more request (the server's whole file, skipped ahead)
                    pending[executor.submit(self._fetch_part, 0)] = 0
                if time.monotonic() - self._last_save >= max(1.0, self.options.checkpoint_interval):
                    self.save()
                if self.speed_floor is not None:
                    self.speed_floor.check(tracker.bytes_done)
                tracker.emit()
        except BaseException:
            self.fetcher.abort()
            executor.shutdown(wait=True, cancel_futures=True)
            self._release_first()
            self.close()
            raise
        executor.shutdown(wait=True)
        if self.remote.size is None:
            length = os.fstat(self._fd).st_size
            tracker.bytes_total = length
        elif os.fstat(self._fd).st_size != self.remote.size:
            raise DownloadError("The downloaded file does not have the announced size")
        self.close()
        tracker.emit(force=True)
        return self.path

    def _one_connection(self, number: int) -> None:
        """A server ignored Range: the first part takes over the whole file."""
        if len(self.parts) == 1:
            return
        with self._lock:
            size = self.parts[-1][1]
            first = self.parts[0]
            self.parts = [first]
            first[1] = size
        self.fetcher.log(
            f"Part {number + 1} of the file: the server ignored the byte range and sent the "
            "whole file; going on with one connection"
        )

    def save_on_interrupt(self) -> None:
        try:
            if self.parts and self.remote.ranges and self.remote.size is not None:
                self.save()
        except OSError:
            pass

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


__all__ = ["DirectDownload", "RemoteFile"]
