"""Progress bookkeeping of one download, shared by its worker threads."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ..progress import Progress, ProgressHook, SpeedMeter, ignore_progress


class Tracker:
    """Counts bytes and segments; reports a :class:`Progress` at most every ``interval`` s."""

    def __init__(self, hook: ProgressHook | None = None, interval: float = 0.2) -> None:
        self.hook = hook or ignore_progress
        self.interval = interval
        self.stage = "connecting"
        self.bytes_done = 0
        self.bytes_total: int | None = None
        self.segments_done: int | None = None
        self.segments_total: int | None = None
        self.live = False  # recording a live stream
        self.record_seconds: float | None = None
        self.recorded: Callable[[], float] | None = None  # seconds recorded so far
        self.connections: int | None = None  # set by engines that know (aria2)
        self._meter = SpeedMeter()
        self._lock = threading.Lock()
        self._last = 0.0

    def add_bytes(self, amount: int) -> None:
        with self._lock:
            self.bytes_done += amount

    def set_stage(self, stage: str) -> None:
        self.stage = stage
        self.emit(force=True)

    def emit(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        with self._lock:
            done = self.bytes_done
            total = self.bytes_total
            seg_done, seg_total = self.segments_done, self.segments_total
        if total is None and seg_total and seg_done:
            total = int(done / seg_done * seg_total)  # estimate from the average segment
        speed = self._meter.update(done, now)
        if seg_total:
            percent = 100.0 * (seg_done or 0) / seg_total
        elif total:
            percent = 100.0 * done / total
        else:
            percent = 0.0
        recorded = self.recorded() if self.recorded else None
        if self.live and self.record_seconds:
            percent = 100.0 * (recorded or 0.0) / self.record_seconds
        if self.stage not in ("downloading", "recording"):
            percent = 100.0 if self.stage in ("remuxing", "finished") else percent
        self.hook(
            Progress(
                stage=self.stage,
                percent=round(min(percent, 100.0), 2),
                bytes_done=done,
                bytes_total=total,
                segments_done=seg_done,
                segments_total=seg_total,
                speed=speed,
                eta=self._eta(done, total, speed, recorded),
                live=self.live,
                recorded_seconds=round(recorded, 3) if recorded is not None else None,
                record_seconds=self.record_seconds,
                connections=self.connections,
            )
        )


    def _eta(
        self, done: int, total: int | None, speed: float | None, recorded: float | None
    ) -> float | None:
        if self.live and self.record_seconds:
            return max(0.0, self.record_seconds - (recorded or 0.0))  # media plays in real time
        return SpeedMeter.eta(done, total, speed) if self.stage == "downloading" else None


__all__ = ["Tracker"]
