"""Probing, upload refusal, frame extraction and running ffmpeg (mediacraft.media)."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest

from mediacraft.exceptions import Cancelled, Interrupted, MediaError, ValidationError
from mediacraft.media import (
    extract_frame,
    ffmpeg_exe,
    media_metadata,
    probe,
    probe_upload,
    run_ffmpeg,
)
from mediacraft.progress import CancelToken
from tests.support.decode import jpeg_luma, luma_frames
from tests.support.media import FFMPEG, make_video


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 s, 320x240, 25 fps, keyframe every 25 frames, with audio: 75 frames."""
    return make_video(tmp_path_factory.mktemp("media") / "clip.mp4", 3, gop=25)


@pytest.fixture(scope="module")
def clip_frames(clip: Path) -> list[np.ndarray]:
    return luma_frames(clip)


def test_ffmpeg_is_the_bundled_one() -> None:
    assert ffmpeg_exe() == imageio_ffmpeg.get_ffmpeg_exe()


def test_probe_reports_metadata(clip: Path) -> None:
    info = probe(clip)
    assert (info.width, info.height) == (320, 240)
    assert info.fps == 25 and info.fps_fraction == "25/1"
    assert info.duration == pytest.approx(3.0, abs=0.05)
    assert info.frame_count == 75
    assert info.video_codec == "h264" and info.pix_fmt == "yuv420p"
    assert info.audio_codec == "aac" and info.audio_sample_rate == 44100
    assert info.audio_channels == 1 and info.has_audio
    assert info.bit_rate and info.size == clip.stat().st_size
    meta = media_metadata(info)
    assert "path" not in meta and meta["has_audio"] is True
    assert meta["frame_count"] == 75 and meta["width"] == 320


def test_probe_without_audio(tmp_path: Path) -> None:
    info = probe_upload(make_video(tmp_path / "silent.mp4", 2, audio=False))
    assert info.audio_codec is None and not info.has_audio
    assert media_metadata(info)["has_audio"] is False


@pytest.mark.parametrize("suffix", [".mkv", ".ts", ".webm"])
def test_other_containers_are_accepted(tmp_path: Path, suffix: str) -> None:
    codec = "libvpx" if suffix == ".webm" else "libx264"
    extra = ["-c:a", "libopus"] if suffix == ".webm" else None
    path = make_video(tmp_path / f"clip{suffix}", 2, codec=codec, extra=extra)
    info = probe_upload(path)
    assert (info.width, info.height) == (320, 240)
    assert info.duration == pytest.approx(2.0, abs=0.1)
    assert info.frame_count == pytest.approx(50, abs=2)


def test_hls_playlist_is_refused_and_nothing_it_names_is_opened(tmp_path: Path) -> None:
    """Without the format whitelist PyAV would open a local .m3u8 as HLS and read the
    segments it names (local files, or URLs); it must be refused before that."""
    segment = make_video(tmp_path / "seg0.ts", 2)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.3)
    port = server.getsockname()[1]
    text = (
        "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n"
        f"#EXTINF:2.0,\n{segment}\n#EXTINF:2.0,\nhttp://127.0.0.1:{port}/seg1.ts\n"
        "#EXT-X-ENDLIST\n"
    )
    try:
        for name in ("playlist.mp4", "playlist.m3u8"):
            path = tmp_path / name
            path.write_text(text)
            with pytest.raises(MediaError, match="not a video"):
                probe_upload(path)
            with pytest.raises(MediaError):
                extract_frame(path, index=0)
        with pytest.raises(socket.timeout):
            server.accept()[0].close()
    finally:
        server.close()


def test_ffconcat_script_is_refused(tmp_path: Path, clip: Path) -> None:
    """A concat script naming a real clip (that the concat demuxer would happily join)."""
    (tmp_path / "part.mp4").write_bytes(clip.read_bytes())
    script = tmp_path / "script.mp4"
    script.write_text("ffconcat version 1.0\nfile part.mp4\nfile part.mp4\n")
    with pytest.raises(MediaError, match="not a video"):
        probe_upload(script)
    with pytest.raises(MediaError):
        probe(script)


