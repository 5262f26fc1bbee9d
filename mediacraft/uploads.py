"""Accepting uploaded videos: quota reservation, probing, server-generated names, one at a time.

The visitor's file name is display text only; the stored name is
``input-NN.<ext>`` with the extension taken from the probed container. A file
that does not probe as an allowed video within the decoding budget is
removed before the answer is sent.

Three rules keep concurrent uploads honest:

* :func:`receiving` reserves the body's size against the visitor's quota
  before the body is read (a chunked body without a length reserves what is
  left and is cut off there), so parallel uploads cannot pass the quota
  together.
* Uploads to one task are serialised by a lease in the task record (it
  works across processes and disappears with the record): the second waits
  for the first, then numbers its clips after the first one's.
* A stored name is created exclusively (``os.link`` fails on an existing
  name), so an upload only ever deletes the files it created.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from werkzeug.datastructures import FileStorage as UploadedFile

from . import quota
from .config import Config
from .diskspace import MiB, free_bytes, storage_failure
from .exceptions import (
    InvalidTransition,
    MediaCraftError,
    MediaError,
    NotFound,
    QuotaExceeded,
    StorageError,
    StorageFull,
    ValidationError,
)
from .liveness import process_alive, same_machine, this_process
from .media import DecodeBudget, media_metadata, probe_upload
from .model import Task, TaskStatus
from .paths import TaskPaths
from .processors import get_processor
from .storage import StorageInterface

if TYPE_CHECKING:
    from flask import Request

EXTENSIONS = {"mov,mp4,m4a,3gp,3g2,mj2": ".mp4", "matroska,webm": ".mkv", "mpegts": ".ts"}
SINGLE_FILE_TYPES = {"watermark_removal"}
LEASE_KEY = "upload_lease"
LEASE_WAIT = 60.0  # how long an upload waits for another upload to the same task
LEASE_TTL = 3600.0  # a lease of another machine older than this is abandoned
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NUMBERED = re.compile(r"^input-(\d+)\.")

# Kept for callers of the earlier name; the quota lives in quota.py.
user_usage = quota.usage


class UploadTooLarge(MediaCraftError):
    """The uploaded files together are larger than ``MAX_UPLOAD_MB``."""

    status = 413


def display_name(raw: str | None) -> str:
    """The visitor's file name, made safe to show (never used as a path)."""
    name = _CONTROL.sub("", raw or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    return name[:200] or "video"


def extension_for(format_name: str) -> str:
    for names, ext in EXTENSIONS.items():
        if format_name == names or format_name in names.split(","):
            return ext
    first = format_name.split(",", 1)[0]
    return "." + re.sub(r"[^a-z0-9]", "", first.lower())[:8] if first else ".video"


def remaining_quota(config: Config, user_id: str) -> int:
    """Bytes the visitor may still write (quota minus usage and uploads in flight)."""
    return quota.remaining(config, user_id)


@contextmanager
def receiving(config: Config, user_id: str, request: Request) -> Iterator[quota.Reservation]:
    """Reserve the request body's size before the body is read; release it afterwards.

    Call before touching ``request.files``. A body without a length (chunked)
    reserves what the visitor has left, and the request is cut off there (413).
    """
    try:
        free = free_bytes(config.data_dir)
    except OSError:
        free = None
    length = request.content_length
    if free is not None and free - (length or 0) < config.min_free_mb * MiB:
        raise StorageFull("The server's disk is nearly full; uploads are paused, try again later")
    if length is None:
        length = min(config.max_upload_bytes, quota.remaining(config, user_id))
        if length <= 0:
            raise QuotaExceeded(
                f"Your storage quota of {config.user_quota_mb} MB is used up; delete old tasks"
            )
        request.max_content_length = length
    elif length > config.max_upload_bytes + MiB:
        raise UploadTooLarge(f"The upload is larger than the {config.max_upload_mb} MB limit")
    with quota.reserved(config, user_id, length) as reservation:
        yield reservation


def accept_uploads(
    storage: StorageInterface,
    config: Config,
    task: Task,
    files: list[UploadedFile],
    content_length: int | None = None,
) -> Task:
    """Store, probe and record ``files`` on ``task``; all or nothing.

    ``content_length`` is unused (the quota is reserved by :func:`receiving`);
    it stays for callers of the earlier signature.
    """
    processor = get_processor(task.task_type)
    if not processor.needs_upload:
        raise InvalidTransition(f"A {task.task_type} task takes no upload")
    _check_takes_uploads(task)
    files = [f for f in files if f and (f.filename or f.content_length)]
    if not files:
        raise ValidationError("Send the video in the multipart field 'file'")
    replace = task.task_type in SINGLE_FILE_TYPES
    if replace and len(files) > 1:
        raise ValidationError("This task takes one video")

    lease = _take_lease(storage, task.task_id)
    try:
        task = storage.get_task(task.task_id) or task  # as the previous upload left it
        _check_takes_uploads(task)
        existing = 0 if replace else len(task.inputs)
        if existing + len(files) > config.max_clips:
            raise ValidationError(f"At most {config.max_clips} clips can be uploaded")
        accepted = _store_files(config, task, files)
        try:
            return storage.update_task(task.task_id, _recorder(accepted, replace, lease))
        except BaseException:
            for item in accepted:
                Path(item["path"]).unlink(missing_ok=True)
            raise
    finally:
        _release_lease(storage, task.task_id, lease)


def _check_takes_uploads(task: Task) -> None:
    if task.status not in (TaskStatus.CREATED, TaskStatus.UPLOADED):
        raise InvalidTransition(f"A {task.status.value} task cannot take uploads")


def _store_files(config: Config, task: Task, files: list[UploadedFile]) -> list[dict[str, Any]]:
    """Save, probe and name each file; on any failure remove what this call wrote."""
    paths = TaskPaths.of(config.data_dir, task)
    budget = DecodeBudget.from_config(config)
    accepted: list[dict[str, Any]] = []
    written: list[Path] = []
    received = 0
    try:
        paths.upload_dir.mkdir(parents=True, exist_ok=True)
        for upload in files:
            part = paths.upload_dir / f".upload-{uuid.uuid4().hex}.part"
            written.append(part)
            upload.save(part)
            size = part.stat().st_size
            received += size
            # MAX_CONTENT_LENGTH allows 1 MB of multipart overhead above the limit
            if received > config.max_upload_bytes:
                raise UploadTooLarge(
                    f"The upload is larger than the {config.max_upload_mb} MB limit"
                )
            item = accept_part(paths.upload_dir, part, upload.filename, budget)
            written.remove(part)
            written.append(Path(item["path"]))
            accepted.append(item)
    except OSError as exc:
        _remove(written, paths.upload_dir)
        failure = storage_failure(exc)
        if failure is not None:
            raise failure from exc
        raise StorageError(f"The upload could not be stored: {exc.strerror or exc}") from exc
    except BaseException:
        _remove(written, paths.upload_dir)
        raise
    return accepted


def accept_part(
    upload_dir: Path, part: Path, filename: str | None, budget: DecodeBudget
) -> dict[str, Any]:
    """Probe a fully received file and give it its ``input-NN`` name; its ``inputs`` entry.

    On a file that is empty or not a usable video, :class:`MediaError` naming
    the visitor's file; the part is then left for the caller to remove.
    """
    size = part.stat().st_size
    if size == 0:
        raise MediaError(
            f"{display_name(filename)}: the uploaded file is empty", reason="empty_file"
        )
    try:
        info = probe_upload(part, budget)
    except MediaError as exc:
        raise MediaError(
            f"{display_name(filename)}: {exc.message}", reason=exc.reason
        ) from None
    final = _claim_name(upload_dir, part, extension_for(info.format_name))
    try:
        part.unlink()
    except BaseException:
        final.unlink(missing_ok=True)
        raise
    return {
        "path": str(final),
        "original_filename": display_name(filename),
        "size": size,
        "media": media_metadata(info),
    }


def _claim_name(directory: Path, part: Path, extension: str) -> Path:
    """Link ``part`` to the next free ``input-NN`` name; never replaces an existing file."""
    number = 1 + max(
        (int(m.group(1)) for p in directory.iterdir() if (m := _NUMBERED.match(p.name))),
        default=0,
    )
    while True:
        final = directory / f"input-{number:02d}{extension}"
        try:
            os.link(part, final)
            return final
        except FileExistsError:
            number += 1


def _recorder(accepted: list[dict[str, Any]], replace: bool, lease: str):
    def record(current: Task) -> None:
        _check_takes_uploads(current)
        if (current.metadata.get(LEASE_KEY) or {}).get("id") != lease:
            raise InvalidTransition("The upload was interrupted; send it again")
        if replace:
            for old in current.inputs:
                if old.get("path") and old["path"] not in {a["path"] for a in accepted}:
                    Path(old["path"]).unlink(missing_ok=True)
            current.inputs = []
        current.inputs.extend(accepted)
        first = current.inputs[0]
        current.original_filename = first["original_filename"]
        current.input_file_path = first["path"]
        current.file_size = sum(int(item["size"]) for item in current.inputs)
        current.metadata["media"] = first["media"]
        current.metadata.pop(LEASE_KEY, None)
        if current.name in ("", current.task_type.replace("_", " ")):
            current.name = first["original_filename"]
        current.transition(TaskStatus.UPLOADED)
        current.stage = "uploaded"

    return record


# --- the upload lease: one upload per task at a time ----------------------------------
def upload_in_progress(task: Task) -> bool:
    """A live upload holds the task (a configure must wait: 409)."""
    return _lease_alive(task.metadata.get(LEASE_KEY))


def _lease_alive(lease: Any) -> bool:
    if not isinstance(lease, dict) or "id" not in lease:
        return False
    pid = lease.get("pid")
    if same_machine(lease) and isinstance(pid, int):
        started = lease.get("started")
        return process_alive(pid, started if isinstance(started, str) else None)
    return time.time() - float(lease.get("at") or 0) < LEASE_TTL


class _Busy(Exception):
    pass


def _take_lease(storage: StorageInterface, task_id: str) -> str:
    """Wait (up to LEASE_WAIT) until no other upload holds the task, then hold it."""
    lease = uuid.uuid4().hex

    def take(task: Task) -> None:
        _check_takes_uploads(task)
        if _lease_alive(task.metadata.get(LEASE_KEY)):
            raise _Busy()
        task.metadata[LEASE_KEY] = {"id": lease, "at": time.time(), **this_process()}

    deadline = time.monotonic() + LEASE_WAIT
    while True:
        try:
            storage.update_task(task_id, take)
            return lease
        except _Busy:
            if time.monotonic() > deadline:
                raise InvalidTransition(
                    "Another upload to this task is still being stored; "
                    "try again when it has finished"
                ) from None
            time.sleep(0.05)


def _release_lease(storage: StorageInterface, task_id: str, lease: str) -> None:
    def release(task: Task) -> None:
        if (task.metadata.get(LEASE_KEY) or {}).get("id") != lease:
            raise _Busy()  # already released by the record step
        task.metadata.pop(LEASE_KEY, None)

    try:
        storage.update_task(task_id, release)
    except (_Busy, NotFound):
        pass


def _remove(paths: list[Path], upload_dir: Path) -> None:
    for path in paths:
        path.unlink(missing_ok=True)
    _remove_if_empty(upload_dir)


def _remove_if_empty(directory: Path) -> None:
    for candidate in (directory, directory.parent):
        try:
            candidate.rmdir()
        except OSError:
            return
