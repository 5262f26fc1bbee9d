"""precise_cut on H.264: only the edges re-encoded, the whole GOPs between them copied.

The sources are made by the bundled ffmpeg (libx264 with B-frames and a
B-pyramid, a keyframe every second), served by the loopback origin and
downloaded through the engine with start/end/precise_cut as a user would.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import av
import numpy as np
import pytest

from mediacraft.download import DownloadOptions, download
from mediacraft.download.avcc import AvcConfig, free_ids
from tests.support.decode import decode_all, psnr
from tests.support.media import FFMPEG, make_video
from tests.support.origin import Origin, package_hls

ALLOW = ("127.0.0.1",)
FPS = 25
START, END = 2.2, 5.6  # keyframes every 1 s: head 2.2-3.0, copied 3.0-5.0, tail 5.0-5.6
FRAMES = 85  # the frames at 2.20, 2.24 ... 5.56 s
B_PYRAMID = ["-x264-params", "bframes=3:b-pyramid=normal"]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("smartcut")
    make_video(base / "h264.mp4", 8.0, "320x240", FPS, gop=FPS, extra=B_PYRAMID)
    make_video(base / "mpeg4.mkv", 8.0, "320x240", FPS, codec="mpeg4", gop=FPS)
    open_gop = ["-x264-params", "bframes=3:open-gop=1"]
    make_video(base / "open-gop.mp4", 8.0, "320x240", FPS, gop=FPS, extra=open_gop)
    package_hls(base / "h264.mp4", base / "hls", 1.0)
    return base


@pytest.fixture
def origin(root: Path):
    with Origin(root) as server:
        yield server


def cut(origin: Origin, name: str, tmp_path: Path, **changes: object):
    lines: list[str] = []
    options = DownloadOptions.from_dict(
        {"retry_delay": 0.01, "start": START, "end": END, "precise_cut": True, **changes}
    )
    result = download(origin.url(name), tmp_path / "out" / "clip.mp4", options,
                      work_dir=tmp_path / "w", allowed_networks=ALLOW,
                      log=lines.append)  # fmt: skip
    return result, lines


def frames_by_time(path: Path, first: float = 0.0) -> dict[int, np.ndarray]:
    """Luma of every video frame, by its time in milliseconds (``first`` added)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return {
            round((float(f.pts * stream.time_base) + first) * 1000): f.to_ndarray(format="gray")
            for f in container.decode(stream)
        }


def packets_by_time(path: Path, first: float = 0.0) -> dict[int, bytes]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return {
            round((float(p.pts * stream.time_base) + first) * 1000): bytes(p)
            for p in container.demux(stream)
            if p.pts is not None and p.size
        }


def ffmpeg_errors(path: Path) -> str:
    run = [FFMPEG, "-v", "error", "-i", str(path), "-f", "null", "-"]
    return subprocess.run(run, capture_output=True, text=True, timeout=120).stderr


def test_an_h264_clip_is_exact_and_its_middle_is_the_sources_bytes(origin, root, tmp_path):
    result, log = cut(origin, "h264.mp4", tmp_path)
    assert any("frame-exact" in line for line in log), log
    assert not any("re-encoding the whole clip" in line for line in log)

    source = frames_by_time(root / "h264.mp4")
    clip = frames_by_time(result.path, first=START)
    expected = [t for t in sorted(source) if START * 1000 <= t < END * 1000]
    assert len(expected) == FRAMES
    assert sorted(clip) == expected  # the first and the last frame, and none missing

    times = sorted(source)
    for t in expected:
        if 3000 <= t < 5000:  # copied: decoded to the same pixels
            assert np.array_equal(clip[t], source[t]), t
        else:  # re-encoded at CRF 18: close to its own frame, further from the neighbours
            here = times.index(t)
            own = psnr(clip[t], source[t])
            assert own > 35, (t, own)
            for other in (times[here - 1], times[min(here + 1, len(times) - 1)]):
                if other != t:
                    assert psnr(clip[t], source[other]) < own - 3, (t, other)

    copied = packets_by_time(result.path, first=START)
    original = packets_by_time(root / "h264.mp4")
    middle = [t for t in expected if 3000 <= t < 5000]
    assert len(middle) == 2 * FPS
    assert all(copied[t] == original[t] for t in middle)
    edges = [t for t in expected if t not in middle]
    assert all(copied[t] != original[t] for t in edges)  # really re-encoded

    assert ffmpeg_errors(result.path) == ""
    assert abs(result.duration - (END - START)) <= 1 / FPS
    with av.open(str(result.path)) as container:
        audio = container.streams.audio[0]
        samples = sum(f.samples for f in container.decode(audio))
        assert abs(samples / audio.sample_rate - (END - START)) <= 1 / FPS
    assert decode_all(result.path)["video"] == FRAMES


