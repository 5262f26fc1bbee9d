"""A loopback HLS/HTTP origin for tests and benchmarks, with injectable faults.

Usage::

    media = build_hls(tmp_path / "hls")            # real video, packaged by ffmpeg
    with Origin(media.root) as origin:              # serves on 127.0.0.1:<free port>
        origin.latency = 0.1                         # per request
        origin.bandwidth = 2 * 1024 * 1024           # bytes/s, total over all connections
        origin.add_fault("hi/seg_003.ts", "status", status=503, times=2)
        origin.add_fault("hi/seg_004.ts", "reset", after=1000)
        origin.add_fault(lambda p: p.endswith(".ts"), "stall", probability=0.2, seconds=30)
        origin.redirect("/go", "http://10.0.0.1/x")
        origin.add_dynamic("live/index.m3u8", lambda: render())  # built per request
        origin.sign("tok/", ttl=2.0)                  # signed links that expire
        url = origin.url("master.m3u8")
        ...
        origin.paths(suffix=".ts")                   # the request log, filtered

Fault kinds: ``status`` (answer ``status``), ``reset`` (send ``after`` body
bytes then a TCP reset), ``truncate`` (send ``after`` bytes of a longer
announced body, then close), ``stall`` (send ``after`` bytes then nothing
for ``seconds``), ``delay`` (wait ``seconds`` before answering).

Signed links (:meth:`Origin.sign`): under a prefix, every playlist is served
with ``?t=<issue time>&sig=<hmac>`` added to each URI it lists, and any other
file there answers 403 unless its URL carries a valid signature younger than
``ttl`` seconds, as CDNs with expiring tokens do.
"""

from __future__ import annotations

import email.utils
import hashlib
import hmac
import random
import re
import socket
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from .media import FFMPEG, make_video

CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".ts": "video/mp2t",
    ".mp4": "video/mp4",
    ".m4s": "video/iso.segment",
    ".key": "application/octet-stream",
    ".bin": "application/octet-stream",
}

Matcher = Callable[[str], bool]


@dataclass
class Fault:
    match: Matcher
    kind: str
    status: int = 503
    after: int = 0
    seconds: float = 30.0
    times: int | None = None  # None: forever
    probability: float = 1.0
    hits: int = 0
    headers: dict[str, str] = field(default_factory=dict)  # sent with a status fault

    def fires(self, path: str, rng: random.Random) -> bool:
        if not self.match(path):
            return False
        if self.times is not None and self.hits >= self.times:
            return False
        if self.probability < 1.0 and rng.random() >= self.probability:
            return False
        self.hits += 1
        return True


@dataclass
class LogEntry:
    method: str
    path: str
    range: str | None
    status: int = 0
    sent: int = 0
    fault: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    at: float = field(default_factory=time.monotonic)


class _Bucket:
    """Total bandwidth cap shared by every connection (virtual-time token bucket)."""

    def __init__(self) -> None:
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def take(self, amount: int, rate: float, stop: threading.Event, burst: float = 0.05) -> None:
        """A sender late by up to ``burst`` seconds may catch up (a link with a small buffer)."""
        with self._lock:
            now = time.monotonic()
            start = max(self._next, now - burst)
            self._next = start + amount / rate
            delay = self._next - now
        if delay > 0:
            stop.wait(delay)


