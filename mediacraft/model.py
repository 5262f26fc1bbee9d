"""Task model: states, allowed transitions and the JSON record.

``TaskStatus`` is a ``str`` enum with lowercase values (as rq's ``JobStatus``)
so a record serialises as itself.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from enum import Enum
from typing import Any

from .exceptions import InvalidTransition


class TaskStatus(str, Enum):
    CREATED = "created"
    UPLOADED = "uploaded"
    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED})

# Which state may follow which. processing -> queued is crash recovery and SIGTERM.
TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    TaskStatus.CREATED: frozenset({TaskStatus.UPLOADED, TaskStatus.QUEUED, TaskStatus.CANCELLED}),
    TaskStatus.UPLOADED: frozenset({TaskStatus.UPLOADED, TaskStatus.QUEUED, TaskStatus.CANCELLED}),
    TaskStatus.QUEUED: frozenset({TaskStatus.PROCESSING, TaskStatus.CANCELLED}),
    TaskStatus.PROCESSING: frozenset(
        {TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED, TaskStatus.QUEUED}
    ),
    TaskStatus.COMPLETED: frozenset(),
    TaskStatus.FAILED: frozenset({TaskStatus.QUEUED}),
    TaskStatus.CANCELLED: frozenset({TaskStatus.QUEUED}),
}


def utcnow() -> str:
    """ISO 8601 UTC timestamp with microseconds, e.g. ``2025-01-25T10:00:00.123456Z``."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def new_id() -> str:
    return str(uuid.uuid4())


def is_uuid(value: str) -> bool:
    """True for a canonical lowercase UUID string (what MediaCraft issues)."""
    try:
        return str(uuid.UUID(value)) == value
    except (ValueError, AttributeError, TypeError):
        return False


@dataclass
class Task:
    """A task record: what was asked, its state and progress, and its outcome."""

    task_id: str
    user_id: str
    task_type: str
    name: str = ""
    status: TaskStatus = TaskStatus.CREATED
    stage: str = ""
    progress: float = 0.0
    progress_detail: dict[str, Any] = field(default_factory=dict)
    priority: int = 0
    batch_id: str | None = None
    attempts: int = 0
    created_at: str = field(default_factory=utcnow)
    updated_at: str = field(default_factory=utcnow)
    queued_at: str | None = None
    started_at: str | None = None
    completed_at: str | None = None
    url: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    inputs: list[dict[str, Any]] = field(default_factory=list)  # uploaded files, in order
    original_filename: str | None = None
    file_size: int | None = None
    input_file_path: str | None = None
    output_file_path: str | None = None
    result: dict[str, Any] | None = None
    error_message: str | None = None
    error_reason: str | None = None  # the failure's stable reason (exceptions.REASONS)
    worker: dict[str, Any] | None = None  # {"id", "pid", "host", "heartbeat_at"} while processing
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def new(cls, user_id: str, task_type: str, **values: Any) -> Task:
        return cls(task_id=new_id(), user_id=user_id, task_type=task_type, **values)

    def to_dict(self) -> dict[str, Any]:
        """A shallow dict of the record, ready for JSON (callers must not mutate nested values).

        Shallow on purpose: ``dataclasses.asdict`` deep-copies, which was the
        largest cost of a status poll.
        """
        data = {name: getattr(self, name) for name in _TASK_FIELDS}
        data["status"] = self.status.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Task:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["status"] = TaskStatus(values.get("status", "created"))
        return cls(**values)

    def transition(self, new: TaskStatus) -> None:
        """Move to ``new`` or raise :class:`InvalidTransition` (answered as 409)."""
        if new not in TRANSITIONS[self.status]:
            raise InvalidTransition(f"A {self.status.value} task cannot become {new.value}")
        now = utcnow()
        self.status = new
        self.updated_at = now
        if new is TaskStatus.QUEUED:
            self.queued_at = now
            self.worker = None
        elif new is TaskStatus.PROCESSING:
            self.started_at = now
            self.error_message = self.error_reason = None
        elif new.is_terminal:
            self.completed_at = now
            self.worker = None

    def public_dict(self) -> dict[str, Any]:
        """The record as the API shows it: no server paths, no worker internals."""
        data = self.to_dict()
        for private in ("input_file_path", "output_file_path", "worker"):
            data.pop(private, None)
        if any(key in self.metadata for key in PRIVATE_METADATA):
            data["metadata"] = {k: v for k, v in self.metadata.items() if k not in PRIVATE_METADATA}
        data["inputs"] = [{k: v for k, v in item.items() if k != "path"} for item in self.inputs]
        return data


_TASK_FIELDS = tuple(f.name for f in fields(Task))
# what the server keeps in a task's metadata for itself (processes, runs): never shown
PRIVATE_METADATA = ("upload_lease", "cancelled_run")


@dataclass
class User:
    """A visitor, known by the signed cookie; no account, no sign-up.

    ``tasks`` is the per-user index of task ids (creation order) and
    ``task_states`` their statuses, so a visitor's counts and live view need
    no read of every task record. Storage keeps both; a mutation of either
    through ``update_user`` is storage's business, not the caller's.
    """

    user_id: str
    created_at: str = field(default_factory=utcnow)
    last_accessed: str = field(default_factory=utcnow)
    tasks: list[str] = field(default_factory=list)
    task_states: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> User:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
