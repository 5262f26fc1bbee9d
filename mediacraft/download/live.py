"""Recording live and EVENT playlists (no ``EXT-X-ENDLIST``).

A thread reloads each live track's media playlist at the cadence RFC 8216
§6.3.4 gives (the target duration after a reload that brought something
new, half of it after one that did not, counted from when the reload
began), and appends the segments whose media sequence number is past the
last one recorded. The recording starts three target durations before the
live edge (§6.3.3) and ends at ``EXT-X-ENDLIST``, once ``record_seconds`` of
media are recorded, when the visitor asks to stop (kept, unlike a cancel),
or when the source stops publishing.

Segments that left the playlist window before they could be recorded (an
outage, a restart of the server) are counted and reported as gaps, never
skipped in silence; the recording goes on after them in a new group.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ..exceptions import DownloadError, MediaCraftError
from ..progress import CancelToken, LogHook, ignore_log
from .playlist import MediaPlaylist, Segment, assign_groups
from .refresh import Refresher
from .tracks import Track

EDGE_TARGET_DURATIONS = 3
IDLE_MIN_SECONDS = 30.0  # no new segment for this long (and 6 target durations): source stopped


def live_start(playlist: MediaPlaylist) -> int:
    """Index of the first segment to record: three target durations from the end."""
    segments = playlist.segments
    if not segments:
        return 0
    target = playlist.target_duration or max(s.duration for s in segments)
    remaining = 0.0
    for position in range(len(segments) - 1, -1, -1):
        remaining += segments[position].duration
        if remaining >= EDGE_TARGET_DURATIONS * target - 1e-6:
            return position
    return 0


@dataclass
class LiveState:
    """One live track's recording: what has been appended, and when to reload."""

    track: Track
    next_sequence: int | None = None  # first media sequence number not yet appended
    recorded: float = 0.0  # seconds of media appended
    next_reload: float = 0.0
    last_new: float = field(default_factory=time.monotonic)
    reloads: int = 0
    gaps: list[dict[str, Any]] = field(default_factory=list)


