"""Share links: a signed, expiring, revocable link that downloads one result, no cookie needed."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from mediacraft.shares import make_token
from tests.support.api import assert_error, fetch
from tests.support.origin import Origin
from tests.support.results import completed_download, small_video


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> bytes:
    return small_video(tmp_path_factory.mktemp("share-media"))


@pytest.fixture
def origin(video: bytes) -> Iterator[Origin]:
    with Origin() as server:
        server.add_file("v.mp4", video)
        yield server


def share(client, task_id: str, **body) -> dict:
    response = client.post(f"/api/tasks/{task_id}/shares", json=body)
    assert response.status_code == 201, response.json
    return response.json["data"]


def test_share_link_downloads_in_a_fresh_client_until_revoked(app, client, origin) -> None:
    task = completed_download(client, origin, name="Holiday 视频")
    link = share(client, task["task_id"], expires_in=3600)
    assert link["url"].endswith(link["path"]) and link["path"].startswith(f"/s/{task['task_id']}/")
    stranger = app.test_client()  # no identity cookie at all
    response, body = fetch(stranger, link["path"])
    assert response.status_code == 200, body[:200]
    assert body[4:8] == b"ftyp" and len(body) == task["result"]["size"]
    assert "Holiday" in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "Set-Cookie" not in response.headers  # no identity given either
    ranged, part = fetch(stranger, link["path"], headers={"Range": "bytes=0-99"})
    assert ranged.status_code == 206 and part == body[:100]

    listed = client.get(f"/api/tasks/{task['task_id']}/shares").json["data"]["shares"]
    assert [s["share_id"] for s in listed] == [link["share_id"]]
    assert listed[0]["path"] == link["path"]

    revoked = client.delete(f"/api/tasks/{task['task_id']}/shares/{link['share_id']}")
    assert revoked.status_code == 200 and revoked.json["data"]["revoked"] is True
    response, page = fetch(stranger, link["path"])
    assert response.status_code == 410 and b'data-link-refused="revoked"' in page
    assert client.get(f"/api/tasks/{task['task_id']}/shares").json["data"]["shares"] == []
    assert_error(
        client.delete(f"/api/tasks/{task['task_id']}/shares/{link['share_id']}"), 404, "revoked"
    )


def test_share_link_stops_after_expiry_for_other_task_and_after_delete(app, client, origin) -> None:
    first = completed_download(client, origin)
    second = completed_download(client, origin)
    link = share(client, first["task_id"])
    token = link["path"].rsplit("/", 1)[1]
    stranger = app.test_client()

    # another task's id with this link's token: not valid there
    response, page = fetch(stranger, f"/s/{second['task_id']}/{token}")
    assert response.status_code == 404 and b'data-link-refused="invalid"' in page
    # a tampered token
    response, page = fetch(stranger, f"/s/{first['task_id']}/{token[:-2]}xx")
    assert response.status_code == 404 and b'data-link-refused="invalid"' in page

    # the same share, signed by the server with an expiry that has passed
    expired = make_token(app.secret_key, first["task_id"], link["share_id"], int(time.time()) - 1)
    response, page = fetch(stranger, f"/s/{first['task_id']}/{expired}")
    assert response.status_code == 410 and b'data-link-refused="expired"' in page

    response, _ = fetch(stranger, link["path"])
    assert response.status_code == 200
    assert client.delete(f"/api/tasks/{first['task_id']}").status_code == 200
    response, page = fetch(stranger, link["path"])
    assert response.status_code == 410 and b'data-link-refused="deleted"' in page


def test_refused_link_page_speaks_chinese(app, client, origin) -> None:
    task = completed_download(client, origin)
    stranger = app.test_client()
    response, page = fetch(stranger, f"/s/{task['task_id']}/nonsense?lang=zh")
    assert response.status_code == 404
    assert "链接无效" in page.decode()


def test_bad_share_requests_create_nothing(client, other_client, origin) -> None:
    task = completed_download(client, origin)
    url = f"/api/tasks/{task['task_id']}/shares"
    assert_error(client.post(url, json={"expires_in": 8 * 24 * 3600}), 400, "7 days")
    assert_error(client.post(url, json={"expires_in": 10}), 400, "between 60 seconds")
    assert_error(client.post(url, json={"expires_in": "1d"}), 400, "whole number")
    assert_error(client.post(url, json={"expires_in": True}), 400, "whole number")
    assert_error(client.post(url, data="x", content_type="text/plain"), 415)
    assert_error(other_client.post(url, json={}), 404)  # another visitor's task
    assert_error(other_client.get(url), 404)
    assert client.get(url).json["data"]["shares"] == []

    waiting = client.post("/api/tasks/create", json={"task_type": "watermark_removal"})
    waiting_id = waiting.json["data"]["task_id"]
    assert_error(client.post(f"/api/tasks/{waiting_id}/shares", json={}), 409, "completed")
    assert client.get(f"/api/tasks/{waiting_id}/shares").json["data"]["shares"] == []


def test_share_links_per_task_are_limited(client, origin) -> None:
    from mediacraft.shares import MAX_SHARES_PER_TASK

    task = completed_download(client, origin)
    url = f"/api/tasks/{task['task_id']}/shares"
    for _ in range(MAX_SHARES_PER_TASK):
        share(client, task["task_id"])
    assert_error(client.post(url, json={}), 409, "revoke one first")
    assert len(client.get(url).json["data"]["shares"]) == MAX_SHARES_PER_TASK
