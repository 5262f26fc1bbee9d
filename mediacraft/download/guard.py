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
  with its list of extra blocked ranges; the classifier, the resolver and
  the allow-list live in addresses.py, which needs no HTTP library;
* a :class:`~mediacraft.exceptions.BlockedAddress` with a user-facing
  message instead of its ``InvalidIPAddress``;
* a pool as large as the thread count (its adapter keeps requests' 10).
"""

from __future__ import annotations

import http.cookiejar
from collections.abc import Iterable

import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from requests_hardened.ip_filter_adapter import IPFilterAdapter

from .addresses import (
    AllowList,
    blocked_reason,
    check_url,
    precheck_url,
    resolve_pinned,
    unwrap,
)
from .options import BASE_HEADERS


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
    session.headers.update(BASE_HEADERS)
    if headers:
        session.headers.update(headers)
    return session


__all__ = [
    "AllowList",
    "GuardedAdapter",
    "blocked_reason",
    "check_url",
    "guarded_session",
    "precheck_url",
    "resolve_pinned",
    "unwrap",
]