class LiveRecorder:
    """Keeps the live tracks of a download growing until the recording ends."""

    def __init__(
        self,
        tracks: list[Track],
        refresher: Refresher,
        record_seconds: float,
        cancel: CancelToken,
        wake: threading.Event,
        log: LogHook | None = None,
    ) -> None:
        self.states = [LiveState(track) for track in tracks if track.live]
        self.refresher = refresher
        self.record_seconds = record_seconds
        self.cancel = cancel
        self.wake = wake
        self.log = log or ignore_log
        self.ended_by: str | None = None
        self.error: BaseException | None = None
        self._thread: threading.Thread | None = None

    # -- setting up -------------------------------------------------------------------------
    def begin(self, state: LiveState, playlist: MediaPlaylist, resume: dict | None) -> None:
        """Start ``state``'s track from the live edge, or after a resumed recording."""
        track = state.track
        track.target_duration = playlist.target_duration
        if resume:
            state.next_sequence = int(resume["next_sequence"])
            state.recorded = float(resume.get("recorded") or 0.0)
            state.gaps = list(resume.get("gaps") or [])
            track.grouping.group = int(resume.get("group") or 0)
            track.grouping.seen = True
            track.grouping.pending = True  # the restart left a hole: new group
            self._append(state, playlist, resumed=True)
        else:
            start = live_start(playlist)
            state.next_sequence = playlist.segments[start].sequence if playlist.segments else 0
            self._append(state, playlist)
        state.next_reload = time.monotonic() + max(0.5, playlist.target_duration)

    def resume_state(self, track: Track, assembled_next: int, assembled_seconds: float) -> dict:
        """What a checkpoint keeps of a live track (consistent with its assembled files)."""
        state = next(s for s in self.states if s.track is track)
        if assembled_next > track.base:
            last = track.segment(assembled_next - 1)
            next_sequence: int | None = last.sequence + 1
            group = last.group
        else:
            next_sequence, group = state.next_sequence, track.grouping.group
        return {
            "next_sequence": next_sequence,
            "recorded": assembled_seconds,
            "group": group,
            "gaps": state.gaps,
        }

    # -- appending ----------------------------------------------------------------------------
    def _append(self, state: LiveState, playlist: MediaPlaylist, resumed: bool = False) -> bool:
        """Append the segments past ``next_sequence``; returns whether any were new."""
        track = state.track
        expected = state.next_sequence if state.next_sequence is not None else 0
        fresh = [s for s in playlist.segments if s.sequence >= expected]
        if playlist.segments and not fresh and playlist.segments[-1].sequence < expected - 1:
            self._gap(state, 0, "the stream's numbering restarted")
            fresh = playlist.segments[live_start(playlist) :]
        elif fresh and fresh[0].sequence > expected:
            missing = fresh[0].sequence - expected
            cause = "while the server was restarting" if resumed else "during an outage"
            self._gap(state, missing, cause, playlist.target_duration)
        if not fresh:
            return False
        budget = self.record_seconds - state.recorded
        taken: list[Segment] = []
        for seg in fresh:
            if budget <= 1e-6:
                break
            taken.append(seg)
            if not seg.gap:
                budget -= seg.duration
        with track.lock:
            index = track.count()
            numbered = [
                _renumber(seg, index + offset) for offset, seg in enumerate(taken)
            ]
            track.segments.extend(assign_groups(numbered, track.grouping))
        for seg in taken:
            if seg.gap:
                state.gaps.append({"at": round(state.recorded, 3), "duration": seg.duration,
                                   "segments": 1, "cause": "EXT-X-GAP"})  # fmt: skip
            else:
                state.recorded += seg.duration
        if taken:
            state.next_sequence = taken[-1].sequence + 1
            state.last_new = time.monotonic()
        if state.recorded >= self.record_seconds - 1e-6:
            self._finish(state, f"recorded the {self.record_seconds:g} s asked for")
        elif playlist.ended and state.next_sequence > playlist.segments[-1].sequence:
            self._finish(state, "the stream ended (EXT-X-ENDLIST)")
        self.wake.set()
        return bool(taken)

    def _gap(self, state: LiveState, missing: int, cause: str, target: float = 0.0) -> None:
        track = state.track
        track.grouping.pending = True
        gap = {"at": round(state.recorded, 3), "segments": missing,
               "duration": round(missing * target, 3), "cause": cause}  # fmt: skip
        state.gaps.append(gap)
        if missing:
            self.log(
                f"Gap in the {track.kind} recording at {state.recorded:.1f} s: {missing} "
                f"segments (about {missing * target:.0f} s) left the playlist {cause}"
            )
        else:
            self.log(f"Gap in the {track.kind} recording at {state.recorded:.1f} s: {cause}")

    def _finish(self, state: LiveState, reason: str) -> None:
        if not state.track.finished:
            state.track.finished = True
            self.ended_by = self.ended_by or reason
            self.log(f"Recording of the {state.track.kind} track ends: {reason}")

    def finish_all(self, reason: str) -> None:
        for state in self.states:
            self._finish(state, reason)
        self.wake.set()

    # -- the reload loop ------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="live-reload", daemon=True)
        self._thread.start()

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join()

    @property
    def recorded_seconds(self) -> float:
        return min((s.recorded for s in self.states), default=0.0)

    @property
    def gaps(self) -> list[dict[str, Any]]:
        return [dict(g, track=s.track.kind) for s in self.states for g in s.gaps]

    def _run(self) -> None:
        try:
            while not self.cancel.is_set:
                active = [s for s in self.states if not s.track.finished]
                if not active:
                    return
                if self.cancel.finish_requested:
                    self.finish_all("stopped at your request")
                    return
                due = min(active, key=lambda s: s.next_reload)
                delay = due.next_reload - time.monotonic()
                if delay > 0:
                    self.cancel.finish_event.wait(min(delay, 0.1))
                    continue
                self._reload(due)
        except BaseException as exc:  # handed to the downloading thread
            self.error = exc
            for state in self.states:
                state.track.finished = True
            self.wake.set()

    def _reload(self, state: LiveState) -> None:
        began = time.monotonic()
        target = max(0.5, state.track.target_duration or 1.0)
        try:
            playlist = self.refresher.load(state.track)
        except (DownloadError, OSError) as exc:
            if isinstance(exc, MediaCraftError) and exc.status == 400:
                raise
            self.log(f"Reloading the {state.track.kind} playlist failed: {exc}")
            playlist = None
        state.reloads += 1
        changed = playlist is not None and self._append(state, playlist)
        if state.reloads % 30 == 0:
            self.log(
                f"Live {state.track.kind} track: {state.recorded:.0f} s recorded after "
                f"{state.reloads} playlist reloads"
            )
        if playlist is not None:
            state.track.target_duration = playlist.target_duration or target
            target = max(0.5, state.track.target_duration)
        idle = time.monotonic() - state.last_new
        if not state.track.finished and idle > max(IDLE_MIN_SECONDS, 6 * target):
            self._finish(state, f"the source published nothing new for {idle:.0f} s")
            self.wake.set()
        # RFC 8216 §6.3.4: a changed playlist waits a target duration, an unchanged one half.
        state.next_reload = began + (target if changed else target / 2)


def _renumber(seg: Segment, index: int) -> Segment:
    from dataclasses import replace

    return replace(seg, index=index)


__all__ = ["LiveRecorder", "LiveState", "live_start"]
