"""The slowest a download may crawl: aria2's ``--lowest-speed-limit`` for a whole download.

A download whose average speed over the last ``window`` seconds stays below
``floor`` bytes/s fails with a message naming both speeds, so a source that
trickles (or a visitor's ``limit_rate``) cannot hold a task slot for days.
Live recordings are exempt: their speed is the stream's bitrate.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from ..exceptions import DownloadError


def human_rate(value: float) -> str:
    if value >= 1024 * 1024:
        return f"{value / (1024 * 1024):.1f} MiB/s"
    return f"{value / 1024:.1f} KiB/s"


class SpeedFloor:
    """Raises DownloadError when the average over the last window is below the floor."""

    def __init__(
        self, floor: int, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.floor = floor
        self.window = window
        self.clock = clock
        self.started = clock()
        self._samples: deque[tuple[float, int]] = deque()

    def check(self, total_bytes: int) -> None:
        if self.floor <= 0:
            return
        now = self.clock()
        if self._samples and now - self._samples[-1][0] < 0.5:
            return
        self._samples.append((now, total_bytes))
        while len(self._samples) > 2 and now - self._samples[1][0] >= self.window:
            self._samples.popleft()
        first_time, first_bytes = self._samples[0]
        if now - first_time < self.window:
            return
        speed = (total_bytes - first_bytes) / (now - first_time)
        if speed < self.floor:
            raise DownloadError(
                f"The download was slower than the server's minimum of {human_rate(self.floor)} "
                f"for {self.window:g} s ({human_rate(speed)} on average); the source is too slow",
                reason="network",
            )


__all__ = ["SpeedFloor", "human_rate"]
