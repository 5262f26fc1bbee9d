"""A completed task to test what is done with results (shares, posters, pages)."""

from __future__ import annotations

from pathlib import Path

from tests.support.media import make_video
from tests.support.origin import Origin
from tests.support.waiting import wait_for


def finished(client, task_id: str, timeout: float = 60) -> dict:
    def done() -> dict | None:
        data = client.get(f"/api/tasks/{task_id}/status").json["data"]
        return data if data["status"] in {"completed", "failed", "cancelled"} else None

    return wait_for(done, timeout=timeout, what=f"task {task_id} to end")


def completed_download(client, origin: Origin, path: str = "v.mp4", name: str = "") -> dict:
    """Create a download of ``origin``'s ``path`` and wait until it has completed."""
    body = {"task_type": "download", "url": origin.url(path)}
    if name:
        body["name"] = name
    created = client.post("/api/tasks/create", json=body)
    assert created.status_code == 201, created.json
    task = finished(client, created.json["data"]["task_id"])
    assert task["status"] == "completed", task["error_message"]
    return task


def small_video(directory: Path) -> bytes:
    return make_video(directory / "v.mp4", seconds=2.0, size="320x180").read_bytes()
