"""The top-level boxes of an MP4/MOV file (ISO BMFF), read through a byte source.

Only the layout is read here: where each top-level box starts and how long
it is (32-bit sizes, 64-bit ``largesize``, size 0 for "to the end of the
file"), with the whole content of the small boxes a demuxer parses (``ftyp``,
``moov``, ``uuid`` ...). The media data (``mdat``) and padding (``free``,
``skip``, ``wide``) are only located, so a file whose ``moov`` sits after a
large ``mdat`` costs a few header reads, not the file. A fragmented file
(``moof`` boxes, or ``mvex`` in ``moov``) is refused: its index is spread
over the whole file.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

#: ``read(offset, length)`` returns exactly ``length`` bytes of the file from ``offset``
Read = Callable[[int, int], bytes]

#: boxes whose content is not needed to read the file's index
LOCATED_ONLY = frozenset({b"mdat", b"free", b"skip", b"wide"})
MiB = 1024 * 1024


class LayoutError(Exception):
    """The file's layout cannot be used for ranged reads; ``str`` says why."""


@dataclass(frozen=True)
class Box:
    kind: bytes
    offset: int
    size: int
    header: bytes  # the box's own header (8 or 16 bytes, more for a short box)
    data: bytes | None = None  # the whole box, for the boxes that are read

    @property
    def end(self) -> int:
        return self.offset + self.size


def parse_header(raw: bytes, offset: int, file_size: int) -> tuple[bytes, int, int]:
    """(kind, size, header length) of the box whose first bytes are ``raw``, at ``offset``."""
    if len(raw) < 8:
        raise LayoutError(f"the box at byte {offset} is cut off by the end of the file")
    size, kind = struct.unpack(">I4s", raw[:8])
    header = 8
    if size == 1:
        if len(raw) < 16:
            raise LayoutError(f"the 64-bit box size at byte {offset} is cut off")
        size = struct.unpack(">Q", raw[8:16])[0]
        header = 16
    elif size == 0:  # the last box: it runs to the end of the file
        size = file_size - offset
    if size < header:
        raise LayoutError(f"the box at byte {offset} has an impossible size ({size})")
    if offset + size > file_size:
        raise LayoutError(
            f"the {kind.decode('latin-1')!r} box at byte {offset} runs past the end of the file"
        )
    return kind, size, header


def child_kinds(box: bytes, header: int) -> list[bytes]:
    """The kinds of the boxes directly inside ``box`` (a container such as ``moov``)."""
    kinds = []
    position = header
    while position + 8 <= len(box):
        kind, size, _ = parse_header(box[position : position + 16], position, len(box))
        kinds.append(kind)
        position += size
    return kinds


def read_layout(
    read: Read, file_size: int, *, max_read: int = 64 * MiB, max_boxes: int = 4096
) -> list[Box]:
    """Every top-level box of the file, in order; raises :class:`LayoutError`.

    ``max_read`` bounds the bytes of box contents read (a ``moov`` larger than
    that is not worth indexing over the network).
    """
    boxes: list[Box] = []
    position = 0
    read_total = 0
    while position < file_size:
        if len(boxes) >= max_boxes:
            raise LayoutError(f"the file has more than {max_boxes} top-level boxes")
        raw = read(position, min(16, file_size - position))
        kind, size, header_length = parse_header(raw, position, file_size)
        if kind == b"moof":
            raise LayoutError("it is a fragmented MP4 (movie fragments)")
        data = None
        if kind not in LOCATED_ONLY:
            read_total += size
            if read_total > max_read:
                raise LayoutError(f"its index is larger than {max_read // MiB} MiB")
            data = read(position, size)
        boxes.append(Box(kind, position, size, raw[:header_length], data))
        position += size
    moov = [box for box in boxes if box.kind == b"moov"]
    if len(moov) != 1:
        raise LayoutError("it has no movie box (moov)" if not moov else "it has two movie boxes")
    if not any(box.kind == b"mdat" for box in boxes):
        raise LayoutError("it has no media data box (mdat)")
    assert moov[0].data is not None
    if b"mvex" in child_kinds(moov[0].data, len(moov[0].header)):
        raise LayoutError("it is a fragmented MP4 (movie fragments)")
    return boxes


__all__ = ["Box", "LayoutError", "child_kinds", "parse_header", "read_layout"]
