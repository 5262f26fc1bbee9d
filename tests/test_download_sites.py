"""Links a yt-dlp site extractor claims: routed to extraction even when they are not HTML.

The site is on the loopback origin (tests/support/site.py): its watch links
answer JSON listing the formats, and a real ``InfoExtractor`` written for it
is registered through ``EXTRA_EXTRACTORS``. Its formats may be one muxed file,
a manifest, or a video-only and an audio-only stream the engine joins.
"""

from __future__ import annotations

import subprocess
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import av
import pytest

from mediacraft.cli import main
from mediacraft.download import DownloadLimits, DownloadOptions, download
from mediacraft.download.extract import _site_classes, site_extractor
from mediacraft.exceptions import DownloadError
from tests.support.dash import DashMedia, build_dash
from tests.support.media import FFMPEG
from tests.support.origin import Origin, frame_hashes, package_hls
from tests.support.results import finished
from tests.support.site import SITE_REFERER, SITE_USER_AGENT, add_video, registered

ALLOW = ("127.0.0.1",)
VIDEO_ONLY = {"vcodec": "avc1.42c00d", "acodec": "none", "width": 320, "height": 240}
AUDIO_ONLY = {"vcodec": "none", "acodec": "mp4a.40.2"}


def _split(source: Path, target: Path, stream: str) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-i", str(source),
                    "-map", f"0:{stream}", "-c", "copy", str(target)], check=True,
                   timeout=120)  # fmt: skip
    return target


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> DashMedia:
    built = build_dash(tmp_path_factory.mktemp("sites"))
    package_hls(built.source, built.root / "hls", 1.0)
    video = _split(built.source, built.root / "parts" / "video.mp4", "v")
    audio = _split(built.source, built.root / "parts" / "audio.m4a", "a")
    package_hls(video, built.root / "hls_v", 1.0)
    package_hls(audio, built.root / "hls_a", 1.0)
    return built


@pytest.fixture(scope="module")
def source_frames(media: DashMedia) -> list[str]:
    return frame_hashes(media.source)


@pytest.fixture
def origin(media: DashMedia) -> Iterator[Origin]:
    with registered(), Origin(media.root) as server:
        yield server


def get(url: str, tmp_path: Path, limits: DownloadLimits | None = None, **changes: object):
    values: dict[str, object] = {"retry_delay": 0.01, "retries": 1, **changes}
    return download(
        url, tmp_path / "out" / "video.mp4", DownloadOptions.from_profile("stable", **values),
        work_dir=tmp_path / "work", allowed_networks=ALLOW, limits=limits, choose_suffix=True,
    )  # fmt: skip


def stream_durations(path: Path) -> dict[str, float]:
    """Seconds each stream of a file covers (first to last packet end), by stream type."""
    spans: dict[str, list[float]] = {}
    with av.open(str(path)) as container:
        for packet in container.demux():
            if packet.pts is None or packet.stream.type not in ("video", "audio"):
                continue
            base = float(packet.time_base)
            start, end = packet.pts * base, (packet.pts + (packet.duration or 0)) * base
            span = spans.setdefault(packet.stream.type, [start, end])
            span[0], span[1] = min(span[0], start), max(span[1], end)
    return {kind: end - start for kind, (start, end) in spans.items()}


def counts(origin: Origin) -> Counter[str]:
    return Counter(origin.paths())


def test_a_site_link_answering_json_goes_to_its_extractor(origin, source_frames, tmp_path):
    url = add_video(
        origin, "clip1", "A muxed file", [{"kind": "file", "url": origin.url("src/hi.mp4")}]
    )
    result = get(url, tmp_path)
    assert result.page == {"title": "A muxed file", "extractor": "LoopbackSite"}
    assert result.kind == "direct"
    assert frame_hashes(result.path) == source_frames
    assert counts(origin)["/site/watch/clip1"] == 1  # asked by the extractor only


