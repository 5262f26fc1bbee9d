"""Live and EVENT playlists: recorded at the RFC cadence, stopped, gaps reported, resumed."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from mediacraft.download import DownloadLimits, DownloadOptions, download
from mediacraft.download.live import live_start
from mediacraft.download.playlist import media_playlist, parse
from mediacraft.exceptions import Interrupted, ValidationError
from mediacraft.progress import CancelToken, Progress
from tests.support.origin import Origin, frame_hashes
from tests.support.streams import LiveFeed, build_live_source
from tests.support.waiting import wait_for

ALLOW = ("127.0.0.1",)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_live_source(tmp_path_factory.mktemp("live"), seconds=30, segment=0.5)


@pytest.fixture(scope="module")
def source_frames(source: Path) -> list[str]:
    return frame_hashes(source.parent.parent / "live_src.mp4")


@pytest.fixture
def origin(source: Path):
    with Origin(source.parent.parent) as server:
        yield server


def feed(origin: Origin, source: Path, **kw: object) -> LiveFeed:
    return LiveFeed.from_vod(origin, source, "live/live.m3u8", **kw)


def options(**changes: object) -> DownloadOptions:
    return DownloadOptions.from_profile("stable", retry_delay=0.01, threads=2, **changes)


def record(origin: Origin, tmp_path: Path, opts: DownloadOptions, **kw: object):
    return download(
        origin.url("live/live.m3u8"), tmp_path / "rec.mp4", opts, work_dir=tmp_path / "w",
        allowed_networks=ALLOW, **kw,
    )  # fmt: skip


def contiguous_in(frames: list[str], reference: list[str]) -> int:
    """Where ``frames`` sits in ``reference`` as one unbroken run (or fail)."""
    start = reference.index(frames[0])
    assert reference[start : start + len(frames)] == frames
    return start


def test_live_link_without_record_seconds_is_refused_naming_the_option(origin, source, tmp_path):
    feed(origin, source)
    with pytest.raises(ValidationError, match=r"live stream.*record_seconds \(at most 600\)"):
        record(origin, tmp_path, options(), limits=DownloadLimits(max_record_seconds=600))
    assert origin.paths(suffix=".ts") == []  # no short clip passed off as the video


def test_recording_follows_the_live_edge_for_the_asked_length(
    origin, source, source_frames, tmp_path
):
    live = feed(origin, source, window=4, initial=6)
    reports: list[Progress] = []
    began = time.monotonic()
    result = record(origin, tmp_path, options(record_seconds=4), progress=reports.append)
    elapsed = time.monotonic() - began
    assert result.live["recorded_seconds"] >= 4.0
    assert result.live["ended_by"] == "recorded the 4 s asked for"
    assert 4.0 <= result.duration < 4.6
    frames = frame_hashes(result.path)
    start = contiguous_in(frames, source_frames)
    assert start == 2 * 10  # seq 2: the first of the window (3 target durations from its end)
    assert result.gaps == []
    # The window held 2 s; the other 2 s came from reloads. RFC 8216 §6.3.4: a reload every
    # target duration (1 s) while the playlist changes, never sooner than half of it.
    assert live.requests >= 3
    assert live.requests <= 2 + elapsed / 0.5
    live_reports = [r for r in reports if r.live]
    assert live_reports and live_reports[-1].record_seconds == 4
    assert any(0 < (r.recorded_seconds or 0) < 4 for r in live_reports)


def test_event_playlist_is_recorded_until_its_endlist(origin, source, tmp_path):
    live = feed(origin, source, kind="event", initial=4)
    timer = threading.Timer(1.2, live.end)
    timer.start()
    result = record(origin, tmp_path, options(record_seconds=120))
    timer.join()
    assert result.live["ended_by"] == "the stream ended (EXT-X-ENDLIST)"
    # From three target durations before the edge up to what was published at the end.
    assert 2.5 <= result.live["recorded_seconds"] <= 6.0


def test_segments_lost_in_an_outage_are_reported_as_a_gap(origin, source, tmp_path):
    live = feed(origin, source, window=3, initial=6)
    reports: list[Progress] = []

    def hook(progress: Progress) -> None:
        reports.append(progress)
        if (progress.recorded_seconds or 0) >= 1.0 and not live.down_until:
            live.outage(2.5)  # the window (1.5 s) moves on while the playlist answers 503

    result = record(origin, tmp_path, options(record_seconds=4), progress=hook)
    assert len(result.gaps) == 1
    gap = result.gaps[0]
    assert gap["cause"] == "during an outage" and gap["segments"] >= 1
    assert gap["at"] >= 1.0 and gap["track"] == "main"
    assert result.live["recorded_seconds"] >= 4.0  # the recording went on after the gap


def test_stop_ends_the_recording_and_keeps_it(origin, source, source_frames, tmp_path):
    feed(origin, source, initial=6)
    token = CancelToken()

    def hook(progress: Progress) -> None:
        if (progress.recorded_seconds or 0) >= 1.5:
            token.finish()

    result = record(origin, tmp_path, options(record_seconds=300), progress=hook, cancel=token)
    assert result.live["ended_by"] == "stopped at your request"
    assert 1.5 <= result.live["recorded_seconds"] < 4.0
    contiguous_in(frame_hashes(result.path), source_frames)


def test_recording_resumes_after_a_restart_and_reports_the_gap(origin, source, tmp_path):
    live = feed(origin, source, window=3, initial=6)
    token = CancelToken()

    def hook(progress: Progress) -> None:
        if (progress.recorded_seconds or 0) >= 1.0:
            token.interrupt()

    with pytest.raises(Interrupted):
        record(origin, tmp_path, options(record_seconds=3), progress=hook, cancel=token)
    stopped_at = live.published()
    wait_for(lambda: live.published() >= stopped_at + 5, timeout=20, what="the window to move")
    result = record(origin, tmp_path, options(record_seconds=3))
    assert [g["cause"] for g in result.gaps] == ["while the server was restarting"]
    assert result.gaps[0]["segments"] >= 1 and result.gaps[0]["at"] >= 1.0
    assert result.live["recorded_seconds"] >= 3.0
    assert 3.0 <= result.duration < 3.8


def test_live_start_is_three_target_durations_from_the_end():
    lines = ["#EXTM3U", "#EXT-X-TARGETDURATION:2", "#EXT-X-MEDIA-SEQUENCE:10"]
    for number in range(6):
        lines += ["#EXTINF:2.0,", f"s{number}.ts"]
    playlist = media_playlist(parse("\n".join(lines), "http://h/l.m3u8"), "http://h/l.m3u8", 100)
    assert playlist.live and live_start(playlist) == 3  # 6 s before the end
