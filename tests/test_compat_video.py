"""``/api/video/*``: the older video API end to end, on top of tasks."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from mediacraft.media import probe
from tests.support.api import assert_error, fetch, files_under, multipart
from tests.support.media import make_video
from tests.support.waiting import wait_for

BOX = (200, 30, 60, 40)
CLIP_SECONDS = (1.0, 2.0)


@pytest.fixture(scope="session")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("compat-media")
    made = {"clip": make_video(base / "clip.mp4", seconds=2.0, box=BOX)}
    for number, seconds in enumerate(CLIP_SECONDS):
        made[f"part{number}"] = make_video(base / f"part{number}.mp4", seconds=seconds)
    return made


def ok(response) -> dict:
    body = response.get_json()
    assert response.status_code == 200, body
    assert body["success"] is True and body["code"] == 200
    assert set(body["meta"]) == {"timestamp", "version", "request_id"}
    return body["data"]


def upload_video(client, path: Path, name: str = "clip.mp4") -> dict:
    return ok(multipart(client, "/api/video/upload", [(path, name)]))


def poll(client, task_id: str, wanted: str = "completed") -> dict:
    def check() -> dict | None:
        data = ok(client.get(f"/api/video/status/{task_id}"))
        if data["status"] in {"failed", "cancelled"}:
            raise AssertionError(f"task ended {data['status']}: {data['error_message']}")
        return data if data["status"] == wanted else None

    return wait_for(check, timeout=60, what=f"task {wanted}")


def data_dir(app) -> Path:
    return app.extensions["mediacraft"].config.data_dir


def test_upload_info_frame_remove_watermark_status_result(client, app, videos, tmp_path) -> None:
    uploaded = upload_video(client, videos["clip"], "../视频.mp4")
    video_id = uploaded["video_id"]
    assert uploaded["task_id"] == video_id and uploaded["filename"] == "视频.mp4"
    assert uploaded["metadata"] == {
        "duration": 2.0,
        "fps": 25.0,
        "width": 320,
        "height": 240,
        "frame_count": 50,
    }
    # the video is an ordinary task of the visitor
    task = ok(client.get(f"/api/tasks/{video_id}/status"))
    assert task["task_type"] == "watermark_removal" and task["status"] == "uploaded"

    info = ok(client.get(f"/api/video/{video_id}/info"))
    assert info["metadata"] == uploaded["metadata"] and info["filename"] == "视频.mp4"

    pictures = []
    for url in (
        f"/api/video/{video_id}/frame/0",
        f"/api/video/{video_id}/frame/49",
        f"/api/video/{video_id}/frame?t=1.0",
        f"/api/video/{video_id}/frame?index=10",
        f"/api/video/{video_id}/frame/0?t=1.0",  # ?t= wins over the path's index
    ):
        response = client.get(url)
        assert response.status_code == 200 and response.mimetype == "image/jpeg", url
        assert response.data[:2] == b"\xff\xd8"
        pictures.append(response.data)
    assert pictures[0] != pictures[1] and pictures[2] == pictures[4]
    assert_error(client.get(f"/api/video/{video_id}/frame/50"), 400, "out of range")

    url = f"/api/video/{video_id}/remove-watermark"
    outside = {"selected_frame": 5, "regions": [list(BOX), [300, 10, 80, 40]]}
    assert_error(client.post(url, json=outside), 400, "region 2 [300, 10, 80, 40]")
    assert_error(client.post(url, data="regions=1"), 415)
    # older clients send rectangles as objects
    region = dict(zip(("x", "y", "width", "height"), BOX, strict=True))
    started = ok(client.post(url, json={"selected_frame": 5, "regions": [region]}))
    assert started["task_id"] == video_id
    assert started["status"] in {"queued", "processing", "completed"}
    assert ok(client.get(f"/api/tasks/{video_id}/status"))["config"]["regions"] == [list(BOX)]

    done = poll(client, video_id)
    assert done["progress"] == 100 and done["error_message"] is None
    assert done["result_url"] == f"/api/video/result/{video_id}"
    response, payload = fetch(client, done["result_url"])
    assert response.status_code == 200 and response.mimetype == "video/mp4"
    assert payload[4:8] == b"ftyp"
    assert response.headers["Content-Disposition"].startswith("attachment")
    result = tmp_path / "result.mp4"
    result.write_bytes(payload)
    info = probe(result)
    assert (info.width, info.height) == (320, 240) and abs(info.duration - 2.0) < 0.1
    ranged, part = fetch(client, done["result_url"], headers={"Range": "bytes=0-9"})
    assert ranged.status_code == 206 and part == payload[:10]

    # a finished task is not configured again
    assert_error(client.post(url, json={"selected_frame": 5, "regions": [region]}), 409)


def test_status_before_the_result_exists(client, videos) -> None:
    video_id = upload_video(client, videos["clip"])["video_id"]
    data = ok(client.get(f"/api/video/status/{video_id}"))
    assert data == {
        "task_id": video_id,
        "status": "uploaded",
        "progress": 0.0,
        "stage": "uploaded",
        "error_message": None,
        "queue_position": None,
        "result_url": None,
    }
    response, _ = fetch(client, f"/api/video/result/{video_id}")
    assert_error(response, 404, "no result")


def test_merge_with_order(client, app, videos, tmp_path) -> None:
    clips = [(videos["part0"], "a.mp4"), (videos["part1"], "b.mp4")]
    started = ok(multipart(client, "/api/video/merge", clips, {"order": "1,0"}))
    task_id = started["task_id"]
    assert started["status"] in {"queued", "processing", "completed"}
    task = ok(client.get(f"/api/tasks/{task_id}/status"))
    assert task["task_type"] == "video_merge" and task["config"]["order"] == [1, 0]
    assert [item["original_filename"] for item in task["inputs"]] == ["a.mp4", "b.mp4"]

    done = poll(client, task_id)
    response, payload = fetch(client, done["result_url"])
    assert response.status_code == 200
    result = tmp_path / "merged.mp4"
    result.write_bytes(payload)
    assert abs(probe(result).duration - sum(CLIP_SECONDS)) <= 0.2


@pytest.mark.parametrize(
    ("clips", "form", "message"),
    [
        (1, {}, "at least 2 clips"),
        (2, {"order": "0,0"}, "exactly once"),
        (2, {"order": "one,two"}, "comma-separated"),
        (2, {"text": True}, "not a video"),
    ],
)
def test_refused_merge_leaves_no_task_and_no_file(
    client, app, videos, clips, form, message
) -> None:
    files = [(videos[f"part{n}"], f"{n}.mp4") for n in range(clips)]
    form = dict(form)
    if form.pop("text", False):
        files[-1] = (b"not a video at all\n" * 50, "notes.mp4")
    assert_error(multipart(client, "/api/video/merge", files, form), 400, message)
    assert ok(client.get("/api/user/tasks"))["pagination"]["total"] == 0
    assert files_under(data_dir(app) / "uploads") == []


def test_refused_upload_leaves_no_task_and_no_file(client, app) -> None:
    playlist = b"#EXTM3U\n#EXTINF:2,\nhttp://169.254.169.254/a.ts\n"
    response = multipart(client, "/api/video/upload", [(playlist, "list.mp4")])
    assert_error(response, 400, "list.mp4", "not a video")
    assert_error(multipart(client, "/api/video/upload", []), 400, "field 'file'")
    assert ok(client.get("/api/user/tasks"))["pagination"]["total"] == 0
    assert files_under(data_dir(app) / "uploads") == []


@pytest.mark.parametrize("megabytes", [1.5, 3])
def test_upload_over_the_limit_is_413_and_leaves_nothing(app_config, request, megabytes) -> None:
    app_config["max_upload_mb"] = 1
    client = request.getfixturevalue("client")
    app = request.getfixturevalue("app")
    big = bytes(int(megabytes * 1024 * 1024))
    assert_error(multipart(client, "/api/video/upload", [(big, "big.mp4")]), 413, "1 MB limit")
    assert ok(client.get("/api/user/tasks"))["pagination"]["total"] == 0
    assert files_under(data_dir(app) / "uploads") == []


def test_remove_watermark_on_a_merge_task_is_409(client, videos) -> None:
    clips = [(videos["part0"], "a.mp4"), (videos["part1"], "b.mp4")]
    task_id = ok(multipart(client, "/api/video/merge", clips))["task_id"]
    body = {"selected_frame": 0, "regions": [list(BOX)]}
    response = client.post(f"/api/video/{task_id}/remove-watermark", json=body)
    assert_error(response, 409, "video_merge")


def test_another_visitor_gets_404_like_missing(client, other_client, videos) -> None:
    video_id = upload_video(client, videos["clip"])["video_id"]
    body = {"selected_frame": 0, "regions": [list(BOX)]}
    for target in (video_id, str(uuid.uuid4()), "not-a-uuid"):
        answers = [
            other_client.get(f"/api/video/{target}/info"),
            other_client.get(f"/api/video/{target}/frame/0"),
            other_client.get(f"/api/video/{target}/frame?t=0"),
            other_client.post(f"/api/video/{target}/remove-watermark", json=body),
            other_client.get(f"/api/video/status/{target}"),
        ]
        result, _ = fetch(other_client, f"/api/video/result/{target}")
        for response in [*answers, result]:
            assert assert_error(response, 404) == "Task not found", target
    # the owner's video was not touched
    assert ok(client.get(f"/api/video/status/{video_id}"))["status"] == "uploaded"


def test_openapi_documents_the_video_api(client) -> None:
    documented = client.get("/api/openapi.json").json["paths"]
    for path in (
        "/api/video/upload",
        "/api/video/{video_id}/info",
        "/api/video/{video_id}/frame",
        "/api/video/{video_id}/frame/{index}",
        "/api/video/{video_id}/remove-watermark",
        "/api/video/merge",
        "/api/video/status/{task_id}",
        "/api/video/result/{task_id}",
    ):
        assert path in documented, path
