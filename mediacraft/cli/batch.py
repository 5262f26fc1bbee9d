"""``mediacraft batch``: many downloads (or local post-processing jobs) in one run (SPEC F8).

Inputs come from ``--url-list`` (one URL a line), ``--file-list`` (plain lines
or CSV with ``name,url`` columns; lines may be URLs or local video paths) or
``--input-dir`` (the videos of a directory, for a post-processing ``--task``).
Items run in-process on a thread pool of ``--parallel`` workers through the
download engine (or ffmpeg for ``remux`` / ``watermark_removal``); one failure
never stops the others.

While running, a checkpoint (``<output>/.mediacraft-batch.json``) records each
item's state, written atomically; ``--resume`` reads it and runs only what was
left (an interrupted download also resumes its segments from the engine's own
checkpoint in ``<output>/.mediacraft-batch/``). Progress goes to stderr (one
``\\r`` line on a terminal, line logs otherwise), optionally to a JSON
``--progress-file``; the final report is a table on stdout and, with
``--report``, a JSON file.

Exit code: 0 when every input succeeded (or was skipped as already done),
1 otherwise, 2 for usage errors, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import logging
import os
import shutil
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from ..atomic import write_json_atomic
from ..config import Config
from ..download import DownloadOptions, download, politeness
from ..download.options import PROFILES
from ..exceptions import Cancelled, Interrupted, MediaCraftError, ValidationError
from ..processors.download import result_file_name
from ..progress import CancelToken, Progress
from ..tasks import utcnow
from .download import human_bytes, human_eta

log = logging.getLogger(__name__)

TASKS = ("download", "remux", "watermark_removal")
VIDEO_SUFFIXES = frozenset(
    {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".ts", ".mts", ".flv", ".wmv", ".mpg"}
)
CHECKPOINT_NAME = ".mediacraft-batch.json"
WORK_DIR_NAME = ".mediacraft-batch"
CHECKPOINT_VERSION = 1
# item states: pending -> running -> completed | failed; skipped/invalid/duplicate up front
DONE_OK = frozenset({"completed", "skipped"})
FINAL = frozenset({"completed", "failed", "skipped", "invalid", "duplicate", "interrupted"})


class UsageError(Exception):
    """Bad command line (exit code 2)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "batch",
        help="run many downloads or post-processing jobs with a checkpoint and a report",
        description="Download a list of URLs (or post-process a directory of videos) in "
        "parallel, with resume, a live progress display and a final report.",
    )
    source = parser.add_argument_group("inputs (at least one)")
    source.add_argument(
        "--url-list",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="a text file with one http(s) URL a line (# comments)",
    )
    source.add_argument(
        "--file-list",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="plain lines, or CSV with name,url columns (URLs or local paths)",
    )
    source.add_argument("--input-dir", type=Path, metavar="DIR",
                        help="local videos to post-process (with --task remux or "
                        "watermark_removal)")  # fmt: skip
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="DIR",
                        help="directory for the results (and the checkpoint)")  # fmt: skip
    parser.add_argument("--task", choices=TASKS, default=None,
                        help="what to do with each input (default: download for URLs, "
                        "remux for local files)")  # fmt: skip
    parser.add_argument("--regions", action="append", default=[], metavar="X,Y,W,H",
                        help="watermark rectangle in video pixels (repeatable)")  # fmt: skip
    parser.add_argument("-p", "--parallel", type=int, default=4, help="items at once (default 4)")
    parser.add_argument("--profile", choices=sorted(PROFILES), default=None,
                        help="download profile (default stable)")  # fmt: skip
    parser.add_argument("--threads", type=int, default=None, help="segment fetches per item")
    parser.add_argument("--quality", default=None, help="best (default), worst, 720p, bits/s")
    parser.add_argument("--max-retries", type=int, default=1,
                        help="times a failed item is tried again (default 1)")  # fmt: skip
    parser.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                        help="give up an item after this long (per attempt)")  # fmt: skip
    parser.add_argument("--skip-existing", action="store_true",
                        help="skip an item whose output file already exists")  # fmt: skip
    parser.add_argument("--dry-run", action="store_true",
                        help="print what would run and exit; touch nothing")  # fmt: skip
    parser.add_argument("--resume", action="store_true",
                        help="continue the run recorded in the output's checkpoint")  # fmt: skip
    parser.add_argument("--progress-file", type=Path, default=None, metavar="PATH",
                        help="keep a JSON progress snapshot here while running")  # fmt: skip
    parser.add_argument("--report", type=Path, default=None, metavar="PATH",
                        help="write the final report as JSON")  # fmt: skip
    parser.add_argument("--allow-network", action="append", default=[], metavar="CIDR|HOST",
                        help="exempt a host or network from the private-address guard")  # fmt: skip
    parser.add_argument("--per-host-connections", type=int, default=None, metavar="N",
                        help="concurrent requests to one host over all items "
                        "(default MEDIACRAFT_PER_HOST_CONNECTIONS or 16)")  # fmt: skip
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    verbosity.add_argument("-v", "--verbose", action="store_true", help="log every step")
    parser.set_defaults(func=run)


