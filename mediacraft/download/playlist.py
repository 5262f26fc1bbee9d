"""HLS media playlists: checked line by line, then flattened into segments.

Parsing is the ``m3u8`` library's; before it runs, the lines whose values
give wrong bytes when misread (``EXTINF``, ``EXT-X-BYTERANGE``, the ``IV`` of
``EXT-X-KEY``, the ``BYTERANGE`` of ``EXT-X-MAP``) are checked here, so a
malformed one fails with its line number instead of a bare parser error.

Every URI is resolved against the playlist's own URL as RFC 3986 §5.2 says
(``?token=1`` keeps the playlist's path), not against its directory.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING
from urllib.parse import unquote_to_bytes, urljoin, urlsplit, urlunsplit

from ..exceptions import PlaylistError
from .fetch import ByteRange

if TYPE_CHECKING:
    import m3u8


@dataclass(frozen=True)
class Key:
    """AES-128 key reference of a segment: where the key is and the IV to use."""

    uri: str  # http(s), or a data: URI holding the key itself
    iv: bytes


@dataclass(frozen=True)
class Init:
    """An ``EXT-X-MAP`` media initialization section."""

    uri: str
    byterange: ByteRange | None

    @property
    def identity(self) -> tuple[str, ByteRange | None]:
        """What the section is, whatever token its URL carries today."""
        return content_url(self.uri), self.byterange


@dataclass(frozen=True)
class Segment:
    index: int  # 0-based position in the track; messages say "segment {index + 1}"
    sequence: int  # media sequence number (RFC 8216 §6.3.5)
    uri: str
    duration: float
    byterange: ByteRange | None
    key: Key | None
    init: Init | None
    group: int  # a new group starts at each discontinuity or init-section change
    gap: bool = False  # EXT-X-GAP: no media here, not fetched
    discontinuity: bool = False  # an EXT-X-DISCONTINUITY precedes it

    @property
    def number(self) -> int:
        return self.index + 1


@dataclass(frozen=True)
class MediaPlaylist:
    """A parsed media playlist: its segments and what a live reload needs."""

    url: str
    segments: list[Segment]
    target_duration: float
    media_sequence: int
    ended: bool  # EXT-X-ENDLIST: nothing will be added
    playlist_type: str | None  # VOD, EVENT or None

    @property
    def live(self) -> bool:
        return not self.ended


def looks_like_playlist(head: bytes, content_type: str = "") -> bool:
    if "mpegurl" in content_type.lower():
        return True
    return head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"#EXTM3U")


def content_url(url: str) -> str:
    """``url`` without its query and fragment: the part that names the content.

    Signed links put their volatile tokens in the query; the path stays.
    """
    if url.startswith("data:"):
        return url
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def short_name(url: str) -> str:
    """The last path part of ``url``, for messages (``index.m3u8``)."""
    path = urlsplit(url).path.rstrip("/")
    return path.rsplit("/", 1)[-1] or urlsplit(url).netloc


# -- line checks --------------------------------------------------------------------------
_FLOAT = re.compile(r"^\s*\d+(\.\d*)?\s*$|^\s*\.\d+\s*$")
_BYTERANGE = re.compile(r"^\s*\d+(@\d+)?\s*$")
_IV = re.compile(r"^0[xX][0-9a-fA-F]{1,32}$")
_ATTRIBUTE = re.compile(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)')


def check_lines(text: str, url: str) -> None:
    """Raise PlaylistError naming the first malformed value line of ``text``."""
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line.startswith("#EXT"):
            continue
        problem = _line_problem(line)
        if problem:
            shown = line if len(line) <= 120 else line[:117] + "..."
            raise PlaylistError(
                f"Line {number} of the playlist {short_name(url)} ({shown}) {problem}"
            )


def _line_problem(line: str) -> str | None:
    tag, _, value = line.partition(":")
    if tag == "#EXTINF":
        duration = value.split(",", 1)[0]
        if not _FLOAT.match(duration):
            return "has a malformed duration"
    elif tag == "#EXT-X-BYTERANGE":
        if not _BYTERANGE.match(value):
            return "has a malformed byte range (expected length[@offset])"
    elif tag in ("#EXT-X-KEY", "#EXT-X-MAP"):
        attributes = {k: v.strip('"') for k, v in _ATTRIBUTE.findall(value)}
        if tag == "#EXT-X-KEY" and "IV" in attributes and not _IV.match(attributes["IV"]):
            return "has a malformed IV (expected 0x and up to 32 hexadecimal digits)"
        if tag == "#EXT-X-MAP":
            if "BYTERANGE" in attributes and not _BYTERANGE.match(attributes["BYTERANGE"]):
                return "has a malformed BYTERANGE (expected length[@offset])"
            if not attributes.get("URI"):
                return "has no URI"
    elif tag in ("#EXT-X-MEDIA-SEQUENCE", "#EXT-X-DISCONTINUITY-SEQUENCE"):
        if not value.strip().isdigit():
            return "is not a whole number"
    elif tag == "#EXT-X-TARGETDURATION":
        if not _FLOAT.match(value):
            return "is not a number"
    return None


def parse(text: str, url: str) -> m3u8.M3U8:
    """Check and parse a playlist (master or media); PlaylistError names what is wrong."""
    import m3u8  # imported on first use: direct-file downloads start faster

    check_lines(text, url)
    try:
        return m3u8.loads(text, uri=url)
    except Exception as exc:  # m3u8 raises assorted errors on malformed input
        raise PlaylistError(
            f"The playlist {short_name(url)} could not be parsed: {exc}"
        ) from exc


def is_media_playlist(playlist: m3u8.M3U8, text: str) -> bool:
    if playlist.is_variant:
        return False
    if playlist.segments or "#EXT-X-TARGETDURATION" in text or "#EXTINF" in text:
        return True
    raise PlaylistError(
        "The URL answered with a playlist that is neither a master playlist (variants) "
        "nor a media playlist (segments)"
    )


# -- segments -------------------------------------------------------------------------------
def _byterange(spec: str | None, previous_end: dict[str, int], uri: str) -> ByteRange | None:
    """A segment's EXT-X-BYTERANGE; without an offset it follows the previous sub-range."""
    if not spec:
        return None
    length_text, _, offset_text = str(spec).partition("@")
    length = int(length_text)
    offset = int(offset_text) if offset_text else previous_end.get(uri, 0)
    previous_end[uri] = offset + length
    return ByteRange(offset, length)


