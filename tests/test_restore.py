"""Watermark removal that recovers the picture: quality against the clean source, the
container's shape, cancel, fallbacks. Clips are generated at 640x360 (see logo_clips)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from mediacraft.exceptions import Cancelled, ValidationError
from mediacraft.processors.watermark import remove_watermark
from mediacraft.progress import CancelToken, Progress
from tests.support.decode import luma_frames, packet_hashes, stream_duration
from tests.support.logo_clips import LogoClip, region_errors, region_psnr

SCALE = 0.5
SECONDS = 4.0


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[LogoClip, Path]]:
    root = tmp_path_factory.mktemp("restore")
    made = {}
    for scene in ("pan", "static"):
        for logo in ("semi", "opaque"):
            clip = LogoClip(scene, logo, scale=SCALE, seconds=SECONDS)
            made[f"{scene}-{logo}"] = (clip, clip.write(root / f"{scene}-{logo}.mp4"))
    frozen = LogoClip("static", "semi", scale=SCALE, seconds=2.0, lighting=False)
    made["frozen-semi"] = (frozen, frozen.write(root / "frozen-semi.mp4"))
    return made


def _run(
    clip_path: tuple[LogoClip, Path], tmp_path: Path, method: str, **kwargs: object
) -> tuple[Path, list[str]]:
    clip, src = clip_path
    out = tmp_path / f"{method}.mp4"
    notes: list[str] = []
    remove_watermark(src, out, [list(clip.region)], method=method, log=notes.append, **kwargs)
    return out, notes


@pytest.mark.parametrize(
    ("name", "method", "floor"),
    [
        ("static-semi", "unblend", 30.0),
        ("static-semi", "auto", 30.0),
        ("pan-semi", "temporal", 30.0),
        ("pan-opaque", "temporal", 30.0),
        ("pan-opaque", "auto", 30.0),
    ],
)
def test_quality_floor_inside_the_region(
    clips: dict, tmp_path: Path, name: str, method: str, floor: float
) -> None:
    clip, src = clips[name]
    out, _ = _run(clips[name], tmp_path, method)
    inside, frames = region_psnr(clip, out)
    before, _ = region_psnr(clip, src)
    delogo, _ = region_psnr(clip, _run(clips[name], tmp_path, "delogo")[0])
    assert frames == clip.frames
    assert inside >= floor, (inside, before, delogo)
    assert inside > delogo + 3, (inside, delogo)  # clearly better than the border smear
    outside, _ = region_psnr(clip, out, inside=False, reference=src)
    assert outside >= 40.0


def test_auto_is_never_worse_than_delogo_on_a_still_opaque_logo(
    clips: dict, tmp_path: Path
) -> None:
    clip, _ = clips["static-opaque"]
    auto, notes = _run(clips["static-opaque"], tmp_path, "auto")
    delogo, _ = _run(clips["static-opaque"], tmp_path, "delogo")
    assert region_psnr(clip, auto)[0] >= region_psnr(clip, delogo)[0] - 0.2
    assert any("auto chose delogo" in line for line in notes), notes


def test_fill_does_not_flicker(clips: dict, tmp_path: Path) -> None:
    """Frame after frame the rebuilt rectangle errs by about the same: no flicker."""
    for name, method in (("static-semi", "unblend"), ("pan-opaque", "temporal")):
        clip, _ = clips[name]
        out, _ = _run(clips[name], tmp_path, method)
        values, bias = region_errors(clip, out)
        assert np.abs(np.diff(bias)).max() < 2.0, (name, bias)
        assert np.median(values) >= 30.0, (name, values)


def test_frame_count_duration_size_and_audio_unchanged(clips: dict, tmp_path: Path) -> None:
    clip, src = clips["pan-semi"]
    out, _ = _run(clips["pan-semi"], tmp_path, "auto")
    assert len(luma_frames(out)) == len(luma_frames(src)) == clip.frames
    assert luma_frames(out)[0].shape == (clip.size[1], clip.size[0])
    assert stream_duration(out, "video") == pytest.approx(stream_duration(src, "video"), abs=0.02)
    audio = packet_hashes(src, "audio")
    assert audio and packet_hashes(out, "audio") == audio
    data = out.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")


def test_unblend_on_a_frozen_shot_falls_back_with_a_note(clips: dict, tmp_path: Path) -> None:
    clip, _ = clips["frozen-semi"]
    out, notes = _run(clips["frozen-semi"], tmp_path, "unblend")
    assert any("could not be estimated" in line and "never changes" in line for line in notes)
    assert region_psnr(clip, out)[1] == clip.frames  # the result is still there


def test_temporal_on_a_still_shot_says_what_it_could_not_do(clips: dict, tmp_path: Path) -> None:
    _, notes = _run(clips["static-opaque"], tmp_path, "temporal")
    assert any("filled spatially" in line for line in notes), notes


def test_inpaint_method_runs_alone(clips: dict, tmp_path: Path) -> None:
    clip, src = clips["static-opaque"]
    out, notes = _run(clips["static-opaque"], tmp_path, "inpaint")
    assert notes == []
    assert region_psnr(clip, out)[0] > region_psnr(clip, src)[0] + 10  # the plate is gone


def _children() -> set[int]:
    """Processes whose parent is this one (ffmpeg runs as a child in its own session)."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and fields[0] != "Z":
            found.add(int(entry))
    return found


@pytest.mark.parametrize("stage", ["analysing", "encoding"])
def test_cancel_leaves_no_process_and_no_file(clips: dict, tmp_path: Path, stage: str) -> None:
    _, src = clips["pan-semi"]
    token = CancelToken()
    before = _children()
    seen: list[Progress] = []

    def hook(progress: Progress) -> None:
        seen.append(progress)
        if progress.stage == stage:
            token.cancel()

    out_dir = tmp_path / "out"
    with pytest.raises(Cancelled):
        remove_watermark(src, out_dir / "o.mp4", [[550, 18, 70, 25]], method="auto",
                         progress=hook, cancel=token)  # fmt: skip
    assert any(p.stage == stage for p in seen)
    assert _children() <= before
    assert not out_dir.exists() or list(out_dir.iterdir()) == []


@pytest.mark.parametrize("method", ["blur", "", 3, "AUTO"])
def test_unknown_method_is_refused(clips: dict, tmp_path: Path, method: object) -> None:
    _, src = clips["pan-semi"]
    with pytest.raises(ValidationError, match="method must be one of"):
        remove_watermark(src, tmp_path / "o.mp4", [[0, 0, 10, 10]], method=method)  # type: ignore
    assert not (tmp_path / "o.mp4").exists()


def test_region_outside_the_frame_is_refused(clips: dict, tmp_path: Path) -> None:
    _, src = clips["pan-semi"]
    with pytest.raises(ValidationError, match="extends past the frame width 640"):
        remove_watermark(src, tmp_path / "o.mp4", [[600, 0, 41, 10]], method="auto")
    assert list(tmp_path.iterdir()) == []