@pytest.mark.parametrize("end", [None, 8.0])
def test_a_range_to_the_end_copies_all_after_the_first_keyframe(origin, root, tmp_path, end):
    result, log = cut(origin, "h264.mp4", tmp_path, end=end)
    assert any("frame-exact" in line and "+ 0 frames" in line for line in log), log
    clip = packets_by_time(result.path, first=START)
    original = packets_by_time(root / "h264.mp4")
    after = [t for t in original if t >= 3000]
    assert all(clip[t] == original[t] for t in after)
    assert len(clip) == len([t for t in original if t >= START * 1000])
    assert ffmpeg_errors(result.path) == ""


@pytest.mark.parametrize(
    ("name", "reason"),
    [("mpeg4.mkv", "the video is mpeg4, not H.264"),
     ("open-gop.mp4", "is not an IDR picture (open GOP)")],
)  # fmt: skip
def test_what_cannot_be_joined_is_re_encoded_whole_and_says_why(origin, tmp_path, name, reason):
    result, log = cut(origin, name, tmp_path)
    fallback = [line for line in log if "re-encoding the whole clip instead" in line]
    assert len(fallback) == 1, log
    assert reason in fallback[0]
    assert "Cutting the time range: re-encoded to the exact frames" in log
    assert decode_all(result.path)["video"] == FRAMES
    assert ffmpeg_errors(result.path) == ""
    with av.open(str(result.path)) as container:
        assert container.streams.video[0].codec_context.name == "h264"


def test_the_avcc_record_reads_back_as_written(root):
    with av.open(str(root / "h264.mp4")) as container:
        extradata = bytes(container.streams.video[0].codec_context.extradata)
    config = AvcConfig.parse(extradata)
    assert config.build() == extradata
    assert config.sps_ids() == {0} and config.pps_ids() == {0}
    assert free_ids(config, 2) == [1, 2]
    joined = config.with_sets([config.sps[0]], [config.pps[0]])
    again = AvcConfig.parse(joined.build())
    assert again.sps == config.sps * 2 and again.pps == config.pps * 2


def test_an_mkv_result_is_smart_cut_too(origin, root, tmp_path):
    result, log = cut(origin, "h264.mp4", tmp_path, container="mkv")
    assert result.path.suffix == ".mkv"
    assert any("frame-exact" in line for line in log), log
    assert decode_all(result.path)["video"] == FRAMES
    assert ffmpeg_errors(result.path) == ""
    clip = packets_by_time(result.path, first=START)
    original = packets_by_time(root / "h264.mp4")
    assert all(clip[t] == original[t] for t in original if 3000 <= t < 5000)


def test_an_hls_range_is_smart_cut_from_the_fetched_segments(origin, root, tmp_path):
    result, log = cut(origin, "hls/index.m3u8", tmp_path, end=6.0)
    assert "Time range 2.2-6 s: fetching 4 of 8 segments" in log
    assert any("frame-exact" in line for line in log), log
    assert decode_all(result.path)["video"] == 95  # 3.8 s at 25 fps
    assert ffmpeg_errors(result.path) == ""
    # Through MPEG-TS the samples are not the source MP4's bytes (access unit
    # delimiters are added): the copied ones are those of the keyframe cut.
    keyframe_cut, _ = cut(origin, "hls/index.m3u8", tmp_path / "copy", end=6.0, precise_cut=False)
    copy = set(packets_by_time(keyframe_cut.path).values())
    same = [p for p in packets_by_time(result.path).values() if p in copy]
    assert len(same) == 2 * FPS


def test_a_join_that_does_not_decode_is_not_kept(origin, root, tmp_path, monkeypatch):
    """Edges given the source's own parameter-set id make a join players can't decode:
    the check around the joins catches it and the whole clip is re-encoded instead."""
    from mediacraft.download import smartcut

    monkeypatch.setattr(smartcut, "free_ids", lambda config, count: [0] * count)
    result, log = cut(origin, "h264.mp4", tmp_path)
    fallback = [line for line in log if "does not decode cleanly" in line]
    assert len(fallback) == 1, log
    assert not any("frame-exact" in line for line in log)
    assert decode_all(result.path)["video"] == FRAMES
    assert ffmpeg_errors(result.path) == ""
