"""A frame-exact cut of H.264 video that re-encodes only the edges ("smart cut").

The clip [start, end) is three pieces of one track:

* the head, [start, first keyframe at or after start): decoded from the
  keyframe before it and re-encoded by libx264;
* the middle, whole GOPs from that keyframe to the last keyframe before
  ``end``: the source's packets, byte for byte;
* the tail, [that keyframe, end): decoded and re-encoded like the head.

The re-encoded pieces have their own SPS/PPS. One MP4 track has one ``avcC``
record, so libx264 writes them under ids the source does not use (x264's
``sps-id``, which it gives to the PPS too) and the record carries the
source's sets and both edges' (:mod:`.avcc`). The edges are coded without
B-frames, and their decode timestamps trail the presentation ones by the
source's own delay at the joined keyframe, so decode order stays monotonic
across the joins.

The video is written here (PyAV, reading and writing local files only); the
caller muxes it with the audio. Whatever this module cannot join safely
(another codec, Annex B or ``avc3`` parameter sets, a keyframe that is not an
IDR picture, frames reordered across a keyframe, no whole GOP in the range)
raises :class:`NotSmart` with the reason, and the caller re-encodes instead.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from .avcc import (
    IDR,
    PPS,
    SPS,
    AvcConfig,
    annexb_units,
    free_ids,
    length_units,
    nal_type,
    to_sample,
)

# libx264 settings of the edges: as the whole-clip re-encode (CRF 18, veryfast).
CRF = "18"
PRESET = "veryfast"
_PROFILES = {"Constrained Baseline": "baseline", "Baseline": "baseline", "Main": "main",
             "High": "high"}  # fmt: skip


class NotSmart(Exception):
    """The clip cannot be smart-cut; the message says why."""


@dataclass(frozen=True)
class _Packet:
    pts: int
    dts: int
    duration: int
    keyframe: bool
    idr: bool


@dataclass(frozen=True)
class SmartCut:
    """What the cut did: frames re-encoded at each edge, packets copied."""

    head_frames: int
    copied_packets: int
    tail_frames: int
    frame_seconds: float = 0.04  # one frame's duration


def _index(path: Path, length_size: int) -> tuple[list[_Packet], int]:
    """The video packets of ``path`` in decode order, and the file's start in the video's
    time base (ffmpeg counts ``-ss`` from the file's start, so this does too)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        packets = [
            _Packet(p.pts, p.dts, p.duration or 0, p.is_keyframe,
                    p.is_keyframe and _is_idr(bytes(p), length_size))
            for p in container.demux(stream)
            if p.pts is not None and p.dts is not None
        ]  # fmt: skip
        start = container.start_time or 0
        origin = round(Fraction(start, 1_000_000) / stream.time_base)
    return packets, origin


def _is_idr(sample: bytes, length_size: int) -> bool:
    return any(nal_type(u) == IDR for u in length_units(sample, length_size))


def _encoder(stream: Any, parameter_id: int) -> Any:
    """libx264 set up like the source: size, pixel format, profile, level, time base."""
    import av

    source = stream.codec_context
    profile = _PROFILES.get(source.profile or "")
    if profile is None:
        raise NotSmart(f"H.264 profile {source.profile!r} is not one libx264 writes")
    if source.pix_fmt != "yuv420p":
        raise NotSmart(f"pixel format {source.pix_fmt} (only yuv420p is joined)")
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height = source.width, source.height
    encoder.pix_fmt = source.pix_fmt
    encoder.time_base = stream.time_base
    if stream.average_rate:
        encoder.framerate = stream.average_rate
    if source.sample_aspect_ratio:
        encoder.sample_aspect_ratio = source.sample_aspect_ratio
    params = f"sps-id={parameter_id}:bframes=0:keyint=infinite:scenecut=0"
    encoder.options = {"preset": PRESET, "crf": CRF, "profile": profile, "x264-params": params}
    level = getattr(source, "level", None)
    if level and level > 0:
        encoder.options = {**encoder.options, "level": f"{level / 10:g}"}
    if source.color_range:
        encoder.color_range = source.color_range
    return encoder


