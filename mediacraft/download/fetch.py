"""HTTP transfers with retries, backoff and jitter, stall detection, rate and byte caps.

One :class:`Fetcher` serves a whole download: it owns the guarded session, the
shared rate limiter and byte budget, and the ``stop`` event that cancel or a
fatal error sets. Blocking socket reads are interrupted on stop by shutting
the sockets down, so a cancel never waits for a read timeout.
"""

from __future__ import annotations

import http.client
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import requests
import urllib3

from ..exceptions import BlockedAddress, DownloadError
from .options import DownloadOptions
from .politeness import host_slot

T = TypeVar("T")
Sink = Callable[[bytes], None]

RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504, 507, 509, 520, 521, 522, 523, 524})


class Stopped(Exception):
    """The download was asked to stop (cancel, shutdown, or another part failed)."""


class Retryable(Exception):
    """One attempt failed in a way worth trying again; ``str`` says how."""


class Fatal(Exception):
    """One attempt failed in a way that retrying cannot fix (most 4xx)."""


class CapExceeded(Fatal):
    """A size cap was hit; the message needs no attempt count."""


@dataclass(frozen=True)
class ByteRange:
    """``length`` bytes from ``offset``; ``length`` None means to the end."""

    offset: int
    length: int | None = None

    def header(self) -> str:
        end = "" if self.length is None else str(self.offset + self.length - 1)
        return f"bytes={self.offset}-{end}"


class RateLimiter:
    """Token bucket shared by all connections of one download (bytes per second)."""

    def __init__(self, rate: int, burst_seconds: float = 0.25) -> None:
        self.rate = float(rate)
        self.burst = burst_seconds
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def consume(self, amount: int, stop: threading.Event) -> None:
        with self._lock:
            now = time.monotonic()
            start = max(self._next, now - self.burst)
            self._next = start + amount / self.rate
            delay = self._next - now - self.burst
        if delay > 0 and stop.wait(delay):
            raise Stopped()


