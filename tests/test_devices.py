"""Device links (the same tasks in another browser, once, for 10 minutes) and leaving."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from tests.support.api import assert_error, files_under
from tests.support.origin import Origin
from tests.support.results import completed_download, small_video


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> bytes:
    return small_video(tmp_path_factory.mktemp("device-media"))


@pytest.fixture
def origin(video: bytes) -> Iterator[Origin]:
    with Origin() as server:
        server.add_file("v.mp4", video)
        yield server


def new_link(client) -> dict:
    response = client.post("/api/user/device-link")
    assert response.status_code == 201, response.json
    return response.json["data"]


def user_id(client) -> str:
    return client.get("/api/user/info").json["data"]["user_id"]


def test_device_link_gives_the_same_tasks_once(client, other_client) -> None:
    task_id = client.post("/api/tasks/create", json={"task_type": "watermark_removal"}).json[
        "data"
    ]["task_id"]
    link = new_link(client)
    assert link["url"].endswith(link["path"]) and link["expires_in"] == 600
    assert link["qr"].startswith("data:image/svg+xml")
    assert user_id(other_client) != user_id(client)

    page = other_client.get(link["path"])
    assert page.status_code == 200 and b'id="use-link"' in page.data  # asks first
    used = other_client.post(link["path"])
    assert used.status_code == 303 and used.headers["Location"].endswith("/tasks")
    assert user_id(other_client) == user_id(client)
    listed = other_client.get("/api/user/tasks").json["data"]["tasks"]
    assert [t["task_id"] for t in listed] == [task_id]

    again = other_client.post(link["path"])
    assert again.status_code == 410 and b'data-link-refused="used"' in again.data
    assert "Set-Cookie" not in again.headers or "mc_uid" not in again.headers["Set-Cookie"]
    assert other_client.get(link["path"]).status_code == 410
    assert user_id(other_client) == user_id(client)


def test_late_or_forged_device_links_fail_with_a_page(app, client, other_client) -> None:
    link = new_link(client)
    token = link["path"].rsplit("/", 1)[1]
    payload = URLSafeTimedSerializer(app.secret_key, salt="mediacraft-device-link").loads(token)

    class ElevenMinutesAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 660

    late = URLSafeTimedSerializer(
        app.secret_key, salt="mediacraft-device-link", signer=ElevenMinutesAgo
    ).dumps(payload)
    before = user_id(other_client)
    for method in (other_client.get, other_client.post):
        response = method(f"/link/{late}")
        assert response.status_code == 410 and b'data-link-refused="expired"' in response.data
        forged = method(f"/link/{token[:-3]}abc")
        assert forged.status_code == 404 and b'data-link-refused="invalid"' in forged.data
    assert user_id(other_client) == before  # nothing given
    zh = other_client.get(f"/link/{late}?lang=zh")
    assert "链接已过期" in zh.data.decode()
    # the real link still works: the refused ones spent nothing
    assert other_client.post(link["path"]).status_code == 303


def test_open_links_per_visitor_are_capped(client, other_client) -> None:
    from mediacraft.devices import MAX_OPEN_LINKS

    links = [new_link(client) for _ in range(MAX_OPEN_LINKS + 1)]
    oldest = other_client.post(links[0]["path"])
    assert oldest.status_code == 410 and b'data-link-refused="used"' in oldest.data
    assert other_client.post(links[-1]["path"]).status_code == 303


def test_delete_everything_about_me(app, client, other_client, origin) -> None:
    data_dir = app.config["MEDIACRAFT"].data_dir
    done = completed_download(client, origin)
    waiting = client.post("/api/tasks/create", json={"task_type": "video_merge"}).json["data"]
    keep = completed_download(other_client, origin)
    me = user_id(client)
    link = new_link(client)
    assert files_under(data_dir / "results" / me)

    assert_error(client.post("/api/user/delete", json={}), 400, '{"confirm": true}')
    assert_error(client.post("/api/user/delete", json={"confirm": "yes"}), 400, "confirm")
    assert_error(client.post("/api/user/delete", data="x", content_type="text/plain"), 415)
    assert len(client.get("/api/user/tasks").json["data"]["tasks"]) == 2  # nothing removed

    response = client.post("/api/user/delete", json={"confirm": True})
    assert response.status_code == 200, response.json
    assert response.json["data"] == {"deleted": True, "tasks_deleted": 2}
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("mc_uid=;") and "Max-Age=0" in cookie

    storage = app.extensions["mediacraft"].storage
    assert storage.get_user(me) is None
    assert storage.get_task(done["task_id"]) is None
    assert storage.get_task(waiting["task_id"]) is None
    assert not (data_dir / "results" / me).exists() and not (data_dir / "uploads" / me).exists()
    assert user_id(client) != me  # a fresh identity from now on
    assert client.get("/api/user/tasks").json["data"]["tasks"] == []
    gone = other_client.post(link["path"])
    assert gone.status_code == 410 and b'data-link-refused="deleted"' in gone.data
    # the other visitor keeps everything
    assert storage.get_task(keep["task_id"]) is not None
    assert other_client.get(f"/api/tasks/{keep['task_id']}/status").status_code == 200


def test_account_page_in_both_languages(client) -> None:
    en = client.get("/account")
    assert en.status_code == 200 and b"Delete everything about me" in en.data
    zh = client.get("/account?lang=zh").data.decode()
    assert "删除关于我的一切" in zh and "在另一台设备上打开我的任务" in zh
