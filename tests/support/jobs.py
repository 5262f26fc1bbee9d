"""Build tasks and job contexts for processor tests (no queue, no storage)."""

from __future__ import annotations

from pathlib import Path

from mediacraft.config import Config
from mediacraft.media import media_metadata, probe_upload
from mediacraft.model import Task
from mediacraft.processors import JobContext
from mediacraft.progress import CancelToken, Progress


def uploaded_task(task_type: str, paths: list[Path]) -> Task:
    """A task as the upload endpoint leaves it: inputs with path and media metadata."""
    task = Task.new("user-1", task_type)
    for path in paths:
        info = probe_upload(path)
        task.inputs.append(
            {
                "path": str(path),
                "original_filename": path.name,
                "size": path.stat().st_size,
                "media": media_metadata(info),
            }
        )
    task.input_file_path = str(paths[0])
    task.metadata["media"] = task.inputs[0]["media"]
    return task


def job_context(
    task: Task, root: Path, cancel: CancelToken | None = None
) -> tuple[JobContext, list[Progress]]:
    """A JobContext writing under ``root``; returns it with the list of reports."""
    reports: list[Progress] = []
    dirs = {name: root / name for name in ("uploads", "results", "work")}
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    ctx = JobContext(
        task=task,
        config=Config(data_dir=root),
        upload_dir=dirs["uploads"],
        result_dir=dirs["results"],
        work_dir=dirs["work"],
        report=reports.append,
        cancel=cancel or CancelToken(),
    )
    return ctx, reports
