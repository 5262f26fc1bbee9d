"""``StorageInterface``: what the app needs from wherever users and tasks live.

The file implementation (``files.py``) and the SQLite one (``sqlite.py``) pass
the same contract tests (``tests/test_storage_contract.py``).

Queue operations are part of storage on purpose: claiming a task, and
checking the waiting limits when queueing one, must be a single atomic step
across every process sharing the data directory (SPEC F3).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

from ..exceptions import InvalidTransition, QueueFull
from ..tasks import Task, TaskStatus, User

TaskMutation = Callable[[Task], None]
UserMutation = Callable[[User], None]

SORT_FIELDS = ("created_at", "updated_at", "name", "status", "progress", "priority", "task_type")


@dataclass(frozen=True)
class TaskQuery:
    """Filter, search, sort and page a user's tasks."""

    status: tuple[str, ...] = ()
    task_type: str | None = None
    batch_id: str | None = None
    search: str | None = None
    sort: str = "-created_at"  # a field of SORT_FIELDS, "-" prefix for descending
    offset: int = 0
    limit: int = 20


@dataclass
class TaskPage:
    tasks: list[Task]
    total: int
    offset: int
    limit: int


@dataclass(frozen=True)
class QueueLimits:
    max_per_user: int
    max_total: int
    max_queued_per_user: int
    max_queued_total: int


@dataclass
class QueueEntry:
    task_id: str
    user_id: str
    priority: int = 0
    queued_at: str = ""

    @property
    def order_key(self) -> tuple[int, str]:
        return (-self.priority, self.queued_at)


@dataclass
class QueueSnapshot:
    """Waiting tasks in claim order, and the tasks believed to be processing."""

    queued: list[QueueEntry] = field(default_factory=list)
    processing: list[QueueEntry] = field(default_factory=list)

    def position(self, task_id: str) -> int | None:
        for index, entry in enumerate(self.queued):
            if entry.task_id == task_id:
                return index + 1
        return None


class StorageInterface(ABC):
    """Users, tasks, and the queue index."""

    # --- users -----------------------------------------------------------
    @abstractmethod
    def get_user(self, user_id: str) -> User | None: ...

    @abstractmethod
    def create_user(self, user: User) -> User: ...

    @abstractmethod
    def update_user(self, user_id: str, mutate: UserMutation) -> User: ...

    @abstractmethod
    def delete_user(self, user_id: str) -> None: ...

    @abstractmethod
    def list_user_ids(self) -> list[str]: ...

    # --- tasks -----------------------------------------------------------
    @abstractmethod
    def get_task(self, task_id: str) -> Task | None:
        """The task, or None. A damaged record is moved aside and reported as None."""

    @abstractmethod
    def create_task(self, task: Task) -> Task:
        """Store a new task and add it to its user's index."""

    @abstractmethod
    def update_task(self, task_id: str, mutate: TaskMutation) -> Task:
        """Read-modify-write under the task's lock; ``mutate`` may raise to abort.

        Must not move a task into ``queued`` or ``processing``: use
        :meth:`enqueue` and :meth:`claim_next`, which check the limits.
        """

    @abstractmethod
    def delete_task(self, task_id: str) -> None: ...

    @abstractmethod
    def query_user_tasks(self, user_id: str, query: TaskQuery | None = None) -> TaskPage:
        """A page of one user's tasks; costs in proportion to that user's tasks."""

    @abstractmethod
    def tasks_by_status(self, *statuses: TaskStatus) -> list[Task]: ...

    @abstractmethod
    def all_task_ids(self) -> list[str]: ...

    # --- queue -------------------------------------------------------------
    @abstractmethod
    def enqueue(
        self,
        task_ids: list[str],
        limits: QueueLimits | None,
        mutate: TaskMutation | None = None,
    ) -> list[Task]:
        """Move tasks to ``queued`` all or nothing, checking the waiting limits.

        ``mutate`` runs on each task first (it may raise to refuse). With
        ``limits`` None (crash recovery) no limit is checked. Raises
        :class:`~mediacraft.exceptions.QueueFull` (429 per user, 503 whole server).
        """

    @abstractmethod
    def claim_next(self, limits: QueueLimits, worker: dict) -> Task | None:
        """Atomically pick the next eligible queued task and mark it processing."""

    @abstractmethod
    def queue_snapshot(self) -> QueueSnapshot: ...

    @abstractmethod
    def reconcile_queue(self) -> None:
        """Drop index entries whose record no longer matches (after a crash)."""

    def close(self) -> None:
        """Release resources (database connections)."""
        return None


def apply_query(tasks: list[Task], query: TaskQuery) -> TaskPage:
    """Filter, sort and page in memory (shared by implementations)."""
    selected = tasks
    if query.status:
        wanted = set(query.status)
        selected = [t for t in selected if t.status.value in wanted]
    if query.task_type:
        selected = [t for t in selected if t.task_type == query.task_type]
    if query.batch_id:
        selected = [t for t in selected if t.batch_id == query.batch_id]
    if query.search:
        needle = query.search.casefold()
        selected = [
            t
            for t in selected
            if needle in (t.name or "").casefold()
            or needle in (t.url or "").casefold()
            or needle in (t.original_filename or "").casefold()
        ]
    descending = query.sort.startswith("-")
    key = query.sort.lstrip("-+")
    if key not in SORT_FIELDS:
        key = "created_at"

    def sort_key(task: Task) -> tuple:
        value = getattr(task, key)
        if isinstance(value, TaskStatus):
            value = value.value
        return (value is None, value if value is not None else "", task.created_at)

    selected = sorted(selected, key=sort_key, reverse=descending)
    total = len(selected)
    page = selected[query.offset : query.offset + query.limit]
    return TaskPage(tasks=page, total=total, offset=query.offset, limit=query.limit)


def check_requeue_allowed(task: Task, limits: QueueLimits | None) -> None:
    """Only crash recovery (no limits) may put a processing task back in the queue."""
    if limits is not None and task.status is TaskStatus.PROCESSING:
        raise InvalidTransition("The task is processing; it cannot be queued again")


def check_waiting_limits(snapshot: QueueSnapshot, tasks: list[Task], limits: QueueLimits) -> None:
    """Refuse a submission that would exceed the waiting bounds (SPEC F3)."""
    new_ids = {t.task_id for t in tasks}
    waiting = [e for e in snapshot.queued if e.task_id not in new_ids]
    if len(waiting) + len(tasks) > limits.max_queued_total:
        raise QueueFull("The system is busy, please try again later", status=503)
    per_user: dict[str, int] = {}
    for entry in waiting:
        per_user[entry.user_id] = per_user.get(entry.user_id, 0) + 1
    for task in tasks:
        per_user[task.user_id] = per_user.get(task.user_id, 0) + 1
        if per_user[task.user_id] > limits.max_queued_per_user:
            raise QueueFull("Please wait for your current tasks to finish", status=429)