class ByteBudget:
    """The total-bytes cap of one download."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._lock = threading.Lock()

    def add(self, amount: int) -> None:
        with self._lock:
            self.used += amount
            if self.used > self.limit:
                raise DownloadError(
                    f"The download exceeded its size limit of {self.limit // (1024 * 1024)} MiB"
                )


_NETWORK_ERRORS = (
    requests.RequestException,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    OSError,
)


class Fetcher:
    """Guarded, retrying, interruptible HTTP for one download."""

    def __init__(
        self,
        session: requests.Session,
        options: DownloadOptions,
        stop: threading.Event | None = None,
    ) -> None:
        self.session = session
        self.options = options
        self.stop = stop or threading.Event()
        self.limiter = RateLimiter(options.limit_rate) if options.limit_rate else None
        self.budget = ByteBudget(options.max_total_bytes)
        self._active: set[requests.Response] = set()
        self._lock = threading.Lock()

    # -- stopping -----------------------------------------------------------------------
    def abort(self) -> None:
        """Set ``stop`` and wake every blocked read (called from another thread)."""
        self.stop.set()
        with self._lock:
            active = list(self._active)
        for response in active:
            try:
                response.raw.shutdown()
            except Exception:  # noqa: BLE001 - best effort on a socket being torn down
                pass

    def check_stop(self) -> None:
        if self.stop.is_set():
            raise Stopped()

    # -- retries ------------------------------------------------------------------------
    def retrying(self, what: str, attempt: Callable[[int], T]) -> T:
        """Run ``attempt(n)`` until it succeeds, with exponential backoff and jitter.

        ``what`` names the thing for messages ("segment 17"). A :class:`Fatal` ends at
        once; after the last :class:`Retryable` the error says how many attempts were made.
        """
        attempts = self.options.attempts
        for number in range(1, attempts + 1):
            self.check_stop()
            started = time.monotonic()
            try:
                return attempt(number)
            except CapExceeded as exc:
                raise DownloadError(f"{what} {exc}") from None
            except Fatal as exc:
                plural = "attempt" if number == 1 else "attempts"
                raise DownloadError(f"{what} {exc} after {number} {plural}") from None
            except Retryable as exc:
                if self.stop.is_set():
                    raise Stopped() from None
                if number == attempts:
                    plural = "attempt" if attempts == 1 else "attempts"
                    raise DownloadError(f"{what} {exc} after {attempts} {plural}") from None
                ceiling = min(
                    self.options.max_retry_delay, self.options.retry_delay * 2 ** (number - 1)
                )
                # "Full jitter" backoff, counted from the start of the failed attempt: a
                # transfer that stalled for seconds has already waited, a quick 503 has not.
                delay = random.uniform(0, ceiling) - (time.monotonic() - started)
                if delay > 0 and self.stop.wait(delay):
                    raise Stopped() from None
        raise AssertionError("unreachable")

    # -- one attempt --------------------------------------------------------------------
    def stream(
        self,
        url: str,
        sink: Sink,
        byterange: ByteRange | None = None,
        max_bytes: int | None = None,
        on_response: Callable[[requests.Response], None] | None = None,
    ) -> tuple[int, requests.Response]:
        """:meth:`_stream` while holding one of the host's politeness slots (politeness.py)."""
        with host_slot(url, self.stop, Stopped):  # per-host concurrency cap, process-wide
            return self._stream(url, sink, byterange, max_bytes, on_response)

    def _stream(
        self,
        url: str,
        sink: Sink,
        byterange: ByteRange | None = None,
        max_bytes: int | None = None,
        on_response: Callable[[requests.Response], None] | None = None,
    ) -> tuple[int, requests.Response]:
        """One GET whose body goes to ``sink`` chunk by chunk; returns (bytes, response).

        Raises Retryable/Fatal/Stopped, BlockedAddress, or DownloadError for caps.
        ``on_response`` may inspect the headers first (and raise Fatal).
        """
        self.check_stop()
        opts = self.options
        headers = {"Range": byterange.header()} if byterange else None
        timeout = (opts.connect_timeout, min(opts.read_timeout, opts.stall_timeout))
        try:
            response = self.session.get(url, headers=headers, stream=True, timeout=timeout)
        except BlockedAddress:
            raise
        except requests.TooManyRedirects:
            raise Fatal(f"redirected more than {opts.max_redirects} times") from None
        except (requests.exceptions.InvalidSchema, requests.exceptions.InvalidURL) as exc:
            raise Fatal(f"has an invalid URL ({exc})") from None
        except _NETWORK_ERRORS as exc:
            if self.stop.is_set():
                raise Stopped() from None
            raise Retryable(_describe_network_error(exc, opts)) from None
        with self._lock:
            self._active.add(response)
        try:
            return self._read_body(response, sink, byterange, max_bytes, on_response), response
        finally:
            with self._lock:
                self._active.discard(response)
            response.close()

    def _read_body(
        self,
        response: requests.Response,
        sink: Sink,
        byterange: ByteRange | None,
        max_bytes: int | None,
        on_response: Callable[[requests.Response], None] | None,
    ) -> int:
        status = response.status_code
        if status in RETRY_STATUS or status >= 500:
            raise Retryable(f"returned HTTP {status}")
        if status >= 400:
            raise Fatal(f"returned HTTP {status}")
        if status not in (200, 206):
            raise Fatal(f"returned unexpected HTTP {status}")
        if on_response:
            on_response(response)
        skip = 0
        want: int | None = None
        if byterange is not None:
            want = byterange.length
            if status == 200:  # the server ignored Range: skip to the offset ourselves
                skip = byterange.offset
        length_header = response.headers.get("Content-Length")
        expected = int(length_header) if length_header and length_header.isdigit() else None
        if max_bytes is not None and expected is not None and expected > max_bytes:
            raise CapExceeded(f"is larger than the {max_bytes // 1024} KiB limit")
        received = 0  # bytes off the wire
        written = 0
        chunk_size = self.options.chunk_size
        raw = response.raw
        try:
            while True:
                if self.stop.is_set():
                    raise Stopped()
                chunk = raw.read(chunk_size, decode_content=False)
                if not chunk:
                    break
                received += len(chunk)
                self.budget.add(len(chunk))
                if self.limiter:
                    self.limiter.consume(len(chunk), self.stop)
                if skip:
                    cut = min(skip, len(chunk))
                    chunk, skip = chunk[cut:], skip - cut
                if want is not None:
                    chunk = chunk[: max(0, want - written)]
                if chunk:
                    sink(chunk)
                    written += len(chunk)
                if max_bytes is not None and written > max_bytes:
                    raise CapExceeded(f"is larger than the {max_bytes // 1024} KiB limit")
                if want is not None and written >= want:
                    return written
        except (Stopped, DownloadError, Fatal, Retryable):  # ours, not network errors
            raise
        except _NETWORK_ERRORS as exc:
            if self.stop.is_set():
                raise Stopped() from None
            raise Retryable(
                _describe_network_error(exc, self.options, received, expected)
            ) from None
        if self.stop.is_set():
            raise Stopped()
        if expected is not None and received < expected:
            raise Retryable(f"was truncated (got {received} of {expected} bytes)")
        if want is not None and written < want:
            raise Retryable(f"was truncated (got {written} of {want} bytes)")
        return written

    # -- conveniences -------------------------------------------------------------------
    def get_bytes(
        self, url: str, what: str, byterange: ByteRange | None = None, max_bytes: int | None = None
    ) -> tuple[bytes, str]:
        """A small body (playlist, key, init section) with retries; returns (body, final URL)."""

        def attempt(_number: int) -> tuple[bytes, str]:
            parts: list[bytes] = []
            _count, response = self.stream(url, parts.append, byterange, max_bytes)
            return b"".join(parts), response.url

        return self.retrying(what, attempt)


def _describe_network_error(
    exc: BaseException,
    options: DownloadOptions,
    received: int = 0,
    expected: int | None = None,
) -> str:
    text = f"{type(exc).__name__}: {exc}".lower()
    if isinstance(exc, (requests.ConnectTimeout,)) or "connecttimeout" in text:
        return f"could not connect within {options.connect_timeout:g} s"
    if "timed out" in text or "timeout" in text:
        limit = min(options.read_timeout, options.stall_timeout)
        return f"stalled (no data for {limit:g} s)"
    if expected is not None and received < expected:
        return f"was cut off (got {received} of {expected} bytes: connection reset)"
    if "reset" in text or "aborted" in text or "broken" in text:
        return "lost its connection (reset by peer)"
    if "refused" in text:
        return "could not connect (connection refused)"
    return f"failed ({type(exc).__name__})"


__all__ = [
    "ByteBudget",
    "ByteRange",
    "CapExceeded",
    "Fatal",
    "Fetcher",
    "RateLimiter",
    "Retryable",
    "Stopped",
]
