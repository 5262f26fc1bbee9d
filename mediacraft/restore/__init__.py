"""Watermark removal that recovers the picture where the video holds it.

``pipeline`` runs the passes and chooses per rectangle; ``motion`` tracks the
camera; ``overlay`` estimates and inverts a semi-transparent logo; ``fill``
rebuilds a rectangle from other frames or spatially; ``stream`` decodes with
PyAV and encodes through the bundled ffmpeg.
"""

from __future__ import annotations

from .pipeline import METHODS, restore, validate_method

__all__ = ["METHODS", "restore", "validate_method"]
