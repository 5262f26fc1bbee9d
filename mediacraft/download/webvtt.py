"""Join the WebVTT segments of a subtitles rendition into one WebVTT file.

Each HLS subtitle segment is a complete WebVTT document; an
``X-TIMESTAMP-MAP=MPEGTS:<90 kHz>,LOCAL:<time>`` header ties its cue times
to the media's transport-stream clock (RFC 8216 §3.5). Joined cues are
written on that clock (seconds) when segments carry the map, so that the
mux can line them up with the video's first timestamp; a cue repeated in
two segments (it spans the boundary) is written once.
"""

from __future__ import annotations

import re
from pathlib import Path

HEADER = "WEBVTT\n\n"
_TIMING = re.compile(r"^\s*(\S+)\s+-->\s+(\S+)(.*)$")
_MAP = re.compile(r"X-TIMESTAMP-MAP=([^\r\n]+)")


def parse_time(text: str) -> float:
    """``01:02:03.456`` or ``02:03.456`` -> seconds."""
    parts = text.strip().split(":")
    seconds = float(parts[-1])
    minutes = int(parts[-2]) if len(parts) >= 2 else 0
    hours = int(parts[-3]) if len(parts) >= 3 else 0
    return hours * 3600 + minutes * 60 + seconds


def format_time(seconds: float) -> str:
    seconds = max(0.0, seconds)
    millis = int(round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"


def _map_offset(header: str) -> float | None:
    match = _MAP.search(header)
    if not match:
        return None
    values = dict(
        item.split(":", 1) for item in match.group(1).split(",") if ":" in item
    )
    try:
        mpegts = int(values.get("MPEGTS", "0")) / 90_000
        local = parse_time(values.get("LOCAL", "00:00:00.000"))
    except ValueError:
        return None
    return mpegts - local


def cues(data: bytes) -> tuple[list[tuple[float, float, str, str]], bool]:
    """The cues of one segment as (start, end, settings, text), and whether it has a map."""
    text = data.decode("utf-8-sig", errors="replace").replace("\r\n", "\n")
    blocks = [b for b in re.split(r"\n\s*\n", text) if b.strip()]
    if not blocks:
        return [], False
    offset = _map_offset(blocks[0]) if blocks[0].startswith("WEBVTT") else None
    out = []
    for block in blocks:
        lines = block.split("\n")
        timing = next((i for i, line in enumerate(lines) if "-->" in line), None)
        if timing is None:
            continue  # header, NOTE, STYLE, REGION
        match = _TIMING.match(lines[timing])
        if not match:
            continue
        try:
            start, end = parse_time(match.group(1)), parse_time(match.group(2))
        except ValueError:
            continue
        shift = offset or 0.0
        body = "\n".join(lines[timing + 1 :]).strip()
        out.append((start + shift, end + shift, match.group(3).rstrip(), body))
    return out, offset is not None


class Joiner:
    """Appends segments' cues to one WebVTT file handle, each cue once."""

    def __init__(self) -> None:
        self.recent: list[tuple[float, float, str]] = []
        self.mapped = False

    def segment_text(self, data: bytes, first: bool) -> str:
        found, mapped = cues(data)
        self.mapped = self.mapped or mapped
        parts = [HEADER] if first else []
        for start, end, settings, body in found:
            key = (round(start, 3), round(end, 3), body)
            if key in self.recent:
                continue
            self.recent = [*self.recent[-63:], key]
            parts.append(f"{format_time(start)} --> {format_time(end)}{settings}\n{body}\n\n")
        return "".join(parts)


def shifted(source: Path, target: Path, offset: float) -> None:
    """Write ``source`` to ``target`` with every cue moved by ``offset`` seconds."""
    found, _mapped = cues(source.read_bytes())
    parts = [HEADER]
    for start, end, settings, body in found:
        start, end = start + offset, end + offset
        if end <= 0:
            continue
        parts.append(f"{format_time(start)} --> {format_time(end)}{settings}\n{body}\n\n")
    target.write_text("".join(parts), encoding="utf-8")


__all__ = ["Joiner", "cues", "format_time", "parse_time", "shifted"]
