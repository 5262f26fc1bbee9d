"""Video merge: stream copy for compatible clips, re-encode otherwise, the processor."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mediacraft.config import Config
from mediacraft.exceptions import Cancelled, ValidationError
from mediacraft.media import probe
from mediacraft.processors import get_processor, load_processors
from mediacraft.processors.merge import (
    MergeProcessor,
    can_stream_copy,
    concat_copy_args,
    link_clips,
    merge_clips,
)
from mediacraft.progress import CancelToken
from tests.support.decode import decode_all, luma_frames, packet_hashes, stream_duration
from tests.support.jobs import job_context, uploaded_task
from tests.support.media import make_video


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("merge")
    return {
        # compatible: same encoder settings, different lengths
        "a": make_video(root / "a.mp4", 2),
        "b": make_video(root / "b.mp4", 3),
        "c": make_video(root / "c.mp4", 2.5),
        # incompatible: other size and rate, no audio; portrait at 24 fps
        "wide": make_video(root / "wide.mp4", 2, size="480x270", fps=30, audio=False),
        "tall": make_video(root / "tall.mp4", 2.5, size="180x320", fps=24),
    }


def test_compatible_clips_are_joined_by_stream_copy(clips: dict[str, Path], tmp_path: Path) -> None:
    srcs = [clips["a"], clips["b"], clips["c"]]
    assert can_stream_copy([probe(s) for s in srcs])
    out = tmp_path / "joined.mp4"
    merged = merge_clips(srcs, out)
    assert merged.method == "copy"
    # no re-encode: the output's packets are the inputs' packets, byte for byte, in order
    for kind in ("video", "audio"):
        expected = [h for src in srcs for h in packet_hashes(src, kind)]
        assert packet_hashes(out, kind) == expected
    assert merged.info.duration == pytest.approx(7.5, abs=0.2)
    # the info comes from the clips' headers, not a read of the result: it must agree with one
    actual = probe(out)
    assert merged.info.duration == pytest.approx(actual.duration, abs=0.1)
    assert merged.info.size == actual.size == out.stat().st_size
    for field in ("width", "height", "fps_fraction", "video_codec", "audio_codec", "format_name"):
        assert getattr(merged.info, field) == getattr(actual, field), field
    assert decode_all(out)["video"] == 50 + 75 + 62
    assert list(tmp_path.iterdir()) == [out]  # links and list removed, no temp file


def test_concat_list_names_only_app_made_links(clips: dict[str, Path], tmp_path: Path) -> None:
    listing = link_clips([clips["a"], clips["b"]], tmp_path)
    assert listing.read_text() == "ffconcat version 1.0\nfile clip000.mp4\nfile clip001.mp4\n"
    assert (tmp_path / "clip000.mp4").samefile(clips["a"])
    args = concat_copy_args(listing, tmp_path / "out.mp4")
    assert args[args.index("-safe") + 1] == "1"
    assert args[args.index("-protocol_whitelist") + 1] == "file"


def test_incompatible_clips_are_reencoded(clips: dict[str, Path], tmp_path: Path) -> None:
    srcs = [clips["a"], clips["wide"], clips["tall"]]
    out = tmp_path / "mixed.mp4"
    merged = merge_clips(srcs, out)
    info = merged.info
    assert merged.method == "reencode"
    assert (info.width, info.height) == (480, 270)  # the largest clip's size
    assert info.fps == 30
    expected = 2 + 2 + 2.5
    assert info.duration == pytest.approx(expected, abs=0.2)
    assert info.audio_codec == "aac" and info.audio_channels == 2
    assert stream_duration(out, "audio") == pytest.approx(expected, abs=0.2)
    counts = decode_all(out)  # every frame decodes
    assert counts["video"] == pytest.approx(expected * 30, abs=3)
    # the portrait clip is scaled into the middle and padded with black at the sides
    last = luma_frames(out)[-1]
    assert last[:, :100].max() < 30 and last[:, -100:].max() < 30
    assert last[:, 200:280].mean() > 40


def test_clip_without_audio_gets_silence(clips: dict[str, Path], tmp_path: Path) -> None:
    import av

    out = tmp_path / "silence.mp4"
    merge_clips([clips["wide"], clips["a"]], out)
    with av.open(str(out)) as container:
        samples = [
            np.abs(frame.to_ndarray()).max()
            for frame in container.decode(container.streams.audio[0])
            if frame.time is not None and 0.1 < frame.time < 1.8
        ]
    assert samples and max(samples) < 1e-4  # the first clip had no audio: silence


def test_settable_order(clips: dict[str, Path], tmp_path: Path) -> None:
    task = uploaded_task("video_merge", [clips["a"], clips["b"], clips["c"]])
    MergeProcessor().validate_config(task, {"order": [2, 0, 1]}, Config())
    assert task.config["order"] == [2, 0, 1]
    ctx, reports = job_context(task, tmp_path)
    result = MergeProcessor().run(ctx)
    out = ctx.result_dir / "output.mp4"
    assert result["file_name"] == "output.mp4" and result["method"] == "copy"
    assert result["duration"] == pytest.approx(7.5, abs=0.2)
    expected = [h for k in ("c", "a", "b") for h in packet_hashes(clips[k], "video")]
    assert packet_hashes(out, "video") == expected
    assert reports[-1].percent == 100
    assert list(ctx.result_dir.iterdir()) == [out] and list(ctx.work_dir.iterdir()) == []


@pytest.mark.parametrize(
    ("count", "payload", "message"),
    [
        (1, {}, "at least 2 clips; 1 uploaded"),
        (21, {}, "at most 20 clips; 21 uploaded"),
        (3, {"order": [0, 1]}, "each clip index from 0 to 2 exactly once"),
        (3, {"order": [0, 1, 1]}, "exactly once"),
        (3, {"order": [0, 1, 3]}, "exactly once"),
        (3, {"order": "0,1,2"}, "list of clip indexes"),
        (2, {"order": [True, False]}, "list of clip indexes"),
    ],
)
def test_validate_config(count: int, payload: dict, message: str, clips: dict[str, Path]) -> None:
    task = uploaded_task("video_merge", [clips["a"]])
    task.inputs = task.inputs * count
    with pytest.raises(ValidationError, match=message):
        MergeProcessor().validate_config(task, payload, Config())


def test_processor_is_registered() -> None:
    load_processors()
    assert isinstance(get_processor("video_merge"), MergeProcessor)


def test_cancelled_merge_leaves_nothing(clips: dict[str, Path], tmp_path: Path) -> None:
    task = uploaded_task("video_merge", [clips["a"], clips["wide"]])
    token = CancelToken()
    token.cancel()
    ctx, _ = job_context(task, tmp_path, cancel=token)
    with pytest.raises(Cancelled):
        MergeProcessor().run(ctx)
    assert list(ctx.result_dir.iterdir()) == [] and list(ctx.work_dir.iterdir()) == []