def test_a_site_link_to_hls_reads_the_json_and_the_manifest_once(origin, source_frames,
                                                                 tmp_path):  # fmt: skip
    url = add_video(origin, "clip2", "HLS", [{"kind": "hls", "url": origin.url("hls/index.m3u8")}])
    result = get(url, tmp_path)
    assert result.kind == "hls" and result.page and result.page["extractor"] == "LoopbackSite"
    assert frame_hashes(result.path) == source_frames
    seen = counts(origin)
    assert seen["/site/watch/clip2"] == 1
    assert seen["/hls/index.m3u8"] == 1  # yt-dlp's read, reused by the engine
    assert seen["/hls/seg_000.ts"] == 1


def test_without_all_extractors_the_site_link_is_not_a_video(origin, tmp_path):
    url = add_video(origin, "clip3", "x", [{"kind": "file", "url": origin.url("src/hi.mp4")}])
    assert site_extractor(url, "all") == "LoopbackSite"
    assert site_extractor(url, "generic") is None
    with pytest.raises(DownloadError, match="not a video"):
        get(url, tmp_path, replace(DownloadLimits(), extractors="generic"))
    assert origin.paths(suffix=".mp4") == []


def test_links_ending_like_media_skip_the_site_check(origin, source_frames, tmp_path):
    # the site's pattern would claim this path, but it ends like a file: the engine's
    url = origin.add_file("site/watch/direct.mp4", (origin.root / "src" / "hi.mp4").read_bytes())
    assert site_extractor(url, "all") is None
    result = get(url, tmp_path)
    assert result.page is None and result.kind == "direct"
    assert frame_hashes(result.path) == source_frames
    site_extractor(origin.url("watch?v=1"), "all")
    site_extractor(origin.url("watch?v=2"), "all")
    assert _site_classes.cache_info().misses == 1  # yt-dlp's classes loaded once


def test_yt_dlps_own_site_extractors_claim_their_links_by_url():
    assert site_extractor("https://www.youtube.com/watch?v=dQw4w9WgXcQ", "all") == "Youtube"
    assert site_extractor("https://youtu.be/dQw4w9WgXcQ", "all") == "Youtube"  # a short link
    assert site_extractor("https://vimeo.com/76979871", "all") == "Vimeo"
    assert site_extractor("https://cdn.example.com/download?id=1", "all") is None
    assert site_extractor("https://www.youtube.com/watch?v=dQw4w9WgXcQ", "off") is None


def test_a_separate_video_and_audio_file_are_joined(origin, media, source_frames, tmp_path):
    url = add_video(origin, "split", "Split", [
        {"kind": "file", "url": origin.url("parts/video.mp4"), **VIDEO_ONLY},
        {"kind": "file", "url": origin.url("parts/audio.m4a"), **AUDIO_ONLY},
    ])  # fmt: skip
    result = get(url, tmp_path)
    assert [t["type"] for t in result.tracks] == ["video", "audio"]
    assert frame_hashes(result.path) == source_frames
    spans = stream_durations(result.path)
    assert spans["video"] == pytest.approx(media.seconds, abs=0.05)
    assert spans["audio"] == pytest.approx(media.seconds, abs=0.1)
    assert counts(origin)["/parts/video.mp4"] == 1 and counts(origin)["/parts/audio.m4a"] == 1
    assert not list((tmp_path / "work").glob("page_part*"))


def test_separate_hls_video_and_audio_are_joined(origin, media, source_frames, tmp_path):
    url = add_video(origin, "split-hls", "Split HLS", [
        {"kind": "hls", "url": origin.url("hls_v/index.m3u8"), **VIDEO_ONLY},
        {"kind": "hls", "url": origin.url("hls_a/index.m3u8"), **AUDIO_ONLY},
    ])  # fmt: skip
    result = get(url, tmp_path)
    assert [t["type"] for t in result.tracks] == ["video", "audio"]
    assert frame_hashes(result.path) == source_frames
    spans = stream_durations(result.path)
    assert spans["video"] == pytest.approx(media.seconds, abs=0.05)
    assert spans["audio"] == pytest.approx(media.seconds, abs=0.15)
    seen = counts(origin)
    assert seen["/hls_v/index.m3u8"] == 1 and seen["/hls_a/index.m3u8"] == 1


