"""Batches: many inputs submitted as one unit, one task per input.

A batch is not a record of its own: it is the set of the caller's tasks that
share a ``batch_id``. Submission is all or nothing — every input is validated
first (an error names the input), then the tasks are stored and queued with a
single :meth:`~mediacraft.storage.base.StorageInterface.enqueue` call, so a
batch over the waiting bounds is refused whole and nothing is left behind.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from .exceptions import InvalidTransition, NotFound, QueueFull, TooManyTasks, ValidationError
from .model import Task, TaskStatus, is_uuid, parse_time
from .processors import get_processor
from .service import TaskService
from .storage import TaskQuery, queue_limits, task_limits

MAX_INPUTS = 1000
ALL = 10**9


class BatchInputError(ValidationError):
    """One input of a batch is invalid; ``index`` is its 0-based position."""

    def __init__(self, index: int, detail: str, *, reason: str | None = None) -> None:
        super().__init__(f"inputs[{index}]: {detail}", reason=reason)
        self.index = index
        self.detail = detail


@dataclass
class BatchSubmission:
    batch_id: str
    tasks: list[Task]


def _merge_options(common: Any, own: Any, index: int | None) -> dict[str, Any]:
    where = "options" if index is None else f"options of inputs[{index}]"
    for value in (common, own):
        if value is not None and not isinstance(value, dict):
            raise ValidationError(f"{where} must be an object")
    return {**(common or {}), **(own or {})}


def build_batch(service: TaskService, user_id: str, body: dict[str, Any]) -> BatchSubmission:
    """Validate a batch body into unsaved tasks (one per input, sharing a new batch_id).

    ``{task_type?, inputs: [{url, name?, options?, priority?}], options?, priority?}``
    """
    if not isinstance(body, dict):
        raise ValidationError("The request body must be a JSON object")
    task_type = body.get("task_type", "download")
    if not isinstance(task_type, str) or not task_type:
        raise ValidationError("task_type must be a string")
    if get_processor(task_type).needs_upload:
        raise ValidationError(
            f"A batch takes task types that need no upload (download), not {task_type}"
        )
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise ValidationError(
            "inputs must be a non-empty list of {url, name?, options?, priority?}"
        )
    if len(inputs) > MAX_INPUTS:
        raise ValidationError(f"A batch holds at most {MAX_INPUTS} inputs, {len(inputs)} given")
    common = body.get("options")
    if common is not None and not isinstance(common, dict):
        raise ValidationError("options must be an object")
    default_priority = body.get("priority", 0)
    batch_id = str(uuid.uuid4())
    tasks: list[Task] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(inputs):
        if isinstance(item, str):
            item = {"url": item}
        if not isinstance(item, dict):
            raise BatchInputError(index, "must be an object {url, name?, options?, priority?}")
        unknown = sorted(set(item) - {"url", "name", "options", "priority"})
        if unknown:
            raise BatchInputError(index, f"unknown field(s): {', '.join(unknown)}")
        try:
            payload = {
                "task_type": task_type,
                "url": item.get("url"),
                "name": item.get("name"),
                "options": _merge_options(common, item.get("options"), index),
                "priority": item.get("priority", default_priority),
                "batch_id": batch_id,
            }
            task = service.build(user_id, payload)
        except ValidationError as exc:
            raise BatchInputError(index, exc.message, reason=exc.reason) from None
        if task.url is not None:
            if task.url in seen:
                raise BatchInputError(index, f"duplicate of inputs[{seen[task.url]}] ({task.url})")
            seen[task.url] = index
        tasks.append(task)
    return BatchSubmission(batch_id, tasks)


def submit_batch(service: TaskService, user_id: str, body: dict[str, Any]) -> BatchSubmission:
    """Create and queue a batch; refused whole (nothing stored) on any error."""
    batch = build_batch(service, user_id, body)
    service.ensure_user(user_id)
    created: list[str] = []
    limits = task_limits(service.config)
    try:
        for task in batch.tasks:
            service.storage.create_task(task, limits)
            created.append(task.task_id)
        queued = service.storage.enqueue(created, queue_limits(service.config))
    except TooManyTasks as exc:
        _discard(service, created)
        raise TooManyTasks(f"{exc.message} (nothing of this batch was created)") from None
    except QueueFull as exc:
        _discard(service, created)
        size = len(batch.tasks)
        if exc.status == 429:
            limit = service.config.max_queued_per_user
            raise QueueFull(
                f"Please wait for your current tasks to finish: this batch of {size} would "
                f"exceed your limit of {limit} waiting tasks; nothing was created",
                status=429,
            ) from None
        raise QueueFull(
            f"The system is busy, please try again later (a batch of {size} tasks does not "
            "fit in the queue now; nothing was created)",
            status=exc.status,
        ) from None
    except BaseException:
        _discard(service, created)
        raise
    service.wake()
    return BatchSubmission(batch.batch_id, queued)


def _discard(service: TaskService, task_ids: list[str]) -> None:
    for task_id in task_ids:
        try:
            service.storage.delete_task(task_id)
        except NotFound:
            pass


def batch_tasks(service: TaskService, user_id: str, batch_id: str) -> list[Task]:
    """The caller's tasks of a batch (oldest first); NotFound when there are none."""
    if not is_uuid(batch_id):
        raise NotFound("Batch not found")
    page = service.list_tasks(user_id, TaskQuery(batch_id=batch_id, sort="created_at", limit=ALL))
    if not page.tasks:
        raise NotFound("Batch not found")
    return page.tasks


