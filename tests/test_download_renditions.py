"""HLS masters whose audio and subtitles are separate renditions (EXT-X-MEDIA)."""

from __future__ import annotations

from pathlib import Path

import av
import m3u8
import pytest

from mediacraft.download import DownloadOptions, download
from mediacraft.download.renditions import iso639_2, select
from mediacraft.exceptions import DownloadError, PlaylistError, ValidationError
from tests.support.origin import Origin
from tests.support.streams import build_audio_variants, build_packed_audio, build_renditions

ALLOW = ("127.0.0.1",)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("renditions")
    build_renditions(root / "rend")
    build_audio_variants(root / "av")
    with av.open(str(root / "rend" / "s0_000.ts")) as first:
        video_start = first.start_time / 1_000_000
    # packed AAC whose ID3 timestamps say it starts half a second after the video
    build_packed_audio(root / "packed", seconds=3.0, start=video_start + 0.5)
    (root / "mixed.m3u8").write_text(
        "#EXTM3U\n"
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="p",NAME="Packed",LANGUAGE="en",DEFAULT=YES,'
        'URI="packed/index.m3u8"\n'
        '#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=320x240,CODECS="avc1.42c00d,mp4a.40.2",'
        'AUDIO="p"\nrend/p0.m3u8\n'
    )
    return root


@pytest.fixture
def origin(media: Path):
    with Origin(media) as server:
        yield server


def fast(**changes: object) -> DownloadOptions:
    return DownloadOptions.from_profile("stable", retry_delay=0.01, stall_timeout=2.0, **changes)


def get(origin: Origin, path: str, tmp_path: Path, options: DownloadOptions | None = None):
    return download(
        origin.url(path), tmp_path / "out" / "video.mp4", options or fast(),
        work_dir=tmp_path / "work", allowed_networks=ALLOW, choose_suffix=True,
    )  # fmt: skip


def starts(path: Path) -> dict[str, float]:
    with av.open(str(path)) as container:
        return {s.type: float(s.start_time * s.time_base) for s in container.streams}


def streams(path: Path) -> list[tuple[str, str, str | None, float]]:
    """(type, codec, language tag, duration) of every stream in the file."""
    out = []
    with av.open(str(path)) as container:
        for stream in container.streams:
            duration = float(stream.duration * stream.time_base) if stream.duration else 0.0
            out.append((stream.type, stream.codec_context.name,
                        stream.metadata.get("language"), duration))  # fmt: skip
    return out


def dominant_frequency(path: Path, index: int = 0) -> float:
    """The loudest frequency of the ``index``-th audio stream (to tell the renditions apart)."""
    import numpy

    samples = []
    with av.open(str(path)) as container:
        stream = container.streams.audio[index]
        for frame in container.decode(stream):
            samples.append(frame.to_ndarray().reshape(-1)[: frame.samples])
            if sum(len(s) for s in samples) > 48000:
                break
    data = numpy.concatenate(samples)
    spectrum = numpy.abs(numpy.fft.rfft(data))
    return float(numpy.argmax(spectrum[1:]) + 1) * stream.codec_context.sample_rate / len(data)


def test_separate_audio_rendition_is_fetched_and_muxed(origin, tmp_path):
    result = get(origin, "rend/master.m3u8", tmp_path)
    kinds = streams(result.path)
    assert [k[0] for k in kinds] == ["video", "audio"]
    video, audio = kinds
    assert video[1] == "h264" and audio[1] == "aac" and audio[2] == "eng"
    assert abs(video[3] - 4.0) < 0.2 and abs(audio[3] - 4.0) < 0.3
    begin = starts(result.path)  # lined up as in the playlists (both start at ~1.4 s there)
    assert abs(begin["video"] - begin["audio"]) < 0.05
    assert abs(dominant_frequency(result.path) - 440) < 15  # the DEFAULT (English) one
    assert origin.paths(prefix="rend/sChinese") == []
    assert origin.paths(prefix="rend/sEnglish")
    assert result.tracks == [
        {"type": "video", "codec": "h264", "language": None, "width": 320, "height": 240},
        {"type": "audio", "codec": "aac", "language": "en", "name": "audio_1"},
    ]


def test_packed_audio_rendition_is_placed_by_its_id3_timestamp(origin, tmp_path):
    result = get(origin, "mixed.m3u8", tmp_path)
    assert [s[0] for s in streams(result.path)] == ["video", "audio"]
    begin = starts(result.path)
    assert abs((begin["audio"] - begin["video"]) - 0.5) < 0.05


