"""Web pages: yt-dlp's extractors find the video, the engine downloads it, the guard sees all."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from mediacraft.download import DownloadLimits, DownloadOptions, download
from mediacraft.download.extract import _Guard, _handler_class, _ydl_class, format_spec
from mediacraft.exceptions import BlockedAddress, Cancelled, DownloadError
from mediacraft.progress import CancelToken
from tests.support.dash import DashMedia, build_dash
from tests.support.origin import Origin, frame_hashes, package_hls

ALLOW = ("127.0.0.1",)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> DashMedia:
    built = build_dash(tmp_path_factory.mktemp("pages"))
    package_hls(built.source, built.root / "hls", 1.0)
    return built


@pytest.fixture(scope="module")
def source_frames(media: DashMedia) -> list[str]:
    return frame_hashes(media.source)


@pytest.fixture
def origin(media: DashMedia):
    with Origin(media.root) as server:
        yield server


def page(origin: Origin, name: str, head: str = "", body: str = "") -> str:
    html = (f"<!doctype html><html><head><title>{name}</title>{head}</head>"
            f"<body>{body}</body></html>")  # fmt: skip
    return origin.add_file(f"pages/{name}.html", html.encode())


def fetch(url: str, tmp_path: Path, limits: DownloadLimits | None = None, **kwargs: object):
    return download(
        url, tmp_path / "out" / "video.mp4",
        DownloadOptions.from_profile("stable", retry_delay=0.01, retries=1),
        work_dir=tmp_path / "work", allowed_networks=ALLOW, limits=limits, **kwargs,
    )  # fmt: skip


def json_ld(url: str) -> str:
    data = {"@context": "https://schema.org", "@type": "VideoObject", "name": "The clip",
            "contentUrl": url, "uploadDate": "2024-01-01"}  # fmt: skip
    return f'<script type="application/ld+json">{json.dumps(data)}</script>'


@pytest.mark.parametrize(
    ("shape", "kind"),
    [("video-mp4", "direct"), ("og-hls", "hls"), ("jsonld-dash", "dash"), ("video-dash", "dash")],
)
def test_pages_with_a_video_download_through_the_engine(origin, source_frames, tmp_path, shape,
                                                        kind):  # fmt: skip
    if shape == "video-mp4":
        url = page(origin, shape, body='<video src="/src/hi.mp4" controls></video>')
    elif shape == "og-hls":
        playlist = origin.url("hls/index.m3u8")
        url = page(origin, shape, f'<meta property="og:video" content="{playlist}">')
    elif shape == "jsonld-dash":
        url = page(origin, shape, json_ld(origin.url("timeline/manifest.mpd")))
    else:
        url = page(origin, shape, body='<video><source src="/list/manifest.mpd" '
                                       'type="application/dash+xml"></video>')  # fmt: skip
    result = fetch(url, tmp_path)
    assert result.kind == kind and result.page and result.page["title"]
    assert frame_hashes(result.path) == source_frames
    assert [t["type"] for t in result.tracks] == ["video", "audio"]
    media_requests = [p for p in origin.paths() if not p.startswith("/pages/")]
    assert media_requests  # the media itself came through this engine


@pytest.mark.parametrize(
    ("shape", "manifest"),
    [("og-hls", "/hls/index.m3u8"), ("jsonld-dash", "/timeline/manifest.mpd")],
)
def test_the_page_and_its_manifest_are_each_fetched_once(origin, tmp_path, shape, manifest):
    if shape == "og-hls":
        head = f'<meta property="og:video" content="{origin.url(manifest)}">'
    else:
        head = json_ld(origin.url(manifest))
    url = page(origin, shape, head)
    fetch(url, tmp_path)
    asked = origin.paths()
    assert asked.count(f"/pages/{shape}.html") == 1  # the engine's read, reused by yt-dlp
    assert asked.count(manifest) == 1  # yt-dlp's read, reused by the engine
    assert len(asked) == len(set(asked))  # nothing at all asked twice


def test_a_page_without_video_says_so_and_leaves_nothing(origin, tmp_path):
    url = page(origin, "nothing", body="<p>Just text.</p>")
    with pytest.raises(DownloadError, match="No video found on this page"):
        fetch(url, tmp_path)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_page_redirecting_to_a_blocked_address_is_refused(origin, tmp_path):
    url = origin.redirect("pages/moved.html", "http://10.0.0.1/watch.html")
    with pytest.raises(BlockedAddress, match="10.0.0.1"):
        fetch(url, tmp_path)


def test_the_extractors_requests_pass_the_guard(origin, tmp_path):
    # yt-dlp itself fetches the playlist named by og:video, which redirects to a private address
    hop = origin.redirect("go/index.m3u8", "http://10.0.0.1/index.m3u8")
    url = page(origin, "hop", f'<meta property="og:video" content="{hop}">')
    with pytest.raises(BlockedAddress, match="10.0.0.1"):
        fetch(url, tmp_path)
    assert origin.paths(prefix="go/") == ["/go/index.m3u8"]  # asked by yt-dlp, hop refused


def test_an_embedded_media_url_on_a_blocked_address_is_refused(origin, tmp_path):
    url = page(origin, "private", body='<video src="http://192.168.1.10/v.mp4"></video>')
    with pytest.raises(BlockedAddress, match="192.168.1.10"):
        fetch(url, tmp_path)


def test_yt_dlp_has_no_request_handler_but_the_guarded_one():
    ydl = _ydl_class(_handler_class(_Guard(())))({"quiet": True})
    try:
        assert list(ydl._request_director.handlers) == ["MediaCraftGuarded"]
    finally:
        ydl.close()


def test_extractors_off_and_generic(origin, source_frames, tmp_path):
    url = page(origin, "plain", body='<video src="/src/hi.mp4"></video>')
    with pytest.raises(DownloadError, match="MEDIACRAFT_EXTRACTORS=off"):
        fetch(url, tmp_path / "off", replace(DownloadLimits(), extractors="off"))
    assert origin.paths(suffix=".mp4") == []
    result = fetch(url, tmp_path / "generic", replace(DownloadLimits(), extractors="generic"))
    assert frame_hashes(result.path) == source_frames


def test_extraction_has_a_time_limit(origin, tmp_path):
    def slow_playlist() -> bytes:  # asked for by yt-dlp while it lists the page's formats
        time.sleep(3)
        return b"#EXTM3U\n"

    hanging = origin.add_dynamic("slow/index.m3u8", slow_playlist)
    url = page(origin, "slow", f'<meta property="og:video" content="{hanging}">')
    limits = replace(DownloadLimits(), extraction_seconds=1.0)
    started = time.monotonic()
    with pytest.raises(DownloadError, match="longer than 1 s"):
        fetch(url, tmp_path, limits)
    assert time.monotonic() - started < 2.5


def test_cancel_stops_an_extraction(origin, tmp_path):
    url = origin.add_dynamic("pages/hang.html", lambda: (time.sleep(2), b"<html></html>")[1])
    token = CancelToken()
    threading.Timer(0.3, token.cancel).start()
    with pytest.raises(Cancelled):
        fetch(url, tmp_path, cancel=token)


def test_format_spec_follows_quality_and_audio_language():
    spec = lambda **kw: format_spec(DownloadOptions(**kw))  # noqa: E731
    assert spec() == "bv*+ba/b"
    assert spec(quality="worst") == "wv*+wa/w"
    assert spec(quality="720p").startswith("bv*[height<=720]+ba/b[height<=720]")
    assert "ba[language^=zh]" in spec(audio_lang="zh-Hans")
    assert spec(container="m4a") == "ba/b"  # an audio container: the audio alone
    assert spec(container="mp3", quality="worst") == "wa/w"
