"""Which codecs an MP4 result can carry as they are (stream copy)."""

from __future__ import annotations

#: video codecs the mp4 muxer accepts and browsers commonly play
MP4_VIDEO_COPY = frozenset({"h264", "hevc", "av1", "vp9", "mpeg4"})
#: audio codecs the mp4 muxer accepts
MP4_AUDIO_COPY = frozenset({"aac", "mp3", "ac3", "eac3", "opus", "flac", "alac"})


def audio_args_for_mp4(audio_codec: str | None) -> list[str]:
    """``-c:a copy`` when ``audio_codec`` fits in MP4, else AAC (e.g. PCM from AVI, Vorbis)."""
    if audio_codec is None or audio_codec in MP4_AUDIO_COPY:
        return ["-c:a", "copy"]
    return ["-c:a", "aac", "-b:a", "192k"]
