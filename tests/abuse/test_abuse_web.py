"""Abuse suite, web: Host names, passers-by, bodies, what one request may cost.

Each test names the defence it proves; without that defence it fails.
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import pytest

from mediacraft import create_app
from mediacraft.config import Config
from mediacraft.web.hosts import trusted_hosts
from tests.support.api import assert_error
from tests.support.waiting import wait_for


def tree(root: Path) -> dict[str, str]:
    """Every file and directory under ``root`` with a digest of its content."""
    found = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        found[rel] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
    return found


def settled_tree(app) -> dict[str, str]:
    """The data directory once the queue's start-up pass has written the index."""
    data_dir = app.extensions["mediacraft"].config.data_dir
    index = data_dir / "index"
    wait_for(
        lambda: (index / "queue.json").exists() and not list(index.glob(".*.tmp")),
        what="the queue index",
    )
    return tree(data_dir)


# --- Host names (DNS rebinding) -----------------------------------------------------
def test_rebinding_host_is_refused_before_anything_runs(client, app) -> None:
    data_dir = app.extensions["mediacraft"].config.data_dir
    before = settled_tree(app)
    body = {"task_type": "test_sleep", "options": {"seconds": 0}}
    for host in ("evil.example", "attacker.test:8000", "127.0.0.1.evil.example"):
        answer = client.post("/api/tasks/create", json=body, headers={"Host": host})
        assert_error(answer, 400, "does not answer for that host name")
        page = client.get("/", headers={"Host": host})
        assert page.status_code == 400 and "Set-Cookie" not in page.headers
    assert tree(data_dir) == before  # nothing was created for the rebinding page
    for host in ("localhost", "127.0.0.1:5000", "localhost:80"):
        assert client.get("/api/user/info", headers={"Host": host}).status_code == 200


def test_trusted_hosts_default_to_the_bind_address_and_localhost() -> None:
    assert trusted_hosts(Config(bind="192.0.2.7:8000")) == [
        "localhost",
        "127.0.0.1",
        "192.0.2.7",
    ]
    assert trusted_hosts(Config(host="media.lan")) == [
        "localhost",
        "127.0.0.1",
        "media.lan",
    ]
    assert trusted_hosts(Config(bind="unix:/run/mc.sock")) == [
        "localhost",
        "127.0.0.1",
    ]
    configured = Config(trusted_hosts=("media.example.org", ".example.net"))
    assert trusted_hosts(configured) == ["media.example.org", ".example.net"]
    assert trusted_hosts(Config(trusted_hosts=("*",))) is None


def test_configured_trusted_hosts_are_served_and_others_refused(app_config) -> None:
    app_config.update(trusted_hosts=("media.example.org", ".example.net"), run_queue=False)
    client = create_app(app_config).test_client()
    for host in ("media.example.org", "cdn.example.net:443"):
        assert client.get("/api/user/info", headers={"Host": host}).status_code == 200
    for host in ("localhost", "example.org", "media.example.org.evil.test"):
        assert client.get("/api/user/info", headers={"Host": host}).status_code == 400


# --- passers-by ---------------------------------------------------------------------
def test_ten_thousand_cookieless_requests_leave_the_data_directory_as_it_was(app) -> None:
    ext = app.extensions["mediacraft"]
    before = settled_tree(app)
    client = app.test_client(use_cookies=False)
    paths = [
        "/api/user/info",
        "/api/user/tasks",
        f"/api/tasks/{uuid.uuid4()}/status",
        "/api/download/list",
        "/api/batches",
        "/api/events?task_id=x",
        "/no-such-page",
        "/api/no-such-endpoint",
        "/",
    ]
    cookies = set()
    for n in range(10_000):
        answer = client.get(paths[n % len(paths)])
        cookies.add(answer.headers.get("Set-Cookie", "").split(";")[0])
        answer.close()
    assert len(cookies - {""}) > 8_000  # passers-by got an identity cookie ...
    for _ in range(50):  # (the health check writes a probe file, and removes it)
        assert client.get("/healthz").status_code == 200
    assert tree(ext.config.data_dir) == before  # ... and nothing was written for them
    assert ext.storage.list_user_ids() == []


def test_user_info_reads_no_task_record(client, app, monkeypatch) -> None:
    storage = app.extensions["mediacraft"].storage
    body = {"task_type": "test_sleep", "options": {"seconds": 0}}
    for _ in range(5):
        client.post("/api/tasks/create", json=body)
    reads = []
    original = storage.get_task
    monkeypatch.setattr(storage, "get_task", lambda tid: reads.append(tid) or original(tid))
    monkeypatch.setattr(
        storage, "query_user_tasks", lambda *a, **k: pytest.fail("info listed the tasks")
    )
    info = client.get("/api/user/info").json["data"]
    assert info["task_stats"]["total"] == 5 and reads == []


def test_lock_files_do_not_grow_with_records(client, app) -> None:
    data_dir = app.extensions["mediacraft"].config.data_dir
    body = {"task_type": "test_sleep", "options": {"seconds": 0}}
    for _ in range(10):
        task_id = client.post("/api/tasks/create", json=body).json["data"]["task_id"]
        client.post(f"/api/tasks/{task_id}/cancel")
        client.delete(f"/api/tasks/{task_id}")
    locks = [p for p in (data_dir / "locks").rglob("*.lock")]
    assert len(locks) <= 1 + 2 * 256  # striped: a fixed set, whatever the number of records
    assert not [p for p in locks if len(p.stem) > 2 and p.stem != "queue"]


# --- bodies -------------------------------------------------------------------------
def test_a_huge_json_body_is_413_before_it_is_read(client) -> None:
    huge = b'{"task_type": "test_sleep", "name": "' + b"x" * (3 * 1024 * 1024) + b'"}'
    answer = client.post("/api/tasks/create", data=huge, content_type="application/json")
    assert_error(answer, 413)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"task_type": "test_sleep", "name": "n" * 201}, "name must be at most 200 characters"),
        ({"task_type": "test_sleep", "priority": 1}, "priority must be between -100 and 0"),
        ({"task_type": "watermark_removal", "options": {"crf": 0}}, "takes no options"),
        ({"task_type": "video_merge", "url": "http://example.com/a.mp4"}, "takes an upload"),
    ],
)
def test_visitor_values_outside_the_server_ranges_are_400(client, body, message) -> None:
    assert_error(client.post("/api/tasks/create", json=body), 400, message)