def _init_byterange(spec: str | None) -> ByteRange | None:
    """EXT-X-MAP's BYTERANGE; without an offset the section starts at byte 0 (RFC 8216)."""
    if not spec:
        return None
    length_text, _, offset_text = str(spec).partition("@")
    return ByteRange(int(offset_text or 0), int(length_text))


def _iv(text: str) -> bytes:
    digits = text[2:]
    return bytes.fromhex(digits.rjust(32, "0"))


def decode_data_uri(uri: str) -> bytes:
    """The bytes of a ``data:`` URI (base64 or percent-encoded)."""
    header, sep, payload = uri.partition(",")
    if not sep:
        raise PlaylistError("A data: URI in the playlist has no data")
    if header.lower().endswith(";base64"):
        try:
            return base64.b64decode(payload, validate=False)
        except (binascii.Error, ValueError) as exc:
            raise PlaylistError(
                f"A data: URI in the playlist is not valid base64 ({exc})"
            ) from None
    return unquote_to_bytes(payload)


def media_playlist(playlist: m3u8.M3U8, url: str, max_segments: int) -> MediaPlaylist:
    """Flatten a parsed media playlist into segments with resolved URIs, keys, IVs and groups."""
    if playlist.is_variant:
        raise PlaylistError("Expected a media playlist, got a master playlist")
    items = list(playlist.segments)
    if len(items) > max_segments:
        raise PlaylistError(
            f"The playlist has {len(items)} segments; the server's limit is {max_segments}"
        )
    sequence = int(playlist.media_sequence or 0)
    ends: dict[str, int] = {}
    out: list[Segment] = []
    for position, item in enumerate(items):
        number = sequence + position
        uri = urljoin(url, item.uri)
        key = None
        if item.key is not None and item.key.method and item.key.method.upper() != "NONE":
            method = item.key.method.upper()
            if method != "AES-128":
                raise PlaylistError(
                    f"Segment {position + 1} uses {method} encryption, which is not supported",
                    reason="drm",
                )
            if not item.key.uri:
                raise PlaylistError(f"Segment {position + 1} has an AES-128 key without a URI")
            iv = _iv(item.key.iv) if item.key.iv else number.to_bytes(16, "big")
            key_uri = item.key.uri if item.key.uri.startswith("data:") else urljoin(
                url, item.key.uri
            )
            key = Key(key_uri, iv)
        init = None
        if item.init_section is not None and item.init_section.uri:
            init = Init(
                urljoin(url, item.init_section.uri), _init_byterange(item.init_section.byterange)
            )
        out.append(
            Segment(
                index=position,
                sequence=number,
                uri=uri,
                duration=float(item.duration or 0.0),
                byterange=_byterange(item.byterange, ends, uri),
                key=key,
                init=init,
                group=0,
                gap=bool(getattr(item, "gap_tag", None)),
                discontinuity=bool(item.discontinuity),
            )
        )
    return MediaPlaylist(
        url=url,
        segments=assign_groups(out),
        target_duration=float(playlist.target_duration or 0.0),
        media_sequence=sequence,
        ended=bool(playlist.is_endlist) or (playlist.playlist_type or "").upper() == "VOD",
        playlist_type=(playlist.playlist_type or "").upper() or None,
    )


