"""The task API through Flask's test client: envelope, ownership, transitions, limits."""

from __future__ import annotations

import uuid

import pytest

from mediacraft.model import TaskStatus
from tests.support.waiting import wait_for


def create(client, seconds: float = 0.2, **extra):
    body = {"task_type": "test_sleep", "options": {"seconds": seconds}, **extra}
    return client.post("/api/tasks/create", json=body)


def status(client, task_id: str) -> dict:
    response = client.get(f"/api/tasks/{task_id}/status")
    assert response.status_code == 200, response.json
    return response.json["data"]


def assert_envelope(response, code: int) -> dict:
    body = response.get_json()
    assert response.status_code == code
    assert set(body) == {"success", "code", "message", "data", "meta"}
    assert body["code"] == code and body["success"] is (code < 400)
    assert set(body["meta"]) == {"timestamp", "version", "request_id"}
    assert body["meta"]["request_id"] == response.headers["X-Request-ID"]
    return body


def test_create_runs_to_completion(client) -> None:
    response = create(client, name="my job")
    body = assert_envelope(response, 201)
    task_id = body["data"]["task_id"]
    assert body["data"]["task"]["status"] in {"queued", "processing"}
    done = wait_for(lambda: (s := status(client, task_id))["status"] == "completed" and s)
    assert done["progress"] == 100 and done["result"]["file_name"] == "result.txt"
    assert "output_file_path" not in done and "worker" not in done  # no server internals
    download = client.get(f"/api/tasks/{task_id}/download")
    payload = download.get_data()
    download.close()
    assert download.status_code == 200
    assert payload.startswith(b"done ")
    disposition = download.headers["Content-Disposition"]
    assert disposition.startswith("attachment") and "my job" in disposition
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert "private" in download.headers["Cache-Control"]
    ranged = client.get(f"/api/tasks/{task_id}/download", headers={"Range": "bytes=0-3"})
    partial = ranged.get_data()
    ranged.close()
    assert ranged.status_code == 206 and partial == b"done"


def test_failure_message_is_kept(client) -> None:
    task_id = create(client, seconds=0.05, options={"seconds": 0.05, "fail": "disk on fire"})
    task_id = task_id.json["data"]["task_id"]
    failed = wait_for(lambda: (s := status(client, task_id))["status"] == "failed" and s)
    assert failed["error_message"] == "disk on fire"
    assert failed["error_reason"] == "media_failed"  # the MediaError's reason, kept on the task
    assert client.get(f"/api/tasks/{task_id}/download").status_code == 404


def test_other_visitor_gets_404_like_missing(client, other_client) -> None:
    task_id = create(client).json["data"]["task_id"]
    missing = other_client.get(f"/api/tasks/{uuid.uuid4()}/status")
    foreign = other_client.get(f"/api/tasks/{task_id}/status")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json["message"] == missing.json["message"]
    for action in ("cancel", "retry", "delete"):
        assert other_client.post(f"/api/tasks/{task_id}/{action}").status_code == 404
    assert other_client.get(f"/api/tasks/{task_id}/download").status_code == 404
    listing = other_client.get("/api/user/tasks").json["data"]
    assert listing["tasks"] == [] and listing["pagination"]["total"] == 0


@pytest.mark.parametrize("bad_id", ["abc", "../../users/x", "1" * 36, "%2e%2e%2fsecret_key"])
def test_malformed_ids_are_404_before_touching_files(client, app, bad_id, monkeypatch) -> None:
    storage = app.extensions["mediacraft"].storage
    touched = []
    monkeypatch.setattr(storage, "get_task", lambda tid: touched.append(tid))
    response = client.get(f"/api/tasks/{bad_id}/status")
    assert_envelope(response, 404)
    assert touched == []


