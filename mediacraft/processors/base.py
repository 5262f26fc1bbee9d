"""What a processor is: the code that does one task type's work.

One module per task type (``download.py``, ``watermark.py``, ``merge.py``),
each registering a :class:`Processor` subclass in the registry
(``processors/__init__.py``). The queue builds a :class:`JobContext` and calls
:meth:`Processor.run`; the processor reports progress through the context and
checks its cancel token at safe points.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from ..config import Config
from ..exceptions import ValidationError
from ..model import Task
from ..progress import CancelToken, Progress, ProgressHook


@dataclass
class JobContext:
    """Everything a processor may touch while it runs one attempt of a task.

    ``work_dir`` survives between attempts (checkpoints live there) and is
    removed when the task ends. ``result_dir`` receives the final file,
    written under a temporary name and renamed into place. ``deadline``
    (``time.monotonic()`` seconds) is when the queue stops the attempt;
    processors give their subprocesses :meth:`time_left` as a timeout.
    """

    task: Task
    config: Config
    upload_dir: Path
    result_dir: Path
    work_dir: Path
    report: ProgressHook
    cancel: CancelToken
    deadline: float | None = None

    def progress(self, **values: Any) -> None:
        self.report(Progress(**values))

    def time_left(self) -> float | None:
        """Seconds until the attempt's time limit (at least 1), None without a limit."""
        if self.deadline is None:
            return None
        return max(1.0, self.deadline - time.monotonic())


class Processor(ABC):
    """Base class of task-type processors."""

    task_type: ClassVar[str]
    #: the task waits for uploads and a ``config`` call before it is queued
    needs_upload: ClassVar[bool] = True
    #: shown in lists and pages
    label: ClassVar[str] = ""
    #: can end early and keep its result when the visitor asks (a live recording)
    stoppable: ClassVar[bool] = False

    def validate_create(self, task: Task, payload: dict[str, Any], config: Config) -> None:
        """Check and copy what ``POST /api/tasks/create`` gave (url, options) onto ``task``.

        Raise :class:`~mediacraft.exceptions.ValidationError` for bad input.
        The default, for types whose input is an upload, refuses a URL and
        options (nothing the visitor sends is ignored silently).
        """
        if payload.get("url") not in (None, ""):
            raise ValidationError(f"A {self.task_type} task takes an upload, not a url")
        options = payload.get("options")
        if options not in (None, {}):
            raise ValidationError(
                f"A {self.task_type} task takes no options at creation; "
                "its settings go to the config call after the upload"
            )

    def time_limit(self, task: Task, config: Config) -> float:
        """Seconds one attempt of ``task`` may run before it is stopped and failed.

        The default is the server's ``MAX_TASK_SECONDS``; processors whose work
        scales with something they know (input duration, a recording's length)
        override it.
        """
        return float(config.max_task_seconds)

    def validate_config(self, task: Task, payload: dict[str, Any], config: Config) -> None:
        """Check and copy a ``config`` call's body onto ``task.config``."""
        return None

    def store_private(self, task: Task, payload: dict[str, Any], config: Config) -> None:
        """Write what the task keeps out of its record (a cookies file), once it is saved.

        Called after the task is stored and before it is queued; the files go
        under the task's own directories, which are removed with it.
        """
        return None


    @abstractmethod
    def run(self, ctx: JobContext) -> dict[str, Any]:
        """Do the work; return the ``result`` dict.

        The result names the file written in ``ctx.result_dir``:
        ``{"file_name", "size", "duration", "width", "height"}``.
        Raise a :class:`~mediacraft.exceptions.MediaCraftError` with a user-facing
        message on failure; :class:`~mediacraft.exceptions.Cancelled` /
        :class:`~mediacraft.exceptions.Interrupted` when the token says so.
        """


PROCESSING_BASE_SECONDS = 300.0


def processing_time_limit(task: Task, config: Config) -> float:
    """A limit in proportion to the media to process: a base plus a factor of its duration.

    ffmpeg re-encoding runs at a fraction of real time at worst on a loaded
    machine; ``PROCESSING_TIME_FACTOR`` seconds per second of input is the
    allowance, never more than ``MAX_TASK_SECONDS``.
    """
    duration = 0.0
    for item in task.inputs:
        media = item.get("media") or {}
        try:
            duration += max(0.0, float(media.get("duration") or 0.0))
        except (TypeError, ValueError):
            continue
    limit = PROCESSING_BASE_SECONDS + config.processing_time_factor * duration
    return float(min(config.max_task_seconds, limit))

