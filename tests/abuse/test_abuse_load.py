"""Abuse suite, load: under gunicorn, 100 visitors polling every 250 ms while 20 downloads
run (10 at a time) and 50 event streams are open — no request fails, every download
completes, the limits hold. Latency and memory are measured by benchmarks/load_bench.py."""

from __future__ import annotations

from pathlib import Path

from tests.support.load import Load
from tests.support.media import make_video
from tests.support.origin import Origin
from tests.support.server import AppServer


def test_no_request_fails_under_load(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "video.mp4", seconds=4, size="320x240")
    with Origin() as origin:
        origin.bandwidth = 2 * 1024 * 1024  # bytes/s for all downloads: they overlap
        url = origin.add_file("video.mp4", clip.read_bytes())
        data = tmp_path / "data"
        settings = {"max_concurrent_tasks": 10, "max_tasks_per_user": 1}
        with AppServer(data, workers=2, **settings) as server:
            assert server.proc is not None
            load = Load(server.url, data, url, visitors=100, downloads=20, streams=50,
                        min_seconds=4, max_seconds=180, server_pid=server.proc.pid)  # fmt: skip
            report = load.run()
    summary = report.summary()
    assert report.failed == 0, summary
    assert report.requests > 1000, summary  # the load really ran
    assert report.downloads_completed == 20, summary
    assert 2 <= report.peak_processing <= 10 and report.peak_processing_per_user == 1, summary
    assert report.streams_open + report.streams_refused == 50, summary
    assert report.streams_open >= 40 and report.stream_events > 0, summary
