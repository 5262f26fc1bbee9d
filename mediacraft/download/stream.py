"""An HLS download from its first playlist to the muxed file.

:func:`plan_hls` reads the first playlist: a master gives the variant and
renditions to fetch (``renditions.py``), whose media playlists are loaded
at once; a media playlist is the only track. A live playlist (no
``EXT-X-ENDLIST``) needs ``record_seconds``. :func:`record_and_mux` runs the
segment download (``hls.py``), the live recorder when a track is live
(``live.py``), and the mux (``mux.py``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..exceptions import Cancelled, PlaylistError, ValidationError
from ..progress import CancelToken, LogHook
from .fetch import Fetcher
from .hls import HlsDownload, TrackResult
from .limits import DownloadLimits
from .live import LiveRecorder
from .mux import mux
from .options import DownloadOptions
from .playlist import (
    MediaPlaylist,
    content_url,
    fingerprint,
    is_media_playlist,
    media_playlist,
    parse,
    short_name,
)
from .refresh import Refresher, Source, check_segment_urls
from .renditions import Rendition, Selection, Variant, renditions_of, select, variants_of
from .tracker import Tracker
from .tracks import Track
from .watchdog import SpeedFloor


@dataclass
class HlsPlan:
    tracks: list[Track]
    playlists: dict[str, MediaPlaylist]  # first load of each track's playlist
    refresher: Refresher
    selection: Selection | None = None
    live: bool = False
    record_seconds: float | None = None
    max_playlist_bytes: int = 8 * 1024 * 1024

    @property
    def variant_audio(self) -> bool:
        return self.selection.variant_audio if self.selection else True


def _variant_picker(old: Variant, position: int):
    def pick(master: Any, url: str) -> str:
        variants = variants_of(master, url)
        same = [v for v in variants if content_url(v.url) == content_url(old.url)]
        if same:
            return same[0].url
        if position < len(variants):
            return variants[position].url
        raise PlaylistError("The refreshed master playlist no longer lists the chosen variant")

    return pick


def _rendition_picker(old: Rendition):
    def pick(master: Any, url: str) -> str:
        for rendition in renditions_of(master, url):
            if (rendition.kind, rendition.group, rendition.name) == (
                old.kind, old.group, old.name,
            ) and rendition.url:  # fmt: skip
                return rendition.url
        raise PlaylistError(
            f"The refreshed master playlist no longer lists the {old.kind} rendition "
            f"{old.describe()}"
        )

    return pick


def plan_hls(
    fetcher: Fetcher,
    url: str,
    body: bytes,
    options: DownloadOptions,
    limits: DownloadLimits,
    log: LogHook,
) -> HlsPlan:
    """Read the first playlist and load every track's media playlist."""
    text = body.decode("utf-8-sig", "replace")
    parsed = parse(text, url)
    refresher = Refresher(fetcher, limits.max_playlist_bytes, limits.max_segments, log)
    plan = HlsPlan(tracks=[], playlists={}, refresher=refresher,
                   max_playlist_bytes=limits.max_playlist_bytes)  # fmt: skip
    if parsed.is_variant:
        selection = select(parsed, url, options.quality, options.audio_lang, options.subtitles)
        plan.selection = selection
        for note in selection.notes:
            log(note)
        variants = variants_of(parsed, url)
        main = Track("v", "main", selection.variant.url, [],
                     source=Source(url, _variant_picker(selection.variant,
                                                        variants.index(selection.variant))))
        plan.tracks.append(main)
        for number, rendition in enumerate(selection.audio, 1):
            assert rendition.url
            plan.tracks.append(Track(f"a{number}", "audio", rendition.url, [],
                                     language=rendition.language, name=rendition.name,
                                     source=Source(url, _rendition_picker(rendition))))
        for number, rendition in enumerate(selection.subtitles, 1):
            assert rendition.url
            plan.tracks.append(Track(f"s{number}", "subtitles", rendition.url, [],
                                     language=rendition.language, name=rendition.name,
                                     source=Source(url, _rendition_picker(rendition))))
        with ThreadPoolExecutor(len(plan.tracks), thread_name_prefix="playlist") as pool:
            loaded = list(pool.map(refresher.load, plan.tracks))
        for track, playlist in zip(plan.tracks, loaded, strict=True):
            plan.playlists[track.id] = playlist
    else:
        is_media_playlist(parsed, text)
        playlist = media_playlist(parsed, url, limits.max_segments)
        check_segment_urls(playlist.segments)
        plan.tracks.append(Track("v", "main", url, [], source=Source()))
        plan.playlists["v"] = playlist
    plan.live = any(p.live for p in plan.playlists.values())
    if plan.live:
        if options.record_seconds is None:
            raise ValidationError(
                "This is a live stream (its playlist has no EXT-X-ENDLIST): set "
                f"record_seconds (at most {limits.max_record_seconds:g}) to record it",
                reason="live_needs_length",
            )
        plan.record_seconds = float(options.record_seconds)
        log(f"Live stream: recording {plan.record_seconds:g} s")
    for track in plan.tracks:
        playlist = plan.playlists[track.id]
        track.target_duration = playlist.target_duration
        if plan.live:
            track.live, track.finished = True, False
            continue
        if not playlist.segments:
            raise PlaylistError(f"The playlist {short_name(track.url)} has no segments")
        track.segments = list(playlist.segments)
    main = plan.playlists["v"]
    known = [s.byterange.length for t in plan.tracks for s in t.segments
             if s.byterange is not None and s.byterange.length is not None]  # fmt: skip
    segments = sum(len(t.segments) for t in plan.tracks)
    if not plan.live and known and len(known) == segments:
        fetcher.budget.check(sum(known))  # every size is in the playlist: judge it now
    if not plan.live:
        seconds = sum(s.duration for s in main.segments)
        log(f"{len(main.segments)} segments, {seconds:.1f} s of media")
    return plan


