"""Frames in and out: decode with PyAV as YUV 4:2:0 planes, encode through the bundled ffmpeg.

The restoration works on the planes the video already carries (Y at full
resolution, U and V at half), so no colour conversion is paid per frame. A
blend ``I = a*L + (1-a)*B`` is affine in each plane, which is all the
un-blending needs. The result goes to ffmpeg as raw ``yuv420p`` on stdin and
is encoded with libx264; the audio is copied from the source by the same
ffmpeg run.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ..exceptions import MediaError
from ..media.codecs import audio_args_for_mp4
from ..media.ffmpeg import ffmpeg_exe, kill_group, summarise
from ..media.probe import MediaInfo, _video_stream, open_local
from ..progress import CancelToken

Planes = tuple[np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class VideoShape:
    """What the passes need to know of the video stream."""

    width: int
    height: int
    rate: Fraction
    frames: int


def video_shape(path: str | os.PathLike[str], info: MediaInfo) -> VideoShape:
    """Width, height, frame rate and frame count (from the stream, else duration × rate)."""
    with open_local(path) as container:
        stream = _video_stream(container)
        if stream is None:
            raise MediaError("the file has no video stream")
        rate = stream.average_rate or stream.guessed_rate or Fraction(25)
        frames = int(stream.frames or 0) or max(1, round(info.duration * float(rate)))
    if info.width % 2 or info.height % 2:
        raise MediaError("the video's width and height must be even for H.264 4:2:0 output")
    return VideoShape(info.width, info.height, Fraction(rate), frames)


def to_planes(frame: av.VideoFrame) -> Planes:
    """The frame's Y, U, V planes (uint8) in 4:2:0, as views of the decoded frame.

    A view keeps the frame's buffer alive, and the decoder never writes into a
    buffer still referenced, so no copy is needed.
    """
    if frame.format.name != "yuv420p":
        frame = frame.reformat(format="yuv420p")
    planes = []
    for plane in frame.planes:
        width = plane.width
        rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
        planes.append(rows[:, :width])
    return planes[0], planes[1], planes[2]


def decode_planes(
    path: str | os.PathLike[str],
    cancel: CancelToken | None = None,
    *,
    start_frame: int = 0,
    rate: Fraction | None = None,
) -> Iterator[tuple[int, Planes]]:
    """``(index, planes)`` for every frame from ``start_frame`` on, in presentation order.

    With ``start_frame`` > 0 the decoder seeks to the keyframe before it and
    skips forward (``rate`` maps index to time). The cancel token is checked
    on every frame, so a cancel is honoured within one frame's decoding.
    """
    with open_local(path) as container:
        stream = _video_stream(container)
        if stream is None:
            raise MediaError("the file has no video stream")
        stream.thread_type = "AUTO"
        first_pts = stream.start_time or 0
        tb = stream.time_base
        fps = rate or stream.average_rate or stream.guessed_rate or Fraction(25)
        if start_frame > 0:
            target = first_pts + int(Fraction(start_frame) / Fraction(fps) / tb)
            container.seek(target, stream=stream, backward=True, any_frame=False)
        index = None
        try:
            for frame in container.decode(stream):
                if cancel is not None:
                    cancel.check()
                if frame.pts is None:
                    continue
                if index is None:
                    index = int(round(float((frame.pts - first_pts) * tb * fps)))
                    if start_frame == 0:
                        index = 0
                if index >= start_frame:
                    yield index, to_planes(frame)
                index += 1
        except av.FFmpegError as exc:
            raise MediaError(f"the video could not be decoded: {exc}") from None


class Encoder:
    """ffmpeg reading raw yuv420p frames on stdin, copying audio from ``src``, writing MP4.

    ``video_filter`` (an ffmpeg ``-vf`` chain, e.g. ``delogo`` for regions left
    to it) is applied before encoding. :meth:`close` waits for ffmpeg and
    raises :class:`MediaError` with its last error lines on failure;
    :meth:`kill` stops it and its process group at once.
    """

    def __init__(
        self,
        src: str | os.PathLike[str],
        dst: Path,
        shape: VideoShape,
        info: MediaInfo,
        *,
        preset: str,
        crf: int,
        video_filter: str = "",
    ) -> None:
        rate = shape.rate
        cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
        cmd += ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{shape.width}x{shape.height}"]
        cmd += ["-framerate", f"{rate.numerator}/{rate.denominator}", "-i", "pipe:0"]
        cmd += ["-protocol_whitelist", "file", "-i", os.path.abspath(src)]
        cmd += ["-map", "0:v:0", "-map", "1:a:0?", "-map_metadata", "1"]
        if video_filter:
            cmd += ["-vf", video_filter]
        cmd += ["-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p"]
        cmd += audio_args_for_mp4(info.audio_codec)
        cmd += ["-movflags", "+faststart", "-f", "mp4", os.fspath(dst)]
        self.dst = dst
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
            close_fds=True,
        )
        self._tail: deque[str] = deque(maxlen=20)
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for raw in iter(self.proc.stderr.readline, b""):
            self._tail.append(raw.decode("utf-8", "replace").rstrip())

    def write(self, planes: Planes) -> None:
        assert self.proc.stdin is not None
        try:
            for plane in planes:
                self.proc.stdin.write(np.ascontiguousarray(plane).data)
        except (BrokenPipeError, ValueError):
            self.proc.wait()
            raise MediaError(f"ffmpeg failed: {summarise(chr(10).join(self._tail))}") from None

    def output_size(self) -> int:
        try:
            return self.dst.stat().st_size
        except FileNotFoundError:
            return 0

    def close(self, timeout: float | None = None) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.close()
        except BrokenPipeError:
            pass
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.proc.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                self.kill()
                raise MediaError(f"ffmpeg did not finish within {timeout:g} seconds")
            time.sleep(0.02)
        self._reader.join(timeout=5)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        if self.proc.returncode != 0:
            tail = "\n".join(self._tail)
            raise MediaError(
                f"ffmpeg failed (exit code {self.proc.returncode}): {summarise(tail)}"
            )

    def kill(self) -> None:
        if self.proc.poll() is None:
            kill_group(self.proc)
        for handle in (self.proc.stdin, self.proc.stderr):
            try:
                if handle is not None:
                    handle.close()
            except OSError:
                pass
        self._reader.join(timeout=5)
