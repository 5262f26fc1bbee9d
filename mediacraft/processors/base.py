"""What a processor is: the code that does one task type's work.

One module per task type (``download.py``, ``watermark.py``, ``merge.py``),
each registering a :class:`Processor` subclass in the registry
(``processors/__init__.py``). The queue builds a :class:`JobContext` and calls
:meth:`Processor.run`; the processor reports progress through the context and
checks its cancel token at safe points.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from ..config import Config
from ..progress import CancelToken, Progress, ProgressHook
from ..tasks import Task


@dataclass
class JobContext:
    """Everything a processor may touch while it runs one attempt of a task.

    ``work_dir`` survives between attempts (checkpoints live there) and is
    removed when the task ends. ``result_dir`` receives the final file,
    written under a temporary name and renamed into place.
    """

    task: Task
    config: Config
    upload_dir: Path
    result_dir: Path
    work_dir: Path
    report: ProgressHook
    cancel: CancelToken

    def progress(self, **values: Any) -> None:
        self.report(Progress(**values))


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
        """
        return None

    def validate_config(self, task: Task, payload: dict[str, Any], config: Config) -> None:
        """Check and copy a ``config`` call's body onto ``task.config``."""
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
