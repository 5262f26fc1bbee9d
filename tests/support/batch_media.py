"""Many distinct small HLS streams on one loopback origin (batch tests and benchmark).

Each stream gets its own playlist and segment paths (``<name>/index.m3u8``,
``<name>/seg_000.ts``…), served from memory, so the origin's request log says
exactly which input was fetched.
"""

from __future__ import annotations

from pathlib import Path

from .origin import Origin


def add_streams(origin: Origin, source_playlist: Path, names: list[str]) -> list[str]:
    """Serve a copy of ``source_playlist`` (and its segments) under each name; returns URLs."""
    text = source_playlist.read_text()
    segments = [line for line in text.splitlines() if line and not line.startswith("#")]
    data = {seg: (source_playlist.parent / seg).read_bytes() for seg in segments}
    urls = []
    for name in names:
        for seg, body in data.items():
            origin.add_file(f"{name}/{seg}", body)
        urls.append(origin.add_file(f"{name}/index.m3u8", text.encode()))
    return urls


def segment_names(source_playlist: Path) -> list[str]:
    text = source_playlist.read_text()
    return [line for line in text.splitlines() if line and not line.startswith("#")]


__all__ = ["add_streams", "segment_names", "small_stream"]


def small_stream(root: Path, seconds: float = 4.0) -> Path:
    """A tiny HLS stream (160x120, 1 s segments) for batch tests; returns its playlist."""
    from .media import make_video
    from .origin import package_hls

    playlist = Path(root) / "stream" / "index.m3u8"
    if playlist.exists():
        return playlist
    source = make_video(Path(root) / "src.mp4", seconds, "160x120", 10, gop=10)
    return package_hls(source, Path(root) / "stream", 1.0)