def _edge(
    source: Any, stream: Any, first: int, stop: int | None, from_key: int, parameter_id: int
) -> tuple[list[tuple[int, bytes, bool]], list[bytes], int]:
    """Re-encode the frames with ``first <= pts < stop`` (decoded from the keyframe at
    ``from_key``): ([(pts, Annex B payload, keyframe)], [its SPS, its PPS], frames)."""
    source.seek(from_key, stream=stream, backward=True, any_frame=False)
    encoder = _encoder(stream, parameter_id)
    out: list[tuple[int, bytes, bool]] = []
    frames = 0

    def take(packets: Any) -> None:
        for packet in packets:
            out.append((packet.pts, bytes(packet), packet.is_keyframe))

    done = False
    for packet in source.demux(stream):
        for frame in packet.decode():
            if frame.pts is None or frame.pts < first:
                continue
            if stop is not None and frame.pts >= stop:
                done = True
                break
            frame.pict_type = 0  # let x264 choose (the first is an IDR picture)
            take(encoder.encode(frame))
            frames += 1
        if done:
            break
    take(encoder.encode(None))
    if not out or not out[0][2]:
        raise NotSmart("the re-encoded edge does not start with a keyframe")
    units = annexb_units(out[0][1])
    sets = [u for u in units if nal_type(u) == SPS] + [u for u in units if nal_type(u) == PPS]
    if len(sets) != 2:
        raise NotSmart("libx264 did not write one SPS and one PPS")
    return out, sets, frames


def smart_cut(
    source_path: Path,
    target: Path,
    offset: float,
    duration: float | None,
    cancel: threading.Event | None = None,
) -> SmartCut:
    """Write the video of ``source_path`` from ``offset`` for ``duration`` seconds (to the
    end with None) into the MP4 ``target``, frame-exact, re-encoding only the edges.

    Timestamps in ``target`` start at 0 at ``offset``. Raises :class:`NotSmart`."""
    import av

    with av.open(str(source_path)) as source:
        if len(source.streams.video) != 1:
            raise NotSmart("the file has more than one video track")
        stream = source.streams.video[0]
        codec = stream.codec_context
        if codec.name != "h264":
            raise NotSmart(f"the video is {codec.name}, not H.264")
        try:
            config = AvcConfig.parse(bytes(codec.extradata or b""))
        except ValueError as exc:
            raise NotSmart(f"the H.264 parameter sets: {exc}") from None
        packets, origin = _index(source_path, config.length_size)
        tb = stream.time_base
        start = origin + round(Fraction(offset).limit_denominator(10**6) / tb)
        end = (
            None
            if duration is None
            else start + round(Fraction(duration).limit_denominator(10**6) / tb)
        )
        frame_duration = _frame_duration(packets)
        if end is not None and end >= max(p.pts for p in packets) + frame_duration:
            end = None  # the range runs to the file's end (a stream fetched to the range)
        positions = {p.pts: n for n, p in enumerate(packets)}
        keys = sorted(p.pts for p in packets if p.keyframe)
        head_key = next((k for k in keys if k >= start), None)
        if end is None:
            tail_key = None
            copy_stop = len(packets)
        else:
            tail_key = next((k for k in reversed(keys) if k <= end), None)
            copy_stop = positions[tail_key] if tail_key is not None else 0
        if head_key is None or (tail_key is not None and tail_key <= head_key):
            raise NotSmart("the range holds no whole GOP to copy")
        copy_from = positions[head_key]
        if not packets[copy_from].idr:
            raise NotSmart("the keyframe at the clip's start is not an IDR picture (open GOP)")
        middle = packets[copy_from:copy_stop]
        if any(not head_key <= p.pts < (tail_key if tail_key is not None else 1 << 62)
               for p in middle):  # fmt: skip
            raise NotSmart("frames are reordered across a keyframe (open GOP)")
        later = packets[copy_stop:]
        if any(p.pts < (tail_key or 0) for p in later):
            raise NotSmart("frames are reordered across a keyframe (open GOP)")
        head_id, tail_id = free_ids(config, 2)

        pieces: list[tuple[list[tuple[int, bytes, bool]], int]] = []
        sets: list[bytes] = []
        head_frames = tail_frames = 0
        if start < head_key:
            before = max((k for k in keys if k <= start), default=keys[0])
            encoded, head_sets, head_frames = _edge(
                source, stream, start, head_key, before, head_id
            )
            pieces.append((encoded, packets[copy_from].pts - packets[copy_from].dts))
            sets += head_sets
        if cancel is not None and cancel.is_set():
            raise NotSmart("cancelled")
        tail: tuple[list[tuple[int, bytes, bool]], int] | None = None
        if tail_key is not None and end is not None and tail_key < end:
            encoded, tail_sets, tail_frames = _edge(
                source, stream, tail_key, end, tail_key, tail_id
            )
            tail_packet = packets[copy_stop]
            tail = (encoded, tail_packet.pts - tail_packet.dts)
            sets += tail_sets
        joined = config.with_sets(sets[0::2], sets[1::2])

        with av.open(str(target), "w", format="mp4") as out:
            video = out.add_stream_from_template(stream)
            video.codec_context.extradata = joined.build()
            video.time_base = tb

            def write(payload: bytes, pts: int, dts: int, length: int, key: bool) -> None:
                packet = av.Packet(payload)
                packet.pts, packet.dts = pts - start, dts - start
                packet.duration = length
                packet.time_base = tb
                packet.is_keyframe = key
                packet.stream = video
                out.mux(packet)

            def write_edge(encoded: list[tuple[int, bytes, bool]], delay: int) -> None:
                for pts, payload, key in encoded:
                    sample = to_sample(annexb_units(payload), config.length_size)
                    write(sample, pts, pts - delay, frame_duration, key)

            if pieces:
                write_edge(*pieces[0])
            copied = 0
            source.seek(head_key, stream=stream, backward=True, any_frame=False)
            for packet in source.demux(stream):
                if packet.pts is None or packet.dts is None:
                    continue
                if packet.dts < middle[0].dts:
                    continue
                if copied == len(middle):
                    break
                expected = middle[copied]
                if packet.pts != expected.pts:
                    raise NotSmart("the source's packets changed between two reads")
                write(bytes(packet), packet.pts, packet.dts, packet.duration or frame_duration,
                      packet.is_keyframe)  # fmt: skip
                copied += 1
                if cancel is not None and copied % 500 == 0 and cancel.is_set():
                    raise NotSmart("cancelled")
            if tail is not None:
                write_edge(*tail)
    return SmartCut(head_frames=head_frames, copied_packets=copied, tail_frames=tail_frames,
                    frame_seconds=float(frame_duration * tb))  # fmt: skip


