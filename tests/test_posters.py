"""Posters: a frame from about 10 % in, made at completion, served to the owner only."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import av
import pytest

from tests.support.api import assert_error, fetch
from tests.support.media import FFMPEG, make_video
from tests.support.origin import Origin
from tests.support.waiting import wait_for


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, bytes]:
    root = tmp_path_factory.mktemp("poster-media")
    video = make_video(root / "v.mp4", seconds=4.0, size="640x360")
    audio = root / "a.m4a"
    subprocess.run(
        [FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
         "-i", "sine=frequency=440:duration=3", "-c:a", "aac", str(audio)],
        check=True, timeout=120,
    )  # fmt: skip
    return {"video": video.read_bytes(), "audio": audio.read_bytes()}


@pytest.fixture
def origin(media: dict[str, bytes]) -> Iterator[Origin]:
    with Origin() as server:
        server.add_file("v.mp4", media["video"])
        server.add_file("a.m4a", media["audio"])
        yield server


def finished(client, task_id: str) -> dict:
    def done() -> dict | None:
        data = client.get(f"/api/tasks/{task_id}/status").json["data"]
        return data if data["status"] in {"completed", "failed", "cancelled"} else None

    return wait_for(done, timeout=60)


def run_download(client, url: str) -> dict:
    created = client.post("/api/tasks/create", json={"task_type": "download", "url": url})
    assert created.status_code == 201, created.json
    task = finished(client, created.json["data"]["task_id"])
    assert task["status"] == "completed", task["error_message"]
    return task


def test_video_result_gets_a_poster_from_ten_percent(client, other_client, app, origin) -> None:
    task = run_download(client, origin.url("v.mp4"))
    assert task["result"]["has_video"] is True
    assert task["result"]["poster"] == "poster.jpg"
    assert task["result"]["duration"] == pytest.approx(4.0, abs=0.2)
    url = task["poster_url"]
    assert url.startswith(f"/api/tasks/{task['task_id']}/poster?v=")
    response, image = fetch(client, url)
    assert response.status_code == 200
    assert response.mimetype == "image/jpeg" and image[:3] == b"\xff\xd8\xff"
    assert response.headers["Cache-Control"] == "private, max-age=86400"
    assert "Cookie" in response.headers["Vary"]
    etag = response.headers["ETag"]
    again, body = fetch(client, url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and body == b""

    poster = next((app.config["MEDIACRAFT"].data_dir / "results").rglob("poster.jpg"))
    with av.open(str(poster)) as container:
        frame = next(container.decode(video=0))
    assert (frame.width, frame.height) == (320, 180)  # small, aspect kept

    assert_error(other_client.get(url), 404)  # another visitor's task: not found


def test_poster_is_from_about_ten_percent(tmp_path) -> None:
    from mediacraft.media.frames import extract_frame
    from mediacraft.posters import make_poster

    video = make_video(tmp_path / "v.mp4", seconds=10.0, size="320x240", gop=25)
    fields = make_poster(video, tmp_path)
    assert fields == {
        "has_video": True, "poster": "poster.jpg", "duration": pytest.approx(10, abs=0.1)
    }
    made = (tmp_path / "poster.jpg").read_bytes()
    assert made == extract_frame(video, t=1.0, max_width=320)
    assert made != extract_frame(video, t=0.0, max_width=320)


def test_audio_only_result_has_no_poster(client, origin) -> None:
    task = run_download(client, origin.url("a.m4a"))
    assert task["result"]["has_video"] is False
    assert task["result"]["poster"] is None
    assert task["poster_url"] is None
    assert_error(client.get(f"/api/tasks/{task['task_id']}/poster"), 404, "no poster")


def test_poster_of_unfinished_or_unknown_task_is_404(client) -> None:
    created = client.post("/api/tasks/create", json={"task_type": "watermark_removal"})
    task_id = created.json["data"]["task_id"]
    assert created.json["data"]["task"]["poster_url"] is None
    assert_error(client.get(f"/api/tasks/{task_id}/poster"), 404, "no poster")
    assert_error(client.get("/api/tasks/not-a-uuid/poster"), 404)


def test_unreadable_result_gets_no_poster_and_still_completes(tmp_path: Path) -> None:
    from mediacraft.posters import attach_poster

    (tmp_path / "r.mp4").write_bytes(b"not a video at all")
    result = attach_poster({"file_name": "r.mp4", "size": 18}, tmp_path)
    assert result == {"file_name": "r.mp4", "size": 18, "has_video": False, "poster": None}
    assert not (tmp_path / "poster.jpg").exists()
