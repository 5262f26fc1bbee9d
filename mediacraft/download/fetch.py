"""HTTP transfers with retries, backoff and jitter, timeouts, rate and byte caps.

One :class:`Fetcher` serves a whole download: it owns the guarded session, the
shared rate limiter and byte budget, and the ``stop`` event that cancel or a
fatal error sets. Blocking socket reads are interrupted on stop by shutting
the sockets down, so a cancel never waits for a read timeout.

Two timeouts govern a response: the *first-byte* timeout (time until the
response headers arrive; packagers that build segments on demand answer
slowly) and the *stall* timeout (no byte for this long once the body flows).

A request is opened (:meth:`Fetcher.open`) and its body read by a
:class:`Body`, possibly in several steps: the engine reads the first bytes of
the first URL to tell a playlist from a file, then hands the same open
response to the direct download instead of asking again.
"""

from __future__ import annotations

import email.utils
import errno
import http.client
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import requests
import urllib3

from ..exceptions import BlockedAddress, DownloadError, QuotaExceeded, StorageFull
from ..progress import LogHook, ignore_log
from .options import DownloadOptions
from .politeness import LIMITER, host_key

if TYPE_CHECKING:
    from .first import FirstRequest

T = TypeVar("T")
Sink = Callable[[bytes], None]

RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504, 507, 509, 520, 521, 522, 523, 524})
#: the longest ``Retry-After`` honoured; a server asking for more is waited on this long
MAX_RETRY_AFTER = 60.0


class Stopped(Exception):
    """The download was asked to stop (cancel, shutdown, or another part failed)."""


class Retryable(Exception):
    """One attempt failed in a way worth trying again; ``str`` says how."""

    def __init__(self, message: str, status: int | None = None, retry_after: float = 0.0):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class Fatal(Exception):
    """One attempt failed in a way that retrying cannot fix (most 4xx)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class CapExceeded(Fatal):
    """A size cap was hit; the message needs no attempt count."""


class RetriesExhausted(DownloadError):
    """Every attempt failed in a way worth retrying (the source may recover later)."""


class LinkExpired(Exception):
    """HTTP 403/410 where fresh links may help: the caller fetches the playlist again."""

    def __init__(self, status: int | None) -> None:
        super().__init__(f"returned HTTP {status}")
        self.status = status


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
    """The bytes one download may take: the server's size cap and the visitor's quota.

    The cap counts every byte fetched (retries included: it bounds what a stranger's
    server can make this one receive); the quota counts what is kept on disk, so a
    failed attempt's bytes are given back and a resumed attempt's files are counted.
    """

    def __init__(self, limit: int, quota: int | None = None) -> None:
        self.limit = limit
        self.quota = quota  # what is left of the visitor's quota, None: unlimited
        self.used = 0  # fetched
        self.stored = 0  # kept
        self._lock = threading.Lock()

    def add(self, amount: int) -> None:
        with self._lock:
            self.used += amount
            self.stored += amount
            used, stored = self.used, self.stored
        self._check_quota(stored)
        self._check_limit(used)

    def release(self, amount: int) -> None:
        """A failed attempt's bytes, thrown away: they no longer count against the quota."""
        with self._lock:
            self.stored = max(0, self.stored - amount)

    def hold(self, amount: int) -> None:
        """Bytes already on disk from an earlier attempt (a resume)."""
        with self._lock:
            self.stored += amount
            stored = self.stored
        self._check_quota(stored)

    def check(self, total: int) -> None:
        """Raise if a download of ``total`` bytes (a size known in advance) breaks a limit."""
        self._check_quota(total)
        self._check_limit(total)

    def _check_quota(self, total: int) -> None:
        if self.quota is not None and total > self.quota:
            raise QuotaExceeded(
                f"The download needs more than the {self.quota // MiB} MB left of your "
                "storage quota: your storage quota is full"
            )

    def _check_limit(self, total: int) -> None:
        if total > self.limit:
            raise DownloadError(
                f"The download exceeded the server's size limit of {self.limit // MiB} MiB"
            )


MiB = 1024 * 1024

_NETWORK_ERRORS = (
    requests.RequestException,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    OSError,
)


def disk_error(exc: OSError, what: str = "The download") -> StorageFull:
    """A write error on the server's disk, told as what it is (not a network retry)."""
    number = exc.errno
    if number in (errno.ENOSPC, errno.EDQUOT):
        reason = "the server's disk is full"
    elif number == errno.EROFS:
        reason = "the server's storage is read-only"
    elif number == errno.EIO:
        reason = "the server's disk reported an I/O error"
    else:
        reason = f"the server could not write its files ({exc.strerror or exc})"
    return StorageFull(f"{what} stopped: {reason}; retry the task once space is free")


