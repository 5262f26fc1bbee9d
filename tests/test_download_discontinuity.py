"""Discontinuities whose codec parameters change: joined so every frame decodes, or split."""

from __future__ import annotations

import subprocess
from pathlib import Path

import av
import pytest

from mediacraft.download import DownloadOptions, download
from tests.support.media import FFMPEG, make_video
from tests.support.origin import Origin, frame_hashes, package_hls
from tests.support.streams import build_mixed_discontinuity

ALLOW = ("127.0.0.1",)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("disc")
    build_mixed_discontinuity(root / "mixed")
    # the same encode packaged once as MPEG-TS and once as fMP4, joined by a discontinuity
    source = make_video(root / "src.mp4", 4.0, "320x240", 25, gop=25)
    package_hls(source, root / "ts", 1.0)
    package_hls(source, root / "fmp4", 1.0, fmp4=True)
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-TARGETDURATION:1"]
    ts_lines = [x for x in (root / "ts" / "index.m3u8").read_text().splitlines()
                if x.startswith("#EXTINF") or x.endswith(".ts")]  # fmt: skip
    for line in ts_lines[:6]:  # the first three seconds as MPEG-TS
        lines.append(line if line.startswith("#") else f"ts/{line}")
    lines += ["#EXT-X-DISCONTINUITY", '#EXT-X-MAP:URI="fmp4/init.mp4"']
    for line in (root / "fmp4" / "index.m3u8").read_text().splitlines():
        if line.startswith("#EXTINF") or line.endswith(".m4s"):
            lines.append(line if line.startswith("#") else f"fmp4/{line}")
    lines.append("#EXT-X-ENDLIST")
    (root / "tsfmp4.m3u8").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture
def origin(media: Path):
    with Origin(media) as server:
        yield server


def options(**changes: object) -> DownloadOptions:
    return DownloadOptions.from_profile("stable", retry_delay=0.01, **changes)


def decode_everything(path: Path) -> tuple[int, set[tuple[int, int]], int]:
    """(video frames, picture sizes, ffmpeg decode errors) over the whole file."""
    run = subprocess.run(
        [FFMPEG, "-v", "error", "-i", str(path), "-f", "null", "-"], capture_output=True, text=True
    )
    sizes = set()
    frames = 0
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            frames += 1
            sizes.add((frame.width, frame.height))
    return frames, sizes, len([line for line in run.stderr.splitlines() if line.strip()])


def test_groups_with_other_parameters_are_reencoded_to_the_main_groups(origin, tmp_path):
    logged: list[str] = []
    result = download(
        origin.url("mixed/index.m3u8"), tmp_path / "o.mp4", options(), work_dir=tmp_path / "w",
        allowed_networks=ALLOW, log=logged.append,
    )  # fmt: skip
    frames, sizes, errors = decode_everything(result.path)
    assert sizes == {(320, 240)} and errors == 0
    assert frames == 3 * 25 + 2 * 25 + 2 * 25  # the 30 fps clip is made 25 fps like the rest
    assert abs(result.duration - 7.0) < 0.25
    with av.open(str(result.path)) as container:
        audio = container.streams.audio[0].codec_context
        assert (audio.sample_rate, audio.channels) == (44100, 1)  # the main groups' layout
    assert any("Discontinuity group 2" in line and "re-encoding" in line for line in logged)
    assert sum("re-encoding" in line for line in logged) == 1  # only the odd group


def test_split_discontinuities_writes_one_file_per_group(origin, tmp_path):
    result = download(
        origin.url("mixed/index.m3u8"), tmp_path / "show.mp4",
        options(split_discontinuities=True), work_dir=tmp_path / "w", allowed_networks=ALLOW,
    )  # fmt: skip
    assert [p.name for p in result.files] == ["show.mp4", "show.part2.mp4", "show.part3.mp4"]
    sizes = []
    for path in result.files:
        with av.open(str(path)) as container:
            stream = container.streams.video[0].codec_context
            sizes.append((stream.width, stream.height))
    assert sizes == [(320, 240), (160, 120), (320, 240)]  # stream copies, not re-encoded
    assert frame_hashes(result.files[1]) == frame_hashes(origin.root / "mixed" / "src" / "clip.mp4")


def test_ts_next_to_fmp4_with_equal_parameters_is_joined_by_copy(origin, tmp_path):
    logged: list[str] = []
    result = download(
        origin.url("tsfmp4.m3u8"), tmp_path / "o.mp4", options(), work_dir=tmp_path / "w",
        allowed_networks=ALLOW, log=logged.append,
    )  # fmt: skip
    frames, sizes, errors = decode_everything(result.path)
    assert errors == 0 and sizes == {(320, 240)}
    assert frames == 3 * 25 + 4 * 25
    assert not any("re-encoding" in line for line in logged)
