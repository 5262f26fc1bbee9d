"""A time range of a direct MP4 file: only the byte ranges that cover it are fetched."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pytest

from mediacraft.cli import main
from mediacraft.download import DownloadOptions, download
from mediacraft.download.mp4index import SparseView, merge
from mediacraft.download.mp4layout import LayoutError, read_layout
from mediacraft.exceptions import Interrupted, ValidationError
from mediacraft.progress import CancelToken, Progress
from tests.support.decode import decode_all, packet_hashes, stream_duration
from tests.support.media import FFMPEG, make_video
from tests.support.origin import Origin, frame_hashes
from tests.support.results import finished

ALLOW = ("127.0.0.1",)
GOP = 3.0  # seconds between keyframes: 20 s falls inside a GOP (keyframes at 18 and 21 s)
MiB = 1024 * 1024


def _ffmpeg(*args: str) -> None:
    subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-y", *args], check=True,
                   timeout=300)  # fmt: skip


def _largesize_mdat(source: Path, target: Path) -> Path:
    """``source`` (ffmpeg's ``free`` + ``mdat`` layout) with a 64-bit mdat header in their place."""
    data = bytearray(source.read_bytes())
    at = data.index(b"free") - 4
    assert data[at + 8 + 4 : at + 8 + 8] == b"mdat"
    size = struct.unpack(">I", data[at + 8 : at + 12])[0]
    data[at : at + 16] = struct.pack(">I4sQ", 1, b"mdat", size + 8)
    target.write_bytes(bytes(data))
    return target


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("direct-clip")
    at_end = make_video(root / "end.mp4", 60.0, "640x360", 25, gop=int(25 * GOP))
    front = root / "front.mp4"
    _ffmpeg("-i", str(at_end), "-c", "copy", "-movflags", "+faststart", str(front))
    fragmented = root / "frag.mp4"
    _ffmpeg("-i", str(at_end), "-c", "copy", "-movflags", "+frag_keyframe+empty_moov",
            str(fragmented))  # fmt: skip
    # B-frames: composition offsets (ctts) and an edit list shifting the presentation
    bframes = make_video(root / "bframes.mp4", 60.0, "640x360", 25, gop=int(25 * GOP),
                         extra=["-bf", "3"])  # fmt: skip
    return {"end": at_end, "front": front, "frag": fragmented, "bframes": bframes,
            "large": _largesize_mdat(at_end, root / "large.mp4")}  # fmt: skip


def serve(origin: Origin, path: Path) -> str:
    origin.bandwidth = 8 * MiB  # a capped link: what the server sends is what was asked for
    return origin.add_file(path.name, path.read_bytes())


def get(url: str, tmp_path: Path, log: list[str] | None = None, progress: list | None = None,
        **changes: object):  # fmt: skip
    options = DownloadOptions.from_dict({"retry_delay": 0.01, "start": 20, "end": 30, **changes})
    return download(url, tmp_path / "out" / "clip.mp4", options, work_dir=tmp_path / "w",
                    allowed_networks=ALLOW, log=(log if log is not None else []).append,
                    progress=(progress if progress is not None else []).append)  # fmt: skip


def served(origin: Origin) -> int:
    return sum(entry.sent for entry in origin.log)


def decode_errors(path: Path) -> str:
    result = subprocess.run([FFMPEG, "-v", "error", "-i", str(path), "-f", "null", "-"],
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    return result.stdout + result.stderr


def assert_clip(path: Path) -> None:
    """Video and audio of the range, cut at the keyframe at or before 20 s, decoding cleanly."""
    assert decode_errors(path) == ""
    for kind in ("video", "audio"):
        assert 10.0 - 0.1 < stream_duration(path, kind) < 10.0 + GOP + 0.1, kind


@pytest.mark.parametrize("layout", ["front", "end", "large"])
def test_a_time_range_fetches_only_the_bytes_that_cover_it(files, tmp_path, layout):
    source = files[layout]
    log: list[str] = []
    progress: list = []
    with Origin() as origin:
        url = serve(origin, source)
        result = get(url, tmp_path, log, progress)
        size = source.stat().st_size
        assert served(origin) < 0.4 * size, [(e.range, e.status, e.sent) for e in origin.log]
        ranged = [e for e in origin.log if e.range]
        assert ranged and all(e.status == 206 for e in ranged)
    assert any("byte range(s)" in line for line in log), log
    assert_clip(result.path)
    assert [t["type"] for t in result.tracks] == ["video", "audio"]
    # the progress counts the bytes needed, not the file
    downloading = [p for p in progress if p.stage == "downloading"]
    assert downloading and downloading[-1].bytes_total < 0.4 * size
    assert downloading[-1].bytes_done == downloading[-1].bytes_total


@pytest.mark.parametrize("name", ["end", "bframes"])
def test_the_ranged_clip_equals_the_cut_of_the_whole_file(files, tmp_path, name):
    """A server that ignores Range: the whole file is fetched and cut, to the same clip."""
    log: list[str] = []
    with Origin() as origin:
        url = serve(origin, files[name])
        ranged = get(url, tmp_path / "ranged")
        origin.ignore_ranges = True
        origin.clear_log()
        whole = get(url, tmp_path / "whole", log)
        assert all(e.status == 200 for e in origin.log)
        # the answer to the first ranged request (the whole file) is read on, not asked again
        _first, ranged_asked = origin.log
        assert ranged_asked.range and ranged_asked.sent == files[name].stat().st_size
    assert any("ignored the byte range" in line for line in log), log
    assert_clip(whole.path)
    assert frame_hashes(ranged.path) == frame_hashes(whole.path)
    assert packet_hashes(ranged.path, "audio") == packet_hashes(whole.path, "audio")


def test_a_precise_cut_from_the_byte_ranges_has_exactly_the_frames_of_the_range(files, tmp_path):
    with Origin() as origin:
        url = serve(origin, files["bframes"])
        result = get(url, tmp_path, precise_cut=True)
        assert served(origin) < 0.4 * files["bframes"].stat().st_size
    assert decode_errors(result.path) == ""
    assert decode_all(result.path)["video"] == 250  # 20.00 ... 29.96 s at 25 fps


def test_a_range_to_the_end_and_a_connection_reset_mid_range(files, tmp_path):
    """``start`` alone covers to the end; a part cut off mid-body is retried from where it
    stopped (the checkpointed parts of the direct engine)."""
    requests = iter(range(1000))
    source = files["end"]
    log: list[str] = []
    with Origin() as origin:
        url = serve(origin, source)
        # the 4th request is the first one for samples (first response, moov, head, window)
        origin.add_fault(lambda _path: next(requests) == 3, "reset", after=300_000)
        result = get(url, tmp_path, log, start=45, end=None)
        assert served(origin) < 0.4 * source.stat().st_size
        retried = [e for e in origin.log if e.range and e.range.startswith("bytes=")][-1]
    assert any("reset" in line or "cut off" in line for line in log), log
    assert retried.status == 206
    assert decode_errors(result.path) == ""
    for kind in ("video", "audio"):
        assert 15.0 - 0.1 < stream_duration(result.path, kind) < 15.0 + GOP + 0.1, kind


def test_an_interrupted_clip_resumes_with_the_bytes_it_lacks(files, tmp_path):
    token = CancelToken()
    needed: list[int] = []

    def hook(progress: Progress) -> None:
        if progress.stage == "downloading" and progress.bytes_total:
            needed.append(progress.bytes_total)
            if progress.bytes_done >= progress.bytes_total // 2:
                token.interrupt()

    options = DownloadOptions(retry_delay=0.01, checkpoint_interval=0.0, start=20, end=30)
    with Origin() as origin:
        url = serve(origin, files["end"])
        origin.bandwidth = 4 * MiB  # the samples take about a second
        with pytest.raises(Interrupted):
            download(url, tmp_path / "o.mp4", options, work_dir=tmp_path / "w",
                     allowed_networks=ALLOW, progress=hook, cancel=token)  # fmt: skip
        origin.clear_log()
        origin.bandwidth = 8 * MiB
        result = download(url, tmp_path / "o.mp4", options, work_dir=tmp_path / "w",
                          allowed_networks=ALLOW)  # fmt: skip
        samples = [e for e in origin.log if e.range and e.sent > 200_000]
        assert samples and sum(e.sent for e in samples) < 0.7 * needed[-1]
        reference = get(url, tmp_path / "reference")
    assert frame_hashes(result.path) == frame_hashes(reference.path)


def test_a_fragmented_mp4_falls_back_to_the_whole_file(files, tmp_path):
    log: list[str] = []
    with Origin() as origin:
        url = serve(origin, files["frag"])
        result = get(url, tmp_path, log)
        (entry,) = origin.log  # the first response was read on, not asked again
        assert entry.range is None and entry.sent == files["frag"].stat().st_size
    assert any("fragmented MP4" in line for line in log), log
    assert_clip(result.path)


def test_an_end_past_the_duration_is_refused_from_the_index(files, tmp_path):
    with Origin() as origin:
        url = serve(origin, files["end"])
        with pytest.raises(ValidationError, match=r"end \(90 s\) is past the video's duration"):
            get(url, tmp_path, end=90)
        assert served(origin) < 0.2 * files["end"].stat().st_size  # the index, not the media


def test_the_command_line_fetches_only_the_range(files, tmp_path, capsys):
    out = tmp_path / "clip.mp4"
    with Origin() as origin:
        url = serve(origin, files["front"])
        code = main(["download", url, "-o", str(out), "-q", "--allow-network", "127.0.0.1",
                     "--start", "0:20", "--end", "0:30"])  # fmt: skip
        assert code == 0, capsys.readouterr().err
        assert served(origin) < 0.4 * files["front"].stat().st_size
    assert_clip(out)


def test_a_download_task_fetches_only_the_range(client, files):
    with Origin() as origin:
        url = serve(origin, files["end"])
        body = {"task_type": "download", "url": url, "options": {"start": 20, "end": "0:30"}}
        created = client.post("/api/tasks/create", json=body)
        assert created.status_code == 201, created.json
        status = finished(client, created.json["data"]["task_id"])
        assert status["status"] == "completed", status["error_message"]
        assert served(origin) < 0.4 * files["end"].stat().st_size
    assert 10.0 - 0.1 < status["result"]["duration"] < 10.0 + GOP + 0.1


# -- the box reader and the sparse view ------------------------------------------------------


def _box(kind: bytes, payload: bytes = b"", large: bool = False) -> bytes:
    if large:
        return struct.pack(">I4sQ", 1, kind, 16 + len(payload)) + payload
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def _reader(data: bytes):
    reads: list[tuple[int, int]] = []

    def read(offset: int, length: int) -> bytes:
        reads.append((offset, length))
        return data[offset : offset + length]

    return read, reads


def test_the_layout_reads_64_bit_and_to_the_end_sizes_without_the_media():
    moov = _box(b"moov", _box(b"mvhd", bytes(100)) + _box(b"trak", bytes(50)))
    media = bytes(300_000)
    data = _box(b"ftyp", b"isom\0\0\2\0") + _box(b"mdat", media, large=True) + moov
    data += struct.pack(">I4s", 0, b"free") + bytes(40)  # size 0: to the end of the file
    read, reads = _reader(data)
    boxes = read_layout(read, len(data))
    assert [(b.kind, b.size) for b in boxes] == [
        (b"ftyp", 16),
        (b"mdat", 16 + len(media)),
        (b"moov", len(moov)),
        (b"free", 48),
    ]
    assert boxes[1].header == data[16:32] and boxes[2].data == moov
    assert sum(length for _, length in reads) < 1000  # the mdat was never read


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            _box(b"ftyp", bytes(8)) + _box(b"moov", _box(b"mvex")) + _box(b"mdat", bytes(9)),
            "fragmented",
        ),
        (_box(b"ftyp", bytes(8)) + _box(b"moov") + _box(b"moof") + _box(b"mdat"), "fragmented"),
        (_box(b"ftyp", bytes(8)) + _box(b"mdat", bytes(9)), "no movie box"),
        (_box(b"ftyp", bytes(8)) + struct.pack(">I4s", 4000, b"mdat"), "runs past the end"),
        (_box(b"ftyp", bytes(8)) + struct.pack(">I4s", 3, b"mdat") + bytes(9), "impossible size"),
    ],
    ids=["mvex", "moof", "no-moov", "past-end", "too-small"],
)
def test_a_layout_that_cannot_be_used_says_why(data, message):
    read, _ = _reader(data)
    with pytest.raises(LayoutError, match=message):
        read_layout(read, len(data))


def test_the_sparse_view_has_the_blocks_and_zeros_elsewhere():
    view = SparseView(20, [(2, b"ab"), (10, b"xyz")])
    assert view.read(20) == b"\0\0ab" + bytes(6) + b"xyz" + bytes(7)
    view.seek(-9, 2)
    assert view.read(3) == b"yz\0"


def test_close_ranges_are_merged():
    assert merge([(50, 60), (0, 10), (12, 20), (5, 8)], gap=2) == [(0, 20), (50, 60)]
