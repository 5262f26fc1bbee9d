"""The task library: tags, filters by resolution and duration, sorting by size and duration."""

from __future__ import annotations

import pytest

from mediacraft.model import Task, TaskStatus
from mediacraft.storage.base import TaskQuery, apply_query
from mediacraft.tags import MAX_TAGS
from tests.support.api import assert_error, multipart
from tests.support.media import make_video


def _task(name: str, width: int, height: int, duration: float, size: int) -> Task:
    task = Task.new("00000000-0000-4000-8000-000000000000", "download", name=name)
    task.status = TaskStatus.COMPLETED
    task.result = {"file_name": "r.mp4", "width": width, "height": height,
                   "duration": duration, "size": size}  # fmt: skip
    return task


LIBRARY = [
    _task("phone", 1080, 1920, 30.0, 50),  # portrait: its shorter side makes it 1080p
    _task("sd", 640, 480, 700.0, 10),
    _task("hd", 1280, 720, 4000.0, 300),
    _task("uhd", 3840, 2160, 90.0, 900),
    _task("tiny", 320, 240, 5.0, 1),
]


def names(query: TaskQuery) -> list[str]:
    return [t.name for t in apply_query(LIBRARY, query).tasks]


@pytest.mark.parametrize(
    ("resolution", "expected"),
    [("480p", {"sd", "tiny"}), ("720p", {"hd"}), ("1080p", {"phone"}), ("4k", {"uhd"})],
)
def test_resolution_classes(resolution: str, expected: set[str]) -> None:
    assert set(names(TaskQuery(resolution=resolution))) == expected


def test_duration_ranges_and_sorting() -> None:
    assert set(names(TaskQuery(max_duration=60))) == {"phone", "tiny"}
    assert set(names(TaskQuery(min_duration=60, max_duration=600))) == {"uhd"}
    assert set(names(TaskQuery(min_duration=3600))) == {"hd"}
    assert names(TaskQuery(sort="-size")) == ["uhd", "hd", "phone", "sd", "tiny"]
    assert names(TaskQuery(sort="duration")) == ["tiny", "phone", "uhd", "sd", "hd"]
    assert names(TaskQuery(sort="name")) == ["hd", "phone", "sd", "tiny", "uhd"]


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, bytes]:
    root = tmp_path_factory.mktemp("library")
    return {
        "small": make_video(root / "s.mp4", seconds=1.0, size="320x240").read_bytes(),
        "wide": make_video(root / "w.mp4", seconds=3.0, size="1280x720").read_bytes(),
    }


def uploaded(client, data: bytes, name: str) -> str:
    task_id = client.post(
        "/api/tasks/create", json={"task_type": "watermark_removal", "name": name}
    ).json["data"]["task_id"]
    response = multipart(client, f"/api/tasks/{task_id}/upload", [(data, f"{name}.mp4")])
    assert response.status_code == 200, response.json
    return task_id


def listed(client, query: str) -> list[str]:
    response = client.get(f"/api/user/tasks?{query}")
    assert response.status_code == 200, response.json
    return [t["name"] for t in response.json["data"]["tasks"]]


def test_tags_and_filters_through_the_api(client, other_client, clips) -> None:
    small = uploaded(client, clips["small"], "small")
    wide = uploaded(client, clips["wide"], "wide")
    added = client.post(f"/api/tasks/{small}/tags", json={"tag": "  Holiday "})
    assert added.status_code == 200 and added.json["data"]["tags"] == ["Holiday"]
    client.post(f"/api/tasks/{small}/tags", json={"tag": "家庭"})
    again = client.post(f"/api/tasks/{small}/tags", json={"tag": "holiday"})  # same, any case
    assert again.json["data"]["tags"] == ["Holiday", "家庭"]
    client.post(f"/api/tasks/{wide}/tags", json={"tag": "work"})

    assert listed(client, "tag=HOLIDAY") == ["small"]
    assert listed(client, "tag=%E5%AE%B6%E5%BA%AD") == ["small"]
    assert listed(client, "resolution=720p") == ["wide"]
    assert listed(client, "resolution=480p") == ["small"]
    assert listed(client, "duration=0-2") == ["small"]
    assert listed(client, "duration=2-") == ["wide"]
    assert listed(client, "sort=-duration") == ["wide", "small"]
    assert listed(client, "sort=size") == ["small", "wide"]
    assert listed(client, "tag=work&resolution=480p") == []
    assert listed(other_client, "tag=work") == []  # another visitor's tags are not theirs

    removed = client.delete(f"/api/tasks/{small}/tags/holiday")
    assert removed.status_code == 200 and removed.json["data"]["tags"] == ["家庭"]
    assert listed(client, "tag=holiday") == []
    assert_error(client.delete(f"/api/tasks/{small}/tags/holiday"), 404, "no such tag")
    assert_error(other_client.post(f"/api/tasks/{small}/tags", json={"tag": "x"}), 404)


def test_bad_tags_and_filters_are_refused_and_change_nothing(client, clips) -> None:
    task_id = uploaded(client, clips["small"], "small")
    url = f"/api/tasks/{task_id}/tags"
    too_long = client.post(url, json={"tag": "x" * 41})
    assert_error(too_long, 400, "at most 40 characters")
    assert too_long.json["data"]["reason"] == "bad_tag"
    assert_error(client.post(url, json={"tag": "   "}), 400, "empty")
    assert_error(client.post(url, json={"tag": 5}), 400, "string")
    assert_error(client.post(url, json={"tag": "a\x00b"}), 400, "control")
    assert_error(client.post(url, json={}), 400, "string")
    for n in range(MAX_TAGS):
        assert client.post(url, json={"tag": f"t{n}"}).status_code == 200
    one_more = client.post(url, json={"tag": "one more"})
    assert_error(one_more, 400, f"at most {MAX_TAGS} tags")
    assert one_more.json["data"]["reason"] == "too_many_tags"
    tags = client.get(f"/api/tasks/{task_id}/status").json["data"]["tags"]
    assert tags == [f"t{n}" for n in range(MAX_TAGS)]

    assert_error(client.get("/api/user/tasks?resolution=8k"), 400, "resolution must be one of")
    assert_error(client.get("/api/user/tasks?duration=ten"), 400, "range of seconds")
    assert_error(client.get("/api/user/tasks?duration=600-60"), 400, "upper end")
    assert_error(client.get("/api/user/tasks?sort=colour"), 400, "sort must be one of")
    assert_error(client.get(f"/api/user/tasks?tag={'x' * 41}"), 400, "at most 40")
