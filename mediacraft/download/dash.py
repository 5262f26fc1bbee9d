"""A DASH download: the MPD's representations become the tracks the HLS engine fetches.

The manifest is parsed (``mpd.py``); in every period the video representation
``quality`` asks for, the audio adaptation set(s) ``audio_lang`` asks for
(its best representation) and the WebVTT subtitles ``subtitles`` asks for
are chosen, with the same rules and messages as HLS renditions. A
``SegmentBase`` representation has its ``sidx`` read to cut the file into
byte-range segments. Each period is a group of its own (a new
initialization section), so periods are joined as discontinuities are.

From there the download is the HLS engine's own: the same fetcher (guard,
retries, politeness, rate and size caps), checkpoint and resume, progress
and the stream-copy mux into MP4. A 403/410 on a segment fetches the MPD
again for fresh links, as a signed HLS playlist is.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..exceptions import DownloadError, PlaylistError
from ..progress import LogHook, ignore_log
from .fetch import ByteRange, Fetcher, LinkExpired
from .limits import DownloadLimits
from .mpd import Manifest, Representation, parse_mpd
from .options import DownloadOptions
from .playlist import Init, Segment, short_name
from .refresh import check_segment_urls
from .renditions import Variant, choose_variant, language_matches
from .sidx import parse_sidx
from .stream import HlsPlan
from .tracks import Track

KIND = "dash"
EXPIRED = frozenset({403, 410})


@dataclass
class DashSource:
    """How a track is found again in a fresh copy of the MPD (for fresh signed links)."""

    mpd_url: str
    keys: list[tuple[int, int, str]]  # each period's representation


def _describe(rep: Representation) -> str:
    if rep.kind == "video":
        size = f"{rep.width}x{rep.height}" if rep.height else "no resolution given"
        return f"{size}, {rep.bandwidth // 1000} kbit/s, {rep.codecs or 'codec not given'}"
    label = rep.language or "und"
    if rep.label:
        label += f" ({rep.label})"
    return f"{label}, {rep.bandwidth // 1000} kbit/s"


def _video(reps: list[Representation], quality: str) -> Representation:
    variants = [
        Variant(str(n), r.bandwidth, r.width, r.height, r.codecs or None, None, None)
        for n, r in enumerate(reps)
    ]
    return reps[int(choose_variant(variants, quality).url)]


def _sets(reps: list[Representation], kind: str) -> list[list[Representation]]:
    """The adaptation sets of ``kind``, each a list of its representations."""
    sets: dict[int, list[Representation]] = {}
    for rep in reps:
        if rep.kind == kind:
            sets.setdefault(rep.set_index, []).append(rep)
    return list(sets.values())


def _best(members: list[Representation], quality: str) -> Representation:
    ranked = sorted(members, key=lambda r: r.bandwidth)
    return ranked[0] if quality.strip().lower() == "worst" else ranked[-1]


def _choose_audio(
    sets: list[list[Representation]], wanted: str | None, quality: str
) -> list[Representation]:
    if not sets:
        if wanted not in (None, "all"):
            raise PlaylistError(
                f"The stream has no separate audio, so audio_lang {wanted!r} cannot be "
                "chosen; leave audio_lang out"
            )
        return []
    if wanted is None:
        main = next((s for s in sets if "main" in s[0].roles), None)
        return [_best(main or sets[0], quality)]
    if wanted.lower() == "all":
        return [_best(s, quality) for s in sets]
    matching = [s for s in sets if language_matches(s[0].language, wanted)]
    if not matching:
        have = ", ".join(_describe(s[0]).split(",")[0] for s in sets)
        raise PlaylistError(f"No audio in language {wanted!r}; the stream has: {have}")
    return [_best(matching[0], quality)]


def _choose_subtitles(
    sets: list[list[Representation]], wanted: str, notes: list[str]
) -> list[Representation]:
    wanted = (wanted or "none").strip()
    if wanted.lower() == "none":
        return []
    usable = [s for s in sets if s[0].mime == "text/vtt" and s[0].init is None
              and s[0].index is None and len(s[0].segments) == 1]  # fmt: skip
    skipped = len(sets) - len(usable)
    if skipped:
        notes.append(f"Skipped {skipped} subtitle track(s) that are not plain WebVTT files")
    if wanted.lower() == "all":
        if not usable:
            notes.append("The stream has no subtitles")
        return [s[0] for s in usable]
    chosen = [s[0] for s in usable if language_matches(s[0].language, wanted)][:1]
    if not chosen:
        have = ", ".join(s[0].language or "und" for s in usable) or "none"
        raise PlaylistError(f"No subtitles in language {wanted!r}; the stream has: {have}")
    return chosen


def choose(manifest: Manifest, options: DownloadOptions) -> tuple[list[tuple[str, str, list[
        Representation]]], list[str]]:  # fmt: skip
    """Per track (id, kind, one representation per period), and notes for the log."""
    notes: list[str] = []
    periods = sorted({r.period for r in manifest.representations})
    if not periods:
        raise PlaylistError("The manifest lists no video or audio representations")
    tracks: dict[str, tuple[str, list[Representation]]] = {}
    for period in periods:
        reps = [r for r in manifest.representations if r.period == period]
        video = [r for r in reps if r.kind == "video"]
        audio = _choose_audio(_sets(reps, "audio"), options.audio_lang, options.quality)
        if options.audio_only and audio:
            video = []  # an audio container: the video is not fetched
        chosen: list[tuple[str, str, Representation]] = []
        if video:
            chosen.append(("v", "main", _video(video, options.quality)))
            chosen += [(f"a{n}", "audio", r) for n, r in enumerate(audio, 1)]
        elif audio:
            chosen.append(("v", "main", audio[0]))
            chosen += [(f"a{n}", "audio", r) for n, r in enumerate(audio[1:], 1)]
        else:
            continue  # a period of only subtitles or images
        subtitles = _choose_subtitles(_sets(reps, "text"), options.subtitles, notes)
        chosen += [(f"s{n}", "subtitles", r) for n, r in enumerate(subtitles, 1)]
        for track_id, kind, rep in chosen:
            if rep.protected:
                raise PlaylistError(
                    f"The stream is protected by DRM (ContentProtection on its {rep.kind} "
                    "representations): it cannot be downloaded",
                    reason="drm",
                )
            tracks.setdefault(track_id, (kind, []))[1].append(rep)
            if period == periods[0]:
                what = {"main": "video" if rep.kind == "video" else "audio"}.get(kind, kind)
                notes.append(f"Chose the {what} representation {_describe(rep)} "
                             f"(quality {options.quality})")  # fmt: skip
    if not tracks:
        raise PlaylistError("The manifest lists no video or audio representations")
    return [(track_id, kind, reps) for track_id, (kind, reps) in tracks.items()], notes


def resolve_index(fetcher: Fetcher, rep: Representation, max_bytes: int) -> Representation:
    """A ``SegmentBase`` representation with its sidx read into byte-range segments."""
    if rep.index is None:
        return rep
    data, _url = fetcher.get_bytes(
        rep.base_url, f"The segment index of {short_name(rep.base_url)}", rep.index,
        max_bytes=max_bytes, retry_not_found=True,
    )  # fmt: skip
    init = rep.init or Init(rep.base_url, ByteRange(0, rep.index.offset))
    segments = [
        Segment(index=n, sequence=n, uri=rep.base_url, duration=ref.duration,
                byterange=ByteRange(ref.offset, ref.size), key=None, init=init, group=0)
        for n, ref in enumerate(parse_sidx(data, rep.index.offset))
    ]  # fmt: skip
    return replace(rep, segments=segments, init=init)


def _joined(reps: list[Representation]) -> list[Segment]:
    """The segments of one track's representations, a new group for each period."""
    out: list[Segment] = []
    for group, rep in enumerate(reps):
        for position, seg in enumerate(rep.segments):
            out.append(replace(seg, index=len(out), group=group,
                               discontinuity=group > 0 and position == 0))  # fmt: skip
    return out


