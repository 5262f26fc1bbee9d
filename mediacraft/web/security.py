"""Request ids, trusted Host names, cross-origin refusal of state-changing requests, headers."""

from __future__ import annotations

import logging
import re
import sys
import uuid
from urllib.parse import urlsplit

from flask import Flask, Response, abort, g, request
from werkzeug.exceptions import SecurityError

from ..exceptions import MediaCraftError

log = logging.getLogger(__name__)

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
    "style-src 'self'; script-src 'self'; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


class UntrustedHost(MediaCraftError):
    status = 400

    def __init__(self) -> None:
        super().__init__("This server does not answer for that host name")


def init_app(app: Flask, trusted_hosts: list[str] | None = None) -> None:
    """``trusted_hosts``: the Host names served (None: any); see ``hosts.py``."""
    app.config["TRUSTED_HOSTS"] = trusted_hosts
    app.before_request(_assign_request_id)
    app.before_request(_refuse_untrusted_host)
    app.before_request(_refuse_cross_origin)
    app.after_request(_headers)


def _refuse_untrusted_host() -> None:
    """Answer a request for a Host that is not served before anything else looks at it."""
    try:
        request.host  # noqa: B018 - Werkzeug checks TRUSTED_HOSTS when the host is read
    except SecurityError:
        raise UntrustedHost() from None


def _assign_request_id() -> None:
    incoming = request.headers.get("X-Request-ID", "")
    g.request_id = incoming if _REQUEST_ID.match(incoming) else str(uuid.uuid4())


def _refuse_cross_origin() -> None:
    """Refuse a state-changing request that a browser says came from another site."""
    if request.method in SAFE_METHODS:
        return
    site = request.headers.get("Sec-Fetch-Site")
    if site and site not in {"same-origin", "none"}:
        abort(403, "Cross-origin requests are not allowed")
    origin = request.headers.get("Origin")
    if origin and origin != "null":
        if urlsplit(origin).netloc.lower() != request.host.lower():
            abort(403, "Cross-origin requests are not allowed")
    elif origin == "null":
        abort(403, "Cross-origin requests are not allowed")


def _headers(response: Response) -> Response:
    response.headers["X-Request-ID"] = getattr(g, "request_id", "")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    return response


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to log records (``-`` outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            record.request_id = g.get("request_id", "-")
        except RuntimeError:
            record.request_id = "-"
        return True


class StderrHandler(logging.StreamHandler):
    """Writes to ``sys.stderr``, and drops a line once that stream has been closed.

    The queue logs its stop at interpreter exit; by then the stream the
    handler was given may be closed (a test runner's capture, a redirected
    stderr), and a log line must not become a "Logging error" traceback.
    """

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(self.stream, "closed", False):
            return
        super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:
        if getattr(self.stream, "closed", False):
            return  # closed between the check and the write
        super().handleError(record)