def retry_after_seconds(value: str | None, now: float | None = None) -> float:
    """``Retry-After`` as seconds (delta or HTTP date), capped at :data:`MAX_RETRY_AFTER`."""
    if not value:
        return 0.0
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return 0.0
        seconds = when.timestamp() - (time.time() if now is None else now)
    return max(0.0, min(seconds, MAX_RETRY_AFTER))


class Body:
    """An open response whose body is read by :meth:`read`, possibly in several calls.

    Holds one of the host's politeness slots until :meth:`close`.
    """

    def __init__(
        self,
        fetcher: Fetcher,
        url: str,
        response: requests.Response | FirstRequest,
        byterange: ByteRange | None,
        max_bytes: int | None,
        release: Callable[[], None],
    ) -> None:
        self.fetcher = fetcher
        self.url = url
        self.response = response
        self.status = response.status_code
        self.headers = response.headers
        self.final_url = response.url
        self.max_bytes = max_bytes
        self._release = release
        self.skip = 0
        self.want: int | None = None
        if byterange is not None:
            self.want = byterange.length
            if self.status == 200:  # the server ignored Range: skip to the offset ourselves
                self.skip = byterange.offset
        length = response.headers.get("Content-Length")
        self.expected = int(length) if length and length.isdigit() else None
        self.received = 0  # bytes off the wire
        self.written = 0  # bytes given to sinks
        self.ended = False
        self._closed = False
        self._stall_timeout()

    def read(self, sink: Sink, until: int | None = None) -> int:
        """Feed the body to ``sink``; stop at the end, or once ``until`` bytes were written.

        Returns the bytes written so far. Raises Retryable/Stopped/CapExceeded,
        DownloadError/QuotaExceeded for the budget, StorageFull when ``sink``
        cannot write.
        """
        fetcher = self.fetcher
        raw = self.response.raw
        chunk_size = fetcher.options.chunk_size
        if self.max_bytes is not None and self.written > self.max_bytes:
            raise CapExceeded(f"is larger than the {self.max_bytes // 1024} KiB limit")
        try:
            while not self.ended and (until is None or self.written < until):
                if fetcher.stop.is_set():
                    raise Stopped()
                # Read no more than asked: the engine's first look at a file takes 16 bytes.
                amount = chunk_size if until is None else min(chunk_size, until - self.written)
                chunk = raw.read(amount, decode_content=False)
                if not chunk:
                    self.ended = True
                    break
                self.received += len(chunk)
                fetcher.budget.add(len(chunk))
                if fetcher.limiter:
                    fetcher.limiter.consume(len(chunk), fetcher.stop)
                if self.skip:
                    cut = min(self.skip, len(chunk))
                    chunk, self.skip = chunk[cut:], self.skip - cut
                if self.want is not None:
                    chunk = chunk[: max(0, self.want - self.written)]
                if chunk:
                    try:
                        sink(chunk)
                    except OSError as exc:
                        raise disk_error(exc) from exc
                    self.written += len(chunk)
                if self.max_bytes is not None and self.written > self.max_bytes:
                    raise CapExceeded(f"is larger than the {self.max_bytes // 1024} KiB limit")
                if self.want is not None and self.written >= self.want:
                    self.ended = True
        except (Stopped, DownloadError, Fatal, Retryable, QuotaExceeded, StorageFull):
            raise
        except _NETWORK_ERRORS as exc:
            if fetcher.stop.is_set():
                raise Stopped() from None
            raise Retryable(
                _describe_network_error(exc, fetcher.options, self.received, self.expected)
            ) from None
        if not self.ended:
            return self.written
        if fetcher.stop.is_set():
            raise Stopped()
        if self.want is None and self.expected is not None and self.received < self.expected:
            raise Retryable(f"was truncated (got {self.received} of {self.expected} bytes)")
        if self.want is not None and self.written < self.want:
            raise Retryable(f"was truncated (got {self.written} of {self.want} bytes)")
        return self.written

    def _stall_timeout(self) -> None:
        """The headers came: from now on a silence longer than the stall timeout fails a read."""
        connection = getattr(self.response.raw, "connection", None)
        sock = getattr(connection, "sock", None)
        if sock is not None:
            try:
                sock.settimeout(self.fetcher.options.stall_timeout)
            except OSError:
                pass

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.fetcher._forget(self.response)
            self.response.close()
        finally:
            self._release()