@dataclass
class Grouping:
    """Where group numbering stands, so a live recording can go on across reloads."""

    group: int = 0
    last_init: tuple[str, ByteRange | None] | None = None
    seen: bool = False  # a segment with media has been numbered
    pending: bool = False  # the next segment with media starts a new group


def assign_groups(segments: list[Segment], state: Grouping | None = None) -> list[Segment]:
    """Number the groups: a new one at a discontinuity, after a gap, at a new init section.

    Gap segments (no media) take the current number; the next segment with
    media starts a new group. ``state`` carries the numbering from one call
    to the next (a live recording appends).
    """
    state = state if state is not None else Grouping()
    out = []
    for seg in segments:
        if seg.gap:
            state.pending = True
            out.append(replace(seg, group=state.group))
            continue
        init = seg.init.identity if seg.init else None
        if state.seen and (state.pending or seg.discontinuity or init != state.last_init):
            state.group += 1
        state.seen, state.pending, state.last_init = True, False, init
        out.append(replace(seg, group=state.group))
    return out


def fingerprint(media_url: str, segments: list[Segment]) -> str:
    """What identifies a VOD download, so a checkpoint is reused only for the same content.

    Built from the playlist's path (not its query: signed links carry fresh
    tokens on every request), and each segment's sequence number, duration,
    path, byte range, key and group.
    """
    digest = hashlib.sha256(content_url(media_url).encode())
    for seg in segments:
        record = [
            seg.sequence,
            round(seg.duration, 3),
            content_url(seg.uri),
            seg.byterange and [seg.byterange.offset, seg.byterange.length],
            seg.key and [content_url(seg.key.uri), seg.key.iv.hex()],
            seg.init and content_url(seg.init.uri),
            seg.group,
            seg.gap,
        ]
        digest.update(json.dumps(record).encode())
    return digest.hexdigest()


__all__ = ["Init", "Key", "MediaPlaylist", "Grouping", "Segment", "assign_groups", "check_lines",
           "content_url", "decode_data_uri", "fingerprint", "is_media_playlist",
           "looks_like_playlist", "media_playlist", "parse", "short_name"]  # fmt: skip
