"""H.264 parameter sets in MP4: the ``avcC`` record, NAL units and their ids.

A smart cut puts pictures from two encoders (the source's and libx264's) into
one MP4 track, which has a single ``avcC`` record. This module reads that
record, builds one that carries the parameter sets of both (each encoder's
under its own SPS/PPS id, so a slice names the set it was coded with), and
turns libx264's Annex B output (start codes, in-band parameter sets) into the
length-prefixed samples MP4 holds.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

SEI, SPS, PPS, AUD = 6, 7, 8, 9
IDR = 5
# Profiles whose avcC carries the chroma format and bit depths after the PPS list.
_HIGH_PROFILES = {100, 110, 122, 144}


@dataclass(frozen=True)
class AvcConfig:
    """An ``AVCDecoderConfigurationRecord`` (ISO/IEC 14496-15, 5.3.3.1)."""

    profile: int
    compatibility: int
    level: int
    length_size: int
    sps: tuple[bytes, ...]
    pps: tuple[bytes, ...]
    tail: bytes  # the High-profile fields after the PPS list, kept as they were

    @classmethod
    def parse(cls, data: bytes) -> AvcConfig:
        if len(data) < 7 or data[0] != 1:
            raise ValueError("not an avcC record (Annex B or avc3 parameter sets?)")
        length_size = (data[4] & 3) + 1
        at = 5
        lists: list[tuple[bytes, ...]] = []
        for mask in (0x1F, 0xFF):
            count = data[at] & mask
            at += 1
            units = []
            for _ in range(count):
                (size,) = struct.unpack_from(">H", data, at)
                units.append(bytes(data[at + 2 : at + 2 + size]))
                at += 2 + size
            lists.append(tuple(units))
        if at > len(data):
            raise ValueError("truncated avcC record")
        return cls(data[1], data[2], data[3], length_size, lists[0], lists[1], bytes(data[at:]))

    def with_sets(self, sps: list[bytes], pps: list[bytes]) -> AvcConfig:
        """This record with ``sps``/``pps`` added after its own."""
        return AvcConfig(self.profile, self.compatibility, self.level, self.length_size,
                         self.sps + tuple(sps), self.pps + tuple(pps), self.tail)  # fmt: skip

    def build(self) -> bytes:
        out = bytearray([1, self.profile, self.compatibility, self.level])
        out.append(0xFC | (self.length_size - 1))
        out.append(0xE0 | len(self.sps))
        for unit in self.sps:
            out += struct.pack(">H", len(unit)) + unit
        out.append(len(self.pps))
        for unit in self.pps:
            out += struct.pack(">H", len(unit)) + unit
        if self.profile in _HIGH_PROFILES:
            out += self.tail or bytes([0xFD, 0xF8, 0xF8, 0])  # 4:2:0, 8 bit, no SPS ext
        return bytes(out)

    def sps_ids(self) -> set[int]:
        return {sps_id(unit) for unit in self.sps}

    def pps_ids(self) -> set[int]:
        return {pps_id(unit) for unit in self.pps}


def nal_type(unit: bytes) -> int:
    return unit[0] & 0x1F


def _rbsp(unit: bytes, limit: int = 32) -> bytes:
    """The first ``limit`` payload bytes of a NAL unit, emulation prevention removed."""
    out = bytearray()
    zeros = 0
    for byte in unit[1:]:
        if zeros >= 2 and byte == 3:
            zeros = 0
            continue
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
        if len(out) >= limit:
            break
    return bytes(out)


def _first_ue(data: bytes, skip_bits: int) -> int:
    """The unsigned Exp-Golomb number that starts ``skip_bits`` into ``data``."""
    bits = "".join(f"{b:08b}" for b in data)[skip_bits:]
    zeros = len(bits) - len(bits.lstrip("0"))
    if 2 * zeros + 1 > len(bits):
        raise ValueError("truncated Exp-Golomb code")
    return int(bits[zeros : 2 * zeros + 1], 2) - 1


def sps_id(unit: bytes) -> int:
    """``seq_parameter_set_id``: after profile_idc, constraint flags and level_idc."""
    return _first_ue(_rbsp(unit), 24)


def pps_id(unit: bytes) -> int:
    return _first_ue(_rbsp(unit), 0)


def free_ids(config: AvcConfig, count: int) -> list[int]:
    """``count`` ids used by neither an SPS nor a PPS of ``config`` (libx264 gives its
    PPS the id of its SPS, so one id must be free for both)."""
    used = config.sps_ids() | config.pps_ids()
    ids = [n for n in range(32) if n not in used][:count]
    if len(ids) < count:
        raise ValueError("no free parameter set id")
    return ids


def annexb_units(data: bytes) -> list[bytes]:
    """The NAL units of an Annex B byte stream (3- or 4-byte start codes)."""
    units: list[bytes] = []
    starts: list[int] = []
    at = data.find(b"\x00\x00\x01")
    while at != -1:
        starts.append(at + 3)
        at = data.find(b"\x00\x00\x01", at + 3)
    for n, begin in enumerate(starts):
        end = starts[n + 1] - 3 if n + 1 < len(starts) else len(data)
        unit = data[begin:end]
        if n + 1 < len(starts):
            unit = unit.rstrip(b"\x00")  # a 4-byte start code's leading zero, trailing zeros
        if unit:
            units.append(bytes(unit))
    return units


def length_units(data: bytes, length_size: int) -> list[bytes]:
    """The NAL units of an MP4 sample (each prefixed by its length)."""
    units = []
    at = 0
    while at + length_size <= len(data):
        size = int.from_bytes(data[at : at + length_size], "big")
        units.append(data[at + length_size : at + length_size + size])
        at += length_size + size
    return units


def to_sample(units: list[bytes], length_size: int) -> bytes:
    """Length-prefixed sample of ``units``, without parameter sets, SEI or delimiters
    (the parameter sets live in the avcC record)."""
    return b"".join(
        len(u).to_bytes(length_size, "big") + u
        for u in units
        if nal_type(u) not in (SEI, SPS, PPS, AUD)
    )


__all__ = ["IDR", "PPS", "SPS", "AvcConfig", "annexb_units", "free_ids", "length_units",
           "nal_type", "pps_id", "sps_id", "to_sample"]  # fmt: skip
