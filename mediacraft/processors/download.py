"""The ``download`` task type: a URL (HLS or direct file) to an MP4 in the task's results."""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from ..config import Config
from ..download import DownloadOptions, download
from ..download.guard import check_url, precheck_url
from ..exceptions import DownloadError, ValidationError
from ..progress import Progress
from ..tasks import Task
from . import register
from .base import JobContext, Processor

MAX_URL_LENGTH = 4096
# Top-level keys of a create payload that are download options (seed 000 sends "quality").
OPTION_KEYS = ("quality", "profile", "threads", "retries", "max_retries", "headers", "limit_rate")


def result_file_name(url: str, name: str = "") -> str:
    """A server-made file name: letters, digits, ``-`` and ``_`` only, from the name or URL."""
    stem = name or PurePosixPath(urlsplit(url).path).stem
    if stem in ("index", "master", "playlist", "manifest", ""):
        stem = PurePosixPath(urlsplit(url).path).parent.name or "video"
    safe = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_-")[:60]
    return f"{safe or 'video'}.mp4"


@register
class DownloadProcessor(Processor):
    task_type = "download"
    needs_upload = False
    label = "Download"

    def validate_create(self, task: Task, payload: dict[str, Any], config: Config) -> None:
        url = payload.get("url")
        if not isinstance(url, str) or not url.strip():
            raise ValidationError("url is required: an http(s) link to a video or HLS playlist")
        url = url.strip()
        if len(url) > MAX_URL_LENGTH:
            raise ValidationError(f"url is longer than {MAX_URL_LENGTH} characters")
        try:
            check_url(url)
        except DownloadError as exc:
            raise ValidationError(f"url must be an http or https link ({exc})") from None
        try:
            precheck_url(url, config.allowed_networks)
        except DownloadError as exc:
            raise ValidationError(exc.message) from None
        raw = payload.get("options") or {}
        if not isinstance(raw, dict):
            raise ValidationError("options must be an object")
        merged = dict(raw)
        for key in OPTION_KEYS:
            if key in payload and key not in merged:
                merged[key] = payload[key]
        options = DownloadOptions.from_dict(merged)  # raises ValidationError
        task.url = url
        task.options = {k: v for k, v in merged.items() if k != "max_retries"}
        if "max_retries" in merged:
            task.options["retries"] = merged["max_retries"]
        task.options["profile"] = options.profile
        task.options["quality"] = options.quality
        if not task.name:
            task.name = result_file_name(url)[:-4]

    def run(self, ctx: JobContext) -> dict[str, Any]:
        task = ctx.task
        if not task.url:
            raise DownloadError("The task has no URL to download")
        options = DownloadOptions.from_dict(dict(task.options or {}))
        file_name = result_file_name(task.url, "")
        ctx.result_dir.mkdir(parents=True, exist_ok=True)

        def report(progress: Progress) -> None:
            ctx.report(progress)

        ctx.cancel.check()
        result = download(
            task.url,
            ctx.result_dir / file_name,
            options,
            work_dir=ctx.work_dir,
            progress=report,
            cancel=ctx.cancel,
            allowed_networks=ctx.config.allowed_networks,
        )
        return {
            "file_name": file_name,
            "size": result.size,
            "duration": result.duration,
            "width": result.width,
            "height": result.height,
        }


__all__ = ["DownloadProcessor", "result_file_name"]
