"""At the API level: uploads, frames, watermark removal, merge, cancel.

Real ffmpeg on tiny generated clips (2 s, 320x240), Flask's test client, the
task queue running in the app.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest

from mediacraft.media import probe
from mediacraft.paths import TaskPaths
from mediacraft.processors import watermark
from tests.support.api import assert_error, fetch, files_under, multipart
from tests.support.media import make_video
from tests.support.waiting import wait_for

BOX = (200, 30, 60, 40)
MERGE_SECONDS = (1.0, 1.5, 2.0)


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Clips generated once for the whole session."""
    base = tmp_path_factory.mktemp("api-media")
    clips = {"clip": make_video(base / "clip.mp4", seconds=2.0, box=BOX)}
    for number, seconds in enumerate(MERGE_SECONDS):
        clips[f"part{number}"] = make_video(base / f"part{number}.mp4", seconds=seconds)
    clips["long"] = make_video(base / "long.mp4", seconds=8.0, box=BOX)
    return clips


# --- helpers -----------------------------------------------------------------
def create(client, task_type: str, **extra) -> str:
    response = client.post("/api/tasks/create", json={"task_type": task_type, **extra})
    assert response.status_code == 201, response.json
    return response.json["data"]["task_id"]


def upload(client, task_id: str, *files: tuple[bytes | Path, str]):
    return multipart(client, f"/api/tasks/{task_id}/upload", files)


def status(client, task_id: str) -> dict:
    response = client.get(f"/api/tasks/{task_id}/status")
    assert response.status_code == 200, response.json
    return response.json["data"]


def wait_status(client, task_id: str, wanted: str, timeout: float = 60) -> dict:
    def check() -> dict | None:
        current = status(client, task_id)
        if current["status"] in {"failed", "cancelled"} and current["status"] != wanted:
            raise AssertionError(f"task ended {current['status']}: {current['error_message']}")
        return current if current["status"] == wanted else None

    return wait_for(check, timeout=timeout, what=f"task {wanted}")


def paths_of(app, task_id: str) -> TaskPaths:
    ext = app.extensions["mediacraft"]
    return TaskPaths.of(ext.config.data_dir, ext.storage.get_task(task_id))


# --- upload --------------------------------------------------------------------
@pytest.mark.parametrize("filename", ["../../etc/passwd.mp4", "视频.mp4"])
def test_upload_probes_metadata_and_ignores_the_file_name(client, app, media, filename) -> None:
    task_id = create(client, "watermark_removal")
    assert status(client, task_id)["status"] == "created"
    response = upload(client, task_id, (media["clip"], filename))
    assert response.status_code == 200, response.json
    task = response.json["data"]
    assert task["status"] == "uploaded" and task["stage"] == "uploaded"
    meta = task["metadata"]["media"]
    assert meta["width"] == 320 and meta["height"] == 240
    assert meta["fps"] == 25 and meta["frame_count"] == 50
    assert abs(meta["duration"] - 2.0) < 0.1
    display = filename.rsplit("/", 1)[-1]
    assert task["original_filename"] == display and task["name"] == display
    assert task["inputs"][0]["original_filename"] == display
    assert "path" not in task["inputs"][0] and "input_file_path" not in task

    data_dir = app.extensions["mediacraft"].config.data_dir
    upload_dir = paths_of(app, task_id).upload_dir
    assert files_under(data_dir / "uploads") == [upload_dir / "input-01.mp4"]
    assert not (data_dir / "etc").exists() and not (data_dir.parent / "etc").exists()


HLS_PLAYLIST = b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\nhttp://169.254.169.254/seg.ts\n"


@pytest.mark.parametrize(
    "kind",
    ["text", "m3u8", "ffconcat"],
)
def test_non_video_upload_is_400_and_nothing_stays(client, app, media, kind: str) -> None:
    content = {
        "text": b"hello, this is not a video\n" * 100,
        "m3u8": HLS_PLAYLIST,
        "ffconcat": f"ffconcat version 1.0\nfile '{media['clip']}'\n".encode(),
    }[kind]
    task_id = create(client, "watermark_removal")
    response = upload(client, task_id, (content, f"{kind}.mp4"))
    assert_error(response, 400, f"{kind}.mp4", "not a video")
    assert status(client, task_id)["status"] == "created"
    data_dir = app.extensions["mediacraft"].config.data_dir
    assert files_under(data_dir / "uploads") == []