# --- inputs ---------------------------------------------------------------------------------


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


def collect_inputs(args: argparse.Namespace) -> list[Item]:
    """Every input in order; unreadable lists and bad lines become invalid items."""
    items: list[Item] = []
    for path in args.url_list:
        _read_list(items, path, urls_only=True)
    for path in args.file_list:
        _read_list(items, path, urls_only=False)
    if args.input_dir is not None:
        directory: Path = args.input_dir
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


def plan(items: list[Item], args: argparse.Namespace, output_dir: Path) -> None:
    """Choose each item's task and output file; mark duplicates and impossible items."""
    seen: dict[str, Item] = {}
    used: set[str] = set()
    for item in items:
        if item.status != "pending":
            continue
        item.task = args.task or ("download" if item.kind == "url" else "remux")
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


# --- the run --------------------------------------------------------------------------------


class Batch:
    """Runs the pending items, keeps the checkpoint and the progress file."""

    def __init__(self, items: list[Item], args: argparse.Namespace, output_dir: Path) -> None:
        self.items = items
        self.args = args
        self.output_dir = output_dir
        self.checkpoint_path = output_dir / CHECKPOINT_NAME
        self.work_root = output_dir / WORK_DIR_NAME
        self.lock = threading.Lock()
        self.write_lock = threading.Lock()  # one checkpoint write at a time, newest last
        self.started_at = utcnow()
        self.started = time.monotonic()
        self.stopping = threading.Event()
        self.options: DownloadOptions | None = None
        self.regions: list[list[int]] = []
        self.allowed: tuple[str, ...] = ()
        self.finished_at: str | None = None

    # -- persistence ------------------------------------------------------------------------
    def load_checkpoint(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.checkpoint_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot read the checkpoint {self.checkpoint_path}: {exc}") from None
        if not isinstance(data, dict) or data.get("version") != CHECKPOINT_VERSION:
            raise UsageError(f"{self.checkpoint_path} is not a batch checkpoint of this version")
        return {str(k): v for k, v in (data.get("items") or {}).items() if isinstance(v, dict)}

    def write_checkpoint(self) -> None:
        with self.write_lock:
            self._write_checkpoint()

    def _write_checkpoint(self) -> None:
        with self.lock:
            entries = {
                item.key: {
                    "source": item.source,
                    "task": item.task,
                    "status": item.status if item.status != "running" else "pending",
                    "output": str(item.output) if item.output else None,
                    "size": item.size,
                    "media_duration": item.media_duration,
                    "duration": item.elapsed,
                    "attempts": item.attempts,
                    "error": item.error,
                }
                for item in self.items
                if item.output is not None
            }
        write_json_atomic(
            self.checkpoint_path,
            {"version": CHECKPOINT_VERSION, "updated_at": utcnow(), "items": entries},
        )

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            items = [item.live() for item in self.items]
            counts = self.counts()
            done = sum(1 for i in self.items if i.status in FINAL)
            runnable = [i for i in self.items if i.output is not None]
            percent = (
                sum(100.0 if i.status in FINAL else i.percent for i in runnable) / len(runnable)
                if runnable
                else 100.0
            )
            speed = sum(i.speed or 0.0 for i in self.items if i.status == "running")
            bytes_done = sum(
                (i.size or 0) if i.status == "completed" else i.bytes_done for i in self.items
            )
        return {
            "started_at": self.started_at,
            "updated_at": utcnow(),
            "finished_at": self.finished_at,
            "elapsed": round(time.monotonic() - self.started, 3),
            "total": len(items),
            "done": done,
            "counts": counts,
            "percent": round(percent, 1),
            "bytes_done": bytes_done,
            "speed": speed,
            "eta_seconds": self.eta(percent),
            "items": items,
        }

    def counts(self) -> dict[str, int]:
        result = {s: 0 for s in ("pending", "running", *sorted(FINAL))}
        for item in self.items:
            result[item.status] = result.get(item.status, 0) + 1
        return result

    def eta(self, percent: float) -> float | None:
        elapsed = time.monotonic() - self.started
        if percent >= 100.0:
            return 0.0
        if percent <= 1.0 or elapsed < 0.5:
            return None
        return round(elapsed * (100.0 - percent) / percent, 1)

    def write_progress(self) -> None:
        if self.args.progress_file is not None:
            with self.write_lock:
                write_json_atomic(self.args.progress_file, self.snapshot(), durable=False)

    # -- running ----------------------------------------------------------------------------
    def run(self, display: Display) -> None:
        pending = [item for item in self.items if item.status == "pending"]
        self.write_checkpoint()
        self.write_progress()
        monitor = threading.Thread(target=self._monitor, args=(display,), name="batch-monitor")
        monitor.start()
        try:
            with ThreadPoolExecutor(self.args.parallel, thread_name_prefix="batch") as pool:
                futures: set[Future[None]] = {
                    pool.submit(self._run_item, item, display) for item in pending
                }
                try:
                    while futures:
                        _done, futures = wait(futures, timeout=0.2, return_when=FIRST_COMPLETED)
                except KeyboardInterrupt:
                    self.stopping.set()
                    with self.lock:
                        for item in self.items:
                            if item.token is not None:
                                item.token.interrupt()
                    for future in futures:
                        future.cancel()
                    raise
        finally:
            self.stopping.set()
            monitor.join()
            with self.lock:
                for item in self.items:
                    if item.status in ("pending", "running"):
                        item.status, item.error = "interrupted", "the run was interrupted"
            self.finished_at = utcnow()
            self.write_checkpoint()
            self.write_progress()
            try:
                self.work_root.rmdir()  # only when no interrupted work is left in it
            except OSError:
                pass

    def _monitor(self, display: Display) -> None:
        """Refresh the display and the progress file; enforce ``--timeout``."""
        last_file = 0.0
        while not self.stopping.wait(0.2):
            timeout = self.args.timeout
            now = time.monotonic()
            if timeout:
                with self.lock:
                    for item in self.items:
                        late = item.started is not None and now - item.started > timeout
                        if item.status == "running" and item.token and late:
                            item.timed_out = True
                            item.token.cancel()
            display.tick(self)
            if now - last_file >= 0.5:
                last_file = now
                try:
                    self.write_progress()
                except OSError as exc:
                    log.warning("cannot write the progress file: %s", exc)

    def _run_item(self, item: Item, display: Display) -> None:
        if self.stopping.is_set():
            return
        attempts_allowed = 1 + max(0, self.args.max_retries)
        begin = time.monotonic()
        while True:
            token = CancelToken()
            with self.lock:
                item.status, item.error = "running", None
                item.attempts += 1
                item.token, item.timed_out = token, False
                item.started = time.monotonic()
                item.stage, item.percent = "starting", 0.0
            self.write_checkpoint()
            display.started(item)
            try:
                self._execute(item, token)
            except Interrupted:
                with self.lock:
                    item.status, item.error = "interrupted", "the run was interrupted"
                break
            except (MediaCraftError, OSError, ValueError) as exc:
                message = _one_line(exc)
                if isinstance(exc, Cancelled) and item.timed_out:
                    message = f"timed out after {self.args.timeout:g} s"
                retry = item.attempts < attempts_allowed and not self.stopping.is_set()
                with self.lock:
                    item.error = message
                    item.status = "running" if retry else "failed"
                display.failed_attempt(item, message, retry)
                if retry:
                    if self.stopping.wait(min(5.0, 0.5 * item.attempts)):
                        break
                    continue
            except Exception as exc:  # noqa: BLE001 - one item's bug must not stop the batch
                log.exception("item %s failed unexpectedly", item.index)
                with self.lock:
                    item.status, item.error = "failed", f"unexpected error: {_one_line(exc)}"
            else:
                with self.lock:
                    item.status = "completed"
            break
        with self.lock:
            item.elapsed = time.monotonic() - begin
            item.token = None
        self.write_checkpoint()
        display.finished(item)

    def _execute(self, item: Item, token: CancelToken) -> None:
        assert item.output is not None

        def hook(progress: Progress) -> None:
            with self.lock:
                item.stage = progress.stage
                item.percent = float(progress.percent or 0.0)
                item.bytes_done = int(progress.bytes_done or 0)
                item.bytes_total = progress.bytes_total
                item.speed = progress.speed
                item.eta = progress.eta

        if item.task == "download":
            work_dir = self.work_root / item.key
            result = download(
                item.source,
                item.output,
                self.options,
                work_dir=work_dir,
                progress=hook,
                cancel=token,
                allowed_networks=self.allowed,
            )
            shutil.rmtree(work_dir, ignore_errors=True)
            size, duration = result.size, result.duration
        else:
            source = Path(item.source)
            if not source.is_file():
                raise ValidationError(f"no such file: {source}")
            if item.task == "watermark_removal":
                from ..processors.watermark import remove_watermark

                info = remove_watermark(
                    source, item.output, self.regions, progress=hook, cancel=token,
                    timeout=self.args.timeout,
                )  # fmt: skip
            else:
                info = remux_file(source, item.output, hook, token, self.args.timeout)
            size, duration = item.output.stat().st_size, info.duration
        with self.lock:
            item.size = size
            item.media_duration = round(duration, 3) if duration else None
            item.percent = 100.0


def remux_file(
    source: Path,
    output: Path,
    progress: Any,
    cancel: CancelToken,
    timeout: float | None,
) -> Any:
    """Stream-copy a local video into an MP4 (faststart); returns the result's MediaInfo."""
    from ..media import atomic_output, probe, run_ffmpeg
    from ..media.codecs import MP4_VIDEO_COPY, audio_args_for_mp4

    info = probe(source)
    video = ["-c:v", "copy"] if info.video_codec in MP4_VIDEO_COPY else ["-c:v", "libx264"]
    with atomic_output(output) as tmp:
        run_ffmpeg(
            ["-y", "-protocol_whitelist", "file", "-i", os.path.abspath(source),
             "-map", "0:v:0", "-map", "0:a:0?", "-map_metadata", "0", *video,
             *audio_args_for_mp4(info.audio_codec), "-movflags", "+faststart",
             "-f", "mp4", str(tmp)],
            progress, cancel, duration=info.duration, timeout=timeout, stage="remuxing",
        )  # fmt: skip
    return probe(output)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


# --- display --------------------------------------------------------------------------------


class Display:
    """Live progress on stderr: a ``\\r`` status line on a terminal, line logs otherwise."""

    def __init__(self, stream: TextIO, quiet: bool, verbose: bool) -> None:
        self.stream = stream
        self.quiet = quiet
        self.verbose = verbose
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.interval = 0.2 if self.tty else 2.0
        self._last = 0.0
        self._width = 0
        self._lock = threading.Lock()

    def _line(self, text: str) -> None:
        if self.quiet:
            return
        with self._lock:
            if self.tty and self._width:
                self.stream.write("\r" + " " * self._width + "\r")
                self._width = 0
            self.stream.write(text + "\n")
            self.stream.flush()

    def started(self, item: Item) -> None:
        if self.verbose or (not self.tty and item.attempts == 1):
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
        if self.tty:
            parts = [head] + [f"#{i['index']} {i['percent']:.0f}%" for i in running]
            width = shutil.get_terminal_size((120, 20)).columns - 1
            line = "  ".join(parts)[:width]
            with self._lock:
                pad = " " * max(0, self._width - len(line))
                self._width = len(line)
                self.stream.write("\r" + line + pad)
                self.stream.flush()
            return
        self._line(head)
        if self.verbose:
            for i in running:
                self._line(
                    f"    [{i['index']}] {i['stage']:<11} {i['percent']:5.1f}%  "
                    f"{human_bytes(i['bytes_done'])}/{human_bytes(i['bytes_total'])}"
                )

    def close(self) -> None:
        with self._lock:
            if self.tty and self._width:
                self.stream.write("\r" + " " * self._width + "\r")
                self.stream.flush()
                self._width = 0


# --- report ---------------------------------------------------------------------------------


def report_table(items: list[Item]) -> str:
    rows = [("#", "status", "source", "output", "size", "time", "tries", "error")]
    for item in items:
        rows.append(
            (
                str(item.index),
                item.status,
                _clip(item.source, 48),
                _clip(item.output.name if item.output else "-", 28),
                human_bytes(item.size) if item.size is not None else "-",
                f"{item.elapsed:.1f}s" if item.elapsed is not None else "-",
                str(item.attempts),
                _clip(item.error or item.note or "", 70),
            )
        )
    widths = [max(len(row[col]) for row in rows) for col in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(widths[n]) for n, cell in enumerate(row)).rstrip()
             for row in rows]  # fmt: skip
    return "\n".join(lines)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else "…" + text[-(width - 1) :]


