"""SSRF guard: every request the downloader makes goes through :func:`guarded_session`.

Built on ``requests-hardened``: its :class:`IPFilterAdapter` resolves the host
once, connects to that pinned address (keeping ``Host``, SNI and certificate
checks on the original name) and is consulted again for every redirect hop,
because requests sends each hop through the mounted adapter.

What requests-hardened cannot do, and is added here with the least code:

* an allow-list of hosts/CIDRs (``MEDIACRAFT_ALLOWED_NETWORKS``): its only
  switch is ``allow_loopback`` (all loopback or none), and its resolver is a
  module-level function, so the one hook that resolves and pins
  (``build_connection_pool_key_attributes``) is overridden with the same
  design plus the allow-list;
* a stricter classifier (also unspecified, reserved, shared 100.64/10,
  link-local, multicast, non-global IPv6, every embedded IPv4 spelling),
  reusing its list of extra blocked ranges;
* a :class:`~mediacraft.exceptions.BlockedAddress` with a user-facing
  message instead of its ``InvalidIPAddress``;
* a pool as large as the thread count (its adapter keeps requests' 10).
"""

from __future__ import annotations

import http.cookiejar
import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from requests_hardened.ip_filter import EXTRA_BLOCKED_NET_RANGES
from requests_hardened.ip_filter_adapter import IPFilterAdapter
from urllib3.util.connection import allowed_gai_family

from ..exceptions import BlockedAddress, DownloadError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_EXTRA_BLOCKED: tuple[IPNetwork, ...] = (
    *EXTRA_BLOCKED_NET_RANGES,
    ipaddress.ip_network("fd00:ec2::/32"),  # AWS metadata over IPv6 (also unique-local)
    ipaddress.ip_network("fec0::/10"),  # deprecated site-local
)


def unwrap(ip: IPAddress) -> IPAddress:
    """The IPv4 address hidden in an IPv6 spelling (mapped, compatible, 6to4, Teredo)."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.sixtofour is not None:
            return ip.sixtofour
        if ip.teredo is not None:
            return ip.teredo[1]
        packed = ip.packed
        if packed[:12] == bytes(12) and int(ip) > 1:  # deprecated IPv4-compatible ::a.b.c.d
            return ipaddress.IPv4Address(packed[12:])
    return ip


def blocked_reason(ip: IPAddress | str) -> str | None:
    """Why ``ip`` must not be fetched from, or ``None`` when it is a public unicast address."""
    ip = ipaddress.ip_address(ip)
    inner = unwrap(ip)
    # An IPv4-mapped address connects to its IPv4 address: judge that alone. Other
    # embeddings (6to4, Teredo, compatible) must pass as IPv6 addresses too.
    mapped = isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None
    for candidate in (inner,) if mapped else (inner, ip):
        if candidate.is_loopback:
            return "loopback"
        if candidate.is_link_local:
            return "link-local"
        if candidate.is_multicast:
            return "multicast"
        if candidate.is_unspecified:
            return "unspecified"
        if candidate.is_private:
            return "private"
        if candidate.is_reserved:
            return "reserved"
        if any(candidate in net for net in _EXTRA_BLOCKED if net.version == candidate.version):
            return "reserved"
        if not candidate.is_global:
            return "not globally routable"
    return None


class AllowList:
    """Hosts and networks exempt from the guard (``MEDIACRAFT_ALLOWED_NETWORKS``)."""

    def __init__(self, entries: Iterable[str] = ()) -> None:
        self.hosts: set[str] = set()
        self.networks: list[IPNetwork] = []
        for raw in entries:
            entry = raw.strip()
            if not entry:
                continue
            try:
                self.networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                self.hosts.add(entry.lower().rstrip("."))

    def permits(self, hostname: str, ip: IPAddress) -> bool:
        if hostname.lower().rstrip(".") in self.hosts:
            return True
        for candidate in (ip, unwrap(ip)):
            if any(candidate.version == net.version and candidate in net for net in self.networks):
                return True
        return False

    def __bool__(self) -> bool:
        return bool(self.hosts or self.networks)


def resolve_pinned(hostname: str, port: int | None, allow: AllowList) -> IPAddress:
    """Resolve ``hostname`` once and return the address to connect to, or raise BlockedAddress."""
    if not hostname:
        raise DownloadError("The URL has no host name", reason="bad_url")
    try:
        infos = socket.getaddrinfo(
            hostname, port or 80, family=allowed_gai_family(), type=socket.SOCK_STREAM
        )
    except (socket.gaierror, UnicodeError) as exc:
        message = f"Could not resolve host {hostname!r}: {exc}"
        raise DownloadError(message, reason="network") from exc
    family, _type, _proto, _name, sockaddr = infos[0]
    if family not in (socket.AF_INET, socket.AF_INET6):
        raise DownloadError(f"Host {hostname!r} resolved to an unsupported address family")
    ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
    if allow.permits(hostname, ip):
        return ip
    reason = blocked_reason(ip)
    if reason:
        shown = hostname if hostname == str(ip) else f"{hostname} ({ip})"
        raise BlockedAddress(
            f"Refused to fetch from {shown}: {reason} addresses are not allowed "
            "(set MEDIACRAFT_ALLOWED_NETWORKS to allow trusted networks)"
        )
    return unwrap(ip) if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped else ip


class GuardedAdapter(IPFilterAdapter):
    """requests-hardened's pinning adapter with an allow-list and a stricter check."""

    def __init__(self, is_https_proto: bool, allow: AllowList, pool_maxsize: int = 16) -> None:
        super().__init__(is_https_proto=is_https_proto)
        self._allow = allow
        # IPFilterAdapter passes no pool size; rebuild the pool for our thread count.
        self._pool_connections = self._pool_maxsize = max(10, pool_maxsize)
        self.init_poolmanager(self._pool_connections, self._pool_maxsize, block=False)

    def build_connection_pool_key_attributes(
        self,
        request: requests.PreparedRequest,
        verify: bool | str,
        cert: str | tuple[str, str] | None = None,
    ) -> tuple[dict, dict]:
        host_params, pool_kwargs = HTTPAdapter.build_connection_pool_key_attributes(
            self, request, verify, cert
        )
        request.headers = CaseInsensitiveDict(request.headers or {})
        hostname = host_params["host"]
        host_header = f"[{hostname}]" if ":" in hostname else hostname
        if host_params.get("port") is not None:
            host_header += f":{host_params['port']}"
        request.headers["Host"] = host_header
        if self._is_https_proto:
            pool_kwargs["assert_hostname"] = hostname
            pool_kwargs["server_hostname"] = hostname
        ip = resolve_pinned(hostname, host_params.get("port"), self._allow)
        host_params["host"] = str(ip)
        return host_params, pool_kwargs


