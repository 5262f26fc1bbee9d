"""Fetch a draft's materials at once, with progress by file.

Every URL goes through :func:`mediacraft.download.download` (guarded, resumable,
aria2 or built-in for direct files); each material has its own work
directory, so a new attempt after a crash resumes each one where it stopped
and skips those already complete (a ``.done.json`` beside the file records
its probe). The first material that fails stops the others, and the failure
names the material.

Progress is reported as seed 001's ``DownloadProgressInfo`` (``materials``)
plus one entry per file (``files``).
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..atomic import write_json_atomic
from ..download import DownloadLimits, DownloadOptions, download
from ..download.engine import DirectFetch
from ..exceptions import Cancelled, Interrupted, MediaCraftError, MediaError, QuotaExceeded
from ..media.probe import probe_streams as probe
from ..progress import CancelToken, LogHook, Progress, ProgressHook, SpeedMeter
from .builder import Material
from .spec import MaterialRef

MAX_PARALLEL = 4
MEDIA_SUFFIXES = (".mp4", ".m4a", ".mov", ".mkv", ".webm", ".mp3", ".aac", ".wav")


@dataclass
class FileState:
    name: str
    kind: str
    source: str
    status: str = "pending"  # pending | downloading | completed | failed
    bytes_done: int = 0
    bytes_total: int | None = None
    speed: float | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class MaterialsProgress:
    """Per-file states and their totals; reports through ``hook`` (thread-safe)."""

    files: list[FileState]
    hook: ProgressHook
    quota: int | None = None
    stop: CancelToken | None = None  # cancelled when the quota is passed
    exceeded: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _meter: SpeedMeter = field(default_factory=SpeedMeter)

    def update(self, index: int, **values: Any) -> None:
        with self._lock:
            for key, value in values.items():
                setattr(self.files[index], key, value)
            report = self._snapshot()
        self.hook(report)

    def over_quota(self) -> bool:
        if self.quota is None:
            return False
        with self._lock:
            need = sum(max(f.bytes_done, f.bytes_total or 0) for f in self.files)
        return need > self.quota

    def summary(self) -> dict[str, Any]:
        """Seed 001's ``DownloadProgressInfo`` of the files so far."""
        files = self.files
        total = sum(f.bytes_total or f.bytes_done for f in files)
        done = sum(f.bytes_done for f in files)
        completed = sum(f.status == "completed" for f in files)
        if total and all(f.bytes_total for f in files):
            percent = 100.0 * done / total
        else:
            percent = 100.0 * completed / len(files) if files else 0.0
        speed = self._meter.update(done)
        remaining = max(0, total - done)
        eta = int(remaining / speed) if speed and speed > 0 and total else None
        return {
            "total_files": len(files),
            "completed_files": completed,
            "failed_files": sum(f.status == "failed" for f in files),
            "total_size": total,
            "downloaded_size": done,
            "progress_percent": round(min(100.0, percent), 2),
            "download_speed": int(speed or 0),
            "eta_seconds": eta,
        }

    def _snapshot(self) -> Progress:
        summary = self.summary()
        return Progress(
            stage="downloading",
            percent=round(summary["progress_percent"] * 0.9, 2),  # the draft is the last 10 %
            bytes_done=summary["downloaded_size"],
            bytes_total=summary["total_size"] or None,
            speed=float(summary["download_speed"]),
            eta=summary["eta_seconds"],
            files=[f.to_dict() for f in self.files],
            materials=summary,
        )


