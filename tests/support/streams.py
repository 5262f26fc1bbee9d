"""HLS shapes beyond one variant, made with the bundled ffmpeg for tests and benchmarks.

``build_renditions`` — a master whose audio is in ``EXT-X-MEDIA`` renditions
(English default, Chinese) plus English WebVTT subtitles, as ffmpeg's
``-var_stream_map "v:0,agroup:aud a:0,agroup:aud ..."`` writes it;
``build_audio_variants`` — a master with a video variant and an audio-only
variant; ``build_packed_audio`` — AAC segments with ID3 timestamps;
``build_mixed_discontinuity`` — groups from encodes with other picture size,
frame rate and audio layout; :class:`LiveFeed` — a live or EVENT playlist
that grows in real time over the segments of a VOD packaging.
"""

from __future__ import annotations

import struct
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .media import FFMPEG, make_video
from .origin import Origin, joined_playlist, package_hls

SUBTITLES = (
    "1\n00:00:00,500 --> 00:00:01,400\nHello\n\n"
    "2\n00:00:02,000 --> 00:00:02,900\nWorld\n"
)


def _ffmpeg(*args: str, cwd: Path | None = None) -> None:
    subprocess.run(
        [FFMPEG, "-hide_banner", "-loglevel", "error", "-y", *args],
        check=True, timeout=600, cwd=cwd,
    )  # fmt: skip


def _tone(frequency: int, seconds: float) -> list[str]:
    return ["-f", "lavfi", "-i", f"sine=frequency={frequency}:sample_rate=48000:duration={seconds}"]


def build_renditions(root: Path, seconds: float = 4.0, segment: float = 1.0) -> Path:
    """``root/master.m3u8``: video-only variant, audio renditions en (default) and zh, and
    English subtitles. The tones differ (440 Hz English, 660 Hz Chinese)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "en.srt").write_text(SUBTITLES, encoding="utf-8")
    args = ["-f", "lavfi", "-i", f"testsrc2=size=320x240:rate=25:duration={seconds}"]
    args += _tone(440, seconds) + _tone(660, seconds) + ["-i", "en.srt"]
    args += ["-map", "0:v", "-map", "1:a", "-map", "2:a", "-map", "3:s"]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-g", str(int(25 * segment))]
    args += ["-c:a", "aac", "-b:a", "64k", "-c:s", "webvtt"]
    args += ["-f", "hls", "-hls_time", str(segment), "-hls_playlist_type", "vod"]
    args += ["-master_pl_name", "master.m3u8", "-hls_segment_filename", "s%v_%03d.ts"]
    args += ["-var_stream_map",
             "v:0,agroup:aud,sgroup:subs,s:0,language:en "
             "a:0,agroup:aud,language:en,name:English,default:yes "
             "a:1,agroup:aud,language:zh,name:Chinese",
             "p%v.m3u8"]  # fmt: skip
    _ffmpeg(*args, cwd=root)
    return root / "master.m3u8"


def build_audio_variants(root: Path, seconds: float = 3.0) -> Path:
    """``root/master.m3u8`` with a 160x120 video variant and an audio-only variant."""
    root.mkdir(parents=True, exist_ok=True)
    args = ["-f", "lavfi", "-i", f"testsrc2=size=160x120:rate=25:duration={seconds}"]
    args += _tone(440, seconds) + ["-map", "0:v", "-map", "1:a"]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-c:a", "aac", "-b:a", "64k"]
    args += ["-f", "hls", "-hls_time", "1", "-hls_playlist_type", "vod"]
    args += ["-master_pl_name", "master.m3u8", "-hls_segment_filename", "s%v_%03d.ts"]
    args += ["-var_stream_map", "v:0 a:0", "p%v.m3u8"]
    _ffmpeg(*args, cwd=root)
    return root / "master.m3u8"


def id3_timestamp(seconds: float) -> bytes:
    """An ID3v2.4 tag with Apple's transport-stream timestamp PRIV frame (90 kHz)."""
    owner = b"com.apple.streaming.transportStreamTimestamp\x00"
    value = struct.pack(">Q", int(round(seconds * 90_000)))
    frame = b"PRIV" + _syncsafe(len(owner) + 8) + b"\x00\x00" + owner + value
    return b"ID3\x04\x00\x00" + _syncsafe(len(frame)) + frame


def _syncsafe(value: int) -> bytes:
    return bytes([(value >> 21) & 0x7F, (value >> 14) & 0x7F, (value >> 7) & 0x7F, value & 0x7F])


def build_packed_audio(root: Path, seconds: float = 4.0, start: float = 10.0) -> Path:
    """``root/index.m3u8``: packed AAC segments (ADTS) each led by an ID3 timestamp."""
    root.mkdir(parents=True, exist_ok=True)
    _ffmpeg(*_tone(440, seconds), "-c:a", "aac", "-b:a", "64k", "-f", "segment",
            "-segment_time", "1", "-segment_format", "adts", str(root / "raw%03d.aac"))  # fmt: skip
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:2", "#EXT-X-MEDIA-SEQUENCE:0"]
    position = start
    for number, raw in enumerate(sorted(root.glob("raw*.aac"))):
        data = raw.read_bytes()
        duration = _adts_duration(data)
        (root / f"a{number:03d}.aac").write_bytes(id3_timestamp(position) + data)
        raw.unlink()
        lines += [f"#EXTINF:{duration:.6f},", f"a{number:03d}.aac"]
        position += duration
    lines.append("#EXT-X-ENDLIST")
    (root / "index.m3u8").write_text("\n".join(lines) + "\n")
    return root / "index.m3u8"


