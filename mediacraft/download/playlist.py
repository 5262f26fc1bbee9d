"""HLS playlists: variant choice by quality and the flat segment list of a media playlist."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..exceptions import DownloadError
from .fetch import ByteRange

if TYPE_CHECKING:
    import m3u8


@dataclass(frozen=True)
class Key:
    """AES-128 key reference of a segment: where the key is and the IV to use."""

    uri: str
    iv: bytes


@dataclass(frozen=True)
class Init:
    """An ``EXT-X-MAP`` media initialization section."""

    uri: str
    byterange: ByteRange | None


@dataclass(frozen=True)
class Segment:
    index: int  # 0-based; messages say "segment {index + 1}"
    uri: str
    duration: float
    byterange: ByteRange | None
    key: Key | None
    init: Init | None
    group: int  # a new group starts at each discontinuity or init-section change

    @property
    def number(self) -> int:
        return self.index + 1


def looks_like_playlist(head: bytes, content_type: str = "") -> bool:
    if "mpegurl" in content_type.lower():
        return True
    return head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"#EXTM3U")


def parse(text: str, base_url: str) -> m3u8.M3U8:
    import m3u8  # imported on first use: direct-file downloads start faster

    try:
        return m3u8.loads(text, uri=base_url)
    except Exception as exc:  # m3u8 raises assorted errors on malformed input
        raise DownloadError(f"The playlist at {base_url} could not be parsed: {exc}") from exc


def choose_variant(master: m3u8.M3U8, quality: str) -> str:
    """The absolute URI of the variant ``quality`` asks for (best, worst, 720p, bandwidth)."""
    variants = [p for p in master.playlists if p.uri]
    if not variants:
        raise DownloadError("The master playlist lists no variants")

    def height(p: m3u8.Playlist) -> int:
        res = p.stream_info.resolution
        return int(res[1]) if res else 0

    def bandwidth(p: m3u8.Playlist) -> int:
        return int(p.stream_info.bandwidth or p.stream_info.average_bandwidth or 0)

    quality = (quality or "best").strip().lower()
    ranked = sorted(variants, key=lambda p: (height(p), bandwidth(p)))
    if quality == "best":
        chosen = ranked[-1]
    elif quality == "worst":
        chosen = ranked[0]
    elif quality.endswith("p"):
        target = int(quality[:-1])
        at_most = [p for p in ranked if 0 < height(p) <= target]
        chosen = at_most[-1] if at_most else ranked[0]
    else:
        target = int(quality)
        by_bw = sorted(variants, key=bandwidth)
        at_most = [p for p in by_bw if bandwidth(p) <= target]
        chosen = at_most[-1] if at_most else by_bw[0]
    return chosen.absolute_uri


def _byterange(spec: str | None, previous_end: dict[str, int], uri: str) -> ByteRange | None:
    if not spec:
        return None
    length_text, _, offset_text = str(spec).partition("@")
    length = int(length_text)
    offset = int(offset_text) if offset_text else previous_end.get(uri, 0)
    previous_end[uri] = offset + length
    return ByteRange(offset, length)


def segments_of(playlist: m3u8.M3U8, max_segments: int) -> list[Segment]:
    """Flatten a media playlist into segments with resolved URIs, keys, IVs and groups."""
    if playlist.is_variant:
        raise DownloadError("Expected a media playlist, got a master playlist")
    items = list(playlist.segments)
    if not items:
        raise DownloadError("The playlist has no segments")
    if len(items) > max_segments:
        raise DownloadError(f"The playlist has {len(items)} segments; the limit is {max_segments}")
    sequence = int(playlist.media_sequence or 0)
    ends: dict[str, int] = {}
    init_ends: dict[str, int] = {}
    out: list[Segment] = []
    group = 0
    last_init: Init | None = None
    for index, item in enumerate(items):
        uri = item.absolute_uri
        key = None
        if item.key is not None and item.key.method and item.key.method.upper() != "NONE":
            method = item.key.method.upper()
            if method != "AES-128":
                raise DownloadError(f"Segment {index + 1} uses {method} encryption (unsupported)")
            if not item.key.uri:
                raise DownloadError(f"Segment {index + 1} has an AES-128 key without a URI")
            if item.key.iv:
                iv_hex = item.key.iv[2:] if item.key.iv.lower().startswith("0x") else item.key.iv
                iv = bytes.fromhex(iv_hex.rjust(32, "0"))
            else:
                iv = (sequence + index).to_bytes(16, "big")
            key = Key(item.key.absolute_uri, iv)
        init = None
        if item.init_section is not None and item.init_section.uri:
            init_uri = item.init_section.absolute_uri
            init = Init(init_uri, _byterange(item.init_section.byterange, init_ends, init_uri))
        if index and (item.discontinuity or init != last_init):
            group += 1
        last_init = init
        out.append(
            Segment(
                index=index,
                uri=uri,
                duration=float(item.duration or 0.0),
                byterange=_byterange(item.byterange, ends, uri),
                key=key,
                init=init,
                group=group,
            )
        )
    return out


def fingerprint(media_url: str, segments: list[Segment]) -> str:
    """Identifies a download so a checkpoint is only reused for the same stream."""
    digest = hashlib.sha256(media_url.encode())
    for seg in segments:
        record = [
            seg.uri,
            seg.byterange and [seg.byterange.offset, seg.byterange.length],
            seg.key and [seg.key.uri, seg.key.iv.hex()],
            seg.init and seg.init.uri,
            seg.group,
        ]
        digest.update(json.dumps(record).encode())
    return digest.hexdigest()


__all__ = ["Init", "Key", "Segment", "choose_variant", "fingerprint", "looks_like_playlist",
           "parse", "segments_of"]  # fmt: skip