def _brief(service: TaskService, task: Task, snapshot: Any) -> dict[str, Any]:
    data = service.describe(task, snapshot)
    detail = task.progress_detail or {}
    return {
        "task_id": task.task_id,
        "name": task.name,
        "url": task.url,
        "status": task.status.value,
        "stage": task.stage,
        "progress": task.progress,
        "priority": task.priority,
        "attempts": task.attempts,
        "queue_position": data.get("queue_position"),
        "bytes_done": detail.get("bytes_done"),
        "bytes_total": detail.get("bytes_total"),
        "eta_seconds": detail.get("eta"),
        "error_message": task.error_message,
        "result": task.result,
        "download_url": data.get("download_url"),
    }


def _elapsed(task: Task) -> float | None:
    start, end = parse_time(task.started_at), parse_time(task.completed_at)
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds())


def counts(tasks: list[Task]) -> dict[str, int]:
    result = {"total": len(tasks), "queued": 0, "running": 0, "completed": 0, "failed": 0,
              "cancelled": 0}  # fmt: skip
    for task in tasks:
        if task.status is TaskStatus.PROCESSING:
            result["running"] += 1
        elif task.status in (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED):
            result[task.status.value] += 1
        else:  # created, uploaded, queued: waiting
            result["queued"] += 1
    return result


def summarize(service: TaskService, batch_id: str, tasks: list[Task]) -> dict[str, Any]:
    """Counts, bytes, overall progress and an ETA for the batch."""
    snapshot = None
    if any(t.status is TaskStatus.QUEUED for t in tasks):
        snapshot = service.storage.queue_snapshot()
    summary: dict[str, Any] = {"batch_id": batch_id, **counts(tasks)}
    bytes_done = 0
    bytes_total = 0
    percent = 0.0
    durations: list[float] = []
    running_left: list[float] = []
    for task in tasks:
        detail = task.progress_detail or {}
        if task.status is TaskStatus.COMPLETED:
            size = int((task.result or {}).get("size") or detail.get("bytes_done") or 0)
            bytes_done += size
            bytes_total += size
            elapsed = _elapsed(task)
            if elapsed is not None:
                durations.append(elapsed)
        elif task.status is TaskStatus.PROCESSING:
            bytes_done += int(detail.get("bytes_done") or 0)
            bytes_total += int(detail.get("bytes_total") or detail.get("bytes_done") or 0)
            if detail.get("eta") is not None:
                running_left.append(float(detail["eta"]))
        percent += 100.0 if task.status.is_terminal else float(task.progress or 0.0)
    summary["bytes_done"] = bytes_done
    summary["bytes_total"] = bytes_total
    summary["progress"] = round(percent / len(tasks), 2) if tasks else 100.0
    summary["eta_seconds"] = _eta(service, summary, durations, running_left)
    summary["state"] = "active" if summary["queued"] or summary["running"] else "finished"
    summary["created_at"] = min(t.created_at for t in tasks) if tasks else None
    summary["tasks"] = [_brief(service, t, snapshot) for t in tasks]
    return summary


