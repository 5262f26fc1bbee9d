"""Resumable uploads: a file sent in chunks at byte offsets, continued after a cut.

A small protocol on the task API, shaped like tus 1.0's core (no tus server
library for Flask is kept up, and the core is four requests):

* ``POST /api/tasks/{id}/uploads`` ``{"size", "filename"}`` opens an upload
  (the size is checked against the upload limit and the visitor's quota);
* ``PATCH .../uploads/{upload_id}`` with ``Upload-Offset: N`` and the bytes
  from N (``Content-Type: application/offset+octet-stream``, a length
  required) appends them; a chunk that does not start where the upload is
  (409) or ends past the declared size (400) is refused before a byte is read;
* ``GET .../uploads/{upload_id}`` says how far the upload got (``offset``), so
  a client continues from there after a dropped connection;
* ``DELETE .../uploads/{upload_id}`` gives up and removes the bytes.

The bytes received so far live in ``.resumable-{upload_id}.part`` in the
task's upload folder, and its size *is* the offset: a chunk cut midway keeps
what arrived. When the last byte is in, the file is probed and recorded
exactly like a one-request upload (:func:`mediacraft.uploads.accept_part`).

The rules of one-request uploads hold for every chunk: its length is reserved
against the visitor's quota before its body is read (the bytes already
received count as usage on disk), and chunks to one task are serialised by
the task's upload lease, so two chunks, or a chunk and another upload, never
write at once.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import IO, Any

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
from .media import DecodeBudget
from .model import Task
from .paths import TaskPaths
from .processors import get_processor
from .storage import StorageInterface
from .uploads import (
    SINGLE_FILE_TYPES,
    UploadTooLarge,
    _check_takes_uploads,
    _recorder,
    _release_lease,
    _take_lease,
    accept_part,
    display_name,
    upload_in_progress,
)

SESSIONS_KEY = "resumable_uploads"
CHUNK_CONTENT_TYPE = "application/offset+octet-stream"
COPY_BLOCK = 1024 * 1024


class LengthRequired(MediaCraftError):
    status = 411
    reason = "length_required"


def _stored_failure(exc: OSError) -> MediaCraftError:
    return storage_failure(exc) or StorageError(f"The upload could not be stored: {exc}")


def _sessions(task: Task) -> dict[str, dict[str, Any]]:
    sessions = task.metadata.get(SESSIONS_KEY)
    return dict(sessions) if isinstance(sessions, dict) else {}


def part_path(config: Config, task: Task, upload_id: str) -> Path:
    if not (len(upload_id) == 32 and all(c in "0123456789abcdef" for c in upload_id)):
        raise NotFound("No such upload on this task")
    return TaskPaths.of(config.data_dir, task).upload_dir / f".resumable-{upload_id}.part"


def describe(config: Config, task: Task, upload_id: str) -> dict[str, Any]:
    """Where an open upload stands: ``{upload_id, size, offset, filename, receiving}``."""
    session = _sessions(task).get(upload_id)
    if session is None:
        raise NotFound("No such upload on this task (it finished, was cancelled or never began)")
    path = part_path(config, task, upload_id)
    offset = path.stat().st_size if path.exists() else 0
    return {
        "upload_id": upload_id,
        "size": int(session["size"]),
        "offset": offset,
        "filename": session.get("filename", ""),
        "complete": False,
        # a chunk (or another upload) is being written: the offset may still grow
        "receiving": upload_in_progress(task),
    }


def start(storage: StorageInterface, config: Config, task: Task, payload: dict) -> dict[str, Any]:
    """Open an upload of ``payload["size"]`` bytes on ``task``; nothing is written if refused."""
    processor = get_processor(task.task_type)
    if not processor.needs_upload:
        raise InvalidTransition(f"A {task.task_type} task takes no upload")
    _check_takes_uploads(task)
    size = payload.get("size")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValidationError("size must be the file's length in bytes (a positive integer)")
    if size > config.max_upload_bytes:
        raise UploadTooLarge(
            f"The upload is larger than the {config.max_upload_mb} MB limit", reason="too_large"
        )
    filename = payload.get("filename", "")
    if not isinstance(filename, str):
        raise ValidationError("filename must be a string")
    left = quota.remaining(config, task.user_id)
    if size > left:
        raise QuotaExceeded(
            f"Your storage quota of {config.user_quota_mb} MB is used up ({left // MiB} MB "
            f"free, this upload needs {-(-size // MiB)} MB); delete old tasks"
        )
    upload_id = secrets.token_hex(16)

    def open_session(record: Task) -> None:
        _check_takes_uploads(record)
        sessions = _sessions(record)
        if record.task_type in SINGLE_FILE_TYPES:
            expected = 1
        else:
            expected = len(record.inputs) + len(sessions) + 1
        if len(sessions) + 1 > config.max_clips or expected > config.max_clips:
            raise ValidationError(f"At most {config.max_clips} clips can be uploaded")
        if record.task_type in SINGLE_FILE_TYPES and sessions:
            raise InvalidTransition(
                "This task takes one video and an upload of it is already open; continue or "
                "cancel that one"
            )
        sessions[upload_id] = {
            "size": size,
            "filename": display_name(filename),
            "created_at": time.time(),
        }
        record.metadata[SESSIONS_KEY] = sessions

    task = storage.update_task(task.task_id, open_session)
    path = part_path(config, task, upload_id)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(exist_ok=False)
    except OSError as exc:
        _forget(storage, task.task_id, upload_id)
        raise _stored_failure(exc) from exc
    return describe(config, task, upload_id)


def _forget(storage: StorageInterface, task_id: str, upload_id: str) -> Task | None:
    def drop(record: Task) -> None:
        sessions = _sessions(record)
        sessions.pop(upload_id, None)
        if sessions:
            record.metadata[SESSIONS_KEY] = sessions
        else:
            record.metadata.pop(SESSIONS_KEY, None)

    try:
        return storage.update_task(task_id, drop)
    except NotFound:
        return None


def _parse_offset(raw: str | None) -> int:
    if raw is None or raw == "":
        raise ValidationError("Send the chunk's start as the Upload-Offset header")
    if not raw.isdigit():
        raise ValidationError("Upload-Offset must be a whole number of bytes")
    return int(raw)


def append(
    storage: StorageInterface,
    config: Config,
    task: Task,
    upload_id: str,
    *,
    offset_header: str | None,
    content_type: str | None,
    length: int | None,
    stream: IO[bytes],
) -> tuple[dict[str, Any], Task | None]:
    """Write one chunk; (the upload's state, the task when this chunk completed the file).

    Every check runs before the body is read, so a refused chunk changes nothing.
    """
    offset = _parse_offset(offset_header)
    if (content_type or "").split(";", 1)[0].strip().lower() != CHUNK_CONTENT_TYPE:
        err = MediaCraftError(
            f"Send the chunk as {CHUNK_CONTENT_TYPE}", reason="unsupported_media_type"
        )
        err.status = 415
        raise err
    if length is None:
        raise LengthRequired("Send the chunk with a Content-Length")
    state = describe(config, task, upload_id)  # 404 for an unknown upload
    path = part_path(config, task, upload_id)
    lease = _take_lease(storage, task.task_id)
    try:
        current = storage.get_task(task.task_id) or task
        _check_takes_uploads(current)
        state = describe(config, current, upload_id)
        if offset != state["offset"]:
            raise InvalidTransition(
                f"The chunk starts at byte {offset} but the upload is at byte "
                f"{state['offset']}; send from there",
                reason="upload_offset",
            )
        if offset + length > state["size"]:
            raise ValidationError(
                f"The chunk ends at byte {offset + length}, past the declared size of "
                f"{state['size']} bytes",
                reason="too_large",
            )
        if length:
            _check_disk(config, length)
            with quota.reserved(config, task.user_id, length):
                _write(path, stream, length)
        state = describe(config, current, upload_id)
        if state["offset"] < state["size"]:
            return state, None
        return _finish(storage, config, current, upload_id, state, lease)
    finally:
        _release_lease(storage, task.task_id, lease)


def _check_disk(config: Config, length: int) -> None:
    try:
        free = free_bytes(config.data_dir)
    except OSError:
        return
    if free - length < config.min_free_mb * MiB:
        raise StorageFull("The server's disk is nearly full; uploads are paused, try again later")


def _write(path: Path, stream: IO[bytes], length: int) -> None:
    """Append up to ``length`` bytes of ``stream``; what arrives before a cut stays."""
    try:
        # never created here: a part removed by a cancel stays removed
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    except FileNotFoundError:
        raise NotFound("No such upload on this task (it was cancelled)") from None
    except OSError as exc:
        raise _stored_failure(exc) from exc
    try:
        with os.fdopen(fd, "ab") as handle:
            try:
                left = length
                while left > 0:
                    block = stream.read(min(COPY_BLOCK, left))
                    if not block:
                        break
                    handle.write(block)
                    left -= len(block)
            finally:
                handle.flush()
                os.fsync(handle.fileno())  # the offset a client is told is on disk
    except OSError as exc:
        raise _stored_failure(exc) from exc


def _finish(
    storage: StorageInterface,
    config: Config,
    task: Task,
    upload_id: str,
    state: dict[str, Any],
    lease: str,
) -> tuple[dict[str, Any], Task]:
    """Probe the complete file and record it on the task, as a one-request upload would."""
    paths = TaskPaths.of(config.data_dir, task)
    path = part_path(config, task, upload_id)
    try:
        budget = DecodeBudget.from_config(config)
        item = accept_part(paths.upload_dir, path, state["filename"], budget)
    except MediaError:
        path.unlink(missing_ok=True)  # a file that is not a video is not kept
        _forget(storage, task.task_id, upload_id)
        raise
    replace = task.task_type in SINGLE_FILE_TYPES
    record_upload = _recorder([item], replace, lease)

    def record(current: Task) -> None:
        if upload_id not in _sessions(current):
            raise InvalidTransition("The upload was cancelled meanwhile")
        record_upload(current)
        sessions = _sessions(current)
        sessions.pop(upload_id, None)
        if sessions:
            current.metadata[SESSIONS_KEY] = sessions
        else:
            current.metadata.pop(SESSIONS_KEY, None)

    try:
        updated = storage.update_task(task.task_id, record)
    except BaseException:
        Path(item["path"]).unlink(missing_ok=True)
        raise
    return {**state, "complete": True}, updated


def abort(storage: StorageInterface, config: Config, task: Task, upload_id: str) -> None:
    """Give up an open upload and remove its bytes (waits for a chunk being written)."""
    describe(config, task, upload_id)
    lease = _take_lease(storage, task.task_id)
    try:
        part_path(config, task, upload_id).unlink(missing_ok=True)
        _forget(storage, task.task_id, upload_id)
    finally:
        _release_lease(storage, task.task_id, lease)
