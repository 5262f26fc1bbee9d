"""``StorageInterface``: what the app needs from wherever users and tasks live.

The file implementation (``files.py``) and the SQLite one (``sqlite.py``) pass
the same contract tests (``tests/test_storage_contract.py``).

Queue operations are part of storage on purpose: claiming a task, and
checking the waiting limits when queueing one, must be a single atomic step
across every process sharing the data directory. So is creating a
task, which checks how many tasks the visitor already keeps.

Claim order (:func:`fair_order`): higher priority first; within a priority
the visitors take turns, the one served longest ago first, each visitor's own
tasks oldest first. One visitor's long batch therefore never starves another
visitor's single task.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

from ..exceptions import InvalidTransition, QueueFull, StorageError, TooManyTasks
from ..model import TERMINAL, Task, TaskStatus, User
from ..tags import duration_of, resolution_of, size_of, task_tags

TaskMutation = Callable[[Task], None]
UserMutation = Callable[[User], None]

#: the queue's states: only enqueue and claim_next move a task into them, because
#: only they check the waiting limits and keep the queue index in step
ACTIVE = (TaskStatus.QUEUED, TaskStatus.PROCESSING)

SORT_FIELDS = (
    "created_at", "updated_at", "name", "status", "progress", "priority", "task_type",
    "size", "duration",
)


@dataclass(frozen=True)
class TaskQuery:
    """Filter, search, sort and page a user's tasks."""

    status: tuple[str, ...] = ()
    task_type: str | None = None
    batch_id: str | None = None
    search: str | None = None
    tag: str | None = None  # compared without case
    resolution: str | None = None  # a class of ``tags.RESOLUTIONS``
    min_duration: float | None = None  # seconds, inclusive
    max_duration: float | None = None  # seconds, exclusive
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


@dataclass(frozen=True)
class TaskLimits:
    """What one visitor may keep: tasks not yet ended, and tasks stored at all."""

    max_unfinished_per_user: int
    max_stored_per_user: int


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
    """Waiting tasks in claim order, and the tasks believed to be processing.

    ``turns`` maps a visitor to the time their last task was claimed (only
    visitors with tasks waiting or running are kept).
    """

    queued: list[QueueEntry] = field(default_factory=list)
    processing: list[QueueEntry] = field(default_factory=list)
    turns: dict[str, str] = field(default_factory=dict)

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
    def create_task(self, task: Task, limits: TaskLimits | None = None) -> Task:
        """Store a new task and add it to its user's index.

        With ``limits``, refuse (:class:`~mediacraft.exceptions.TooManyTasks`,
        nothing stored) a task that would give its visitor more unfinished or
        stored tasks than allowed; the check and the write are one atomic step.
        """

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
    def user_task_states(self, user_id: str) -> dict[str, str]:
        """``{task_id: status}`` of one user's tasks, without reading every task record.

        Kept with the user (or derived from an index): cheap enough for every
        event-stream tick and every ``/api/user/info``.
        """

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
        """Make the queue index agree with the records it names (after a crash)."""

    def rebuild_queue_index(self) -> None:
        """Rebuild the queue index from the task records (when the index is lost).

        Implementations whose queue *is* the records have nothing to do.
        """
        return None

    def subscribe(self, callback: Callable[[], None]) -> bool:
        """Call ``callback`` when any process queues a task or frees a place.

        Returns False where storage cannot tell (files, SQLite): the
        dispatcher then polls every ``MEDIACRAFT_POLL_SECONDS``.
        """
        return False

    def heartbeat_ages(self) -> dict[str, float] | None:
        """Seconds since each running task's heartbeat changed, on storage's own clock.

        None where storage has no clock of its own: other hosts' heartbeats
        are then aged on the observer's monotonic clock.
        """
        return None

    def task_counts(self) -> dict[tuple[str, str], int]:
        """``{(status, task_type): count}`` over every stored task (for /metrics).

        Reads every record here; a database answers it with one query.
        """
        counts: dict[tuple[str, str], int] = {}
        for task in self.tasks_by_status():
            key = (task.status.value, task.task_type)
            counts[key] = counts.get(key, 0) + 1
        return counts

    def database_state(self) -> dict[str, object] | None:
        """The database's state for ``/healthz`` (None: no database server)."""
        return None

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
    selected = _library_filters(selected, query)
    descending = query.sort.startswith("-")
    key = query.sort.lstrip("-+")
    if key not in SORT_FIELDS:
        key = "created_at"
    measured = {"size": size_of, "duration": duration_of}

    def sort_key(task: Task) -> tuple:
        value = measured[key](task) if key in measured else getattr(task, key)
        if isinstance(value, TaskStatus):
            value = value.value
        return (value is None, value if value is not None else "", task.created_at)

    selected = sorted(selected, key=sort_key, reverse=descending)
    total = len(selected)
    page = selected[query.offset : query.offset + query.limit]
    return TaskPage(tasks=page, total=total, offset=query.offset, limit=query.limit)


