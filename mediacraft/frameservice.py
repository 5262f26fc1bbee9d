"""Frames for the region picker, within budgets a visitor cannot lift.

The same budgets cover the other synchronous looks at a video: the detected
logo rectangles and the preview of a removal method on one frame.

Extracting a frame decodes video in the request's thread: on a file whose
keyframes are far apart, the last frame means decoding the whole file. So:

* recent frames are cached (per process, bounded in bytes) — asking again for
  the same frame, the usual case while drawing rectangles, costs nothing;
* each extraction has a time limit (``FRAME_SECONDS``);
* a visitor gets ``FRAMES_PER_MINUTE`` decodes per process and one at a
  time (429 past either), and the process decodes at most one frame per CPU
  at once (503 when all are busy for longer than the time limit).
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from pathlib import Path

from .config import Config
from .exceptions import MediaCraftError, MediaError, RateLimited
from .media import DecodeBudget, extract_frame

MiB = 1024 * 1024
WINDOW = 60.0


class Busy(MediaCraftError):
    status = 503


class FrameService:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.budget = DecodeBudget.from_config(config)
        self._cache: OrderedDict[tuple, bytes] = OrderedDict()
        self._cache_bytes = 0
        self._recent: dict[str, deque[float]] = {}
        self._decoding: set[str] = set()
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max(1, os.cpu_count() or 1))
        self.decodes = 0  # extractions actually run (cache misses), for tests and logs

    def frame(
        self,
        user_id: str,
        path: str | os.PathLike[str],
        *,
        index: int | None = None,
        t: float | None = None,
        max_width: int | None = None,
    ) -> bytes:
        key = self._key(path, index, t, max_width)
        return self._bounded(
            user_id,
            key,
            lambda: extract_frame(
                path,
                index=index,
                t=t,
                max_width=max_width,
                time_limit=self.config.frame_seconds,
                budget=self.budget,
            ),
        )

    def preview(
        self,
        user_id: str,
        path: str | os.PathLike[str],
        *,
        index: int,
        regions: list[tuple[int, int, int, int]],
        method: str,
        max_width: int | None = None,
    ) -> bytes:
        """Frame ``index`` restored by ``method``: same limits as a frame extraction."""
        from .restore.preview import preview_frame  # numpy and OpenCV only when asked

        key = self._key(path, "preview", index, tuple(map(tuple, regions)), method, max_width)
        return self._bounded(
            user_id,
            key,
            lambda: preview_frame(
                path,
                index,
                regions,
                method,
                time_limit=self.config.frame_seconds,
                budget=self.budget,
                max_width=max_width,
            ),
        )

    def suggestions(self, user_id: str, path: str | os.PathLike[str]) -> list[list[int]]:
        """Detected logo rectangles of the video: same limits as a frame extraction."""
        import json

        from .restore.detect import suggest_regions

        key = self._key(path, "suggest")
        data = self._bounded(
            user_id,
            key,
            lambda: json.dumps(
                suggest_regions(path, time_limit=self.config.frame_seconds, budget=self.budget)
            ).encode(),
        )
        return json.loads(data)

    def _bounded(self, user_id: str, key: tuple, work: Callable[[], bytes]) -> bytes:
        """``work()`` cached under ``key``, counted against the visitor, one per CPU at once."""
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
            self._admit(user_id)
        try:
            if not self._slots.acquire(timeout=self.config.frame_seconds):
                raise Busy("The server is busy extracting frames; try again in a moment")
            try:
                self.decodes += 1
                result = work()
            finally:
                self._slots.release()
        finally:
            with self._lock:
                self._decoding.discard(user_id)
        self._remember(key, result)
        return result

    @staticmethod
    def _key(path: str | os.PathLike[str], *args: object) -> tuple:
        try:
            stat = Path(path).stat()  # a replaced file (a new upload) is a new key
        except FileNotFoundError:
            raise MediaError("the uploaded video is no longer there") from None
        return (os.fspath(path), stat.st_mtime_ns, stat.st_size, *args)

    def _admit(self, user_id: str) -> None:
        """Count one decode for the visitor, or refuse (caller holds the lock)."""
        if user_id in self._decoding:
            raise RateLimited("A frame is still being extracted for you; wait for it")
        now = time.monotonic()
        recent = self._recent.setdefault(user_id, deque())
        while recent and now - recent[0] > WINDOW:
            recent.popleft()
        if len(recent) >= self.config.frames_per_minute:
            raise RateLimited(
                f"Too many frame requests: at most {self.config.frames_per_minute} a minute"
            )
        recent.append(now)
        self._decoding.add(user_id)
        if len(self._recent) > 10_000:  # forget visitors who stopped asking
            for stale in [u for u, d in self._recent.items() if not d or now - d[-1] > WINDOW]:
                del self._recent[stale]

    def _remember(self, key: tuple, jpeg: bytes) -> None:
        limit = self.config.frame_cache_mb * MiB
        if len(jpeg) > limit:
            return
        with self._lock:
            if key in self._cache:
                return
            self._cache[key] = jpeg
            self._cache_bytes += len(jpeg)
            while self._cache_bytes > limit:
                _, dropped = self._cache.popitem(last=False)
                self._cache_bytes -= len(dropped)


__all__ = ["Busy", "FrameService"]