class _Server(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True
    allow_reuse_address = True
    origin: Origin

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients that hang up (peeks, resets, cancels) are normal here: stay quiet."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    timeout = 30

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def setup(self) -> None:
        super().setup()
        self.server.origin._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.origin._track(self.connection, add=False)

    def do_HEAD(self) -> None:
        self.server.origin._serve(self, head=True)

    def do_GET(self) -> None:
        self.server.origin._serve(self, head=False)


class Origin:
    """The loopback origin; a context manager (``with Origin(root) as origin``)."""

    def __init__(
        self,
        root: Path | None = None,
        latency: float = 0.0,
        bandwidth: float | None = None,
        seed: int = 1234,
    ) -> None:
        self.root = Path(root) if root else None
        self.latency = latency
        self.bandwidth = bandwidth
        self.ignore_ranges = False  # answer 200 with the whole body whatever the Range
        self.files: dict[str, bytes] = {}  # "/path" or "/path?query" -> body
        self.dynamic: dict[str, Callable[[], bytes | int | None]] = {}
        self.signed: dict[str, float] = {}  # path prefix -> token lifetime (s)
        self.signatures_refused = 0
        self.redirects: dict[str, tuple[str, int]] = {}
        self.faults: list[Fault] = []
        self.log: list[LogEntry] = []
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._bucket = _Bucket()
        self._connections: set[socket.socket] = set()
        self.accepted = 0  # TCP connections accepted (a refused fetch never adds one)
        self.in_flight = 0
        self.max_in_flight = 0  # most requests being answered at once
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> Origin:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.origin = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._stop.set()
        self._server.shutdown()
        with self._lock:
            live = list(self._connections)
        for conn in live:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._server.server_close()
        if self._thread:
            self._thread.join()
        self._server = None

    def __enter__(self) -> Origin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- configuration --------------------------------------------------------------------
    @property
    def port(self) -> int:
        assert self._server is not None, "origin not started"
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def add_file(self, path: str, data: bytes) -> str:
        self.files["/" + path.lstrip("/")] = data
        return self.url(path)

    def add_dynamic(self, path: str, render: Callable[[], bytes | int | None]) -> str:
        """Serve ``render()`` at ``path``, rendered per request (an int answers that status)."""
        self.dynamic["/" + path.lstrip("/")] = render
        return self.url(path)

    def sign(self, prefix: str, ttl: float) -> None:
        """Make everything under ``prefix`` need a signed URL valid for ``ttl`` seconds."""
        self.signed["/" + prefix.lstrip("/")] = ttl

    def _signature(self, path: str, issued: str) -> str:
        digest = hmac.new(b"origin-test-key", f"{path}|{issued}".encode(), hashlib.sha256)
        return digest.hexdigest()[:16]

    def _signed_prefix(self, path: str) -> str | None:
        return next((p for p in self.signed if path.startswith(p)), None)

    def _sign_playlist(self, body: bytes, playlist_path: str) -> bytes:
        """Add a fresh token to every URI of a playlist (lines and URI="..." attributes)."""
        issued = f"{time.time():.3f}"
        base = playlist_path.rsplit("/", 1)[0] + "/"

        def signed(uri: str) -> str:
            target = uri if uri.startswith("/") else base + uri
            target = target.split("?", 1)[0]
            mark = "&" if "?" in uri else "?"
            return f"{uri}{mark}t={issued}&sig={self._signature(target, issued)}"

        lines = []
        for line in body.decode().splitlines():
            if line and not line.startswith("#"):
                line = signed(line)
            elif 'URI="' in line:
                line = re.sub(r'URI="([^"]+)"', lambda m: f'URI="{signed(m.group(1))}"', line)
            lines.append(line)
        return ("\n".join(lines) + "\n").encode()

    def _signature_ok(self, path: str, query: str, ttl: float) -> bool:
        values = parse_qs(query)
        issued = (values.get("t") or [""])[0]
        sig = (values.get("sig") or [""])[0]
        try:
            age = time.time() - float(issued)
        except ValueError:
            return False
        return age <= ttl and hmac.compare_digest(sig, self._signature(path, issued))

    def redirect(self, path: str, location: str, status: int = 302) -> str:
        self.redirects["/" + path.lstrip("/")] = (location, status)
        return self.url(path)

    def add_fault(
        self,
        match: str | Matcher,
        kind: str,
        *,
        status: int = 503,
        after: int = 0,
        seconds: float = 30.0,
        times: int | None = None,
        probability: float = 1.0,
        headers: dict[str, str] | None = None,
    ) -> Fault:
        """``match``: a path (with or without leading slash) or a predicate on the path."""
        if kind not in {"status", "reset", "truncate", "stall", "delay"}:
            raise ValueError(f"unknown fault kind {kind!r}")
        if isinstance(match, str):
            wanted = "/" + match.lstrip("/")
            matcher: Matcher = lambda path: path == wanted  # noqa: E731
        else:
            matcher = match
        fault = Fault(matcher, kind, status, after, seconds, times, probability,
                      headers=dict(headers or {}))  # fmt: skip
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def clear_log(self) -> None:
        with self._lock:
            self.log.clear()
            self.max_in_flight = 0

    def paths(self, suffix: str = "", prefix: str = "") -> list[str]:
        """Paths requested so far (in order), filtered by suffix/prefix."""
        with self._lock:
            entries = list(self.log)
        return [
            e.path
            for e in entries
            if e.path.endswith(suffix) and e.path.startswith("/" + prefix.lstrip("/"))
        ]

    # -- serving --------------------------------------------------------------------------
    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self.accepted += 1
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def _body_for(self, path: str, query: str = "") -> tuple[bytes | Path | int | None, float]:
        if query and f"{path}?{query}" in self.files:
            return self.files[f"{path}?{query}"], 0.0
        if path in self.dynamic:
            return self.dynamic[path](), 0.0
        if path in self.files:
            return self.files[path], 0.0
        if self.root is None:
            return None, 0.0
        candidate = (self.root / path.lstrip("/")).resolve()
        root = self.root.resolve()
        if root not in candidate.parents or not candidate.is_file():
            return None, 0.0
        return candidate, candidate.stat().st_mtime

    def _serve(self, handler: _Handler, head: bool) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            self._answer(handler, head)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _answer(self, handler: _Handler, head: bool) -> None:
        parts = urlsplit(handler.path)
        path = unquote(parts.path)
        entry = LogEntry(handler.command, path, handler.headers.get("Range"))
        entry.headers = dict(handler.headers.items())
        with self._lock:
            self.log.append(entry)
            fault = next((f for f in self.faults if f.fires(path, self._rng)), None)
        if self.latency and self._stop.wait(self.latency):
            return
        if fault is not None:
            entry.fault = fault.kind
            if fault.kind == "delay" and self._stop.wait(fault.seconds):
                return
            if fault.kind == "status":
                self._send_simple(handler, entry, fault.status, b"injected failure\n",
                                  fault.headers)  # fmt: skip
                return
        if path in self.redirects:
            location, status = self.redirects[path]
            handler.send_response(status)
            handler.send_header("Location", location)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            entry.status = status
            return
        prefix = self._signed_prefix(path)
        if prefix is not None and not path.endswith(".m3u8"):
            if not self._signature_ok(path, parts.query, self.signed[prefix]):
                with self._lock:
                    self.signatures_refused += 1
                self._send_simple(handler, entry, 403, b"expired or missing token\n")
                return
        body, mtime = self._body_for(path, parts.query)
        if body is None:
            self._send_simple(handler, entry, 404, b"not found\n")
            return
        if isinstance(body, int):
            self._send_simple(handler, entry, body, b"unavailable\n")
            return
        if prefix is not None and path.endswith(".m3u8"):
            raw = body if isinstance(body, bytes) else body.read_bytes()
            body, mtime = self._sign_playlist(raw, path), 0.0
        size = len(body) if isinstance(body, bytes) else body.stat().st_size
        start, end, status = 0, size, 200
        wanted = None if self.ignore_ranges else handler.headers.get("Range")
        if wanted and wanted.startswith("bytes="):
            first, _, last = wanted[6:].partition("-")
            try:
                start = int(first) if first else max(0, size - int(last))
                end = min(size, int(last) + 1) if first and last else size
            except ValueError:
                start, end = 0, size
            if start >= size or start >= end:
                handler.send_response(416)
                handler.send_header("Content-Range", f"bytes */{size}")
                handler.send_header("Content-Length", "0")
                handler.end_headers()
                entry.status = 416
                return
            status = 206
        handler.send_response(status)
        suffix = Path(path).suffix
        handler.send_header("Content-Type", CONTENT_TYPES.get(suffix, "application/octet-stream"))
        handler.send_header("Content-Length", str(end - start))
        handler.send_header("Accept-Ranges", "bytes")
        handler.send_header("ETag", f'"{size:x}-{int(mtime):x}"')
        if mtime:
            handler.send_header("Last-Modified", email.utils.formatdate(mtime, usegmt=True))
        if status == 206:
            handler.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
        handler.end_headers()
        entry.status = status
        if head:
            return
        limit = end
        if fault is not None and fault.kind in {"reset", "truncate", "stall"}:
            limit = min(end, start + fault.after)
        try:
            self._write(handler, entry, body, start, limit)
        except OSError:
            return
        if fault is None or limit >= end:
            return
        handler.close_connection = True
        if fault.kind == "stall":
            handler.wfile.flush()
            self._stop.wait(fault.seconds)
        elif fault.kind == "reset":
            handler.wfile.flush()
            handler.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )

    def _send_simple(
        self,
        handler: _Handler,
        entry: LogEntry,
        status: int,
        body: bytes,
        headers: dict[str, str] | None = None,
    ) -> None:
        handler.send_response(status)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.send_header("Content-Type", "text/plain")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
        entry.status = status

    def _write(
        self, handler: _Handler, entry: LogEntry, body: bytes | Path, start: int, end: int
    ) -> None:
        chunk = 64 * 1024
        if isinstance(body, Path):
            with open(body, "rb") as source:
                if not self.bandwidth:
                    handler.wfile.flush()
                    if end > start:
                        entry.sent = handler.connection.sendfile(source, start, end - start)
                    return
                source.seek(start)
                position = start
                while position < end and not self._stop.is_set():
                    data = source.read(min(chunk, end - position))
                    if not data:
                        break
                    self._throttle(len(data))
                    handler.wfile.write(data)
                    position += len(data)
                    entry.sent += len(data)
            return
        position = start
        while position < end and not self._stop.is_set():
            data = body[position : min(end, position + chunk)]
            self._throttle(len(data))
            handler.wfile.write(data)
            position += len(data)
            entry.sent += len(data)

    def _throttle(self, amount: int) -> None:
        if self.bandwidth:
            self._bucket.take(amount, float(self.bandwidth), self._stop)


