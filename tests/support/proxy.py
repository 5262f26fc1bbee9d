"""A loopback HTTP forward proxy (absolute-URI GET and CONNECT) that records what it was asked.

It forwards only to loopback addresses, so a test can never send traffic
anywhere else through it.
"""

from __future__ import annotations

import ipaddress
import select
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _target(self, host: str, port: int) -> socket.socket | None:
        self.server.proxy.asked.append(f"{host}:{port}")
        try:
            if not ipaddress.ip_address(socket.gethostbyname(host)).is_loopback:
                return None
        except (OSError, ValueError):
            return None
        return socket.create_connection((host, port), timeout=10)

    def do_CONNECT(self) -> None:
        host, _, port = self.path.rpartition(":")
        upstream = self._target(host.strip("[]"), int(port))
        if upstream is None:
            self.send_error(403)
            return
        self.send_response(200, "Connection established")
        self.end_headers()
        sockets = [self.connection, upstream]
        while True:
            readable, _, _ = select.select(sockets, [], [], 10)
            if not readable:
                break
            for sock in readable:
                data = sock.recv(65536)
                if not data:
                    upstream.close()
                    return
                (upstream if sock is self.connection else self.connection).sendall(data)

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        upstream = self._target(parts.hostname or "", parts.port or 80)
        if upstream is None:
            self.send_error(403)
            return
        self.server.proxy.forwarded.append(self.path)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = "".join(f"{k}: {v}\r\n" for k, v in self.headers.items()
                          if k.lower() not in ("proxy-connection", "connection"))  # fmt: skip
        upstream.sendall(f"GET {path} HTTP/1.1\r\n{headers}Connection: close\r\n\r\n".encode())
        self.close_connection = True
        try:
            self._relay(upstream)
        except OSError:  # the client went away: nothing more to send it
            pass
        finally:
            upstream.close()

    def _relay(self, upstream: socket.socket) -> None:
        """Copy the answer to the client, saying the connection closes after it.

        The proxy closes every client connection after one answer; without a
        ``Connection: close`` the client would keep the connection for its next
        request and find it closed (a ProxyError that depends on timing).
        """
        head = b""
        while b"\r\n\r\n" not in head:
            data = upstream.recv(65536)
            if not data:
                self.wfile.write(head)
                return
            head += data
        header, rest = head.split(b"\r\n\r\n", 1)
        lines = [line for line in header.split(b"\r\n")
                 if not line.lower().startswith(b"connection:")]  # fmt: skip
        self.wfile.write(b"\r\n".join([*lines, b"Connection: close"]) + b"\r\n\r\n" + rest)
        while True:
            data = upstream.recv(65536)
            if not data:
                return
            self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    proxy: Proxy


class Proxy:
    """``with Proxy() as proxy: proxy.url`` -> ``http://127.0.0.1:<port>``."""

    def __init__(self) -> None:
        self.asked: list[str] = []  # host:port of every request
        self.forwarded: list[str] = []  # absolute URLs forwarded
        self._server: _Server | None = None

    def __enter__(self) -> Proxy:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.proxy = self
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()  # fmt: skip
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"


__all__ = ["Proxy"]
