"""The JSON API: blueprints, and error handlers that keep ``/api`` errors in the envelope."""

from __future__ import annotations

import logging

from flask import Flask, g, request
from werkzeug.exceptions import HTTPException

from ..diskspace import storage_failure
from ..exceptions import MediaCraftError
from .envelope import error

log = logging.getLogger(__name__)

HTTP_MESSAGES = {
    400: "Bad request",
    404: "Not found",
    405: "Method not allowed",
    413: "The upload is larger than the size limit",
    415: "Unsupported media type",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


def is_api_request() -> bool:
    return request.path == "/api" or request.path.startswith("/api/")


def init_app(app: Flask) -> None:
    from . import (
        account,
        batches,
        compat_download,
        compat_video,
        events,
        media,
        openapi,
        posters,
        resumable,
        shares,
        tags,
        tasks,
        user,
    )

    modules = (
        user, tasks, openapi, compat_download, compat_video, batches, events, media,
        posters, shares, account, resumable, tags,
    )
    for module in modules:
        app.register_blueprint(module.bp)

    @app.errorhandler(MediaCraftError)
    def handle_mediacraft_error(exc: MediaCraftError):
        if exc.status >= 500:
            log.error("%s (request %s)", exc.message, getattr(g, "request_id", "-"))
        if is_api_request():
            return error(exc.status, exc.message, {"reason": exc.reason})
        return exc.message, exc.status

    @app.errorhandler(HTTPException)
    def handle_http_error(exc: HTTPException):
        if not is_api_request():
            return exc
        code = exc.code or 500
        message = HTTP_MESSAGES.get(code, exc.name)
        if code == 413:
            limit = app.config["MEDIACRAFT"].max_upload_mb
            message = f"The upload is larger than the {limit} MB limit"
        response = error(code, message)
        if code == 405 and exc.get_response().headers.get("Allow"):
            response.headers["Allow"] = exc.get_response().headers["Allow"]
        return response

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception):
        if isinstance(exc, HTTPException):
            return handle_http_error(exc)
        failure = storage_failure(exc)  # a full or read-only disk, said as such
        if failure is not None:
            return handle_mediacraft_error(failure)
        log.exception("Unhandled error (request %s)", getattr(g, "request_id", "-"))
        if is_api_request():
            return error(500, "Internal server error")
        return "Internal server error", 500
