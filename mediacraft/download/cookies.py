"""A task's cookies: a Netscape ``cookies.txt`` (what browser extensions and yt-dlp export).

The file is checked line by line (seven tab-separated fields; ``#HttpOnly_``
lines are cookies too), so a file in another format is refused naming the
line, never half-applied. Only the cookies of the task's own host (and its
parent domains) are kept: a file exported from a whole browser profile
lends nothing to the CDN or any other site the download reaches. The values
are never logged; messages name lines, not contents.
"""

from __future__ import annotations

import http.cookiejar
from urllib.parse import urlsplit

from ..exceptions import ValidationError

MAX_BYTES = 1024 * 1024
MAX_COOKIES = 3000
HTTP_ONLY = "#HttpOnly_"


def parse_cookies(text: str) -> http.cookiejar.CookieJar:
    """The cookies of a Netscape cookies file; ValidationError naming the first bad line."""
    if len(text.encode("utf-8", "replace")) > MAX_BYTES:
        raise ValidationError(f"The cookies file must be at most {MAX_BYTES // 1024} KiB")
    jar = http.cookiejar.CookieJar()
    count = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip("\r\n")
        if line.startswith(HTTP_ONLY):
            line = line[len(HTTP_ONLY) :]
        elif not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 7:
            raise ValidationError(
                f"The cookies file is not in Netscape format: line {number} has "
                f"{len(fields)} tab-separated fields, not 7"
            )
        domain, subdomains, path, secure, expires, name, value = fields
        if not domain or subdomains.upper() not in ("TRUE", "FALSE") or secure.upper() not in (
            "TRUE", "FALSE",
        ) or not (expires.strip() or "0").lstrip("-").isdigit() or not name:  # fmt: skip
            raise ValidationError(
                f"The cookies file is not in Netscape format: line {number} is malformed"
            )
        count += 1
        if count > MAX_COOKIES:
            raise ValidationError(f"The cookies file must hold at most {MAX_COOKIES} cookies")
        expiry = int(expires.strip() or 0)
        jar.set_cookie(http.cookiejar.Cookie(
            version=0, name=name, value=value, port=None, port_specified=False,
            domain=domain, domain_specified=subdomains.upper() == "TRUE",
            domain_initial_dot=domain.startswith("."), path=path or "/",
            path_specified=bool(path), secure=secure.upper() == "TRUE",
            expires=expiry or None, discard=not expiry, comment=None, comment_url=None,
            rest={},
        ))  # fmt: skip
    if not count:
        raise ValidationError("The cookies file holds no cookies (Netscape format expected)")
    return jar


def _matches(host: str, domain: str) -> bool:
    domain = domain.lower().lstrip(".")
    return host == domain or host.endswith("." + domain)


def for_host(jar: http.cookiejar.CookieJar, url: str) -> http.cookiejar.CookieJar:
    """The cookies of ``jar`` that belong to ``url``'s host (or a domain above it)."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    kept = http.cookiejar.CookieJar()
    for cookie in jar:
        if host and _matches(host, cookie.domain):
            kept.set_cookie(cookie)
    return kept


def load_for(text: str, url: str) -> http.cookiejar.CookieJar:
    return for_host(parse_cookies(text), url)


__all__ = ["for_host", "load_for", "parse_cookies"]
