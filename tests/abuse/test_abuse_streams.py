"""Abuse suite, live updates: event streams never take the threads the API needs.

Under gunicorn (1 worker, 8 threads: at most 6 streams, 2 per visitor), more
streams are asked for than the worker has threads, from one visitor and from
many; ``/healthz`` and another visitor's status polls keep answering. The
bound asserted is generous (a loaded 2-core machine); without the caps these
requests wait for a thread until the streams end (minutes) and time out.
The latency itself is measured in ``benchmarks/load_bench.py``.
"""

from __future__ import annotations

import json
import time

import pytest
import requests

from tests.support.server import AppServer
from tests.support.waiting import wait_for

THREADS = 8
STREAM_CAP = 6  # THREADS minus a quarter (at least two) kept for the API
ANSWER_BOUND = 2.0  # seconds: generous for a loaded machine, far below "blocked"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    data = tmp_path_factory.mktemp("streams") / "data"
    with AppServer(data, workers=1, gunicorn_threads=THREADS) as running:
        yield running


def open_stream(session: requests.Session, url: str) -> requests.Response:
    return session.get(url + "/api/events", stream=True, timeout=5)


def timed(session: requests.Session, url: str) -> float:
    started = time.monotonic()
    answer = session.get(url, timeout=10)
    elapsed = time.monotonic() - started
    assert answer.status_code == 200, answer.text
    return elapsed


def check_the_api_answers(server: AppServer, other: requests.Session, task_id: str) -> None:
    status = f"{server.url}/api/tasks/{task_id}/status"
    slowest = max(
        max(timed(other, server.url + "/healthz"), timed(other, status)) for _ in range(10)
    )
    assert slowest < ANSWER_BOUND, f"an API request took {slowest:.2f} s"


def no_stream_open(server: AppServer) -> None:
    """Wait until the worker has noticed that earlier tests' clients left."""
    wait_for(
        lambda: requests.get(server.url + "/healthz", timeout=5).json()["checks"]["event_streams"]
        == f"0/{STREAM_CAP}",
        timeout=20,
        what="the streams of earlier tests to close",
    )


def _bystander(server: AppServer) -> tuple[requests.Session, str]:
    other = requests.Session()
    body = {"task_type": "test_sleep", "options": {"seconds": 0}}
    task_id = other.post(server.url + "/api/tasks/create", json=body, timeout=10).json()["data"]
    return other, task_id["task_id"]


def _close(responses: list[requests.Response], sessions: list[requests.Session]) -> None:
    for response in responses:
        response.close()
    for session in sessions:
        session.close()


@pytest.mark.parametrize("visitors", [1, 20])
def test_more_streams_than_threads_leave_the_api_answering(server, visitors: int) -> None:
    no_stream_open(server)
    other, task_id = _bystander(server)
    sessions = [requests.Session() for _ in range(visitors)]
    opened, refused = [], []
    try:
        for n in range(2 * THREADS + 4):  # 20 streams asked for, the worker has 8 threads
            answer = open_stream(sessions[n % visitors], server.url)
            if answer.status_code == 200:
                opened.append(answer)
            else:
                refused.append(answer.status_code)
                answer.close()
        expected = 2 if visitors == 1 else STREAM_CAP
        assert len(opened) == expected and set(refused) == {429}
        check_the_api_answers(server, other, task_id)
    finally:
        _close(opened, sessions)
    other.close()
    no_stream_open(server)  # the slots come back once the clients have gone


def test_a_refused_stream_answers_429_in_the_envelope(server) -> None:
    no_stream_open(server)
    session = requests.Session()
    held = [open_stream(session, server.url) for _ in range(2)]
    try:
        refused = open_stream(session, server.url)
        assert refused.status_code == 429
        body = refused.json()
        assert body["success"] is False and "live update streams open" in body["message"]
    finally:
        _close(held, [session])


# --- the visitor's one stream (in-process) ----------------------------------------------
def read_events(response, until, limit: float = 20.0) -> list[tuple[str, dict]]:
    events: list[tuple[str, dict]] = []
    deadline = time.monotonic() + limit
    for chunk in response.response:
        for block in chunk.decode().split("\n\n"):
            lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
            if "event" in lines:
                events.append((lines["event"], json.loads(lines["data"])))
        if until(events) or time.monotonic() > deadline:
            return events
    return events


def test_one_stream_follows_all_the_visitors_tasks_and_no_one_elses(client, other_client) -> None:
    def create(who, seconds: float) -> str:
        body = {"task_type": "test_sleep", "options": {"seconds": seconds}}
        return who.post("/api/tasks/create", json=body).json["data"]["task_id"]

    mine = [create(client, 0.3), create(client, 0.3)]
    foreign = create(other_client, 0.3)
    stream = client.get("/api/events", buffered=False)
    assert stream.status_code == 200 and stream.mimetype == "text/event-stream"

    def finished(events: list) -> bool:
        done = {e["task_id"] for name, e in events if name == "task" and e["status"] == "completed"}
        return set(mine) <= done

    events = read_events(stream, finished)
    assert finished(events)
    assert {e["task_id"] for _, e in events} <= set(mine)  # never another visitor's task
    assert foreign not in json.dumps(events)
    client.delete(f"/api/tasks/{mine[0]}")
    gone = read_events(stream, lambda evs: any(name == "gone" for name, _ in evs))
    assert ("gone", {"task_id": mine[0]}) in gone
    stream.close()


