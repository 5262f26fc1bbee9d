"""What a share or device link answers when it does not work: a clear page, in the visitor's
language, saying why (expired, used, revoked, deleted, not valid)."""

from __future__ import annotations

from flask import render_template
from flask_babel import lazy_gettext as _l

from .exceptions import MediaCraftError

REASONS = {
    "invalid": (
        _l("This link is not valid"),
        _l("Check that the whole link was copied. It may also belong to another server."),
    ),
    "expired": (
        _l("This link has expired"),
        _l("Ask for a new link: the old one cannot be used any more."),
    ),
    "used": (
        _l("This link was already used"),
        _l("A device link works once. Create a new one on the device that has your tasks."),
    ),
    "revoked": (
        _l("This link was revoked"),
        _l("Its owner stopped sharing this file."),
    ),
    "deleted": (
        _l("This file is no longer available"),
        _l("The task it belonged to was deleted."),
    ),
}


KIND_REASONS = {
    "invalid": "link_invalid",
    "expired": "link_expired",
    "used": "link_used",
    "revoked": "link_revoked",
    "deleted": "link_gone",
}


class LinkRefused(MediaCraftError):
    """A share or device link that does not work, with why (``kind``) for the page.

    404 for a link that never was valid here, 410 for one that was: expired,
    revoked, used, or its task deleted.
    """

    def __init__(self, message: str, kind: str, status: int = 410) -> None:
        self.kind = kind if kind in REASONS else "invalid"
        super().__init__(message, reason=KIND_REASONS[self.kind])
        self.status = status


def refused_page(exc: LinkRefused):
    """The HTML answer for a link that does not work (the API answers in the envelope)."""
    title, advice = REASONS[exc.kind]
    body = render_template(
        "link_error.html", strings={}, title=title, advice=advice, reason=exc.kind
    )
    return body, exc.status