# -- media ------------------------------------------------------------------------------------


@dataclass
class HlsMedia:
    """What :func:`build_hls` made: paths relative to ``root`` and expected durations."""

    root: Path
    key: bytes
    durations: dict[str, float]  # playlist path -> sum of EXTINF

    def playlist_duration(self, name: str) -> float:
        return self.durations[name]


def _ffmpeg(*args: str) -> None:
    subprocess.run(
        [FFMPEG, "-hide_banner", "-loglevel", "error", "-y", *args], check=True, timeout=600
    )


def _extinf_sum(playlist: Path) -> float:
    total = 0.0
    for line in playlist.read_text().splitlines():
        if line.startswith("#EXTINF:"):
            total += float(line[8:].split(",")[0])
    return total


def package_hls(
    source: Path,
    out_dir: Path,
    segment: float = 1.0,
    *,
    fmp4: bool = False,
    single_file: bool = False,
    key_info: Path | None = None,
    start_number: int = 0,
) -> Path:
    """Stream-copy ``source`` into an HLS VOD playlist in ``out_dir``; returns index.m3u8."""
    out_dir.mkdir(parents=True, exist_ok=True)
    args = ["-i", str(source), "-c", "copy", "-f", "hls", "-hls_time", str(segment)]
    args += ["-hls_playlist_type", "vod", "-start_number", str(start_number)]
    if fmp4:
        args += ["-hls_segment_type", "fmp4", "-hls_fmp4_init_filename", "init.mp4"]
        args += ["-hls_segment_filename", str(out_dir / "seg_%03d.m4s")]
    elif single_file:
        args += ["-hls_flags", "single_file", "-hls_segment_filename", str(out_dir / "all.ts")]
    else:
        args += ["-hls_segment_filename", str(out_dir / "seg_%03d.ts")]
    if key_info:
        args += ["-hls_key_info_file", str(key_info)]
    playlist = out_dir / "index.m3u8"
    _ffmpeg(*args, str(playlist))
    return playlist