@pytest.mark.parametrize("megabytes", [1.5, 3])
def test_upload_over_the_limit_is_413_and_nothing_stays(app_config, request, megabytes) -> None:
    app_config["max_upload_mb"] = 1
    client = request.getfixturevalue("client")
    app = request.getfixturevalue("app")
    task_id = create(client, "watermark_removal")
    response = upload(client, task_id, (os.urandom(int(megabytes * 1024 * 1024)), "big.mp4"))
    assert_error(response, 413, "1 MB limit")
    assert status(client, task_id)["status"] == "created"
    assert files_under(app.extensions["mediacraft"].config.data_dir / "uploads") == []


def test_upload_to_a_download_task_is_409(client) -> None:
    task_id = create(client, "download", url="http://127.0.0.1:9/video.mp4")
    response = upload(client, task_id, (b"anything", "clip.mp4"))
    assert_error(response, 409, "takes no upload")


def test_config_before_upload_is_409(client) -> None:
    for task_type, body in (
        ("watermark_removal", {"selected_frame": 0, "regions": [[10, 10, 20, 20]]}),
        ("video_merge", {}),
    ):
        task_id = create(client, task_type)
        response = client.post(f"/api/tasks/{task_id}/config", json=body)
        assert_error(response, 409, "Upload")
        assert status(client, task_id)["status"] == "created"


# --- frames --------------------------------------------------------------------
def test_frame_endpoint(client, other_client, media) -> None:
    task_id = create(client, "watermark_removal")
    assert upload(client, task_id, (media["clip"], "clip.mp4")).status_code == 200
    frames = []
    for index in (0, 25, 49):
        response = client.get(f"/api/tasks/{task_id}/frame?index={index}")
        assert response.status_code == 200 and response.mimetype == "image/jpeg"
        assert response.data[:2] == b"\xff\xd8" and response.data[-2:] == b"\xff\xd9"
        frames.append(response.data)
    assert len(set(frames)) == 3  # the test pattern moves: three different pictures
    by_time = client.get(f"/api/tasks/{task_id}/frame?t=1.0")
    assert by_time.status_code == 200 and by_time.mimetype == "image/jpeg"

    assert_error(client.get(f"/api/tasks/{task_id}/frame?index=50"), 400, "out of range", "49")
    assert_error(client.get(f"/api/tasks/{task_id}/frame?index=-1"), 400, "index")
    assert_error(client.get(f"/api/tasks/{task_id}/frame?index=x"), 400, "integer")
    assert_error(client.get(f"/api/tasks/{task_id}/frame?t=9"), 400, "outside the video")

    foreign = other_client.get(f"/api/tasks/{task_id}/frame?index=0")
    missing = other_client.get(f"/api/tasks/{uuid.uuid4()}/frame?index=0")
    assert assert_error(foreign, 404) == assert_error(missing, 404)


# --- watermark removal ---------------------------------------------------------
def test_watermark_validation_then_full_flow(client, other_client, media, tmp_path) -> None:
    task_id = create(client, "watermark_removal", name="Holiday: clip")
    assert upload(client, task_id, (media["clip"], "clip.mp4")).status_code == 200

    config_url = f"/api/tasks/{task_id}/config"
    bad = {"selected_frame": 10, "regions": [list(BOX), [300, 10, 80, 40]]}
    assert_error(client.post(config_url, json=bad), 400, "region 2 [300, 10, 80, 40]", "320")
    below = {"selected_frame": 10, "regions": [[10, 220, 40, 40]]}
    assert_error(client.post(config_url, json=below), 400, "region 1", "height 240")
    far = {"selected_frame": 50, "regions": [list(BOX)]}
    assert_error(client.post(config_url, json=far), 400, "selected_frame 50")
    assert status(client, task_id)["status"] == "uploaded"

    queued = client.post(config_url, json={"selected_frame": 10, "regions": [list(BOX)]})
    assert queued.status_code == 200, queued.json
    assert queued.json["data"]["status"] in {"queued", "processing", "completed"}
    assert queued.json["data"]["config"]["regions"] == [list(BOX)]
    done = wait_status(client, task_id, "completed")
    assert done["progress"] == 100
    assert done["result"]["width"] == 320 and done["result"]["height"] == 240
    assert abs(done["result"]["duration"] - 2.0) < 0.1

    url = f"/api/tasks/{task_id}/download"
    response, payload = fetch(client, url)
    assert response.status_code == 200 and response.mimetype == "video/mp4"
    assert payload[4:8] == b"ftyp" and len(payload) == done["result"]["size"]
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment") and "Holiday_ clip.mp4" in disposition
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    ranged, part = fetch(client, url, headers={"Range": "bytes=100-199"})
    assert ranged.status_code == 206 and part == payload[100:200]
    assert ranged.headers["Content-Range"] == f"bytes 100-199/{len(payload)}"

    result = tmp_path / "result.mp4"
    result.write_bytes(payload)
    info = probe(result)
    assert (info.width, info.height, info.video_codec) == (320, 240, "h264")
    assert info.audio_codec == "aac" and abs(info.duration - 2.0) < 0.1

    foreign, _ = fetch(other_client, url)
    assert foreign.status_code == 404


