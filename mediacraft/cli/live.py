"""Progress of ``mediacraft download`` and ``mediacraft batch``, drawn by `rich`.

On a terminal: a rich progress bar (one download) or one live table (a batch:
per-item state, percent, speed, ETA, and the totals). Not a terminal: a plain
line per event. ``--json``: one JSON object per line on stdout, for scripts
(``{"event": "progress", ...}``), and nothing drawn.
"""

from __future__ import annotations

import json
import threading
import time
from typing import TYPE_CHECKING, Any, TextIO

from ..humanize import human_bytes, human_eta
from ..progress import Progress

if TYPE_CHECKING:
    from rich.console import Group

    from .batch.inputs import Item
    from .batch.runner import Batch


def is_terminal(stream: TextIO) -> bool:
    return bool(getattr(stream, "isatty", lambda: False)())


class JsonLines:
    """Writes one JSON object per line, whole lines only (threads share it)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._lock = threading.Lock()

    def emit(self, event: str, **fields: Any) -> None:
        line = json.dumps({"event": event, "at": round(time.time(), 3), **fields},
                          ensure_ascii=False, default=str)  # fmt: skip
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()


def _progress_fields(progress: Progress) -> dict[str, Any]:
    return {
        "stage": progress.stage,
        "percent": round(progress.percent, 1),
        "bytes_done": progress.bytes_done,
        "bytes_total": progress.bytes_total,
        "segments_done": progress.segments_done,
        "segments_total": progress.segments_total,
        "speed": progress.speed,
        "eta_seconds": progress.eta,
    }


# --- one download ----------------------------------------------------------------------
class DownloadView:
    """The ``progress`` callback of one download, and ``close()`` when it ends."""

    def __call__(self, progress: Progress) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> None:
        return None


class RichDownloadBar(DownloadView):
    def __init__(self, stream: TextIO) -> None:
        # rich is loaded only for a terminal's bar: a quiet or piped run starts without it
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )
        from rich.progress import Progress as RichProgress

        self.console = Console(file=stream, stderr=True)
        self.bar = RichProgress(
            TextColumn("{task.fields[stage]:<11}"),
            BarColumn(),
            TaskProgressColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[segments]}"),
            console=self.console,
            transient=False,
        )
        self.task = self.bar.add_task("download", total=None, stage="connecting", segments="")
        self.bar.start()

    def __call__(self, progress: Progress) -> None:
        segments = ""
        if progress.segments_total:
            segments = f"{progress.segments_done or 0}/{progress.segments_total} seg"
        total = progress.bytes_total or None
        if total is None and progress.percent > 0 and progress.bytes_done:
            total = int(progress.bytes_done * 100 / progress.percent)
        self.bar.update(
            self.task,
            completed=progress.bytes_done or 0,
            total=total,
            stage=progress.stage,
            segments=segments,
        )

    def close(self) -> None:
        self.bar.stop()


class PlainDownloadLines(DownloadView):
    """A line per stage change, and at most one a second while downloading."""

    def __init__(self, stream: TextIO, interval: float = 1.0) -> None:
        self.stream = stream
        self.interval = interval
        self._last = 0.0
        self._stage = ""

    def __call__(self, progress: Progress) -> None:
        now = time.monotonic()
        if progress.stage == self._stage and now - self._last < self.interval:
            return
        self._last, self._stage = now, progress.stage
        parts = [f"{progress.stage:<11}", f"{progress.percent:5.1f}%"]
        if progress.segments_total:
            parts.append(f"{progress.segments_done or 0}/{progress.segments_total} seg")
        parts.append(f"{human_bytes(progress.bytes_done)}/{human_bytes(progress.bytes_total)}")
        if progress.speed is not None:
            parts.append(f"{human_bytes(progress.speed)}/s")
        parts.append(f"ETA {human_eta(progress.eta)}")
        self.stream.write("  ".join(parts) + "\n")
        self.stream.flush()


class JsonDownloadEvents(DownloadView):
    def __init__(self, stream: TextIO, interval: float = 0.5) -> None:
        self.out = JsonLines(stream)
        self.interval = interval
        self._last = 0.0
        self._stage = ""

    def __call__(self, progress: Progress) -> None:
        now = time.monotonic()
        if progress.stage == self._stage and now - self._last < self.interval:
            return
        self._last, self._stage = now, progress.stage
        self.out.emit("progress", **_progress_fields(progress))


def download_view(
    stream: TextIO, stdout: TextIO, *, quiet: bool, as_json: bool
) -> DownloadView | None:
    if as_json:
        return JsonDownloadEvents(stdout)
    if quiet:
        return None
    return RichDownloadBar(stream) if is_terminal(stream) else PlainDownloadLines(stream)


# --- a batch ---------------------------------------------------------------------------
class RichBatchTable:
    """One live table on a terminal: the running and finished items, then the totals."""

    MAX_ROWS = 15

    def __init__(self, stream: TextIO, verbose: bool = False, batch: Batch | None = None) -> None:
        from rich.console import Console
        from rich.live import Live
        from rich.text import Text

        self.console = Console(file=stream, stderr=True)
        self.verbose = verbose
        self._batch: Batch | None = batch
        self._notes: list[str] = []
        self._lock = threading.Lock()
        self.live = Live(Text(""), console=self.console, refresh_per_second=5, transient=False)
        self.live.start()

    def _render(self) -> Group:
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        table = Table(expand=False, show_edge=False, pad_edge=False)
        for name, justify in (("#", "right"), ("item", "left"), ("state", "left"),
                              ("%", "right"), ("speed", "right"), ("ETA", "right")):  # fmt: skip
            table.add_column(name, justify=justify, no_wrap=True)
        if self._batch is None:
            return Group(table)
        snap = self._batch.snapshot()
        items = snap["items"]
        running = [i for i in items if i["status"] == "running"]
        others = [i for i in items if i["status"] not in ("running", "pending")]
        for item in (running + others[::-1])[: self.MAX_ROWS]:
            state = item["stage"] if item["status"] == "running" else item["status"]
            style = {"failed": "red", "completed": "green", "invalid": "yellow"}.get(
                item["status"], ""
            )
            table.add_row(
                str(item["index"]),
                _short(str(item.get("name") or item.get("source") or "")),
                Text(str(state or ""), style=style),
                f"{item['percent']:.0f}" if item["status"] == "running" else "",
                f"{human_bytes(item['speed'])}/s" if item.get("speed") else "",
                human_eta(item.get("eta_seconds")) if item["status"] == "running" else "",
            )
        counts = snap["counts"]
        runnable = snap["total"] - counts.get("invalid", 0) - counts.get("duplicate", 0)
        finished = counts["completed"] + counts["failed"] + counts["skipped"]
        totals = Text(
            f"batch {finished}/{runnable}  {snap['percent']:5.1f}%  ok {counts['completed']}"
            f"  failed {counts['failed']}  running {counts['running']}"
            f"  {human_bytes(snap['bytes_done'])}  {human_bytes(snap['speed'])}/s"
            f"  ETA {human_eta(snap['eta_seconds'])}",
            style="bold",
        )
        return Group(*[Text(n) for n in self._notes[-5:]], table, totals)

    def _refresh(self, now: bool = False) -> None:
        with self._lock:
            self.live.update(self._render(), refresh=now)

    def started(self, item: Item) -> None:
        return None

    def failed_attempt(self, item: Item, message: str, retry: bool) -> None:
        if retry:
            self.note(f"[{item.index}] attempt {item.attempts} failed: {message}; retrying")

    def finished(self, item: Item) -> None:
        if item.status == "failed":
            self.note(f"[{item.index}] FAILED  {item.source}: {item.error}")

    def note(self, text: str) -> None:
        with self._lock:
            self._notes.append(text)
        self._refresh()

    def tick(self, batch: Batch) -> None:
        self._batch = batch
        self._refresh()

    def close(self) -> None:
        self._refresh(now=True)  # the final state, even for a batch shorter than one tick
        self.live.stop()


class JsonBatchEvents:
    """``start``, ``retry``, ``done`` / ``failed`` per item and ``progress`` (the totals
    and the running items) at most twice a second, one JSON object per line."""

    def __init__(self, stream: TextIO, interval: float = 0.5) -> None:
        self.out = JsonLines(stream)
        self.interval = interval
        self._last = 0.0

    def started(self, item: Item) -> None:
        self.out.emit("start", index=item.index, source=item.source, task=item.task,
                      attempt=item.attempts)  # fmt: skip

    def failed_attempt(self, item: Item, message: str, retry: bool) -> None:
        if retry:
            self.out.emit("retry", index=item.index, attempt=item.attempts, error=message)

    def finished(self, item: Item) -> None:
        event = "done" if item.status == "completed" else item.status
        self.out.emit(event, **item.report())

    def note(self, text: str) -> None:
        self.out.emit("note", message=text)

    def tick(self, batch: Batch) -> None:
        now = time.monotonic()
        if now - self._last < self.interval:
            return
        self._last = now
        snap = batch.snapshot()
        running = [i for i in snap["items"] if i["status"] == "running"]
        self.out.emit(
            "progress",
            **{k: snap[k] for k in ("total", "done", "counts", "percent", "bytes_done", "speed",
                                    "eta_seconds")},  # fmt: skip
            running=[
                {k: i.get(k) for k in ("index", "stage", "percent", "bytes_done", "bytes_total",
                                        "speed", "eta_seconds")}  # fmt: skip
                for i in running
            ],
        )

    def close(self) -> None:
        return None


def _short(text: str, width: int = 48) -> str:
    return text if len(text) <= width else "…" + text[-(width - 1) :]