def summary_line(items: list[Item], elapsed: float) -> str:
    counts: dict[str, int] = {}
    for item in items:
        counts[item.status] = counts.get(item.status, 0) + 1
    order = ("completed", "skipped", "failed", "invalid", "duplicate", "interrupted")
    parts = [f"{counts[s]} {s}" for s in order if counts.get(s)]
    return f"{len(items)} inputs: {', '.join(parts) or 'nothing to do'} in {elapsed:.1f} s"


def report_json(batch: Batch, args: argparse.Namespace, elapsed: float) -> dict[str, Any]:
    return {
        "started_at": batch.started_at,
        "finished_at": batch.finished_at or utcnow(),
        "elapsed": round(elapsed, 3),
        "output_dir": str(batch.output_dir),
        "parallel": args.parallel,
        "profile": args.profile,
        "counts": {k: v for k, v in batch.counts().items() if v},
        "succeeded": all(i.status in DONE_OK for i in batch.items),
        "items": [item.report() for item in batch.items],
    }


# --- command --------------------------------------------------------------------------------


def _parse_regions(values: list[str]) -> list[list[int]]:
    regions = []
    for value in values:
        parts = value.replace(" ", "").split(",")
        try:
            numbers = [int(p) for p in parts]
        except ValueError:
            numbers = []
        if len(numbers) != 4:
            raise UsageError(f"--regions {value!r} must be four integers x,y,w,h")
        regions.append(numbers)
    return regions