def check_url(url: str) -> str:
    """Refuse anything but an absolute http(s) URL with a host. Returns the URL."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise DownloadError(f"Invalid URL {url!r}: {exc}", reason="bad_url") from exc
    if parts.scheme.lower() not in ("http", "https"):
        raise BlockedAddress(f"Only http and https URLs can be downloaded, not {url[:80]!r}")
    if not parts.hostname:
        raise DownloadError(f"The URL {url[:80]!r} has no host name", reason="bad_url")
    return url


def precheck_url(url: str, allowed_networks: Iterable[str] = ()) -> None:
    """Refuse at once a URL whose host is a blocked address *literal* (any spelling).

    For early, friendly errors when a task is created: ``http://10.0.0.1/``,
    ``http://2130706433/`` or ``http://localhost/`` need no DNS to be judged.
    Names are judged when the download connects (``resolve_pinned``), which
    stays the real defence.
    """
    host = urlsplit(check_url(url)).hostname or ""
    allow = AllowList(allowed_networks)
    if host.rstrip(".") == "localhost" and "localhost" not in allow.hosts:
        host = "127.0.0.1"
    try:
        infos = socket.getaddrinfo(host, None, flags=socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError, ValueError):
        return  # a name: judged on the address actually connected to
    ip = ipaddress.ip_address(str(infos[0][4][0]).split("%", 1)[0])
    if allow.permits(host, ip):
        return
    reason = blocked_reason(ip)
    if reason:
        raise BlockedAddress(
            f"Refused to fetch from {host}: {reason} addresses are not allowed "
            "(set MEDIACRAFT_ALLOWED_NETWORKS to allow trusted networks)"
        )


def guarded_session(
    allowed_networks: Iterable[str] = (),
    *,
    headers: dict[str, str] | None = None,
    pool_maxsize: int = 16,
    max_redirects: int = 5,
    cookies: http.cookiejar.CookieJar | None = None,
    proxy: str | None = None,
) -> requests.Session:
    """A ``requests.Session`` whose every connection (redirects included) is guarded.

    ``proxy`` is the server's outbound proxy (``MEDIACRAFT_PROXY``, never a
    visitor's): the destination is still resolved and judged here before the
    request goes to the proxy, and a CONNECT tunnel is opened to the address
    judged, not to a name the proxy would resolve again.
    """
    allow = AllowList(allowed_networks)
    session = requests.Session()
    session.trust_env = False  # no proxies or .netrc from the environment
    if proxy:
        session.proxies = {"http": proxy, "https": proxy}
    if cookies is not None:
        session.cookies = cookies  # type: ignore[assignment]
    session.max_redirects = max_redirects
    session.mount("http://", GuardedAdapter(False, allow, pool_maxsize))
    session.mount("https://", GuardedAdapter(True, allow, pool_maxsize))
    session.headers["User-Agent"] = "MediaCraft/0.1"
    session.headers["Accept-Encoding"] = "identity"
    if headers:
        session.headers.update(headers)
    return session


__all__ = [
    "AllowList",
    "GuardedAdapter",
    "blocked_reason",
    "check_url",
    "guarded_session",
    "resolve_pinned",
    "unwrap",
]