def _adts_duration(data: bytes) -> float:
    """Seconds of AAC in an ADTS stream (1024 samples a frame, rate from the header)."""
    rates = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000]
    frames, position, rate = 0, 0, 48000
    while position + 7 <= len(data) and data[position] == 0xFF:
        rate = rates[(data[position + 2] >> 2) & 0x0F]
        length = ((data[position + 3] & 0x03) << 11) | (data[position + 4] << 3) | (
            data[position + 5] >> 5
        )
        frames += 1
        position += length
    return frames * 1024 / rate


def build_mixed_discontinuity(root: Path) -> Path:
    """``root/index.m3u8``: 3 s of 320x240@25 with mono 44.1 kHz audio, a discontinuity,
    2 s of 160x120@30 with stereo 22.05 kHz (another encode), a discontinuity, 2 s more
    of the first kind."""
    root.mkdir(parents=True, exist_ok=True)
    main = make_video(root / "src" / "main.mp4", 3.0, "320x240", 25, gop=25)
    tail = make_video(root / "src" / "tail.mp4", 2.0, "320x240", 25, gop=25)
    clip = root / "src" / "clip.mp4"
    _ffmpeg("-f", "lavfi", "-i", "testsrc=size=160x120:rate=30:duration=2",
            *_tone(880, 2.0), "-c:v", "libx264", "-preset", "ultrafast", "-g", "30",
            "-pix_fmt", "yuv420p", "-c:a", "aac", "-ac", "2", "-ar", "22050", "-shortest",
            str(clip))  # fmt: skip
    for name, source in (("a", main), ("b", clip), ("c", tail)):
        package_hls(source, root / name, 1.0)
    (root / "index.m3u8").write_text(joined_playlist(root, ["a", "b", "c"]))
    return root / "index.m3u8"


@dataclass
class LiveFeed:
    """A live (sliding window) or EVENT playlist over ``segments``, published in real time.

    ``origin`` serves ``path``; one segment is published every ``segment_seconds``
    (``speed`` > 1 publishes faster). ``outage(seconds)`` answers 503 for a while;
    ``end()`` adds EXT-X-ENDLIST.
    """

    origin: Origin
    path: str
    segments: list[tuple[float, str]]  # (duration, URI relative to the playlist)
    window: int = 4
    kind: str = "live"  # "live" or "event"
    initial: int = 4  # segments published at the start
    target: int = 1
    started: float = field(default_factory=time.monotonic)
    ended: bool = False
    down_until: float = 0.0
    requests: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.origin.add_dynamic(self.path, self.render)

    @classmethod
    def from_vod(cls, origin: Origin, vod_playlist: Path, path: str, **kw: object) -> LiveFeed:
        segments: list[tuple[float, str]] = []
        duration = 0.0
        for line in vod_playlist.read_text().splitlines():
            if line.startswith("#EXTINF:"):
                duration = float(line[8:].split(",")[0])
            elif line and not line.startswith("#"):
                segments.append((duration, line))
        return cls(origin, path, segments, **kw)  # type: ignore[arg-type]

    @property
    def segment_seconds(self) -> float:
        return self.segments[0][0]

    def published(self) -> int:
        elapsed = time.monotonic() - self.started
        count = self.initial + int(elapsed / self.segment_seconds)
        return min(count, len(self.segments))

    def outage(self, seconds: float) -> None:
        self.down_until = time.monotonic() + seconds

    def end(self) -> None:
        self.ended = True

    def render(self) -> bytes | int:
        with self._lock:
            self.requests += 1
        if time.monotonic() < self.down_until:
            return 503
        count = self.published()
        first = 0 if self.kind == "event" else max(0, count - self.window)
        lines = ["#EXTM3U", "#EXT-X-VERSION:3", f"#EXT-X-TARGETDURATION:{self.target}",
                 f"#EXT-X-MEDIA-SEQUENCE:{first}"]  # fmt: skip
        if self.kind == "event":
            lines.append("#EXT-X-PLAYLIST-TYPE:EVENT")
        for duration, uri in self.segments[first:count]:
            lines += [f"#EXTINF:{duration:.6f},", uri]
        if self.ended or count >= len(self.segments) and self.kind == "event":
            lines.append("#EXT-X-ENDLIST")
        return ("\n".join(lines) + "\n").encode()


def build_live_source(root: Path, seconds: int = 30, segment: float = 0.5) -> Path:
    """A VOD packaging of ``seconds`` of small video in ``segment``-second pieces."""
    source = make_video(root / "live_src.mp4", seconds, "160x120", 20, gop=int(20 * segment))
    return package_hls(source, root / "live", segment)


__all__ = ["LiveFeed", "build_audio_variants", "build_live_source", "build_mixed_discontinuity",
           "build_packed_audio", "build_renditions", "id3_timestamp"]  # fmt: skip
