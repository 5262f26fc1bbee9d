"""Accepting uploaded videos: size and quota checks, probing, server-generated names.

The visitor's file name is display text only; the stored name is
``input-NN.<ext>`` with the extension taken from the probed container. A file
that does not probe as an allowed video is removed before the answer is sent.
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path
from typing import Any

from werkzeug.datastructures import FileStorage as UploadedFile

from .config import Config
from .exceptions import (
    InvalidTransition,
    MediaCraftError,
    MediaError,
    QuotaExceeded,
    ValidationError,
)
from .media import media_metadata, probe_upload
from .paths import TaskPaths, dir_size
from .processors import get_processor
from .storage import StorageInterface
from .tasks import Task, TaskStatus

EXTENSIONS = {"mov,mp4,m4a,3gp,3g2,mj2": ".mp4", "matroska,webm": ".mkv", "mpegts": ".ts"}
SINGLE_FILE_TYPES = {"watermark_removal"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


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


def user_usage(config: Config, user_id: str) -> int:
    return sum(dir_size(config.data_dir / kind / user_id) for kind in ("uploads", "results"))


def accept_uploads(
    storage: StorageInterface,
    config: Config,
    task: Task,
    files: list[UploadedFile],
    content_length: int | None,
) -> Task:
    """Store, probe and record ``files`` on ``task``; all or nothing."""
    processor = get_processor(task.task_type)
    if not processor.needs_upload:
        raise InvalidTransition(f"A {task.task_type} task takes no upload")
    if task.status not in (TaskStatus.CREATED, TaskStatus.UPLOADED):
        raise InvalidTransition(f"A {task.status.value} task cannot take uploads")
    files = [f for f in files if f and (f.filename or f.content_length)]
    if not files:
        raise ValidationError("Send the video in the multipart field 'file'")
    replace = task.task_type in SINGLE_FILE_TYPES
    if replace and len(files) > 1:
        raise ValidationError("This task takes one video")
    existing = 0 if replace else len(task.inputs)
    if existing + len(files) > config.max_clips:
        raise ValidationError(f"At most {config.max_clips} clips can be uploaded")
    quota = config.user_quota_mb * 1024 * 1024
    if user_usage(config, task.user_id) + (content_length or 0) > quota:
        raise QuotaExceeded(
            f"Your storage quota of {config.user_quota_mb} MB is used up; delete old tasks"
        )

    paths = TaskPaths.of(config.data_dir, task)
    paths.upload_dir.mkdir(parents=True, exist_ok=True)
    accepted: list[dict[str, Any]] = []
    written: list[Path] = []
    received = 0
    try:
        for offset, upload in enumerate(files):
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
            if size == 0:
                raise MediaError(f"{display_name(upload.filename)}: the uploaded file is empty")
            try:
                info = probe_upload(part)
            except MediaError as exc:
                raise MediaError(f"{display_name(upload.filename)}: {exc.message}") from None
            number = existing + offset + 1
            final = paths.upload_dir / f"input-{number:02d}{extension_for(info.format_name)}"
            os.replace(part, final)
            written[-1] = final
            accepted.append(
                {
                    "path": str(final),
                    "original_filename": display_name(upload.filename),
                    "size": size,
                    "media": media_metadata(info),
                }
            )
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        _remove_if_empty(paths.upload_dir)
        raise

    def record(current: Task) -> None:
        if current.status not in (TaskStatus.CREATED, TaskStatus.UPLOADED):
            raise InvalidTransition(f"A {current.status.value} task cannot take uploads")
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
        if current.name in ("", current.task_type.replace("_", " ")):
            current.name = first["original_filename"]
        current.transition(TaskStatus.UPLOADED)
        current.stage = "uploaded"

    try:
        return storage.update_task(task.task_id, record)
    except BaseException:
        for item in accepted:
            Path(item["path"]).unlink(missing_ok=True)
        raise


def _remove_if_empty(directory: Path) -> None:
    for candidate in (directory, directory.parent):
        try:
            candidate.rmdir()
        except OSError:
            return
