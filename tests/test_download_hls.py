"""HLS downloads against a real loopback origin, with real ffmpeg-made media."""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

import m3u8
import pytest

from mediacraft.download import DownloadLimits, DownloadOptions, download
from mediacraft.download.fetch import MAX_RETRY_AFTER, retry_after_seconds
from mediacraft.download.renditions import choose_variant, variants_of
from mediacraft.exceptions import DownloadError
from mediacraft.progress import Progress
from tests.support.origin import HlsMedia, Origin, frame_hashes, shared_media

ALLOW = ("127.0.0.1",)


@pytest.fixture(scope="session")
def hls_media(tmp_path_factory: pytest.TempPathFactory) -> HlsMedia:
    return shared_media(tmp_path_factory)  # type: ignore[return-value]


@pytest.fixture(scope="session")
def source_frames(hls_media: HlsMedia) -> list[str]:
    return frame_hashes(hls_media.root / "src" / "hi.mp4")


@pytest.fixture
def origin(hls_media: HlsMedia):
    with Origin(hls_media.root) as server:
        yield server


def fast(**changes: object) -> DownloadOptions:
    """Stable profile with test-sized waits."""
    values = {"retry_delay": 0.01, "stall_timeout": 1.0, **changes}
    return DownloadOptions.from_profile("stable", **values)


def get(origin: Origin, path: str, tmp_path: Path, options: DownloadOptions | None = None, **kw):
    out = tmp_path / "out" / "video.mp4"
    result = download(
        origin.url(path),
        out,
        options or fast(),
        work_dir=tmp_path / "work",
        allowed_networks=ALLOW,
        **kw,
    )
    return result


def top_level_boxes(path: Path) -> list[str]:
    boxes = []
    with open(path, "rb") as handle:
        while header := handle.read(8):
            size, kind = struct.unpack(">I4s", header)
            if size == 1:
                size = struct.unpack(">Q", handle.read(8))[0] - 8
            boxes.append(kind.decode("latin-1"))
            handle.seek(size - 8, 1)
    return boxes


def test_master_best_is_highest_variant_and_output_is_faststart_mp4(origin, hls_media, tmp_path):
    result = get(origin, "master.m3u8", tmp_path)
    assert (result.width, result.height) == (320, 240)
    assert result.kind == "hls" and result.segments == 6
    assert abs(result.duration - hls_media.playlist_duration("master.m3u8")) < 0.15
    boxes = top_level_boxes(result.path)
    assert boxes[0] == "ftyp" and boxes.index("moov") < boxes.index("mdat")  # faststart
    assert origin.paths(prefix="lo/") == []
    assert not list((tmp_path / "work").iterdir())  # work files cleaned up


def test_master_worst_and_height_pick_the_small_variant(origin, tmp_path):
    worst = get(origin, "master.m3u8", tmp_path / "a", fast(quality="worst"))
    assert (worst.width, worst.height) == (160, 120)
    by_height = get(origin, "master.m3u8", tmp_path / "b", fast(quality="120p"))
    assert by_height.height == 120
    assert origin.paths(prefix="hi/") == []


def test_choose_variant_by_quality():
    master = m3u8.loads(
        "#EXTM3U\n"
        "#EXT-X-STREAM-INF:BANDWIDTH=500000,RESOLUTION=640x360\nlow.m3u8\n"
        "#EXT-X-STREAM-INF:BANDWIDTH=2500000,RESOLUTION=1280x720\nmid.m3u8\n"
        "#EXT-X-STREAM-INF:BANDWIDTH=6000000,RESOLUTION=1920x1080\nhigh.m3u8\n",
        uri="http://example.invalid/master.m3u8",
    )
    variants = variants_of(master, "http://example.invalid/master.m3u8")
    pick = lambda q: choose_variant(variants, q).url.rsplit("/", 1)[1]  # noqa: E731
    assert pick("best") == "high.m3u8"
    assert pick("worst") == "low.m3u8"
    assert pick("720p") == "mid.m3u8"
    assert pick("1000p") == "mid.m3u8"
    assert pick("2160p") == "high.m3u8"
    assert pick("240p") == "low.m3u8"  # nothing small enough: the smallest
    assert pick("3000000") == "mid.m3u8"  # highest bandwidth not above the figure
    assert pick("100") == "low.m3u8"


