"""Download tasks through the API: DASH, pages, output options, and a task's cookies file."""

from __future__ import annotations

import stat
from collections.abc import Iterator

import pytest

from tests.support.api import assert_error, fetch
from tests.support.dash import DashMedia, build_dash
from tests.support.decode import decode_all
from tests.support.origin import Origin
from tests.support.waiting import wait_for

COOKIES = ("# Netscape HTTP Cookie File\n"
           "127.0.0.1\tFALSE\t/\tFALSE\t0\tsid\tvery-secret-value\n"
           ".elsewhere.example\tTRUE\t/\tFALSE\t0\tother\tnot-sent\n")  # fmt: skip


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> DashMedia:
    return build_dash(tmp_path_factory.mktemp("api-dash"))


@pytest.fixture
def origin(media: DashMedia) -> Iterator[Origin]:
    with Origin(media.root) as server:
        yield server


def finished(client, task_id: str) -> dict:
    def done() -> dict | None:
        data = client.get(f"/api/tasks/{task_id}/status").json["data"]
        return data if data["status"] in {"completed", "failed", "cancelled"} else None

    return wait_for(done, timeout=60)


def test_dash_task_with_cookies_range_and_container(client, other_client, app, origin):
    body = {"task_type": "download", "url": origin.url("multi/manifest.mpd"),
            "name": "家庭 录像/../x", "cookies": COOKIES,
            "options": {"container": "m4a", "audio_lang": "zh", "start": "0:01", "end": 3}}
    created = client.post("/api/tasks/create", json=body)
    assert created.status_code == 201, created.json
    task_id = created.json["data"]["task_id"]
    assert "very-secret-value" not in created.get_data(as_text=True)
    done = finished(client, task_id)
    assert done["status"] == "completed", done["error_message"]
    assert done["result"]["file_name"] == "家庭_录像_x.m4a"  # the task's name, made safe
    assert [t["type"] for t in done["result"]["tracks"]] == ["audio"]
    assert 1.9 < done["result"]["duration"] < 2.2
    assert all(e.headers.get("Cookie") == "sid=very-secret-value" for e in origin.log)
    assert not any("stream0" in p or "stream1" in p for p in origin.paths())  # no video
    data_dir = app.extensions["mediacraft"].config.data_dir
    (stored,) = list((data_dir / "uploads").rglob("cookies.txt"))
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    everything = [client.get(f"/api/tasks/{task_id}/status"),
                  client.get(f"/api/tasks/{task_id}/log"), client.get("/api/user/tasks")]
    assert all("very-secret-value" not in r.get_data(as_text=True) for r in everything)
    assert all("very-secret-value" not in p.read_text(errors="replace")
               for p in data_dir.rglob("*.log"))  # fmt: skip
    assert other_client.get(f"/api/tasks/{task_id}/status").status_code == 404
    response, payload = fetch(client, f"/api/tasks/{task_id}/download")
    assert response.status_code == 200 and payload[4:8] == b"ftyp"
    assert client.delete(f"/api/tasks/{task_id}").status_code == 200
    assert not stored.exists()


def test_a_page_task_completes_with_what_was_found(client, origin):
    url = origin.add_file("watch.html", b"<!doctype html><html><head><title>Seaside</title>"
                                        b'</head><body><video src="/src/hi.mp4"></video></body>'
                                        b"</html>")  # fmt: skip
    created = client.post("/api/tasks/create", json={"task_type": "download", "url": url})
    done = finished(client, created.json["data"]["task_id"])
    assert done["status"] == "completed", done["error_message"]
    assert done["result"]["page"]["title"].startswith("Seaside")
    response, payload = fetch(client, f"/api/tasks/{done['task_id']}/download")
    assert response.status_code == 200


def test_a_page_without_video_fails_saying_so(client, origin):
    url = origin.add_file("empty.html", b"<!doctype html><html><head><title>x</title></head>"
                                        b"<body>nothing</body></html>")  # fmt: skip
    created = client.post("/api/tasks/create", json={"task_type": "download", "url": url})
    done = finished(client, created.json["data"]["task_id"])
    assert done["status"] == "failed" and "No video found on this page" in done["error_message"]
    assert done["error_reason"] == "no_video"  # the page's hint is chosen by it


@pytest.mark.parametrize(
    ("extra", "fragments"),
    [({"cookies": "sid=1; other=2"}, ("not in Netscape format", "line 1")),
     ({"cookies": 42}, ("cookies must be the text",)),
     ({"options": {"start": 9, "end": 3}}, ("end (3 s) must be after start (9 s)",)),
     ({"options": {"container": "wav"}}, ("container 'wav'",)),
     ({"end": "x"}, ("end 'x' must be seconds or hh:mm:ss",))],
)
def test_bad_cookies_and_ranges_are_400_and_create_nothing(client, app, origin, extra, fragments):
    body = {"task_type": "download", "url": origin.url("timeline/manifest.mpd"), **extra}
    assert_error(client.post("/api/tasks/create", json=body), 400, *fragments)
    assert client.get("/api/user/tasks").json["data"]["tasks"] == []
    uploads = app.extensions["mediacraft"].config.data_dir / "uploads"
    assert not uploads.exists() or not any(uploads.rglob("*"))


def test_the_decoded_result_of_a_precise_range(client, app, origin):
    body = {"task_type": "download", "url": origin.url("list/manifest.mpd"),
            "options": {"start": 1, "end": 2, "precise_cut": True, "container": "mkv"}}
    created = client.post("/api/tasks/create", json=body)
    done = finished(client, created.json["data"]["task_id"])
    assert done["status"] == "completed", done["error_message"]
    assert done["result"]["file_name"].endswith(".mkv")
    data_dir = app.extensions["mediacraft"].config.data_dir
    (result,) = list((data_dir / "results").rglob("*.mkv"))
    assert decode_all(result)["video"] == 25
