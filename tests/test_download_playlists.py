"""RFC 8216 corner cases that used to give wrong bytes or a bare error."""

from __future__ import annotations

import base64
import re
import subprocess
from pathlib import Path

import av
import pytest

from mediacraft.download import DownloadOptions, download
from mediacraft.download.playlist import check_lines, decode_data_uri, media_playlist, parse
from mediacraft.exceptions import DownloadError, PlaylistError
from tests.support.media import FFMPEG, make_video
from tests.support.origin import HlsMedia, Origin, frame_hashes, package_hls, shared_media
from tests.support.streams import build_packed_audio

ALLOW = ("127.0.0.1",)


@pytest.fixture(scope="session")
def hls_media(tmp_path_factory: pytest.TempPathFactory) -> HlsMedia:
    return shared_media(tmp_path_factory)  # type: ignore[return-value]


@pytest.fixture(scope="module")
def extra(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("corner")
    source = make_video(root / "src.mp4", 3.0, "160x120", 25, gop=25, audio=False)
    package_hls(source, root / "single", 1.0, fmp4=True, single_file=False)
    build_packed_audio(root / "packed")
    return root


@pytest.fixture
def origin(hls_media: HlsMedia, extra: Path):
    with Origin(hls_media.root) as server:
        server.extra = extra  # type: ignore[attr-defined]
        yield server


def fast(**changes: object) -> DownloadOptions:
    return DownloadOptions.from_profile("stable", retry_delay=0.01, stall_timeout=2.0, **changes)


def get(origin: Origin, path: str, tmp_path: Path, **kw):
    return download(
        origin.url(path), tmp_path / "out" / "video.mp4", fast(), work_dir=tmp_path / "work",
        allowed_networks=ALLOW, **kw,
    )  # fmt: skip


def fmp4_single_file_playlist(origin: Origin, tmp_path: Path) -> str:
    """One fMP4 file holding init and segments; EXT-X-MAP's BYTERANGE has no offset."""
    out = tmp_path / "fmp4single"
    out.mkdir()
    subprocess.run(
        [FFMPEG, "-loglevel", "error", "-i", str(origin.root / "src" / "hi.mp4"), "-c", "copy",
         "-f", "hls", "-hls_time", "1", "-hls_playlist_type", "vod", "-hls_segment_type", "fmp4",
         "-hls_flags", "single_file", "-hls_segment_filename", str(out / "all.mp4"),
         str(out / "index.m3u8")],
        check=True,
    )  # fmt: skip
    text = (out / "index.m3u8").read_text()
    text = re.sub(r'BYTERANGE="(\d+)@0"', r'BYTERANGE="\1"', text)  # offset left out: 0
    first, rest = text.split("#EXT-X-BYTERANGE:", 1)
    rest = re.sub(r"#EXT-X-BYTERANGE:(\d+)@\d+", r"#EXT-X-BYTERANGE:\1", rest)  # follows on
    text = first + "#EXT-X-BYTERANGE:" + rest
    origin.add_file("fs/all.mp4", (out / "all.mp4").read_bytes())
    origin.add_file("fs/index.m3u8", text.encode())
    return "fs/index.m3u8"


def test_ext_x_map_byterange_without_offset_reads_the_init_once(origin, hls_media, tmp_path):
    path = fmp4_single_file_playlist(origin, tmp_path)
    result = get(origin, path, tmp_path)
    assert frame_hashes(result.path) == frame_hashes(hls_media.root / "src" / "hi.mp4")
    ranges = [e.range for e in origin.log if e.path == "/fs/all.mp4"]
    init = [r for r in ranges if r and r.startswith("bytes=0-")]
    assert len(init) == 1 and len(ranges) == 7  # the init section once, then six segments


def test_gap_segments_are_skipped_and_reported(origin, hls_media, tmp_path):
    text = (hls_media.root / "hi" / "index.m3u8").read_text()
    lines = text.splitlines()
    third = [i for i, line in enumerate(lines) if line.endswith(".ts")][2]
    lines.insert(third, "#EXT-X-GAP")
    lines[third + 1] = "../hi/" + lines[third + 1]
    body = "\n".join(line if line.startswith("#") or line.startswith("../") or not line
                     else "../hi/" + line for line in lines)  # fmt: skip
    origin.add_file("gap/index.m3u8", body.encode())
    result = get(origin, "gap/index.m3u8", tmp_path)
    assert "/hi/seg_002.ts" not in origin.paths()
    assert result.gaps == [{"at": 2.0, "duration": 1.0, "segments": 1, "cause": "EXT-X-GAP",
                            "track": "main"}]  # fmt: skip
    assert abs(result.duration - 5.0) < 0.2
    assert len(frame_hashes(result.path)) == 125  # 5 of the 6 seconds, every frame decodes


def test_packed_audio_with_id3_becomes_an_m4a(origin, tmp_path):
    extra: Path = origin.extra  # type: ignore[attr-defined]
    for path in (extra / "packed").iterdir():
        origin.add_file(f"packed/{path.name}", path.read_bytes())
    result = download(
        origin.url("packed/index.m3u8"), tmp_path / "out" / "a.mp4", fast(),
        work_dir=tmp_path / "w", allowed_networks=ALLOW, choose_suffix=True,
    )  # fmt: skip
    assert result.path.suffix == ".m4a" and result.width is None
    with av.open(str(result.path)) as container:
        assert [s.type for s in container.streams] == ["audio"]
        samples = sum(f.samples for f in container.decode(audio=0))
    assert abs(samples / 48000 - 4.0) < 0.1  # no ID3 bytes decoded as audio, nothing lost
    assert result.tracks == [{"type": "audio", "codec": "aac", "language": None}]


def test_data_uri_key(origin, hls_media, tmp_path):
    text = (hls_media.root / "aes" / "index.m3u8").read_text()
    inline = "data:text/plain;base64," + base64.b64encode(hls_media.key).decode()
    text = text.replace('URI="../keys/k.key"', f'URI="{inline}"')
    text = re.sub(r"^(seg_\d+\.ts)$", r"../aes/\1", text, flags=re.M)
    origin.add_file("inline/index.m3u8", text.encode())
    result = get(origin, "inline/index.m3u8", tmp_path)
    assert frame_hashes(result.path) == frame_hashes(hls_media.root / "src" / "hi.mp4")
    assert origin.paths(suffix=".key") == []
    assert decode_data_uri("data:,%01%02") == b"\x01\x02"


def test_query_only_uris_resolve_against_the_playlist_url(origin, hls_media, tmp_path):
    lines = []
    for line in (hls_media.root / "hi" / "index.m3u8").read_text().splitlines():
        if line.endswith(".ts"):
            number = int(line[4:7])
            origin.add_file(f"q/play?seg={number}", (hls_media.root / "hi" / line).read_bytes())
            line = f"?seg={number}"
        lines.append(line)
    origin.add_file("q/play?list=1", "\n".join(lines).encode())
    result = download(
        origin.url("q/play?list=1"), tmp_path / "o.mp4", fast(), work_dir=tmp_path / "w",
        allowed_networks=ALLOW,
    )  # fmt: skip
    assert frame_hashes(result.path) == frame_hashes(hls_media.root / "src" / "hi.mp4")
    assert sorted(p for p in origin.paths() if p == "/q/play") == ["/q/play"] * 7


@pytest.mark.parametrize(
    ("bad", "what"),
    [
        ("#EXTINF:one,", "malformed duration"),
        ("#EXT-X-BYTERANGE:100@x", "malformed byte range"),
        ('#EXT-X-KEY:METHOD=AES-128,URI="k.key",IV=0xZZ', "malformed IV"),
        ('#EXT-X-KEY:METHOD=AES-128,URI="k.key",IV=0x' + "0" * 33, "malformed IV"),
        ('#EXT-X-MAP:URI="init.mp4",BYTERANGE="abc"', "malformed BYTERANGE"),
        ("#EXT-X-MEDIA-SEQUENCE:-1", "not a whole number"),
    ],
)
def test_malformed_lines_fail_naming_the_line(origin, hls_media, tmp_path, bad, what):
    lines = (hls_media.root / "hi" / "index.m3u8").read_text().splitlines()
    lines = [f"../hi/{x}" if x.endswith(".ts") else x for x in lines]
    lines.insert(4, bad)
    origin.add_file("bad/index.m3u8", "\n".join(lines).encode())
    with pytest.raises(PlaylistError) as info:
        get(origin, "bad/index.m3u8", tmp_path)
    assert str(info.value).startswith("Line 5 of the playlist index.m3u8 (")
    assert what in str(info.value) and info.value.status == 400
    assert origin.paths(suffix=".ts") == []


def test_playlist_that_is_neither_master_nor_media_is_refused(origin, tmp_path):
    origin.add_file("empty/index.m3u8", b"#EXTM3U\n#EXT-X-VERSION:3\n")
    with pytest.raises(PlaylistError, match="neither a master playlist"):
        get(origin, "empty/index.m3u8", tmp_path)
    origin.add_file("none/index.m3u8", b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-ENDLIST\n")
    with pytest.raises(PlaylistError, match="has no segments"):
        get(origin, "none/index.m3u8", tmp_path / "b")


def test_unsupported_encryption_is_named(origin, hls_media, tmp_path):
    text = (hls_media.root / "aes" / "index.m3u8").read_text().replace("AES-128", "SAMPLE-AES")
    origin.add_file("aes/sample.m3u8", text.encode())
    with pytest.raises(DownloadError, match="SAMPLE-AES encryption, which is not supported"):
        get(origin, "aes/sample.m3u8", tmp_path)


def test_parsing_helpers():
    check_lines("#EXTM3U\n#EXTINF:4.5,title, with comma\n#EXTINF:.5,\n", "http://h/i.m3u8")
    text = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\n?a=1\n#EXT-X-ENDLIST\n"
    playlist = media_playlist(parse(text, "http://h/p/i.m3u8?x=9"), "http://h/p/i.m3u8?x=9", 10)
    assert playlist.segments[0].uri == "http://h/p/i.m3u8?a=1"
    assert playlist.ended and not playlist.live
