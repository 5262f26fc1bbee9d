"""The output a user asks for: a time range (keyframe or exact cut) and the container."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from mediacraft.download import DownloadOptions, download
from mediacraft.download.options import parse_time
from mediacraft.exceptions import DownloadError, ValidationError
from tests.support.dash import DashMedia, build_dash
from tests.support.decode import decode_all
from tests.support.origin import Origin, package_hls
from tests.test_download_renditions import streams

ALLOW = ("127.0.0.1",)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> DashMedia:
    built = build_dash(tmp_path_factory.mktemp("output"))
    package_hls(built.source, built.root / "hls", 1.0)
    return built


@pytest.fixture
def origin(media: DashMedia):
    with Origin(media.root) as server:
        yield server


def get(origin: Origin, path: str, tmp_path: Path, **changes: object):
    options = DownloadOptions.from_dict({"retry_delay": 0.01, **changes})
    return download(origin.url(path), tmp_path / "out" / "video.mp4", options,
                    work_dir=tmp_path / "w", allowed_networks=ALLOW)  # fmt: skip


def container_name(path: Path) -> str:
    with av.open(str(path)) as container:
        return container.format.name


def test_a_time_range_fetches_only_the_segments_that_cover_it(origin, tmp_path):
    result = get(origin, "timeline/manifest.mpd", tmp_path, start=1.2, end="0:03")
    fetched = sorted(p.rsplit("-", 1)[1] for p in origin.paths(suffix=".m4s") if "chunk" in p)
    assert fetched == ["00002.m4s", "00002.m4s", "00003.m4s", "00003.m4s"]  # video + audio
    # stream copy from the keyframe at 1.0 s: about 1.8 s shown, nothing re-encoded
    assert abs(result.duration - 1.8) < 0.1
    assert [t["type"] for t in result.tracks] == ["video", "audio"]


def test_precise_cut_gives_exactly_the_frames_of_the_range(origin, tmp_path):
    result = get(origin, "timeline/manifest.mpd", tmp_path, start=1.2, end=3.0, precise_cut=True)
    assert decode_all(result.path)["video"] == 45  # 1.8 s at 25 fps
    assert abs(result.duration - 1.8) < 0.05


def test_a_time_range_on_hls_as_mp3(origin, tmp_path):
    result = get(origin, "hls/index.m3u8", tmp_path, start="00:00:02", container="mp3")
    assert result.path.suffix == ".mp3" and container_name(result.path) == "mp3"
    assert sorted(origin.paths(suffix=".ts")) == ["/hls/seg_002.ts", "/hls/seg_003.ts"]
    assert [(s[0], s[1]) for s in streams(result.path)] == [("audio", "mp3float")]
    assert abs(result.duration - 2.0) < 0.15


def test_audio_only_m4a_fetches_no_video_and_keeps_languages(origin, tmp_path):
    result = get(origin, "multi/manifest.mpd", tmp_path, container="m4a", audio_lang="all")
    assert result.path.suffix == ".m4a" and result.width is None
    assert [(s[0], s[2]) for s in streams(result.path)] == [("audio", "eng"), ("audio", "zho")]
    video_requests = [p for p in origin.paths() if "stream0" in p or "stream1" in p]
    assert video_requests == []  # streams 0 and 1 are the video representations


def test_mkv_container_by_stream_copy(origin, media, tmp_path):
    result = get(origin, "list/manifest.mpd", tmp_path, container="mkv")
    assert result.path.suffix == ".mkv" and container_name(result.path) == "matroska,webm"
    assert decode_all(result.path)["video"] == decode_all(media.source)["video"]


def test_a_direct_file_is_cut_too(origin, tmp_path):
    result = get(origin, "src/hi.mp4", tmp_path, start=1, end=2.5, precise_cut=True)
    assert decode_all(result.path)["video"] == 38  # the frames at 1.00, 1.04 ... 2.48 s


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"start": 5, "end": 2}, r"end \(2 s\) must be after start \(5 s\)"),
     ({"start": "1:99"}, "more than 59 seconds"),
     ({"end": "soon"}, "must be seconds or hh:mm:ss"),
     ({"container": "avi"}, "container 'avi' must be one of: mp4, mkv, m4a, mp3"),
     ({"precise_cut": "yes"}, "precise_cut must be true or false")],
)
def test_bad_output_options_are_refused(changes, message):
    with pytest.raises(ValidationError, match=message):
        DownloadOptions.from_dict(changes)


def test_an_end_past_the_duration_fails_before_fetching_media(origin, tmp_path):
    with pytest.raises(ValidationError, match=r"end \(60 s\) is past the video's duration"):
        get(origin, "timeline/manifest.mpd", tmp_path, end=60)
    assert origin.paths(suffix=".m4s") == []
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_audio_container_for_a_stream_without_audio(origin, media, tmp_path):
    text = (media.root / "timeline" / "manifest.mpd").read_text()
    start = text.index('<AdaptationSet id="1"')
    silent = text[:start] + text[text.index("</AdaptationSet>", start) + 16 :]
    url = origin.add_file("timeline/silent.mpd", silent.encode())
    with pytest.raises(DownloadError, match="no audio track to write as m4a"):
        download(url, tmp_path / "v.mp4", DownloadOptions(container="m4a"),
                 work_dir=tmp_path / "w", allowed_networks=ALLOW)  # fmt: skip
    assert not list(tmp_path.glob("v.*"))


def test_parse_time():
    assert parse_time("1:02:03") == 3723
    assert parse_time("2:30.5") == 150.5
    assert parse_time(12) == 12.0
    assert parse_time("") is None


def test_audio_only_from_an_hls_master_skips_the_video_variant(tmp_path):
    from tests.support.streams import build_renditions

    build_renditions(tmp_path / "rend")
    with Origin(tmp_path) as origin:
        result = get(origin, "rend/master.m3u8", tmp_path / "run", container="m4a",
                     audio_lang="zh")  # fmt: skip
        requested = origin.paths(suffix=".ts")
    assert result.path.suffix == ".m4a" and result.width is None
    assert [(s[0], s[2]) for s in streams(result.path)] == [("audio", "zho")]
    assert requested and all("/sChinese_" in p for p in requested)  # that rendition only