def build_hls(root: Path, seconds: float = 6.0, segment: float = 1.0, fps: int = 25) -> HlsMedia:
    """Make every HLS flavour the tests need under ``root`` (a few seconds of real video).

    ``master.m3u8`` (variants ``hi`` 320x240 and ``lo`` 160x120), ``aes/`` (AES-128,
    IV in the tag), ``aes_seq/`` (AES-128, IV from the media sequence, which starts
    at 3), ``fmp4/`` (EXT-X-MAP), ``byterange/`` (one file, EXT-X-BYTERANGE) and
    ``disc/`` (two clips joined by a discontinuity). Returns their durations.
    """
    root = Path(root)
    src = root / "src"
    gop = int(fps * segment)
    hi = make_video(src / "hi.mp4", seconds, "320x240", fps, gop=gop)
    lo = make_video(src / "lo.mp4", seconds, "160x120", fps, gop=gop)
    extra = make_video(src / "extra.mp4", 2.0, "320x240", fps, gop=gop)
    package_hls(hi, root / "hi", segment)
    package_hls(lo, root / "lo", segment)
    (root / "master.m3u8").write_text(
        "#EXTM3U\n#EXT-X-VERSION:3\n"
        '#EXT-X-STREAM-INF:BANDWIDTH=200000,RESOLUTION=160x120,CODECS="avc1.42c00d,mp4a.40.2"\n'
        "lo/index.m3u8\n"
        '#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=320x240,CODECS="avc1.42c00d,mp4a.40.2"\n'
        "hi/index.m3u8\n"
    )
    key = bytes(range(16))
    (root / "keys").mkdir(exist_ok=True)
    (root / "keys" / "k.key").write_bytes(key)
    for name, iv, start in (("aes", "00112233445566778899aabbccddeeff", 0), ("aes_seq", "", 3)):
        info = root / f"{name}.keyinfo"
        lines = ["../keys/k.key", str(root / "keys" / "k.key")] + ([iv] if iv else [])
        info.write_text("\n".join(lines) + "\n")
        playlist = package_hls(hi, root / name, segment, key_info=info, start_number=start)
        if not iv:  # ffmpeg writes the sequence-number IV out; make the player derive it
            text = re.sub(r",IV=0x[0-9a-fA-F]+", "", playlist.read_text())
            playlist.write_text(text)
    package_hls(hi, root / "fmp4", segment, fmp4=True)
    package_hls(hi, root / "byterange", segment, single_file=True)
    package_hls(extra, root / "extra", segment)
    _write_discontinuity(root)
    durations = {
        name: _extinf_sum(root / name)
        for name in (
            "hi/index.m3u8", "lo/index.m3u8", "aes/index.m3u8", "aes_seq/index.m3u8",
            "fmp4/index.m3u8", "byterange/index.m3u8", "disc/index.m3u8",
        )
    }  # fmt: skip
    durations["master.m3u8"] = durations["hi/index.m3u8"]
    return HlsMedia(root=root, key=key, durations=durations)


