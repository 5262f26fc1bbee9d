"""A guarded local CONNECT proxy: how aria2c's own connections pass the SSRF guard.

aria2c opens its connections itself and follows redirects by itself, so the
guard of :mod:`mediacraft.download.guard` (which lives in ``requests``) never
sees them. Every download MediaCraft gives aria2c therefore carries
``all-proxy`` pointing here and ``proxy-method=tunnel``: aria2c asks this
proxy to ``CONNECT host:port`` for every connection, plain HTTP included, and
for every redirect hop. The proxy resolves the host once with
:func:`~mediacraft.download.guard.resolve_pinned` (the same check, allow-list
and messages as the built-in engine), connects to that pinned address and
only then relays bytes. TLS stays end to end between aria2c and the origin.

Each download gets its own proxy user name (a random token), so a refusal is
recorded against the download it belongs to and the engine can report the
guard's own message instead of aria2's "proxy connection failed". The proxy
listens on loopback only and refuses connections without a known token.
"""

from __future__ import annotations

import base64
import fcntl
import logging
import os
import secrets
import select
import socket
import socketserver
import threading
from dataclasses import dataclass, field

from ..download.guard import AllowList, resolve_pinned
from ..exceptions import MediaCraftError

log = logging.getLogger(__name__)

MAX_HEADER_BYTES = 16 * 1024
CONNECT_TIMEOUT = 15.0
IDLE_TIMEOUT = 300.0  # a tunnel with no byte either way for this long is closed
RELAY_CHUNK = 1024 * 1024
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)


@dataclass
class Ticket:
    """One download's pass through the proxy: its allow-list and what was refused."""

    token: str
    allow: AllowList
    refusals: list[str] = field(default_factory=list)
    connections: int = 0  # tunnels opened (each one passed the guard)


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        client: socket.socket = self.request
        client.settimeout(CONNECT_TIMEOUT)
        try:
            head = _read_head(client)
        except (OSError, ValueError):
            return
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split()
        if len(parts) != 3 or parts[0].upper() != "CONNECT":
            _answer(client, 405, "Only CONNECT is served")
            return
        ticket = self.server.owner.ticket_for(_proxy_user(lines[1:]))
        if ticket is None:
            _answer(client, 407, "Unknown download", auth=True)
            return
        host, _, port_text = parts[1].rpartition(":")
        host = host.strip("[]")
        if not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
            _answer(client, 400, "CONNECT needs host:port")
            return
        try:
            ip = resolve_pinned(host, int(port_text), ticket.allow)
        except MediaCraftError as exc:
            ticket.refusals.append(exc.message)
            _answer(client, 403, "Refused by the address guard")
            return
        try:
            upstream = socket.create_connection((str(ip), int(port_text)), CONNECT_TIMEOUT)
        except OSError as exc:
            _answer(client, 502, f"Could not connect: {exc.strerror or exc}")
            return
        ticket.connections += 1
        with upstream:
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            _relay(client, upstream)