def _check_usage(args: argparse.Namespace) -> None:
    if not (args.url_list or args.file_list or args.input_dir):
        raise UsageError("give at least one of --url-list, --file-list or --input-dir")
    if args.parallel < 1 or args.parallel > 64:
        raise UsageError("--parallel must be from 1 to 64")
    if args.max_retries < 0:
        raise UsageError("--max-retries must be 0 or more")
    if args.timeout is not None and args.timeout <= 0:
        raise UsageError("--timeout must be positive")
    if args.per_host_connections is not None and args.per_host_connections < 1:
        raise UsageError("--per-host-connections must be at least 1")
    if args.task == "watermark_removal" and not args.regions:
        raise UsageError("--task watermark_removal needs at least one --regions x,y,w,h")
    if args.regions and args.task != "watermark_removal":
        raise UsageError("--regions only applies to --task watermark_removal")
    if args.input_dir is not None and args.task == "download":
        raise UsageError("--input-dir holds local files: use --task remux or watermark_removal")


def _print_plan(items: list[Item], batch: Batch, out: TextIO) -> None:
    out.write(f"dry run: {len(items)} inputs, output directory {batch.output_dir}\n")
    for item in items:
        action = {
            "pending": f"{item.task} -> {item.output}",
            "skipped": f"skip ({item.note})",
            "completed": "skip (done in the checkpoint)",
        }.get(item.status, f"{item.status}: {item.error}")
        out.write(f"  [{item.index}] {item.source}  {action}\n")
    runnable = sum(1 for i in items if i.status == "pending")
    out.write(f"would run {runnable} of {len(items)}; nothing was written\n")


