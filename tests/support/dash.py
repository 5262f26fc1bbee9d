"""DASH manifests made by the bundled ffmpeg (and one written by hand) for tests and benchmarks.

:func:`build_dash` writes, under ``root``, the same few seconds of video in
every shape the engine reads:

* ``timeline/`` — ``SegmentTemplate`` with ``$Number$`` and a ``SegmentTimeline``
  (ffmpeg's default ``-use_template 1 -use_timeline 1``);
* ``number/`` — ``SegmentTemplate`` with ``@duration`` only (``-use_timeline 0``);
* ``list/`` — ``SegmentList`` of ``SegmentURL`` files (``-use_template 0``);
* ``single/`` — ``SegmentList`` with ``mediaRange`` into one file per stream
  and ``BaseURL`` on each representation (``-single_file 1``);
* ``time/`` — ``SegmentTemplate`` with ``$Time$`` (the timeline's ``$Number$``
  rewritten to ``$Time$`` and the files renamed to match);
* ``base/`` — hand-written ``SegmentBase`` with ``indexRange`` pointing at the
  ``sidx`` of fragmented MP4 files (``-movflags dash+global_sidx``), and
  ``BaseURL`` on the MPD, the AdaptationSet and the Representation;
* ``multi/`` — two video qualities (320x240, 160x120) and two audio languages
  (``en`` at 440 Hz, ``zh`` at 880 Hz) in separate adaptation sets.
"""

from __future__ import annotations

import re
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .media import FFMPEG, make_video


@dataclass
class DashMedia:
    root: Path
    source: Path  # the video every flavour was packaged from (stream copy)
    seconds: float


def _ffmpeg(*args: str) -> None:
    subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-y", *args], check=True,
                   timeout=300)  # fmt: skip


def package_dash(source: Path | list[Path], out_dir: Path, *extra: str,
                 maps: tuple[str, ...] = ("-map", "0")) -> Path:  # fmt: skip
    """Stream-copy the sources into ``out_dir/manifest.mpd`` with ffmpeg's DASH muxer."""
    out_dir.mkdir(parents=True, exist_ok=True)
    inputs = [item for path in ([source] if isinstance(source, Path) else source)
              for item in ("-i", str(path))]  # fmt: skip
    manifest = out_dir / "manifest.mpd"
    _ffmpeg(*inputs, *maps, "-c", "copy", "-f", "dash", "-seg_duration", "1", *extra,
            str(manifest))  # fmt: skip
    return manifest


def boxes(path: Path) -> list[tuple[str, int, int]]:
    """(type, offset, size) of the top-level boxes of an MP4 file."""
    data = path.read_bytes()
    out, position = [], 0
    while position + 8 <= len(data):
        size, kind = struct.unpack_from(">I4s", data, position)
        out.append((kind.decode(), position, size))
        position += size
    return out


def _segment_base(path: Path) -> str:
    """The ``SegmentBase`` element of a fragmented MP4 with one ``sidx`` after its ``moov``."""
    found = {kind: (offset, size) for kind, offset, size in reversed(boxes(path))}
    sidx_offset, sidx_size = found["sidx"]
    return (f'<SegmentBase indexRange="{sidx_offset}-{sidx_offset + sidx_size - 1}">'
            f'<Initialization range="0-{sidx_offset - 1}"/></SegmentBase>')  # fmt: skip


def _write_segment_base(root: Path, source: Path) -> None:
    media = root / "base" / "media"
    media.mkdir(parents=True, exist_ok=True)
    _ffmpeg("-i", str(source), "-map", "0:v", "-c", "copy", "-movflags",
            "+frag_keyframe+dash+global_sidx", "-f", "mp4", str(media / "video.mp4"))
    _ffmpeg("-i", str(source), "-map", "0:a", "-c", "copy", "-movflags", "+dash+global_sidx",
            "-frag_duration", "1000000", "-f", "mp4", str(media / "audio.mp4"))
    (root / "base" / "manifest.mpd").write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" '
        'profiles="urn:mpeg:dash:profile:isoff-on-demand:2011" mediaPresentationDuration="PT4S">\n'
        "  <BaseURL>./</BaseURL>\n"
        "  <Period>\n"
        '    <AdaptationSet mimeType="video/mp4">\n'
        "      <BaseURL>media/</BaseURL>\n"
        '      <Representation id="v" codecs="avc1.42c00d" bandwidth="750000" width="320" '
        'height="240">\n'
        f"        <BaseURL>video.mp4</BaseURL>\n        {_segment_base(media / 'video.mp4')}\n"
        "      </Representation>\n"
        "    </AdaptationSet>\n"
        '    <AdaptationSet mimeType="audio/mp4" lang="en">\n'
        '      <Representation id="a" codecs="mp4a.40.2" bandwidth="64000">\n'
        "        <BaseURL>media/audio.mp4</BaseURL>\n"
        f"        {_segment_base(media / 'audio.mp4')}\n"
        "      </Representation>\n"
        "    </AdaptationSet>\n"
        "  </Period>\n"
        "</MPD>\n"
    )


def _write_time_template(root: Path) -> None:
    """``time/``: the timeline flavour addressed by ``$Time$`` instead of ``$Number$``."""
    source, target = root / "timeline", root / "time"
    target.mkdir(parents=True, exist_ok=True)
    text = (source / "manifest.mpd").read_text()
    for block in re.finditer(r'<Representation id="(\d+)".*?</Representation>', text, re.S):
        rep = block.group(1)
        clock, number = 0, 1
        for entry in re.finditer(r'<S (?:t="(\d+)" )?d="(\d+)"(?: r="(\d+)")? ?/>', block.group(0)):
            clock = int(entry.group(1)) if entry.group(1) else clock
            for _ in range(int(entry.group(3) or 0) + 1):
                name = f"chunk-stream{rep}-{number:05d}.m4s"
                renamed = target / f"chunk-stream{rep}-t{clock}.m4s"
                renamed.write_bytes((source / name).read_bytes())
                clock += int(entry.group(2))
                number += 1
        init = f"init-stream{rep}.m4s"
        (target / init).write_bytes((source / init).read_bytes())
    (target / "manifest.mpd").write_text(text.replace("$Number%05d$", "t$Time$"))


def build_dash(root: Path, seconds: float = 4.0) -> DashMedia:
    root = Path(root)
    source = make_video(root / "src" / "hi.mp4", seconds, "320x240", 25, gop=25)
    low = make_video(root / "src" / "lo.mp4", seconds, "160x120", 25, gop=25, audio=False)
    zh = root / "src" / "zh.m4a"
    _ffmpeg("-f", "lavfi", "-i", f"sine=frequency=880:sample_rate=44100:duration={seconds}",
            "-c:a", "aac", "-b:a", "64k", str(zh))  # fmt: skip
    package_dash(source, root / "timeline")
    package_dash(source, root / "number", "-use_timeline", "0")
    package_dash(source, root / "list", "-use_template", "0")
    package_dash(source, root / "single", "-single_file", "1")
    _write_time_template(root)
    _write_segment_base(root, source)
    package_dash(
        [source, low, zh], root / "multi",
        "-adaptation_sets", "id=0,streams=0,1 id=1,streams=2 id=2,streams=3",
        maps=("-map", "0:v", "-map", "1:v", "-map", "0:a", "-map", "2:a",
              "-metadata:s:a:0", "language=eng", "-metadata:s:a:1", "language=zho"),
    )  # fmt: skip
    return DashMedia(root=root, source=source, seconds=seconds)


__all__ = ["DashMedia", "boxes", "build_dash", "package_dash"]
