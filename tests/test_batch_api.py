"""``/api/batches``: one task per input, all-or-nothing submission, summary, cancel, retry."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from tests.support.batch_media import add_streams, small_stream
from tests.support.origin import Origin
from tests.support.waiting import wait_for

FAST = {"profile": "fast", "retries": 0}


@pytest.fixture(scope="module")
def stream(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_stream(tmp_path_factory.mktemp("batch-api"))


@pytest.fixture
def origin(stream: Path) -> Iterator[Origin]:
    with Origin() as server:
        yield server


@pytest.fixture
def app_config(app_config: dict) -> dict:
    app_config.update(max_tasks_per_user=4, max_concurrent_tasks=4, max_queued_per_user=30)
    return app_config


def _summary(client: FlaskClient, batch_id: str) -> dict:
    response = client.get(f"/api/batches/{batch_id}")
    assert response.status_code == 200, response.json
    return response.json["data"]


def _finished(client: FlaskClient, batch_id: str, timeout: float = 60.0) -> dict:
    return wait_for(
        lambda: (s := _summary(client, batch_id))["state"] == "finished" and s,
        timeout=timeout,
        interval=0.1,
        what=f"batch {batch_id} to finish",
    )


def _task_count(client: FlaskClient) -> int:
    return client.get("/api/user/tasks").json["data"]["pagination"]["total"]


def test_batch_of_22_mixed_inputs_summary_and_retry(client, other_client, origin, stream):
    good = add_streams(origin, stream, [f"good{i}" for i in range(16)])
    missing = add_streams(origin, stream, ["gone0", "gone1"])  # playlist answers 404
    forbidden = add_streams(origin, stream, ["deny0", "deny1"])  # one segment always 403
    slow = add_streams(origin, stream, ["slow0", "slow1"])  # 1 s before the playlist answers
    for name in ("gone0", "gone1"):
        origin.add_fault(f"{name}/index.m3u8", "status", status=404)
    for name in ("deny0", "deny1"):
        origin.add_fault(f"{name}/seg_002.ts", "status", status=403)
    for name in ("slow0", "slow1"):
        origin.add_fault(f"{name}/index.m3u8", "delay", seconds=1.0)
    origin.latency = 0.01
    urls = good + missing + forbidden + slow
    inputs = [{"url": url, "name": f"clip {n}"} for n, url in enumerate(urls)]
    inputs[3]["priority"] = -7
    inputs[4]["options"] = {"quality": "worst"}

    response = client.post("/api/batches", json={"inputs": inputs, "options": FAST})
    assert response.status_code == 201, response.json
    data = response.json["data"]
    batch_id, task_ids = data["batch_id"], data["task_ids"]
    assert uuid.UUID(batch_id) and len(task_ids) == 22 == data["summary"]["total"]
    assert response.json["message"] == "Batch of 22 tasks queued"

    statuses = [client.get(f"/api/tasks/{tid}/status").json["data"] for tid in task_ids]
    assert {s["batch_id"] for s in statuses} == {batch_id}
    assert [s["priority"] for s in statuses[2:5]] == [0, -7, 0]
    assert statuses[4]["options"]["quality"] == "worst"
    assert statuses[0]["options"]["profile"] == "fast" and statuses[0]["name"] == "clip 0"

    summary = _finished(client, batch_id)
    assert (summary["total"], summary["completed"], summary["failed"]) == (22, 18, 4)
    assert summary["queued"] == summary["running"] == summary["cancelled"] == 0
    assert summary["progress"] == 100.0 and summary["eta_seconds"] == 0.0
    assert summary["bytes_done"] == summary["bytes_total"] > 18 * 10_000
    errors = {t["url"]: t["error_message"] for t in summary["tasks"] if t["status"] == "failed"}
    assert set(errors) == set(missing + forbidden)
    assert all("HTTP 404" in errors[url] for url in missing)
    assert all("Segment 3 returned HTTP 403" in errors[url] for url in forbidden)
    assert [t["task_id"] for t in summary["tasks"]] == task_ids  # input order

    listing = client.get("/api/batches").json["data"]
    assert listing["total"] == 1
    assert listing["batches"][0]["batch_id"] == batch_id
    assert listing["batches"][0]["completed"] == 18

    # another visitor sees nothing of it
    assert other_client.get(f"/api/batches/{batch_id}").status_code == 404
    assert other_client.post(f"/api/batches/{batch_id}/cancel").status_code == 404
    assert other_client.post(f"/api/batches/{batch_id}/retry").status_code == 404
    assert other_client.get("/api/batches").json["data"]["batches"] == []
    assert client.get(f"/api/batches/{uuid.uuid4()}").status_code == 404
    missing_response = client.get("/api/batches/not-a-uuid")
    assert missing_response.status_code == 404 and missing_response.json["success"] is False

    # the origin is fixed: retry brings the four failed ones back, and only them
    origin.clear_faults()
    origin.clear_log()
    response = client.post(f"/api/batches/{batch_id}/retry")
    assert response.status_code == 200, response.json
    assert response.json["data"]["changed"] == 4
    summary = _finished(client, batch_id)
    assert (summary["completed"], summary["failed"]) == (22, 0)
    fetched = {path.split("/")[1] for path in origin.paths(suffix="index.m3u8")}
    assert fetched == {"gone0", "gone1", "deny0", "deny1"}


def test_batch_over_waiting_bound_is_refused_whole(client, origin, stream, app):
    urls = add_streams(origin, stream, [f"v{i}" for i in range(31)])
    response = client.post("/api/batches", json={"inputs": [{"url": u} for u in urls]})
    assert response.status_code == 429
    body = response.json
    assert body["success"] is False and body["code"] == 429
    assert body["message"].startswith("Please wait for your current tasks to finish")
    assert "nothing was created" in body["message"]
    assert _task_count(client) == 0
    assert client.get("/api/batches").json["data"]["batches"] == []
    assert app.extensions["mediacraft"].storage.queue_snapshot().queued == []
    assert origin.log == []


@pytest.mark.parametrize(
    ("mutate", "index", "reason"),
    [
        (lambda inputs: inputs[2].update(url="ftp://127.0.0.1/x.m3u8"), 2, "http or https"),
        (lambda inputs: inputs[3].update(url=inputs[0]["url"]), 3, "duplicate of inputs[0]"),
        (lambda inputs: inputs[1].update(priority=500), 1, "priority must be between"),
        (lambda inputs: inputs[4].update(options={"threads": "many"}), 4, "threads"),
        (lambda inputs: inputs[0].update(colour="red"), 0, "unknown field(s): colour"),
        (lambda inputs: inputs[2].pop("url"), 2, "url is required"),
    ],
)
def test_a_bad_input_refuses_the_batch_naming_it(client, origin, stream, mutate, index, reason):
    urls = add_streams(origin, stream, [f"v{i}" for i in range(5)])
    inputs = [{"url": u} for u in urls]
    mutate(inputs)
    response = client.post("/api/batches", json={"inputs": inputs})
    assert response.status_code == 400, response.json
    assert response.json["message"].startswith(f"inputs[{index}]: ")
    assert reason in response.json["message"]
    assert response.json["data"]["index"] == index
    assert _task_count(client) == 0 and origin.log == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"inputs": []}, "inputs must be a non-empty list"),
        ({}, "inputs must be a non-empty list"),
        ({"inputs": [{"url": "http://127.0.0.1/a.m3u8"}], "options": []}, "options must be"),
        ({"task_type": "watermark_removal", "inputs": [{"url": "x"}]}, "need no upload"),
        ({"task_type": "nonsense", "inputs": [{"url": "x"}]}, ""),
    ],
)
def test_malformed_batches(client, body, message):
    response = client.post("/api/batches", json=body)
    assert response.status_code == 400 and response.json["success"] is False
    assert message in response.json["message"]
    assert _task_count(client) == 0


def test_cancel_a_batch_stops_every_task_not_ended(client, origin, stream, app_config):
    urls = add_streams(origin, stream, [f"s{i}" for i in range(6)])
    origin.add_fault(lambda path: path.endswith("index.m3u8"), "delay", seconds=1.5)
    response = client.post(
        "/api/batches", json={"inputs": [{"url": u} for u in urls], "options": FAST}
    )
    batch_id = response.json["data"]["batch_id"]
    wait_for(lambda: _summary(client, batch_id)["running"] >= 1, what="a running task")
    response = client.post(f"/api/batches/{batch_id}/cancel")
    assert response.status_code == 200
    data = response.json["data"]
    assert data["changed"] >= 2 and data["queued"] == data["running"] == 0
    assert data["cancelled"] + data["completed"] == 6 and data["state"] == "finished"
    assert all(t["status"] in ("cancelled", "completed") for t in data["tasks"])
    # nothing left to retry: cancelled tasks are not failed ones
    response = client.post(f"/api/batches/{batch_id}/retry")
    assert response.json["data"]["changed"] == 0


def test_openapi_documents_batch_endpoints(client):
    paths = client.get("/api/openapi.json").json["paths"]
    assert set(paths["/api/batches"]) == {"get", "post"}
    for path in ("/api/batches/{batch_id}", "/api/batches/{batch_id}/cancel",
                 "/api/batches/{batch_id}/retry"):  # fmt: skip
        assert path in paths