@pytest.mark.parametrize(
    "playlist",
    ["hi/index.m3u8", "aes/index.m3u8", "aes_seq/index.m3u8", "byterange/index.m3u8"],
)
def test_flavours_give_the_source_pictures_and_playlist_duration(
    origin, hls_media, source_frames, tmp_path, playlist
):
    result = get(origin, playlist, tmp_path)
    assert abs(result.duration - hls_media.playlist_duration(playlist)) < 0.15
    assert frame_hashes(result.path) == source_frames
    if playlist.startswith("aes"):
        assert origin.paths(suffix=".key") == ["/keys/k.key"]  # fetched once, cached
    if playlist.startswith("byterange"):
        ranges = [e.range for e in origin.log if e.path.endswith("all.ts")]
        assert len(ranges) == 6 and all(r and r.startswith("bytes=") for r in ranges)


def test_fmp4_with_ext_x_map(origin, hls_media, source_frames, tmp_path):
    result = get(origin, "fmp4/index.m3u8", tmp_path)
    assert abs(result.duration - hls_media.playlist_duration("fmp4/index.m3u8")) < 0.15
    assert frame_hashes(result.path) == source_frames
    assert origin.paths(suffix="init.mp4") == ["/fmp4/init.mp4"]


def test_discontinuity_joins_both_clips(origin, hls_media, tmp_path):
    result = get(origin, "disc/index.m3u8", tmp_path)
    expected = hls_media.playlist_duration("disc/index.m3u8")
    assert expected == pytest.approx(8.0, abs=0.2)
    assert abs(result.duration - expected) < 0.2
    extra = frame_hashes(hls_media.root / "src" / "extra.mp4")
    hi = frame_hashes(hls_media.root / "src" / "hi.mp4")
    assert frame_hashes(result.path) == hi + extra


def test_segments_fetched_concurrently_and_assembled_in_order(origin, source_frames, tmp_path):
    origin.latency = 0.15
    # The first segments answer last: assembly must still follow playlist order.
    origin.add_fault("hi/seg_000.ts", "delay", seconds=0.6)
    origin.add_fault("hi/seg_001.ts", "delay", seconds=0.4)
    result = get(origin, "hi/index.m3u8", tmp_path, fast(threads=6))
    assert origin.max_in_flight >= 4
    assert frame_hashes(result.path) == source_frames


def test_retries_on_503_reset_truncation_and_stall(origin, source_frames, tmp_path):
    origin.add_fault("hi/seg_001.ts", "status", status=503, times=2)
    origin.add_fault("hi/seg_002.ts", "reset", after=5000, times=1)
    origin.add_fault("hi/seg_003.ts", "truncate", after=7000, times=1)
    origin.add_fault("hi/seg_004.ts", "stall", after=3000, seconds=20, times=1)
    origin.add_fault("hi/seg_005.ts", "status", status=429, times=1)
    origin.add_fault("hi/index.m3u8", "status", status=500, times=1)
    result = get(origin, "hi/index.m3u8", tmp_path, fast(stall_timeout=0.5))
    assert frame_hashes(result.path) == source_frames
    counts = {p: origin.paths().count(p) for p in set(origin.paths())}
    assert counts["/hi/seg_001.ts"] == 3
    assert counts["/hi/seg_002.ts"] == counts["/hi/seg_003.ts"] == counts["/hi/seg_004.ts"] == 2
    assert counts["/hi/seg_000.ts"] == 1


def test_client_error_fails_fast_naming_segment_and_status(origin, tmp_path):
    origin.add_fault("hi/seg_003.ts", "status", status=401)
    with pytest.raises(DownloadError) as info:
        get(origin, "hi/index.m3u8", tmp_path)
    assert str(info.value) == "Segment 4 returned HTTP 401 after 1 attempt"
    assert origin.paths().count("/hi/seg_003.ts") == 1
    assert not (tmp_path / "out" / "video.mp4").exists()


