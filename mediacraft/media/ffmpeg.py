"""Run the bundled ffmpeg: argument lists only, progress, cancel, timeout, output cap.

ffmpeg runs in its own session (process group) so that cancel, a timeout or the
output cap kill it and anything it started as a whole (``os.killpg``).
Progress comes from ``-progress pipe:1`` (``out_time_us`` against the expected
duration); stderr is kept as a short tail for the error message.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import imageio_ffmpeg

from ..exceptions import MediaError
from ..progress import CancelToken, Progress, ProgressHook, ignore_progress

log = logging.getLogger(__name__)

STDERR_TAIL_LINES = 20
POLL_SECONDS = 0.05


@lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary shipped in the imageio-ffmpeg wheel (never a system one)."""
    return imageio_ffmpeg.get_ffmpeg_exe()


class FfmpegFailed(MediaError):
    """ffmpeg exited with an error; ``stderr_tail`` holds its last lines (a caller may
    tell a full disk from a bad input by them)."""

    def __init__(self, message: str, returncode: int, stderr_tail: str) -> None:
        super().__init__(message)
        self.returncode = returncode
        self.stderr_tail = stderr_tail


@dataclass
class FfmpegResult:
    """A finished ffmpeg run. ``out_time`` is the last reported output time (s)."""

    args: list[str]
    elapsed: float
    out_time: float
    stderr_tail: str


def run_ffmpeg(
    args: Sequence[str],
    progress_cb: ProgressHook | None = None,
    cancel: CancelToken | threading.Event | None = None,
    duration: float | None = None,
    timeout: float | None = None,
    max_output_bytes: int | None = None,
    *,
    stage: str = "encoding",
    on_start: Callable[[int], None] | None = None,
) -> FfmpegResult:
    """Run ffmpeg with ``args`` (everything after the program name) and wait for it.

    ``duration`` (seconds of output expected) turns ``out_time`` into a percent.
    Raises :class:`~mediacraft.exceptions.Cancelled` / ``Interrupted`` when
    ``cancel`` is set (ffmpeg is killed first, within about 0.1 s),
    :class:`MediaError` on a timeout, on the output growing past
    ``max_output_bytes`` or on a non-zero exit (with ffmpeg's last error lines).
    ``on_start`` receives ffmpeg's pid, which is also its process group id.
    A plain :class:`threading.Event` as ``cancel`` stops it as a cancel does.
    """
    report = progress_cb or ignore_progress
    if isinstance(cancel, threading.Event):
        event, cancel = cancel, CancelToken()
        cancel.event = event
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error"]
    cmd += ["-progress", "pipe:1", "-nostats", "-stats_period", "0.25", *map(str, args)]
    start = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        close_fds=True,
    )
    if on_start is not None:
        on_start(proc.pid)
    state = _ProgressState(duration, stage, report)
    stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
    readers = [
        threading.Thread(target=state.read, args=(proc.stdout,), daemon=True),
        threading.Thread(target=_read_tail, args=(proc.stderr, stderr_tail), daemon=True),
    ]
    for reader in readers:
        reader.start()
    failure: str | None = None
    failure_reason = "media_failed"
    try:
        while proc.poll() is None:
            if cancel is not None and cancel.event.wait(POLL_SECONDS):
                break
            if cancel is None:
                time.sleep(POLL_SECONDS)
            if timeout is not None and time.monotonic() - start > timeout:
                failure = f"ffmpeg did not finish within {timeout:g} seconds"
                failure_reason = "timeout"
                break
            if max_output_bytes is not None and state.total_size > max_output_bytes:
                failure = f"the output grew past the limit of {max_output_bytes} bytes"
                break
    finally:
        if proc.poll() is None:
            kill_group(proc)
        for reader in readers:
            reader.join(timeout=5)
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]
    if cancel is not None:
        cancel.check()
    tail = "\n".join(stderr_tail)
    if failure:
        raise MediaError(failure, reason=failure_reason)
    if proc.returncode != 0:
        message = f"ffmpeg failed (exit code {proc.returncode}): {summarise(tail)}"
        raise FfmpegFailed(message, proc.returncode, tail)
    return FfmpegResult(
        args=cmd, elapsed=time.monotonic() - start, out_time=state.out_time, stderr_tail=tail
    )


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL ffmpeg's whole process group (it runs in its own session) and reap it."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        except PermissionError:  # not its own group after all: the process alone
            proc.kill()
    proc.wait()


def summarise(stderr_tail: str, limit: int = 300) -> str:
    """The last meaningful lines of ffmpeg's stderr, on one line, short."""
    lines = [line.strip() for line in stderr_tail.splitlines() if line.strip()]
    if not lines:
        return "no error output"
    text = " | ".join(lines[-3:])
    return text if len(text) <= limit else "…" + text[-limit:]


def _read_tail(stream, tail: deque[str]) -> None:  # type: ignore[no-untyped-def]
    for raw in iter(stream.readline, b""):
        tail.append(raw.decode("utf-8", "replace").rstrip())


class _ProgressState:
    """Parses ``-progress`` key=value blocks and reports one Progress per block."""

    def __init__(self, duration: float | None, stage: str, report: ProgressHook) -> None:
        self.duration = duration if duration and duration > 0 else None
        self.stage = stage
        self.report = report
        self.out_time = 0.0
        self.total_size = 0
        self.speed: float | None = None

    def read(self, stream) -> None:  # type: ignore[no-untyped-def]
        for raw in iter(stream.readline, b""):
            key, _, value = raw.decode("ascii", "replace").strip().partition("=")
            if key == "out_time_us":
                self._set_time(value)
            elif key == "total_size" and value.isdigit():
                self.total_size = int(value)
            elif key == "speed":
                self._set_speed(value)
            elif key == "progress":
                self._emit(done=value == "end")

    def _set_time(self, value: str) -> None:
        try:
            self.out_time = max(0.0, int(value) / 1_000_000)
        except ValueError:
            pass  # "N/A" before the first frame

    def _set_speed(self, value: str) -> None:
        try:
            self.speed = float(value.rstrip("x"))
        except ValueError:
            self.speed = None

    def _emit(self, done: bool) -> None:
        percent = 0.0
        eta = None
        if self.duration:
            percent = min(99.9, 100.0 * self.out_time / self.duration)
            if self.speed:
                eta = max(0.0, (self.duration - self.out_time) / self.speed)
        if done:
            percent, eta = 100.0, 0.0
        message = f"{self.speed:g}x realtime" if self.speed else ""
        progress = Progress(
            stage=self.stage,
            percent=round(percent, 1),
            bytes_done=self.total_size,
            eta=eta,
            message=message,
        )
        try:
            self.report(progress)
        except Exception:  # a broken hook must not stop the reader (ffmpeg would block)
            log.exception("progress hook failed")
