"""Live recordings and the task log through the HTTP API."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.api import assert_error
from tests.support.origin import Origin
from tests.support.streams import LiveFeed, build_live_source
from tests.support.waiting import wait_for


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_live_source(tmp_path_factory.mktemp("live"), seconds=30, segment=0.5)


@pytest.fixture
def origin(source: Path):
    with Origin(source.parent.parent) as server:
        LiveFeed.from_vod(server, source, "live/live.m3u8", window=4, initial=6)
        yield server


def status(client, task_id: str) -> dict:
    return client.get(f"/api/tasks/{task_id}/status").json["data"]


def create(client, url: str, **options: object) -> str:
    body = {"task_type": "download", "url": url, "options": {"retry_delay": 0.01, **options}}
    response = client.post("/api/tasks/create", json=body)
    assert response.status_code == 201, response.json
    return response.json["data"]["task_id"]


def ended(client, task_id: str) -> dict:
    return wait_for(
        lambda: (s := status(client, task_id))["status"] in {"completed", "failed", "cancelled"}
        and s,
        timeout=60,
    )


def test_live_link_without_record_seconds_fails_never_a_completed_clip(client, origin):
    task_id = create(client, origin.url("live/live.m3u8"))
    done = ended(client, task_id)
    assert done["status"] == "failed"
    assert "live stream" in done["error_message"] and "record_seconds" in done["error_message"]
    log = client.get(f"/api/tasks/{task_id}/log").json["data"]
    assert any("record_seconds" in line["message"] for line in log["lines"])


def test_record_seconds_above_the_server_maximum_is_a_400(client, origin, app):
    maximum = app.extensions["mediacraft"].config.max_record_seconds
    body = {"task_type": "download", "url": origin.url("live/live.m3u8"),
            "options": {"record_seconds": maximum + 1}}  # fmt: skip
    response = client.post("/api/tasks/create", json=body)
    assert_error(response, 400, "record_seconds", f"to {maximum}")


def test_stop_finishes_the_recording_with_what_it_has(client, origin):
    task_id = create(client, origin.url("live/live.m3u8"), record_seconds=600, threads=2)
    live = wait_for(
        lambda: (s := status(client, task_id))["progress_detail"].get("live")
        and (s["progress_detail"].get("recorded_seconds") or 0) >= 1.0
        and s,
        timeout=30,
        what="the recording to be under way",
    )
    assert live["status"] == "processing" and live["stage"] == "recording"
    stopped = client.post(f"/api/tasks/{task_id}/stop")
    assert stopped.status_code == 200, stopped.json
    done = ended(client, task_id)
    assert done["status"] == "completed", done["error_message"]
    assert done["result"]["live"]["ended_by"] == "stopped at your request"
    assert 1.0 <= done["result"]["duration"] < 10
    assert [t["type"] for t in done["result"]["tracks"]] == ["video", "audio"]
    response = client.get(f"/api/tasks/{task_id}/download")
    response.close()
    assert response.status_code == 200
    assert_error(client.post(f"/api/tasks/{task_id}/stop"), 409, "completed")


def test_stop_is_refused_for_a_download_that_is_not_live(client, origin):
    origin.bandwidth = 100_000  # a direct file that takes a while
    task_id = create(client, origin.url("live_src.mp4"))
    wait_for(lambda: status(client, task_id)["progress_detail"].get("bytes_done"), timeout=30)
    assert_error(client.post(f"/api/tasks/{task_id}/stop"), 409, "not a live recording")
    assert client.post(f"/api/tasks/{task_id}/cancel").status_code == 200


def test_task_log_tells_what_happened_without_secrets(client, origin, other_client):
    url = origin.url("live/live.m3u8") + "?token=SECRET123"
    body = {"task_type": "download", "url": url,
            "options": {"record_seconds": 1, "headers": {"Cookie": "session=SECRET456"}}}
    task_id = client.post("/api/tasks/create", json=body).json["data"]["task_id"]
    done = ended(client, task_id)
    assert done["status"] == "completed", done["error_message"]
    answer = client.get(f"/api/tasks/{task_id}/log")
    assert answer.status_code == 200
    lines = [line["message"] for line in answer.json["data"]["lines"]]
    assert any(line.startswith("Attempt 1: downloading") for line in lines)
    assert any("Live stream: recording 1 s" in line for line in lines)
    assert any(line.startswith("Completed:") for line in lines)
    text = answer.get_data(as_text=True)
    assert "SECRET123" not in text and "SECRET456" not in text
    assert other_client.get(f"/api/tasks/{task_id}/log").status_code == 404


def test_recording_survives_a_kill_9_of_the_server_and_reports_the_gap(source, tmp_path):
    """The app is killed mid-recording; after a restart the task records on from the live
    edge, and its result says where the lost part is."""
    import requests

    from tests.support.server import AppServer

    with Origin(source.parent.parent) as origin:
        live = LiveFeed.from_vod(origin, source, "live/live.m3u8", window=3, initial=6)
        server = AppServer(tmp_path / "data", workers=1)
        session = requests.Session()
        try:
            server.start()
            body = {"task_type": "download", "url": origin.url("live/live.m3u8"),
                    "options": {"record_seconds": 4, "threads": 2}}  # fmt: skip
            task_id = session.post(server.url + "/api/tasks/create", json=body).json()["data"][
                "task_id"
            ]

            def current() -> dict:
                return session.get(f"{server.url}/api/tasks/{task_id}/status").json()["data"]

            wait_for(
                lambda: (current()["progress_detail"].get("recorded_seconds") or 0) >= 1.0,
                timeout=30, what="a second recorded",
            )  # fmt: skip
            server.kill()
            killed_at = live.published()
            wait_for(lambda: live.published() >= killed_at + 5, timeout=20, what="the window")
            server.start()
            done = wait_for(
                lambda: (s := current())["status"] in {"completed", "failed"} and s, timeout=60
            )
            assert done["status"] == "completed", done["error_message"]
            assert done["attempts"] == 2
            gaps = done["result"]["gaps"]
            assert [g["cause"] for g in gaps] == ["while the server was restarting"]
            assert gaps[0]["segments"] >= 1 and gaps[0]["at"] >= 1.0
            assert done["result"]["live"]["recorded_seconds"] >= 4.0
        finally:
            session.close()
            server.stop()