def test_forbidden_segment_refetches_the_playlist_once_then_fails_saying_why(origin, tmp_path):
    origin.add_fault("hi/seg_003.ts", "status", status=403)
    with pytest.raises(DownloadError) as info:
        get(origin, "hi/index.m3u8", tmp_path)
    assert str(info.value).startswith("Segment 4 returned HTTP 403 even with fresh links")
    assert "expired" in str(info.value)
    assert origin.paths().count("/hi/seg_003.ts") == 2
    assert origin.paths().count("/hi/index.m3u8") == 2


def test_segment_404_is_retried_once_before_it_counts(origin, source_frames, tmp_path):
    origin.add_fault("hi/seg_002.ts", "status", status=404, times=1)
    result = get(origin, "hi/index.m3u8", tmp_path, fast(retries=0))
    assert frame_hashes(result.path) == source_frames
    assert origin.paths().count("/hi/seg_002.ts") == 2
    origin.clear_log()
    origin.add_fault("hi/seg_004.ts", "status", status=404)
    with pytest.raises(DownloadError, match=r"^Segment 5 returned HTTP 404 after 2 attempts"):
        get(origin, "hi/index.m3u8", tmp_path / "b", fast(retries=3))
    assert origin.paths().count("/hi/seg_004.ts") == 2


def test_segment_that_always_fails_names_segment_status_and_attempts(origin, tmp_path):
    origin.add_fault("hi/seg_002.ts", "status", status=503)
    with pytest.raises(DownloadError) as info:
        get(origin, "hi/index.m3u8", tmp_path, fast(retries=3))
    assert str(info.value) == "Segment 3 returned HTTP 503 after 4 attempts"
    assert origin.paths().count("/hi/seg_002.ts") == 8  # two rounds of four attempts


def test_a_segment_that_runs_out_of_attempts_gets_a_second_round(origin, source_frames, tmp_path):
    origin.add_fault("hi/seg_004.ts", "status", status=503, times=3)
    logged: list[str] = []
    result = get(origin, "hi/index.m3u8", tmp_path, fast(retries=1), log=logged.append)
    assert frame_hashes(result.path) == source_frames
    assert origin.paths().count("/hi/seg_004.ts") == 4
    assert "Segment 5 returned HTTP 503 after 2 attempts: trying it once more from the start" in (
        logged
    )


def test_stall_message_when_retries_run_out(origin, tmp_path):
    origin.add_fault("hi/seg_001.ts", "stall", after=100, seconds=20)
    with pytest.raises(DownloadError, match=r"^Segment 2 stalled \(no data for 0.3 s\) after 2"):
        get(origin, "hi/index.m3u8", tmp_path, fast(retries=1, stall_timeout=0.3))


def test_playlist_404_is_reported(origin, tmp_path):
    with pytest.raises(DownloadError, match="The URL returned HTTP 404 after 1 attempt"):
        get(origin, "nope/index.m3u8", tmp_path)


def test_remux_is_deterministic(origin, tmp_path):
    first = get(origin, "hi/index.m3u8", tmp_path / "a")
    second = get(origin, "hi/index.m3u8", tmp_path / "b", fast(threads=1))
    digest = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()  # noqa: E731
    assert digest(first.path) == digest(second.path)


def test_progress_reports_segments_bytes_speed_and_eta(origin, tmp_path):
    origin.latency = 0.1
    reports: list[Progress] = []
    get(origin, "hi/index.m3u8", tmp_path, fast(threads=2), progress=reports.append)
    downloading = [r for r in reports if r.stage == "downloading"]
    assert downloading and all(r.segments_total == 6 for r in downloading)
    assert any(r.speed and r.speed > 0 and r.eta is not None for r in downloading)
    assert any(0 < (r.segments_done or 0) < 6 for r in downloading)
    assert max(r.bytes_done for r in downloading) > 100_000
    final = reports[-1]
    assert final.stage == "finished" and final.percent == 100.0
    assert final.segments_done == 6 and final.bytes_total and final.bytes_total > 0