def test_audio_and_video_are_fetched_concurrently(origin, tmp_path):
    origin.latency = 0.05
    get(origin, "rend/master.m3u8", tmp_path, fast(threads=4))
    order = [p for p in origin.paths(suffix=".ts")]
    first_audio = next(i for i, p in enumerate(order) if "sEnglish" in p)
    last_video = max(i for i, p in enumerate(order) if "/s0_" in p)
    assert first_audio < last_video  # interleaved by time, not one track after the other


def test_audio_lang_picks_the_rendition_and_all_keeps_every_one(origin, tmp_path):
    chinese = get(origin, "rend/master.m3u8", tmp_path / "zh", fast(audio_lang="zh"))
    assert [s[2] for s in streams(chinese.path) if s[0] == "audio"] == ["zho"]
    assert abs(dominant_frequency(chinese.path) - 660) < 15
    both = get(origin, "rend/master.m3u8", tmp_path / "all", fast(audio_lang="all"))
    audio = [s for s in streams(both.path) if s[0] == "audio"]
    assert [s[2] for s in audio] == ["eng", "zho"]
    assert [t["language"] for t in both.tracks if t["type"] == "audio"] == ["en", "zh"]
    assert abs(dominant_frequency(both.path, 1) - 660) < 15


def test_subtitles_are_muxed_as_mov_text_with_their_language(origin, tmp_path):
    result = get(origin, "rend/master.m3u8", tmp_path, fast(subtitles="en"))
    kinds = streams(result.path)
    assert [k[0] for k in kinds] == ["video", "audio", "subtitle"]
    assert kinds[2][1] == "mov_text" and kinds[2][2] == "eng"
    cues = []
    with av.open(str(result.path)) as container:
        for packet in container.demux(container.streams.subtitles[0]):
            text = bytes(packet)[2:].decode() if packet.size else ""
            if text:  # mov_text fills the time between cues with empty samples
                cues.append((text, float(packet.pts * packet.time_base)))
    assert [c[0] for c in cues] == ["Hello", "World"]
    assert abs(cues[0][1] - 0.5) < 0.15 and abs(cues[1][1] - 2.0) < 0.15
    assert result.tracks[2] == {"type": "subtitles", "codec": "mov_text", "language": "en",
                                "name": "subtitle_0"}  # fmt: skip


def test_missing_audio_group_fails_instead_of_completing_silent(origin, tmp_path):
    master = (origin.root / "rend" / "master.m3u8").read_text()
    broken = master.replace('AUDIO="group_aud"', 'AUDIO="nope"')
    origin.add_file("rend/broken.m3u8", broken.encode())
    with pytest.raises(PlaylistError, match="audio group 'nope'.* does not define"):
        get(origin, "rend/broken.m3u8", tmp_path)


def test_unfetchable_audio_rendition_fails_the_download(origin, tmp_path):
    origin.add_fault(lambda p: "sEnglish" in p, "status", status=500)
    with pytest.raises(DownloadError, match=r"Audio \(en\) segment \d+ returned HTTP 500"):
        get(origin, "rend/master.m3u8", tmp_path, fast(retries=1))
    assert not (tmp_path / "out" / "video.mp4").exists()


def test_unknown_audio_language_is_refused_naming_what_exists(origin, tmp_path):
    with pytest.raises(PlaylistError, match=r"No audio rendition in language 'fr'.*en.*zh"):
        get(origin, "rend/master.m3u8", tmp_path, fast(audio_lang="fr"))
    with pytest.raises(PlaylistError, match=r"No subtitles in language 'de'"):
        get(origin, "rend/master.m3u8", tmp_path / "b", fast(subtitles="de"))


def test_quality_never_picks_the_audio_only_variant(origin, tmp_path):
    worst = get(origin, "av/master.m3u8", tmp_path / "w", fast(quality="worst"))
    assert (worst.width, worst.height) == (160, 120)
    low = get(origin, "av/master.m3u8", tmp_path / "b", fast(quality="1000"))
    assert low.height == 120 and low.path.suffix == ".mp4"


def test_audio_only_master_gives_an_m4a(origin, tmp_path):
    master = (origin.root / "av" / "master.m3u8").read_text().splitlines()
    audio_only = [line for i, line in enumerate(master)
                  if not (line.startswith("#EXT-X-STREAM-INF") and "RESOLUTION" in line)
                  and not (i and "RESOLUTION" in master[i - 1])]  # fmt: skip
    origin.add_file("av/audio_only.m3u8", "\n".join(audio_only).encode())
    result = get(origin, "av/audio_only.m3u8", tmp_path)
    assert result.path.suffix == ".m4a" and result.width is None
    assert [s[0] for s in streams(result.path)] == ["audio"]
    assert abs(result.duration - 3.0) < 0.3


