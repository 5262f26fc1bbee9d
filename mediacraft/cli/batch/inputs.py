"""What a batch runs: its inputs, read, checked and given an output file.

Inputs come from URL lists (one URL a line), file lists (plain lines or CSV
with ``name,url`` columns; URLs or local video paths) and an input directory
(its videos). :func:`collect_inputs` turns them into :class:`Item` objects in
order, bad lines becoming invalid items; :func:`plan` picks each item's task
and output name and marks duplicates.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ...processors.download import result_file_name
from ...progress import CancelToken
from .options import BatchOptions

VIDEO_SUFFIXES = frozenset(
    {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".ts", ".mts", ".flv", ".wmv", ".mpg"}
)
# item states: pending -> running -> completed | failed; skipped/invalid/duplicate up front
DONE_OK = frozenset({"completed", "skipped"})


@dataclass
class Item:
    """One input of the batch and what became of it."""

    index: int
    source: str  # URL or local path, as given
    origin: str  # where it came from: "urls.txt:3", "dir"
    kind: str  # "url" or "file"
    name: str = ""
    task: str = "download"
    output: Path | None = None
    status: str = "pending"
    error: str | None = None
    note: str | None = None  # why it was skipped
    attempts: int = 0
    size: int | None = None
    media_duration: float | None = None
    elapsed: float | None = None
    from_checkpoint: bool = False
    # live progress (not persisted)
    stage: str = ""
    percent: float = 0.0
    bytes_done: int = 0
    bytes_total: int | None = None
    speed: float | None = None
    eta: float | None = None
    started: float | None = None
    token: CancelToken | None = field(default=None, repr=False)
    timed_out: bool = False

    @property
    def key(self) -> str:
        """Stable identity across runs (checkpoint and work directory)."""
        return hashlib.sha256(f"{self.task}\n{self.source}".encode()).hexdigest()[:20]

    def report(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "source": self.source,
            "origin": self.origin,
            "name": self.name,
            "task": self.task,
            "status": self.status,
            "output": str(self.output) if self.output else None,
            "size": self.size,
            "duration": round(self.elapsed, 3) if self.elapsed is not None else None,
            "media_duration": self.media_duration,
            "attempts": self.attempts,
            "error": self.error,
            "note": self.note,
            "from_checkpoint": self.from_checkpoint,
        }

    def live(self) -> dict[str, Any]:
        data = self.report()
        data.update(
            stage=self.stage,
            percent=round(self.percent, 1),
            bytes_done=self.bytes_done,
            bytes_total=self.bytes_total,
            speed=self.speed,
            eta_seconds=self.eta,
        )
        return data


def _read_lines(path: Path) -> list[tuple[int, str]]:
    text = path.read_text(encoding="utf-8-sig")
    return [(number, line.strip()) for number, line in enumerate(text.splitlines(), start=1)]


def _csv_rows(path: Path, lines: list[tuple[int, str]]) -> list[tuple[int, str, str]] | None:
    """``(line, name, source)`` rows when the file is CSV with a url (or path) column."""
    content = [(n, line) for n, line in lines if line and not line.startswith("#")]
    if not content:
        return None
    header = next(csv.reader([content[0][1]]))
    columns = [c.strip().lower() for c in header]
    column = next((c for c in ("url", "path", "file", "source") if c in columns), None)
    if column is None or len(columns) < 2:
        return None
    rows = []
    where = columns.index(column)
    name_at = columns.index("name") if "name" in columns else None
    for number, line in content[1:]:
        values = next(csv.reader(io.StringIO(line)), [])
        source = values[where].strip() if where < len(values) else ""
        name = values[name_at].strip() if name_at is not None and name_at < len(values) else ""
        rows.append((number, name, source))
    return rows


def _invalid(items: list[Item], source: str, origin: str, reason: str) -> None:
    items.append(Item(len(items) + 1, source, origin, "url", status="invalid", error=reason))


def _add_source(
    items: list[Item], source: str, name: str, origin: str, urls_only: bool, base: Path
) -> None:
    scheme = urlsplit(source).scheme.lower() if "://" in source else ""
    if scheme in ("http", "https"):
        if not urlsplit(source).hostname:
            _invalid(items, source, origin, f"not a valid URL: {source!r} (no host)")
            return
        items.append(Item(len(items) + 1, source, origin, "url", name=name))
        return
    if urls_only or scheme:
        _invalid(items, source, origin, f"not an http(s) URL: {source!r}")
        return
    path = Path(source).expanduser()
    if not path.is_absolute():
        path = base / path
    items.append(Item(len(items) + 1, str(path), origin, "file", name=name))


def collect_inputs(options: BatchOptions) -> list[Item]:
    """Every input in order; unreadable lists and bad lines become invalid items."""
    items: list[Item] = []
    for path in options.url_list:
        _read_list(items, path, urls_only=True)
    for path in options.file_list:
        _read_list(items, path, urls_only=False)
    if options.input_dir is not None:
        directory: Path = options.input_dir
        try:
            entries = sorted(p for p in directory.iterdir() if p.is_file())
        except OSError as exc:
            _invalid(items, str(directory), "input-dir", f"cannot read the directory: {exc}")
        else:
            for path in entries:
                if path.suffix.lower() in VIDEO_SUFFIXES and not path.name.startswith("."):
                    items.append(Item(len(items) + 1, str(path), "input-dir", "file"))
    return items


def _read_list(items: list[Item], path: Path, urls_only: bool) -> None:
    try:
        lines = _read_lines(path)
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        _invalid(items, str(path), str(path), f"cannot read the list: {reason}")
        return
    rows = _csv_rows(path, lines)
    if rows is None:
        rows = [(n, "", line) for n, line in lines if line and not line.startswith("#")]
    for number, name, source in rows:
        origin = f"{path.name}:{number}"
        if not source:
            _invalid(items, "", origin, "empty URL or path")
            continue
        _add_source(items, source, name, origin, urls_only, path.parent)


def plan(items: list[Item], options: BatchOptions, output_dir: Path) -> None:
    """Choose each item's task and output file; mark duplicates and impossible items."""
    seen: dict[str, Item] = {}
    used: set[str] = set()
    for item in items:
        if item.status != "pending":
            continue
        item.task = options.task or ("download" if item.kind == "url" else "remux")
        if item.kind == "url" and item.task != "download":
            item.status, item.error = "invalid", f"--task {item.task} needs a local video file"
            continue
        if item.kind == "file" and item.task == "download":
            item.status, item.error = "invalid", f"not an http(s) URL: {item.source!r}"
            continue
        identity = item.source if item.kind == "url" else os.path.normcase(item.source)
        if identity in seen:
            first = seen[identity]
            item.status = "duplicate"
            item.error = f"duplicate of input {first.index} ({first.origin})"
            continue
        seen[identity] = item
        if item.kind == "url":
            stem = result_file_name(item.source, item.name)[:-4]
        else:
            stem = _safe_stem(item.name or Path(item.source).stem)
        if not item.name:
            item.name = stem
        candidate, number = stem, 1
        while candidate.lower() in used:
            number += 1
            candidate = f"{stem}_{number}"
        used.add(candidate.lower())
        item.output = output_dir / f"{candidate}.mp4"
        if item.kind == "file" and Path(item.source).resolve() == item.output.resolve():
            item.status, item.error = "invalid", "the output would overwrite the input"


def _safe_stem(text: str) -> str:
    return result_file_name("http://x/" + "a", text)[:-4]
