"""Task operations shared by the API, the compatibility adapters, batches and the CLI.

Every method takes the caller's ``user_id``: a task that belongs to someone
else is :class:`NotFound`, exactly like a task that does not exist.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .config import Config
from .exceptions import InvalidTransition, NotFound, ValidationError
from .model import Task, TaskStatus, User, is_uuid, utcnow
from .paths import TaskPaths, remove_detached
from .processors import get_processor
from .queue import TaskQueue
from .storage import StorageInterface, TaskPage, TaskQuery, queue_limits, task_limits
from .storage.base import QueueSnapshot
from .tags import task_tags
from .uploads import upload_in_progress

log = logging.getLogger(__name__)

MAX_NAME_LENGTH = 200
# A visitor may only lower their own tasks' priority: above 0 would jump
# ahead of every other visitor's default.
PRIORITY_RANGE = (-100, 0)


@dataclass
class TaskService:
    storage: StorageInterface
    config: Config
    queue: TaskQueue | None = None

    # --- reading -----------------------------------------------------------
    def get_owned(self, user_id: str, task_id: str) -> Task:
        """The caller's task, or NotFound (also for a malformed id: no file is touched)."""
        if not is_uuid(task_id):
            raise NotFound("Task not found")
        task = self.storage.get_task(task_id)
        if task is None or task.user_id != user_id:
            raise NotFound("Task not found")
        return task

    def describe(self, task: Task, snapshot: QueueSnapshot | None = None) -> dict[str, Any]:
        """The public view of a task, with its queue position while it waits."""
        data = task.public_dict()
        data["queue_position"] = None
        if task.status is TaskStatus.QUEUED:
            snapshot = snapshot or self.storage.queue_snapshot()
            data["queue_position"] = snapshot.position(task.task_id)
        data["download_url"] = (
            f"/api/tasks/{task.task_id}/download" if task.status is TaskStatus.COMPLETED else None
        )
        data["poster_url"] = poster_url(task)
        data["tags"] = task_tags(task)
        return data

    def list_tasks(self, user_id: str, query: TaskQuery) -> TaskPage:
        return self.storage.query_user_tasks(user_id, query)

    # --- creating ----------------------------------------------------------
    def create(self, user_id: str, payload: dict[str, Any]) -> Task:
        """Create a task from ``{task_type, name?, url?, options?, priority?, batch_id?}``.

        A task that needs no upload (a download) is queued at once, within the
        waiting limits; if the queue refuses it, nothing is left behind.
        """
        task = self.build(user_id, payload)
        self.ensure_user(user_id)
        self.storage.create_task(task, task_limits(self.config))
        processor = get_processor(task.task_type)
        try:
            processor.store_private(task, payload, self.config)
        except BaseException:
            self._forget_new(task)
            raise
        if not processor.needs_upload:
            try:
                self.storage.enqueue([task.task_id], queue_limits(self.config), _waiting)
            except BaseException:  # refused (queue full) or not saved (disk): leave nothing
                self._forget_new(task)
                raise
            self.wake()
            task = self.storage.get_task(task.task_id) or task
        return task

    def _forget_new(self, task: Task) -> None:
        """Remove a task that could not be queued, and any file it already had."""
        try:
            self.storage.delete_task(task.task_id)
            TaskPaths.of(self.config.data_dir, task).remove_all()
        except Exception:  # the original error is the one to answer
            log.exception("Could not remove task %s", task.task_id)

    def build(self, user_id: str, payload: dict[str, Any]) -> Task:
        """Validate a creation payload into an unsaved Task."""
        if not isinstance(payload, dict):
            raise ValidationError("The request body must be a JSON object")
        task_type = payload.get("task_type")
        if not isinstance(task_type, str) or not task_type:
            raise ValidationError("task_type is required")
        processor = get_processor(task_type)
        name = payload.get("name") or ""
        if not isinstance(name, str):
            raise ValidationError("name must be a string")
        if len(name.strip()) > MAX_NAME_LENGTH:
            raise ValidationError(f"name must be at most {MAX_NAME_LENGTH} characters")
        priority = payload.get("priority", 0)
        if isinstance(priority, bool) or not isinstance(priority, int):
            raise ValidationError("priority must be an integer")
        low, high = PRIORITY_RANGE
        if not low <= priority <= high:
            raise ValidationError(f"priority must be between {low} and {high}")
        task = Task.new(user_id, task_type, name=name.strip(), priority=priority)
        batch_id = payload.get("batch_id")
        if batch_id is not None:
            if not isinstance(batch_id, str) or not is_uuid(batch_id):
                raise ValidationError("batch_id must be a UUID")
            task.batch_id = batch_id
        processor.validate_create(task, payload, self.config)
        if not task.name:
            task.name = default_name(task)
        return task

    def ensure_user(self, user_id: str) -> None:
        if self.storage.get_user(user_id) is None:
            self.storage.create_user(User(user_id=user_id))

    # --- configuring ---------------------------------------------------------
    def configure(self, user_id: str, task_id: str, payload: dict[str, Any]) -> Task:
        """Validate a task's settings and queue it (the upload task types' start)."""
        task = self.get_owned(user_id, task_id)
        if task.status not in (TaskStatus.UPLOADED, TaskStatus.CREATED):
            raise InvalidTransition(f"A {task.status.value} task cannot be configured")
        if not isinstance(payload, dict):
            raise ValidationError("The request body must be a JSON object")
        processor = get_processor(task.task_type)
        if processor.needs_upload and not task.inputs:
            raise InvalidTransition("Upload the video file(s) before configuring the task")

        def apply(record: Task) -> None:
            if record.status not in (TaskStatus.UPLOADED, TaskStatus.CREATED):
                raise InvalidTransition(f"A {record.status.value} task cannot be configured")
            if upload_in_progress(record):
                raise InvalidTransition(
                    "An upload to this task is still being stored; configure it when it has "
                    "finished"
                )
            processor.validate_config(record, payload, self.config)
            record.metadata["configured"] = True
            record.stage = "waiting"

        self.storage.enqueue([task.task_id], queue_limits(self.config), apply)
        self.wake()
        return self.get_owned(user_id, task_id)

    # --- life cycle actions ------------------------------------------------------
    def cancel(self, user_id: str, task_id: str) -> Task:
        """Cancel; a running attempt is told to stop and removes its own files.

        A task that was not running has its work files detached while its
        record is locked, so an immediate retry starts clean and keeps its own.
        """
        task = self.get_owned(user_id, task_id)
        paths = TaskPaths.of(self.config.data_dir, task)
        stopped_run: list[str | None] = []
        detached: list[Path] = []

        def apply(record: Task) -> None:
            was, run = record.status, (record.worker or {}).get("run")
            record.transition(TaskStatus.CANCELLED)
            record.error_message = record.error_reason = None
            record.stage = "cancelled"
            if was is TaskStatus.PROCESSING:
                stopped_run.append(run)
                record.metadata["cancelled_run"] = run  # that run may remove its files
            else:
                detached.extend(paths.detach(work=True))

        try:
            task = self.storage.update_task(task.task_id, apply)
        finally:
            remove_detached(detached)
        if stopped_run and self.queue is not None:
            self.queue.cancel_local(task.task_id, stopped_run[0])
        return task

    def stop(self, user_id: str, task_id: str) -> Task:
        """End a live recording now and keep what it recorded (a cancel throws it away).

        Reaches the job the way a cancel does: the record says so, and the process
        running it (this one at once, any other at its next monitor round) tells the job.
        """
        task = self.get_owned(user_id, task_id)
        processor = get_processor(task.task_type)
        if not processor.stoppable:
            raise InvalidTransition("Only a live recording can be stopped; cancel this task")

        def apply(record: Task) -> None:
            if record.status is not TaskStatus.PROCESSING:
                raise InvalidTransition(
                    f"Only a running recording can be stopped; this task is {record.status.value}"
                )
            if not record.progress_detail.get("live"):
                raise InvalidTransition(
                    "This download is not a live recording; cancel it instead",
                    reason="not_live",
                )
            record.metadata["stop_requested"] = utcnow()

        task = self.storage.update_task(task.task_id, apply)
        if self.queue is not None:
            self.queue.finish_local(task.task_id)
        return task

    def retry(self, user_id: str, task_id: str) -> Task:
        task = self.get_owned(user_id, task_id)
        if task.status not in (TaskStatus.FAILED, TaskStatus.CANCELLED):
            raise InvalidTransition(
                f"Only failed or cancelled tasks can be retried; this one is {task.status.value}"
            )
        processor = get_processor(task.task_type)
        if processor.needs_upload and not task.metadata.get("configured"):
            raise InvalidTransition("This task was never configured; upload and configure it")

        def reset(record: Task) -> None:
            record.error_message = record.error_reason = None
            record.result = None
            record.progress = 0.0
            record.progress_detail = {}
            record.stage = "waiting"
            record.attempts = 0
            record.metadata.pop("stop_requested", None)

        tasks = self.storage.enqueue([task.task_id], queue_limits(self.config), reset)
        self.wake()
        return tasks[0]

    def delete(self, user_id: str, task_id: str) -> None:
        task = self.get_owned(user_id, task_id)
        if task.status is TaskStatus.PROCESSING:
            raise InvalidTransition("The task is processing; cancel it before deleting it")
        self.storage.delete_task(task.task_id)
        TaskPaths.of(self.config.data_dir, task).remove_all()

    def wake(self) -> None:
        if self.queue is not None:
            self.queue.notify()


def poster_url(task: Task) -> str | None:
    """Where a finished result's poster is served; the completion time makes each result's URL
    its own, so a browser's cached poster of an earlier attempt is never shown."""
    if task.status is not TaskStatus.COMPLETED or not (task.result or {}).get("poster"):
        return None
    stamp = quote(task.completed_at or "", safe="")
    return f"/api/tasks/{task.task_id}/poster?v={stamp}"


def _waiting(task: Task) -> None:
    task.stage = "waiting"


def default_name(task: Task) -> str:
    if task.url:
        tail = task.url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        return tail[:MAX_NAME_LENGTH] or task.url[:MAX_NAME_LENGTH]
    return task.task_type.replace("_", " ")
