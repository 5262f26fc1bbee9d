"""``TaskQueue``: runs queued tasks on a ThreadPoolExecutor within the limits.

Each process (each gunicorn worker) runs one ``TaskQueue``. The limits are
not counted here but in storage: :meth:`StorageInterface.claim_next` is an
atomic step across processes, so ``MAX_TASKS_PER_USER`` and
``MAX_CONCURRENT_TASKS`` hold for the whole data directory.

Three kinds of thread:

* the dispatcher claims tasks while this process has free worker threads,
  and every few seconds recovers tasks whose worker died (rq's "started by a
  worker that is gone");
* the monitor writes each running task's heartbeat and throttled progress,
  and notices a cancel made by any process (the record left ``processing``);
* the executor's workers run processors.

A run is one attempt of a task, named by a run id kept in the task record's
``worker``. Everything a run does to its task — progress, heartbeat, the
final state, deleting its files — first checks that the record still names
this run: after a cancel and an immediate retry, the old run (still
stopping) and the new one may live side by side in one process, and the old
one must touch nothing of the new one's.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from . import metrics
from .config import Config
from .diskspace import MiB, free_bytes, storage_failure, tool_storage_failure
from .exceptions import Cancelled, Interrupted, MediaCraftError, NotFound, StorageError
from .liveness import HeartbeatWatch, process_alive, same_machine, this_process
from .logs import task_logging
from .model import Task, TaskStatus, utcnow
from .paths import TaskPaths, remove_detached
from .posters import attach_poster
from .processors import JobContext, get_processor
from .progress import CancelToken, Progress
from .storage import StorageInterface, queue_limits

log = logging.getLogger(__name__)

MONITOR_INTERVAL = 0.25
PROGRESS_WRITE_INTERVAL = 1.0
RECOVERY_INTERVAL = 5.0
CLEANUP_INTERVAL = 3600.0


DISK_CHECK_INTERVAL = 5.0


@dataclass
class RunningJob:
    task_id: str
    run_id: str
    task_type: str = ""
    bytes_seen: int = 0  # bytes_done of the last report (for the downloaded-bytes counter)
    time_limit: float | None = None  # seconds this attempt may run
    deadline: float | None = None  # time.monotonic() when it is stopped
    token: CancelToken = field(default_factory=CancelToken)
    latest: Progress | None = None
    dirty: bool = False
    last_write: float = 0.0
    last_heartbeat: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _NotOurs(Exception):
    """Aborts a read-modify-write: the record no longer names this run.

    It was cancelled, retried or taken over by another process meanwhile, so
    the run leaves the record as it is. Private to the queue: a processor's
    cancellation is :class:`Cancelled`, which means something else.
    """


class _Leave(Exception):
    """Aborts a read-modify-write without writing (the check found nothing to do)."""


class TaskQueue:
    def __init__(self, storage: StorageInterface, config: Config) -> None:
        self.storage = storage
        self.config = config
        self.limits = queue_limits(config)
        self.worker = {
            "id": f"{config.node}:{os.getpid()}:{uuid.uuid4().hex[:8]}",
            **this_process(),
            "host": config.node,
        }
        self._executor: ThreadPoolExecutor | None = None
        self._jobs: dict[str, RunningJob] = {}  # by run id
        self._beats = HeartbeatWatch()
        self._disk_ok_until = 0.0
        self._jobs_lock = threading.Lock()
        self._wake = threading.Condition()
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self._shutdown_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._free = threading.Semaphore(config.worker_threads)

    # --- life cycle ----------------------------------------------------------
    def start(self) -> None:
        if self._executor is not None:
            return
        self._executor = ThreadPoolExecutor(
            max_workers=self.config.worker_threads, thread_name_prefix="mediacraft-task"
        )
        # Woken by any process's queueing where storage can tell (PostgreSQL's
        # LISTEN/NOTIFY); polling every poll_seconds stays as the fallback.
        self.storage.subscribe(self.notify)
        for name, target in (("dispatcher", self._dispatch_loop), ("monitor", self._monitor_loop)):
            thread = threading.Thread(target=target, name=f"mediacraft-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info(
            "Task queue started (%s, %d threads)", self.worker["id"], self.config.worker_threads
        )

    @property
    def running(self) -> bool:
        return self._executor is not None and not self._stopping.is_set()

    def shutdown(self, timeout: float = 20.0) -> None:
        """Stop claiming; interrupt running tasks so they checkpoint and go back to the queue."""
        if self._executor is None:
            return
        with self._shutdown_lock:
            first = not self._stopping.is_set()
            self._stopping.set()
        if not first:  # another thread (a signal handler's) is shutting down: wait for it
            self._stopped.wait(timeout)
            return
        with self._wake:
            self._wake.notify_all()
        with self._jobs_lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            job.token.interrupt()
        self._executor.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._jobs_lock:
                if not self._jobs:
                    break
            time.sleep(0.05)
        with self._jobs_lock:
            leftovers = list(self._jobs.values())
        for job in leftovers:  # did not stop in time: requeue from here
            self._requeue(job, "The server stopped while the task was running")
        for thread in self._threads:
            thread.join(timeout=2)
        self._stopped.set()
        log.info("Task queue stopped (%s)", self.worker["id"])

    def notify(self) -> None:
        """Wake the dispatcher: a task was queued by this process."""
        with self._wake:
            self._wake.notify_all()

    def cancel_local(self, task_id: str, run_id: str | None = None) -> None:
        """Stop a task's run in this process at once (other processes see the record).

        With ``run_id``, only that run: a newer attempt of the same task is left alone.
        """
        with self._jobs_lock:
            jobs = [
                j
                for j in self._jobs.values()
                if j.task_id == task_id and (run_id is None or j.run_id == run_id)
            ]
        for job in jobs:
            job.token.cancel()

    def finish_local(self, task_id: str) -> None:
        """Ask a task running here to finish early and keep its result (a live recording)."""
        with self._jobs_lock:
            jobs = [j for j in self._jobs.values() if j.task_id == task_id]
        for job in jobs:
            job.token.finish()

    # --- dispatcher -----------------------------------------------------------
    def _dispatch_loop(self) -> None:
        next_recovery = 0.0
        next_cleanup = time.monotonic() + 60.0
        while not self._stopping.is_set():
            try:
                if time.monotonic() >= next_recovery:
                    self.recover_abandoned()
                    next_recovery = time.monotonic() + RECOVERY_INTERVAL
                if time.monotonic() >= next_cleanup:
                    next_cleanup = time.monotonic() + CLEANUP_INTERVAL
                    from .cleanup import cleanup

                    cleanup(self.storage, self.config)
                if self._claim_and_submit():
                    continue
            except StorageError as exc:  # the database is away: said once a round, no traceback
                log.warning("Dispatcher round failed: %s", exc)
                next_recovery = 0.0
            except Exception:  # keep dispatching whatever one round did
                log.exception("Dispatcher round failed")
                next_recovery = 0.0  # a write may have failed halfway: reconcile first
            with self._wake:
                self._wake.wait(timeout=self.config.poll_seconds)

    def _disk_has_room(self) -> bool:
        """False while the data directory is nearly full: tasks wait instead of failing."""
        now = time.monotonic()
        if now < self._disk_ok_until:
            return True
        try:
            free = free_bytes(self.config.data_dir)
        except OSError:
            return True  # unknown: let the task try (a write error is reported as such)
        if free < self.config.min_free_mb * MiB:
            log.warning(
                "Not starting tasks: %d MB free in the data directory, %d MB needed",
                free // MiB,
                self.config.min_free_mb,
            )
            return False
        self._disk_ok_until = now + DISK_CHECK_INTERVAL
        return True

    def _claim_and_submit(self) -> bool:
        if not self._disk_has_room():
            return False
        if not self._free.acquire(blocking=False):
            return False
        run_id = uuid.uuid4().hex
        try:
            task = self.storage.claim_next(self.limits, dict(self.worker, run=run_id))
        except Exception:
            self._free.release()
            raise
        if task is None:
            self._free.release()
            return False
        metrics.count_claim(task.task_type, task.queued_at)
        job = RunningJob(task.task_id, run_id, task_type=task.task_type)
        try:
            job.time_limit = get_processor(task.task_type).time_limit(task, self.config)
            job.deadline = time.monotonic() + job.time_limit
        except MediaCraftError:
            pass  # an unknown type fails in _run with its own message
        with self._jobs_lock:
            self._jobs[run_id] = job
        assert self._executor is not None
        try:
            self._executor.submit(self._run, task, job)
        except RuntimeError:  # executor shut down between claim and submit
            self._forget(job)
            self._requeue(job, "The server stopped before the task started", started=False)
        return True

    def _forget(self, job: RunningJob) -> None:
        with self._jobs_lock:
            if self._jobs.get(job.run_id) is job:
                del self._jobs[job.run_id]
        self._free.release()

    # --- running one task -----------------------------------------------------
    def _run(self, task: Task, job: RunningJob) -> None:
        with task_logging(task.task_id):
            self._run_job(task, job)

    def _run_job(self, task: Task, job: RunningJob) -> None:
        paths = TaskPaths.of(self.config.data_dir, task)
        try:
            processor = get_processor(task.task_type)
            for directory in (paths.result_dir, paths.work_dir):
                directory.mkdir(parents=True, exist_ok=True)
            ctx = JobContext(
                task=task,
                config=self.config,
                upload_dir=paths.upload_dir,
                result_dir=paths.result_dir,
                work_dir=paths.work_dir,
                report=lambda progress: self._report(job, progress),
                cancel=job.token,
                deadline=job.deadline,
            )
            log.info(
                "Task %s (%s) started, attempt %d", task.task_id, task.task_type, task.attempts
            )
            result = processor.run(ctx)
            job.token.check()
            result = attach_poster(result, paths.result_dir)
            with job.lock:
                latest = job.latest
            self._finish(job, paths, TaskStatus.COMPLETED, result=result, latest=latest)
            log.info("Task %s completed", task.task_id)
        except Interrupted:
            self._requeue(job, "The server restarted while the task was running")
        except Cancelled:
            if job.token.reason == "timed_out":
                self._fail(job, paths, self._overtime_message(job), "timeout")
            else:
                self._discard(job, paths)
                log.info("Task %s stopped: %s", task.task_id, job.token.reason or "cancelled")
        except MediaCraftError as exc:
            failure = storage_failure(exc) or tool_storage_failure(exc.message)
            if failure is not None:
                self._fail(job, paths, failure.message, failure.reason, keep_work=True)
            else:
                self._fail(job, paths, exc.message, exc.reason)
        except OSError as exc:
            failure = storage_failure(exc)
            if failure is None:
                log.exception("Task %s crashed", task.task_id)
                message = f"Internal error while processing ({type(exc).__name__})"
                self._fail(job, paths, message, "error")
            else:
                self._fail(job, paths, failure.message, failure.reason, keep_work=True)
        except Exception as exc:
            log.exception("Task %s crashed", task.task_id)
            message = f"Internal error while processing ({type(exc).__name__})"
            self._fail(job, paths, message, "error")
        finally:
            self._forget(job)
            self.notify()

    @staticmethod
    def _overtime_message(job: RunningJob) -> str:
        limit = job.time_limit or 0
        if limit >= 7200:
            shown = f"{limit / 3600:.3g} h"
        elif limit >= 120:
            shown = f"{limit / 60:.3g} min"
        else:
            shown = f"{limit:.3g} s"
        return f"The task ran longer than its time limit ({shown}) and was stopped"

    def _fail(
        self,
        job: RunningJob,
        paths: TaskPaths,
        message: str,
        reason: str,
        *,
        keep_work: bool = False,
    ) -> None:
        """Fail this run's task; its result goes, its checkpoint too unless ``keep_work``.

        A storage failure keeps the checkpoint, so a retry resumes once there is room.
        """
        log.warning("Task %s failed: %s", job.task_id, message)
        metrics.count_failure(job.task_type, reason)
        self._finish(
            job, paths, TaskStatus.FAILED, error=message, reason=reason, keep_work=keep_work
        )

    def _owned(self, task: Task, job: RunningJob) -> bool:
        """The record still names this run (not cancelled, retried or taken over)."""
        return task.status is TaskStatus.PROCESSING and bool(
            task.worker
            and task.worker.get("id") == self.worker["id"]
            and task.worker.get("run") == job.run_id
        )

    def _finish(
        self,
        job: RunningJob,
        paths: TaskPaths,
        status: TaskStatus,
        *,
        result: dict | None = None,
        error: str = "",
        reason: str = "error",
        latest: Progress | None = None,
        keep_work: bool = False,
    ) -> None:
        """Record the run's outcome and clear its files, both while the record is locked.

        The directories are detached (renamed) under the lock, so a retry that
        claims the task a moment later starts with fresh ones; they are
        deleted after.
        """
        detached: list[Path] = []

        def mutate(task: Task) -> None:
            if not self._owned(task, job):
                raise _NotOurs()
            task.transition(status)
            if latest is not None:  # the last report may not have been flushed yet
                task.progress_detail = _detail(latest)
            if status is TaskStatus.COMPLETED:
                task.result = result
                task.progress = 100.0
                task.stage = "done"
                task.output_file_path = result.get("file_name") if result else None
            else:
                task.error_message, task.error_reason = error, reason
            task.progress_detail.pop("speed", None)
            task.progress_detail.pop("eta", None)
            failed = status is not TaskStatus.COMPLETED
            detached.extend(paths.detach(work=not keep_work, results=failed))

        try:
            self.storage.update_task(job.task_id, mutate)
        except (_NotOurs, NotFound):
            pass
        finally:
            remove_detached(detached)

    def _discard(self, job: RunningJob, paths: TaskPaths) -> None:
        """Remove a cancelled run's files, unless the task has moved on since.

        The cancel names the run it stopped (``metadata["cancelled_run"]``): a
        record that is not cancelled any more, or was cancelled in another run,
        belongs to a newer attempt and keeps its files.
        """
        detached: list[Path] = []

        def check(task: Task) -> None:
            stopped = task.metadata.get("cancelled_run", job.run_id)
            if task.status is not TaskStatus.CANCELLED or stopped != job.run_id:
                raise _Leave()  # retried (and maybe finished) meanwhile: not this run's files
            detached.extend(paths.detach(work=True, results=True))
            raise _Leave()  # nothing to write: the record was changed by the cancel

        try:
            self.storage.update_task(job.task_id, check)
        except (_Leave, NotFound):
            pass
        finally:
            remove_detached(detached)

    def _requeue(self, job: RunningJob, reason: str, *, started: bool = True) -> None:
        def mutate(task: Task) -> None:
            if not self._owned(task, job):
                raise _NotOurs()
            if not started:  # claimed but never run: the attempt does not count
                task.attempts = max(0, task.attempts - 1)
            task.stage = "waiting"
            task.metadata["last_interruption"] = reason

        try:
            self.storage.enqueue([job.task_id], None, mutate)
            log.info("Task %s returned to the queue: %s", job.task_id, reason)
        except (_NotOurs, NotFound):
            pass
        except MediaCraftError as exc:
            log.warning("Could not requeue %s: %s", job.task_id, exc)

    def _report(self, job: RunningJob, progress: Progress) -> None:
        if job.task_type == "download" and progress.bytes_done > job.bytes_seen:
            metrics.count_download_bytes(progress.bytes_done - job.bytes_seen)
            job.bytes_seen = progress.bytes_done
        with job.lock:
            job.latest = progress
            job.dirty = True

    # --- monitor: heartbeats, throttled progress, remote cancels ----------------
    def _monitor_loop(self) -> None:
        while not self._stopping.wait(MONITOR_INTERVAL):
            with self._jobs_lock:
                jobs = list(self._jobs.values())
            for job in jobs:
                try:
                    self._monitor(job)
                except StorageError as exc:  # storage away: the run goes on, beats resume later
                    log.warning("Monitoring task %s: %s", job.task_id, exc)
                except Exception:
                    log.exception("Monitoring task %s failed", job.task_id)

    def _monitor(self, job: RunningJob) -> None:
        now = time.monotonic()
        if job.deadline is not None and now > job.deadline:
            job.token.expire()  # the run fails with the time limit in its message
            return
        task = self.storage.get_task(job.task_id)
        if task is None or not self._owned(task, job):
            job.token.cancel()  # cancelled, deleted or recovered by another process
            return
        if task.metadata.get("stop_requested"):
            job.token.finish()  # "stop" asked through another process
        with job.lock:
            progress = job.latest if job.dirty else None
        heartbeat_due = now - job.last_heartbeat >= self.config.heartbeat_seconds
        progress_due = progress is not None and now - job.last_write >= PROGRESS_WRITE_INTERVAL
        if not (heartbeat_due or progress_due):
            return

        def mutate(record: Task) -> None:
            if not self._owned(record, job):
                raise _NotOurs()
            assert record.worker is not None
            record.worker["heartbeat_at"] = utcnow()
            record.worker["beat"] = int(record.worker.get("beat") or 0) + 1
            if progress is not None:
                record.stage = progress.stage or record.stage
                record.progress = round(max(0.0, min(100.0, progress.percent)), 2)
                record.progress_detail = _detail(progress)

        try:
            self.storage.update_task(job.task_id, mutate)
        except (_NotOurs, NotFound):
            job.token.cancel()
            return
        job.last_heartbeat = now
        if progress is not None:
            job.last_write = now
            with job.lock:
                if job.latest is progress:
                    job.dirty = False

    # --- recovery ---------------------------------------------------------------
    def recover_abandoned(self) -> int:
        """Requeue (or fail, past MAX_ATTEMPTS) tasks whose worker is gone."""
        self.storage.reconcile_queue()
        recovered = 0
        seen: set[str] = set()
        processing = self.storage.queue_snapshot().processing
        ages = self.storage.heartbeat_ages() if processing else None
        for entry in processing:
            task = self.storage.get_task(entry.task_id)
            if task is None or task.status is not TaskStatus.PROCESSING:
                continue
            seen.add(task.task_id)
            if not self._abandoned(task, ages):
                continue
            if self._recover(task):
                recovered += 1
        self._beats.forget_except(seen)
        return recovered

    def _abandoned(self, task: Task, ages: dict[str, float] | None = None) -> bool:
        """Whether the task's worker is gone.

        ``ages`` are heartbeat ages on storage's clock (PostgreSQL's), shared
        by every host; without them another host's heartbeat is aged here.
        """
        worker = task.worker or {}
        if worker.get("id") == self.worker["id"]:
            with self._jobs_lock:
                return worker.get("run") not in self._jobs
        pid = worker.get("pid")
        if same_machine(worker, self.config.node) and isinstance(pid, int):
            started = worker.get("started")
            return not process_alive(pid, started if isinstance(started, str) else None)
        if ages is not None and task.task_id in ages:
            return ages[task.task_id] > self.config.stale_after_seconds
        beat = (worker.get("run"), worker.get("heartbeat_at"), worker.get("beat"))
        return self._beats.age(task.task_id, beat) > self.config.stale_after_seconds

    def _recover(self, task: Task) -> bool:
        dead = task.worker or {}

        def still_abandoned(record: Task) -> None:
            worker = record.worker or {}
            if record.status is not TaskStatus.PROCESSING or (
                worker.get("id"),
                worker.get("run"),
            ) != (dead.get("id"), dead.get("run")):
                raise _NotOurs()

        if task.attempts >= self.config.max_attempts:
            paths = TaskPaths.of(self.config.data_dir, task)
            detached: list[Path] = []

            def fail(record: Task) -> None:
                still_abandoned(record)
                record.transition(TaskStatus.FAILED)
                record.error_message = (
                    f"The task was interrupted {record.attempts} times (the process running it "
                    "stopped) and was given up; retry it to start again"
                )
                record.error_reason = "interrupted"
                detached.extend(paths.detach(work=True))

            try:
                self.storage.update_task(task.task_id, fail)
            except (_NotOurs, NotFound):
                return False
            finally:
                remove_detached(detached)
            log.warning("Task %s failed after %d interrupted attempts", task.task_id, task.attempts)
            metrics.count_failure(task.task_type, "interrupted")
            return True

        def requeue(record: Task) -> None:
            still_abandoned(record)
            record.stage = "waiting"
            record.metadata["last_interruption"] = "The process running the task stopped"

        try:
            self.storage.enqueue([task.task_id], None, requeue)
        except (_NotOurs, NotFound):
            return False
        log.warning("Task %s recovered from dead worker %s", task.task_id, dead.get("id"))
        self.notify()
        return True


def _detail(progress: Progress) -> dict:
    """What a task record keeps of a progress report (stage and percent have fields)."""
    return {k: v for k, v in progress.to_dict().items() if k not in ("stage", "percent")}