def test_custom_headers_reach_every_request(origin, tmp_path):
    headers = {"Referer": "https://example.invalid/page", "User-Agent": "Tester/1", "Cookie": "a=b"}
    get(origin, "aes/index.m3u8", tmp_path, fast(headers=headers))
    assert origin.log
    for entry in origin.log:
        assert entry.headers.get("Referer") == headers["Referer"]
        assert entry.headers.get("User-Agent") == "Tester/1"
        assert entry.headers.get("Cookie") == "a=b"


def test_playlist_size_and_segment_caps_are_the_servers(origin, tmp_path):
    with pytest.raises(DownloadError, match="6 segments; the server's limit is 3"):
        get(origin, "hi/index.m3u8", tmp_path / "a", limits=DownloadLimits(max_segments=3))
    big = "#EXTM3U\n" + "#EXT-X-VERSION:3\n" * 5000
    origin.add_file("big.m3u8", big.encode())
    with pytest.raises(DownloadError, match="larger than the 16 KiB limit"):
        get(origin, "big.m3u8", tmp_path / "b", limits=DownloadLimits(max_playlist_bytes=16384))
    with pytest.raises(DownloadError, match="server's size limit"):
        get(origin, "hi/index.m3u8", tmp_path / "c", limits=DownloadLimits(max_total_bytes=200_000))


def test_retry_after_is_honoured_and_bounded(origin, source_frames, tmp_path):
    origin.add_fault("hi/seg_001.ts", "status", status=503, times=1,
                     headers={"Retry-After": "1"})  # fmt: skip
    logged: list[str] = []
    result = get(origin, "hi/index.m3u8", tmp_path, log=logged.append)
    assert frame_hashes(result.path) == source_frames
    assert "Segment 2 returned HTTP 503 (attempt 1 of 6); retrying in 1.0 s" in logged
    assert retry_after_seconds("3600") == MAX_RETRY_AFTER == 60.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert retry_after_seconds("soon") == 0.0


def test_slow_first_byte_is_waited_for_but_a_stall_is_not(origin, source_frames, tmp_path):
    # A packager that builds the segment on demand answers after 1.5 s: not a stall.
    origin.add_fault("hi/seg_002.ts", "delay", seconds=1.5, times=1)
    options = fast(stall_timeout=0.5, first_byte_timeout=5)
    result = get(origin, "hi/index.m3u8", tmp_path / "a", options)
    assert frame_hashes(result.path) == source_frames
    assert origin.paths().count("/hi/seg_002.ts") == 1
    origin.add_fault("hi/seg_003.ts", "delay", seconds=3, times=5)
    with pytest.raises(DownloadError, match=r"^Segment 4 did not answer within 0.5 s after 2"):
        get(origin, "hi/index.m3u8", tmp_path / "b", fast(retries=1, first_byte_timeout=0.5))


def test_too_little_room_for_the_index_falls_back_to_a_faststart_pass(
    origin, source_frames, tmp_path, monkeypatch
):
    from mediacraft.media import output

    monkeypatch.setattr(output, "MOOV_BYTES_PER_SECOND", 1)
    monkeypatch.setattr(output, "MOOV_BASE", 64)
    logged: list[str] = []
    result = get(origin, "hi/index.m3u8", tmp_path, log=logged.append)
    assert frame_hashes(result.path) == source_frames
    boxes = top_level_boxes(result.path)
    assert boxes[0] == "ftyp" and boxes.index("moov") < boxes.index("mdat")
    assert any("needed more room than reserved" in line for line in logged)


def test_the_index_is_written_in_reserved_room_without_a_second_pass(origin, tmp_path):
    result = get(origin, "hi/index.m3u8", tmp_path)
    boxes = top_level_boxes(result.path)
    assert boxes[:3] == ["ftyp", "moov", "free"] and "mdat" in boxes
