"""Direct links that are not plain media: not media at all, compressed, codecs MP4 cannot hold."""

from __future__ import annotations

import gzip
import random
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mediacraft.download import DownloadOptions, download
from mediacraft.download.sniff import media_suffix, what_it_is
from mediacraft.exceptions import DownloadError
from tests.support.decode import decode_all
from tests.support.media import FFMPEG, make_video
from tests.support.origin import Origin

ALLOW = ("127.0.0.1",)
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("direct") / "clip.mp4", 2.0, "160x120", 25)


def get(url: str, tmp_path: Path, **kwargs: object):
    return download(url, tmp_path / "out" / "video.mp4", DownloadOptions(retry_delay=0.01),
                    work_dir=tmp_path / "w", allowed_networks=ALLOW, **kwargs)  # fmt: skip


@pytest.mark.parametrize(
    ("head", "named"),
    [
        (b"PK\x03\x04", "a ZIP archive"),
        (b"%PDF-1.7\n", "a PDF document"),
        (b"\x13\x37\xc0\xde", "data that is neither video nor audio"),
    ],
    ids=["zip", "pdf", "random"],
)
def test_a_link_that_is_not_media_is_refused_on_its_first_bytes(tmp_path, head, named):
    data = head + random.Random(7).randbytes(32 * MiB)
    with Origin() as origin:
        origin.bandwidth = 8 * MiB  # 4 s for the whole body: a refusal must not wait for it
        url = origin.add_file("file.bin", data)
        started = time.monotonic()
        with pytest.raises(DownloadError, match=f"not a video: its first bytes are {named}"):
            get(url, tmp_path)
        assert time.monotonic() - started < 1.5
        (entry,) = origin.log
        assert entry.sent < 4 * MiB  # far from the whole body
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    assert not (tmp_path / "w" / "direct.part").exists()


class _Gzipped(BaseHTTPRequestHandler):
    body = b""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Encoding", "gzip")  # whatever the client asked for
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)


def test_a_body_sent_gzip_encoded_is_refused_not_taken_for_media(clip, tmp_path):
    _Gzipped.body = gzip.compress(clip.read_bytes())
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Gzipped)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(DownloadError, match=r"compressed \(Content-Encoding: gzip\)"):
            get(f"http://127.0.0.1:{server.server_address[1]}/clip.mp4", tmp_path)
    finally:
        server.shutdown()
        server.server_close()


def test_codecs_mp4_cannot_hold_keep_their_own_container(clip, tmp_path):
    odd = tmp_path / "odd.mkv"  # H.264 with WMA audio: no MP4 tag for wmav2
    subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-i", str(clip), "-c:v", "copy",
                    "-c:a", "wmav2", str(odd)], check=True, timeout=60)  # fmt: skip
    with Origin(tmp_path) as origin:
        result = get(origin.url("odd.mkv"), tmp_path / "run", choose_suffix=True)
    assert result.path.suffix == ".mkv" and result.path.read_bytes() == odd.read_bytes()
    assert decode_all(result.path)["video"] == 50
    with Origin(tmp_path) as origin, pytest.raises(DownloadError):
        get(origin.url("odd.mkv"), tmp_path / "strict")  # a caller that needs .mp4 gets an error


def test_media_signatures():
    assert media_suffix(b"\x00\x00\x00\x20ftypisom") == ".mp4"
    assert media_suffix(b"\x1a\x45\xdf\xa3\x01") == ".mkv"
    assert media_suffix(b"\x47\x40\x11\x10") == ".ts"
    assert media_suffix(b"RIFF\x00\x00\x00\x00AVI LIST") == ".avi"
    assert media_suffix(b"\xff\xf1\x50\x80") == ".aac"
    assert media_suffix(b"PK\x03\x04") is None
    assert what_it_is(b'{"error": 1}') == "JSON data"
    assert what_it_is(b"hello world\n") == "text"


def test_a_server_that_ignores_range_is_fetched_once_not_once_per_part(tmp_path):
    big = make_video(tmp_path / "big.mp4", 8.0, "640x480", 25, extra=["-crf", "15"])
    data = big.read_bytes()
    assert len(data) > 1 * MiB
    with Origin() as origin:
        origin.ignore_ranges = True  # still says Accept-Ranges: bytes
        origin.bandwidth = 8 * MiB  # a dropped answer cannot be pushed whole into the buffers
        url = origin.add_file("clip.mp4", data)
        lines: list[str] = []
        # split even this small file into four parts
        options = DownloadOptions(retry_delay=0.01, connections=4, split_threshold=256 * 1024)
        result = download(url, tmp_path / "o.mp4", options, work_dir=tmp_path / "w",
                          allowed_networks=ALLOW, log=lines.append)  # fmt: skip
        sent = sum(e.sent for e in origin.log)
        ranged = [e for e in origin.log if e.range]
    assert result.path.read_bytes() == data
    assert ranged, "the parts asked for ranges"
    assert any("ignored the byte range" in line for line in lines)
    assert sent < 1.6 * len(data)  # about one copy, not four


def test_a_file_served_cut_short_fails_the_probe_of_the_result(clip, tmp_path):
    data = clip.read_bytes()
    assert data.rfind(b"moov") > len(data) // 2  # the index at the end, as ffmpeg writes it
    with Origin() as origin:  # the server's file itself is cut: sizes agree, the index is lost
        url = origin.add_file("cut.mp4", data[: len(data) * 3 // 4])
        with pytest.raises(DownloadError, match="not playable media"):
            get(url, tmp_path)
    assert not (tmp_path / "out" / "video.mp4").exists()


def test_a_fragmented_mp4_still_gets_its_duration_and_picture(clip, tmp_path):
    fragmented = tmp_path / "frag.mp4"
    subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-i", str(clip), "-c", "copy",
                    "-movflags", "frag_keyframe+empty_moov", str(fragmented)],
                   check=True)  # fmt: skip
    with Origin() as origin:
        result = get(origin.add_file("frag.mp4", fragmented.read_bytes()), tmp_path)
    assert result.duration == pytest.approx(2.0, abs=0.1)
    assert (result.width, result.height) == (160, 120)
