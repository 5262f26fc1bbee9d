"""``mediacraft download`` and the ``download`` task processor."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest

from mediacraft.cli import main
from mediacraft.config import Config
from mediacraft.exceptions import BlockedAddress, Cancelled, DownloadError, ValidationError
from mediacraft.model import Task
from mediacraft.processors import JobContext, get_processor, load_processors
from mediacraft.progress import CancelToken, Progress
from tests.support.origin import HlsMedia, Origin, shared_media


@pytest.fixture(scope="session")
def hls_media(tmp_path_factory: pytest.TempPathFactory) -> HlsMedia:
    return shared_media(tmp_path_factory)  # type: ignore[return-value]


@pytest.fixture
def origin(hls_media: HlsMedia):
    with Origin(hls_media.root) as server:
        yield server


def test_cli_downloads_with_progress_bar(origin, tmp_path, capsys):
    out = tmp_path / "v.mp4"
    code = main([
        "download", origin.url("master.m3u8"), "-o", str(out), "--quality", "worst",
        "--profile", "fast", "--threads", "3", "--header", "Referer: https://example.invalid/",
        "--header", "Cookie: s=1", "--limit-rate", "50M", "--allow-network", "127.0.0.1",
    ])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert out.exists() and out.read_bytes()[4:8] == b"ftyp"
    # not a terminal: a plain line per event, nothing redrawn in place
    assert "\r" not in captured.err and "\x1b[" not in captured.err
    assert "downloading" in captured.err and "seg" in captured.err and "160x120" in captured.err
    assert all(e.headers.get("Referer") == "https://example.invalid/" for e in origin.log)
    assert not (tmp_path / ".v.mp4.download").exists()


def test_cli_failure_is_one_line_and_nonzero(origin, tmp_path, capsys):
    origin.add_fault("hi/seg_001.ts", "status", status=404)
    code = main([
        "download", origin.url("hi/index.m3u8"), "-o", str(tmp_path / "v.mp4"), "-q",
        "--allow-network", "127.0.0.1",
    ])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1
    # A 404 is retried once (a CDN may not have the segment yet), then it is permanent.
    assert err == "mediacraft: error: Segment 2 returned HTTP 404 after 2 attempts\n"


def test_cli_refuses_loopback_unless_allowed_by_env(origin, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("MEDIACRAFT_ALLOWED_NETWORKS", raising=False)
    url = origin.url("hi/index.m3u8")
    assert main(["download", url, "-o", str(tmp_path / "a.mp4"), "-q"]) == 1
    assert "Refused to fetch from 127.0.0.1" in capsys.readouterr().err
    assert origin.accepted == 0
    monkeypatch.setenv("MEDIACRAFT_ALLOWED_NETWORKS", "127.0.0.0/8")
    assert main(["download", url, "-o", str(tmp_path / "b.mp4"), "-q"]) == 0


def test_cli_rejects_bad_arguments(tmp_path, capsys):
    out = str(tmp_path / "a.mp4")
    assert main(["download", "http://127.0.0.1:9/x", "-o", out, "--header", "nocolon"]) == 1
    assert "--header" in capsys.readouterr().err
    assert main(["download", "http://127.0.0.1:9/x", "-o", out, "--limit-rate", "lots"]) == 1
    assert main(["download", "ftp://example.invalid/x", "-o", out]) == 1
    assert "Only http and https" in capsys.readouterr().err


# -- the task processor ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def processor():
    load_processors()
    return get_processor("download")


def make_task() -> Task:
    return Task.new(str(uuid.uuid4()), "download")


def test_processor_validates_create(processor):
    config = Config()
    assert processor.needs_upload is False
    bad_payloads = [
        {},
        {"url": "ftp://x/y"},
        {"url": "file:///etc/passwd"},
        {"url": 5},
        {"url": "http://a/b", "options": {"threads": 99}},
        {"url": "http://a/b", "options": "fast"},
        {"url": "http://a/b", "quality": "x"},
    ]
    for bad in bad_payloads:
        with pytest.raises(ValidationError):
            processor.validate_create(make_task(), bad, config)
    task = make_task()
    processor.validate_create(
        task,
        {"url": " https://cdn.example/show/ep1/index.m3u8 ", "quality": "720p",
         "options": {"profile": "fast", "headers": {"Referer": "https://example/"}}},
        config,
    )  # fmt: skip
    assert task.url == "https://cdn.example/show/ep1/index.m3u8"
    assert task.options["profile"] == "fast" and task.options["quality"] == "720p"
    assert task.options["headers"] == {"Referer": "https://example/"}
    assert task.name == "ep1"


def context(task: Task, tmp_path: Path, allowed: tuple[str, ...], reports: list, cancel=None):
    return JobContext(
        task=task,
        config=Config(allowed_networks=allowed, data_dir=tmp_path / "data"),
        upload_dir=tmp_path / "uploads",
        result_dir=tmp_path / "results",
        work_dir=tmp_path / "work",
        report=reports.append,
        cancel=cancel or CancelToken(),
    )


def test_processor_runs_a_download(processor, origin, tmp_path):
    task = make_task()
    processor.validate_create(
        task, {"url": origin.url("hi/index.m3u8")}, Config(allowed_networks=("127.0.0.1",))
    )
    reports: list[Progress] = []
    result = processor.run(context(task, tmp_path, ("127.0.0.1",), reports))
    assert result["file_name"] == "hi.mp4"
    assert (tmp_path / "results" / "hi.mp4").stat().st_size == result["size"]
    assert (result["width"], result["height"]) == (320, 240)
    assert abs(result["duration"] - 6.0) < 0.15
    assert [p.name for p in (tmp_path / "results").iterdir()] == ["hi.mp4"]
    assert any(r.segments_total == 6 for r in reports) and reports[-1].stage == "finished"


def test_processor_guard_uses_config_allowed_networks(processor, origin, tmp_path):
    task = make_task()
    processor.validate_create(
        task, {"url": origin.url("hi/index.m3u8")}, Config(allowed_networks=("127.0.0.1",))
    )
    with pytest.raises(BlockedAddress):
        processor.run(context(task, tmp_path, (), []))
    assert origin.accepted == 0


def test_processor_failure_message_and_cancel(processor, origin, tmp_path):
    task = make_task()
    processor.validate_create(
        task, {"url": origin.url("hi/index.m3u8"), "options": {"retries": 1, "retry_delay": 0}},
        Config(allowed_networks=("127.0.0.1",)),
    )  # fmt: skip
    origin.add_fault("hi/seg_004.ts", "status", status=503)
    with pytest.raises(DownloadError, match="^Segment 5 returned HTTP 503 after 2 attempts$"):
        processor.run(context(task, tmp_path / "a", ("127.0.0.1",), []))
    origin.clear_faults()
    origin.add_fault(lambda p: p.endswith(".ts"), "stall", after=100, seconds=30)
    token = CancelToken()
    timer = threading.Timer(0.5, token.cancel)
    timer.start()
    with pytest.raises(Cancelled):
        processor.run(context(task, tmp_path / "b", ("127.0.0.1",), [], token))
    timer.join()
    assert list((tmp_path / "b" / "work").iterdir()) == []
