"""Watermark removal: region validation, the delogo result, the processor."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mediacraft.config import Config
from mediacraft.exceptions import Cancelled, ValidationError
from mediacraft.processors import get_processor, load_processors
from mediacraft.processors.watermark import (
    WatermarkProcessor,
    delogo_filter,
    remove_watermark,
    validate_regions,
)
from mediacraft.progress import CancelToken
from tests.support.decode import luma_frames, packet_hashes, psnr, stream_duration
from tests.support.jobs import job_context, uploaded_task
from tests.support.media import make_video

BOX = (120, 90, 64, 48)  # x, y, w, h of the burnt-in "logo"


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The same 3 s test pattern without and with an opaque white box."""
    root = tmp_path_factory.mktemp("watermark")
    clean = make_video(root / "clean.mp4", 3)
    boxed = make_video(root / "boxed.mp4", 3, box=BOX)
    return clean, boxed


@pytest.fixture(scope="module")
def cleaned(sources: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("watermark-out") / "out.mp4"
    remove_watermark(sources[1], out, [list(BOX)])
    return out


def _region_mask(shape: tuple[int, int]) -> np.ndarray:
    x, y, w, h = BOX
    mask = np.zeros(shape, dtype=bool)
    mask[y : y + h, x : x + w] = True
    return mask


def test_box_is_gone_inside_the_region(sources: tuple[Path, Path], cleaned: Path) -> None:
    x, y, w, h = BOX
    boxed = luma_frames(sources[1])
    out = luma_frames(cleaned)
    assert len(out) == len(boxed) == 75
    boxed_mean = np.mean([f[y : y + h, x : x + w].mean() for f in boxed])
    out_inside = np.stack([f[y : y + h, x : x + w] for f in out])
    assert boxed_mean > 230  # the source really has a white box
    assert out_inside.mean() < 180
    assert (out_inside > 230).mean() < 0.05  # hardly any white pixel left
    assert abs(out_inside.mean() - boxed_mean) > 50


def test_picture_outside_the_region_is_nearly_unchanged(
    sources: tuple[Path, Path], cleaned: Path
) -> None:
    clean = luma_frames(sources[0])
    out = luma_frames(cleaned)
    outside = ~_region_mask(clean[0].shape)
    values = [psnr(a[outside], b[outside]) for a, b in zip(clean, out, strict=True)]
    assert min(values) > 35, values


def test_same_duration_resolution_and_audio_copied(
    sources: tuple[Path, Path], cleaned: Path
) -> None:
    boxed = sources[1]
    assert stream_duration(cleaned, "video") == pytest.approx(
        stream_duration(boxed, "video"), abs=0.05
    )
    frame = luma_frames(cleaned)[0]
    assert frame.shape == (240, 320)
    src_audio = packet_hashes(boxed, "audio")
    assert src_audio and packet_hashes(cleaned, "audio") == src_audio
    # faststart: the moov box comes before the media data
    data = cleaned.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")


def test_regions_touching_the_edges_are_kept_inside(tmp_path: Path) -> None:
    assert delogo_filter([(0, 0, 50, 40), (270, 200, 50, 40)], 320, 240) == (
        "delogo=x=1:y=1:w=49:h=39,delogo=x=270:y=200:w=49:h=39"
    )
    src = make_video(tmp_path / "edge.mp4", 1, audio=False, box=(0, 0, 50, 40))
    out = tmp_path / "edge-out.mp4"
    info = remove_watermark(src, out, [[0, 0, 50, 40], [0, 0, 320, 240]])
    assert (info.width, info.height) == (320, 240) and not info.has_audio


@pytest.mark.parametrize(
    ("regions", "message"),
    [
        ([[300, 10, 80, 40]], r"region 1 \[300, 10, 80, 40\] extends past the frame width 320"),
        (
            [[0, 0, 10, 10], [10, 200, 20, 41]],
            r"region 2 \[10, 200, 20, 41\] extends past the frame height 240",
        ),
        ([[-1, 0, 10, 10]], "starts outside the frame"),
        ([[0, 0, 2, 10]], "too small"),
        ([[0, 0, 10]], "must be four integers"),
        ([[0, 0, 10.5, 10]], "must be four integers"),
        ([[0, 0, True, 10]], "must be four integers"),
        ([], "non-empty list"),
        ("0,0,10,10", "non-empty list"),
        ([[0, 0, 10, 10]] * 21, "at most 20 regions"),
    ],
)
def test_region_validation(regions: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        validate_regions(regions, 320, 240)


def test_processor_is_registered() -> None:
    load_processors()
    assert isinstance(get_processor("watermark_removal"), WatermarkProcessor)


def test_validate_config_uses_the_probed_frame_size(sources: tuple[Path, Path]) -> None:
    task = uploaded_task("watermark_removal", [sources[1]])
    processor = WatermarkProcessor()
    processor.validate_config(
        task, {"selected_frame": 74, "regions": [list(BOX), [1, 1, 4, 4]]}, Config()
    )
    assert task.config == {
        "selected_frame": 74,
        "regions": [list(BOX), [1, 1, 4, 4]],
        "method": "auto",
    }
    processor.validate_config(
        task, {"selected_frame": 0, "regions": [list(BOX)], "method": "unblend"}, Config()
    )
    assert task.config["method"] == "unblend"
    with pytest.raises(ValidationError, match="method must be one of auto, unblend, temporal"):
        processor.validate_config(
            task, {"selected_frame": 0, "regions": [list(BOX)], "method": "blur"}, Config()
        )
    assert task.config["method"] == "unblend"  # a refused config changes nothing
    with pytest.raises(ValidationError, match="selected_frame 75 is out of range"):
        processor.validate_config(task, {"selected_frame": 75, "regions": [list(BOX)]}, Config())
    with pytest.raises(ValidationError, match="selected_frame must be an integer"):
        processor.validate_config(task, {"selected_frame": "1", "regions": [list(BOX)]}, Config())
    with pytest.raises(ValidationError, match="region 1 .* frame width 320"):
        processor.validate_config(
            task, {"selected_frame": 0, "regions": [[300, 0, 21, 5]]}, Config()
        )
    fresh = uploaded_task("watermark_removal", [sources[1]])
    fresh.metadata.clear()
    fresh.inputs.clear()
    with pytest.raises(ValidationError, match="upload a video first"):
        processor.validate_config(fresh, {"regions": [list(BOX)]}, Config())


def test_processor_run_writes_the_result(sources: tuple[Path, Path], tmp_path: Path) -> None:
    task = uploaded_task("watermark_removal", [sources[1]])
    WatermarkProcessor().validate_config(
        task, {"selected_frame": 3, "regions": [list(BOX)]}, Config()
    )
    ctx, reports = job_context(task, tmp_path)
    result = WatermarkProcessor().run(ctx)
    assert result["file_name"] == "output.mp4"
    assert (result["width"], result["height"]) == (320, 240)
    assert result["duration"] == pytest.approx(3.0, abs=0.05)
    assert result["size"] == (ctx.result_dir / "output.mp4").stat().st_size
    assert [p.name for p in ctx.result_dir.iterdir()] == ["output.mp4"]
    assert reports[-1].percent == 100 and {r.stage for r in reports} <= {"analysing", "encoding"}
    assert reports[0].stage == "analysing" and reports[-1].stage == "encoding"


def test_cancelled_run_leaves_nothing(sources: tuple[Path, Path], tmp_path: Path) -> None:
    task = uploaded_task("watermark_removal", [sources[1]])
    task.config["regions"] = [list(BOX)]
    token = CancelToken()
    token.cancel()
    ctx, _ = job_context(task, tmp_path, cancel=token)
    with pytest.raises(Cancelled):
        WatermarkProcessor().run(ctx)
    assert list(ctx.result_dir.iterdir()) == []