def test_selection_rules_on_a_written_master():
    master_text = (
        "#EXTM3U\n"
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="English",LANGUAGE="en-US",'
        'AUTOSELECT=YES,URI="en.m3u8"\n'
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="Main",LANGUAGE="fr"\n'
        '#EXT-X-STREAM-INF:BANDWIDTH=900000,RESOLUTION=640x360,CODECS="avc1.4d401e,mp4a.40.2",'
        'AUDIO="a"\nv.m3u8\n'
        '#EXT-X-STREAM-INF:BANDWIDTH=64000,CODECS="mp4a.40.2",AUDIO="a"\naudio.m3u8\n'
    )
    master = m3u8.loads(master_text, uri="https://cdn.example/x/master.m3u8?token=1")
    chosen = select(master, "https://cdn.example/x/master.m3u8?token=1", "worst", None, "none")
    assert chosen.variant.url == "https://cdn.example/x/v.m3u8"
    assert [r.url for r in chosen.audio] == ["https://cdn.example/x/en.m3u8"]  # AUTOSELECT
    french = select(master, "https://cdn.example/x/master.m3u8", "best", "fr", "none")
    assert french.audio == [] and french.variant_audio  # carried in the variant itself
    english = select(master, "https://cdn.example/x/master.m3u8", "best", "en", "none")
    assert not english.variant_audio and english.audio[0].language == "en-US"
    assert iso639_2("en-US") == "eng" and iso639_2("zh") == "zho" and iso639_2("x") == "und"


def test_options_for_renditions_are_validated():
    for bad in ({"audio_lang": "english!"}, {"subtitles": 3}, {"split_discontinuities": "yes"}):
        with pytest.raises(ValidationError):
            DownloadOptions.from_dict(bad)
    assert DownloadOptions.from_dict({"audio_lang": "all", "subtitles": "zh-Hans"}).subtitles


def test_video_and_audio_resume_together_after_an_interrupt(origin, tmp_path):
    import hashlib
    import json

    from mediacraft.exceptions import Interrupted
    from mediacraft.progress import CancelToken

    reference = get(origin, "rend/master.m3u8", tmp_path / "ref", fast(audio_lang="all"))
    digest = hashlib.sha256(reference.path.read_bytes()).hexdigest()
    origin.latency = 0.05
    origin.clear_log()
    token = CancelToken()

    def hook(progress) -> None:
        if (progress.segments_done or 0) >= 6:
            token.interrupt()

    options = fast(audio_lang="all", threads=2, checkpoint_interval=0.0)
    with pytest.raises(Interrupted):
        download(origin.url("rend/master.m3u8"), tmp_path / "out" / "video.mp4", options,
                 work_dir=tmp_path / "work", allowed_networks=ALLOW, cancel=token,
                 progress=hook)  # fmt: skip
    first = set(origin.paths(suffix=".ts"))
    state = json.loads((tmp_path / "work" / "checkpoint.json").read_text())["tracks"]
    kept = sum(t["next"] + len(t["done"]) for t in state.values())
    assert set(state) == {"v", "a1", "a2"} and kept >= 6
    origin.clear_log()
    origin.latency = 0.0
    result = get(origin, "rend/master.m3u8", tmp_path, fast(audio_lang="all"))
    assert hashlib.sha256(result.path.read_bytes()).hexdigest() == digest
    again = origin.paths(suffix=".ts")
    assert len(again) == len(set(again)) == 14 - kept  # 4 video + 2 x 5 audio segments
    assert any("sEnglish" in p for p in first) and any("/s0_" in p for p in first)


def test_subtitles_the_mp4_cannot_take_are_written_beside_it(origin, tmp_path, monkeypatch):
    from mediacraft.download import mux as mux_module

    real = mux_module.run_ffmpeg

    def refuse_subtitles(args, cancel=None, timeout=3600.0):
        if "webvtt" in args:
            raise DownloadError("Remuxing to MP4 failed: Subtitle codec is not supported")
        return real(args, cancel, timeout)

    monkeypatch.setattr(mux_module, "run_ffmpeg", refuse_subtitles)
    result = get(origin, "rend/master.m3u8", tmp_path, fast(subtitles="en"))
    assert [p.name for p in result.files] == ["video.mp4", "video.en.vtt"]
    text = result.files[1].read_text()
    assert text.startswith("WEBVTT") and "Hello" in text and "World" in text
    assert [t["type"] for t in result.tracks] == ["video", "audio"]
