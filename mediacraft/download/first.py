"""The first request of a command-line download, sent while the engine loads.

``mediacraft download`` spends ~0.1 s importing requests and the engine
before it could ask for anything; on a link whose speed is capped that
time is lost for good. :class:`FirstRequest` sends the first GET at once
with the standard library only, judged by the same guard as every other
request (addresses.py: one resolution, the address pinned, the same
allow-list and refusals; each redirect hop judged again); its thread reads
the answer and buffers the start of a media body (at most
:data:`MAX_BUFFER`) while the engine imports.
The engine then adopts the response as its first request
(:meth:`Fetcher.adopt`): what the probe of the first bytes decides, and the
direct download reading on from there, work as with any response.

Only the plain case goes this way, which the caller checks (no cookies, no
proxy, no rate limit); here, an ASCII URL without credentials and headers
without ``Authorization``. When this request cannot be made or fails before
its headers arrive, the engine asks again the usual way, with its retries
and messages; a blocked address is refused at once.
"""

from __future__ import annotations

import socket
import threading
from collections import deque
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from ..exceptions import BlockedAddress, DownloadError
from .addresses import AllowList, check_url, resolve_pinned
from .options import BASE_HEADERS, DownloadOptions
from .sniff import media_suffix

if TYPE_CHECKING:
    import http.client

#: the most of the body held in memory before the engine reads it
MAX_BUFFER = 16 * 1024 * 1024
REDIRECTS = frozenset({301, 302, 303, 307, 308})
HEAD_BYTES = 16  # what the engine looks at to tell media from the rest
_CHUNK = 256 * 1024
#: what requests adds to a session's headers, sent the same way here
_REQUESTS_DEFAULTS = {"Accept": "*/*", "Connection": "keep-alive"}


def _plain(text: str) -> bool:
    return text.isascii() and all(33 <= ord(c) < 127 for c in text)


