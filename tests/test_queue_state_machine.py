"""A Hypothesis state machine over submit / claim / finish / cancel / retry / crash / recover.

Invariants after every step: the limits hold, every record parses, nothing is
stuck (a task left processing by a dead worker is recovered), and the queue
index agrees with the records.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
from pathlib import Path

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from mediacraft.config import Config
from mediacraft.exceptions import InvalidTransition, QueueFull
from mediacraft.model import Task, TaskStatus, User, new_id
from mediacraft.queue import TaskQueue
from mediacraft.storage import FileStorage, queue_limits

DEAD_PID = 2**22 + 12345  # above Linux's default pid_max: never a live process
USERS = 3


class QueueMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="mc-sm-"))
        self.config = Config(
            data_dir=self.root,
            max_tasks_per_user=1,
            max_concurrent_tasks=2,
            max_queued_per_user=3,
            max_queued_total=6,
            max_attempts=2,
        )
        self.storage = FileStorage(self.root, durable=False)
        self.limits = queue_limits(self.config)
        self.recoverer = TaskQueue(self.storage, self.config)  # never started: recovery only
        self.users = [new_id() for _ in range(USERS)]
        for user_id in self.users:
            self.storage.create_user(User(user_id=user_id))
        self.tasks: list[str] = []
        self.live_worker = {"id": "live", "pid": 1, "host": socket.gethostname()}
        self.dead_worker = {"id": "dead", "pid": DEAD_PID, "host": socket.gethostname()}

    def teardown(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def _task(self, index: int) -> Task | None:
        if not self.tasks:
            return None
        return self.storage.get_task(self.tasks[index % len(self.tasks)])

    @rule(user=st.integers(0, USERS - 1), priority=st.integers(-2, 2))
    def submit(self, user: int, priority: int) -> None:
        task = self.storage.create_task(Task.new(self.users[user], "x", priority=priority))
        self.tasks.append(task.task_id)
        try:
            self.storage.enqueue([task.task_id], self.limits)
        except QueueFull:
            assert self.storage.get_task(task.task_id).status is TaskStatus.CREATED

    @rule(dead=st.booleans())
    def claim(self, dead: bool) -> None:
        worker = self.dead_worker if dead else self.live_worker
        self.storage.claim_next(self.limits, worker)

    @precondition(lambda self: self.tasks)
    @rule(index=st.integers(0, 100), outcome=st.sampled_from(["completed", "failed"]))
    def finish(self, index: int, outcome: str) -> None:
        task = self._task(index)
        if task and task.status is TaskStatus.PROCESSING and task.worker["id"] == "live":
            self.storage.update_task(task.task_id, lambda t: t.transition(TaskStatus(outcome)))

    @precondition(lambda self: self.tasks)
    @rule(index=st.integers(0, 100))
    def cancel(self, index: int) -> None:
        task = self._task(index)
        try:
            self.storage.update_task(task.task_id, lambda t: t.transition(TaskStatus.CANCELLED))
        except InvalidTransition:
            assert task.status.is_terminal

    @precondition(lambda self: self.tasks)
    @rule(index=st.integers(0, 100))
    def retry(self, index: int) -> None:
        task = self._task(index)

        def reset(record: Task) -> None:  # as TaskService.retry does
            if record.status not in (TaskStatus.FAILED, TaskStatus.CANCELLED):
                raise InvalidTransition("only failed or cancelled tasks are retried")
            record.attempts = 0

        try:
            self.storage.enqueue([task.task_id], self.limits, reset)
        except (InvalidTransition, QueueFull):
            pass

    @precondition(lambda self: self.tasks)
    @rule(index=st.integers(0, 100))
    def requeue_processing_is_refused(self, index: int) -> None:
        task = self._task(index)
        if task.status is TaskStatus.PROCESSING:
            try:
                self.storage.enqueue([task.task_id], self.limits)
            except InvalidTransition:
                return
            raise AssertionError("a processing task was queued a second time")

    @rule()
    def recover(self) -> None:
        self.recoverer.recover_abandoned()
        for task_id in self.tasks:
            task = self.storage.get_task(task_id)
            assert not (task.status is TaskStatus.PROCESSING and task.worker["id"] == "dead")

    @invariant()
    def limits_hold_and_records_parse(self) -> None:
        processing: dict[str, int] = {}
        queued: dict[str, int] = {}
        for task_id in self.tasks:
            task = self.storage.get_task(task_id)
            assert task is not None
            bucket = {TaskStatus.PROCESSING: processing, TaskStatus.QUEUED: queued}.get(task.status)
            if bucket is not None:
                bucket[task.user_id] = bucket.get(task.user_id, 0) + 1
            if task.attempts > self.config.max_attempts:
                raise AssertionError(f"{task.task_id} ran {task.attempts} times")
        assert sum(processing.values()) <= self.config.max_concurrent_tasks
        assert all(n <= self.config.max_tasks_per_user for n in processing.values())
        # Submissions respect the waiting bounds; recovery puts back tasks that were
        # running without checking them (a task is never lost), so the bound may be
        # exceeded by at most what could have been running.
        cfg = self.config
        assert sum(queued.values()) <= cfg.max_queued_total + cfg.max_concurrent_tasks
        assert all(n <= cfg.max_queued_per_user + cfg.max_tasks_per_user for n in queued.values())
        snapshot = self.storage.queue_snapshot()
        indexed = {e.task_id for e in snapshot.queued}
        for task_id in self.tasks:  # every queued record is claimable through the index
            if self.storage.get_task(task_id).status is TaskStatus.QUEUED:
                assert task_id in indexed


QueueMachine.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestQueueMachine = QueueMachine.TestCase
