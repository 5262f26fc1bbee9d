"""Which addresses the downloader may fetch from, judged without an HTTP library.

The SSRF guard's classifier and resolver, apart from the requests session
that uses them (guard.py), so that a command's first request can be judged
before requests is even imported (first.py): one resolution, the address
pinned, the same allow-list and the same refusals on every path.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from ..exceptions import BlockedAddress, DownloadError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: requests-hardened's ``EXTRA_BLOCKED_NET_RANGES`` (importing it loads requests; a test
#: keeps this copy in step), then two ranges of ours
_EXTRA_BLOCKED: tuple[IPNetwork, ...] = (
    ipaddress.ip_network("192.88.99.0/24"),  # 6to4 relay anycast
    ipaddress.ip_network("100.64.0.0/10"),  # CG-NAT, can route to internal workloads
    ipaddress.ip_network("5f00::/16"),  # IPv6 segment routing
    ipaddress.ip_network("64:ff9b::/96"),  # NAT64
    ipaddress.ip_network("2001:20::/28"),  # ORCHIDv2
    ipaddress.ip_network("192.0.0.0/24"),  # IETF protocol assignments (older CPython)
    ipaddress.ip_network("64:ff9b:1::/48"),  # local-use NAT64
    ipaddress.ip_network("2002::/16"),  # 6to4
    ipaddress.ip_network("3fff::/20"),  # documentation
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


@functools.cache
def _gai_family() -> socket.AddressFamily:
    """Both families when this host can use IPv6, else IPv4 (urllib3's rule)."""
    if not socket.has_ipv6:
        return socket.AF_INET
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return socket.AF_INET
    return socket.AF_UNSPEC


def resolve_pinned(hostname: str, port: int | None, allow: AllowList) -> IPAddress:
    """Resolve ``hostname`` once and return the address to connect to, or raise BlockedAddress."""
    if not hostname:
        raise DownloadError("The URL has no host name", reason="bad_url")
    try:
        infos = socket.getaddrinfo(
            hostname, port or 80, family=_gai_family(), type=socket.SOCK_STREAM
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


__all__ = [
    "AllowList",
    "IPAddress",
    "blocked_reason",
    "check_url",
    "precheck_url",
    "resolve_pinned",
    "unwrap",
]
