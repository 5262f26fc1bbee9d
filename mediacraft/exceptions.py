"""Flat list of MediaCraft's exceptions.

Every message is meant for the person who asked for the work: specific and
actionable ("segment 17 returned HTTP 403 after 5 attempts"), never a traceback.
``status`` is the HTTP status an API answer built from the error carries.
"""

from __future__ import annotations


class MediaCraftError(Exception):
    """Base class; ``str(error)`` is shown to the user as is."""

    status: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationError(MediaCraftError):
    """The request is malformed or names something impossible."""

    status = 400


class NotFound(MediaCraftError):
    """A task or user that does not exist, or is not the caller's."""

    status = 404


class InvalidTransition(MediaCraftError):
    """The task's state does not allow the requested action."""

    status = 409


class QueueFull(MediaCraftError):
    """Too many waiting tasks: 429 for one visitor, 503 for the server."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class TooManyTasks(QueueFull):
    """A visitor keeps too many tasks (unfinished, or stored at all): 429."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=429)


class RateLimited(MediaCraftError):
    """A visitor asks for more of something than the server gives at once."""

    status = 429


class QuotaExceeded(MediaCraftError):
    """The visitor's disk quota is used up."""

    status = 413


class Cancelled(MediaCraftError):
    """Raised inside a processor when its task was cancelled."""

    status = 409

    def __init__(self, message: str = "The task was cancelled") -> None:
        super().__init__(message)


class Interrupted(MediaCraftError):
    """Raised inside a processor when the process shuts down (SIGTERM).

    The task goes back to the queue; checkpoints stay for the next attempt.
    """

    status = 503

    def __init__(self, message: str = "The server is shutting down") -> None:
        super().__init__(message)


class DownloadError(MediaCraftError):
    """A download failed for a reason worth telling the user."""

    status = 502


class PlaylistError(DownloadError):
    """An HLS playlist that cannot be used as it is (malformed line, missing group, ...)."""

    status = 400


class BlockedAddress(DownloadError):
    """The SSRF guard refused a URL (private, loopback, metadata, ...)."""

    status = 400


class MediaError(MediaCraftError):
    """An input is not usable media, or ffmpeg failed on it."""

    status = 400


class StorageError(MediaCraftError):
    """A record could not be read or written."""

    status = 500


class StorageFull(StorageError):
    """The server's disk cannot take the write (full, or read-only): a server fault.

    Never retried as a network error; the visitor is told what happened.
    """

    status = 503
