"""Batch progress as line logs on stderr (when it is not a terminal, or with --quiet).

A terminal gets rich's live table instead (``mediacraft/cli/live.py``).
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, TextIO

from ...humanize import human_bytes, human_eta
from .inputs import Item

if TYPE_CHECKING:
    from .runner import Batch


class Display:
    """Line logs on stderr: starts, ends and failures, and the totals every 2 seconds."""

    def __init__(self, stream: TextIO, quiet: bool, verbose: bool) -> None:
        self.stream = stream
        self.quiet = quiet
        self.verbose = verbose
        self.interval = 2.0
        self._last = 0.0
        self._lock = threading.Lock()

    def _line(self, text: str) -> None:
        if self.quiet:
            return
        with self._lock:
            self.stream.write(text + "\n")
            self.stream.flush()

    def started(self, item: Item) -> None:
        if self.verbose or item.attempts == 1:
            attempt = f" (attempt {item.attempts})" if item.attempts > 1 else ""
            self._line(f"[{item.index}] start {item.task}: {item.source}{attempt}")

    def failed_attempt(self, item: Item, message: str, retry: bool) -> None:
        if retry:
            self._line(f"[{item.index}] attempt {item.attempts} failed: {message}; retrying")

    def finished(self, item: Item) -> None:
        if item.status == "completed":
            size = human_bytes(item.size)
            took = f"{item.elapsed:.1f} s" if item.elapsed is not None else ""
            self._line(f"[{item.index}] done    {item.output}  {size}  {took}")
        elif item.status == "failed":
            self._line(f"[{item.index}] FAILED  {item.source}: {item.error}")

    def note(self, text: str) -> None:
        self._line(text)

    def tick(self, batch: Batch) -> None:
        if self.quiet:
            return
        now = time.monotonic()
        if now - self._last < self.interval:
            return
        self._last = now
        snap = batch.snapshot()
        counts = snap["counts"]
        runnable = snap["total"] - counts.get("invalid", 0) - counts.get("duplicate", 0)
        finished = counts["completed"] + counts["failed"] + counts["skipped"]
        head = (
            f"batch {finished}/{runnable}  {snap['percent']:5.1f}%  ok {counts['completed']}"
            f"  failed {counts['failed']}  running {counts['running']}"
            f"  {human_bytes(snap['bytes_done'])}  {human_bytes(snap['speed'])}/s"
            f"  ETA {human_eta(snap['eta_seconds'])}"
        )
        running = [i for i in snap["items"] if i["status"] == "running"]
        self._line(head)
        if self.verbose:
            for i in running:
                self._line(
                    f"    [{i['index']}] {i['stage']:<11} {i['percent']:5.1f}%  "
                    f"{human_bytes(i['bytes_done'])}/{human_bytes(i['bytes_total'])}"
                )

    def close(self) -> None:
        return None
