"""A test-only processor for queue tests: sleeps, reports progress, fails on demand.

Loaded only through ``Config.plugins`` (``MEDIACRAFT_PLUGINS=tests.support.sleeper``);
it never ships as a user-visible task type.

Options (``options`` of the create call): ``seconds`` (total run time),
``fail`` (message to fail with), ``marker`` (a file to append the attempt to,
so a test can see how many times the work started).
"""

from __future__ import annotations

import os
import time
from typing import Any

from mediacraft.config import Config
from mediacraft.exceptions import MediaError, ValidationError
from mediacraft.processors import JobContext, Processor, register
from mediacraft.tasks import Task


@register
class SleepProcessor(Processor):
    task_type = "test_sleep"
    needs_upload = False

    def validate_create(self, task: Task, payload: dict[str, Any], config: Config) -> None:
        options = payload.get("options") or {}
        if not isinstance(options, dict):
            raise ValidationError("options must be an object")
        task.options = {
            "seconds": float(options.get("seconds", 0.5)),
            "fail": options.get("fail"),
            "marker": options.get("marker"),
        }

    def run(self, ctx: JobContext) -> dict[str, Any]:
        options = ctx.task.options
        marker = options.get("marker")
        if marker:
            with open(marker, "a", encoding="utf-8") as handle:
                handle.write(f"{ctx.task.task_id} attempt {ctx.task.attempts}\n")
        total = float(options.get("seconds", 0.5))
        steps = max(1, int(total / 0.05))
        for step in range(steps):
            ctx.cancel.check()
            ctx.cancel.event.wait(total / steps)
            ctx.progress(stage="sleeping", percent=100.0 * (step + 1) / steps)
        ctx.cancel.check()
        if options.get("fail"):
            raise MediaError(str(options["fail"]))
        out = ctx.result_dir / "result.txt"
        out.write_text(f"done {ctx.task.task_id} at {time.time()}\n", encoding="utf-8")
        return {"file_name": out.name, "size": out.stat().st_size, "pid": os.getpid()}
