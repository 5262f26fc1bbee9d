"""MediaCraft: hand off long video jobs. ``create_app()`` builds the Flask app.

Kept free of imports: the command line (``mediacraft download``) must not pay
for Flask at start-up, so the factory is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from flask import Flask

    from .config import Config


def create_app(test_config: Config | dict[str, Any] | None = None) -> Flask:
    """Build the app (see :func:`mediacraft.web.factory.create_app`)."""
    from .web.factory import create_app as factory

    return factory(test_config)


__all__ = ["create_app", "__version__"]
