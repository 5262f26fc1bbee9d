"""Progress reporting and cancellation shared by every processor.

Processors report through a hook (as yt-dlp's downloaders do); the queue
decides how often to store what they report.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass

from .exceptions import Cancelled, Interrupted


@dataclass
class Progress:
    """A snapshot of a running job. ``percent`` is 0..100."""

    stage: str = ""
    percent: float = 0.0
    bytes_done: int = 0
    bytes_total: int | None = None
    segments_done: int | None = None
    segments_total: int | None = None
    speed: float | None = None  # bytes per second (moving average)
    eta: float | None = None  # seconds
    message: str = ""
    live: bool = False  # recording a live stream
    recorded_seconds: float | None = None  # media recorded so far (live)
    record_seconds: float | None = None  # what the recording is asked for (live)
    connections: int | None = None  # open connections (the aria2 engine reports them)
    # several files at once (a draft's materials): one entry per file, and their totals
    files: list[dict] | None = None
    materials: dict | None = None

    def to_dict(self) -> dict:
        return asdict(self)


ProgressHook = Callable[[Progress], None]
#: receives one line for a task's log ("Segment 17 returned HTTP 503; retrying in 1.2 s")
LogHook = Callable[[str], None]


def ignore_progress(_progress: Progress) -> None:
    """A hook that discards reports (CLI quiet mode, tests)."""


def ignore_log(_line: str) -> None:
    """A log hook that discards lines."""


class CancelToken:
    """Asks a running job to stop: cancelled by the user, or interrupted by shutdown.

    Jobs call :meth:`check` at safe points (between segments, on each ffmpeg
    progress line) and pass :attr:`event` to anything that can wait on it.
    """

    def __init__(self) -> None:
        self.event = threading.Event()
        self.reason: str = ""
        #: "finish with what you have": a live recording ends early and keeps its result
        self.finish_event = threading.Event()

    def cancel(self) -> None:
        self.reason = "cancelled"
        self.event.set()

    def interrupt(self) -> None:
        if not self.event.is_set():
            self.reason = "interrupted"
        self.event.set()

    def expire(self) -> None:
        """The attempt ran past its time limit: stop it like a cancel (the queue fails it)."""
        if not self.event.is_set():
            self.reason = "timed_out"
        self.event.set()
    def finish(self) -> None:
        """Ask a job that can end early (a live recording) to stop and keep its result."""
        self.finish_event.set()

    @property
    def finish_requested(self) -> bool:
        return self.finish_event.is_set()

    @property
    def is_set(self) -> bool:
        return self.event.is_set()

    def check(self) -> None:
        """Raise :class:`Cancelled` or :class:`Interrupted` if stop was asked."""
        if self.event.is_set():
            if self.reason == "interrupted":
                raise Interrupted()
            raise Cancelled()


class SpeedMeter:
    """Moving-average speed over a time window, and the ETA it implies."""

    def __init__(self, window: float = 5.0) -> None:
        self.window = window
        self._samples: deque[tuple[float, int]] = deque()
        self._lock = threading.Lock()

    def update(self, total_done: int, now: float | None = None) -> float | None:
        now = time.monotonic() if now is None else now
        with self._lock:
            self._samples.append((now, total_done))
            while len(self._samples) > 2 and now - self._samples[0][0] > self.window:
                self._samples.popleft()
            first_t, first_done = self._samples[0]
            if now - first_t <= 0:
                return None
            return (total_done - first_done) / (now - first_t)

    @staticmethod
    def eta(done: int, total: int | None, speed: float | None) -> float | None:
        if not total or not speed or speed <= 0:
            return None
        return max(0.0, (total - done) / speed)
