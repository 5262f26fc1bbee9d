"""The first request sent before the engine loads (first.py), adopted as the engine's own.

Every test connects only to the loopback origin: ``no_foreign_connections``
fails a test that tries to open a socket anywhere else, on the standard
library's path (first.py) and on urllib3's (the engine's session) alike.
"""

from __future__ import annotations

import ipaddress
import random
import socket
import ssl
import subprocess
import time
from pathlib import Path

import certifi
import pytest
import urllib3.util.connection
from requests_hardened.ip_filter import EXTRA_BLOCKED_NET_RANGES

from mediacraft.download import DownloadOptions, download
from mediacraft.download import addresses as addresses_module
from mediacraft.download.fetch import Fetcher
from mediacraft.download.first import FirstRequest
from mediacraft.exceptions import BlockedAddress, DownloadError
from tests.support.media import make_video
from tests.support.origin import Origin

ALLOW = ("127.0.0.1",)
MiB = 1024 * 1024
OPTIONS = DownloadOptions(retry_delay=0.01, connect_timeout=2.0)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("first") / "clip.mp4", 2.0, "160x120", 25)


@pytest.fixture(autouse=True)
def no_foreign_connections(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    attempts: list[tuple] = []

    def only_loopback(real):
        def connect(address, *args, **kwargs):
            attempts.append(address)
            if address[0] not in ("127.0.0.1", "::ffff:127.0.0.1"):
                raise AssertionError(f"test tried to connect to {address}")
            return real(address, *args, **kwargs)

        return connect

    monkeypatch.setattr(socket, "create_connection", only_loopback(socket.create_connection))
    monkeypatch.setattr(urllib3.util.connection, "create_connection",
                        only_loopback(urllib3.util.connection.create_connection))  # fmt: skip
    return attempts


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """URLs the engine asked for itself (Fetcher.open), not through the first request."""
    urls: list[str] = []
    real = Fetcher.open

    def spy(self, url, *args, **kwargs):
        urls.append(url)
        return real(self, url, *args, **kwargs)

    monkeypatch.setattr(Fetcher, "open", spy)
    return urls


def get(url: str, tmp_path: Path, allowed: tuple[str, ...] = ALLOW):
    first = FirstRequest(url, OPTIONS, allowed)
    assert first.usable()
    return download(url, tmp_path / "out" / "video.mp4", OPTIONS, work_dir=tmp_path / "w",
                    allowed_networks=allowed, first_request=first.start())  # fmt: skip


def test_the_first_request_is_the_engine_s_first_response(clip, tmp_path, opened):
    with Origin() as origin:
        url = origin.add_file("clip.mp4", clip.read_bytes())
        result = get(url, tmp_path)
        assert [(e.method, e.path, e.range) for e in origin.log] == [("GET", "/clip.mp4", None)]
        assert origin.log[0].headers["User-Agent"] == "MediaCraft/0.1"
        assert origin.log[0].headers["Accept-Encoding"] == "identity"
    assert opened == []
    assert result.path.read_bytes() == clip.read_bytes()


def test_a_single_use_link_works_through_the_first_request(clip, tmp_path):
    data = clip.read_bytes()
    served: list[int] = []

    def once() -> bytes | int:
        served.append(1)
        return data if len(served) == 1 else 410

    with Origin() as origin:
        result = get(origin.add_dynamic("once.mp4", once), tmp_path)
    assert served == [1]
    assert result.path.read_bytes() == data


def test_redirects_are_followed_and_the_parts_ask_the_final_url(clip, tmp_path, opened):
    data = clip.read_bytes()
    options = DownloadOptions(retry_delay=0.01, split_threshold=16 * 1024, connections=4)
    with Origin() as origin:
        final = origin.add_file("clip.mp4", data)
        origin.redirect("hop2", final, 301)
        url = origin.redirect("hop1", "/hop2")  # relative Location
        first = FirstRequest(url, options, ALLOW).start()
        result = download(url, tmp_path / "o.mp4", options, work_dir=tmp_path / "w",
                          allowed_networks=ALLOW, first_request=first)  # fmt: skip
        log = [(e.path, e.range) for e in origin.log]
    assert log[:3] == [("/hop1", None), ("/hop2", None), ("/clip.mp4", None)]
    assert len(log) == 6 and {path for path, _ in log[3:]} == {"/clip.mp4"}
    assert all(byterange for _, byterange in log[3:])  # parts 2-4, by Range
    assert opened == [final] * 3
    assert result.path.read_bytes() == data


def test_a_blocked_address_is_refused_before_connecting(clip, tmp_path, no_foreign_connections):
    with Origin() as origin:
        url = origin.add_file("clip.mp4", clip.read_bytes())
        with pytest.raises(BlockedAddress, match="Refused to fetch from 127.0.0.1"):
            get(url, tmp_path, allowed=())
        assert origin.accepted == 0
    assert no_foreign_connections == []


def test_a_redirect_to_a_blocked_address_is_refused(tmp_path, no_foreign_connections):
    with Origin() as origin:
        url = origin.redirect("go.mp4", "http://10.0.0.1/secret.mp4")
        with pytest.raises(BlockedAddress, match=r"Refused to fetch from 10\.0\.0\.1"):
            get(url, tmp_path)
        assert [e.path for e in origin.log] == ["/go.mp4"]  # not asked again by the engine
    assert all(address[0] == "127.0.0.1" for address in no_foreign_connections)


def test_a_link_that_is_not_media_is_refused_without_being_read_ahead(tmp_path):
    data = b"PK\x03\x04" + random.Random(7).randbytes(32 * MiB)
    with Origin() as origin:
        origin.bandwidth = 8 * MiB  # 4 s for the whole body
        url = origin.add_file("file.bin", data)
        first = FirstRequest(url, OPTIONS, ALLOW).start()
        time.sleep(1.0)  # far longer than the engine's import: still the first bytes only
        with pytest.raises(DownloadError, match="not a video: its first bytes are a ZIP"):
            download(url, tmp_path / "o.mp4", OPTIONS, work_dir=tmp_path / "w",
                     allowed_networks=ALLOW, first_request=first)  # fmt: skip
        (entry,) = origin.log
        assert entry.sent < 4 * MiB  # what the sockets buffer; read ahead, it would be 8 MiB


def test_a_first_response_cut_off_is_resumed_by_the_engine(clip, tmp_path):
    data = clip.read_bytes()
    with Origin() as origin:
        url = origin.add_file("clip.mp4", data)
        origin.add_fault("clip.mp4", "reset", after=len(data) // 3, times=1)
        result = get(url, tmp_path)
        assert len(origin.log) == 2
        assert (origin.log[1].range or "").startswith(f"bytes={len(data) // 3}-")
    assert result.path.read_bytes() == data


def test_an_answer_the_engine_retries_is_asked_again(clip, tmp_path, opened):
    with Origin() as origin:
        url = origin.add_file("clip.mp4", clip.read_bytes())
        origin.add_fault("clip.mp4", "status", status=503, times=1)
        result = get(url, tmp_path)
        assert [e.status for e in origin.log] == [503, 200]
    assert opened == [url]
    assert result.path.read_bytes() == clip.read_bytes()


def test_a_request_that_cannot_connect_is_left_to_the_engine(tmp_path):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    url = f"http://127.0.0.1:{port}/clip.mp4"
    first = FirstRequest(url, OPTIONS, ALLOW).start()
    assert first.response() is None  # refused connection: the engine asks (and retries)
    options = DownloadOptions(retries=1, retry_delay=0.01, connect_timeout=1.0)
    with pytest.raises(DownloadError, match="could not connect"):
        download(url, tmp_path / "o.mp4", options, work_dir=tmp_path / "w",
                 allowed_networks=ALLOW, first_request=first)  # fmt: skip


@pytest.mark.parametrize(
    ("url", "headers"),
    [("http://user:secret@127.0.0.1/a.mp4", {}), ("http://127.0.0.1/a b.mp4", {}),
     ("http://bücher.example/a.mp4", {}), ("http://127.0.0.1/a.mp4", {"Authorization": "x"})],
    ids=["credentials", "space", "idna", "authorization"],
)  # fmt: skip
def test_what_requests_would_rewrite_is_left_to_the_engine(url, headers):
    assert not FirstRequest(url, DownloadOptions(headers=headers)).usable()


def test_the_blocked_ranges_keep_requests_hardened_s():
    ours = set(addresses_module._EXTRA_BLOCKED)
    assert set(EXTRA_BLOCKED_NET_RANGES) <= ours
    assert ipaddress.ip_network("fd00:ec2::/32") in ours


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (its own authority)."""
    root = tmp_path_factory.mktemp("tls")
    cert, key = root / "cert.pem", root / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)  # fmt: skip
    return cert, key


def serve_tls(origin: Origin, certificate: tuple[Path, Path]) -> str:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    server = origin._server
    assert server is not None
    server.socket = context.wrap_socket(server.socket, server_side=True)
    return origin.base_url.replace("http://", "https://")


def test_https_goes_the_same_way_with_the_certificate_checked(clip, tmp_path, certificate,
                                                              monkeypatch, opened):  # fmt: skip
    monkeypatch.setattr(certifi, "where", lambda: str(certificate[0]))
    with Origin() as origin:
        origin.add_file("clip.mp4", clip.read_bytes())
        result = get(serve_tls(origin, certificate) + "/clip.mp4", tmp_path)
        assert [(e.path, e.headers["Host"]) for e in origin.log] == [
            ("/clip.mp4", f"127.0.0.1:{origin.port}")
        ]
    assert opened == []
    assert result.path.read_bytes() == clip.read_bytes()


def test_https_with_an_untrusted_certificate_sends_nothing(clip, tmp_path, certificate):
    with Origin() as origin:
        origin.add_file("clip.mp4", clip.read_bytes())
        url = serve_tls(origin, certificate) + "/clip.mp4"
        first = FirstRequest(url, OPTIONS, ALLOW).start()
        assert first.response() is None
        assert isinstance(first.failure, ssl.SSLCertVerificationError)
        with pytest.raises(DownloadError, match="(?i)ssl|certificate"):
            download(url, tmp_path / "o.mp4", DownloadOptions(retries=0), work_dir=tmp_path / "w",
                     allowed_networks=ALLOW, first_request=first)  # fmt: skip
        assert origin.log == []