class DashRefresher:
    """Gives a track fresh segment URLs from a fresh copy of the MPD (signed links)."""

    def __init__(self, fetcher: Fetcher, limits: DownloadLimits, log: LogHook | None = None):
        self.fetcher = fetcher
        self.limits = limits
        self.log = log or ignore_log

    def fetch(self, url: str) -> Manifest:
        try:
            body, final = self.fetcher.get_bytes(
                url, "The manifest", max_bytes=self.limits.max_playlist_bytes,
                expired_status=EXPIRED,
            )  # fmt: skip
        except LinkExpired as exc:
            raise DownloadError(
                f"The manifest returned HTTP {exc.status}: the link has expired or needs a login"
            ) from None
        return parse_mpd(body, final)

    def refresh(self, track: Track, generation: int) -> None:
        source = track.source
        assert isinstance(source, DashSource)
        with track.lock:
            if track.generation != generation:
                return
            manifest = self.fetch(source.mpd_url)
            by_key = {r.key: r for r in manifest.representations}
            fresh: list[Representation] = []
            for key, old in zip(source.keys, _period_reps(track), strict=True):
                rep = by_key.get(key)
                if rep is None:
                    raise DownloadError("The refreshed manifest no longer lists the chosen stream")
                if rep.index is not None:  # same byte ranges, fresh URL
                    rep = replace(rep, segments=[replace(s, uri=rep.base_url) for s in old],
                                  init=rep.init or (old[0].init if old else None))  # fmt: skip
                fresh.append(rep)
            segments = _joined(fresh)
            if len(segments) != track.count():
                raise DownloadError(
                    f"The manifest changed while it was being downloaded ({track.count()} "
                    f"segments, now {len(segments)})"
                )
            check_segment_urls(segments)
            track.segments[:] = [replace(old, uri=new.uri, init=new.init)
                                 for old, new in zip(track.segments, segments, strict=True)]
            track.generation += 1
        self.log(f"Fresh links for {track.count()} segments from {short_name(source.mpd_url)}")


