"""Concurrent HLS segment download of one or more tracks, with in-order assembly.

Workers fetch segments (decrypting AES-128 on the fly) into ``seg/``; the
coordinating thread appends each track's segments to that track's group
files (a new group at each discontinuity) as soon as all earlier ones are
there. A single MPEG-TS track is remuxed while it downloads, so the MP4 is
ready moments after the last byte.

Work is submitted through a bounded window (a few times the thread count),
earliest presentation time first across tracks: memory, the number of
finished-but-unassembled segment files and the checkpoint stay small
whatever the length of the stream, and the video and audio of a stream
progress together.

The checkpoint records, per track, how far its group files are assembled
and which later segments are finished (with their sizes), and is saved
before any assembled segment file is deleted: a crash at any point loses at
most the segments finished since the last save.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..exceptions import DownloadError
from ..progress import CancelToken, LogHook, ignore_log
from . import packed
from .checkpoint import Checkpoint
from .copying import copy_into
from .fetch import Fatal, Fetcher, LinkExpired, RetriesExhausted, Stopped
from .options import DownloadOptions
from .playlist import Init, Key, Segment, decode_data_uri
from .remux import MoovTooSmall, StreamingRemux, remux_to_mp4
from .tracker import Tracker
from .tracks import Track
from .watchdog import SpeedFloor
from .webvtt import Joiner

KIND = "hls"
WINDOW_PER_THREAD = 4
EXPIRED_STATUS = frozenset({403, 410})


class _Decryptor:
    """Streaming AES-128-CBC with PKCS#7 padding removed at the end."""

    def __init__(self, key: bytes, iv: bytes) -> None:
        from cryptography.hazmat.primitives import padding
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        self._cipher = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
        self._unpad = padding.PKCS7(128).unpadder()

    def update(self, data: bytes) -> bytes:
        return self._unpad.update(self._cipher.update(data))

    def finalize(self) -> bytes:
        try:
            return self._unpad.update(self._cipher.finalize()) + self._unpad.finalize()
        except ValueError:
            raise Fatal("could not be decrypted (wrong key or corrupt data)") from None


class _Once:
    """A value computed by the first caller; others needing the same value wait for it.

    One per key URI, so a slow key (or its retries) never blocks segments that
    use another key.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.value: bytes | None = None


@dataclass
class GroupFile:
    name: str
    kind: str  # ts, mp4, aac, mp3, ac3, vtt
    size: int = 0


@dataclass
class Assembly:
    """One track's progress: what is in its group files and what waits in ``seg/``."""

    next: int = 0  # first segment not yet appended to its group file
    saved_next: int = 0  # ... as of the last checkpoint save
    groups: dict[int, GroupFile] = field(default_factory=dict)
    done: dict[int, int] = field(default_factory=dict)  # finished, unassembled: index -> size
    submitted: int = 0  # next segment to hand to a worker
    submitted_time: float = 0.0  # presentation time reached by submissions
    audio_start: float | None = None  # packed audio: the first segment's timestamp
    vtt_mapped: bool = False  # subtitles: cue times are on the transport-stream clock
    gaps: list[dict[str, Any]] = field(default_factory=list)
    duration: float = 0.0  # of the segments assembled, gaps excluded

    def to_state(self) -> dict[str, Any]:
        return {
            "next": self.next,
            "groups": {str(g): [f.name, f.kind, f.size] for g, f in self.groups.items()},
            "done": {str(k): v for k, v in self.done.items()},
            "audio_start": self.audio_start,
            "vtt_mapped": self.vtt_mapped,
            "gaps": self.gaps,
            "duration": self.duration,
        }


@dataclass
class TrackResult:
    """What a track left for the mux: its group files in order, and what they are."""

    track: Track
    files: list[tuple[Path, str]]  # (path, kind)
    audio_start: float | None
    vtt_mapped: bool
    gaps: list[dict[str, Any]]
    duration: float