def test_cancel_then_retry_then_delete(client) -> None:
    task_id = create(client, seconds=5).json["data"]["task_id"]
    wait_for(lambda: status(client, task_id)["status"] == "processing")
    cancelled = client.post(f"/api/tasks/{task_id}/cancel")
    assert assert_envelope(cancelled, 200)["data"]["status"] == "cancelled"
    assert status(client, task_id)["status"] == "cancelled"
    again = client.post(f"/api/tasks/{task_id}/cancel")
    assert assert_envelope(again, 409)["message"] == "A cancelled task cannot become cancelled"
    retried = assert_envelope(client.post(f"/api/tasks/{task_id}/retry"), 200)
    assert retried["data"]["status"] == "queued" and retried["data"]["attempts"] == 0
    wait_for(lambda: status(client, task_id)["status"] == "processing")
    refused = client.delete(f"/api/tasks/{task_id}")
    assert "cancel it" in assert_envelope(refused, 409)["message"]
    client.post(f"/api/tasks/{task_id}/cancel")
    assert_envelope(client.delete(f"/api/tasks/{task_id}"), 200)
    assert client.get(f"/api/tasks/{task_id}/status").status_code == 404


def test_illegal_transition_is_409(client) -> None:
    task_id = create(client, seconds=0.05).json["data"]["task_id"]
    wait_for(lambda: status(client, task_id)["status"] == "completed")
    for action in ("cancel", "retry"):
        assert_envelope(client.post(f"/api/tasks/{task_id}/{action}"), 409)
    body = assert_envelope(client.post(f"/api/tasks/{task_id}/config", json={}), 409)
    assert "completed" in body["message"]


def test_queue_position_and_per_user_limit(client, app) -> None:
    ids = [create(client, seconds=2).json["data"]["task_id"] for _ in range(3)]
    wait_for(lambda: status(client, ids[0])["status"] == "processing")
    assert status(client, ids[1])["queue_position"] == 1
    assert status(client, ids[2])["queue_position"] == 2
    assert status(client, ids[1])["status"] == "queued"  # MAX_TASKS_PER_USER = 1
    for task_id in ids:
        client.post(f"/api/tasks/{task_id}/cancel")


@pytest.fixture
def tight_limits(app_config: dict) -> dict:
    app_config.update(max_queued_per_user=2, max_queued_total=3, run_queue=False)
    return app_config


def test_waiting_bounds_answer_429_and_503(tight_limits, client, other_client, app) -> None:
    assert create(client).status_code == 201
    assert create(client).status_code == 201
    full = create(client)
    body = assert_envelope(full, 429)
    assert body["message"] == "Please wait for your current tasks to finish"
    assert create(other_client).status_code == 201
    busy = create(other_client)
    assert assert_envelope(busy, 503)["message"] == "The system is busy, please try again later"
    listing = client.get("/api/user/tasks").json["data"]
    assert listing["pagination"]["total"] == 2  # the refused ones left nothing behind


@pytest.fixture
def idle_queue(app_config: dict) -> dict:
    app_config.update(run_queue=False)
    return app_config


def test_listing_filters_search_sort_pagination(idle_queue, client) -> None:
    for name in ("Sunset", "sunrise", "Noon"):
        client.post("/api/tasks/create", json={"task_type": "test_sleep", "name": name})
    data = client.get("/api/user/tasks?search=sun&sort=name").json["data"]
    assert [t["name"] for t in data["tasks"]] == ["Sunset", "sunrise"]
    page = client.get("/api/user/tasks?per_page=1&page=2&sort=-name").json["data"]
    assert [t["name"] for t in page["tasks"]] == ["Sunset"]
    assert page["pagination"] == {"page": 2, "per_page": 1, "total": 3, "pages": 3}
    client.post(f"/api/tasks/{page['tasks'][0]['task_id']}/cancel")
    queued = client.get("/api/user/tasks?status=queued").json["data"]
    assert sorted(t["name"] for t in queued["tasks"]) == ["Noon", "sunrise"]
    assert_envelope(client.get("/api/user/tasks?status=bogus"), 400)
    assert_envelope(client.get("/api/user/tasks?sort=password"), 400)
    assert_envelope(client.get("/api/user/tasks?per_page=1000"), 400)


