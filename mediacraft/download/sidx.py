"""The segment index box (``sidx``, ISO/IEC 14496-12 §8.16.3) of a DASH ``SegmentBase`` file.

A single-file representation lists where its fragments are in one ``sidx``
box at ``indexRange``: each reference gives a fragment's size and duration,
the first one starting ``first_offset`` bytes after the end of the box. With
those byte ranges the file is fetched as segments: concurrently, resumably,
and only the part a time range needs.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..exceptions import PlaylistError


@dataclass(frozen=True)
class Reference:
    offset: int  # in the file
    size: int
    start: float  # presentation time, seconds
    duration: float


def _boxes(data: bytes) -> list[tuple[str, int, int]]:
    """(type, start, end) of the top-level boxes in ``data``."""
    out = []
    position = 0
    while position + 8 <= len(data):
        size, kind = struct.unpack_from(">I4s", data, position)
        header = 8
        if size == 1 and position + 16 <= len(data):
            size = struct.unpack_from(">Q", data, position + 8)[0]
            header = 16
        elif size == 0:
            size = len(data) - position
        if size < header:
            break
        out.append((kind.decode("latin-1"), position, position + size))
        position += size
    return out


def parse_sidx(data: bytes, data_offset: int) -> list[Reference]:
    """The fragments indexed by the first ``sidx`` in ``data``, read from ``data_offset``."""
    box = next((b for b in _boxes(data) if b[0] == "sidx"), None)
    if box is None:
        raise PlaylistError("The indexRange of the SegmentBase holds no sidx box")
    _kind, start, end = box
    if end > len(data):
        raise PlaylistError("The sidx box is longer than the indexRange of the SegmentBase")
    body = data[start + 8 : end]
    try:
        version = body[0]
        timescale = struct.unpack_from(">I", body, 8)[0]
        if version == 0:
            earliest, first_offset = struct.unpack_from(">II", body, 12)
            position = 20
        else:
            earliest, first_offset = struct.unpack_from(">QQ", body, 12)
            position = 28
        count = struct.unpack_from(">H", body, position + 2)[0]
        position += 4
        if not timescale:
            raise PlaylistError("The sidx box has a timescale of 0")
        offset = data_offset + end + first_offset
        clock = earliest
        references = []
        for _ in range(count):
            word, duration, _sap = struct.unpack_from(">III", body, position)
            position += 12
            if word >> 31:
                raise PlaylistError(
                    "The sidx box refers to further sidx boxes (a hierarchical index), "
                    "which is not supported"
                )
            size = word & 0x7FFFFFFF
            references.append(Reference(offset, size, clock / timescale, duration / timescale))
            offset += size
            clock += duration
    except (IndexError, struct.error):
        raise PlaylistError("The sidx box of the SegmentBase is truncated") from None
    if not references:
        raise PlaylistError("The sidx box of the SegmentBase lists no fragments")
    return references


__all__ = ["Reference", "parse_sidx"]
