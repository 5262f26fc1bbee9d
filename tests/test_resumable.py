"""Resumable uploads: chunks at byte offsets, continued after a cut, refused when out of place."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import requests

from tests.support.api import assert_error, files_under
from tests.support.media import make_video
from tests.support.server import AppServer
from tests.support.waiting import wait_for

CHUNK = "application/offset+octet-stream"


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> bytes:
    return make_video(tmp_path_factory.mktemp("resumable") / "v.mp4", seconds=2.0).read_bytes()


def new_task(client, task_type: str = "watermark_removal") -> str:
    return client.post("/api/tasks/create", json={"task_type": task_type}).json["data"]["task_id"]


def open_upload(client, task_id: str, size: int, filename: str = "clip.mp4") -> dict:
    response = client.post(
        f"/api/tasks/{task_id}/uploads", json={"size": size, "filename": filename}
    )
    assert response.status_code == 201, response.json
    return response.json["data"]


def patch(client, url: str, offset: int, body: bytes, **headers):
    return client.patch(
        url,
        data=body,
        headers={"Upload-Offset": str(offset), "Content-Type": CHUNK, **headers},
    )


def test_chunks_build_the_upload_and_the_last_one_records_it(client, app, video) -> None:
    task_id = new_task(client)
    upload = open_upload(client, task_id, len(video), "假期.mp4")
    assert upload["offset"] == 0 and upload["size"] == len(video)
    url = upload["url"]
    third = len(video) // 3
    first = patch(client, url, 0, video[:third])
    assert first.status_code == 200 and first.json["data"]["offset"] == third
    assert first.headers["Upload-Offset"] == str(third)
    assert "task" not in first.json["data"]
    state = client.get(url)
    assert state.json["data"]["offset"] == third and state.headers["Upload-Offset"] == str(third)
    assert client.get(f"/api/tasks/{task_id}/status").json["data"]["status"] == "created"

    second = patch(client, url, third, video[third : 2 * third])
    assert second.json["data"]["offset"] == 2 * third
    last = patch(client, url, 2 * third, video[2 * third :])
    assert last.status_code == 200, last.json
    data = last.json["data"]
    assert data["complete"] is True and data["offset"] == len(video)
    assert data["task"]["status"] == "uploaded"
    assert data["task"]["original_filename"] == "假期.mp4"
    assert data["task"]["inputs"][0]["size"] == len(video)
    assert data["task"]["inputs"][0]["media"]["width"] == 320
    upload_dir = app.config["MEDIACRAFT"].data_dir / "uploads"
    stored = [p for p in files_under(upload_dir)]
    assert [p.name for p in stored] == ["input-01.mp4"] and stored[0].read_bytes() == video
    assert_error(client.get(url), 404, "No such upload")  # finished: no longer open
    frame = client.get(f"/api/tasks/{task_id}/frame?index=0")
    assert frame.status_code == 200 and frame.mimetype == "image/jpeg"


def test_out_of_place_chunks_are_refused_and_change_nothing(
    client, other_client, app, video
) -> None:
    task_id = new_task(client)
    upload = open_upload(client, task_id, len(video))
    url = upload["url"]
    assert patch(client, url, 0, video[:1000]).status_code == 200

    assert_error(patch(client, url, 500, video[500:1500]), 409, "upload is at byte 1000")
    assert_error(patch(client, url, 2000, video[2000:3000]), 409, "upload is at byte 1000")
    too_far = patch(client, url, 1000, video[1000:] + b"extra bytes")
    assert_error(too_far, 400, "past the declared size")
    assert_error(patch(client, url, "", b"x"), 400, "Upload-Offset")
    assert_error(patch(client, url, "-1", b"x"), 400, "whole number")
    wrong_type = client.patch(url, data=b"x", headers={"Upload-Offset": "1000"})
    assert_error(wrong_type, 415, CHUNK)
    assert_error(patch(other_client, url, 1000, b"x"), 404)  # another visitor
    assert_error(patch(client, url.replace(upload["upload_id"], "0" * 32), 1000, b"x"), 404)
    assert_error(patch(client, url.replace(upload["upload_id"], "../../etc"), 1000, b"x"), 404)
    assert client.get(url).json["data"]["offset"] == 1000  # every refusal left it as it was

    cancelled = client.delete(url)
    assert cancelled.status_code == 200 and cancelled.json["data"]["cancelled"] is True
    assert_error(client.get(url), 404)
    assert_error(patch(client, url, 1000, b"late chunk"), 404)  # a late chunk makes nothing
    data_dir = app.config["MEDIACRAFT"].data_dir
    assert [p for p in files_under(data_dir) if "resumable" in p.name] == []
    assert client.get(f"/api/tasks/{task_id}/status").json["data"]["status"] == "created"


@pytest.fixture
def small_quota(app_config: dict) -> None:
    app_config.update(user_quota_mb=4, max_upload_mb=8)


def test_opening_an_upload_checks_size_quota_and_task(small_quota, client, app, video) -> None:
    config = app.config["MEDIACRAFT"]
    task_id = new_task(client)
    url = f"/api/tasks/{task_id}/uploads"
    assert_error(client.post(url, json={"size": 0}), 400, "positive integer")
    assert_error(client.post(url, json={"size": "10"}), 400, "positive integer")
    assert_error(client.post(url, json={"size": 10, "filename": 5}), 400, "filename")
    assert_error(client.post(url, json={"size": config.max_upload_bytes + 1}), 413, "limit")
    assert_error(client.post(url, json={"size": 5 * 2**20}), 413, "quota")
    download = client.post(
        "/api/tasks/create", json={"task_type": "download", "url": "http://127.0.0.1:9/x.mp4"}
    ).json["data"]["task_id"]
    assert_error(client.post(f"/api/tasks/{download}/uploads", json={"size": 10}), 409, "no upload")
    open_upload(client, task_id, len(video))
    assert_error(client.post(url, json={"size": 10}), 409, "already open")  # one video only
    assert not [p for p in files_under(config.data_dir / "uploads") if "resumable" not in p.name]


def test_a_file_that_is_not_a_video_is_refused_at_the_end(client, app) -> None:
    task_id = new_task(client)
    junk = b"not a video " * 100
    upload = open_upload(client, task_id, len(junk))
    assert_error(patch(client, upload["url"], 0, junk), 400, "clip.mp4")
    assert files_under(app.config["MEDIACRAFT"].data_dir / "uploads") == []
    assert_error(client.get(upload["url"]), 404)
    assert client.get(f"/api/tasks/{task_id}/status").json["data"]["status"] == "created"


def test_merge_takes_several_resumable_clips(client, video) -> None:
    task_id = new_task(client, "video_merge")
    for n in (1, 2):
        upload = open_upload(client, task_id, len(video), f"clip{n}.mp4")
        done = patch(client, upload["url"], 0, video)
        assert done.json["data"]["complete"] is True
    task = client.get(f"/api/tasks/{task_id}/status").json["data"]
    assert [i["original_filename"] for i in task["inputs"]] == ["clip1.mp4", "clip2.mp4"]


def _cut_patch(base: str, path: str, cookie: str, offset: int, body: bytes, sent: int) -> None:
    """A PATCH that announces ``len(body)`` bytes and the connection drops after ``sent``."""
    host, port = base.removeprefix("http://").split(":")
    head = (
        f"PATCH {path} HTTP/1.1\r\nHost: {host}:{port}\r\nCookie: {cookie}\r\n"
        f"Content-Type: {CHUNK}\r\nUpload-Offset: {offset}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        try:
            sock.sendall(head + body[:sent])
        except BrokenPipeError:
            raise AssertionError(sock.recv(65536).decode(errors="replace")) from None


def test_an_upload_cut_midway_continues_from_where_it_stopped(tmp_path: Path) -> None:
    video = make_video(tmp_path / "big.mp4", seconds=6.0, size="1280x720", extra=["-qp", "10"])
    data = video.read_bytes()
    assert len(data) > 4 * 2**20
    with AppServer(tmp_path / "data", workers=1) as server:
        session = requests.Session()
        task_id = session.post(
            server.url + "/api/tasks/create", json={"task_type": "watermark_removal"}
        ).json()["data"]["task_id"]
        upload = session.post(
            f"{server.url}/api/tasks/{task_id}/uploads", json={"size": len(data)}
        ).json()["data"]
        cookie = "mc_uid=" + session.cookies["mc_uid"]
        cut_at = int(len(data) * 0.8)
        _cut_patch(server.url, upload["url"], cookie, 0, data, cut_at)

        def settled() -> int | None:
            state = session.get(server.url + upload["url"]).json()["data"]
            return None if state["receiving"] or not state["offset"] else state["offset"]

        # the server keeps what arrived before the cut and says how far that is
        reached = wait_for(settled, timeout=30)
        assert 0 < reached <= cut_at
        rest = session.patch(
            server.url + upload["url"],
            data=data[reached:],
            headers={"Upload-Offset": str(reached), "Content-Type": CHUNK},
        )
        assert rest.status_code == 200, rest.text
        assert rest.json()["data"]["task"]["status"] == "uploaded"
        stored = tmp_path / "data" / "uploads"
        files = files_under(stored)
        assert [p.name for p in files] == ["input-01.mp4"] and files[0].read_bytes() == data
