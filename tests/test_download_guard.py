"""SSRF guard: refusals happen before any connection; a property test for the classifier.

Every test here connects only to the loopback origin. ``no_foreign_connections``
makes any attempt to open a socket to another address fail the test loudly,
so a guard regression can never reach a real private or public address.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
import urllib3.util.connection
from hypothesis import given, settings
from hypothesis import strategies as st

from mediacraft.download import DownloadOptions, blocked_reason, download
from mediacraft.download.guard import AllowList, resolve_pinned
from mediacraft.exceptions import BlockedAddress, DownloadError
from tests.support.origin import HlsMedia, Origin, shared_media


@pytest.fixture(scope="session")
def hls_media(tmp_path_factory: pytest.TempPathFactory) -> HlsMedia:
    return shared_media(tmp_path_factory)  # type: ignore[return-value]


@pytest.fixture(autouse=True)
def no_foreign_connections(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    attempts: list[tuple] = []
    real = urllib3.util.connection.create_connection

    def guarded(address, *args, **kwargs):
        attempts.append(address)
        if address[0] not in ("127.0.0.1", "::ffff:127.0.0.1"):
            raise AssertionError(f"test tried to connect to {address}")
        return real(address, *args, **kwargs)

    monkeypatch.setattr(urllib3.util.connection, "create_connection", guarded)
    return attempts


@pytest.fixture
def origin(hls_media: HlsMedia):
    with Origin(hls_media.root) as server:
        yield server


def fetch(url: str, tmp_path: Path, allowed: tuple[str, ...] = ()):
    options = DownloadOptions(retry_delay=0.01, connect_timeout=1.0)
    return download(url, tmp_path / "o.mp4", options, work_dir=tmp_path / "w",
                    allowed_networks=allowed)  # fmt: skip


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/video.m3u8",
        "http://169.254.169.254/latest/meta-data/",
        "http://192.168.1.1:8080/a.mp4",
        "http://[fd00:ec2::254]/",
        "http://[::1]/",
        "http://0.0.0.0/",
        "http://100.64.0.1/",
        "http://224.0.0.1/",
    ],
)
def test_private_addresses_are_refused_before_connecting(url, tmp_path, no_foreign_connections):
    with pytest.raises(BlockedAddress, match="Refused to fetch from"):
        fetch(url, tmp_path)
    assert no_foreign_connections == []


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "[::ffff:127.0.0.1]", "2130706433", "0x7f000001", "127.1", "0177.0.0.1"]
)
def test_loopback_origin_in_every_spelling_is_refused_unless_allowed(
    origin, host, tmp_path, no_foreign_connections
):
    url = f"http://{host}:{origin.port}/hi/index.m3u8"
    with pytest.raises(BlockedAddress, match="loopback"):
        fetch(url, tmp_path)
    assert origin.accepted == 0 and origin.log == [] and no_foreign_connections == []


def test_allowed_network_lets_the_origin_through(origin, tmp_path):
    result = fetch(origin.url("hi/index.m3u8"), tmp_path, ("127.0.0.0/8",))
    assert result.segments == 6


def test_redirect_to_private_address_is_refused(origin, tmp_path, no_foreign_connections):
    url = origin.redirect("go", "http://169.254.169.254/latest/meta-data/")
    with pytest.raises(BlockedAddress, match="169.254.169.254"):
        fetch(url, tmp_path, ("127.0.0.1",))
    assert origin.paths() == ["/go"]
    assert all(address[0] == "127.0.0.1" for address in no_foreign_connections)


def test_redirect_to_loopback_spelling_not_allowed_is_refused(origin, tmp_path):
    # The origin is allowed by name only; a redirect to its numeric address is not.
    url = f"http://localhost:{origin.port}/go"
    origin.redirect("go", f"http://2130706433:{origin.port}/hi/index.m3u8")
    with pytest.raises(BlockedAddress, match="loopback"):
        fetch(url, tmp_path, ("localhost",))
    assert origin.paths() == ["/go"]


def test_redirects_are_capped_and_non_http_refused(origin, tmp_path):
    origin.redirect("loop", origin.url("loop"))
    with pytest.raises(DownloadError, match="redirected more than 5 times"):
        fetch(origin.url("loop"), tmp_path, ("127.0.0.1",))
    assert origin.paths().count("/loop") == 6
    with pytest.raises(BlockedAddress, match="Only http and https"):
        fetch("file:///etc/passwd", tmp_path)
    origin.redirect("file", "file:///etc/passwd")
    with pytest.raises(DownloadError, match="invalid URL"):
        fetch(origin.url("file"), tmp_path, ("127.0.0.1",))


@pytest.mark.parametrize(
    "playlist",
    [
        # a segment on a private address
        "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n/hi/seg_000.ts\n"
        "#EXTINF:1,\nhttp://10.1.2.3/seg.ts\n#EXT-X-ENDLIST\n",
        # the AES key on the metadata address
        "#EXTM3U\n#EXT-X-TARGETDURATION:1\n"
        '#EXT-X-KEY:METHOD=AES-128,URI="http://169.254.169.254/key"\n'
        "#EXTINF:1,\n/aes/seg_000.ts\n#EXT-X-ENDLIST\n",
        # the init section on IPv6 loopback
        '#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-MAP:URI="http://[::1]/init.mp4"\n'
        "#EXTINF:1,\n/fmp4/seg_000.m4s\n#EXT-X-ENDLIST\n",
        # a variant of a master playlist on a private address
        "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nhttp://192.168.0.10/v.m3u8\n",
    ],
    ids=["segment", "key", "init", "variant"],
)
def test_playlist_uris_pointing_inside_are_refused(origin, playlist, tmp_path):
    url = origin.add_file("evil.m3u8", playlist.encode())
    with pytest.raises(BlockedAddress):
        fetch(url, tmp_path, ("127.0.0.1",))
    assert origin.paths(suffix=".ts") in ([], ["/hi/seg_000.ts"])


def test_allow_list_matches_hosts_and_networks():
    allow = AllowList(["127.0.0.1", "10.0.0.0/8", "media.internal", " "])
    assert allow.permits("x", ipaddress.ip_address("10.9.8.7"))
    assert allow.permits("x", ipaddress.ip_address("::ffff:127.0.0.1"))
    assert allow.permits("MEDIA.internal.", ipaddress.ip_address("192.168.1.1"))
    assert not allow.permits("x", ipaddress.ip_address("192.168.1.1"))
    assert not AllowList([])


BLOCKED_V4 = [
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
    "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
]  # fmt: skip
BLOCKED_V6 = ["::1/128", "fc00::/7", "fe80::/10", "ff00::/8", "2001:db8::/32", "fd00:ec2::/32"]


def in_network(cidr: str) -> st.SearchStrategy:
    net = ipaddress.ip_network(cidr)
    return st.integers(0, net.num_addresses - 1).map(lambda i: net[i])


blocked_v4 = st.sampled_from(BLOCKED_V4).flatmap(in_network)
blocked_v6 = st.sampled_from(BLOCKED_V6).flatmap(in_network)


@settings(max_examples=300, deadline=None)
@given(blocked_v4)
def test_blocked_ipv4_is_blocked_in_every_spelling(ip):
    assert blocked_reason(ip)
    assert blocked_reason(f"::ffff:{ip}")  # IPv4-mapped
    assert blocked_reason(ipaddress.IPv6Address((0x2002 << 112) | (int(ip) << 80)))  # 6to4
    with pytest.raises(BlockedAddress):
        resolve_pinned(str(int(ip)), 80, AllowList())  # the integer spelling, resolved


@settings(max_examples=200, deadline=None)
@given(blocked_v6)
def test_blocked_ipv6_is_blocked(ip):
    assert blocked_reason(ip)
    with pytest.raises(BlockedAddress):
        resolve_pinned(str(ip), 80, AllowList())


@settings(max_examples=500, deadline=None)
@given(st.ip_addresses())
def test_classifier_agrees_with_the_standard_library(ip):
    mapped = ipaddress.IPv6Address(f"::ffff:{ip}") if ip.version == 4 else ip
    assert bool(blocked_reason(ip)) == bool(blocked_reason(mapped))
    if blocked_reason(ip) is None:
        assert ip.is_global and not ip.is_multicast
    if not ip.is_global or ip.is_multicast or ip.is_private or ip.is_loopback:
        assert blocked_reason(ip)


def test_public_addresses_pass():
    for ip in ("8.8.8.8", "1.1.1.1", "2001:4860:4860::8888", "93.184.216.34"):
        assert blocked_reason(ip) is None
