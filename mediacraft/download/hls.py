"""Concurrent HLS segment download with in-order assembly and a resume checkpoint.

Workers fetch segments (decrypting AES-128 on the fly) into ``seg/NNNNNN.ts``;
the coordinating thread appends each segment to its group file as soon as all
earlier ones are there, so the remux can start the moment the last byte
arrives. The checkpoint records how far the group files are assembled and
which later segments are finished (with their sizes), and is saved before any
assembled segment file is deleted: a crash at any point loses at most the
segments finished since the last save.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from ..exceptions import DownloadError
from ..progress import CancelToken
from .checkpoint import Checkpoint
from .fetch import Fatal, Fetcher, Stopped
from .options import DownloadOptions
from .playlist import Init, Key, Segment, fingerprint
from .remux import StreamingRemux
from .tracker import Tracker

KIND = "hls"


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


class HlsDownload:
    """Download ``segments`` into group files in ``work_dir``; :meth:`run` returns them."""

    def __init__(
        self,
        fetcher: Fetcher,
        media_url: str,
        segments: list[Segment],
        work_dir: Path,
        options: DownloadOptions,
        tracker: Tracker,
        cancel: CancelToken,
        stream_to: Path | None = None,
    ) -> None:
        self.fetcher = fetcher
        # One MPEG-TS group (no discontinuity, no EXT-X-MAP): remux while downloading.
        single_ts = segments[-1].group == 0 and segments[0].init is None
        self.stream_to = stream_to if single_ts else None
        self.remux: StreamingRemux | None = None
        self.segments = segments
        self.work_dir = work_dir
        self.seg_dir = work_dir / "seg"
        self.options = options
        self.tracker = tracker
        self.cancel = cancel
        self.checkpoint = Checkpoint(work_dir)
        self.fingerprint = fingerprint(media_url, segments)
        self.next = 0  # first segment not yet appended to its group file
        self.saved_next = 0  # ... as of the last checkpoint save
        self.group_sizes: dict[int, int] = {}
        self.done: dict[int, int] = {}  # finished, not yet assembled: index -> size
        self._keys: dict[str, bytes] = {}
        self._inits: dict[Init, bytes] = {}
        self._key_lock = threading.Lock()
        self._handle: Any = None
        self._handle_group = -1
        self._last_save = 0.0

    # -- files --------------------------------------------------------------------------
    def group_path(self, group: int) -> Path:
        first = next(s for s in self.segments if s.group == group)
        suffix = "mp4" if first.init else "ts"
        return self.work_dir / f"group_{group:04d}.{suffix}"

    def seg_path(self, index: int) -> Path:
        return self.seg_dir / f"{index:06d}.ts"

    # -- resume -------------------------------------------------------------------------
    def _restore(self) -> None:
        self.seg_dir.mkdir(parents=True, exist_ok=True)
        state = self.checkpoint.load(KIND, self.fingerprint)
        if state is not None and not self._adopt(state):
            state = None
        if state is None:
            self._reset_files()
        for path in self.seg_dir.iterdir():  # unfinished or unrecorded leftovers
            if path.suffix != ".ts" or int(path.stem) not in self.done:
                path.unlink(missing_ok=True)

    def _adopt(self, state: dict[str, Any]) -> bool:
        try:
            next_index = int(state["next"])
            groups = {int(k): int(v) for k, v in state["groups"].items()}
            done = {int(k): int(v) for k, v in state["done"].items()}
        except (KeyError, TypeError, ValueError, AttributeError):
            return False
        for group, size in groups.items():
            path = self.group_path(group)
            if not path.exists() or path.stat().st_size < size:
                return False
            with open(path, "r+b") as handle:
                handle.truncate(size)
        for path in self.work_dir.glob("group_*"):
            if int(path.name[6:10]) not in groups:
                path.unlink()
        self.next = self.saved_next = next_index
        self.group_sizes = groups
        self.done = {
            i: size
            for i, size in done.items()
            if i >= next_index
            and self.seg_path(i).is_file()
            and self.seg_path(i).stat().st_size == size
        }
        return True

    def _reset_files(self) -> None:
        for path in self.work_dir.glob("group_*"):
            path.unlink()
        for path in self.seg_dir.iterdir():
            path.unlink()
        self.next = self.saved_next = 0
        self.group_sizes = {}
        self.done = {}

    def save(self) -> None:
        """Make assembled data durable, record the state, then drop assembled segment files."""
        if self._handle is not None:
            self._handle.flush()
            os.fsync(self._handle.fileno())
        state = {
            "next": self.next,
            "groups": {str(k): v for k, v in self.group_sizes.items()},
            "done": {str(k): v for k, v in self.done.items()},
        }
        self.checkpoint.save(KIND, self.fingerprint, state)
        for index in range(self.saved_next, self.next):
            self.seg_path(index).unlink(missing_ok=True)
        self.saved_next = self.next
        self._last_save = time.monotonic()

    # -- keys and init sections ---------------------------------------------------------
    def _key(self, key: Key) -> bytes:
        with self._key_lock:
            if key.uri not in self._keys:
                body, _url = self.fetcher.get_bytes(key.uri, "the AES-128 key", max_bytes=1024)
                if len(body) != 16:
                    raise DownloadError(
                        f"The AES-128 key at {key.uri} is {len(body)} bytes, not 16"
                    )
                self._keys[key.uri] = body
            return self._keys[key.uri]

    def _init(self, init: Init) -> bytes:
        if init not in self._inits:
            body, _url = self.fetcher.get_bytes(
                init.uri, "the initialization section (EXT-X-MAP)", init.byterange,
                max_bytes=self.options.max_playlist_bytes,
            )  # fmt: skip
            self._inits[init] = body
        return self._inits[init]

    # -- workers ------------------------------------------------------------------------
    def _fetch(self, seg: Segment) -> int:
        key = self._key(seg.key) if seg.key else None
        part = self.seg_dir / f"{seg.index:06d}.part"
        final = self.seg_path(seg.index)

        def attempt(_number: int) -> int:
            counted = 0
            decryptor = _Decryptor(key, seg.key.iv) if key and seg.key else None
            with open(part, "wb") as handle:

                def sink(chunk: bytes) -> None:
                    nonlocal counted
                    counted += len(chunk)
                    self.tracker.add_bytes(len(chunk))
                    handle.write(decryptor.update(chunk) if decryptor else chunk)

                try:
                    self.fetcher.stream(seg.uri, sink, seg.byterange)
                    if decryptor:
                        handle.write(decryptor.finalize())
                except BaseException:
                    self.tracker.add_bytes(-counted)
                    raise
            os.replace(part, final)
            return final.stat().st_size

        return self.fetcher.retrying(f"Segment {seg.number}", attempt)

    # -- assembly -----------------------------------------------------------------------
    def _assemble(self) -> None:
        while self.next in self.done:
            seg = self.segments[self.next]
            if self._handle_group != seg.group:
                self._open_group(seg)
            with open(self.seg_path(seg.index), "rb") as source:
                shutil.copyfileobj(source, self._handle, 1024 * 1024)
            self.group_sizes[seg.group] += self.done.pop(self.next)
            self.next += 1
        if self.remux is not None and self._handle is not None:
            self._handle.flush()
            self.remux.advance(self.group_sizes[0])

    def _open_group(self, seg: Segment) -> None:
        if self._handle is not None:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()
        path = self.group_path(seg.group)
        if seg.group in self.group_sizes:
            self._handle = open(path, "ab")
        else:
            self._handle = open(path, "wb")
            self.group_sizes[seg.group] = 0
            if seg.init:
                data = self._init(seg.init)
                self._handle.write(data)
                self.group_sizes[seg.group] = len(data)
        self._handle_group = seg.group

    # -- the whole run ------------------------------------------------------------------
    def run(self) -> list[Path]:
        """Download and assemble; returns the group files, or [] when already remuxed."""
        self._restore()
        total = len(self.segments)
        tracker = self.tracker
        tracker.segments_total = total
        tracker.segments_done = self.next + len(self.done)
        tracker.add_bytes(sum(self.group_sizes.values()) + sum(self.done.values()))
        tracker.set_stage("downloading")
        todo = [s for s in self.segments if s.index >= self.next and s.index not in self.done]
        executor = ThreadPoolExecutor(self.options.threads, thread_name_prefix="hls")
        pending: dict[Future[int], int] = {}
        try:
            for seg in todo:
                pending[executor.submit(self._fetch, seg)] = seg.index
            if self.stream_to is not None:
                self.group_path(0).touch()
                self.remux = StreamingRemux(self.group_path(0), self.stream_to, self.cancel.event)
            self._assemble()
            while pending:
                finished, _ = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
                self.cancel.check()
                for future in finished:
                    index = pending.pop(future)
                    self.done[index] = future.result()
                    tracker.segments_done = (tracker.segments_done or 0) + 1
                self._assemble()
                if time.monotonic() - self._last_save >= self.options.checkpoint_interval:
                    self.save()
                tracker.emit()
            self._assemble()
            if self.next != total:
                raise DownloadError(f"Segment {self.next + 1} is missing after the download")
            executor.shutdown(wait=True)
            self.save()
            self._close()
            if self.remux is not None:
                tracker.set_stage("remuxing")
                self.remux.finish(self.group_sizes[0])
                self.remux = None
                return []
        except BaseException:
            self.fetcher.abort()
            executor.shutdown(wait=True, cancel_futures=True)
            self._close()
            if self.remux is not None:
                self.remux.abort()
            raise
        tracker.emit(force=True)
        return [self.group_path(g) for g in sorted(self.group_sizes)]

    def save_on_interrupt(self) -> None:
        """Best-effort checkpoint when stopping for a shutdown (not a cancel)."""
        try:
            self.save()
        except OSError:
            pass

    def _close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
            self._handle_group = -1


__all__ = ["HlsDownload", "Stopped"]