class Fetcher:
    """Guarded, retrying, interruptible HTTP for one download."""

    def __init__(
        self,
        session: requests.Session,
        options: DownloadOptions,
        stop: threading.Event | None = None,
        *,
        max_bytes: int = 64 * 1024 * MiB,
        quota: int | None = None,
        log: LogHook | None = None,
    ) -> None:
        self.session = session
        self.options = options
        self.stop = stop or threading.Event()
        self.limiter = RateLimiter(options.limit_rate) if options.limit_rate else None
        self.budget = ByteBudget(max_bytes, quota)
        self.log = log or ignore_log
        self._active: set[requests.Response | FirstRequest] = set()
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
            except Exception:  # best effort on a socket being torn down
                pass

    def check_stop(self) -> None:
        if self.stop.is_set():
            raise Stopped()

    def _forget(self, response: requests.Response | FirstRequest) -> None:
        with self._lock:
            self._active.discard(response)

    # -- retries ------------------------------------------------------------------------
    def retrying(
        self,
        what: str,
        attempt: Callable[[int], T],
        *,
        retry_not_found: bool = False,
        expired_status: frozenset[int] = frozenset(),
    ) -> T:
        """Run ``attempt(n)`` until it succeeds, with exponential backoff and jitter.

        ``what`` names the thing for messages ("Segment 17"). A :class:`Fatal` ends at
        once, except a first 404 when ``retry_not_found`` (segments that a CDN has not
        yet propagated); a :class:`Fatal` whose status is in ``expired_status`` is
        raised as :class:`LinkExpired` for the caller to refresh the link. After the
        last :class:`Retryable` the error says how many attempts were made. Every
        failed attempt is logged with its cause.
        """
        attempts = self.options.attempts
        not_found_retried = False
        number = 0
        while number < attempts:
            number += 1
            self.check_stop()
            started = time.monotonic()
            try:
                return attempt(number)
            except CapExceeded as exc:
                raise DownloadError(f"{what} {exc}") from None
            except Fatal as exc:
                if exc.status in expired_status:
                    raise LinkExpired(exc.status) from None
                if not (retry_not_found and exc.status == 404 and not not_found_retried):
                    plural = "attempt" if number == 1 else "attempts"
                    self.log(f"{what} {exc} (attempt {number}): not retried")
                    raise DownloadError(
                        f"{what} {exc} after {number} {plural}", reason="http_error"
                    ) from None
                not_found_retried = True
                attempts = max(attempts, number + 1)  # the one retry a 404 gets, always
                error: Exception = exc
                retry_after = 0.0
            except Retryable as exc:
                error, retry_after = exc, exc.retry_after
            if self.stop.is_set():
                raise Stopped() from None
            if number == attempts:
                plural = "attempt" if attempts == 1 else "attempts"
                self.log(f"{what} {error} (attempt {number} of {attempts}): giving up")
                raise RetriesExhausted(
                    f"{what} {error} after {attempts} {plural}", reason="network"
                ) from None
            ceiling = min(
                self.options.max_retry_delay, self.options.retry_delay * 2 ** (number - 1)
            )
            # "Full jitter" backoff, counted from the start of the failed attempt: a
            # transfer that stalled for seconds has already waited, a quick 503 has not.
            delay = random.uniform(0, ceiling) - (time.monotonic() - started)
            delay = max(delay, retry_after)
            self.log(
                f"{what} {error} (attempt {number} of {attempts}); "
                f"retrying in {max(0.0, delay):.1f} s"
            )
            if delay > 0 and self.stop.wait(delay):
                raise Stopped() from None
        raise AssertionError("unreachable")

    # -- one attempt --------------------------------------------------------------------
    def open(
        self, url: str, byterange: ByteRange | None = None, max_bytes: int | None = None
    ) -> Body:
        """Send one GET and check its status; the caller reads the :class:`Body` and closes it.

        Waits for one of the host's politeness slots first (politeness.py). Raises
        Retryable/Fatal/Stopped or BlockedAddress.
        """
        host = host_key(url)
        LIMITER.acquire(host, self.stop, Stopped)
        try:
            response = self._send(url, byterange)
        except BaseException:
            LIMITER.release(host)
            raise
        return self._checked(Body(self, url, response, byterange, max_bytes,
                                  lambda: LIMITER.release(host)))  # fmt: skip

    @staticmethod
    def _checked(body: Body) -> Body:
        """``body`` when its status and announced size are fine; else closed, and raises."""
        try:
            _check_status(body.response)
            cap = body.max_bytes
            if cap is not None and body.expected is not None and body.expected > cap:
                raise CapExceeded(f"is larger than the {cap // 1024} KiB limit")
        except BaseException:
            body.close()
            raise
        return body

    def adopt(self, first: FirstRequest) -> Body | None:
        """The response to a request sent before this fetcher existed (first.py), as a
        :class:`Body` checked like :meth:`open`'s; None when that request failed before
        its headers (the caller asks again with :meth:`open`). Raises BlockedAddress,
        Retryable/Fatal for its status."""
        response = first.response(self.stop)
        if response is None:
            self.check_stop()
            return None
        host = host_key(first.requested)
        LIMITER.acquire(host, self.stop, Stopped)
        with self._lock:
            self._active.add(response)
        return self._checked(Body(self, first.requested, response, None, None,
                                  lambda: LIMITER.release(host)))  # fmt: skip

    def _send(self, url: str, byterange: ByteRange | None) -> requests.Response:
        self.check_stop()
        opts = self.options
        headers = {"Range": byterange.header()} if byterange else None
        timeout = (opts.connect_timeout, opts.first_byte_timeout)
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
            raise Retryable(_describe_network_error(exc, opts, first_byte=True)) from None
        with self._lock:
            self._active.add(response)
        if self.stop.is_set():
            self._forget(response)
            response.close()
            raise Stopped()
        return response

    def stream(
        self,
        url: str,
        sink: Sink,
        byterange: ByteRange | None = None,
        max_bytes: int | None = None,
    ) -> Body:
        """One GET whose whole body goes to ``sink`` chunk by chunk; returns the closed Body."""
        body = self.open(url, byterange, max_bytes)
        try:
            body.read(sink)
        finally:
            body.close()
        return body

    # -- conveniences -------------------------------------------------------------------
    def get_bytes(
        self,
        url: str,
        what: str,
        byterange: ByteRange | None = None,
        max_bytes: int | None = None,
        *,
        retry_not_found: bool = False,
        expired_status: frozenset[int] = frozenset(),
    ) -> tuple[bytes, str]:
        """A small body (playlist, key, init section) with retries; returns (body, final URL)."""

        def attempt(_number: int) -> tuple[bytes, str]:
            parts: list[bytes] = []
            body = self.stream(url, parts.append, byterange, max_bytes)
            return b"".join(parts), body.final_url

        return self.retrying(
            what, attempt, retry_not_found=retry_not_found, expired_status=expired_status
        )


