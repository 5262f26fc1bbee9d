"""DASH (static MPD) through the HLS engine: every segment scheme, choices, faults, resume."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import av
import pytest

from mediacraft.download import DownloadOptions, download
from mediacraft.download.mpd import parse_duration, parse_mpd
from mediacraft.download.sidx import parse_sidx
from mediacraft.exceptions import BlockedAddress, DownloadError, Interrupted, PlaylistError
from mediacraft.progress import CancelToken, Progress
from tests.support.dash import DashMedia, boxes, build_dash
from tests.support.origin import Origin, frame_hashes
from tests.test_download_renditions import dominant_frequency, streams

ALLOW = ("127.0.0.1",)
FLAVOURS = ["timeline", "number", "list", "single", "time", "base"]


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> DashMedia:
    return build_dash(tmp_path_factory.mktemp("dash"))


@pytest.fixture(scope="module")
def source_frames(media: DashMedia) -> list[str]:
    return frame_hashes(media.source)


@pytest.fixture
def origin(media: DashMedia):
    with Origin(media.root) as server:
        yield server


def fast(**changes: object) -> DownloadOptions:
    return DownloadOptions.from_profile("stable", retry_delay=0.01, stall_timeout=2.0, **changes)


def get(origin: Origin, path: str, tmp_path: Path, options: DownloadOptions | None = None,
        **kwargs: object):  # fmt: skip
    return download(
        origin.url(path), tmp_path / "out" / "video.mp4", options or fast(),
        work_dir=tmp_path / "work", allowed_networks=ALLOW, **kwargs,
    )  # fmt: skip


def serve_mpd(origin: Origin, text: str, name: str = "hand/manifest.mpd") -> str:
    return origin.add_file(name, text.encode())


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_every_segment_scheme_gives_the_source_pictures_and_audio(
    origin, media, source_frames, tmp_path, flavour
):
    result = get(origin, f"{flavour}/manifest.mpd", tmp_path)
    assert result.kind == "dash"
    assert frame_hashes(result.path) == source_frames  # stream copy: the very same pictures
    kinds = streams(result.path)
    assert [k[0] for k in kinds] == ["video", "audio"]
    assert abs(kinds[0][3] - media.seconds) < 0.1 and abs(kinds[1][3] - media.seconds) < 0.2
    assert abs(dominant_frequency(result.path) - 440) < 15
    with av.open(str(result.path)) as container:
        assert container.format.name.startswith("mov,mp4")
    requested = origin.paths()
    if flavour in ("single", "base"):  # byte ranges of one file per stream, never all of it
        ranged = [e for e in origin.log if e.path.endswith(".mp4")]
        assert ranged and all(e.range and e.range.startswith("bytes=") for e in ranged)
    else:
        assert sum(p.endswith(".m4s") for p in requested) == 10  # 2 inits + 2 x 4 segments
    assert not list((tmp_path / "work").glob("*_g*"))  # work files cleaned


def test_segment_base_reads_the_sidx_and_fetches_each_fragment(origin, media, tmp_path):
    get(origin, "base/manifest.mpd", tmp_path)
    video = [e.range for e in origin.log if e.path == "/base/media/video.mp4"]
    sidx = next((o, s) for kind, o, s in boxes(media.root / "base/media/video.mp4")
                if kind == "sidx")  # fmt: skip
    assert video[0] == f"bytes={sidx[0]}-{sidx[0] + sidx[1] - 1}"  # the index first
    assert f"bytes=0-{sidx[0] - 1}" in video  # the initialization section
    assert len(video) == 2 + 4  # index, init, one request per 1 s fragment


def test_quality_and_audio_language_choose_representations(origin, tmp_path):
    best = get(origin, "multi/manifest.mpd", tmp_path / "best")
    assert (best.width, best.height) == (320, 240)
    assert abs(dominant_frequency(best.path) - 440) < 15  # the first audio set by default
    small = get(origin, "multi/manifest.mpd", tmp_path / "small",
                fast(quality="worst", audio_lang="zh"))  # fmt: skip
    assert (small.width, small.height) == (160, 120)
    assert abs(dominant_frequency(small.path) - 880) < 15
    assert [t.get("language") for t in small.tracks if t["type"] == "audio"] == ["zho"]
    both = get(origin, "multi/manifest.mpd", tmp_path / "all", fast(audio_lang="all"))
    assert [k[2] for k in streams(both.path) if k[0] == "audio"] == ["eng", "zho"]


def test_a_language_the_manifest_lacks_is_refused_listing_what_it_has(origin, tmp_path):
    with pytest.raises(PlaylistError, match=r"No audio in language 'fr'.*eng.*zho"):
        get(origin, "multi/manifest.mpd", tmp_path, fast(audio_lang="fr"))
    assert not (tmp_path / "out" / "video.mp4").exists()


def test_retries_faults_and_reports_progress(origin, source_frames, tmp_path):
    origin.add_fault("timeline/chunk-stream0-00002.m4s", "status", status=503, times=2)
    origin.add_fault("timeline/chunk-stream1-00003.m4s", "reset", after=500, times=1)
    reports: list[Progress] = []
    result = get(origin, "timeline/manifest.mpd", tmp_path, progress=reports.append)
    assert frame_hashes(result.path) == source_frames
    assert origin.paths().count("/timeline/chunk-stream0-00002.m4s") == 3
    downloading = [r for r in reports if r.stage == "downloading"]
    assert downloading and all(r.segments_total == 8 for r in downloading)
    assert reports[-1].stage == "finished" and reports[-1].segments_done == 8


def test_interrupt_then_resume_fetches_only_what_is_missing(origin, source_frames, tmp_path):
    origin.latency = 0.05
    token = CancelToken()

    def hook(progress: Progress) -> None:
        if (progress.segments_done or 0) >= 4:
            token.interrupt()

    options = fast(threads=1, checkpoint_interval=0.0)
    with pytest.raises(Interrupted):
        get(origin, "list/manifest.mpd", tmp_path, options, progress=hook, cancel=token)
    state = json.loads((tmp_path / "work" / "checkpoint.json").read_text())
    assert state["kind"] == "hls" and set(state["tracks"]) == {"v", "a1"}
    first = set(origin.paths(suffix=".m4s"))
    origin.clear_log()
    result = get(origin, "list/manifest.mpd", tmp_path, options)
    assert frame_hashes(result.path) == source_frames
    second = [p for p in origin.paths(suffix=".m4s") if "init" not in p]
    assert second and len(second) < 8  # what the first attempt kept is not fetched again
    assert not (set(second) & {p for p in first if "init" not in p} - set(second))


def test_segment_urls_pass_the_guard(origin, tmp_path):
    text = (origin.root / "number" / "manifest.mpd").read_text()
    text = text.replace("<Period", "<BaseURL>http://10.0.0.1/media/</BaseURL>\n\t<Period", 1)
    url = serve_mpd(origin, text)
    before = origin.accepted
    with pytest.raises(BlockedAddress, match="10.0.0.1"):
        download(url, tmp_path / "o.mp4", fast(retries=0), work_dir=tmp_path / "w",
                 allowed_networks=ALLOW)  # fmt: skip
    assert origin.accepted == before + 1  # the manifest only
    assert not (tmp_path / "o.mp4").exists()


HEAD = ('<?xml version="1.0"?>\n<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="{type}" '
        'mediaPresentationDuration="PT4S">\n')  # fmt: skip


def _video_set(extra: str = "") -> str:
    return (
        '<Period><AdaptationSet mimeType="video/mp4">' + extra +
        '<Representation id="0" bandwidth="1000" width="320" height="240">'
        '<SegmentTemplate media="../timeline/chunk-stream0-$Number%05d$.m4s" '
        'initialization="../timeline/init-stream0.m4s" duration="1" startNumber="1"/>'
        "</Representation></AdaptationSet></Period></MPD>\n"
    )  # fmt: skip


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (HEAD.format(type="static") + _video_set(
            '<ContentProtection schemeIdUri="urn:mpeg:dash:mp4protection:2011" value="cenc"/>'),
         "protected by DRM"),
        (HEAD.format(type="dynamic") + _video_set(), "live DASH stream"),
        (HEAD.format(type="static") + "<Period><AdaptationSet>\n</Period></MPD>",
         r"not valid XML \(line 4, column 3: mismatched tag"),
        (HEAD.format(type="static") + _video_set().replace('media="', 'xmedia="'),
         "SegmentTemplate of representation '0' has no media"),
        (HEAD.format(type="static") + _video_set().replace('startNumber="1"', 'startNumber="x"'),
         "SegmentTemplate element has a malformed startNumber 'x'"),
        ('<?xml version="1.0"?><!DOCTYPE MPD [<!ENTITY a "aaaa">]><MPD>&a;</MPD>',
         "declares a document type"),
        ('<?xml version="1.0"?><rss><channel/></rss>', "not a DASH manifest"),
    ],
    ids=["drm", "dynamic", "xml", "no-media", "bad-number", "doctype", "not-mpd"],
)
def test_bad_manifests_are_refused_saying_why_and_leave_nothing(origin, tmp_path, text, message):
    url = serve_mpd(origin, text)
    with pytest.raises(DownloadError, match=message) as raised:
        download(url, tmp_path / "out" / "o.mp4", fast(), work_dir=tmp_path / "w",
                 allowed_networks=ALLOW)  # fmt: skip
    if message == "protected by DRM":
        assert raised.value.reason == "drm"
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    assert not origin.paths(suffix=".m4s")  # refused before any media was fetched


def test_a_hand_written_template_on_the_adaptation_set_is_inherited(origin, source_frames,
                                                                    tmp_path):  # fmt: skip
    text = (
        HEAD.format(type="static") + "<BaseURL>../timeline/</BaseURL><Period>"
        '<AdaptationSet mimeType="video/mp4">'
        '<SegmentTemplate timescale="1000" duration="1000" startNumber="1" '
        'media="chunk-stream$RepresentationID$-$Number%05d$.m4s" '
        'initialization="init-stream$RepresentationID$.m4s"/>'
        '<Representation id="0" bandwidth="1000" width="320" height="240"/>'
        "</AdaptationSet></Period></MPD>\n"
    )
    result = download(serve_mpd(origin, text), tmp_path / "o.mp4", fast(),
                      work_dir=tmp_path / "w", allowed_networks=ALLOW)  # fmt: skip
    assert frame_hashes(result.path) == source_frames
    assert [k[0] for k in streams(result.path)] == ["video"]


def test_parser_units():
    assert parse_duration("PT1H2M3.5S") == 3723.5
    assert parse_duration("P1DT0S") == 86400
    with pytest.raises(PlaylistError, match="malformed duration"):
        parse_duration("1:00", "The MPD element")
    text = (
        '<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" mediaPresentationDuration="PT10S">'
        "<BaseURL>http://cdn.example/a/</BaseURL><Period><AdaptationSet mimeType=\"audio/mp4\">"
        "<BaseURL>b/</BaseURL>"
        '<Representation id="r1" bandwidth="128000"><SegmentTemplate timescale="10" '
        'media="$RepresentationID$/$Time$-$Bandwidth$-$$.m4s" initialization="i.mp4">'
        '<SegmentTimeline><S t="5" d="20" r="-1"/></SegmentTimeline></SegmentTemplate>'
        "</Representation></AdaptationSet></Period></MPD>"
    )
    manifest = parse_mpd(text.encode(), "http://origin.example/x/manifest.mpd")
    (rep,) = manifest.representations
    assert rep.kind == "audio" and rep.init and rep.init.uri == "http://cdn.example/a/b/i.mp4"
    assert [s.uri.rsplit("/", 2)[-2:] for s in rep.segments][:2] == [
        ["r1", "5-128000-$.m4s"], ["r1", "25-128000-$.m4s"]]
    assert len(rep.segments) == 5 and all(s.duration == 2.0 for s in rep.segments)


def test_sidx_parser_rejects_truncated_and_hierarchical_indexes(media):
    path = media.root / "base/media/video.mp4"
    offset, size = next((o, s) for kind, o, s in boxes(path) if kind == "sidx")
    data = path.read_bytes()[offset : offset + size]
    references = parse_sidx(data, offset)
    assert len(references) == 4 and references[0].offset == offset + size
    ends = [kind for kind, o, _s in boxes(path) if o >= references[-1].offset + references[-1].size]
    assert set(ends) <= {"mfra"}  # the fragments run to the random-access index at the end
    with pytest.raises(PlaylistError, match="longer than the indexRange"):
        parse_sidx(data[:40], offset)
    nested = bytearray(data)
    first = 8 + (24 if data[8] == 0 else 32)  # box header, the fields, the first reference
    nested[first] |= 0x80
    with pytest.raises(PlaylistError, match="hierarchical"):
        parse_sidx(bytes(nested), offset)


def test_expired_signed_segment_links_are_refreshed_from_the_manifest(
    origin, media, source_frames, tmp_path
):
    """A SegmentList whose every URL carries a token valid for one second: the MPD is fetched
    again for fresh links when a segment answers 403."""
    origin.sign("list/", ttl=1.0)
    template = (media.root / "list" / "manifest.mpd").read_text()

    def render() -> bytes:
        issued = f"{time.time():.3f}"

        def signed(match: re.Match[str]) -> str:
            name = match.group(2)
            sig = origin._signature(f"/list/{name}", issued)
            return f'{match.group(1)}="../list/{name}?t={issued}&amp;sig={sig}"'

        return re.sub(r'(sourceURL|media)="([^"]+)"', signed, template).encode()

    url = origin.add_dynamic("signed/manifest.mpd", render)
    origin.latency = 0.25  # ten requests one after another: the first tokens expire
    result = get(origin, "signed/manifest.mpd", tmp_path, fast(threads=1))
    assert frame_hashes(result.path) == source_frames
    assert origin.signatures_refused >= 1
    assert origin.paths().count("/signed/manifest.mpd") >= 2  # fetched again for fresh links
    assert url.endswith("manifest.mpd")