def plan_fingerprint(plan: HlsPlan) -> str:
    """A VOD download's content, or a live recording's tracks (their segments change)."""
    digest = hashlib.sha256(b"live" if plan.live else b"vod")
    for track in plan.tracks:
        record: list[Any] = [track.id, track.kind, track.language, content_url(track.url)]
        if not plan.live:
            record.append(fingerprint(track.url, track.segments))
        digest.update(json.dumps(record).encode())
    return digest.hexdigest()


@dataclass
class HlsOutcome:
    job: HlsDownload
    tracks: list[dict[str, Any]]
    segments: int
    gaps: list[dict[str, Any]] = field(default_factory=list)
    live: dict[str, Any] | None = None
    side_files: list[tuple[Path, str]] = field(default_factory=list)
    parts: list[Path] = field(default_factory=list)  # split_discontinuities: parts 2..n

    def place_files(self, output: Path) -> list[Path]:
        """Move subtitle files and further parts beside ``output``; returns their paths."""
        placed = []
        for number, part in enumerate(self.parts, 2):
            target = output.with_name(f"{output.stem}.part{number}{output.suffix}")
            os.replace(part, target)
            placed.append(target)
        for path, language in self.side_files:
            target = output.with_name(f"{output.stem}.{language}.vtt")
            shutil.move(str(path), target)
            placed.append(target)
        return placed


