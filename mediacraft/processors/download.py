"""The ``download`` task type: a URL (a page, HLS, DASH or a file) to a video in the results."""

from __future__ import annotations

import os
import re
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from ..atomic import write_bytes_atomic
from ..config import Config
from ..download import DownloadLimits, DownloadOptions, download
from ..download.cookies import load_for, parse_cookies
from ..download.guard import check_url, precheck_url
from ..download.limits import SERVER_SETTINGS
from ..exceptions import DownloadError, Interrupted, MediaCraftError, ValidationError
from ..model import Task
from ..paths import TaskPaths
from ..progress import Progress
from ..tasklog import TaskLog
from . import register
from .base import JobContext, Processor

MAX_URL_LENGTH = 4096
# Top-level keys of a create payload that are download options (older clients send "quality" there).
OPTION_KEYS = ("quality", "profile", "threads", "retries", "max_retries", "headers", "limit_rate",
               "record_seconds", "audio_lang", "subtitles", "user_agent", "referer",
               "container", "start", "end", "precise_cut")  # fmt: skip
#: the task's cookies file, in its upload directory (removed with the task, never listed)
COOKIES_NAME = "cookies.txt"
MiB = 1024 * 1024


def result_file_name(url: str, name: str = "") -> str:
    """A server-made file name from the task's name (or the URL): letters of any script,
    digits, ``-`` and ``_`` only, so no name a visitor gives can become a path."""
    stem = name or PurePosixPath(urlsplit(url).path).stem
    if stem in ("index", "master", "playlist", "manifest", ""):
        stem = PurePosixPath(urlsplit(url).path).parent.name or "video"
    safe = re.sub(r"[^\w-]+", "_", stem).strip("_-")[:60]
    return f"{safe or 'video'}.mp4"


def task_limits(config: Config, task: Task) -> DownloadLimits:
    """The server's limits for this task's download, with what is left of the visitor's quota."""
    from ..quota import remaining

    limits = DownloadLimits.from_config(config)
    # uploads in flight hold their reservations, so they count against this download too
    return limits.with_quota(remaining(config, task.user_id))


@register
class DownloadProcessor(Processor):
    task_type = "download"
    needs_upload = False
    label = "Download"
    stoppable = True  # a live recording ends and keeps what it recorded

    def time_limit(self, task: Task, config: Config) -> float:
        """The server's task limit plus the longest live recording a visitor may ask for."""
        return float(config.max_task_seconds) + float(config.max_record_seconds)

    def validate_create(self, task: Task, payload: dict[str, Any], config: Config) -> None:
        url = payload.get("url")
        if not isinstance(url, str) or not url.strip():
            raise ValidationError(
                "url is required: an http(s) link to a page, a playlist or a video file",
                reason="url_required",
            )
        url = url.strip()
        if len(url) > MAX_URL_LENGTH:
            raise ValidationError(f"url is longer than {MAX_URL_LENGTH} characters")
        try:
            check_url(url)
        except DownloadError as exc:
            raise ValidationError(
                f"url must be an http or https link ({exc})", reason="bad_url"
            ) from None
        try:
            precheck_url(url, config.allowed_networks)
        except DownloadError as exc:
            raise ValidationError(exc.message, reason=exc.reason) from None
        raw = payload.get("options") or {}
        if not isinstance(raw, dict):
            raise ValidationError("options must be an object")
        merged = dict(raw)
        for key in OPTION_KEYS:
            if key in payload and key not in merged:
                merged[key] = payload[key]
        options = DownloadOptions.from_dict(merged, DownloadLimits.from_config(config))
        task.url = url
        task.options = {k: v for k, v in merged.items() if k != "max_retries"}
        if "max_retries" in merged:
            task.options["retries"] = merged["max_retries"]
        task.options["profile"] = options.profile
        task.options["quality"] = options.quality
        if not task.name:
            task.name = result_file_name(url)[:-4]
        cookies = payload.get("cookies")
        if cookies not in (None, ""):
            if not isinstance(cookies, str):
                raise ValidationError("cookies must be the text of a Netscape cookies.txt file")
            parse_cookies(cookies)  # a file in another format is a 400, naming its line

    def store_private(self, task: Task, payload: dict[str, Any], config: Config) -> None:
        cookies = payload.get("cookies")
        if not cookies:
            return
        paths = TaskPaths.of(config.data_dir, task)
        paths.upload_dir.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(paths.upload_dir / COOKIES_NAME, str(cookies).encode("utf-8"))
        os.chmod(paths.upload_dir / COOKIES_NAME, 0o600)

    def run(self, ctx: JobContext) -> dict[str, Any]:
        task = ctx.task
        if not task.url:
            raise DownloadError("The task has no URL to download")
        paths = TaskPaths.of(ctx.config.data_dir, task)
        log = TaskLog(paths.log_file)
        log(f"Attempt {task.attempts or 1}: downloading {task.url}")
        # Tasks stored before the size caps became server settings may still carry them.
        stored = {k: v for k, v in (task.options or {}).items() if k not in SERVER_SETTINGS}
        limits = task_limits(ctx.config, task)
        options = DownloadOptions.from_dict(stored, limits)
        file_name = result_file_name(task.url, task.name)
        cookies = None
        cookie_file = paths.upload_dir / COOKIES_NAME
        if cookie_file.is_file():
            cookies = load_for(cookie_file.read_text(encoding="utf-8"), task.url)
            log(f"Using the task's cookies for {urlsplit(task.url).hostname}")
        ctx.result_dir.mkdir(parents=True, exist_ok=True)
        if task.metadata.get("stop_requested"):
            ctx.cancel.finish()  # asked to stop before this attempt: finish with what is there

        def report(progress: Progress) -> None:
            ctx.report(progress)

        ctx.cancel.check()
        try:
            result = download(
                task.url,
                ctx.result_dir / file_name,
                options,
                work_dir=ctx.work_dir,
                progress=report,
                cancel=ctx.cancel,
                allowed_networks=ctx.config.allowed_networks,
                limits=limits,
                log=log,
                choose_suffix=True,
                cookies=cookies,
            )
        except Interrupted:
            log("Interrupted (the server is stopping); the next attempt resumes")
            raise
        except MediaCraftError as exc:
            if not ctx.cancel.is_set:
                log(f"Failed: {exc.message}")
            raise
        log(f"Completed: {result.path.name}, {result.size} bytes")
        data: dict[str, Any] = {
            "file_name": result.path.name,
            "size": result.size,
            "duration": result.duration,
            "width": result.width,
            "height": result.height,
            "tracks": result.tracks,
            "gaps": result.gaps,
        }
        if result.live is not None:
            data["live"] = result.live
        if result.page is not None:
            data["page"] = result.page
        extra = [p.name for p in result.files if p != result.path]
        if extra:
            data["files"] = extra
        return data


__all__ = ["DownloadProcessor", "result_file_name", "task_limits"]
