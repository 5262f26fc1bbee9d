"""Abuse suite, uploads and frames: quota held by uploads in flight, one upload per task at
a time, decoding budgets, frame extraction budgets."""

from __future__ import annotations

import io
import os
import subprocess
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import stream_encode_multipart

from mediacraft import create_app
from mediacraft import uploads as upload_module
from mediacraft.paths import TaskPaths
from tests.support.api import assert_error, files_under, multipart
from tests.support.media import FFMPEG, make_video

PAD = 600 * 1024  # a second file part that makes a body of about 0.7 MB


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("abuse-media")
    made = {f"clip{n}": make_video(base / f"clip{n}.mp4", seconds=1 + n / 2) for n in range(3)}
    made["long_gop"] = make_video(base / "gop.mp4", seconds=8, audio=False, gop=1000)
    made["many_frames"] = make_video(base / "fps.mp4", seconds=3, fps=50, audio=False)
    huge = base / "huge.mkv"  # 36 megapixels of black: a 120 KB file, 144 MB to decode
    _ffmpeg("-f", "lavfi", "-i", "color=black:s=6000x6000:r=1", "-frames:v", "1", "-c:v", "png",
            huge)  # fmt: skip
    made["huge_frame"] = huge
    many = base / "streams.mkv"
    maps = [arg for _ in range(17) for arg in ("-map", "0:v")]
    _ffmpeg("-i", made["clip0"], *maps, "-c", "copy", many)
    made["many_streams"] = many
    return made


def _ffmpeg(*args: object) -> None:
    cmd = [FFMPEG, "-hide_banner", "-loglevel", "error", "-y", *map(str, args)]
    subprocess.run(cmd, check=True, timeout=120)


def new_task(client, task_type: str = "video_merge") -> str:
    answer = client.post("/api/tasks/create", json={"task_type": task_type})
    assert answer.status_code == 201, answer.json
    return answer.json["data"]["task_id"]


def upload_dir(app, task) -> Path:
    return TaskPaths.of(app.extensions["mediacraft"].config.data_dir, task).upload_dir


def body_of(clip: Path, name: str, pad: int = 0) -> tuple[bytes, str]:
    parts = [("file", FileStorage(io.BytesIO(clip.read_bytes()), filename=name))]
    if pad:
        parts.append(("padding", FileStorage(io.BytesIO(os.urandom(pad)), filename="pad.bin")))
    stream, _length, boundary = stream_encode_multipart(MultiDict(parts), use_tempfile=False)
    return stream.read(), f'multipart/form-data; boundary="{boundary}"'


class Gate(io.RawIOBase):
    """A request body that stops after its first bytes until the test opens the gate."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos, self.open = data, 0, threading.Event()
        self.waiting = threading.Event()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:  # the test client measures the body
        self.pos = {0: offset, 1: self.pos + offset, 2: len(self.data) + offset}[whence]
        return self.pos

    def tell(self) -> int:
        return self.pos

    def readinto(self, buffer) -> int:
        if self.pos >= 64 * 1024 and not self.open.is_set():
            self.waiting.set()
            self.open.wait(30)
        chunk = self.data[self.pos : self.pos + min(len(buffer), 64 * 1024)]
        buffer[: len(chunk)] = chunk
        self.pos += len(chunk)
        return len(chunk)


def post_in_background(client, url: str, data: bytes, content_type: str):
    gate = Gate(data)
    result: dict = {}

    def send() -> None:
        result["answer"] = client.post(
            url, input_stream=gate, content_length=len(data), content_type=content_type
        )

    thread = threading.Thread(target=send)
    thread.start()
    assert gate.waiting.wait(10), "the upload never started"
    return gate, thread, result


# --- the quota holds for uploads in flight ----------------------------------------------
@contextmanager
def one_upload_arriving(app_config: dict, clips: dict, **settings: object):
    """An app where one visitor's first upload is still arriving; yields (client, second task)."""
    app_config.update(run_queue=False, **settings)
    app = create_app(app_config)
    client = app.test_client()
    first, second = new_task(client), new_task(client)
    data, kind = body_of(clips["clip0"], "a.mp4", pad=PAD)
    gate, thread, result = post_in_background(client, f"/api/tasks/{first}/upload", data, kind)
    try:
        yield client, second
    finally:
        gate.open.set()
        thread.join(30)
    assert result["answer"].status_code == 200, result["answer"].json
    data_dir = app.extensions["mediacraft"].config.data_dir
    assert not list((data_dir / "quota").glob("*.json"))  # reservations end with their upload
    app.extensions["mediacraft"].storage.close()