def _library_filters(tasks: list[Task], query: TaskQuery) -> list[Task]:
    """Tag, resolution class and duration range (tasks without the figure never match)."""
    if query.tag:
        wanted = query.tag.casefold()
        tasks = [t for t in tasks if wanted in {tag.casefold() for tag in task_tags(t)}]
    if query.resolution:
        tasks = [t for t in tasks if resolution_of(t) == query.resolution]
    if query.min_duration is not None or query.max_duration is not None:
        low = query.min_duration or 0.0
        high = query.max_duration

        def within(task: Task) -> bool:
            seconds = duration_of(task)
            return seconds is not None and seconds >= low and (high is None or seconds < high)

        tasks = [t for t in tasks if within(t)]
    return tasks


def fair_order(queued: list[QueueEntry], turns: dict[str, str]) -> list[QueueEntry]:
    """Waiting tasks in the order the queue takes them.

    Priority first (higher first). Within one priority the visitors take
    turns: a round over the visitors, ordered by when each was last served
    (never served first, then longest ago; ties by their oldest waiting task),
    taking each visitor's oldest task per round.
    """
    by_priority: dict[int, list[QueueEntry]] = {}
    for entry in sorted(queued, key=lambda e: e.queued_at):
        by_priority.setdefault(entry.priority, []).append(entry)
    ordered: list[QueueEntry] = []
    for priority in sorted(by_priority, reverse=True):
        per_user: dict[str, list[QueueEntry]] = {}
        for entry in by_priority[priority]:
            per_user.setdefault(entry.user_id, []).append(entry)
        users = sorted(per_user, key=lambda u: (turns.get(u, ""), per_user[u][0].queued_at))
        depth = max(len(entries) for entries in per_user.values())
        for round_index in range(depth):
            for user_id in users:
                entries = per_user[user_id]
                if round_index < len(entries):
                    ordered.append(entries[round_index])
    return ordered


def active_users(snapshot: QueueSnapshot) -> set[str]:
    return {e.user_id for e in snapshot.queued} | {e.user_id for e in snapshot.processing}


def check_task_limits(states: dict[str, str], limits: TaskLimits) -> None:
    """Refuse a new task when its visitor keeps too many (``states`` as user_task_states)."""
    if len(states) + 1 > limits.max_stored_per_user:
        raise TooManyTasks(
            f"You keep {len(states)} tasks, the most allowed is {limits.max_stored_per_user}; "
            "delete old tasks first"
        )
    unfinished = sum(1 for status in states.values() if TaskStatus(status) not in TERMINAL)
    if unfinished + 1 > limits.max_unfinished_per_user:
        raise TooManyTasks(
            f"You have {unfinished} unfinished tasks, the most allowed is "
            f"{limits.max_unfinished_per_user}; wait for them to finish or delete some"
        )


def check_new_task(task: Task) -> None:
    """A new task is stored outside the queue (see :data:`ACTIVE`)."""
    if task.status in ACTIVE:
        raise StorageError("A new task cannot start queued or processing; use enqueue")


def check_update(before: TaskStatus, task: Task) -> None:
    """``update_task`` may take a task out of the queue, never into it (see :data:`ACTIVE`)."""
    if task.status in ACTIVE and task.status is not before:
        raise StorageError(f"update_task cannot move a task into {task.status.value}")


def prepare_enqueue(
    tasks: list[Task], limits: QueueLimits | None, mutate: TaskMutation | None
) -> list[Task]:
    """Check, mutate and move loaded tasks to ``queued`` (in memory; the caller stores them)."""
    for task in tasks:
        check_requeue_allowed(task, limits)
        if mutate:
            mutate(task)
        task.transition(TaskStatus.QUEUED)
    return tasks


def check_requeue_allowed(task: Task, limits: QueueLimits | None) -> None:
    """Only crash recovery (no limits) may put a processing task back in the queue."""
    if limits is not None and task.status is TaskStatus.PROCESSING:
        raise InvalidTransition("The task is processing; it cannot be queued again")


def check_waiting_limits(snapshot: QueueSnapshot, tasks: list[Task], limits: QueueLimits) -> None:
    """Refuse a submission that would exceed the waiting bounds (per visitor, whole server)."""
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
