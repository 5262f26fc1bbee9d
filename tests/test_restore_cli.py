"""``mediacraft batch --task watermark_removal --method …`` on a directory of clips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mediacraft.cli import main
from tests.support.logo_clips import LogoClip, region_psnr


def test_batch_with_a_method_recovers_the_picture(tmp_path: Path, capsys) -> None:
    videos = tmp_path / "videos"
    videos.mkdir()
    clip = LogoClip("pan", "opaque", scale=0.5, seconds=2.0)
    clip.write(videos / "pan.mp4")
    x, y, w, h = clip.region
    out = tmp_path / "out"
    code = main(["batch", "--input-dir", str(videos), "-o", str(out), "--task",
                 "watermark_removal", "--regions", f"{x},{y},{w},{h}", "--method", "auto",
                 "-q", "--report", str(tmp_path / "r.json")])  # fmt: skip
    capsys.readouterr()
    assert code == 0
    assert json.loads((tmp_path / "r.json").read_text())["items"][0]["status"] == "completed"
    restored, frames = region_psnr(clip, out / "pan.mp4")
    assert frames == clip.frames and restored >= 30.0
    code = main(["batch", "--input-dir", str(videos), "-o", str(tmp_path / "fast"), "--task",
                 "watermark_removal", "--regions", f"{x},{y},{w},{h}", "--method", "delogo",
                 "-q"])  # fmt: skip
    capsys.readouterr()
    assert code == 0 and region_psnr(clip, tmp_path / "fast" / "pan.mp4")[0] < restored - 5


def test_method_usage_errors(tmp_path: Path, capsys) -> None:
    code = main(["batch", "--input-dir", str(tmp_path), "-o", str(tmp_path / "o"),
                 "--task", "remux", "--method", "auto"])  # fmt: skip
    assert code == 2 and "--method only applies to --task watermark_removal" in (
        capsys.readouterr().err
    )
    with pytest.raises(SystemExit) as exit_info:
        main(["batch", "--input-dir", str(tmp_path), "-o", str(tmp_path / "o"), "--task",
              "watermark_removal", "--regions", "0,0,8,8", "--method", "magic"])  # fmt: skip
    assert exit_info.value.code == 2 and "invalid choice: 'magic'" in capsys.readouterr().err