# --- merge -----------------------------------------------------------------------
def test_merge_three_clips_in_order(client, media, tmp_path) -> None:
    task_id = create(client, "video_merge", name="merged")
    clips = [(media[f"part{n}"], f"part{n}.mp4") for n in range(3)]
    response = upload(client, task_id, *clips)
    assert response.status_code == 200, response.json
    task = response.json["data"]
    assert task["status"] == "uploaded"
    assert [item["original_filename"] for item in task["inputs"]] == [n for _, n in clips]

    assert_error(client.post(f"/api/tasks/{task_id}/config", json={"order": [0, 0, 1]}), 400)
    queued = client.post(f"/api/tasks/{task_id}/config", json={"order": [2, 0, 1]})
    assert queued.status_code == 200, queued.json
    assert queued.json["data"]["config"]["order"] == [2, 0, 1]
    done = wait_status(client, task_id, "completed")
    assert done["result"]["method"] == "copy"  # compatible clips: stream copy

    response, payload = fetch(client, f"/api/tasks/{task_id}/download")
    assert response.status_code == 200
    result = tmp_path / "merged.mp4"
    result.write_bytes(payload)
    assert abs(probe(result).duration - sum(MERGE_SECONDS)) <= 0.2


# --- cancel ------------------------------------------------------------------------
def ffmpeg_processes(pattern: str) -> list[str]:
    found = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True, check=False)
    return found.stdout.split()


def test_cancelled_watermark_leaves_no_ffmpeg_and_no_result(
    client, app, media, monkeypatch
) -> None:
    original = watermark.watermark_args

    def realtime(*args, **kwargs) -> list[str]:
        # read the input at its own pace (-re) so that the 8 s job is surely running
        return ["-re", *original(*args, **kwargs)]

    monkeypatch.setattr(watermark, "watermark_args", realtime)
    task_id = create(client, "watermark_removal")
    assert upload(client, task_id, (media["long"], "long.mp4")).status_code == 200
    queued = client.post(
        f"/api/tasks/{task_id}/config", json={"selected_frame": 0, "regions": [list(BOX)]}
    )
    assert queued.status_code == 200, queued.json
    wait_status(client, task_id, "processing")

    paths = paths_of(app, task_id)
    pattern = str(paths.result_dir.relative_to(paths.result_dir.parents[2]))  # results/uid/tid
    wait_for(lambda: ffmpeg_processes(pattern), timeout=10, what="ffmpeg running")
    wait_for(lambda: files_under(paths.result_dir), timeout=10, what="partial output")

    cancelled = client.post(f"/api/tasks/{task_id}/cancel")
    assert cancelled.status_code == 200 and cancelled.json["data"]["status"] == "cancelled"
    wait_for(lambda: not ffmpeg_processes(pattern), timeout=5, what="ffmpeg gone")
    wait_for(lambda: not files_under(paths.result_dir), timeout=5, what="no partial result")
    assert files_under(paths.work_dir) == []
    final = status(client, task_id)
    assert final["status"] == "cancelled" and final["result"] is None
    response, _ = fetch(client, f"/api/tasks/{task_id}/download")
    assert response.status_code == 404
