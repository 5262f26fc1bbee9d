"""The ``jianying_draft`` task type: download materials, build a JianYing draft, hand back a zip.

Input (``POST /api/tasks/create`` or the ``/api/tasks/submit`` compatibility
shape): ``materials`` (``videos``, ``audios``: URLs or ``{"task_id"}`` of the
visitor's own finished tasks) and ``draft_config`` (``name``,
``canvas_width``, ``canvas_height``, ``fps``, ``drafts_root``). The result
is ``<name>.zip``: one folder holding ``draft_content.json``,
``draft_meta_info.json`` and ``materials/``, to unpack into ``drafts_root``.
Nothing is offered before the zip is complete; a material that fails fails
the task and names the material.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..config import Config
from ..download import DownloadLimits, DownloadOptions
from ..exceptions import Interrupted, MediaCraftError, ValidationError
from ..jianying.builder import build_draft, zip_draft
from ..jianying.materials import MEDIA_SUFFIXES, MaterialFetcher
from ..jianying.spec import DraftSpec, folder_name, parse_spec
from ..model import Task, is_uuid
from ..paths import TaskPaths
from ..progress import Progress
from ..tasklog import TaskLog
from . import register
from .base import JobContext, Processor
from .download import direct_fetcher, task_limits


def finished_result(config: Config, user_id: str, task_id: str) -> Path | None:
    """The media result of the visitor's own finished task ``task_id``, or None.

    Looked up under the visitor's own results directory, so another visitor's
    task id finds nothing. Hidden names (results being written) are skipped.
    """
    if not (is_uuid(user_id) and is_uuid(task_id)):
        return None
    folder = Path(config.data_dir).resolve() / "results" / user_id / task_id
    try:
        candidates = [
            p for p in folder.iterdir()
            if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in MEDIA_SUFFIXES
        ]  # fmt: skip
    except OSError:
        return None
    return max(candidates, key=lambda p: p.stat().st_size, default=None)


def zip_name(name: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_-")[:60]
    return f"{safe or 'draft'}.zip"


@register
class JianyingDraftProcessor(Processor):
    task_type = "jianying_draft"
    needs_upload = False
    label = "JianYing draft"

    def validate_create(self, task: Task, payload: dict[str, Any], config: Config) -> None:
        if payload.get("url") not in (None, ""):
            raise ValidationError("A jianying_draft task takes materials, not a url")
        options = payload.get("options") or {}
        if not isinstance(options, dict):
            raise ValidationError("options must be an object")
        materials = payload.get("materials", options.get("materials"))
        draft = payload.get("draft_config", options.get("draft_config"))
        if materials is None:
            raise ValidationError("materials is required: videos (and audios) to put in the draft")
        spec = parse_spec(materials, draft if draft is not None else {},
                          config.allowed_networks, default_name=task.name)  # fmt: skip
        for ref in spec.materials:
            if ref.task_id and finished_result(config, task.user_id, ref.task_id) is None:
                where = f"materials.{ref.kind}s[{ref.index - 1}].task_id"
                raise ValidationError(f"{where}: no finished task of yours with that id")
        task.options = spec.to_options()
        rule_group = payload.get("ruleGroup")
        if isinstance(rule_group, dict):
            task.metadata["rule_group"] = {
                k: str(v)[:200] for k, v in list(rule_group.items())[:20]
            }  # kept for the compatibility answers; never used as a path
        if not task.name:
            task.name = spec.config.name

    def run(self, ctx: JobContext) -> dict[str, Any]:
        task = ctx.task
        spec = DraftSpec.from_options(task.options)
        paths = TaskPaths.of(ctx.config.data_dir, task)
        log = TaskLog(paths.log_file)
        log(f"Attempt {task.attempts or 1}: {len(spec.materials)} materials for a draft")
        limits: DownloadLimits = task_limits(ctx.config, task)
        options = DownloadOptions.from_dict({}, limits)
        fetcher = MaterialFetcher(
            work_dir=ctx.work_dir,
            options=options,
            limits=limits,
            allowed_networks=tuple(ctx.config.allowed_networks),
            direct=direct_fetcher(ctx.config, options, log),
            log=log,
            resolve_task=lambda ref: finished_result(ctx.config, task.user_id, ref),
        )
        latest: dict[str, Any] = {}

        def report(progress: Progress) -> None:
            latest["files"], latest["materials"] = progress.files, progress.materials
            ctx.report(progress)

        try:
            materials = fetcher.fetch_all(spec.materials, ctx.cancel, report)
            if latest.get("materials"):  # every file is in: nothing is moving any more
                latest["materials"] = {**latest["materials"], "download_speed": 0,
                                       "eta_seconds": 0}  # fmt: skip
            ctx.cancel.check()
            ctx.report(Progress(stage="building", percent=92.0, **latest))
            folder = folder_name(spec.config.name)
            draft_dir = build_draft(spec.config, folder, materials, ctx.work_dir / "draft")
            ctx.cancel.check()
            ctx.report(Progress(stage="packing", percent=95.0, **latest))
            ctx.result_dir.mkdir(parents=True, exist_ok=True)
            target = ctx.result_dir / zip_name(spec.config.name)
            zip_draft(draft_dir, target)
        except Interrupted:
            log("Interrupted (the server is stopping); the next attempt resumes")
            raise
        except MediaCraftError as exc:
            if not ctx.cancel.is_set:
                log(f"Failed: {exc.message}")
            raise
        duration = sum(m.duration for m in materials if m.kind == "video")
        log(f"Completed: {target.name}, {target.stat().st_size} bytes")
        return {
            "file_name": target.name,
            "size": target.stat().st_size,
            "duration": round(duration, 3),
            "width": spec.config.canvas_width,
            "height": spec.config.canvas_height,
            "draft": {
                "folder": folder,
                "drafts_root": spec.config.drafts_root,
                "path": spec.config.draft_path(folder),
                "fps": spec.config.fps,
                "materials": [m.path.name for m in materials],
            },
        }


__all__ = ["JianyingDraftProcessor", "finished_result", "zip_name"]
