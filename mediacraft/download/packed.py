"""What a downloaded segment is, and the ID3 tag of packed audio.

Packed audio segments (RFC 8216 §3.4: raw AAC/MP3/AC-3 frames) start with
an ID3 tag whose ``PRIV`` frame ``com.apple.streaming.transportStreamTimestamp``
holds the 90 kHz presentation time of their first sample. The tags are cut
out when the segments are joined (the frames alone make a valid stream), and
the first one's timestamp lines the audio up with the video.
"""

from __future__ import annotations

import struct

PRIV_OWNER = b"com.apple.streaming.transportStreamTimestamp"
SUFFIXES = {"ts": ".ts", "mp4": ".mp4", "aac": ".aac", "mp3": ".mp3", "ac3": ".ac3",
            "vtt": ".vtt"}  # fmt: skip


def id3_length(data: bytes) -> int:
    """Bytes taken by the ID3v2 tags at the start of ``data`` (0 when there is none)."""
    offset = 0
    while data[offset : offset + 3] == b"ID3" and len(data) >= offset + 10:
        flags = data[offset + 5]
        size = _syncsafe(data[offset + 6 : offset + 10])
        offset += 10 + size + (10 if flags & 0x10 else 0)  # footer present
    return offset


def transport_timestamp(data: bytes) -> float | None:
    """The ``PRIV`` transport-stream timestamp of a leading ID3 tag, in seconds."""
    if data[:3] != b"ID3" or len(data) < 10:
        return None
    version = data[3]
    end = 10 + _syncsafe(data[6:10])
    position = 10
    while position + 10 <= min(end, len(data)):
        frame_id = data[position : position + 4]
        raw = data[position + 4 : position + 8]
        size = _syncsafe(raw) if version >= 4 else struct.unpack(">I", raw)[0]
        body = data[position + 10 : position + 10 + size]
        if frame_id == b"PRIV" and body.startswith(PRIV_OWNER + b"\x00"):
            value = body[len(PRIV_OWNER) + 1 : len(PRIV_OWNER) + 9]
            if len(value) == 8:
                return (struct.unpack(">Q", value)[0] & ((1 << 33) - 1)) / 90_000
        if not frame_id.strip(b"\x00") or size <= 0:
            break
        position += 10 + size
    return None


def sniff(head: bytes, has_init: bool = False) -> str:
    """The kind of a segment from its first bytes: ts, mp4, aac, mp3, ac3 or vtt."""
    if has_init:
        return "mp4"
    text = head.lstrip(b"\xef\xbb\xbf")
    if text.startswith(b"WEBVTT"):
        return "vtt"
    if head[:1] == b"\x47":
        return "ts"
    if head[4:8] in (b"ftyp", b"styp", b"moof", b"sidx"):
        return "mp4"
    frames = head[id3_length(head) :]
    if frames[:2] == b"\x0b\x77":
        return "ac3"
    if len(frames) >= 2 and frames[0] == 0xFF:
        if frames[1] & 0xF6 == 0xF0:
            return "aac"
        if frames[1] & 0xE0 == 0xE0:
            return "mp3"
    return "ts"


def _syncsafe(raw: bytes) -> int:
    value = 0
    for byte in raw:
        value = (value << 7) | (byte & 0x7F)
    return value


__all__ = ["SUFFIXES", "id3_length", "sniff", "transport_timestamp"]
