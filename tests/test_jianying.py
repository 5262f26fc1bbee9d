"""``jianying_draft`` tasks and the draft server's HTTP shapes, with real downloads and drafts.

Materials are real videos and audio made with the bundled ffmpeg and served
by the loopback origin; the draft is built by pyJianYingDraft and read back
from the zip the task hands out.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from mediacraft.aria2 import daemon_for, find_binary
from mediacraft.media.probe import probe_streams as probe
from tests.support.api import assert_error, fetch, files_under
from tests.support.media import FFMPEG, make_video
from tests.support.origin import Origin
from tests.support.waiting import wait_for

ROOT = r"C:\Users\me\AppData\Local\JianyingPro\User Data\Projects\com.lveditor.draft"
DURATIONS = (1.0, 1.5, 2.0)


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("materials")
    files = {
        f"clip{i}.mp4": make_video(root / f"clip{i}.mp4", seconds=s, size="160x120")
        for i, s in enumerate(DURATIONS, start=1)
    }
    audio = root / "music.m4a"
    subprocess.run([FFMPEG, "-loglevel", "error", "-f", "lavfi", "-i",
                    "sine=frequency=330:duration=3", "-c:a", "aac", str(audio)],
                   check=True, timeout=120)  # fmt: skip
    files["music.m4a"] = audio
    return files


@pytest.fixture
def origin(media: dict[str, Path]) -> Iterator[Origin]:
    with Origin() as server:
        for name, path in media.items():
            server.add_file(name, path.read_bytes())
        yield server


def submission(origin: Origin, **draft: object) -> dict:
    return {
        "ruleGroup": {"id": "g1", "title": "Holiday cut"},
        "materials": {
            "videos": [origin.url(f"clip{i}.mp4") for i in (1, 2, 3)],
            "audios": [{"url": origin.url("music.m4a")}],
        },
        "draft_config": {
            "name": "Holiday cut",
            "canvas_config": {"canvas_width": 1080, "canvas_height": 1920},
            "fps": 60,
            "drafts_root": ROOT,
            **draft,
        },
    }


def seed_task(client, task_id: str) -> dict:
    response = client.get(f"/api/tasks/{task_id}")
    assert response.status_code == 200, response.json
    return response.json["data"]


def finished(client, task_id: str, timeout: float = 120) -> dict:
    return wait_for(
        lambda: (t := seed_task(client, task_id))["status"] in {"completed", "failed", "cancelled"}
        and t,
        timeout=timeout,
    )


def read_zip(client, task_id: str) -> zipfile.ZipFile:
    response, payload = fetch(client, f"/api/tasks/{task_id}/download")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/zip"
    return zipfile.ZipFile(io.BytesIO(payload))


def microseconds(path: Path) -> int:
    return max(1, round(float(probe(path).duration or 0) * 1_000_000))


@pytest.fixture(params=["builtin", "aria2"])
def engine(request, app_config) -> Iterator[str]:
    if request.param == "aria2" and find_binary() is None:
        if os.environ.get("CI"):
            pytest.fail("aria2c is not installed (.ci/run installs it)")
        pytest.skip("aria2c is not installed")
    app_config["download_engine"] = request.param
    yield request.param
    daemon_for(app_config["data_dir"]).stop()


def test_draft_from_three_videos_and_one_audio(engine, client, origin, media) -> None:
    answer = client.post("/api/tasks/submit", json=submission(origin))
    assert answer.status_code == 200, answer.json
    task_id = answer.json["data"]["task_id"]
    done = finished(client, task_id)
    assert done["status"] == "completed", done["error_message"]
    assert done["ruleGroup"] == {"id": "g1", "title": "Holiday cut"}
    assert done["draft_path"] == ROOT + r"\Holiday cut"
    progress = done["progress"]
    assert progress["total_files"] == 4 and progress["completed_files"] == 4
    assert progress["failed_files"] == 0 and progress["progress_percent"] == 100
    assert progress["download_speed"] == 0 and progress["eta_seconds"] == 0
    sizes = sum(p.stat().st_size for p in media.values())
    assert progress["total_size"] == progress["downloaded_size"] == sizes
    assert [f["status"] for f in done["files"]] == ["completed"] * 4
    lines = [e["message"] for e in client.get(f"/api/tasks/{task_id}/log").json["data"]["lines"]]
    used_aria2 = sum("aria2c: downloading" in line for line in lines)
    assert used_aria2 == (4 if engine == "aria2" else 0), lines

    archive = read_zip(client, task_id)
    names = archive.namelist()
    assert "Holiday cut/draft_content.json" in names and "Holiday cut/draft_meta_info.json" in names
    content = json.loads(archive.read("Holiday cut/draft_content.json"))
    assert content["canvas_config"]["width"] == 1080 and content["canvas_config"]["height"] == 1920
    assert content["fps"] == 60
    tracks = {t["type"]: t for t in content["tracks"]}
    assert set(tracks) == {"video", "audio"}
    expected_video = [microseconds(media[f"clip{i}.mp4"]) for i in (1, 2, 3)]
    video_segments = tracks["video"]["segments"]
    assert [s["target_timerange"]["duration"] for s in video_segments] == expected_video
    starts = [s["target_timerange"]["start"] for s in video_segments]
    assert starts == [0, expected_video[0], expected_video[0] + expected_video[1]]  # in order
    audio_segments = tracks["audio"]["segments"]
    assert [s["target_timerange"]["duration"] for s in audio_segments] == [
        microseconds(media["music.m4a"])
    ]
    materials = content["materials"]["videos"] + content["materials"]["audios"]
    prefix = ROOT + "\\Holiday cut\\materials\\"
    assert all(m["path"].startswith(prefix) for m in materials)
    # every material path in the draft is a file in the zip, with the bytes downloaded
    for material in materials:
        inside = "Holiday cut/materials/" + material["path"][len(prefix):]
        assert inside in names
    assert archive.read("Holiday cut/materials/video_02.mp4") == media["clip2.mp4"].read_bytes()
    meta = json.loads(archive.read("Holiday cut/draft_meta_info.json"))
    assert meta["draft_root_path"] == ROOT and meta["draft_name"] == "Holiday cut"


def test_pyjianyingdraft_loads_the_draft_back(client, origin, tmp_path) -> None:
    body = submission(origin, drafts_root="/home/me/JianyingPro/drafts", name="Back")
    task_id = client.post("/api/tasks/submit", json=body).json["data"]["task_id"]
    assert finished(client, task_id)["status"] == "completed"
    read_zip(client, task_id).extractall(tmp_path / "drafts")
    import pyJianYingDraft as jy

    script = jy.DraftFolder(str(tmp_path / "drafts")).load_template("Back")
    assert (script.width, script.height, script.fps) == (1080, 1920, 60)
    videos = script.content["materials"]["videos"]
    assert [Path(v["path"]).parent.as_posix() for v in videos] == [
        "/home/me/JianyingPro/drafts/Back/materials"
    ] * 3


def test_failed_material_fails_the_task_naming_it(client, app, origin) -> None:
    body = submission(origin)
    body["materials"]["videos"][1] = origin.url("missing.mp4")
    task_id = client.post("/api/tasks/submit", json=body).json["data"]["task_id"]
    done = finished(client, task_id)
    assert done["status"] == "failed"
    assert "video 2" in done["error_message"] and "missing.mp4" in done["error_message"]
    assert done["error_reason"] == "http_error"
    assert done["download_url"] is None
    results = app.extensions["mediacraft"].config.data_dir / "results"
    assert files_under(results) == []
    assert client.get(f"/api/tasks/{task_id}/download").status_code == 404


def test_materials_from_the_visitors_own_tasks(client, other_client, origin, media) -> None:
    body = {"task_type": "download", "url": origin.url("clip3.mp4")}
    created = client.post("/api/tasks/create", json=body)
    first = created.json["data"]["task_id"]
    wait_for(lambda: seed_task(client, first)["status"] == "completed", timeout=60)
    body = submission(origin)
    body["materials"]["videos"] = [{"task_id": first}, origin.url("clip1.mp4")]
    task_id = client.post("/api/tasks/submit", json=body).json["data"]["task_id"]
    done = finished(client, task_id)
    assert done["status"] == "completed", done["error_message"]
    content = json.loads(read_zip(client, task_id).read("Holiday cut/draft_content.json"))
    durations = [s["target_timerange"]["duration"] for t in content["tracks"]
                 if t["type"] == "video" for s in t["segments"]]  # fmt: skip
    assert durations == [microseconds(media["clip3.mp4"]), microseconds(media["clip1.mp4"])]
    # another visitor cannot use that task, nor see this one
    stolen = submission(origin)
    stolen["materials"]["videos"] = [{"task_id": first}]
    assert_error(other_client.post("/api/tasks/submit", json=stolen), 400,
                 "materials.videos[0].task_id")  # fmt: skip
    assert_error(other_client.get(f"/api/tasks/{task_id}"), 404, "Task not found")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"materials": {"videos": [], "audios": []}}, "materials.videos"),
        ({"materials": {"videos": ["ftp://example.com/a.mp4"]}}, "materials.videos[0].url"),
        ({"materials": {"videos": ["http://10.0.0.1/a.mp4"]}}, "materials.videos[0].url"),
        ({"materials": {"videos": [{"task_id": "not-a-task"}]}}, "materials.videos[0].task_id"),
        ({"draft_config": {"canvas_width": 0, "drafts_root": "/d"}}, "draft_config.canvas_width"),
        ({"draft_config": {"canvas_height": 100000, "drafts_root": "/d"}},
         "draft_config.canvas_height"),
        ({"draft_config": {"fps": 0, "drafts_root": "/d"}}, "draft_config.fps"),
        ({"draft_config": {"fps": 121, "drafts_root": "/d"}}, "draft_config.fps"),
        ({"draft_config": {"drafts_root": "drafts/here"}}, "draft_config.drafts_root"),
        ({"draft_config": {"drafts_root": "C:relative"}}, "draft_config.drafts_root"),
        ({"draft_config": {"drafts_root": "/a/../etc"}}, "draft_config.drafts_root"),
        ({"draft_config": {}}, "draft_config.drafts_root"),
        ({"ruleGroup": "x"}, "ruleGroup"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(client, app, origin, change, field) -> None:
    body = {**submission(origin), **change}
    assert_error(client.post("/api/tasks/submit", json=body), 400, field)
    assert client.get("/api/tasks").json["data"]["tasks"] == []
    data_dir = app.extensions["mediacraft"].config.data_dir
    assert files_under(data_dir / "tasks") == [] and files_under(data_dir / "results") == []
    assert origin.log == []


def test_create_api_takes_the_same_task(client, origin) -> None:
    seed = submission(origin)
    body = {"task_type": "jianying_draft", "materials": seed["materials"],
            "draft_config": {"canvas_width": 640, "canvas_height": 360, "fps": 25,
                             "drafts_root": "/srv/drafts"}}  # fmt: skip
    created = client.post("/api/tasks/create", json=body)
    assert created.status_code == 201, created.json
    task = created.json["data"]["task"]
    assert task["task_type"] == "jianying_draft" and task["status"] in {"queued", "processing"}
    done = finished(client, task["task_id"])
    assert done["status"] == "completed", done["error_message"]
    assert done["draft_path"] == "/srv/drafts/MediaCraft draft"


def test_listing_and_statuses_in_the_seed_shape(client, other_client, origin) -> None:
    task_id = client.post("/api/tasks/submit", json=submission(origin)).json["data"]["task_id"]
    finished(client, task_id)
    listed = client.get("/api/tasks?status=completed&limit=5").json["data"]
    assert [t["task_id"] for t in listed["tasks"]] == [task_id]
    assert client.get("/api/tasks?status=pending").json["data"]["tasks"] == []
    assert other_client.get("/api/tasks").json["data"]["tasks"] == []
    assert_error(client.get("/api/tasks?status=queued"), 400, "status must be one of")
    assert_error(client.get("/api/tasks?limit=0"), 400, "limit")
    assert_error(client.get("/api/tasks?limit=x"), 400, "limit")
    # MediaCraft's own task routes keep their answers
    assert client.get(f"/api/tasks/{task_id}/status").json["data"]["status"] == "completed"
    assert client.get("/api/tasks/create").status_code == 405
    assert client.get("/api/tasks/not-a-uuid").status_code == 405  # as before: DELETE only


def test_cancel_through_the_existing_route(client, origin) -> None:
    origin.bandwidth = 64 * 1024
    task_id = client.post("/api/tasks/submit", json=submission(origin)).json["data"]["task_id"]
    wait_for(lambda: seed_task(client, task_id)["status"] == "downloading", timeout=30)
    assert client.post(f"/api/tasks/{task_id}/cancel").status_code == 200
    assert finished(client, task_id)["status"] == "cancelled"


def test_materials_together_must_fit_the_visitors_quota(app_config, tmp_path) -> None:
    from mediacraft import create_app

    app_config["user_quota_mb"] = 1
    application = create_app(app_config)
    client = application.test_client()
    try:
        with Origin() as server:
            # each fits the quota alone (0.6 MB), the three together do not
            # (an MP4 box header first, so the bytes pass the direct-file media check)
            head = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"
            urls = [
                server.add_file(f"p{i}.mp4", head + os.urandom(600 * 1024)) for i in range(3)
            ]
            body = {"materials": {"videos": urls}, "draft_config": {"drafts_root": "/d"}}
            task_id = client.post("/api/tasks/submit", json=body).json["data"]["task_id"]
            done = finished(client, task_id)
        assert done["status"] == "failed"
        assert "storage quota" in done["error_message"], done["error_message"]
        assert files_under(app_config["data_dir"] / "results") == []
    finally:
        application.extensions["mediacraft"].queue.shutdown(timeout=5)
        application.extensions["mediacraft"].storage.close()
