"""Strings of the page scripts for posters, sharing, tags, library filters, notifications and
resumable uploads, in the visitor's language (a JSON data block in every page, beside the
main one), and the choices of the library filters."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

RESOLUTION_CHOICES = (
    ("480p", _l("Up to 480p")),
    ("720p", _l("720p")),
    ("1080p", _l("1080p")),
    ("4k", _l("Above 1080p (4K)")),
)
DURATION_CHOICES = (
    ("-60", _l("Under 1 minute")),
    ("60-600", _l("1 to 10 minutes")),
    ("600-3600", _l("10 to 60 minutes")),
    ("3600-", _l("Over 1 hour")),
)
SORT_CHOICES = (
    ("-created_at", _l("Newest first")),
    ("created_at", _l("Oldest first")),
    ("name", _l("Name")),
    ("-size", _l("Largest first")),
    ("-duration", _l("Longest first")),
    ("duration", _l("Shortest first")),
)


def extra_strings() -> dict[str, Any]:
    return {
        "audio_only": _("Audio only"),
        "poster_of": _("Poster of %(name)s", name="{name}"),
        "duration": _("Duration"),
        "tags": _("Tags"),
        "add_tag": _("Add tag"),
        "remove_tag": _("Remove tag %(tag)s", tag="{tag}"),
        "tag_placeholder": _("New tag"),
        "share": _("Share"),
        "share_created": _("Share link created. Anyone with it can download this file until "
                           "it expires."),
        "share_expires": _("Expires %(date)s", date="{date}"),
        "share_revoke": _("Revoke"),
        "share_revoked": _("Share link revoked."),
        "share_none": _("No share links."),
        "copy": _("Copy"),
        "copied": _("Copied."),
        "notify_on": _("Notify me when tasks finish"),
        "notify_off": _("Stop notifications"),
        "notify_denied": _("Notifications are blocked for this site in the browser settings."),
        "notify_unsupported": _("This browser cannot show notifications."),
        "notify_enabled": _("You will be notified when a task finishes."),
        "notify_completed": _("Task completed: %(name)s", name="{name}"),
        "notify_failed": _("Task failed: %(name)s", name="{name}"),
        "upload_speed": _("%(done)s of %(total)s · %(speed)s/s", done="{done}", total="{total}",
                          speed="{speed}"),
        "upload_cancel": _("Cancel upload"),
        "upload_cancelled": _("Upload cancelled."),
        "upload_retrying": _("Connection lost; resuming the upload…"),
        "drop_here": _("Drop video files here"),
        "resumed_at": _("Resuming playback at %(time)s", time="{time}"),
    }


def init_app(app: Flask) -> None:
    @app.context_processor
    def page_strings() -> dict[str, Any]:
        return {
            "extra_strings": extra_strings,
            "resolution_choices": RESOLUTION_CHOICES,
            "duration_choices": DURATION_CHOICES,
            "sort_choices": SORT_CHOICES,
        }
