"""Direct-file downloads: streaming, Range resume, several connections, remux of non-MP4."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import pytest

from mediacraft.download import DownloadOptions, download
from mediacraft.download.fetch import RateLimiter, Stopped
from mediacraft.download.options import parse_rate
from mediacraft.exceptions import DownloadError, Interrupted, ValidationError
from mediacraft.progress import CancelToken, Progress
from tests.support.origin import HlsMedia, Origin, frame_hashes, shared_media

ALLOW = ("127.0.0.1",)


@pytest.fixture(scope="session")
def hls_media(tmp_path_factory: pytest.TempPathFactory) -> HlsMedia:
    return shared_media(tmp_path_factory)  # type: ignore[return-value]


@pytest.fixture
def origin(hls_media: HlsMedia):
    with Origin(hls_media.root) as server:
        yield server


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fast(**changes: object) -> DownloadOptions:
    return DownloadOptions.from_profile("stable", retry_delay=0.01, stall_timeout=1.0, **changes)


def test_direct_mp4_is_kept_byte_for_byte(origin, hls_media, tmp_path):
    source = hls_media.root / "src" / "hi.mp4"
    reports: list[Progress] = []
    result = download(
        origin.url("src/hi.mp4"), tmp_path / "o.mp4", fast(), work_dir=tmp_path / "w",
        allowed_networks=ALLOW, progress=reports.append,
    )  # fmt: skip
    assert result.kind == "direct" and sha(result.path) == sha(source)
    assert (result.width, result.height) == (320, 240)
    assert reports[-1].bytes_total == source.stat().st_size
    assert not list((tmp_path / "w").iterdir())


def test_direct_transport_stream_is_remuxed_to_mp4(origin, hls_media, tmp_path):
    result = download(
        origin.url("byterange/all.ts"), tmp_path / "o.mp4", fast(), work_dir=tmp_path / "w",
        allowed_networks=ALLOW,
    )  # fmt: skip
    assert result.path.read_bytes()[4:8] == b"ftyp"
    assert frame_hashes(result.path) == frame_hashes(hls_media.root / "src" / "hi.mp4")


def test_large_file_split_over_several_connections(origin, hls_media, tmp_path):
    source = hls_media.root / "src" / "hi.mp4"
    options = fast(connections=4, split_threshold=64 * 1024)
    result = download(
        origin.url("src/hi.mp4"), tmp_path / "o.mp4", options, work_dir=tmp_path / "w",
        allowed_networks=ALLOW,
    )  # fmt: skip
    assert sha(result.path) == sha(source)
    requests = [e for e in origin.log if e.path == "/src/hi.mp4"]
    # The first answer (it told a file from a playlist) is read on as the first part.
    assert len(requests) == 4 and requests[0].range is None
    starts = sorted(int(e.range[6:].split("-")[0]) for e in requests[1:])
    step = -(-source.stat().st_size // 4)
    assert starts == [step, 2 * step, 3 * step]


def test_failed_download_resumes_with_range_and_is_identical(origin, hls_media, tmp_path):
    source = hls_media.root / "src" / "hi.mp4"
    origin.add_fault("src/hi.mp4", "reset", after=300_000)
    options = fast(retries=0, chunk_size=16 * 1024)
    with pytest.raises(DownloadError, match="The file .*reset"):
        download(
            origin.url("src/hi.mp4"), tmp_path / "o.mp4", options, work_dir=tmp_path / "w",
            allowed_networks=ALLOW,
        )  # fmt: skip
    state = json.loads((tmp_path / "w" / "checkpoint.json").read_text())
    assert 0 < state["parts"][0][2] <= 300_000
    origin.clear_faults()
    origin.clear_log()
    result = download(
        origin.url("src/hi.mp4"), tmp_path / "o.mp4", options, work_dir=tmp_path / "w",
        allowed_networks=ALLOW,
    )  # fmt: skip
    assert sha(result.path) == sha(source)
    resumed = [e.range for e in origin.log if e.range]
    assert resumed == [f"bytes={state['parts'][0][2]}-{source.stat().st_size - 1}"]


def test_interrupt_keeps_checkpoint_and_resume_is_identical(origin, hls_media, tmp_path):
    source = hls_media.root / "src" / "hi.mp4"
    origin.bandwidth = 400_000  # ~1.5 s for the file
    token = CancelToken()

    def hook(progress: Progress) -> None:
        if progress.bytes_done > 150_000:
            token.interrupt()

    options = fast(chunk_size=16 * 1024)
    with pytest.raises(Interrupted):
        download(
            origin.url("src/hi.mp4"), tmp_path / "o.mp4", options, work_dir=tmp_path / "w",
            allowed_networks=ALLOW, progress=hook, cancel=token,
        )  # fmt: skip
    assert (tmp_path / "w" / "checkpoint.json").exists()
    origin.bandwidth = None
    origin.clear_log()
    result = download(
        origin.url("src/hi.mp4"), tmp_path / "o.mp4", options, work_dir=tmp_path / "w",
        allowed_networks=ALLOW,
    )  # fmt: skip
    assert sha(result.path) == sha(source)
    first = [e.range for e in origin.log if e.path == "/src/hi.mp4" and e.range]
    assert first and not first[0].startswith("bytes=0-")


def test_changed_file_starts_over(origin, hls_media, tmp_path):
    data = (hls_media.root / "src" / "hi.mp4").read_bytes()
    origin.add_file("v.mp4", data)
    # The origin closes after 200 kB of a longer body (the client surely has those bytes;
    # after a TCP reset the kernel may drop what the client had not read yet).
    origin.add_fault("v.mp4", "truncate", after=200_000, times=1)
    with pytest.raises(DownloadError, match=r"The file was cut off \(got 200000 of"):
        download(
            origin.url("v.mp4"), tmp_path / "o.mp4", fast(retries=0), work_dir=tmp_path / "w",
            allowed_networks=ALLOW,
        )  # fmt: skip
    state = json.loads((tmp_path / "w" / "checkpoint.json").read_text())
    assert state["parts"][0][2] == 200_000  # the first download got that far, then failed
    assert [e.range for e in origin.log] == [None]  # one request: no separate "peek"
    changed = (hls_media.root / "src" / "lo.mp4").read_bytes()
    origin.add_file("v.mp4", changed)
    origin.clear_log()
    result = download(
        origin.url("v.mp4"), tmp_path / "o.mp4", fast(), work_dir=tmp_path / "w",
        allowed_networks=ALLOW,
    )  # fmt: skip
    assert result.path.read_bytes() == changed
    assert [e.range for e in origin.log] == [None]  # started over, not resumed with Range


def test_rate_limiter_and_rate_parsing():
    assert parse_rate("2M") == 2 * 1024 * 1024
    assert parse_rate("500K") == 500 * 1024
    assert parse_rate("1.5m") == int(1.5 * 1024 * 1024)
    assert parse_rate(None) is None
    with pytest.raises(ValidationError):
        parse_rate("fast")
    limiter = RateLimiter(1_000_000, burst_seconds=0.0)
    stop = threading.Event()
    stop.set()  # a wait that is asked to stop raises at once
    limiter.consume(10, threading.Event())
    with pytest.raises(Stopped):
        limiter.consume(10_000_000, stop)


def test_options_profiles_and_validation():
    fast_profile = DownloadOptions.from_profile("fast")
    assert (fast_profile.threads, fast_profile.retries, fast_profile.retry_delay) == (16, 1, 0.5)
    stable = DownloadOptions()
    assert (stable.threads, stable.retries, stable.retry_delay) == (8, 5, 2.0)
    low = DownloadOptions.from_profile("low_bandwidth")
    assert low.threads == 2 and low.retries == 3 and low.chunk_size < stable.chunk_size
    custom = DownloadOptions.from_dict({"profile": "fast", "threads": 4, "limit_rate": "1M"})
    assert custom.threads == 4 and custom.retries == 1 and custom.limit_rate == 1024 * 1024
    for bad in ({"threads": 0}, {"quality": "ultra"}, {"profile": "x"}, {"headers": {"A\n": "b"}},
                {"bogus": 1}, {"retries": "many"}):  # fmt: skip
        with pytest.raises(ValidationError):
            DownloadOptions.from_dict(bad)
