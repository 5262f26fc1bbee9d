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
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from .config import Config
from .exceptions import Cancelled, Interrupted, MediaCraftError, NotFound, StorageFull
from .paths import TaskPaths
from .processors import JobContext, get_processor
from .progress import CancelToken, Progress
from .storage import StorageInterface, queue_limits
from .tasks import Task, TaskStatus, parse_time, utcnow

log = logging.getLogger(__name__)

MONITOR_INTERVAL = 0.25
PROGRESS_WRITE_INTERVAL = 1.0
RECOVERY_INTERVAL = 5.0
CLEANUP_INTERVAL = 3600.0


@dataclass
class RunningJob:
    task_id: str
    token: CancelToken = field(default_factory=CancelToken)
    latest: Progress | None = None
    dirty: bool = False
    last_write: float = 0.0
    last_heartbeat: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class TaskQueue:
    def __init__(self, storage: StorageInterface, config: Config) -> None:
        self.storage = storage
        self.config = config
        self.limits = queue_limits(config)
        self.worker = {
            "id": f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}",
            "host": socket.gethostname(),
            "pid": os.getpid(),
        }
        self._executor: ThreadPoolExecutor | None = None
        self._jobs: dict[str, RunningJob] = {}
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
            leftovers = list(self._jobs)
        for task_id in leftovers:  # did not stop in time: requeue from here
            self._requeue(task_id, "The server stopped while the task was running")
        for thread in self._threads:
            thread.join(timeout=2)
        self._stopped.set()
        log.info("Task queue stopped (%s)", self.worker["id"])

    def notify(self) -> None:
        """Wake the dispatcher: a task was queued by this process."""
        with self._wake:
            self._wake.notify_all()

    def cancel_local(self, task_id: str) -> None:
        """Stop a task running in this process at once (other processes see the record)."""
        with self._jobs_lock:
            job = self._jobs.get(task_id)
        if job:
            job.token.cancel()

    def finish_local(self, task_id: str) -> None:
        """Ask a task running here to finish early and keep its result (a live recording)."""
        with self._jobs_lock:
            job = self._jobs.get(task_id)
        if job:
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
            except Exception:  # keep dispatching whatever one round did
                log.exception("Dispatcher round failed")
            with self._wake:
                self._wake.wait(timeout=self.config.poll_seconds)

    def _claim_and_submit(self) -> bool:
        if not self._free.acquire(blocking=False):
            return False
        try:
            task = self.storage.claim_next(self.limits, self.worker)
        except Exception:
            self._free.release()
            raise
        if task is None:
            self._free.release()
            return False
        job = RunningJob(task.task_id)
        with self._jobs_lock:
            self._jobs[task.task_id] = job
        assert self._executor is not None
        try:
            self._executor.submit(self._run, task, job)
        except RuntimeError:  # executor shut down between claim and submit
            self._forget(job)
            self._requeue(task.task_id, "The server stopped before the task started", started=False)
        return True

    def _forget(self, job: RunningJob) -> None:
        with self._jobs_lock:
            self._jobs.pop(job.task_id, None)
        self._free.release()

    # --- running one task -----------------------------------------------------
    def _run(self, task: Task, job: RunningJob) -> None:
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
            )
            log.info(
                "Task %s (%s) started, attempt %d", task.task_id, task.task_type, task.attempts
            )
            result = processor.run(ctx)
            job.token.check()
            with job.lock:
                latest = job.latest
            self._finish(task.task_id, TaskStatus.COMPLETED, result=result, latest=latest)
            paths.remove_work()
            log.info("Task %s completed", task.task_id)
        except Interrupted:
            self._requeue(task.task_id, "The server restarted while the task was running")
        except Cancelled:
            paths.remove_work()
            paths.remove_results()
            log.info("Task %s stopped: %s", task.task_id, job.token.reason or "cancelled")
        except MediaCraftError as exc:
            # A full or read-only disk keeps the work files: a retry resumes from them.
            self._fail(task.task_id, exc.message, paths, keep_work=isinstance(exc, StorageFull))
        except Exception as exc:
            log.exception("Task %s crashed", task.task_id)
            self._fail(
                task.task_id, f"Internal error while processing ({type(exc).__name__})", paths
            )
        finally:
            self._forget(job)
            self.notify()

    def _fail(
        self, task_id: str, message: str, paths: TaskPaths, *, keep_work: bool = False
    ) -> None:
        log.warning("Task %s failed: %s", task_id, message)
        self._finish(task_id, TaskStatus.FAILED, error=message)
        if not keep_work:
            paths.remove_work()
        paths.remove_results()

    def _owned(self, task: Task) -> bool:
        return task.status is TaskStatus.PROCESSING and bool(
            task.worker and task.worker.get("id") == self.worker["id"]
        )

    def _finish(
        self,
        task_id: str,
        status: TaskStatus,
        *,
        result: dict | None = None,
        error: str = "",
        latest: Progress | None = None,
    ) -> None:
        def mutate(task: Task) -> None:
            if not self._owned(task):
                raise Cancelled()  # cancelled or taken over meanwhile: leave it be
            task.transition(status)
            if latest is not None:  # the last report may not have been flushed yet
                task.progress_detail = _detail(latest)
            if status is TaskStatus.COMPLETED:
                task.result = result
                task.progress = 100.0
                task.stage = "done"
                task.output_file_path = result.get("file_name") if result else None
            else:
                task.error_message = error
            task.progress_detail.pop("speed", None)
            task.progress_detail.pop("eta", None)

        try:
            self.storage.update_task(task_id, mutate)
        except (Cancelled, NotFound):
            pass

    def _requeue(self, task_id: str, reason: str, *, started: bool = True) -> None:
        def mutate(task: Task) -> None:
            if not self._owned(task):
                raise Cancelled()
            if not started:  # claimed but never run: the attempt does not count
                task.attempts = max(0, task.attempts - 1)
            task.stage = "waiting"
            task.metadata["last_interruption"] = reason

        try:
            self.storage.enqueue([task_id], None, mutate)
            log.info("Task %s returned to the queue: %s", task_id, reason)
        except (Cancelled, NotFound):
            pass
        except MediaCraftError as exc:
            log.warning("Could not requeue %s: %s", task_id, exc)

    def _report(self, job: RunningJob, progress: Progress) -> None:
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
                except Exception:
                    log.exception("Monitoring task %s failed", job.task_id)

    def _monitor(self, job: RunningJob) -> None:
        now = time.monotonic()
        task = self.storage.get_task(job.task_id)
        if task is None or not self._owned(task):
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
            if not self._owned(record):
                raise Cancelled()
            assert record.worker is not None
            record.worker["heartbeat_at"] = utcnow()
            if progress is not None:
                record.stage = progress.stage or record.stage
                record.progress = round(max(0.0, min(100.0, progress.percent)), 2)
                record.progress_detail = _detail(progress)

        try:
            self.storage.update_task(job.task_id, mutate)
        except (Cancelled, NotFound):
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
        for entry in self.storage.queue_snapshot().processing:
            task = self.storage.get_task(entry.task_id)
            if task is None or task.status is not TaskStatus.PROCESSING:
                continue
            if not self._abandoned(task):
                continue
            if self._recover(task):
                recovered += 1
        return recovered

    def _abandoned(self, task: Task) -> bool:
        worker = task.worker or {}
        if worker.get("id") == self.worker["id"]:
            with self._jobs_lock:
                return task.task_id not in self._jobs
        if worker.get("host") == self.worker["host"] and isinstance(worker.get("pid"), int):
            if not process_alive(worker["pid"]):
                return True
        beat = parse_time(worker.get("heartbeat_at"))
        if beat is None:
            return True
        age = time.time() - beat.timestamp()
        return age > self.config.stale_after_seconds

    def _recover(self, task: Task) -> bool:
        dead_worker = (task.worker or {}).get("id")

        def still_abandoned(record: Task) -> None:
            if (
                record.status is not TaskStatus.PROCESSING
                or (record.worker or {}).get("id") != dead_worker
            ):
                raise Cancelled()

        if task.attempts >= self.config.max_attempts:

            def fail(record: Task) -> None:
                still_abandoned(record)
                record.transition(TaskStatus.FAILED)
                record.error_message = (
                    f"The task was interrupted {record.attempts} times (the process running it "
                    "stopped) and was given up; retry it to start again"
                )

            try:
                self.storage.update_task(task.task_id, fail)
            except (Cancelled, NotFound):
                return False
            TaskPaths.of(self.config.data_dir, task).remove_work()
            log.warning("Task %s failed after %d interrupted attempts", task.task_id, task.attempts)
            return True

        def requeue(record: Task) -> None:
            still_abandoned(record)
            record.stage = "waiting"
            record.metadata["last_interruption"] = "The process running the task stopped"

        try:
            self.storage.enqueue([task.task_id], None, requeue)
        except (Cancelled, NotFound):
            return False
        log.warning("Task %s recovered from dead worker %s", task.task_id, dead_worker)
        self.notify()
        return True


def _detail(progress: Progress) -> dict:
    """What a task record keeps of a progress report (stage and percent have fields)."""
    return {k: v for k, v in progress.to_dict().items() if k not in ("stage", "percent")}