def run(args: argparse.Namespace) -> int:
    try:
        _check_usage(args)
        regions = _parse_regions(args.regions)
        options = DownloadOptions.from_profile(
            args.profile, quality=args.quality, threads=args.threads
        )
    except (UsageError, ValidationError) as exc:
        print(f"mediacraft batch: error: {exc}", file=sys.stderr)
        return 2
    if args.verbose:
        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")
    output_dir: Path = args.output.expanduser().resolve()
    items = collect_inputs(args)
    plan(items, args, output_dir)
    batch = Batch(items, args, output_dir)
    batch.options, batch.regions = options, regions
    try:
        batch.allowed = tuple(Config.from_env().allowed_networks) + tuple(args.allow_network)
    except ValueError as exc:
        print(f"mediacraft batch: error: {exc}", file=sys.stderr)
        return 2
    try:
        previous = batch.load_checkpoint() if args.resume else {}
    except UsageError as exc:
        print(f"mediacraft batch: error: {exc}", file=sys.stderr)
        return 2
    _mark_done(items, previous, args.skip_existing)
    if args.dry_run:
        _print_plan(items, batch, sys.stdout)
        return 0 if all(i.status in ("pending", *DONE_OK) for i in items) else 1

    display = Display(sys.stderr, args.quiet, args.verbose)
    if not args.resume and batch.checkpoint_path.exists() and not args.quiet:
        display.note(f"note: starting over; --resume continues the run in {CHECKPOINT_NAME}")
    if args.per_host_connections is not None:
        politeness.configure(args.per_host_connections)
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"mediacraft batch: error: cannot create {output_dir}: {exc}", file=sys.stderr)
        return 2
    code = 0
    try:
        batch.run(display)
    except KeyboardInterrupt:
        code = 130
    finally:
        display.close()
    elapsed = time.monotonic() - batch.started
    if args.quiet:
        for item in items:
            if item.status not in DONE_OK:
                print(f"[{item.index}] {item.status}: {item.source}: {item.error}", file=sys.stderr)
    else:
        print(report_table(items))
    print(summary_line(items, elapsed))
    if args.report is not None:
        try:
            write_json_atomic(args.report, report_json(batch, args, elapsed))
        except OSError as exc:
            print(f"mediacraft batch: cannot write the report: {exc}", file=sys.stderr)
            code = code or 1
    if code:
        print("mediacraft batch: interrupted; run again with --resume to finish", file=sys.stderr)
        return code
    return 0 if all(item.status in DONE_OK for item in items) else 1


def _mark_done(items: list[Item], previous: dict[str, dict[str, Any]], skip: bool) -> None:
    for item in items:
        if item.status != "pending" or item.output is None:
            continue
        record = previous.get(item.key)
        if record and record.get("status") == "completed" and item.output.is_file():
            if record.get("size") in (None, item.output.stat().st_size):
                item.status, item.from_checkpoint = "completed", True
                item.size = record.get("size")
                item.media_duration = record.get("media_duration")
                item.attempts = int(record.get("attempts") or 0)
                item.elapsed = record.get("duration")
                continue
        if skip and item.output.is_file() and item.output.stat().st_size > 0:
            item.status, item.note = "skipped", "the output file already exists"
            item.size = item.output.stat().st_size


__all__ = ["Batch", "Item", "collect_inputs", "plan", "register", "report_table", "run"]