def test_a_time_range_and_a_container_apply_to_the_joined_streams(origin, tmp_path):
    url = add_video(origin, "split-range", "Split range", [
        {"kind": "file", "url": origin.url("parts/video.mp4"), **VIDEO_ONLY},
        {"kind": "file", "url": origin.url("parts/audio.m4a"), **AUDIO_ONLY},
    ])  # fmt: skip
    result = get(url, tmp_path, start=1.0, end=3.0, container="mkv")
    assert result.path.suffix == ".mkv" and result.path.exists()
    assert not (tmp_path / "out" / "video.mp4").exists()
    with av.open(str(result.path)) as container:
        assert container.format.name.startswith("matroska")
    spans = stream_durations(result.path)
    assert set(spans) == {"video", "audio"}
    # cut at keyframes (one a second here): the range is two seconds, give or take a frame
    assert spans["video"] == pytest.approx(2.0, abs=0.1)
    assert spans["audio"] == pytest.approx(2.0, abs=0.1)
    origin.clear_log()
    audio = get(url, tmp_path / "m4a", container="m4a")
    assert audio.path.suffix == ".m4a" and audio.width is None
    assert stream_durations(audio.path)["audio"] == pytest.approx(4.0, abs=0.1)
    assert "/parts/video.mp4" not in counts(origin)  # audio only: the video is not fetched


def test_the_tasks_user_agent_and_referer_win_over_the_extractors(origin, tmp_path):
    url = add_video(origin, "ua", "UA", [{"kind": "hls", "url": origin.url("hls/index.m3u8")}])
    get(url, tmp_path, user_agent="Tester/3.0", referer="https://example.invalid/from")
    assert counts(origin)["/site/watch/ua"] == 1
    for entry in origin.log:
        assert entry.headers.get("User-Agent") == "Tester/3.0", entry.path
        assert entry.headers.get("Referer") == "https://example.invalid/from", entry.path
    origin.clear_log()
    get(url, tmp_path / "plain")  # without the task's own, the extractor's are what it sent
    first = origin.log[0]
    assert first.path == "/site/watch/ua"
    assert first.headers.get("User-Agent") == SITE_USER_AGENT
    assert first.headers.get("Referer") == SITE_REFERER


def test_a_site_link_in_a_task(client, origin, source_frames):
    url = add_video(origin, "task", "From the site", [
        {"kind": "file", "url": origin.url("parts/video.mp4"), **VIDEO_ONLY},
        {"kind": "file", "url": origin.url("parts/audio.m4a"), **AUDIO_ONLY},
    ])  # fmt: skip
    body = {"task_type": "download", "url": url, "name": "Site clip"}
    created = client.post("/api/tasks/create", json=body)
    assert created.status_code == 201, created.json
    task_id = created.json["data"]["task_id"]
    state = finished(client, task_id)
    assert state["status"] == "completed", state["error_message"]
    assert state["result"]["page"] == {"title": "From the site", "extractor": "LoopbackSite"}
    response = client.get(f"/api/tasks/{task_id}/download")
    data = response.get_data()
    response.close()
    assert response.status_code == 200 and data[4:8] == b"ftyp"
    assert counts(origin)["/site/watch/task"] == 1


def test_a_site_link_with_mediacraft_download(origin, source_frames, tmp_path, capsys):
    manifest = origin.url("timeline/manifest.mpd")
    url = add_video(origin, "cli", "CLI", [{"kind": "dash", "url": manifest}])
    out = tmp_path / "v.mp4"
    code = main(["download", url, "-o", str(out), "-q", "--allow-network", "127.0.0.1",
                 "--user-agent", "Cli/1.0"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert frame_hashes(out) == source_frames
    seen = counts(origin)
    assert seen["/site/watch/cli"] == 1 and seen["/timeline/manifest.mpd"] == 1
    assert {e.headers.get("User-Agent") for e in origin.log} == {"Cli/1.0"}