def record_and_mux(
    plan: HlsPlan,
    fetcher: Fetcher,
    work_dir: Path,
    temp_output: Path,
    output: Path,
    options: DownloadOptions,
    tracker: Tracker,
    cancel: CancelToken,
    log: LogHook,
    speed_floor: SpeedFloor | None,
) -> HlsOutcome:
    """Fetch every track (recording the live ones), then mux them into ``temp_output``."""
    streamable = not options.split_discontinuities
    job = HlsDownload(
        fetcher, plan.tracks, plan_fingerprint(plan), work_dir, options, tracker, cancel,
        stream_to=temp_output if streamable else None, refresher=plan.refresher, log=log,
        speed_floor=speed_floor, max_init_bytes=plan.max_playlist_bytes,
    )  # fmt: skip
    extra = job.restore()
    outcome = HlsOutcome(job=job, tracks=[], segments=0)
    recorder: LiveRecorder | None = None
    if plan.live:
        recorder = _start_recording(plan, job, extra, cancel, tracker, log)
    try:
        results = job.run()
    except Cancelled:
        raise
    except BaseException:
        job.save_on_interrupt()  # keep what was fetched for the next attempt
        raise
    finally:
        if recorder is not None:
            recorder.finish_all("the download ended")
            recorder.join()
    if recorder is not None and recorder.error is not None:
        raise recorder.error
    main = plan.tracks[0]
    outcome.segments = main.count()
    if recorder is not None:
        recorded = job.state[main.id].duration
        outcome.live = {
            "recorded_seconds": round(recorded, 3),
            "record_seconds": plan.record_seconds,
            "ended_by": recorder.ended_by,
        }
        outcome.gaps = recorder.gaps
        log(f"Recorded {recorded:.1f} s ({recorder.ended_by})")
    else:
        outcome.gaps = [dict(g, track=t.kind) for t in plan.tracks for g in job.state[t.id].gaps]
    if results is None:  # remuxed while downloading
        log("The MP4 was written while the segments arrived (stream copy)")
        outcome.tracks = []
        return outcome
    tracker.set_stage("remuxing")
    media = [r for r in results if r.track.kind != "subtitles"]
    groups = sum(len(r.files) for r in media)
    log(f"Muxing {len(results)} track(s), {groups} group file(s), into the MP4 by stream copy")
    if options.split_discontinuities:
        outcome.parts = _mux_parts(results, temp_output, work_dir, plan, cancel, log, outcome)
    else:
        built = mux(results, temp_output, work_dir, variant_audio=plan.variant_audio,
                    cancel=cancel.event, log=log)  # fmt: skip
        outcome.tracks = built.tracks
        outcome.side_files = built.side_files
        if built.reencoded_groups:
            log(f"Re-encoded {built.reencoded_groups} discontinuity group(s) to match the stream")
    return outcome


def _start_recording(
    plan: HlsPlan,
    job: HlsDownload,
    extra: dict[str, Any] | None,
    cancel: CancelToken,
    tracker: Tracker,
    log: LogHook,
) -> LiveRecorder:
    assert plan.record_seconds is not None
    recorder = LiveRecorder(plan.tracks, plan.refresher, plan.record_seconds, cancel, job.wake, log)
    saved = (extra or {}).get("live") or {}
    for state in recorder.states:
        track = state.track
        assembly = job.state[track.id]
        resume = saved.get(track.id)
        for index in list(assembly.done):  # finished, unassembled: their URLs are gone
            job.seg_path(track, index).unlink(missing_ok=True)
        assembly.done.clear()
        if resume:
            track.base = assembly.next
            assembly.submitted = assembly.next
            log(f"Resuming the recording of the {track.kind} track after {assembly.duration:.1f} s")
        else:
            track.base = 0
        recorder.begin(state, plan.playlists[track.id], resume)

    def live_extra() -> dict[str, Any]:
        return {
            "live": {
                s.track.id: recorder.resume_state(
                    s.track, job.state[s.track.id].next, job.state[s.track.id].duration
                )
                for s in recorder.states
            }
        }

    job.extra = live_extra
    tracker.live = True
    tracker.record_seconds = plan.record_seconds
    tracker.recorded = lambda: job.state[plan.tracks[0].id].duration
    recorder.start()
    return recorder


def _mux_parts(
    results: list[TrackResult],
    temp_output: Path,
    work_dir: Path,
    plan: HlsPlan,
    cancel: CancelToken,
    log: LogHook,
    outcome: HlsOutcome,
) -> list[Path]:
    """``split_discontinuities``: each discontinuity group as its own MP4, not re-encoded."""
    media = [r for r in results if r.track.kind != "subtitles"]
    counts = {len(r.files) for r in media}
    if len(counts) != 1:
        raise PlaylistError(
            "split_discontinuities needs the same discontinuities in every rendition; "
            "this stream's renditions differ"
        )
    parts: list[Path] = []
    for number in range(counts.pop()):
        single = [
            TrackResult(r.track, [r.files[number]], r.audio_start if number == 0 else None,
                        r.vtt_mapped, [], r.duration)  # fmt: skip
            for r in media
        ]
        target = temp_output if number == 0 else work_dir / f"part{number + 1:04d}.mp4"
        built = mux(single, target, work_dir, variant_audio=plan.variant_audio,
                    cancel=cancel.event, log=log)  # fmt: skip
        if number == 0:
            outcome.tracks = built.tracks
        else:
            parts.append(target)
    log(f"Wrote {len(parts) + 1} files, one per discontinuity group")
    return parts


__all__ = ["HlsOutcome", "HlsPlan", "plan_fingerprint", "plan_hls", "record_and_mux"]