def _period_reps(track: Track) -> list[list[Segment]]:
    """The track's segments split by period (group)."""
    groups: dict[int, list[Segment]] = {}
    for seg in track.segments:
        groups.setdefault(seg.group, []).append(seg)
    return [groups[g] for g in sorted(groups)]


def plan_dash(
    fetcher: Fetcher,
    url: str,
    body: bytes,
    options: DownloadOptions,
    limits: DownloadLimits,
    log: LogHook,
) -> HlsPlan:
    """Read the MPD, choose the representations and list every track's segments."""
    manifest = parse_mpd(body, url)
    if manifest.dynamic:
        raise PlaylistError(
            'This is a live DASH stream (MPD type="dynamic"), which cannot be recorded; '
            "use the stream's HLS link if it has one"
        )
    chosen, notes = choose(manifest, options)
    for note in notes:
        log(note)
    refresher = DashRefresher(fetcher, limits, log)
    plan = HlsPlan(tracks=[], playlists={}, refresher=refresher,  # type: ignore[arg-type]
                   max_playlist_bytes=limits.max_playlist_bytes)  # fmt: skip
    for track_id, kind, reps in chosen:
        resolved = [resolve_index(fetcher, r, limits.max_playlist_bytes) for r in reps]
        segments = _joined(resolved)
        if len(segments) > limits.max_segments:
            raise PlaylistError(
                f"The manifest lists {len(segments)} segments for one stream; the server's "
                f"limit is {limits.max_segments}"
            )
        if not segments:
            raise PlaylistError(f"The {resolved[0].kind} representation lists no segments")
        check_segment_urls(segments)
        first = resolved[0]
        plan.tracks.append(Track(
            track_id, kind, url, segments, language=first.language, name=first.label,
            source=DashSource(url, [r.key for r in resolved]),
            target_duration=max(s.duration for s in segments),
        ))  # fmt: skip
    known = [s.byterange.length for t in plan.tracks for s in t.segments
             if s.byterange is not None and s.byterange.length is not None]  # fmt: skip
    if known and len(known) == sum(len(t.segments) for t in plan.tracks):
        fetcher.budget.check(sum(known))
    main = plan.tracks[0]
    seconds = sum(s.duration for s in main.segments)
    log(f"DASH manifest: {len(plan.tracks)} track(s), {len(main.segments)} segments, "
        f"{seconds:.1f} s of media")  # fmt: skip
    return plan


__all__ = ["DashRefresher", "DashSource", "choose", "plan_dash", "resolve_index"]
