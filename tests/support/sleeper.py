"""A test-only processor for queue tests: sleeps, reports progress, fails on demand.

Loaded only through ``Config.plugins`` (``MEDIACRAFT_PLUGINS=tests.support.sleeper``);
it never ships as a user-visible task type.

Options (``options`` of the create call): ``seconds`` (total run time),
``fail`` (message to fail with), ``marker`` (a file to append the attempt to,
so a test can see how many times the work started), ``slow_stop`` (seconds
it goes on working after being told to stop, as a download finishing a
segment would), ``fail_errno`` (raise that OSError, e.g. 28 for ENOSPC, after
writing its checkpoint).

Each run writes ``work_dir/checkpoint-<run>.txt`` when it starts and checks
at the end that it is still there: a run whose files another run deleted
fails with "work file vanished".
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

from mediacraft.config import Config
from mediacraft.exceptions import MediaError, ValidationError
from mediacraft.model import Task
from mediacraft.processors import JobContext, Processor, register


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
            "slow_stop": float(options.get("slow_stop", 0)),
            "fail_errno": options.get("fail_errno"),
        }

    def run(self, ctx: JobContext) -> dict[str, Any]:
        options = ctx.task.options
        marker = options.get("marker")
        if marker:
            with open(marker, "a", encoding="utf-8") as handle:
                handle.write(f"{ctx.task.task_id} attempt {ctx.task.attempts}\n")
        checkpoint = ctx.work_dir / f"checkpoint-{uuid.uuid4().hex[:8]}.txt"
        checkpoint.write_text("started\n", encoding="utf-8")
        if options.get("fail_errno"):
            code = int(options["fail_errno"])
            raise OSError(code, os.strerror(code), str(ctx.result_dir / "result.txt"))
        total = float(options.get("seconds", 0.5))
        steps = max(1, int(total / 0.05))
        for step in range(steps):
            self._check(ctx)
            ctx.cancel.event.wait(total / steps)
            ctx.progress(stage="sleeping", percent=100.0 * (step + 1) / steps)
        self._check(ctx)
        if options.get("fail"):
            raise MediaError(str(options["fail"]))
        if not checkpoint.exists():
            raise MediaError("work file vanished")
        out = ctx.result_dir / "result.txt"
        out.write_text(f"done {ctx.task.task_id} at {time.time()}\n", encoding="utf-8")
        return {"file_name": out.name, "size": out.stat().st_size, "pid": os.getpid()}

    @staticmethod
    def _check(ctx: JobContext) -> None:
        if ctx.cancel.is_set and ctx.task.options.get("slow_stop"):
            time.sleep(float(ctx.task.options["slow_stop"]))  # finishing what it was doing
        ctx.cancel.check()