def _read_head(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise ValueError("closed before the request ended")
        data += chunk
        if len(data) > MAX_HEADER_BYTES:
            raise ValueError("request head too large")
    head, _, rest = data.partition(b"\r\n\r\n")
    if rest:  # a client must wait for 200 before it speaks through the tunnel
        raise ValueError("data before the tunnel was established")
    return head


def _proxy_user(header_lines: list[str]) -> str:
    for line in header_lines:
        name, _, value = line.partition(":")
        if name.strip().lower() != "proxy-authorization":
            continue
        scheme, _, encoded = value.strip().partition(" ")
        if scheme.lower() != "basic":
            return ""
        try:
            return base64.b64decode(encoded.strip(), validate=True).decode().partition(":")[0]
        except (ValueError, UnicodeDecodeError):
            return ""
    return ""


def _answer(sock: socket.socket, status: int, reason: str, *, auth: bool = False) -> None:
    extra = 'Proxy-Authenticate: Basic realm="mediacraft"\r\n' if auth else ""
    body = reason.encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\n{extra}Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    try:
        sock.sendall(head.encode("latin-1") + body)
    except OSError:
        pass


def _relay(client: socket.socket, upstream: socket.socket) -> None:
    """Copy bytes both ways until either side closes or the tunnel idles out.

    Each direction has its own thread; on Linux the bytes go socket → pipe →
    socket with ``splice`` and never enter Python (a relay in Python would cap
    aria2c well below the link on a fast network).
    """
    client.settimeout(None)
    upstream.settimeout(None)
    back = threading.Thread(target=_pump, args=(client, upstream), daemon=True)
    back.start()
    _pump(upstream, client)
    back.join(IDLE_TIMEOUT)


def _pump(source: socket.socket, target: socket.socket) -> None:
    try:
        if hasattr(os, "splice"):
            _splice(source, target)
        else:
            _copy(source, target)
    except OSError:
        pass
    finally:
        for sock, how in ((target, socket.SHUT_WR), (source, socket.SHUT_RD)):
            try:
                sock.shutdown(how)
            except OSError:
                pass


def _splice(source: socket.socket, target: socket.socket) -> None:
    read_end, write_end = os.pipe()
    try:
        try:
            fcntl.fcntl(write_end, F_SETPIPE_SZ, RELAY_CHUNK)
        except OSError:
            pass  # the default pipe size works too
        while select.select([source], [], [], IDLE_TIMEOUT)[0]:
            moved = os.splice(source.fileno(), write_end, RELAY_CHUNK)
            if moved == 0:
                return
            while moved:
                moved -= os.splice(read_end, target.fileno(), moved)
    finally:
        os.close(read_end)
        os.close(write_end)


def _copy(source: socket.socket, target: socket.socket) -> None:
    buffer = bytearray(RELAY_CHUNK)
    view = memoryview(buffer)
    while select.select([source], [], [], IDLE_TIMEOUT)[0]:
        count = source.recv_into(buffer)
        if not count:
            return
        target.sendall(view[:count])


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: GuardProxy


class GuardProxy:
    """The process's guarded proxy; :meth:`ticket` gives each download its credentials."""

    def __init__(self) -> None:
        self._server: _Server | None = None
        self._tickets: dict[str, Ticket] = {}
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._server is not None:
                return
            server = _Server(("127.0.0.1", 0), _Handler)
            server.owner = self
            threading.Thread(
                target=server.serve_forever, name="aria2-guard-proxy", daemon=True
            ).start()
            self._server = server

    @property
    def port(self) -> int:
        self.start()
        assert self._server is not None
        return int(self._server.server_address[1])

    def ticket(self, allowed_networks: tuple[str, ...] | list[str] = ()) -> Ticket:
        self.start()
        ticket = Ticket(token=secrets.token_hex(16), allow=AllowList(allowed_networks))
        with self._lock:
            self._tickets[ticket.token] = ticket
        return ticket

    def ticket_for(self, token: str) -> Ticket | None:
        with self._lock:
            return self._tickets.get(token) if token else None

    def release(self, ticket: Ticket) -> None:
        with self._lock:
            self._tickets.pop(ticket.token, None)

    def options(self, ticket: Ticket) -> dict[str, str]:
        """aria2 options that send every connection of one download through this proxy."""
        address = f"http://127.0.0.1:{self.port}"
        options = {"proxy-method": "tunnel", "no-proxy": ""}
        # the per-protocol options win over all-proxy in aria2c: set them all alike
        for kind in ("all", "http", "https", "ftp"):
            options[f"{kind}-proxy"] = address
            options[f"{kind}-proxy-user"] = ticket.token
            options[f"{kind}-proxy-passwd"] = "x"
        return options

    def stop(self) -> None:
        with self._lock:
            server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()


_proxy = GuardProxy()


def guard_proxy() -> GuardProxy:
    """This process's proxy (started on first use)."""
    return _proxy


__all__ = ["GuardProxy", "Ticket", "guard_proxy"]