def test_image_renamed_mp4_is_refused(tmp_path: Path) -> None:
    png = tmp_path / "frame.png"
    subprocess.run(
        [FFMPEG, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x64", "-frames:v", "1", png],
        check=True,
    )
    renamed = tmp_path / "frame.mp4"
    png.rename(renamed)
    with pytest.raises(MediaError, match="not a video"):
        probe_upload(renamed)


def test_text_empty_and_audio_only_are_refused(tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("just some text, not a video\n" * 50)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    audio = tmp_path / "audio.mp4"
    subprocess.run(
        [FFMPEG, "-v", "error", "-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac", audio],
        check=True,
    )
    for path in (text, empty):
        with pytest.raises(MediaError, match="uploaded file is not a video"):
            probe_upload(path)
    with pytest.raises(MediaError, match="no video stream"):
        probe_upload(audio)
    with pytest.raises(MediaError, match="missing"):
        probe_upload(tmp_path / "nothing.mp4")


def test_truncated_upload_is_refused(tmp_path: Path, clip: Path) -> None:
    """An MP4 cut short (header says video, no decodable picture) is refused."""
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(clip.read_bytes()[:2000])
    with pytest.raises(MediaError):
        probe_upload(broken)


def _closest(picture: np.ndarray, frames: list[np.ndarray]) -> int:
    errors = [np.mean(np.abs(picture.astype(int) - f.astype(int))) for f in frames]
    return int(np.argmin(errors))


@pytest.mark.parametrize("index", [0, 1, 37, 50, 74])
def test_frame_by_index_matches_full_decode(
    clip: Path, clip_frames: list[np.ndarray], index: int
) -> None:
    data = extract_frame(clip, index=index)
    assert data[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9"  # JPEG SOI/EOI
    picture = jpeg_luma(data)
    assert picture.shape == clip_frames[index].shape
    # the nearest decoded frame is the wanted one, and it is close (JPEG loss only)
    assert _closest(picture, clip_frames) == index
    assert np.mean(np.abs(picture.astype(int) - clip_frames[index].astype(int))) < 6


@pytest.mark.parametrize(("seconds", "index"), [(0.0, 0), (1.5, 37), (2.96, 74), (3.0, 74)])
def test_frame_by_time(
    clip: Path, clip_frames: list[np.ndarray], seconds: float, index: int
) -> None:
    picture = jpeg_luma(extract_frame(clip, t=seconds))
    assert _closest(picture, clip_frames) == index


def test_frame_scaled_down(clip: Path) -> None:
    picture = jpeg_luma(extract_frame(clip, index=10, max_width=160))
    assert picture.shape == (120, 160)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"index": 75}, "frame index 75 is out of range"),
        ({"index": -1}, "out of range"),
        ({"index": "3"}, "must be an integer"),
        ({"t": 3.5}, "outside the video"),
        ({"t": -0.1}, "outside the video"),
        ({"index": 1, "t": 1.0}, "not both"),
        ({"index": 1, "max_width": 4}, "max_width"),
    ],
)
def test_invalid_frame_requests(clip: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        extract_frame(clip, **kwargs)


def test_frame_of_a_non_video_is_a_media_error(tmp_path: Path) -> None:
    text = tmp_path / "x.mp4"
    text.write_text("hello")
    with pytest.raises(MediaError):
        extract_frame(text, index=0)


def test_run_ffmpeg_reports_progress_to_100(tmp_path: Path, clip: Path) -> None:
    reports = []
    out = tmp_path / "copy.mp4"
    result = run_ffmpeg(
        ["-y", "-i", clip, "-c:v", "libx264", "-preset", "ultrafast", "-an", out],
        reports.append,
        duration=3.0,
    )
    assert out.is_file() and result.out_time == pytest.approx(3.0, abs=0.1)
    assert reports and reports[-1].percent == 100.0 and reports[-1].stage == "encoding"
    percents = [r.percent for r in reports]
    assert percents == sorted(percents)


def test_run_ffmpeg_failure_is_summarised(tmp_path: Path) -> None:
    with pytest.raises(MediaError) as caught:
        run_ffmpeg(["-i", tmp_path / "missing.mp4", tmp_path / "out.mp4"])
    message = str(caught.value)
    assert message.startswith("ffmpeg failed (exit code")
    assert "No such file or directory" in message and "Traceback" not in message


def _endless(out: Path) -> list[str]:
    """An ffmpeg job that never ends by itself."""
    return ["-y", "-re", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-f", "null", out]


def _assert_group_gone(pgid: int) -> None:
    with pytest.raises(ProcessLookupError):
        os.killpg(pgid, 0)


@pytest.mark.parametrize(("how", "error"), [("cancel", Cancelled), ("interrupt", Interrupted)])
def test_cancel_kills_ffmpeg_within_a_second(tmp_path: Path, how: str, error: type) -> None:
    token = CancelToken()
    started = threading.Event()
    pids: list[int] = []

    def on_start(pid: int) -> None:
        pids.append(pid)
        started.set()

    outcome: list[BaseException] = []

    def run() -> None:
        try:
            run_ffmpeg(_endless(tmp_path / "null"), cancel=token, on_start=on_start)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    assert started.wait(10)
    time.sleep(0.5)  # let ffmpeg get going
    os.killpg(pids[0], 0)  # alive, in its own process group
    assert os.getpgid(pids[0]) == pids[0] != os.getpgid(0)
    asked = time.monotonic()
    getattr(token, how)()
    worker.join(5)
    assert not worker.is_alive() and time.monotonic() - asked < 1.0
    assert len(outcome) == 1 and isinstance(outcome[0], error)
    _assert_group_gone(pids[0])


def test_timeout_kills_ffmpeg(tmp_path: Path) -> None:
    pids: list[int] = []
    started = time.monotonic()
    with pytest.raises(MediaError, match="did not finish within 0.5 seconds"):
        run_ffmpeg(_endless(tmp_path / "null"), timeout=0.5, on_start=pids.append)
    assert time.monotonic() - started < 2.0
    _assert_group_gone(pids[0])


def test_output_cap_kills_ffmpeg(tmp_path: Path) -> None:
    pids: list[int] = []
    args = ["-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-c:v", "rawvideo"]
    args += ["-f", "nut", tmp_path / "big.nut"]
    with pytest.raises(MediaError, match="output grew past the limit"):
        run_ffmpeg(args, max_output_bytes=2_000_000, on_start=pids.append, timeout=20)
    _assert_group_gone(pids[0])
