"""What a direct file is, from its first bytes: media (and which container) or not.

A link that is not media (an archive, a document, a random binary) is
refused after the first bytes of the first response, instead of being
fetched whole and failing in the remux. The signatures are the containers
ffmpeg reads that people link to; anything else is not taken for a video.
"""

from __future__ import annotations

#: (offset, signature, container suffix)
_MEDIA: tuple[tuple[int, bytes, str], ...] = (
    (4, b"ftyp", ".mp4"), (4, b"moov", ".mp4"), (4, b"mdat", ".mp4"), (4, b"free", ".mp4"),
    (4, b"wide", ".mp4"), (4, b"skip", ".mp4"), (4, b"styp", ".mp4"), (4, b"moof", ".mp4"),
    (0, b"\x1a\x45\xdf\xa3", ".mkv"), (0, b"FLV", ".flv"), (0, b"OggS", ".ogg"),
    (0, b"fLaC", ".flac"), (0, b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", ".wmv"),
    (0, b"\x00\x00\x01\xba", ".mpg"), (0, b"\x00\x00\x01\xb3", ".mpg"), (0, b"ID3", ".mp3"),
    (0, b".RMF", ".rm"), (0, b"\x0b\x77", ".ac3"), (0, b"#!AMR", ".amr"),
)  # fmt: skip
_RIFF = {b"AVI ": ".avi", b"WAVE": ".wav"}
_NOT_MEDIA: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a ZIP archive"), (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"), (b"Rar!", "a RAR archive"),
    (b"%PDF", "a PDF document"), (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"), (b"\x7fELF", "a program"), (b"MZ", "a Windows program"),
    (b"BZh", "a bzip2 archive"), (b"\xfd7zXZ", "an xz archive"), (b"ustar", "a tar archive"),
)  # fmt: skip


def media_suffix(head: bytes) -> str | None:
    """The container suffix of a media file starting with ``head``, or None if it is not one."""
    for offset, signature, suffix in _MEDIA:
        if head[offset : offset + len(signature)] == signature:
            return suffix
    if head[:4] == b"RIFF" and head[8:12] in _RIFF:
        return _RIFF[head[8:12]]
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return ".aiff"
    if head[:1] == b"\x47" or head[4:5] == b"\x47":  # MPEG-TS (M2TS has a 4-byte prefix)
        return ".ts"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:  # MP3 or ADTS AAC
        return ".aac" if head[1] & 0xF6 == 0xF0 else ".mp3"
    if head[:4] == b"\x00\x00\x00\x01" or head[:3] == b"\x00\x00\x01":  # Annex B H.264/HEVC
        return ".h264"
    return None


def what_it_is(head: bytes) -> str:
    """How a refusal names a file that is not media."""
    for signature, name in _NOT_MEDIA:
        if head.startswith(signature):
            return name
    text = head.lstrip()
    if text[:1] in (b"{", b"["):
        return "JSON data"
    if text[:1] == b"<":
        return "an XML or HTML document"
    if head and all(32 <= b < 127 or b in (9, 10, 13) for b in head):
        return "text"
    return "data that is neither video nor audio"


__all__ = ["media_suffix", "what_it_is"]
