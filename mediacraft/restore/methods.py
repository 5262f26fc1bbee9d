"""The removal methods by name (no heavy imports: the CLI and the config check use it)."""

from __future__ import annotations

from ..exceptions import ValidationError

METHODS = ("auto", "unblend", "temporal", "inpaint", "delogo")


def validate_method(method: object) -> str:
    """``method`` if it is one of :data:`METHODS` (None means ``auto``), else a clear error."""
    if method is None:
        return "auto"
    if not isinstance(method, str) or method not in METHODS:
        raise ValidationError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    return method
