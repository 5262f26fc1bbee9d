"""Flat list of MediaCraft's exceptions.

Every message is meant for the person who asked for the work: specific and
actionable ("segment 17 returned HTTP 403 after 5 attempts"), never a traceback.
``status`` is the HTTP status an API answer built from the error carries.

``reason`` is the same failure for programs: a stable lowercase word (one of
:data:`REASONS`) that never changes with the wording of the message. It is
stored on a failed task (``error_reason``), sent as ``data.reason`` in an
error envelope, and the pages choose their translated hint by it. Each class
has a default; a raise site that knows more passes ``reason=``.
"""

from __future__ import annotations

#: every reason an error may carry, with what it means
REASONS: dict[str, str] = {
    "error": "a failure with no more specific reason",
    "invalid": "the request is malformed or names something impossible",
    "url_required": "a download without a URL",
    "bad_url": "the URL is not an http(s) link, or has no host",
    "blocked_address": "the SSRF guard refused the address (private, loopback, ...)",
    "not_found": "no such task or user (or not the caller's)",
    "invalid_state": "the task's state does not allow the action",
    "queue_full": "too many waiting tasks",
    "too_many_tasks": "a visitor keeps too many tasks",
    "rate_limited": "more of something at once than the server gives",
    "quota": "the visitor's storage quota is used up",
    "cancelled": "the task was cancelled",
    "interrupted": "the process running the task stopped",
    "timeout": "the task or a request took longer than its limit",
    "network": "the source could not be reached or stopped answering",
    "http_error": "the source answered with an HTTP error (expired link, login needed)",
    "bad_playlist": "an HLS playlist that cannot be used",
    "drm": "the stream is encrypted with a scheme that cannot be downloaded",
    "live_needs_length": "a live stream asked for without a recording length",
    "not_live": "stopping something that is not a live recording",
    "download_failed": "a download failed for another reason",
    "not_a_video": "an input is not a usable video",
    "no_video": "a web page on which no video was found",
    "media_failed": "ffmpeg (or the decoder) failed on the input",
    "no_regions": "a watermark removal without a region",
    "too_few_clips": "a merge with fewer than two clips",
    "empty_file": "an uploaded file is empty",
    "storage": "a record could not be read or written",
    "disk": "the server's disk is full or read-only",
    "too_large": "the request body or upload is larger than allowed",
    "unsupported_media_type": "the body or file is not of a type the endpoint takes",
    "method_not_allowed": "the endpoint does not answer this method",
    "unavailable": "the server cannot serve the request now",
    "link_invalid": "a share or device link that is not valid here (forged, or another task's)",
    "link_expired": "a share or device link past its expiry",
    "link_used": "a single-use device link used already",
    "link_revoked": "a share link its owner revoked",
    "link_gone": "the task or visitor a link points at was deleted",
    "upload_offset": "a chunk that does not start where the resumable upload is",
    "length_required": "a chunk sent without a Content-Length",
    "bad_tag": "a tag that is empty, too long or has control characters",
    "too_many_tags": "a task that has as many tags as it may have",
}

#: the reason of an API error that has no MediaCraftError behind it, by HTTP status
HTTP_REASONS: dict[int, str] = {
    400: "invalid",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    500: "error",
    503: "unavailable",
}


class MediaCraftError(Exception):
    """Base class; ``str(error)`` is shown to the user as is."""

    status: int = 500
    reason: str = "error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            if reason not in REASONS:
                raise ValueError(f"unknown error reason {reason!r}")
            self.reason = reason


class ValidationError(MediaCraftError):
    """The request is malformed or names something impossible."""

    status = 400
    reason = "invalid"


class NotFound(MediaCraftError):
    """A task or user that does not exist, or is not the caller's."""

    status = 404
    reason = "not_found"


class InvalidTransition(MediaCraftError):
    """The task's state does not allow the requested action."""

    status = 409
    reason = "invalid_state"


class QueueFull(MediaCraftError):
    """Too many waiting tasks: 429 for one visitor, 503 for the server."""

    reason = "queue_full"

    def __init__(self, message: str, status: int, *, reason: str | None = None) -> None:
        super().__init__(message, reason=reason)
        self.status = status


class TooManyTasks(QueueFull):
    """A visitor keeps too many tasks (unfinished, or stored at all): 429."""

    reason = "too_many_tasks"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message, status=429, reason=reason)


class RateLimited(MediaCraftError):
    """A visitor asks for more of something than the server gives at once."""

    status = 429
    reason = "rate_limited"


class QuotaExceeded(MediaCraftError):
    """The visitor's disk quota is used up."""

    status = 413
    reason = "quota"


class Cancelled(MediaCraftError):
    """Raised inside a processor when its task was cancelled."""

    status = 409
    reason = "cancelled"

    def __init__(self, message: str = "The task was cancelled", **kwargs: str | None) -> None:
        super().__init__(message, **kwargs)


class Interrupted(MediaCraftError):
    """Raised inside a processor when the process shuts down (SIGTERM).

    The task goes back to the queue; checkpoints stay for the next attempt.
    """

    status = 503
    reason = "interrupted"

    def __init__(self, message: str = "The server is shutting down", **kwargs: str | None) -> None:
        super().__init__(message, **kwargs)


class DownloadError(MediaCraftError):
    """A download failed for a reason worth telling the user."""

    status = 502
    reason = "download_failed"


class PlaylistError(DownloadError):
    """An HLS playlist that cannot be used as it is (malformed line, missing group, ...)."""

    status = 400
    reason = "bad_playlist"


class BlockedAddress(DownloadError):
    """The SSRF guard refused a URL (private, loopback, metadata, ...)."""

    status = 400
    reason = "blocked_address"


class MediaError(MediaCraftError):
    """An input is not usable media, or ffmpeg failed on it."""

    status = 400
    reason = "media_failed"


class StorageError(MediaCraftError):
    """A record could not be read or written."""

    status = 500
    reason = "storage"


class StorageFull(StorageError):
    """The server's disk cannot take the write (full, or read-only): a server fault.

    Never retried as a network error; the visitor is told what happened.
    """

    status = 503
    reason = "disk"
