"""``GET /metrics``: off by default, token only, installation-wide states from storage,
event counters summed over gunicorn's worker processes."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from pathlib import Path

import pytest
import requests

from mediacraft import create_app
from mediacraft.config import Config
from mediacraft.metrics import metrics_dir
from tests.support.server import AppServer
from tests.support.waiting import wait_for

TOKEN = "metrics-token-0123456789abcdef"


def _value(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        metric, _, value = line.rpartition(" ")
        if not re.match(rf"^{re.escape(name)}(\{{|$)", metric):
            continue
        if all(f'{key}="{val}"' in metric for key, val in labels.items()):
            return float(value)
    return None


def test_metrics_are_off_by_default(client) -> None:
    assert client.get("/metrics").status_code == 404


def test_metrics_need_a_token_to_be_turned_on() -> None:
    with pytest.raises(ValueError, match="METRICS_TOKEN"):
        Config.from_env({}, metrics=True)
    with pytest.raises(ValueError, match="METRICS_TOKEN"):
        Config.from_env({"MEDIACRAFT_METRICS": "true", "MEDIACRAFT_METRICS_TOKEN": "short"})


@pytest.fixture
def metrics_app(app_config: dict):
    app_config.update(metrics=True, metrics_token=TOKEN)
    application = create_app(app_config)
    yield application
    ext = application.extensions["mediacraft"]
    ext.queue.shutdown(timeout=5)
    ext.storage.close()


def test_metrics_token_and_installation_state(metrics_app) -> None:
    client = metrics_app.test_client()
    body = {"task_type": "test_sleep", "options": {"seconds": 0.1}}
    task_id = client.post("/api/tasks/create", json=body).get_json()["data"]["task_id"]
    wait_for(lambda: client.get(f"/api/tasks/{task_id}/status").get_json()["data"]["status"]
             == "completed", what="the task to complete")  # fmt: skip
    assert client.get("/metrics").status_code == 401  # a visitor with a cookie, no token
    wrong = client.get("/metrics", headers={"Authorization": "Bearer wrong-token-000000000"})
    assert wrong.status_code == 401 and wrong.headers["WWW-Authenticate"] == "Bearer"
    answer = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200 and answer.mimetype == "text/plain"
    assert answer.headers["Cache-Control"] == "no-store"
    text = answer.get_data(as_text=True)
    assert _value(text, "mediacraft_tasks", state="completed", type="test_sleep") == 1
    assert _value(text, "mediacraft_queue_depth") == 0
    assert _value(text, "mediacraft_ffmpeg_processes") == 0
    assert _value(text, "mediacraft_claims_total", type="test_sleep") >= 1


def test_counters_are_summed_over_gunicorn_workers(tmp_path: Path) -> None:
    data = tmp_path / "data"
    settings = {"metrics": "true", "metrics_token": TOKEN, "max_concurrent_tasks": 4,
                "max_tasks_per_user": 2, "node_id": "metrics-node",
                "log_format": "json"}  # fmt: skip
    directory = metrics_dir(Config(data_dir=data, node_id="metrics-node"))
    shutil.rmtree(directory, ignore_errors=True)
    saved = os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)  # an in-process test's, not ours
    server = AppServer(data, workers=2, **settings)
    visitors = [requests.Session() for _ in range(3)]
    try:
        server.start()
        ok = {"task_type": "test_sleep", "options": {"seconds": 0.3}}
        bad = {"task_type": "test_sleep", "options": {"seconds": 0.1, "fail": "broken"}}
        ids = []
        for session in visitors:
            for body in (ok, ok, bad):
                response = session.post(server.url + "/api/tasks/create", json=body, timeout=10)
                assert response.status_code == 201, response.text
                ids.append((session, response.json()["data"]["task_id"]))

        def ended() -> bool:
            states = [s.get(f"{server.url}/api/tasks/{i}/status", timeout=10).json()["data"]
                      ["status"] for s, i in ids]  # fmt: skip
            return all(state in {"completed", "failed"} for state in states)

        wait_for(ended, timeout=60, what="every task to end")
        auth = {"Authorization": f"Bearer {TOKEN}"}
        answers = [requests.get(server.url + "/metrics", headers=auth, timeout=10).text
                   for _ in range(8)]  # fmt: skip
        for text in answers:  # whichever process answered, the same totals
            assert _value(text, "mediacraft_claims_total", type="test_sleep") == 9
            assert _value(text, "mediacraft_task_failures_total", type="test_sleep",
                          reason="media_failed") == 3  # fmt: skip
            assert _value(text, "mediacraft_tasks", state="completed", type="test_sleep") == 6
            assert _value(text, "mediacraft_queue_wait_seconds_count") == 9
        pids = {
            p.name.rsplit("_", 1)[1].removesuffix(".db") for p in directory.glob("*.db")
        }
        assert len(pids) >= 2  # both gunicorn workers counted
        assert requests.get(server.url + "/metrics", timeout=10).status_code == 401
        lines = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
        task_ids = {i for _, i in ids}
        started = [e for e in lines if e["task_id"] in task_ids and "started" in e["message"]]
        assert len(started) == 9 and all(e["node"] == "metrics-node" for e in started)
        assert all("request_id" in e and "pid" in e for e in lines)
    finally:
        for session in visitors:
            session.close()
        server.stop()
        if saved is not None:
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = saved
        shutil.rmtree(directory, ignore_errors=True)


def test_json_log_lines_carry_request_and_task_ids(capsys) -> None:
    from mediacraft.logs import JsonFormatter, TaskIdFilter, task_logging
    from mediacraft.web.security import RequestIdFilter

    record = logging.LogRecord("mediacraft.queue", logging.INFO, __file__, 1,
                               "Task %s started", ("abc",), None)  # fmt: skip
    with task_logging("abc"):
        TaskIdFilter().filter(record)
    RequestIdFilter().filter(record)
    entry = json.loads(JsonFormatter("node-1").format(record))
    assert entry["message"] == "Task abc started" and entry["task_id"] == "abc"
    assert entry["request_id"] == "-" and entry["node"] == "node-1" and entry["level"] == "INFO"
    outside = logging.LogRecord("x", logging.INFO, __file__, 1, "m", (), None)
    TaskIdFilter().filter(outside)
    assert outside.task_id == "-"