def _check_status(response: requests.Response | FirstRequest) -> None:
    status = response.status_code
    if status in RETRY_STATUS or status >= 500:
        wait = retry_after_seconds(response.headers.get("Retry-After"))
        raise Retryable(f"returned HTTP {status}", status, wait)
    if status >= 400:
        raise Fatal(f"returned HTTP {status}", status)
    if status not in (200, 206):
        raise Fatal(f"returned unexpected HTTP {status}", status)


def _describe_network_error(
    exc: BaseException,
    options: DownloadOptions,
    received: int = 0,
    expected: int | None = None,
    first_byte: bool = False,
) -> str:
    text = f"{type(exc).__name__}: {exc}".lower()
    if isinstance(exc, (requests.ConnectTimeout,)) or "connecttimeout" in text:
        return f"could not connect within {options.connect_timeout:g} s"
    if "timed out" in text or "timeout" in text:
        if first_byte:
            return f"did not answer within {options.first_byte_timeout:g} s"
        return f"stalled (no data for {options.stall_timeout:g} s)"
    reset = "reset" in text or "aborted" in text or "broken" in text
    if expected is not None and received < expected:
        how = "connection reset" if reset else "connection closed early"
        return f"was cut off (got {received} of {expected} bytes: {how})"
    if "reset" in text or "aborted" in text or "broken" in text:
        return "lost its connection (reset by peer)"
    if "refused" in text:
        return "could not connect (connection refused)"
    return f"failed ({type(exc).__name__})"


__all__ = [
    "MAX_RETRY_AFTER",
    "Body",
    "ByteBudget",
    "ByteRange",
    "CapExceeded",
    "Fatal",
    "Fetcher",
    "LinkExpired",
    "RateLimiter",
    "Retryable",
    "RetriesExhausted",
    "Stopped",
    "disk_error",
    "retry_after_seconds",
]
