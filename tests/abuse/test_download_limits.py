"""Downloads against hostile visitors and ordinary faults: the server's limits hold.

Each test names the defence it proves; each fails when that defence is removed
(an option accepted as is, the quota not counted, the speed floor off, a disk
error retried as a network error).
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from mediacraft.config import Config
from mediacraft.download import hls as hls_module
from tests.support.api import assert_error
from tests.support.origin import HlsMedia, Origin, shared_media
from tests.support.waiting import wait_for

MiB = 1024 * 1024


@pytest.fixture(scope="session")
def hls_media(tmp_path_factory: pytest.TempPathFactory) -> HlsMedia:
    return shared_media(tmp_path_factory)  # type: ignore[return-value]


@pytest.fixture(scope="session")
def long_playlist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_media(tmp_path_factory, "long")  # type: ignore[return-value]


@pytest.fixture
def origin(hls_media: HlsMedia, long_playlist: Path):
    with Origin(hls_media.root) as server:
        for path in long_playlist.parent.iterdir():
            server.add_file(f"long/{path.name}", path.read_bytes())
        yield server


def app_with(request, app_config: dict, **settings: object):
    """The test client of an app whose Config has ``settings``."""
    app_config.update(settings)
    return request.getfixturevalue("client")


def create(client, url: str, **options: object):
    body = {"task_type": "download", "url": url, "options": {"retry_delay": 0.01, **options}}
    return client.post("/api/tasks/create", json=body)


def ended(client, task_id: str) -> dict:
    def probe() -> dict | None:
        task = client.get(f"/api/tasks/{task_id}/status").json["data"]
        return task if task["status"] in {"completed", "failed", "cancelled"} else None

    return wait_for(probe, timeout=60, what="the task to end")


def task_dirs(app, task_id: str) -> tuple[Path, Path]:
    data = app.extensions["mediacraft"].config.data_dir
    record = app.extensions["mediacraft"].storage.get_task(task_id)
    return data / "work" / task_id, data / "results" / record.user_id / task_id


# -- server limits are the server's --------------------------------------------------------
def test_safety_caps_are_not_task_options(client, origin):
    response = create(client, origin.url("hi/index.m3u8"), max_playlist_bytes=10**12,
                      max_total_bytes=10**18, max_segments=10**9)  # fmt: skip
    message = assert_error(response, 400, "server settings, not download options")
    for name in ("max_playlist_bytes (MEDIACRAFT_MAX_PLAYLIST_KB)",
                 "max_segments (MEDIACRAFT_MAX_SEGMENTS)",
                 "max_total_bytes (MEDIACRAFT_MAX_DOWNLOAD_MB)"):  # fmt: skip
        assert name in message


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("threads", 33, "threads must be a number from 1 to 32"),
        ("threads", 0, "threads must be a number from 1 to 32"),
        ("retries", 21, "retries must be a number from 0 to 20"),
        ("retry_delay", -1, "retry_delay must be a number from 0 to 60"),
        ("max_retry_delay", 10_000, "max_retry_delay must be a number from 0 to 300"),
        ("connect_timeout", 3600, "connect_timeout must be a number from 0.1 to 300"),
        ("first_byte_timeout", 0, "first_byte_timeout must be a number from 0.1 to 300"),
        ("timeout", 86_400, "first_byte_timeout must be a number from 0.1 to 300"),
        ("stall_timeout", 601, "stall_timeout must be a number from 0.1 to 300"),
        ("connections", 64, "connections must be a number from 1 to 16"),
        ("max_redirects", 50, "max_redirects must be a number from 0 to 20"),
        ("limit_rate", "1K", "limit_rate must be at least 256K"),
        ("record_seconds", 10**6, "record_seconds must be a number from 1 to 14400"),
        ("headers", {f"X-{n}": "v" for n in range(40)}, "headers must be at most 32"),
        ("chunk_size", 1, "Unknown download option(s): chunk_size"),
        ("checkpoint_interval", 0, "Unknown download option(s): checkpoint_interval"),
    ],
)
def test_every_visitor_option_is_held_to_the_servers_range(client, origin, option, value,
                                                           expected):  # fmt: skip
    assert_error(create(client, origin.url("hi/index.m3u8"), **{option: value}), 400, expected)


def test_the_ranges_are_server_configuration(request, app_config, origin):
    client = app_with(request, app_config, max_download_threads=4, max_record_seconds=60,
                      min_limit_rate_kb=1024, lowest_speed_kb=10)  # fmt: skip
    assert_error(create(client, origin.url("a"), threads=5), 400, "threads", "from 1 to 4")
    assert_error(create(client, origin.url("a"), record_seconds=61), 400, "from 1 to 60")
    assert_error(create(client, origin.url("a"), limit_rate="512K"), 400, "at least 1024K")
    assert create(client, origin.url("a"), threads=4, limit_rate="2M").status_code == 201


def test_the_size_cap_comes_from_the_server(request, app_config, origin):
    client = app_with(request, app_config, max_download_mb=1)
    task_id = create(client, origin.url("long/index.m3u8"), threads=2).json["data"]["task_id"]
    done = ended(client, task_id)
    assert done["status"] == "failed"
    assert "server's size limit of 1 MiB" in done["error_message"]


def test_a_speed_floor_below_the_limit_rate_floor_is_refused_as_configuration():
    with pytest.raises(ValueError, match="LOWEST_SPEED_KB .* must not be above"):
        Config(lowest_speed_kb=512, min_limit_rate_kb=256).validate()


# -- downloads count against the visitor's quota ---------------------------------------------
def test_a_file_larger_than_the_quota_left_is_refused_before_it_is_fetched(
    request, app_config, origin
):
    client = app_with(request, app_config, user_quota_mb=1)
    origin.add_file("big.bin", os.urandom(3 * MiB))
    origin.bandwidth = 2 * MiB  # what was sent is what the client read, give or take a chunk
    task_id = create(client, origin.url("big.bin")).json["data"]["task_id"]
    done = ended(client, task_id)
    assert done["status"] == "failed"
    assert "your storage quota is full" in done["error_message"]
    (entry,) = [e for e in origin.log if e.path == "/big.bin"]
    assert entry.sent < MiB  # stopped at the headers, not after the transfer
    work, results = task_dirs(request.getfixturevalue("app"), task_id)
    # the queue records the failure, then removes the files: wait for the second step
    wait_for(lambda: not work.exists() and not results.exists(), what="the files removed")


def test_a_stream_whose_byte_ranges_exceed_the_quota_is_refused_before_a_segment(
    request, app_config, origin
):
    client = app_with(request, app_config, user_quota_mb=1)
    lines = ["#EXTM3U", "#EXT-X-TARGETDURATION:2"]
    for number in range(3):
        lines += ["#EXTINF:2.0,", f"#EXT-X-BYTERANGE:{MiB}@{number * MiB}", "all.ts"]
    origin.add_file("ranged/index.m3u8", "\n".join([*lines, "#EXT-X-ENDLIST"]).encode())
    task_id = create(client, origin.url("ranged/index.m3u8")).json["data"]["task_id"]
    done = ended(client, task_id)
    assert done["status"] == "failed"
    assert "your storage quota is full" in done["error_message"]
    assert origin.paths(prefix="ranged/") == ["/ranged/index.m3u8"]  # no segment asked for


def test_a_stream_that_outgrows_the_quota_fails_and_leaves_nothing(request, app_config, origin):
    client = app_with(request, app_config, user_quota_mb=1)
    task_id = create(client, origin.url("long/index.m3u8"), threads=2).json["data"]["task_id"]
    done = ended(client, task_id)
    assert done["status"] == "failed"
    assert done["error_message"].endswith("your storage quota is full")
    work, results = task_dirs(request.getfixturevalue("app"), task_id)
    # the queue records the failure, then removes the files: wait for the second step
    wait_for(lambda: not work.exists() and not results.exists(), what="the files removed")


# -- every task ends ----------------------------------------------------------------------
def test_a_crawling_download_fails_naming_the_speed(request, app_config, origin):
    client = app_with(request, app_config, lowest_speed_kb=64, min_limit_rate_kb=64,
                      lowest_speed_seconds=1)  # fmt: skip
    origin.bandwidth = 20 * 1024  # data flows (no stall), but at a third of the floor
    task_id = create(client, origin.url("src/hi.mp4")).json["data"]["task_id"]
    done = ended(client, task_id)
    assert done["status"] == "failed"
    assert "slower than the server's minimum of 64.0 KiB/s for 1 s" in done["error_message"]


# -- disk full and read-only storage ---------------------------------------------------------
class _FullDisk:
    """``open`` for the HLS module whose segment files stop taking writes after ``allow``."""

    def __init__(self, allow: int, code: int = errno.ENOSPC) -> None:
        self.allow = allow
        self.code = code
        self.opened = 0

    def __call__(self, path, mode="r", *args, **kwargs):
        handle = open(path, mode, *args, **kwargs)  # wrapped and returned
        if str(path).endswith(".part") and "w" in mode:
            self.opened += 1
            if self.opened > self.allow:
                code = self.code

                def write(_data: bytes) -> int:
                    raise OSError(code, os.strerror(code))

                handle.write = write  # type: ignore[method-assign]
        return handle


def test_a_full_disk_is_a_storage_failure_and_the_retry_resumes(
    request, app_config, origin, monkeypatch
):
    client = app_with(request, app_config)
    full = _FullDisk(allow=6)
    monkeypatch.setattr(hls_module, "open", full, raising=False)
    task_id = create(client, origin.url("long/index.m3u8"), threads=1).json["data"]["task_id"]
    done = ended(client, task_id)
    assert done["status"] == "failed"
    assert "the server's disk is full" in done["error_message"]
    assert origin.paths().count("/long/seg_006.ts") == 1  # not retried as a network error
    work, _results = task_dirs(request.getfixturevalue("app"), task_id)
    saved = json.loads((work / "checkpoint.json").read_text())["tracks"]["v"]
    assert saved["next"] + len(saved["done"]) == 6  # the checkpoint is kept for the retry
    monkeypatch.undo()
    origin.clear_log()
    assert client.post(f"/api/tasks/{task_id}/retry").status_code == 200
    again = ended(client, task_id)
    assert again["status"] == "completed", again["error_message"]
    fetched = sorted(int(p[-6:-3]) for p in origin.paths(suffix=".ts"))
    assert fetched == list(range(6, 24))  # only what the checkpoint lacked


def test_a_read_only_result_directory_is_named_and_keeps_the_checkpoint(
    request, app_config, origin, monkeypatch
):
    client = app_with(request, app_config)
    real_replace = os.replace

    def read_only(src, dst, *args, **kwargs):
        if str(dst).endswith("/index.mp4") or str(dst).endswith("/hi.mp4"):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", read_only)
    task_id = create(client, origin.url("hi/index.m3u8")).json["data"]["task_id"]
    done = ended(client, task_id)
    monkeypatch.undo()
    assert done["status"] == "failed"
    assert "the server's storage is read-only" in done["error_message"]
    work, results = task_dirs(request.getfixturevalue("app"), task_id)
    wait_for(lambda: not results.exists(), what="the partial result removed")
    assert (work / "checkpoint.json").exists()
    origin.clear_log()
    assert client.post(f"/api/tasks/{task_id}/retry").status_code == 200
    assert ended(client, task_id)["status"] == "completed"
    assert origin.paths(suffix=".ts") == []  # every segment came from the kept work files


# -- the CLI: what a local user legitimately sets ---------------------------------------------
def test_the_cli_user_is_not_held_to_the_visitor_floors(origin, tmp_path, monkeypatch, capsys):
    from mediacraft.cli import main

    monkeypatch.setenv("MEDIACRAFT_ALLOWED_NETWORKS", "127.0.0.1")
    out = tmp_path / "lo.mp4"
    code = main(["download", origin.url("src/lo.mp4"), "-o", str(out), "-q",
                 "--limit-rate", "128K", "--threads", "2"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert out.stat().st_size > 0