@pytest.mark.parametrize(
    "body, message",
    [
        ({}, "task_type is required"),
        ({"task_type": "nope"}, "Unknown task_type 'nope'"),
        ({"task_type": "test_sleep", "priority": "high"}, "priority must be an integer"),
        ({"task_type": "test_sleep", "priority": 1000}, "priority must be between"),
        ({"task_type": "test_sleep", "batch_id": "x"}, "batch_id must be a UUID"),
    ],
)
def test_bad_create_bodies_are_400(client, body, message) -> None:
    response = client.post("/api/tasks/create", json=body)
    assert message in assert_envelope(response, 400)["message"]
    assert client.get("/api/user/tasks").json["data"]["pagination"]["total"] == 0


def test_envelope_on_http_errors(client, app) -> None:
    def reason(response, code: int) -> str:
        return assert_envelope(response, code)["data"]["reason"]

    assert reason(client.get("/api/nowhere"), 404) == "not_found"
    assert reason(client.put("/api/tasks/create"), 405) == "method_not_allowed"
    text = client.post("/api/tasks/create", data="x", content_type="text/plain")
    assert reason(text, 415) == "unsupported_media_type"
    broken = client.post("/api/tasks/create", data="{", content_type="application/json")
    assert reason(broken, 400) == "invalid"
    big = b"x" * (app.config["MAX_CONTENT_LENGTH"] + 10)
    huge = client.post("/api/tasks/create", data=big, content_type="application/json")
    assert reason(huge, 413) == "too_large"


@pytest.mark.parametrize(
    "body, reason",
    [
        ({"task_type": "download"}, "url_required"),
        ({"task_type": "download", "url": "ftp://example.org/x.m3u8"}, "bad_url"),
        ({"task_type": "download", "url": "http://169.254.169.254/latest"}, "blocked_address"),
        ({"task_type": "download", "url": "http://10.0.0.1/v.m3u8"}, "blocked_address"),
    ],
)
def test_a_refusal_carries_its_reason(client, body, reason) -> None:
    response = client.post("/api/tasks/create", json=body)
    assert assert_envelope(response, 400)["data"]["reason"] == reason
    assert client.get("/api/user/tasks").json["data"]["pagination"]["total"] == 0


def test_every_error_class_has_a_known_reason() -> None:
    from mediacraft import exceptions

    classes = [exceptions.MediaCraftError]
    while classes:
        cls = classes.pop()
        assert cls.reason in exceptions.REASONS, cls
        classes.extend(cls.__subclasses__())
    with pytest.raises(ValueError, match="unknown error reason"):
        exceptions.MediaCraftError("x", reason="made_up")
    assert exceptions.DownloadError("x", reason="drm").reason == "drm"


def test_unexpected_error_is_a_500_envelope_without_details(client, app, monkeypatch) -> None:
    def boom(task_id: str) -> None:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(app.extensions["mediacraft"].storage, "get_task", boom)
    response = client.get(f"/api/tasks/{uuid.uuid4()}/status")
    body = assert_envelope(response, 500)
    assert "secret detail" not in response.get_data(as_text=True)
    assert body["message"] == "Internal server error"


def test_cross_origin_post_is_refused(client) -> None:
    body = {"task_type": "test_sleep"}
    evil = client.post("/api/tasks/create", json=body, headers={"Origin": "http://evil.example"})
    assert_envelope(evil, 403)
    site = client.post("/api/tasks/create", json=body, headers={"Sec-Fetch-Site": "cross-site"})
    assert_envelope(site, 403)
    same = client.post("/api/tasks/create", json=body, headers={"Origin": "http://localhost"})
    assert same.status_code == 201


def test_user_info_counts_tasks(client) -> None:
    task_id = create(client, seconds=0.05).json["data"]["task_id"]
    wait_for(lambda: status(client, task_id)["status"] == "completed")
    info = assert_envelope(client.get("/api/user/info"), 200)["data"]
    assert info["task_stats"]["total"] == 1 and info["task_stats"]["completed"] == 1
    assert info["user_id"] and info["limits"]["max_tasks_per_user"] == 1


def test_healthz(client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json["status"] == "ok" and response.json["checks"]["queue"] == "running"


def test_status_values_are_lowercase_strings() -> None:
    assert TaskStatus("queued") is TaskStatus.QUEUED and TaskStatus.QUEUED == "queued"