def _eta(
    service: TaskService, summary: dict[str, Any], durations: list[float], running: list[float]
) -> float | None:
    """Seconds until the batch ends: running tasks' ETAs, then the waiting ones at the
    average duration of the finished ones over the caller's parallelism. None if unknown."""
    if not summary["queued"] and not summary["running"]:
        return 0.0
    config = service.config
    parallel = max(1, min(config.max_tasks_per_user, config.max_concurrent_tasks))
    average = sum(durations) / len(durations) if durations else None
    if summary["queued"] and average is None:
        return None
    if summary["running"] and len(running) < summary["running"] and average is None:
        return None
    work = sum(running) + (summary["running"] - len(running)) * (average or 0.0)
    work += summary["queued"] * (average or 0.0)
    return round(work / parallel, 1)


def get_summary(service: TaskService, user_id: str, batch_id: str) -> dict[str, Any]:
    return summarize(service, batch_id, batch_tasks(service, user_id, batch_id))


def cancel_batch(service: TaskService, user_id: str, batch_id: str) -> dict[str, Any]:
    """Cancel every task of the batch that has not ended."""
    cancelled = 0
    for task in batch_tasks(service, user_id, batch_id):
        if task.status.is_terminal:
            continue
        try:
            service.cancel(user_id, task.task_id)
            cancelled += 1
        except (InvalidTransition, NotFound):  # ended (or went) meanwhile
            pass
    summary = get_summary(service, user_id, batch_id)
    summary["changed"] = cancelled
    return summary


def retry_batch(service: TaskService, user_id: str, batch_id: str) -> dict[str, Any]:
    """Queue the failed tasks of the batch again, all or nothing within the waiting bounds."""
    failed = [t for t in batch_tasks(service, user_id, batch_id) if t.status is TaskStatus.FAILED]
    if failed:

        def reset(record: Task) -> None:
            if record.status is not TaskStatus.FAILED:
                raise InvalidTransition(
                    f"Task {record.task_id} is {record.status.value}, no longer failed; "
                    "nothing was retried"
                )
            record.error_message = record.error_reason = None
            record.result = None
            record.progress = 0.0
            record.progress_detail = {}
            record.stage = "waiting"
            record.attempts = 0

        service.storage.enqueue([t.task_id for t in failed], queue_limits(service.config), reset)
        service.wake()
    summary = get_summary(service, user_id, batch_id)
    summary["changed"] = len(failed)
    return summary


def list_batches(service: TaskService, user_id: str) -> list[dict[str, Any]]:
    """The caller's batches, newest first, with their counts."""
    page = service.list_tasks(user_id, TaskQuery(sort="created_at", limit=ALL))
    groups: dict[str, list[Task]] = {}
    for task in page.tasks:
        if task.batch_id:
            groups.setdefault(task.batch_id, []).append(task)
    batches = []
    for batch_id, tasks in groups.items():
        entry: dict[str, Any] = {"batch_id": batch_id, **counts(tasks)}
        entry["created_at"] = min(t.created_at for t in tasks)
        entry["state"] = "active" if entry["queued"] or entry["running"] else "finished"
        batches.append(entry)
    batches.sort(key=lambda b: b["created_at"], reverse=True)
    return batches


__all__ = ["BatchInputError", "BatchSubmission", "MAX_INPUTS", "batch_tasks", "build_batch",
           "cancel_batch", "get_summary", "list_batches", "retry_batch", "submit_batch",
           "summarize"]  # fmt: skip
