"""The ``download`` task type through the HTTP API, on the loopback origin.

Covers the task API (create → progress → result with Range), the older download API's
``/api/download/*`` shapes, failures with actionable messages, cancel, and
SSRF refusals seen from the API.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mediacraft.media import probe
from tests.support.origin import HlsMedia, Origin, build_hls
from tests.support.waiting import wait_for


@pytest.fixture(scope="module")
def hls(tmp_path_factory) -> HlsMedia:
    return build_hls(tmp_path_factory.mktemp("hls"), seconds=4.0)


@pytest.fixture
def origin(hls: HlsMedia) -> Iterator[Origin]:
    with Origin(hls.root) as server:
        yield server


def status(client, task_id: str) -> dict:
    return client.get(f"/api/tasks/{task_id}/status").json["data"]


def finished(client, task_id: str, timeout: float = 60) -> dict:
    return wait_for(
        lambda: (
            (s := status(client, task_id))["status"] in {"completed", "failed", "cancelled"} and s
        ),
        timeout=timeout,
    )


def test_download_task_end_to_end(client, app, origin, hls) -> None:
    body = {"task_type": "download", "url": origin.url("master.m3u8"), "name": "Holiday 🎥"}
    created = client.post("/api/tasks/create", json=body)
    assert created.status_code == 201
    task_id = created.json["data"]["task_id"]
    assert created.json["data"]["task"]["status"] in {"queued", "processing"}
    done = finished(client, task_id)
    assert done["status"] == "completed", done["error_message"]
    assert done["progress"] == 100
    assert done["result"]["height"] == 240  # "best" variant of the master playlist
    assert abs(done["result"]["duration"] - hls.playlist_duration("hi/index.m3u8")) < 0.3
    response = client.get(f"/api/tasks/{task_id}/download")
    data = response.get_data()
    response.close()
    assert response.status_code == 200 and data[4:8] == b"ftyp"
    assert "Holiday" in response.headers["Content-Disposition"]
    assert len(data) == done["result"]["size"]
    ranged = client.get(f"/api/tasks/{task_id}/download", headers={"Range": "bytes=100-199"})
    part = ranged.get_data()
    ranged.close()
    assert ranged.status_code == 206 and part == data[100:200]
    path = app.extensions["mediacraft"].config.data_dir / "results"
    mp4 = next(path.rglob("*.mp4"))
    assert probe(mp4).width == 320


def test_progress_detail_is_stored_while_running(client, origin) -> None:
    origin.latency = 0.15
    task_id = client.post(
        "/api/tasks/create",
        json={
            "task_type": "download",
            "url": origin.url("hi/index.m3u8"),
            "options": {"threads": 2},
        },
    ).json["data"]["task_id"]
    running = wait_for(
        lambda: (s := status(client, task_id))["progress_detail"].get("segments_total") and s,
        timeout=30,
    )
    detail = running["progress_detail"]
    assert detail["segments_total"] == 4 and detail["segments_done"] <= 4
    assert running["stage"]
    assert finished(client, task_id)["status"] == "completed"


def test_seed_000_download_api_shapes(client, origin) -> None:
    created = client.post(
        "/api/download/create",
        json={"url": origin.url("master.m3u8"), "name": "video_name", "quality": "worst"},
    )
    assert created.status_code == 201
    body = created.json
    assert set(body) == {"task_id", "status", "created_at"} and body["status"] == "pending"
    task_id = body["task_id"]
    wait_for(
        lambda: client.get(f"/api/download/status/{task_id}").json["status"] == "completed",
        timeout=60,
    )
    shown = client.get(f"/api/download/status/{task_id}").json
    for key in (
        "task_id",
        "status",
        "progress",
        "downloaded_segments",
        "total_segments",
        "current_file",
        "speed",
        "eta",
        "message",
    ):
        assert key in shown
    assert shown["progress"] == 100 and shown["total_segments"] == shown["downloaded_segments"]
    assert status(client, task_id)["result"]["height"] == 120  # quality "worst"
    listing = client.get("/api/download/list").json
    assert [t["task_id"] for t in listing["tasks"]] == [task_id]
    retried = client.post(f"/api/download/retry/{task_id}")
    assert retried.status_code == 409  # completed downloads are not retried
    bad = client.post("/api/download/create", json={"url": "ftp://x/y"})
    assert bad.status_code == 400 and "http" in bad.json["message"]


def test_segment_that_always_fails_names_segment_and_status(client, origin) -> None:
    origin.add_fault("hi/seg_002.ts", "status", status=401)
    task_id = client.post(
        "/api/tasks/create",
        json={"task_type": "download", "url": origin.url("hi/index.m3u8")},
    ).json["data"]["task_id"]
    failed = finished(client, task_id)
    assert failed["status"] == "failed"
    message = failed["error_message"]
    assert message == "Segment 3 returned HTTP 401 after 1 attempt"  # seg_002 is the 3rd
    assert failed["error_reason"] == "http_error"  # the pages' hint follows this, not the text
    assert client.get(f"/api/tasks/{task_id}/download").status_code == 404


def test_cancel_running_download_stops_and_cleans(client, app, origin) -> None:
    origin.latency = 0.4
    task_id = client.post(
        "/api/tasks/create",
        json={
            "task_type": "download",
            "url": origin.url("hi/index.m3u8"),
            "options": {"threads": 1},
        },
    ).json["data"]["task_id"]
    wait_for(lambda: status(client, task_id)["status"] == "processing", timeout=30)
    wait_for(lambda: len(origin.paths(suffix=".ts")) >= 1, timeout=30)
    assert client.post(f"/api/tasks/{task_id}/cancel").json["data"]["status"] == "cancelled"
    data_dir: Path = app.extensions["mediacraft"].config.data_dir
    wait_for(lambda: not (data_dir / "work" / task_id).exists(), timeout=5, what="work dir removed")
    requested = len(origin.paths(suffix=".ts"))
    import time

    time.sleep(1.5)
    assert len(origin.paths(suffix=".ts")) <= requested + 1  # stopped fetching
    assert status(client, task_id)["status"] == "cancelled"


@pytest.fixture
def guarded(app_config: dict) -> dict:
    app_config["allowed_networks"] = ()  # the guard as deployed: loopback refused
    return app_config


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/x.m3u8",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:10.0.0.1]/v.m3u8",
        "http://2130706433/v.mp4",
        "http://localhost/v.mp4",
        "http://0x7f.1/v.mp4",
    ],
)
def test_private_address_literals_are_refused_at_creation(guarded, client, url) -> None:
    response = client.post("/api/tasks/create", json={"task_type": "download", "url": url})
    assert response.status_code == 400
    assert "addresses are not allowed" in response.json["message"]
    assert client.get("/api/user/tasks").json["data"]["pagination"]["total"] == 0


@pytest.fixture
def allow_localhost_name(app_config: dict) -> dict:
    app_config["allowed_networks"] = ("localhost",)  # the name, not the loopback network
    return app_config


def test_redirect_to_loopback_is_refused_when_connecting(
    allow_localhost_name, client, origin
) -> None:
    origin.redirect("/go", origin.url("master.m3u8"))  # to 127.0.0.1, not allowed
    url = origin.url("/go").replace("127.0.0.1", "localhost")
    task_id = client.post("/api/tasks/create", json={"task_type": "download", "url": url}).json[
        "data"
    ]["task_id"]
    failed = finished(client, task_id)
    assert failed["status"] == "failed"
    assert "127.0.0.1" in failed["error_message"] and "not allowed" in failed["error_message"]
    assert failed["error_reason"] == "blocked_address"
    assert origin.paths() == ["/go"]  # the redirect target was never requested


def test_split_discontinuities_serves_every_part(client, origin) -> None:
    body = {"task_type": "download", "url": origin.url("disc/index.m3u8"), "name": "Two parts",
            "options": {"split_discontinuities": True}}  # fmt: skip
    task_id = client.post("/api/tasks/create", json=body).json["data"]["task_id"]
    done = finished(client, task_id)
    assert done["status"] == "completed", done["error_message"]
    assert done["result"]["files"] == ["Two_parts.part2.mp4"]
    part = client.get(f"/api/tasks/{task_id}/download?file=Two_parts.part2.mp4")
    data = part.get_data()
    part.close()
    assert part.status_code == 200 and data[4:8] == b"ftyp"
    assert part.headers["Content-Type"] == "video/mp4"
    assert "Two%20parts.part2.mp4" in part.headers["Content-Disposition"]
    for bad in ("../disc.mp4", "disc.mp4", "x"):
        answer = client.get(f"/api/tasks/{task_id}/download?file={bad}")
        answer.close()
        assert answer.status_code == 404
