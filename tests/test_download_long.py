"""Long playlists: a bounded submission window, a small checkpoint, keys fetched apart."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mediacraft.download import DownloadOptions, download
from mediacraft.progress import Progress
from tests.support.media import make_video
from tests.support.origin import HlsMedia, Origin, frame_hashes, package_hls, shared_media

ALLOW = ("127.0.0.1",)


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """400 segments of a tenth of a second (tiny pictures, a keyframe each)."""
    root = tmp_path_factory.mktemp("many")
    source = make_video(root / "src.mp4", 40.0, "64x48", 10, gop=1, audio=False)
    package_hls(source, root / "many", 0.1)
    return root


@pytest.fixture(scope="session")
def hls_media(tmp_path_factory: pytest.TempPathFactory) -> HlsMedia:
    return shared_media(tmp_path_factory)  # type: ignore[return-value]


def test_work_in_flight_and_the_checkpoint_stay_small_on_a_long_playlist(many, tmp_path):
    work = tmp_path / "w"
    seen_files: list[int] = []
    checkpoint_sizes: list[int] = []

    def hook(progress: Progress) -> None:
        seg = work / "seg"
        if seg.exists():
            seen_files.append(len(list(seg.iterdir())))
        if (work / "checkpoint.json").exists():
            checkpoint_sizes.append((work / "checkpoint.json").stat().st_size)

    with Origin(many) as origin:
        origin.latency = 0.005
        origin.add_fault("many/seg_010.ts", "delay", seconds=1.0)  # holds up the assembly
        result = download(
            origin.url("many/index.m3u8"), tmp_path / "o.mp4",
            DownloadOptions(threads=4, retry_delay=0.01, checkpoint_interval=0.0),
            work_dir=work, allowed_networks=ALLOW, progress=hook,
        )  # fmt: skip
        assert origin.max_in_flight <= 4
    assert result.segments == 400
    assert frame_hashes(result.path) == frame_hashes(many / "src.mp4")
    window = 4 * 4  # a few times the threads, not all 400 segments at once
    assert seen_files and max(seen_files) <= window + 4  # + the .part files being written
    # While segment 11 waited, the others were not fetched far ahead.
    assert checkpoint_sizes and max(checkpoint_sizes) < 2048


def test_a_slow_key_holds_up_only_the_segments_that_need_it(hls_media, tmp_path):
    text = (hls_media.root / "aes" / "index.m3u8").read_text()
    lines = text.splitlines()
    # Segments 1-3 use key A (slow), 4-6 the same key under another URL (fast).
    segment_lines = [i for i, line in enumerate(lines) if line.endswith(".ts")]
    key_line = next(i for i, line in enumerate(lines) if line.startswith("#EXT-X-KEY"))
    fast_key = lines[key_line].replace("../keys/k.key", "../keys/fast.key")
    lines.insert(segment_lines[3] - 1, fast_key)
    body = "\n".join(re.sub(r"^(seg_\d+\.ts)$", r"../aes/\1", line) for line in lines)
    with Origin(hls_media.root) as origin:
        origin.add_file("keys/fast.key", hls_media.key)
        origin.add_file("two/index.m3u8", body.encode())
        origin.add_fault("keys/k.key", "delay", seconds=2.0)
        result = download(
            origin.url("two/index.m3u8"), tmp_path / "o.mp4",
            DownloadOptions(threads=6, retry_delay=0.01), work_dir=tmp_path / "w",
            allowed_networks=ALLOW,
        )  # fmt: skip
        entries = {e.path: e for e in origin.log}
    assert frame_hashes(result.path) == frame_hashes(hls_media.root / "src" / "hi.mp4")
    slow_key = entries["/keys/k.key"]
    # The fast-key segments were requested while the slow key was still on its way.
    for number in (3, 4, 5):
        assert entries[f"/aes/seg_00{number}.ts"].at < slow_key.at + 1.5
    assert [e.path for e in origin.log].count("/keys/k.key") == 1
