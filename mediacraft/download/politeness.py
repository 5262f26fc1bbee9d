"""Politeness: a process-wide cap on concurrent requests to one origin host.

Every download of the process shares it, so a batch of 100 URLs on one host
opens at most ``limit`` connections there at once, not 100 × threads. The
limit is :data:`DEFAULT_LIMIT` until :func:`configure` sets it: the app and
the commands do so at start from their Config
(``MEDIACRAFT_PER_HOST_CONNECTIONS``), ``mediacraft batch`` from its option
when given. A host is ``host:port`` of the URL being requested.

Usage (one request)::

    with host_slot(url, stop_event):
        response = session.get(url, ...)
        ...read the body...
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from urllib.parse import urlsplit

DEFAULT_LIMIT = 16  # Config.per_host_connections' default
_WAKE_INTERVAL = 0.1  # how often a waiting request looks at its stop event


class StoppedWaiting(Exception):
    """The stop event was set while waiting for a slot."""


class HostLimiter:
    """Counts requests in flight per host; :meth:`slot` waits while a host is at its limit."""

    def __init__(self, limit: int | None = None) -> None:
        self._limit = limit
        self._cond = threading.Condition()
        self._active: dict[str, int] = {}
        self.peak: dict[str, int] = {}  # most requests at once per host (tests, diagnostics)

    @property
    def limit(self) -> int:
        return DEFAULT_LIMIT if self._limit is None else self._limit

    def configure(self, limit: int | None) -> None:
        """Set the limit (``None``: back to the default); wakes waiters."""
        if limit is not None and limit < 1:
            raise ValueError("per-host connections must be at least 1")
        with self._cond:
            self._limit = limit
            self._cond.notify_all()

    def active(self, host: str) -> int:
        with self._cond:
            return self._active.get(host, 0)

    def acquire(
        self,
        host: str,
        stop: threading.Event | None = None,
        stopped: type[Exception] = StoppedWaiting,
    ) -> None:
        with self._cond:
            while self._active.get(host, 0) >= self.limit:
                if stop is not None and stop.is_set():
                    raise stopped()
                self._cond.wait(_WAKE_INTERVAL)
            count = self._active.get(host, 0) + 1
            self._active[host] = count
            self.peak[host] = max(self.peak.get(host, 0), count)

    def release(self, host: str) -> None:
        with self._cond:
            count = self._active.get(host, 0) - 1
            if count > 0:
                self._active[host] = count
            else:
                self._active.pop(host, None)
            self._cond.notify()

    @contextmanager
    def slot(
        self,
        url: str,
        stop: threading.Event | None = None,
        stopped: type[Exception] = StoppedWaiting,
    ) -> Iterator[None]:
        """Hold one of ``url``'s host's slots; raises ``stopped`` if ``stop`` is set meanwhile."""
        host = host_key(url)
        self.acquire(host, stop, stopped)
        try:
            yield
        finally:
            self.release(host)


def host_key(url: str) -> str:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{host}:{port}"


#: the process-wide limiter every download shares
LIMITER = HostLimiter()


def configure(limit: int | None) -> None:
    LIMITER.configure(limit)


def host_slot(
    url: str,
    stop: threading.Event | None = None,
    stopped: type[Exception] = StoppedWaiting,
) -> AbstractContextManager[None]:
    """Hold one of the host's slots for a request (waits while the host is at its limit)."""
    return LIMITER.slot(url, stop, stopped)


__all__ = ["DEFAULT_LIMIT", "LIMITER", "HostLimiter", "StoppedWaiting", "configure",
           "host_key", "host_slot"]  # fmt: skip
