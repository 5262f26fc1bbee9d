"""Bodies read once and handed to the next request of the same URL.

A page link is read twice over: the engine looks at it (is it media or a
page?) before yt-dlp extracts from it, and yt-dlp reads the page's manifest
(to list its formats) before the engine downloads from that manifest. What
one side has read in full, within a size cap, is kept here, and the other
side's next plain ``GET`` of that URL is answered with it instead of asking
the origin again. yt-dlp may read a kept body as often as it asks (its generic
extractor asks twice for a manifest: once to see what it is, once to parse
it); the engine takes it once. Bodies live for one task's page step. Both
sides made their request through the SSRF guard; a kept body is never sent
anywhere, only read.

Not kept: partial or ranged reads, bodies over the cap, answers other than
200, and answers that set cookies (the side that did not see them would miss
them, so it asks the origin itself).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass

from requests.structures import CaseInsensitiveDict

#: headers that describe the wire form of a body, not the (decoded) bytes kept
WIRE_HEADERS = ("Content-Encoding", "Content-Length", "Transfer-Encoding")


@dataclass(frozen=True)
class Kept:
    """One answer read in full: where it ended up, its headers and its decoded body."""

    url: str  # as asked for
    final_url: str  # after redirects
    status: int
    headers: CaseInsensitiveDict[str]
    body: bytes


def keepable(status: int, headers: Mapping[str, str]) -> bool:
    """Whether an answer may be kept at all (before its body is read)."""
    return status == 200 and not any(name.lower() == "set-cookie" for name in headers)


class Keeper:
    """The bodies one page step has read, up to ``max_each`` bytes each and ``max_total`` in all."""

    def __init__(self, max_each: int, max_total: int) -> None:
        self.max_each = max_each
        self.max_total = max_total
        self._kept: dict[str, Kept] = {}
        self._total = 0
        self._lock = threading.Lock()
        self.reused: list[str] = []  # URLs answered from here, in order

    def keep(self, url: str, final_url: str, status: int, headers: Mapping[str, str],
             body: bytes) -> bool:  # fmt: skip
        """Keep ``body`` for the next request of ``url`` (or of ``final_url``)."""
        if not keepable(status, headers) or len(body) > self.max_each:
            return False
        clean: CaseInsensitiveDict[str] = CaseInsensitiveDict(
            {k: v for k, v in headers.items() if k.lower() not in {w.lower() for w in WIRE_HEADERS}}
        )
        clean["Content-Length"] = str(len(body))
        kept = Kept(url, final_url, status, clean, body)
        with self._lock:
            if self._total + len(body) > self.max_total:
                return False
            self._total += len(body)
            for key in {url, final_url}:
                self._kept[key] = kept
        return True

    def get(self, url: str) -> Kept | None:
        """The body kept for ``url``, kept on for the next request."""
        with self._lock:
            return self._kept.get(url)

    def take(self, url: str) -> Kept | None:
        """The body kept for ``url``, once: it is forgotten as it is handed out."""
        with self._lock:
            kept = self._kept.pop(url, None)
            if kept is None:
                return None
            for key in [k for k, v in self._kept.items() if v is kept]:
                del self._kept[key]
            self._total -= len(kept.body)
            self.reused.append(url)
        return kept


__all__ = ["Kept", "Keeper", "WIRE_HEADERS", "keepable"]