@dataclass
class MaterialFetcher:
    """Downloads the materials of one draft task into ``work_dir/materials``."""

    work_dir: Path
    options: DownloadOptions
    limits: DownloadLimits
    allowed_networks: tuple[str, ...]
    direct: DirectFetch | None
    log: LogHook
    resolve_task: Callable[[str], Path | None]  # a finished task's result file, by id

    def fetch_all(
        self, refs: tuple[MaterialRef, ...], cancel: CancelToken, hook: ProgressHook
    ) -> list[Material]:
        files = [FileState(_stem(ref), ref.kind, ref.source) for ref in refs]
        inner = CancelToken()
        progress = MaterialsProgress(files, hook, self.limits.quota, inner)
        stop_mirror = _mirror(cancel, inner)
        failures: list[tuple[MaterialRef, MediaCraftError]] = []
        results: dict[int, Material] = {}

        def one(index: int) -> None:
            ref = refs[index]
            try:
                results[index] = self._fetch(index, ref, progress, inner)
            except (Cancelled, Interrupted):
                if not cancel.is_set and not failures and not progress.exceeded:
                    raise
            except MediaCraftError as exc:
                progress.update(index, status="failed", error=exc.message, speed=None)
                failures.append((ref, exc))
                inner.cancel()  # one material failed: the draft cannot be built, stop the rest

        try:
            with ThreadPoolExecutor(min(MAX_PARALLEL, len(refs)), "draft-material") as pool:
                list(pool.map(one, range(len(refs))))
        finally:
            stop_mirror()
        cancel.check()
        if progress.exceeded:
            raise QuotaExceeded(
                "The materials are larger than what is left of your storage quota "
                f"({(self.limits.quota or 0) // (1024 * 1024)} MB); delete old tasks"
            )
        if failures:
            ref, exc = failures[0]
            raise _named(ref, exc)
        return [results[i] for i in range(len(refs))]

    def _fetch(
        self, index: int, ref: MaterialRef, progress: MaterialsProgress, cancel: CancelToken
    ) -> Material:
        folder = self.work_dir / "materials"
        folder.mkdir(parents=True, exist_ok=True)
        stem = _stem(ref)
        done = _load_done(folder, stem)
        if done is not None:
            progress.update(index, status="completed", bytes_done=done.path.stat().st_size,
                            bytes_total=done.path.stat().st_size)  # fmt: skip
            return done
        if ref.task_id is not None:
            return self._from_task(index, ref, folder, stem, progress)
        progress.update(index, status="downloading")

        def report(step: Progress) -> None:
            progress.update(index, bytes_done=step.bytes_done, bytes_total=step.bytes_total,
                            speed=step.speed)  # fmt: skip
            if progress.over_quota() and not progress.exceeded:
                progress.exceeded = True
                if progress.stop is not None:
                    progress.stop.cancel()

        assert ref.url is not None
        result = download(
            ref.url, folder / f"{stem}.mp4", self.options, work_dir=self.work_dir / "dl" / stem,
            progress=report, cancel=cancel, allowed_networks=self.allowed_networks,
            limits=self.limits, log=self.log, choose_suffix=True, direct=self.direct,
        )  # fmt: skip
        shutil.rmtree(self.work_dir / "dl" / stem, ignore_errors=True)
        material = _material(ref, result.path)
        size = result.path.stat().st_size
        progress.update(index, status="completed", bytes_done=size, bytes_total=size, speed=None)
        return material

    def _from_task(
        self, index: int, ref: MaterialRef, folder: Path, stem: str, progress: MaterialsProgress
    ) -> Material:
        assert ref.task_id is not None
        source = self.resolve_task(ref.task_id)
        if source is None:
            raise MediaError(f"task {ref.task_id} has no finished result to use")
        target = folder / f"{stem}{source.suffix.lower()}"
        target.unlink(missing_ok=True)
        try:
            os.link(source, target)
        except OSError:
            shutil.copyfile(source, target)
        material = _material(ref, target)
        size = target.stat().st_size
        progress.update(index, status="completed", bytes_done=size, bytes_total=size)
        return material


def _stem(ref: MaterialRef) -> str:
    return f"{ref.kind}_{ref.index:02d}"


def _material(ref: MaterialRef, path: Path) -> Material:
    info = probe(path)
    if not info.duration:
        raise MediaError("it has no duration (not playable media)")
    if ref.kind == "video" and info.width is None:
        raise MediaError("it has no video stream; give it as an audio material")
    material = Material(ref.kind, ref.label, path, float(info.duration), info.width, info.height)
    write_json_atomic(path.with_name(f"{path.name}.done.json"),
                      {"duration": material.duration, "width": info.width,
                       "height": info.height})  # fmt: skip
    return material


def _load_done(folder: Path, stem: str) -> Material | None:
    for suffix in MEDIA_SUFFIXES:
        path = folder / f"{stem}{suffix}"
        marker = path.with_name(f"{path.name}.done.json")
        if path.is_file() and marker.is_file():
            try:
                data = json.loads(marker.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return None
            kind, _, number = stem.partition("_")
            return Material(kind, f"{kind} {int(number)}", path, float(data["duration"]),
                            data.get("width"), data.get("height"))  # fmt: skip
    return None


def _named(ref: MaterialRef, exc: MediaCraftError) -> MediaCraftError:
    """The same kind of error, its message naming the material."""
    message = f"The {ref.label} ({ref.source[:200]}) failed: {exc.message}"
    try:
        named = type(exc)(message)
    except TypeError:  # a constructor that wants more than the message
        named = MediaCraftError(message)
        named.status = exc.status
    named.reason = exc.reason
    return named


def _mirror(outer: CancelToken, inner: CancelToken) -> Callable[[], None]:
    """Pass a cancel, interrupt or time-out of ``outer`` on to ``inner``."""
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            if outer.event.wait(0.05):
                inner.reason = outer.reason
                inner.event.set()
                return

    thread = threading.Thread(target=watch, name="draft-cancel", daemon=True)
    thread.start()

    def stop() -> None:
        done.set()
        thread.join()

    return stop


__all__ = ["FileState", "MaterialFetcher", "MaterialsProgress"]
