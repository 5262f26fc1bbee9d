"""Who a download says it is: User-Agent, Referer, a task's cookies, the server's proxy."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from mediacraft.config import Config
from mediacraft.download import DownloadLimits, DownloadOptions, download
from mediacraft.download.cookies import for_host, load_for, parse_cookies
from mediacraft.exceptions import BlockedAddress, ValidationError
from tests.support.dash import DashMedia, build_dash
from tests.support.origin import Origin, frame_hashes, package_hls
from tests.support.proxy import Proxy

ALLOW = ("127.0.0.1",)
COOKIES = (
    "# Netscape HTTP Cookie File\n"
    "127.0.0.1\tFALSE\t/\tFALSE\t0\tsession\tsecret-for-origin\n"
    "#HttpOnly_127.0.0.1\tFALSE\t/\tFALSE\t0\tlogin\thttp-only-value\n"
    "localhost\tFALSE\t/\tFALSE\t0\tcdn\tnot-for-the-cdn\n"
    ".example.org\tTRUE\t/\tTRUE\t2000000000\tother\tsite\n"
)

#: a page whose og:video playlist is read by yt-dlp (the engine then reuses that read)
PAGE = ('<!doctype html><html><head><title>p</title>'
        '<meta property="og:video" content="{origin}/hls/index.m3u8">'
        '</head><body></body></html>')  # fmt: skip


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> DashMedia:
    built = build_dash(tmp_path_factory.mktemp("identity"))
    package_hls(built.source, built.root / "hls", 1.0)
    return built


@pytest.fixture
def origin(media: DashMedia):
    with Origin(media.root) as server:
        yield server


def options(**changes: object) -> DownloadOptions:
    values: dict[str, object] = {"retry_delay": 0.01, "retries": 1, **changes}
    return DownloadOptions.from_profile("stable", **values)


def get(url: str, tmp_path: Path, opts: DownloadOptions | None = None, **kwargs: object):
    return download(url, tmp_path / "out" / "v.mp4", opts or options(),
                    work_dir=tmp_path / "w", allowed_networks=ALLOW, **kwargs)  # fmt: skip


@pytest.mark.parametrize("path", ["hls/index.m3u8", "timeline/manifest.mpd", "page"])
def test_user_agent_and_referer_reach_every_request(origin, tmp_path, path):
    if path == "page":
        url = origin.add_file("p.html", PAGE.format(origin=origin.base_url).encode())
    else:
        url = origin.url(path)
    opts = options(user_agent="Tester/2.0", referer="https://example.invalid/watch",
                   headers={"User-Agent": "overridden", "X-Extra": "1"})  # fmt: skip
    get(url, tmp_path, opts)
    assert len(origin.log) >= 3
    if path == "page":  # the playlist is asked for by yt-dlp only
        assert origin.paths(suffix=".m3u8") == ["/hls/index.m3u8"]
    for entry in origin.log:
        assert entry.headers.get("User-Agent") == "Tester/2.0", entry.path
        assert entry.headers.get("Referer") == "https://example.invalid/watch", entry.path


def test_cookies_go_to_the_tasks_host_only(origin, media, tmp_path):
    # the playlist's segments are on another host name of the same origin
    text = (media.root / "hls" / "index.m3u8").read_text()
    cdn = f"http://localhost:{origin.port}/hls/"
    playlist = "\n".join(cdn + line if line.endswith(".ts") else line for line in text.splitlines())
    url = origin.add_file("cdn.m3u8", playlist.encode())
    jar = load_for(COOKIES, url)
    assert sorted(c.name for c in jar) == ["login", "session"]
    result = download(url, tmp_path / "v.mp4", options(), work_dir=tmp_path / "w",
                      allowed_networks=("127.0.0.1", "localhost"), cookies=jar)  # fmt: skip
    assert frame_hashes(result.path) == frame_hashes(media.source)
    first = origin.log[0]
    assert first.path == "/cdn.m3u8"
    assert "session=secret-for-origin" in first.headers.get("Cookie", "")
    assert "login=http-only-value" in first.headers.get("Cookie", "")
    segments = [e for e in origin.log if e.path.endswith(".ts")]
    assert segments and all("Cookie" not in e.headers for e in segments)


def test_cookies_reach_the_extractors_requests(origin, tmp_path):
    url = origin.add_file("members.html", PAGE.format(origin=origin.base_url).encode())
    get(url, tmp_path, cookies=load_for(COOKIES, url))
    asked = [e for e in origin.log if e.path in ("/members.html", "/hls/index.m3u8")]
    assert [e.path for e in asked] == ["/members.html", "/hls/index.m3u8"]  # engine, yt-dlp
    assert all("session=secret-for-origin" in e.headers.get("Cookie", "") for e in asked)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("session=abc; other=def\n", "line 1 has 1 tab-separated fields, not 7"),
        ("# Netscape HTTP Cookie File\n\n", "holds no cookies"),
        ("a.example\tMAYBE\t/\tFALSE\t0\tn\tv\n", "line 1 is malformed"),
        ('{"cookies": []}', "not in Netscape format"),
    ],
)
def test_a_cookies_file_in_another_format_is_refused_naming_the_line(text, message):
    with pytest.raises(ValidationError, match=message):
        parse_cookies(text)


def test_for_host_keeps_parent_domains_only():
    jar = parse_cookies(
        ".example.org\tTRUE\t/\tFALSE\t0\ta\t1\n"
        "media.example.org\tFALSE\t/\tFALSE\t0\tb\t2\n"
        "example.org.evil.net\tFALSE\t/\tFALSE\t0\tc\t3\n"
        "other.org\tFALSE\t/\tFALSE\t0\td\t4\n"
    )
    kept = for_host(jar, "https://media.example.org/v.m3u8")
    assert sorted(c.name for c in kept) == ["a", "b"]


def test_the_servers_proxy_carries_every_request_and_the_guard_still_judges(
    origin, media, tmp_path
):
    with Proxy() as proxy:
        limits = replace(DownloadLimits(), proxy=proxy.url)
        result = get(origin.url("timeline/manifest.mpd"), tmp_path / "a", limits=limits)
        assert frame_hashes(result.path) == frame_hashes(media.source)
        assert len(proxy.forwarded) == len(origin.log) >= 11  # all of them, through the proxy
        asked = len(proxy.asked)
        with pytest.raises(BlockedAddress, match="10.0.0.1"):
            get("http://10.0.0.1/manifest.mpd", tmp_path / "b", options(retries=0), limits=limits)
        assert len(proxy.asked) == asked  # refused before the proxy was asked


def test_proxy_is_a_server_setting_never_an_option():
    with pytest.raises(ValidationError, match="Unknown download option"):
        DownloadOptions.from_dict({"proxy": "http://127.0.0.1:1"})
    with pytest.raises(ValueError, match="MEDIACRAFT_PROXY"):
        Config.from_env({"MEDIACRAFT_PROXY": "ftp://x"})
    assert Config.from_env({"MEDIACRAFT_PROXY": "socks5://127.0.0.1:9050"}).proxy
    assert DownloadLimits.from_config(Config(proxy="http://p:3128")).proxy == "http://p:3128"