def test_concurrent_uploads_cannot_pass_the_quota_together(app_config, clips) -> None:
    with one_upload_arriving(app_config, clips, user_quota_mb=1) as (client, second):
        data, kind = body_of(clips["clip1"], "b.mp4", pad=PAD)
        refused = client.post(
            f"/api/tasks/{second}/upload", data=data, content_type=kind
        )  # while the first one is still arriving, its size is already reserved
        assert_error(refused, 413, "storage quota of 1 MB is used up")


def test_a_visitor_has_a_bounded_number_of_uploads_in_flight(app_config, clips) -> None:
    with one_upload_arriving(app_config, clips, max_uploads_per_user=1) as (client, second):
        answer = multipart(client, f"/api/tasks/{second}/upload", [(clips["clip1"], "b.mp4")])
        assert_error(answer, 429, "1 uploads in progress")


def test_a_chunked_upload_is_cut_off_at_the_remaining_quota(app_config, clips) -> None:
    app_config.update(user_quota_mb=1, run_queue=False)
    app = create_app(app_config)
    client = app.test_client()
    task_id = new_task(client)
    data, kind = body_of(clips["clip0"], "a.mp4", pad=1536 * 1024)
    answer = client.post(  # no Content-Length: the body is as long as the client likes
        f"/api/tasks/{task_id}/upload",
        input_stream=io.BytesIO(data),
        content_type=kind,
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert_error(answer, 413)
    data_dir = app.extensions["mediacraft"].config.data_dir
    assert files_under(data_dir / "uploads") == [] and files_under(data_dir / "incoming") == []
    small, kind = body_of(clips["clip0"], "a.mp4")
    fits = client.post(
        f"/api/tasks/{task_id}/upload",
        input_stream=io.BytesIO(small),
        content_type=kind,
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert fits.status_code == 200, fits.json
    app.extensions["mediacraft"].storage.close()


# --- one upload per task at a time ------------------------------------------------------
@pytest.fixture
def slow_probe(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Make probing take a moment, so two uploads overlap; returns 'a probe is running'."""
    probing = threading.Event()
    real = upload_module.probe_upload

    def slow(path, budget):
        probing.set()
        time.sleep(0.5)
        return real(path, budget)

    monkeypatch.setattr(upload_module, "probe_upload", slow)
    return probing


def _upload_all(client, url: str, files: list[tuple[Path, str]]) -> list:
    answers: list = [None] * len(files)

    def send(index: int) -> None:
        answers[index] = multipart(client, url, [files[index]])

    threads = [threading.Thread(target=send, args=(n,)) for n in range(len(files))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return answers


def test_two_concurrent_uploads_to_one_merge_task_both_land_in_order(
    client, app, clips, slow_probe
) -> None:
    task_id = new_task(client)
    url = f"/api/tasks/{task_id}/upload"
    pair = [(clips["clip0"], "first.mp4"), (clips["clip1"], "second.mp4")]
    answers = _upload_all(client, url, pair)
    assert [a.status_code for a in answers] == [200, 200], [a.json for a in answers]
    task = app.extensions["mediacraft"].storage.get_task(task_id)
    names = [Path(item["path"]).name for item in task.inputs]
    assert names == ["input-01.mp4", "input-02.mp4"]
    by_name = {item["original_filename"]: Path(item["path"]) for item in task.inputs}
    assert set(by_name) == {"first.mp4", "second.mp4"}
    for original, clip in (("first.mp4", "clip0"), ("second.mp4", "clip1")):
        assert by_name[original].read_bytes() == clips[clip].read_bytes()  # nothing overwritten
    assert len(files_under(upload_dir(app, task))) == 2


def test_config_racing_an_upload_is_409(client, app, clips, slow_probe) -> None:
    task_id = new_task(client)
    url = f"/api/tasks/{task_id}/upload"
    two = [(clips["clip0"], "a.mp4"), (clips["clip1"], "b.mp4")]
    assert multipart(client, url, two).status_code == 200  # a merge that could be configured
    slow_probe.clear()
    result: dict = {}
    thread = threading.Thread(
        target=lambda: result.update(answer=multipart(client, url, [(clips["clip2"], "c.mp4")]))
    )
    thread.start()
    assert slow_probe.wait(10)
    assert_error(client.post(f"/api/tasks/{task_id}/config", json={}), 409, "still being stored")
    thread.join(30)
    assert result["answer"].status_code == 200
    queued = client.post(f"/api/tasks/{task_id}/config", json={})
    assert queued.status_code == 200 and len(queued.json["data"]["inputs"]) == 3


def test_a_failed_upload_deletes_only_its_own_file(app_config, clips, slow_probe) -> None:
    app_config.update(max_clips=2, run_queue=False)
    app = create_app(app_config)
    client = app.test_client()
    task_id = new_task(client)
    url = f"/api/tasks/{task_id}/upload"
    assert multipart(client, url, [(clips["clip0"], "kept.mp4")]).status_code == 200
    answers = _upload_all(client, url, [(clips["clip1"], "one.mp4"), (clips["clip2"], "two.mp4")])
    assert sorted(a.status_code for a in answers) == [200, 400]  # one clip too many
    task = app.extensions["mediacraft"].storage.get_task(task_id)
    stored = sorted(files_under(upload_dir(app, task)))
    assert [p.name for p in stored] == ["input-01.mp4", "input-02.mp4"]
    assert stored[0].read_bytes() == clips["clip0"].read_bytes()
    winner = task.inputs[1]["original_filename"]
    assert stored[1].read_bytes() == clips["clip1" if winner == "one.mp4" else "clip2"].read_bytes()
    app.extensions["mediacraft"].storage.close()


# --- decoding budgets ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("clip", "message"),
    [
        ("huge_frame", "too large: 6000x6000 is 36,000,000 pixels, the limit is 33,177,600"),
        ("many_streams", "the file has 17 streams; at most 16"),
    ],
)
def test_uploads_past_the_decoding_budget_are_refused(client, app, clips, clip, message) -> None:
    task_id = new_task(client, "watermark_removal")
    answer = multipart(client, f"/api/tasks/{task_id}/upload", [(clips[clip], "x.mkv")])
    assert_error(answer, 400, message)
    assert files_under(app.extensions["mediacraft"].config.data_dir / "uploads") == []


def test_an_implausible_frame_count_is_refused(app_config, clips) -> None:
    app_config.update(max_video_frames=100, run_queue=False)
    app = create_app(app_config)
    client = app.test_client()
    task_id = new_task(client, "watermark_removal")
    answer = multipart(client, f"/api/tasks/{task_id}/upload", [(clips["many_frames"], "x.mp4")])
    assert_error(answer, 400, "claims 150 frames; at most 100")
    app.extensions["mediacraft"].storage.close()


# --- frame extraction -----------------------------------------------------------------
def _gop_task(client, clips) -> str:
    task_id = new_task(client, "watermark_removal")
    url = f"/api/tasks/{task_id}/upload"
    assert multipart(client, url, [(clips["long_gop"], "gop.mp4")]).status_code == 200
    return task_id


def test_a_long_gop_files_last_frame_is_decoded_once(client, app, clips) -> None:
    frames = app.extensions["mediacraft"].frames
    task_id = _gop_task(client, clips)
    before = frames.decodes
    answers = [client.get(f"/api/tasks/{task_id}/frame?index=199") for _ in range(5)]
    assert all(a.status_code == 200 and a.mimetype == "image/jpeg" for a in answers)
    assert len({a.data for a in answers}) == 1
    assert frames.decodes == before + 1  # the next four came from the cache


def test_frame_requests_are_rate_limited_per_visitor(app_config, clips) -> None:
    app_config.update(frames_per_minute=3, run_queue=False)
    app = create_app(app_config)
    client, other = app.test_client(), app.test_client()
    task_id = _gop_task(client, clips)
    for index in (0, 1, 2):
        assert client.get(f"/api/tasks/{task_id}/frame?index={index}").status_code == 200
    assert_error(client.get(f"/api/tasks/{task_id}/frame?index=3"), 429, "at most 3 a minute")
    assert client.get(f"/api/tasks/{task_id}/frame?index=0").status_code == 200  # cached
    other_task = _gop_task(other, clips)
    assert other.get(f"/api/tasks/{other_task}/frame?index=5").status_code == 200
    app.extensions["mediacraft"].storage.close()


def test_frame_extraction_has_a_time_limit(app_config, clips) -> None:
    app_config.update(frame_seconds=0.001, run_queue=False)
    app = create_app(app_config)
    client = app.test_client()
    task_id = _gop_task(client, clips)
    answer = client.get(f"/api/tasks/{task_id}/frame?index=199")
    assert_error(answer, 400, "took longer than 0.001 s")
    app.extensions["mediacraft"].storage.close()


