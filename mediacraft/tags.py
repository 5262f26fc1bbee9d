"""A visitor's tags on their tasks (``metadata["tags"]``), and what the library filters on.

Tags are display text: trimmed, NFC-normalised, at most :data:`MAX_TAG_LENGTH`
characters without control characters, compared without case, at most
:data:`MAX_TAGS` per task. A refused tag changes nothing.
"""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING, Any

from .exceptions import NotFound, ValidationError
from .model import Task

if TYPE_CHECKING:  # storage's task listing imports the measures below
    from .storage import StorageInterface

TAGS_KEY = "tags"
MAX_TAG_LENGTH = 40
MAX_TAGS = 20
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

# resolution classes by the picture's shorter side, so a portrait phone video
# of 1080×1920 is "1080p" like its landscape twin
RESOLUTIONS = {
    "480p": (0, 480),
    "720p": (481, 720),
    "1080p": (721, 1080),
    "4k": (1081, 100_000),
}


def clean_tag(raw: Any) -> str:
    if not isinstance(raw, str):
        raise ValidationError("tag must be a string")
    tag = unicodedata.normalize("NFC", raw).strip()
    if not tag:
        raise ValidationError("tag must not be empty", reason="bad_tag")
    if _CONTROL.search(tag):
        raise ValidationError("tag must not contain control characters", reason="bad_tag")
    if len(tag) > MAX_TAG_LENGTH:
        raise ValidationError(
            f"tag must be at most {MAX_TAG_LENGTH} characters (this one has {len(tag)})",
            reason="bad_tag",
        )
    return tag


def task_tags(task: Task) -> list[str]:
    tags = task.metadata.get(TAGS_KEY)
    return [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []


def add_tag(storage: StorageInterface, task: Task, raw: Any) -> Task:
    tag = clean_tag(raw)

    def add(record: Task) -> None:
        tags = task_tags(record)
        if tag.casefold() in {t.casefold() for t in tags}:
            return
        if len(tags) >= MAX_TAGS:
            raise ValidationError(
                f"A task has at most {MAX_TAGS} tags; remove one first", reason="too_many_tags"
            )
        record.metadata[TAGS_KEY] = [*tags, tag]

    return storage.update_task(task.task_id, add)


def remove_tag(storage: StorageInterface, task: Task, raw: Any) -> Task:
    tag = clean_tag(raw)

    def remove(record: Task) -> None:
        tags = task_tags(record)
        kept = [t for t in tags if t.casefold() != tag.casefold()]
        if len(kept) == len(tags):
            raise NotFound("This task has no such tag")
        if kept:
            record.metadata[TAGS_KEY] = kept
        else:
            record.metadata.pop(TAGS_KEY, None)

    return storage.update_task(task.task_id, remove)


def _media(task: Task) -> dict[str, Any]:
    media = task.metadata.get("media")
    return media if isinstance(media, dict) else {}


def _number(*values: Any) -> float | None:
    for value in values:
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return float(value)
    return None


def duration_of(task: Task) -> float | None:
    """Seconds of the result, else of the (first) upload."""
    return _number((task.result or {}).get("duration"), _media(task).get("duration"))


def size_of(task: Task) -> float | None:
    return _number((task.result or {}).get("size"), task.file_size)


def short_side(task: Task) -> float | None:
    result, media = task.result or {}, _media(task)
    for source in (result, media):
        width, height = _number(source.get("width")), _number(source.get("height"))
        if width and height:
            return min(width, height)
    return None


def resolution_of(task: Task) -> str | None:
    side = short_side(task)
    if side is None:
        return None
    for name, (low, high) in RESOLUTIONS.items():
        if low <= side <= high:
            return name
    return None