class FirstRequest:
    """One GET sent by :meth:`start`, its response taken by :meth:`response`.

    Looks like the part of ``requests.Response`` that :class:`~.fetch.Body` reads
    (``status_code``, ``headers``, ``url``, ``raw.read``, ``raw.shutdown``, ``close``).
    """

    def __init__(
        self, url: str, options: DownloadOptions, allowed_networks: Iterable[str] = ()
    ) -> None:
        self.url = url  # the final one once the headers came (after redirects)
        self.requested = url
        self.options = options
        self._allow = AllowList(allowed_networks)
        headers = {**_REQUESTS_DEFAULTS, **BASE_HEADERS}
        for name, value in options.request_headers.items():
            for key in [k for k in headers if k.lower() == name.lower()]:
                del headers[key]
            headers[name] = value
        self._headers = headers
        self.status_code = 0
        self.headers: Mapping[str, str] = {}
        self.failure: BaseException | None = None  # before the headers: refused, or ask again
        self._read_error: BaseException | None = None
        self._sock: socket.socket | None = None
        self._response: http.client.HTTPResponse | None = None
        self._ready = threading.Event()
        self._lock = threading.Condition()
        self._buffer: deque[bytes] = deque()
        self._buffered = 0
        self._taken = False  # the engine reads on its own from now on
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="download-first", daemon=True)

    @property
    def raw(self) -> FirstRequest:
        return self

    # -- can this request go this way --------------------------------------------------
    def usable(self) -> bool:
        parts = urlsplit(self.url)
        if parts.username is not None or parts.password is not None:
            return False  # requests turns those into an Authorization header
        if not (_plain(self.url) and parts.hostname):
            return False  # requests would quote or IDNA-encode it: leave it to requests
        for name, value in self._headers.items():
            if name.lower() == "authorization":
                return False  # requests drops it on a redirect to another host
            if not name.isascii() or "\r" in value or "\n" in value or ":" in name:
                return False
        return True

    def start(self) -> FirstRequest:
        """Resolve, judge, connect and send here (a thread would wait for the GIL while
        the engine imports); the answer is read by this object's thread."""
        try:
            self._send(self.url)
        except BaseException as exc:  # kept for the engine: refused, or asked again there
            self.failure = exc
            self._ready.set()
            return self
        import http.client  # noqa: F401 -- after the request left (~0.02 s; requests needs it)

        self._thread.start()
        return self

    # -- the request, in its thread ---------------------------------------------------
    def _run(self) -> None:
        try:
            self._fetch()
            if self._closed:  # given up on while it was under way
                self._close_socket()
                return
        except BaseException as exc:  # kept for the engine: refused, or asked again there
            self.failure = exc
            self._close_socket()
        finally:
            self._ready.set()
        if self.failure is None and self.status_code in (200, 206):
            if self.headers.get("Content-Encoding", "").lower() in ("", "identity"):
                self._pump()

    def _fetch(self) -> None:
        import http.client

        url = self.url
        for hop in range(self.options.max_redirects + 1):
            sock = self._send(url) if hop else self._sock
            assert sock is not None
            response = http.client.HTTPResponse(sock, method="GET")
            response.begin()
            location = response.getheader("Location")
            if response.status in REDIRECTS and location:
                response.close()
                sock.close()
                url = check_url(urljoin(url, location.strip()))
                if not _plain(url):
                    raise DownloadError("The redirect needs the engine's URL handling")
                continue
            sock.settimeout(self.options.stall_timeout)
            self.url, self.status_code = url, response.status
            self.headers = response.msg
            self._sock, self._response = sock, response
            return
        raise DownloadError("Too many redirects: the engine reports them")

    def _send(self, url: str) -> socket.socket:
        parts = urlsplit(url)
        hostname = parts.hostname or ""
        https = parts.scheme.lower() == "https"
        port = parts.port
        ip = resolve_pinned(hostname, port, self._allow)
        sock = socket.create_connection(
            (str(ip), port or (443 if https else 80)), timeout=self.options.connect_timeout
        )
        self._sock = sock
        try:
            if https:
                import ssl

                import certifi

                context = ssl.create_default_context(cafile=certifi.where())
                sock = context.wrap_socket(sock, server_hostname=hostname)
                self._sock = sock
            host = f"[{hostname}]" if ":" in hostname else hostname
            if port is not None:
                host += f":{port}"
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            lines = [f"GET {target} HTTP/1.1", f"Host: {host}"]
            lines += [f"{name}: {value}" for name, value in self._headers.items()]
            sock.settimeout(self.options.first_byte_timeout)
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        except BaseException:
            sock.close()
            raise
        return sock

    def _pump(self) -> None:
        """Read the body into memory until the engine takes over (or the buffer is full).

        Only media is read ahead: a body whose first bytes are not (a playlist, a page,
        something the engine refuses) waits for the engine after its first chunk.
        """
        response = self._response
        assert response is not None
        sniffed = False
        while True:
            with self._lock:
                while self._buffered >= MAX_BUFFER and not (self._taken or self._closed):
                    self._lock.wait()
                if self._taken or self._closed:
                    return
                try:
                    chunk = response.read1(_CHUNK)
                except BaseException as exc:  # the engine's read reports it
                    self._read_error = exc
                    return
                if not chunk:
                    return
                self._buffer.append(chunk)
                self._buffered += len(chunk)
                if not sniffed and self._buffered >= HEAD_BYTES:
                    sniffed = True
                    if media_suffix(b"".join(self._buffer)[:HEAD_BYTES]) is None:
                        return

    # -- what the engine calls --------------------------------------------------------
    def response(self, stop: threading.Event | None = None) -> FirstRequest | None:
        """Wait for the headers: this object as the response, or None to ask again.

        Raises BlockedAddress when the guard refused the URL or a redirect; returns
        None at once when ``stop`` is set (a cancel) while it waits.
        """
        while not self._ready.wait(0.05):
            if stop is not None and stop.is_set():
                self.close()
                return None
        if isinstance(self.failure, BlockedAddress):
            raise self.failure
        if self.failure is not None or self._response is None:
            self.close()
            return None
        return self

    def read(self, amount: int, decode_content: bool = False) -> bytes:
        """Up to ``amount`` bytes of the body: the buffered ones first, then the socket's."""
        with self._lock:
            self._taken = True
            self._lock.notify_all()
            if self._buffer:
                chunk = self._buffer.popleft()
                if len(chunk) > amount:
                    chunk, rest = chunk[:amount], chunk[amount:]
                    self._buffer.appendleft(rest)
                self._buffered -= len(chunk)
                return chunk
            error, self._read_error = self._read_error, None
        if error is not None:
            raise error
        assert self._response is not None
        return self._response.read1(amount)

    def shutdown(self) -> None:
        """Wake a blocked read (cancel)."""
        sock = self._sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        self._closed = True
        self.shutdown()  # first: the pump may be blocked in a read, holding the lock
        with self._lock:
            self._lock.notify_all()
            self._buffer.clear()
            self._buffered = 0
        if self._response is not None:
            self._response.close()
        self._close_socket()

    def _close_socket(self) -> None:
        if self._sock is not None:
            self._sock.close()


__all__ = ["MAX_BUFFER", "FirstRequest"]