class HlsDownload:
    """Download ``tracks`` into group files in ``work_dir``; :meth:`run` returns them."""

    def __init__(
        self,
        fetcher: Fetcher,
        tracks: list[Track],
        fingerprint: str,
        work_dir: Path,
        options: DownloadOptions,
        tracker: Tracker,
        cancel: CancelToken,
        *,
        stream_to: Path | None = None,
        refresher: Any = None,
        log: LogHook | None = None,
        speed_floor: SpeedFloor | None = None,
        max_init_bytes: int = 8 * 1024 * 1024,
    ) -> None:
        self.fetcher = fetcher
        self.tracks = tracks
        self.fingerprint = fingerprint
        self.work_dir = work_dir
        self.seg_dir = work_dir / "seg"
        self.options = options
        self.tracker = tracker
        self.cancel = cancel
        self.refresher = refresher
        self.log = log or ignore_log
        self.speed_floor = speed_floor
        self.max_init_bytes = max_init_bytes
        self.window = max(8, options.threads * WINDOW_PER_THREAD)
        self.checkpoint = Checkpoint(work_dir)
        self.state: dict[str, Assembly] = {t.id: Assembly() for t in tracks}
        #: more state saved with the checkpoint (the live recorder's), asked at each save
        self.extra: Callable[[], dict[str, Any]] | None = None
        self.wake = threading.Event()  # set when a live track gains segments
        self._restored = False
        self.stream_to = stream_to if self._streamable() else None
        self.remux: StreamingRemux | None = None
        self._keys: dict[str, _Once] = {}
        self._keys_lock = threading.Lock()
        self._inits: dict[Init, bytes] = {}
        self._joiners: dict[str, Joiner] = {}
        self._handles: dict[str, tuple[int, Any]] = {}  # track id -> (group, open file)
        self._pending: dict[Future[int], tuple[Track, int]] = {}
        self._retried: set[tuple[str, int]] = set()  # segments given a second round
        self._last_save = 0.0
        self._dirty = False

    def _streamable(self) -> bool:
        """One VOD variant track of one MPEG-TS group: remux while downloading."""
        if len(self.tracks) != 1:
            return False
        track = self.tracks[0]
        segments = track.segments
        return (
            track.kind == "main"  # a rendition alone (audio only) is muxed: its language
            and not track.live
            and bool(segments)
            and segments[-1].group == 0
            and segments[0].init is None
            and not any(s.gap for s in segments)
        )

    # -- files --------------------------------------------------------------------------
    def seg_path(self, track: Track, index: int) -> Path:
        return self.seg_dir / f"{track.id}_{index:06d}"

    def group_path(self, name: str) -> Path:
        return self.work_dir / name

    # -- resume -------------------------------------------------------------------------
    def restore(self) -> dict[str, Any] | None:
        """Adopt the checkpoint of the same content; returns its extra state (live)."""
        self._restored = True
        self.seg_dir.mkdir(parents=True, exist_ok=True)
        state = self.checkpoint.load(KIND, self.fingerprint)
        adopted = state is not None and self._adopt(state)
        if not adopted:
            self._reset_files()
        kept = {
            self.seg_path(t, i).name for t in self.tracks for i in self.state[t.id].done
        }
        for path in self.seg_dir.iterdir():  # unfinished or unrecorded leftovers
            if path.name not in kept:
                path.unlink(missing_ok=True)
        return dict(state.get("extra") or {}) if adopted and state else None

    def _adopt(self, state: dict[str, Any]) -> bool:
        try:
            saved = state["tracks"]
            restored: dict[str, Assembly] = {}
            for track in self.tracks:
                raw = saved[track.id]
                assembly = Assembly(
                    next=int(raw["next"]),
                    groups={
                        int(g): GroupFile(str(v[0]), str(v[1]), int(v[2]))
                        for g, v in raw["groups"].items()
                    },
                    done={int(k): int(v) for k, v in raw["done"].items()},
                    audio_start=raw.get("audio_start"),
                    vtt_mapped=bool(raw.get("vtt_mapped")),
                    gaps=list(raw.get("gaps") or []),
                    duration=float(raw.get("duration") or 0.0),
                )
                restored[track.id] = assembly
        except (KeyError, TypeError, ValueError, AttributeError, IndexError):
            return False
        keep: set[str] = set()
        for track in self.tracks:
            assembly = restored[track.id]
            for group in assembly.groups.values():
                path = self.group_path(group.name)
                if "/" in group.name or not path.exists() or path.stat().st_size < group.size:
                    return False
                keep.add(group.name)
        for names in keep:
            with open(self.group_path(names), "r+b") as handle:
                handle.truncate(restored_size(restored, names))
        for path in self.work_dir.glob("*_g*"):
            if path.is_file() and path.name not in keep:
                path.unlink()
        for track in self.tracks:
            assembly = restored[track.id]
            assembly.saved_next = assembly.next
            assembly.submitted = assembly.next
            assembly.done = {
                i: size
                for i, size in assembly.done.items()
                if i >= assembly.next
                and self.seg_path(track, i).is_file()
                and self.seg_path(track, i).stat().st_size == size
            }
            self.state[track.id] = assembly
        return True

    def _reset_files(self) -> None:
        for path in self.work_dir.glob("*_g*"):
            if path.is_file():
                path.unlink()
        for path in self.seg_dir.iterdir():
            path.unlink()
        self.state = {t.id: Assembly() for t in self.tracks}

    def save(self) -> None:
        """Make assembled data durable, record the state, then drop assembled segment files."""
        for _group, handle in self._handles.values():
            handle.flush()
            os.fsync(handle.fileno())
        record = {
            "tracks": {t.id: self.state[t.id].to_state() for t in self.tracks},
            "extra": self.extra() if self.extra else {},
        }
        self.checkpoint.save(KIND, self.fingerprint, record)
        for track in self.tracks:
            assembly = self.state[track.id]
            for index in range(assembly.saved_next, assembly.next):
                self.seg_path(track, index).unlink(missing_ok=True)
            assembly.saved_next = assembly.next
        self._last_save = time.monotonic()
        self._dirty = False

    # -- keys and init sections ---------------------------------------------------------
    def _key(self, key: Key) -> bytes:
        with self._keys_lock:
            entry = self._keys.setdefault(key.uri, _Once())
        with entry.lock:
            if entry.value is None:
                entry.value = self._fetch_key(key)
            return entry.value

    def _fetch_key(self, key: Key) -> bytes:
        if key.uri.startswith("data:"):
            body = decode_data_uri(key.uri)
        else:
            body, _url = self.fetcher.get_bytes(
                key.uri, "The AES-128 key", max_bytes=1024, expired_status=EXPIRED_STATUS
            )
        if len(body) != 16:
            raise DownloadError(f"The AES-128 key is {len(body)} bytes, not 16")
        return body

    def _init(self, init: Init) -> bytes:
        if init not in self._inits:
            body, _url = self.fetcher.get_bytes(
                init.uri, "The initialization section (EXT-X-MAP)", init.byterange,
                max_bytes=self.max_init_bytes, expired_status=EXPIRED_STATUS,
            )  # fmt: skip
            self._inits[init] = body
        return self._inits[init]

    def _fresh_init(self, track: Track, seg: Segment) -> bytes:
        """The segment's initialization section; a 403/410 fetches the playlist again once."""
        assert seg.init is not None
        generation = track.generation
        try:
            return self._init(seg.init)
        except LinkExpired as exc:
            if self.refresher is None:
                raise DownloadError(
                    f"The initialization section returned HTTP {exc.status}: the link has "
                    "expired or needs a login"
                ) from None
            self.log(f"The initialization section returned HTTP {exc.status}: fetching the "
                     "playlist again")  # fmt: skip
            self.refresher.refresh(track, generation)
        fresh = track.segment(seg.index).init
        assert fresh is not None
        try:
            return self._init(fresh)
        except LinkExpired as exc:
            raise DownloadError(
                f"The initialization section returned HTTP {exc.status} even with fresh links: "
                "the link has expired or needs a login"
            ) from None

    # -- workers ------------------------------------------------------------------------
    def _fetch(self, track: Track, index: int) -> int:
        """Fetch one segment to ``seg/``; once per segment, a 403/410 refreshes the links."""
        for refreshed in (False, True):
            generation = track.generation
            seg = track.segment(index)
            what = f"{track.label} {seg.number}"
            try:
                return self.fetcher.retrying(
                    what, lambda _n: self._attempt(track, index), retry_not_found=True
                )
            except LinkExpired as exc:
                if refreshed or self.refresher is None:
                    raise DownloadError(
                        f"{what} returned HTTP {exc.status} even with fresh links from the "
                        "playlist: the link has expired or needs a login",
                        reason="http_error",
                    ) from None
                self.log(f"{what} returned HTTP {exc.status}: fetching the playlist again")
                self.refresher.refresh(track, generation)
        raise AssertionError("unreachable")

    def _attempt(self, track: Track, index: int) -> int:
        seg = track.segment(index)  # the latest URL, after any refresh
        key = self._key(seg.key) if seg.key else None
        final = self.seg_path(track, index)
        part = final.with_name(final.name + ".part")
        counted = 0
        decryptor = _Decryptor(key, seg.key.iv) if key and seg.key else None
        with open(part, "wb") as handle:

            def sink(chunk: bytes) -> None:
                nonlocal counted
                counted += len(chunk)
                self.tracker.add_bytes(len(chunk))
                handle.write(decryptor.update(chunk) if decryptor else chunk)

            try:
                body = self.fetcher.open(seg.uri, seg.byterange)
                try:
                    body.read(sink)
                finally:
                    body.close()
                if decryptor:
                    handle.write(decryptor.finalize())
            except Fatal as exc:
                self._discard(counted)
                if exc.status in EXPIRED_STATUS:
                    raise LinkExpired(exc.status) from None
                raise
            except BaseException:
                self._discard(counted)
                raise
        os.replace(part, final)
        return final.stat().st_size

    def _discard(self, counted: int) -> None:
        """A failed attempt's bytes leave the progress and the quota (the part is rewritten)."""
        self.tracker.add_bytes(-counted)
        self.fetcher.budget.release(counted)

    # -- assembly -----------------------------------------------------------------------
    def _assemble(self, track: Track) -> None:
        assembly = self.state[track.id]
        while assembly.next in assembly.done:
            seg = track.segment(assembly.next)
            size = assembly.done.pop(assembly.next)
            if not seg.gap:
                self._append(track, assembly, seg, size)
                assembly.duration += seg.duration
            assembly.next += 1
            self._dirty = True
        if self.remux is not None and track.id in self._handles:
            _group, handle = self._handles[track.id]
            handle.flush()
            self.remux.advance(assembly.groups[0].size)

    def _append(self, track: Track, assembly: Assembly, seg: Segment, size: int) -> None:
        path = self.seg_path(track, seg.index)
        current = self._handles.get(track.id)
        if current is None or current[0] != seg.group:
            self._open_group(track, assembly, seg, path)
        group = assembly.groups[seg.group]
        _number, handle = self._handles[track.id]
        with open(path, "rb", buffering=0) as source:
            if group.kind == "vtt":
                joiner = self._joiners.setdefault(track.id, Joiner())
                text = joiner.segment_text(source.read(), first=group.size == 0).encode()
                assembly.vtt_mapped = assembly.vtt_mapped or joiner.mapped
                write_all(handle, text)
                group.size += len(text)
                return
            if group.kind in ("aac", "mp3", "ac3"):
                head = source.read(64 * 1024)
                if assembly.audio_start is None:
                    assembly.audio_start = packed.transport_timestamp(head)
                skip = packed.id3_length(head)
                source.seek(skip)
                size -= skip
            copy_into(source.fileno(), handle.fileno(), size)
        group.size += size

    def _open_group(self, track: Track, assembly: Assembly, seg: Segment, path: Path) -> None:
        current = self._handles.pop(track.id, None)
        if current is not None:
            current[1].flush()
            os.fsync(current[1].fileno())
            current[1].close()
        existing = assembly.groups.get(seg.group)
        # Unbuffered: the kernel copies segments in (copy_file_range), so no Python buffer.
        if existing is not None:
            handle = open(self.group_path(existing.name), "r+b", buffering=0)
            handle.seek(0, os.SEEK_END)
        else:
            with open(path, "rb") as source:
                kind = packed.sniff(source.read(64 * 1024), has_init=seg.init is not None)
            name = f"{track.id}_g{seg.group:05d}{packed.SUFFIXES[kind]}"
            init = self._fresh_init(track, seg) if seg.init else b""
            handle = open(self.group_path(name), "wb", buffering=0)
            group = GroupFile(name, kind)
            assembly.groups[seg.group] = group
            if init:
                write_all(handle, init)
                group.size = len(init)
            if self.stream_to is not None and kind == "ts" and self.remux is None:
                self.remux = StreamingRemux(
                    self.group_path(name), self.stream_to, self.cancel.event, self._duration()
                )
        self._handles[track.id] = (seg.group, handle)

    # -- scheduling -----------------------------------------------------------------------
    def _outstanding(self) -> int:
        return len(self._pending) + sum(len(a.done) for a in self.state.values())

    def _fill(self, executor: ThreadPoolExecutor) -> None:
        """Submit work up to the window, earliest presentation time first."""
        while self._outstanding() < self.window:
            choice = None
            for track in self.tracks:
                assembly = self.state[track.id]
                if assembly.submitted < track.count() and (
                    choice is None or assembly.submitted_time < choice[1].submitted_time
                ):
                    choice = (track, assembly)
            if choice is None:
                return
            track, assembly = choice
            index = assembly.submitted
            seg = track.segment(index)
            assembly.submitted += 1
            assembly.submitted_time += seg.duration
            if index < assembly.next or index in assembly.done:
                continue  # restored from the checkpoint
            if seg.gap:
                assembly.done[index] = 0
                if not track.live:  # a recording's gaps are the live recorder's to report
                    assembly.gaps.append(
                        {"at": round(assembly.submitted_time - seg.duration, 3),
                         "duration": seg.duration, "segments": 1, "cause": "EXT-X-GAP"}
                    )  # fmt: skip
                self.log(f"{track.label} {seg.number} is marked EXT-X-GAP (no media): skipped")
                continue
            future = executor.submit(self._fetch, track, index)
            self._pending[future] = (track, index)

    def _second_round(
        self, executor: ThreadPoolExecutor, track: Track, index: int, exc: RetriesExhausted
    ) -> bool:
        """A segment that ran out of attempts on errors worth retrying gets one more round
        of them (with 20 % of requests failing, six in a row happen to one segment in a
        hundred downloads of 150); a second failure is the download's."""
        key = (track.id, index)
        if key in self._retried:
            return False
        self._retried.add(key)
        self.log(f"{exc.message}: trying it once more from the start")
        self._pending[executor.submit(self._fetch, track, index)] = (track, index)
        return True

    def _complete(self) -> bool:
        if self._pending:
            return False
        for track in self.tracks:
            if not track.finished or self.state[track.id].next < track.count():
                return False
        return True

    def _count_done(self) -> int:
        return sum(a.next + len(a.done) for a in self.state.values())

    # -- the whole run ------------------------------------------------------------------
    def run(self) -> list[TrackResult] | None:
        """Download and assemble; returns each track's files, or None when already remuxed."""
        if not self._restored:
            self.restore()
        self._resume_streaming()
        tracker = self.tracker
        tracker.segments_total = sum(t.count() for t in self.tracks)
        tracker.segments_done = self._count_done()
        kept = sum(g.size for a in self.state.values() for g in a.groups.values()) + sum(
            sum(a.done.values()) for a in self.state.values()
        )
        tracker.add_bytes(kept)
        self.fetcher.budget.hold(kept)  # a resumed attempt's files count against the quota
        tracker.set_stage("recording" if any(t.live for t in self.tracks) else "downloading")
        executor = ThreadPoolExecutor(self.options.threads, thread_name_prefix="hls")
        try:
            for track in self.tracks:
                self._assemble(track)
            while not self._complete():
                self._fill(executor)
                if self._pending:
                    finished, _ = wait(self._pending, timeout=0.1, return_when=FIRST_COMPLETED)
                else:  # a live track waiting for its next reload
                    finished = set()
                    self.wake.wait(0.1)
                    self.wake.clear()
                self.cancel.check()
                error: BaseException | None = None
                for future in finished:  # record every success before raising a failure
                    track, index = self._pending.pop(future)
                    try:
                        self.state[track.id].done[index] = future.result()
                    except RetriesExhausted as exc:
                        if not self._second_round(executor, track, index, exc):
                            error = error or exc
                    except BaseException as exc:  # raised below
                        error = error or exc
                for track in self.tracks:
                    self._assemble(track)
                if error is not None:
                    raise error
                tracker.segments_total = sum(t.count() for t in self.tracks)
                tracker.segments_done = self._count_done()
                if self._dirty and (
                    time.monotonic() - self._last_save >= self.options.checkpoint_interval
                ):
                    self.save()
                if self.speed_floor is not None:
                    self.speed_floor.check(tracker.bytes_done)
                tracker.emit()
            executor.shutdown(wait=True)
            if self.remux is None:
                self.save()
            # Else the MP4 is moments from done: the last periodic checkpoint stays valid (it
            # describes data made durable then), and an fsync of the whole group file now
            # would only delay the result.
            self._close()
            if self.remux is not None:
                tracker.set_stage("remuxing")
                group = self.state[self.tracks[0].id].groups[0]
                try:
                    self.remux.finish(group.size)
                except MoovTooSmall:
                    self.log("The MP4 index needed more room than reserved: writing it again")
                    remux_to_mp4([self.group_path(group.name)], self.stream_to, self.cancel.event)
                self.remux = None
                return None
        except BaseException:
            self.fetcher.abort()
            executor.shutdown(wait=True, cancel_futures=True)
            self._pending.clear()
            self._close()
            if self.remux is not None:
                self.remux.abort()
                self.remux = None
            raise
        tracker.emit(force=True)
        return [self._result(track) for track in self.tracks]

    def _duration(self) -> float:
        return sum(s.duration for s in self.tracks[0].segments)

    def _resume_streaming(self) -> None:
        """A resumed single-TS download streams again from its group file's start."""
        if self.stream_to is None or self.remux is not None:
            return
        group = self.state[self.tracks[0].id].groups.get(0)
        if group is not None and group.kind == "ts":
            self.remux = StreamingRemux(self.group_path(group.name), self.stream_to,
                                        self.cancel.event, self._duration())  # fmt: skip
            self.remux.advance(group.size)

    def _result(self, track: Track) -> TrackResult:
        assembly = self.state[track.id]
        files = [
            (self.group_path(assembly.groups[g].name), assembly.groups[g].kind)
            for g in sorted(assembly.groups)
        ]
        return TrackResult(
            track=track,
            files=files,
            audio_start=assembly.audio_start,
            vtt_mapped=assembly.vtt_mapped,
            gaps=assembly.gaps,
            duration=assembly.duration,
        )

    def save_on_interrupt(self) -> None:
        """Best-effort checkpoint when stopping for a shutdown or a failure (not a cancel)."""
        try:
            self.save()
        except OSError:
            pass

    def _close(self) -> None:
        for _group, handle in self._handles.values():
            handle.close()
        self._handles.clear()


def write_all(handle: Any, data: bytes) -> None:
    """``data`` into an unbuffered file (a raw write may take only part of it)."""
    view = memoryview(data)
    while view:
        view = view[handle.write(view) :]


def restored_size(state: dict[str, Assembly], name: str) -> int:
    for assembly in state.values():
        for group in assembly.groups.values():
            if group.name == name:
                return group.size
    return 0


__all__ = ["Assembly", "HlsDownload", "Stopped", "TrackResult"]