def joins_decode_cleanly(video: Path, done: SmartCut, timeout: float = 300.0) -> str | None:
    """Decode the joined ``video`` where the re-encoded edges meet the copied GOPs.

    Returns None when both joins decode without a single decoder complaint, else
    the first complaint. A join whose parameter sets collide or whose timestamps
    are out of order decodes with errors (or not at all) on a player; checking the
    frames around the joins — the head and the first frames after it, the last
    copied GOP and the tail — costs a few GOPs of decoding, not the clip.
    """
    import subprocess

    from ..media.ffmpeg import ffmpeg_exe

    windows: list[list[str]] = []
    margin = 3 * done.frame_seconds
    if done.head_frames:
        head = done.head_frames * done.frame_seconds + margin
        windows.append(["-i", str(video), "-t", f"{head:.6f}"])
    if done.tail_frames:
        # An input seek lands on the keyframe before: the last copied GOP, then the tail.
        windows.append(["-sseof", f"-{done.tail_frames * done.frame_seconds + margin:.6f}",
                        "-i", str(video)])  # fmt: skip
    for window in windows:
        argv = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-protocol_whitelist",
                "file", *window, "-map", "0:v:0", "-f", "null", "-"]  # fmt: skip
        run = subprocess.run(argv, capture_output=True, timeout=timeout, check=False)
        complaint = run.stderr.decode("utf-8", "replace").strip()
        if run.returncode != 0 or complaint:
            return complaint.splitlines()[0] if complaint else f"ffmpeg exit {run.returncode}"
    return None


def _frame_duration(packets: list[_Packet]) -> int:
    """The commonest gap between presentation times (a frame's duration)."""
    ordered = sorted(p.pts for p in packets)
    gaps: dict[int, int] = {}
    for a, b in zip(ordered, ordered[1:], strict=False):
        gaps[b - a] = gaps.get(b - a, 0) + 1
    if not gaps:
        raise NotSmart("the video has a single frame")
    return max(gaps, key=lambda g: gaps[g])


__all__ = ["NotSmart", "SmartCut", "joins_decode_cleanly", "smart_cut"]
