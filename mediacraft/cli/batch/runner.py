"""Running a batch: the thread pool, retries, the checkpoint and the progress file.

:class:`Batch` runs the pending items of a plan on ``--parallel`` threads,
through the download engine or ffmpeg (:func:`remux_file`, the watermark
processor); one failure never stops the others. Each item's state is kept in
an atomically written checkpoint (``<output>/.mediacraft-batch.json``) that
:meth:`Batch.load_checkpoint` and :func:`mark_done` read back for ``--resume``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from ...atomic import write_json_atomic
from ...download import DownloadLimits, DownloadOptions, download
from ...exceptions import Cancelled, Interrupted, MediaCraftError, ValidationError
from ...model import utcnow
from ...progress import CancelToken, Progress
from .display import Display
from .inputs import Item
from .options import BatchOptions

log = logging.getLogger(__name__)

CHECKPOINT_NAME = ".mediacraft-batch.json"
WORK_DIR_NAME = ".mediacraft-batch"
CHECKPOINT_VERSION = 1
FINAL = frozenset({"completed", "failed", "skipped", "invalid", "duplicate", "interrupted"})


class CheckpointError(Exception):
    """The checkpoint cannot be read or is not a batch checkpoint of this version."""


class Batch:
    """Runs the pending items, keeps the checkpoint and the progress file."""

    def __init__(
        self,
        items: list[Item],
        options: BatchOptions,
        output_dir: Path,
        download_options: DownloadOptions,
        allowed: tuple[str, ...] = (),
        limits: DownloadLimits | None = None,
    ) -> None:
        self.items = items
        self.options = options
        self.output_dir = output_dir
        self.checkpoint_path = output_dir / CHECKPOINT_NAME
        self.work_root = output_dir / WORK_DIR_NAME
        self.lock = threading.Lock()
        self.write_lock = threading.Lock()  # one checkpoint write at a time, newest last
        self.started_at = utcnow()
        self.started = time.monotonic()
        self.stopping = threading.Event()
        self.download_options = download_options
        self.allowed = allowed  # networks exempt from the private-address guard
        self.limits = limits  # the server's caps, from the environment
        self.finished_at: str | None = None

    # -- persistence ------------------------------------------------------------------------
    def load_checkpoint(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.checkpoint_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise CheckpointError(
                f"cannot read the checkpoint {self.checkpoint_path}: {exc}"
            ) from None
        if not isinstance(data, dict) or data.get("version") != CHECKPOINT_VERSION:
            raise CheckpointError(
                f"{self.checkpoint_path} is not a batch checkpoint of this version"
            )
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
        if self.options.progress_file is not None:
            with self.write_lock:
                write_json_atomic(self.options.progress_file, self.snapshot(), durable=False)

    # -- running ----------------------------------------------------------------------------
    def run(self, display: Display) -> None:
        pending = [item for item in self.items if item.status == "pending"]
        self.write_checkpoint()
        self.write_progress()
        monitor = threading.Thread(target=self._monitor, args=(display,), name="batch-monitor")
        monitor.start()
        try:
            with ThreadPoolExecutor(self.options.parallel, thread_name_prefix="batch") as pool:
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
            timeout = self.options.timeout
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
        attempts_allowed = 1 + max(0, self.options.max_retries)
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
                    message = f"timed out after {self.options.timeout:g} s"
                retry = item.attempts < attempts_allowed and not self.stopping.is_set()
                with self.lock:
                    item.error = message
                    item.status = "running" if retry else "failed"
                display.failed_attempt(item, message, retry)
                if retry:
                    if self.stopping.wait(min(5.0, 0.5 * item.attempts)):
                        break
                    continue
            except Exception as exc:  # one item's bug must not stop the batch
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
                self.download_options,
                work_dir=work_dir,
                progress=hook,
                cancel=token,
                allowed_networks=self.allowed,
                limits=self.limits,
            )
            shutil.rmtree(work_dir, ignore_errors=True)
            size, duration = result.size, result.duration
        else:
            source = Path(item.source)
            if not source.is_file():
                raise ValidationError(f"no such file: {source}")
            if item.task == "watermark_removal":
                from ...processors.watermark import remove_watermark

                regions = [list(r) for r in self.options.regions]
                info = remove_watermark(
                    source, item.output, regions, progress=hook, cancel=token,
                    timeout=self.options.timeout,
                )  # fmt: skip
            else:
                info = remux_file(source, item.output, hook, token, self.options.timeout)
            size, duration = item.output.stat().st_size, info.duration
        with self.lock:
            item.size = size
            item.media_duration = round(duration, 3) if duration else None
            item.percent = 100.0


def mark_done(items: list[Item], previous: dict[str, dict[str, Any]], skip: bool) -> None:
    """Mark items done in the ``--resume`` checkpoint, or skipped by ``--skip-existing``."""
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


def remux_file(
    source: Path,
    output: Path,
    progress: Any,
    cancel: CancelToken,
    timeout: float | None,
) -> Any:
    """Stream-copy a local video into an MP4 (faststart); returns the result's MediaInfo."""
    from ...media import atomic_output, mp4_args, probe, run_ffmpeg
    from ...media.codecs import MP4_VIDEO_COPY, audio_args_for_mp4

    info = probe(source)
    video = ["-c:v", "copy"] if info.video_codec in MP4_VIDEO_COPY else ["-c:v", "libx264"]
    with atomic_output(output) as tmp:
        run_ffmpeg(
            ["-y", "-protocol_whitelist", "file", "-i", os.path.abspath(source),
             "-map", "0:v:0", "-map", "0:a:0?", *video,
             *audio_args_for_mp4(info.audio_codec), *mp4_args(), str(tmp)],
            progress, cancel, duration=info.duration, timeout=timeout, stage="remuxing",
        )  # fmt: skip
    return probe(output)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