def joined_playlist(root: Path, clips: list[str], prefix: str = "") -> str:
    """The VOD playlists ``root/<clip>/index.m3u8`` one after another, a discontinuity
    between each; segment URIs become ``<prefix><clip>/<segment>``."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:2", "#EXT-X-MEDIA-SEQUENCE:0"]
    for number, clip in enumerate(clips):
        if number:
            lines.append("#EXT-X-DISCONTINUITY")
        for line in (root / clip / "index.m3u8").read_text().splitlines():
            if line.startswith("#EXTINF"):
                lines.append(line)
            elif line and not line.startswith("#"):
                lines.append(f"{prefix}{clip}/{line}")
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def _write_discontinuity(root: Path) -> None:
    """``disc/index.m3u8``: the ``hi`` segments, a discontinuity, then ``extra``'s."""
    (root / "disc").mkdir(exist_ok=True)
    (root / "disc" / "index.m3u8").write_text(joined_playlist(root, ["hi", "extra"], "../"))


def bench_stream(
    cache: Path | None = None, seconds: int = 300, size: str = "1280x720", segment: int = 2
) -> Path:
    """A long 720p HLS stream (150 segments by default) cached between runs; returns its root."""
    cache = Path(cache or Path(tempfile.gettempdir()) / "mediacraft-bench-media")
    root = cache / f"stream_{seconds}s_{size}_{segment}s"
    playlist = root / "hls" / "index.m3u8"
    if playlist.exists():
        return root
    source = make_video(root / "src.mp4", seconds, size, 25, gop=25 * segment, extra=["-crf", "26"])
    package_hls(source, root / "hls", segment)
    return root


def build_long(root: Path, seconds: int = 24, segment: int = 1) -> Path:
    """A small-picture stream with many segments (resume and cancel tests); returns its playlist."""
    source = make_video(Path(root) / "long.mp4", seconds, "160x120", 20, gop=20 * segment)
    return package_hls(source, Path(root) / "long", segment)


_SHARED: dict[str, object] = {}


def shared_media(factory: object, name: str = "hls") -> object:
    """Build the test media once per session (``factory`` is pytest's tmp_path_factory)."""
    if name not in _SHARED:
        where = factory.mktemp(name)  # type: ignore[attr-defined]
        _SHARED[name] = build_hls(where) if name == "hls" else build_long(where)
    return _SHARED[name]


def frame_hashes(path: Path) -> list[str]:
    """MD5 of every decoded video frame (ffmpeg framemd5): equal lists = identical pictures."""
    result = subprocess.run(
        [FFMPEG, "-hide_banner", "-loglevel", "error", "-i", str(path), "-map", "0:v:0",
         "-f", "framemd5", "-"],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    lines = result.stdout.decode().splitlines()
    return [line.rsplit(",", 1)[1].strip() for line in lines if line and not line.startswith("#")]


__all__ = ["Fault", "HlsMedia", "LogEntry", "Origin", "bench_stream", "build_hls", "build_long",
           "frame_hashes", "joined_playlist", "package_hls", "shared_media"]  # fmt: skip
