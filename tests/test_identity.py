"""Visitor identity: signed cookie, tamper resistance, throttled last_accessed, key persistence."""

from __future__ import annotations

import os
import stat

from mediacraft import create_app
from mediacraft.web.identity import COOKIE_NAME


def cookie_of(client) -> str | None:
    cookie = client.get_cookie(COOKIE_NAME)
    return cookie.value if cookie else None


def test_first_request_sets_signed_cookie_and_first_task_creates_user(client, app) -> None:
    response = client.get("/api/user/info")
    header = response.headers["Set-Cookie"]
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Secure" not in header
    user_id = response.json["data"]["user_id"]
    value = cookie_of(client)
    assert value.startswith(user_id + ".") and len(value) > len(user_id) + 10
    storage = app.extensions["mediacraft"].storage
    assert storage.get_user(user_id) is None  # a visit writes nothing
    again = client.get("/api/user/info")
    assert again.json["data"]["user_id"] == user_id
    assert "Set-Cookie" not in again.headers  # not re-issued on every request
    client.post("/api/tasks/create", json={"task_type": "test_sleep", "options": {"seconds": 0}})
    assert storage.get_user(user_id) is not None  # the first task makes the record


def test_tampered_or_unsigned_cookie_gets_fresh_identity(client, other_client) -> None:
    victim = other_client.get("/api/user/info").json["data"]["user_id"]
    victim_cookie = cookie_of(other_client)
    for forged in (victim, victim + ".forged", victim_cookie[:-2] + "xx", "garbage", ""):
        client.set_cookie(COOKIE_NAME, forged)
        seen = client.get("/api/user/info").json["data"]["user_id"]
        assert seen != victim
        client.delete_cookie(COOKIE_NAME)
    client.set_cookie(COOKIE_NAME, victim_cookie)  # the genuine cookie is the same identity
    assert client.get("/api/user/info").json["data"]["user_id"] == victim


def test_last_accessed_is_not_written_every_request(client, app, monkeypatch) -> None:
    storage = app.extensions["mediacraft"].storage
    user_id = client.get("/api/user/info").json["data"]["user_id"]
    writes = []
    original = storage.update_user
    monkeypatch.setattr(
        storage, "update_user", lambda uid, fn: writes.append(uid) or original(uid, fn)
    )
    for _ in range(20):
        client.get("/api/user/tasks")
    assert writes == []
    identity = app.extensions["mediacraft_identity"]
    identity._touched[user_id] -= 61  # a minute later
    client.get("/api/user/tasks")
    assert writes == [user_id]


def test_cookie_secure_when_configured(app_config) -> None:
    app_config.update(cookie_secure=True, run_queue=False)
    client = create_app(app_config).test_client()
    assert "Secure" in client.get("/api/user/info").headers["Set-Cookie"]


def test_generated_secret_persists_across_restarts(app_config) -> None:
    app_config.update(secret_key="", run_queue=False)
    first = create_app(app_config)
    client = first.test_client()
    user_id = client.get("/api/user/info").json["data"]["user_id"]
    key_file = app_config["data_dir"] / "secret_key"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    second = create_app(app_config)  # a restart: same data dir, no configured key
    assert second.secret_key == first.secret_key
    again = second.test_client()
    again.set_cookie(COOKIE_NAME, cookie_of(client))
    assert again.get("/api/user/info").json["data"]["user_id"] == user_id


def test_expired_user_record_is_recreated_for_same_cookie(client, app) -> None:
    storage = app.extensions["mediacraft"].storage
    body = {"task_type": "test_sleep", "options": {"seconds": 0}}
    user_id = client.post("/api/tasks/create", json=body).json["data"]["task"]["user_id"]
    storage.delete_user(user_id)
    app.extensions["mediacraft_identity"]._touched.clear()
    assert client.get("/api/user/info").json["data"]["user_id"] == user_id
    assert storage.get_user(user_id) is None  # touching an expired identity writes nothing
    client.post("/api/tasks/create", json=body)
    assert storage.get_user(user_id) is not None
