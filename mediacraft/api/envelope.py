"""The response envelope of every ``/api`` answer.

``{success, code, message, data, meta: {timestamp, version, request_id}}`` —
errors included, so one helper builds every response. An error's ``data``
holds at least ``reason``, the failure's stable word (``exceptions.REASONS``).
"""

from __future__ import annotations

from typing import Any

from flask import g, jsonify, request
from flask.wrappers import Response

from ..model import utcnow

API_VERSION = "v1"


def envelope(
    data: Any = None, *, code: int = 200, message: str = "Success", success: bool | None = None
) -> Response:
    body = {
        "success": code < 400 if success is None else success,
        "code": code,
        "message": message,
        "data": data,
        "meta": {
            "timestamp": utcnow(),
            "version": API_VERSION,
            "request_id": getattr(g, "request_id", None),
        },
    }
    response = jsonify(body)
    response.status_code = code
    return response


def error(code: int, message: str, data: dict[str, Any] | None = None) -> Response:
    """An error envelope; ``data.reason`` defaults to the one for ``code``."""
    from ..exceptions import HTTP_REASONS

    body = {"reason": HTTP_REASONS.get(code, "error"), **(data or {})}
    return envelope(body, code=code, message=message, success=False)


def json_body() -> dict[str, Any]:
    """The request's JSON object; refuses other content types (a CSRF defence too)."""
    from ..exceptions import MediaCraftError, ValidationError

    if not request.is_json:
        err = MediaCraftError("Send the body as application/json", reason="unsupported_media_type")
        err.status = 415
        raise err
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ValidationError("The request body must be a JSON object")
    return data
